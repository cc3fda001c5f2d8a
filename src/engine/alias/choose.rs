//! Which tool a message asks for, from the intent classifier's probabilities: the
//! most likely tool when it is likely enough (a change needs more certainty than a
//! read), a question naming the two likeliest when neither is, and otherwise "not a
//! platform request". Never a change on a low-confidence reading.

use super::{AliasPlanner, Features};

/// The probability a read needs to be chosen.
pub(crate) const READ_THRESHOLD: f32 = 0.4;
/// The probability a change needs to be proposed without asking which was meant.
pub(crate) const CHANGE_THRESHOLD: f32 = 0.55;
/// Below the threshold, the two likeliest tools together need this much to be worth
/// a question; less and the message is not read as a platform request.
const ASK_MASS: f32 = 0.5;

/// Verbs of changes no action makes: such a request is refused, never read as the
/// nearest change ("delete the payments-prod namespace" is not a namespace request).
const UNSUPPORTED_CHANGES: &[&str] = &[
    "delete",
    "remove",
    "destroy",
    "drop",
    "purge",
    "wipe",
    "erase",
    "nuke",
    "uninstall",
    "decommission",
    "teardown",
];
/// Words that make such a message a question about the process (for the docs).
const PROCESS_CUES: &[&str] = &[
    "how",
    "hows",
    "why",
    "when",
    "where",
    "docs",
    "doc",
    "documentation",
    "process",
    "steps",
    "runbook",
    "guide",
    "policy",
    "allowed",
    "should",
];

/// The unsupported change a message asks for, if it asks for one rather than about one.
pub(crate) fn unsupported_change(f: &Features) -> Option<&'static str> {
    if f.msg.has_word(PROCESS_CUES) {
        return None;
    }
    let tear_down = f
        .msg
        .words
        .windows(2)
        .any(|w| w[0].text == "tear" && w[1].text == "down");
    if tear_down {
        return Some("tear down");
    }
    UNSUPPORTED_CHANGES
        .iter()
        .find(|v| f.msg.has_word(&[v]))
        .copied()
}

/// What the planner makes of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Tool(usize),
    /// Neither is likely enough: ask which of the two was meant (the likelier first).
    Ask(usize, usize),
    NotPlatform,
}

/// The likeliest tool (never `none`) and its probability.
pub(crate) fn best(p: &AliasPlanner, f: &Features) -> Option<(usize, f32)> {
    p.predict(f)
        .ranked()
        .into_iter()
        .find_map(|(label, prob)| p.label_tool(label).map(|t| (t, prob)))
}

/// The probability `tool` needs to be chosen outright.
pub(crate) fn threshold(p: &AliasPlanner, tool: usize) -> f32 {
    if p.tools[tool].is_mutation() {
        CHANGE_THRESHOLD
    } else {
        READ_THRESHOLD
    }
}

/// The tool a message asks for, a question between two, or not a platform request,
/// from its labels ranked by probability.
pub(crate) fn choose(p: &AliasPlanner, ranked: &[(usize, f32)]) -> Choice {
    let Some(&(top, p1)) = ranked.first() else {
        return Choice::NotPlatform;
    };
    let Some(tool) = p.label_tool(top) else {
        return Choice::NotPlatform;
    };
    if p1 >= threshold(p, tool) {
        return Choice::Tool(tool);
    }
    match ranked.get(1) {
        Some(&(second, p2)) if p1 + p2 >= ASK_MASS => match p.label_tool(second) {
            Some(other) => Choice::Ask(tool, other),
            // A change or nothing at all: ask, never propose on a guess.
            None if p.tools[tool].is_mutation() => Choice::Ask(tool, tool),
            None => Choice::NotPlatform,
        },
        _ => Choice::NotPlatform,
    }
}
