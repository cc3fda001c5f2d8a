//! The intent classifier's second opinion (the planner without an LLM, `engine::alias`).
//!
//! With [`ClassifierRole::Route`], a message the classifier reads confidently goes
//! without the model: a read runs (the model only words the answer), a change becomes
//! a proposal, a missing argument a question naming it, and a message that is no
//! platform request a short reply. A small model is slowest and least reliable exactly
//! there: it guesses a service instead of asking and calls a tool for chit-chat. The
//! rest goes to the model with the likeliest tools named; a change the model proposes
//! that the classifier does not see in the message becomes a question instead.

use serde_json::Map;

use super::ToolBox;
use crate::actions::spec::ActionKind;
use crate::config::ClassifierRole;
use crate::engine::alias::{Reading, Source, which_question};
use crate::engine::intent::{Clarification, Intent, ToolCall};

/// The probability a read needs to go without the model.
const ROUTE_READ: f32 = 0.5;
/// The probability a change (or its question) needs to go without the model.
const ROUTE_CHANGE: f32 = 0.6;
/// The probability of "not a platform request" that answers without the model.
const ROUTE_NONE: f32 = 0.5;
/// A change the model proposes needs at least this probability, or to be the
/// classifier's likeliest tool; less and the user is asked whether it was meant.
const CHANGE_AGREEMENT: f32 = 0.3;
/// Tools named to the model: the likeliest ones down to this probability, at most
/// [`HINTED`].
const HINT_FLOOR: f32 = 0.1;
const HINTED: usize = 3;

/// What the classifier makes of a message before the model is asked.
#[derive(Debug, Clone)]
pub(super) enum Opinion {
    /// Taken without the model.
    Settled(Intent),
    /// The model decides.
    Consult(Consult),
}

/// The classifier's reading, kept for the model's request and to check its answer.
#[derive(Debug, Clone, Default)]
pub(super) struct Consult {
    reading: Option<Reading>,
}

/// The classifier's opinion of `reading` under `role`.
pub(super) fn opinion(reading: Reading, role: ClassifierRole, tools: &ToolBox) -> Opinion {
    if role == ClassifierRole::Off {
        return Opinion::Consult(Consult::default());
    }
    // A change no action makes is refused on every path (the engine does it too).
    if reading.source == Source::Unsupported {
        return Opinion::Settled(reading.intent);
    }
    if role == ClassifierRole::Route && confident(&reading, tools) {
        return Opinion::Settled(reading.intent);
    }
    Opinion::Consult(Consult {
        reading: Some(reading),
    })
}

/// Whether the reading is sure enough to act on without the model.
fn confident(reading: &Reading, tools: &ToolBox) -> bool {
    match (&reading.source, &reading.intent) {
        // The thread's own answers: a pending question answered, "and in staging?", a
        // "yes" with nothing waiting; and a change no action makes.
        (Source::Thread | Source::Unsupported, _) => true,
        (Source::Classifier, Intent::NotPlatform { .. }) => reading.probability(None) >= ROUTE_NONE,
        (Source::Classifier, Intent::Call(call)) => sure_of(reading, tools, &call.tool),
        // A question for missing arguments of the tool it is sure of; not a question
        // between two tools (the model may know which).
        (Source::Classifier, Intent::Clarify(c)) => {
            c.choices.is_empty() && !c.missing.is_empty() && sure_of(reading, tools, &c.tool)
        }
    }
}

fn sure_of(reading: &Reading, tools: &ToolBox, tool: &str) -> bool {
    let p = reading.probability(Some(tool));
    // Unknown to the box: as careful as with a change.
    let change = !matches!(tools.kind(tool), Some((_, ActionKind::Read)));
    let needed = if change { ROUTE_CHANGE } else { ROUTE_READ };
    p >= needed
}

impl Consult {
    /// The likeliest tools for the model's request, or `None` without a reading.
    pub(super) fn hint(&self) -> Option<String> {
        let reading = self.reading.as_ref()?;
        let named: Vec<String> = reading
            .ranked
            .iter()
            .filter(|(_, p)| *p >= HINT_FLOOR)
            .take(HINTED)
            .map(|(tool, p)| match tool {
                Some(t) => format!("{t} ({p:.2})"),
                None => format!("no tool, not a platform request ({p:.2})"),
            })
            .collect();
        (!named.is_empty()).then(|| {
            format!(
                "An intent classifier reads the user's last message as: {}. Use it as a hint; the message decides. If a required value is missing, ask for it instead of guessing.",
                named.join(", ")
            )
        })
    }

    /// Whether the classifier's likeliest reading of the message is `tool`.
    pub(super) fn reads_as(&self, tool: &str) -> bool {
        self.reading
            .as_ref()
            .and_then(|r| r.ranked.first())
            .is_some_and(|(t, _)| *t == Some(tool))
    }

    /// A question instead of the change `call` when the classifier does not see that
    /// change in the message; `None` when it agrees (or there is no reading).
    pub(super) fn doubt(&self, call: &ToolCall) -> Option<Clarification> {
        let reading = self.reading.as_ref()?;
        let top = reading.ranked.first().and_then(|(t, _)| *t);
        if top == Some(call.tool.as_str())
            || reading.probability(Some(&call.tool)) >= CHANGE_AGREEMENT
        {
            return None;
        }
        tracing::info!(tool = %call.tool, "the model proposed a change the classifier does not read in the message; asking");
        let mut args: Map<String, serde_json::Value> = call.args.clone();
        args.remove("query");
        Some(Clarification {
            tool: call.tool.clone(),
            question: which_question(&[call.tool.as_str()], &args),
            args,
            missing: Vec::new(),
            choices: vec![call.tool.clone()],
        })
    }
}

/// How the model's part of a turn ended, for [`read_instead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// An answer without reading anything, or "not a platform request".
    Unread,
    /// A question back to the user.
    GaveUp,
    /// A call, or an answer from reads.
    Other,
}

/// The read the classifier's intent (`alias`) runs instead of what the model did. Small
/// models answer a request they should have run a read for, restating stale facts from
/// the thread or making some up; platform facts only come from reads, so when the
/// classifier reads the message as a complete read, that read runs. Likewise when the
/// model asks a question for what the classifier reads as a docs question. A change or
/// a question is never taken from the classifier over the model here.
pub(super) fn read_instead(
    ended: Ended,
    alias: Intent,
    is_read: impl Fn(&str) -> bool,
) -> Option<ToolCall> {
    let Intent::Call(call) = alias else {
        return None;
    };
    let wanted = match ended {
        Ended::Unread => true,
        // The docs search is the read that takes the user's words.
        Ended::GaveUp => call.args.contains_key("query"),
        Ended::Other => false,
    };
    (wanted && is_read(&call.tool)).then_some(call)
}
