//! Messages that only make sense in their thread: the answer to a question the bot
//! asked ("staging", "payments in dev", "3", "the restart"), and elliptical follow-ups
//! to the last call ("and in staging?", "what about prod", "same for cart", "and the
//! logs?", "restart it" - the service and environment the thread last named).

use serde_json::{Map, Value};

use crate::engine::intent::{Clarification, Intent, PlanContext, ToolCall};
use crate::engine::words::{ProposalReply, proposal_reply};

use super::choose;
use super::fill::{self, Extraction};
use super::{AliasPlanner, Features};

/// First words that make a message continue the previous one.
const LEADS: &[&str] = &[
    "and", "also", "now", "then", "same", "ok", "okay", "but", "plus",
];
/// Words that point back at what the thread was about ("restart it").
const PRONOUNS: &[&str] = &["it", "its", "that", "them", "those", "there", "this"];
/// Words that carry nothing in an elliptical message ("what about prod too?").
const FILLERS: &[&str] = &[
    "in", "on", "for", "the", "pls", "please", "plz", "too", "instead", "what", "about", "how",
    "of", "and", "also", "same", "now", "then", "ok", "okay", "but", "with", "to", "as", "well",
    "one",
];
/// Longest message read as a bare list of new arguments.
pub(super) const MAX_ELLIPTICAL_WORDS: usize = 6;

/// The message read as the answer to `pending`; `None` when it is a new request or
/// says nothing about the pending tool's arguments.
pub(crate) fn answer_pending(
    p: &AliasPlanner,
    f: &Features,
    pending: &Clarification,
) -> Option<Intent> {
    if !pending.choices.is_empty() {
        return answer_choice(p, f, pending);
    }
    let idx = p.tool_index(pending.tool.as_str())?;
    if !only_arguments(f)
        && let Some((best, prob)) = choose::best(p, f)
        && best != idx
        && prob >= choose::threshold(p, best)
    {
        return None;
    }
    let tool = &p.tools[idx];
    let ex = fill::extract(p, tool, f);
    if !ex.is_informative() {
        return None;
    }
    Some(fill::finish(tool, pending.args.clone(), ex))
}

/// The answer to "should I restart cart, or check its status?": the choice the message
/// leans to ("yes" takes the first), with the arguments known so far. `None` when it
/// leans to none of them (a new request).
fn answer_choice(p: &AliasPlanner, f: &Features, pending: &Clarification) -> Option<Intent> {
    let choices: Vec<usize> = pending
        .choices
        .iter()
        .filter_map(|c| p.tool_index(c.as_str()))
        .collect();
    let idx = match proposal_reply(&f.msg.cleaned) {
        Some(ProposalReply::Confirm) => *choices.first()?,
        Some(ProposalReply::Cancel) => {
            return Some(Intent::NotPlatform {
                reply: "OK, I'll leave it.".to_owned(),
            });
        }
        None => {
            let probs = p.predict(f).probs;
            let (idx, prob) = choices
                .iter()
                .map(|&i| (i, probs.get(i).copied().unwrap_or(0.0)))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            let elsewhere = choose::best(p, f)
                .is_some_and(|(b, bp)| !choices.contains(&b) && bp >= choose::threshold(p, b));
            if elsewhere || prob < CHOICE_MIN_PROB {
                return None;
            }
            idx
        }
    };
    let tool = &p.tools[idx];
    let base: Map<String, Value> = pending
        .args
        .iter()
        .filter(|(k, _)| tool.takes(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(fill::finish(tool, base, fill::extract(p, tool, f)))
}

/// The least probability an answer needs to pick one of the offered tools.
const CHOICE_MIN_PROB: f32 = 0.05;

/// The message read as a variation of the thread's last call; `None` unless it is elliptical.
pub(crate) fn continue_previous(
    p: &AliasPlanner,
    f: &Features,
    ctx: &PlanContext,
) -> Option<Intent> {
    let previous = ctx.previous.as_ref()?;
    if !is_elliptical(f) {
        return None;
    }
    let prev_idx = p.tool_index(previous.tool.as_str())?;
    let idx = match choose::best(p, f) {
        Some((best, prob)) if !only_arguments(f) && prob >= choose::threshold(p, best) => best,
        _ => prev_idx,
    };
    let tool = &p.tools[idx];
    let mut ex = fill::extract(p, tool, f);
    if idx == prev_idx && !ex.is_informative() {
        return None;
    }
    if tool.is_docs() {
        extend_query(&mut ex, previous);
    }
    Some(fill::finish(tool, carried_args(p, idx, ctx, previous), ex))
}

/// The thread's topic and the previous call's arguments that the tool takes; a service
/// or team becomes the on-call subject ("who's on call for it?").
fn carried_args(
    p: &AliasPlanner,
    idx: usize,
    ctx: &PlanContext,
    previous: &ToolCall,
) -> Map<String, Value> {
    let tool = &p.tools[idx];
    let mut args: Map<String, Value> = ctx
        .topic
        .iter()
        .chain(&previous.args)
        .filter(|(k, _)| tool.takes(k) && k.as_str() != "query")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let named_before = ["service", "team"]
        .iter()
        .find_map(|k| previous.args.get(*k).or_else(|| ctx.topic.get(*k)))
        .cloned();
    if tool.takes("subject")
        && !args.contains_key("subject")
        && let Some(v) = named_before
    {
        args.insert("subject".to_owned(), v);
    }
    args
}

/// "and for staging?" after a docs question searches for both.
fn extend_query(ex: &mut Extraction, previous: &ToolCall) {
    let before = previous.args.get("query").and_then(Value::as_str);
    let now = ex.args.get("query").and_then(Value::as_str);
    if let (Some(before), Some(now)) = (before, now) {
        let joined = format!("{before} {now}");
        ex.args.insert("query".to_owned(), Value::String(joined));
    }
}

fn is_elliptical(f: &Features) -> bool {
    let words = &f.msg.words;
    let Some(first) = words.first() else {
        return false;
    };
    if LEADS.contains(&first.text.as_str()) || f.msg.has_word(PRONOUNS) {
        return true;
    }
    let starts_with_about = words.get(1).is_some_and(|w| w.text == "about")
        && (first.text == "what" || first.text == "how");
    starts_with_about || (words.len() <= MAX_ELLIPTICAL_WORDS && only_arguments(f))
}

/// Every word is part of a name, an environment, a number or a filler word.
pub(super) fn only_arguments(f: &Features) -> bool {
    let mut covered = vec![false; f.msg.words.len()];
    for m in &f.mentions {
        covered[m.start..m.end].iter_mut().for_each(|c| *c = true);
    }
    for n in &f.numbers {
        covered[n.start..n.end].iter_mut().for_each(|c| *c = true);
    }
    f.msg.words.iter().zip(covered).all(|(w, c)| {
        c || FILLERS.contains(&w.text.as_str())
            || crate::domain::canonical_environment(&w.text).is_some()
    })
}
