//! What a planner makes of one message: a tool call, a question back, or nothing to do.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tool the planner wants to run, with its arguments as JSON. The arguments are
/// parsed into the action's typed arguments by the engine, not here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub tool: String,
    pub args: Map<String, Value>,
}

/// A request the planner recognised but cannot complete: a required argument is missing.
/// The engine keeps it in thread memory so the next message in the thread can complete it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clarification {
    pub tool: String,
    /// Arguments already known.
    pub args: Map<String, Value>,
    /// Required arguments still missing, in schema order.
    pub missing: Vec<String>,
    /// The question to put to the user.
    pub question: String,
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
}
