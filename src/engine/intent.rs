//! What a planner makes of one message: a tool call, a question back, or nothing to do.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::ToolName;

/// A tool the planner wants to run, with its arguments as JSON. The arguments are
/// parsed into the action's typed arguments by the engine, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: ToolName,
    pub args: Map<String, Value>,
}

/// A request the planner recognised but cannot complete: a required argument is missing.
/// The engine keeps it in thread memory so the next message in the thread can complete it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clarification {
    pub tool: ToolName,
    /// Arguments already known.
    pub args: Map<String, Value>,
    /// Required arguments still missing, in schema order.
    pub missing: Vec<String>,
    /// The question to put to the user.
    pub question: String,
    /// Tools the planner could not choose between (the likelier first): the answer
    /// picks one. Empty for a question about arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<ToolName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Intent {
    Call(ToolCall),
    Clarify(Clarification),
    /// Not a platform request (chit-chat, out of scope); `reply` is what to say instead.
    NotPlatform {
        reply: String,
    },
}

/// What the thread remembers that helps read the next message.
#[derive(Debug, Clone, Default)]
pub struct PlanContext {
    /// A request waiting for missing arguments.
    pub pending: Option<Clarification>,
    /// The last tool call made in this thread ("and in staging?" reuses it).
    pub previous: Option<ToolCall>,
    /// The service, team and environment the thread last named in a call (`service`,
    /// `team`, `environment` keys): "restart it" after a docs answer still means them.
    pub topic: Map<String, Value>,
}

/// The arguments of a call that say what a thread is about.
const TOPIC_ARGS: [&str; 3] = ["service", "team", "environment"];

impl PlanContext {
    /// Records `call` as the thread's last call, and what it names as the topic. A new
    /// service or team starts a new topic; an environment alone updates it.
    pub fn remember(&mut self, call: ToolCall) {
        let named: Map<String, Value> = TOPIC_ARGS
            .iter()
            .filter_map(|k| call.args.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        let new_subject = ["service", "team"]
            .iter()
            .any(|k| named.get(*k).is_some_and(|v| self.topic.get(*k) != Some(v)));
        if new_subject {
            self.topic.clear();
        }
        self.topic.extend(named);
        self.previous = Some(call);
    }
}
