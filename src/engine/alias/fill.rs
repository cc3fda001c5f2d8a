//! A chosen tool's arguments, from what the message names, and the decision
//! between calling it and asking back. A mutation never runs on a guess: a
//! misspelt or ambiguous service is a question naming the candidates.

use serde_json::{Map, Value};

use crate::domain::ToolName;
use crate::engine::intent::{Clarification, Intent, ToolCall};
use crate::platform::catalog::Resolved;

use super::mentions::{Kind, Mention};
use super::{AliasPlanner, Features, ToolInfo, numbers, reply};

/// An argument the message points at without settling it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unsure {
    pub arg: String,
    pub candidates: Vec<String>,
}

/// What one message says about one tool's arguments.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extraction {
    pub args: Map<String, Value>,
    pub unsure: Vec<Unsure>,
}

impl Extraction {
    /// Says anything at all about the tool's arguments, besides the docs query.
    pub fn is_informative(&self) -> bool {
        !self.unsure.is_empty() || self.args.keys().any(|k| k != "query")
    }
}

enum Found {
    Known(Value),
    Unsure(Vec<String>),
}

fn known(s: impl Into<String>) -> Found {
    Found::Known(Value::String(s.into()))
}

pub(crate) fn extract(p: &AliasPlanner, tool: &ToolInfo, f: &Features) -> Extraction {
    let mut ex = Extraction::default();
    let mutation = tool.is_mutation();
    for arg in tool.spec.required.iter().chain(&tool.spec.optional) {
        let found = match arg.as_str() {
            "service" => service(p, f, mutation),
            "team" => team(p, f, mutation),
            "subject" => subject(p, f),
            "environment" => f.envs.first().map(|e| known(*e)),
            "query" => Some(known(f.msg.cleaned.clone())),
            numeric if tool.numeric.iter().any(|n| n == numeric) => {
                let only = tool.numeric.len() == 1;
                numbers::pick(numeric, &f.msg.words, &f.numbers, only)
                    .map(|n| Found::Known(Value::from(n)))
            }
            _ => None,
        };
        match found {
            Some(Found::Known(v)) => {
                ex.args.insert(arg.clone(), v);
            }
            Some(Found::Unsure(candidates)) => ex.unsure.push(Unsure {
                arg: arg.clone(),
                candidates,
            }),
            None => {}
        }
    }
    ex
}

/// The text to resolve: what the user wrote when it was spell-corrected, so that the
/// catalog reports the match as fuzzy.
fn resolvable(m: &Mention) -> &str {
    if m.corrected { &m.raw } else { &m.key }
}

fn settle(r: Resolved<String>, mutation: bool) -> Option<Found> {
    match r {
        Resolved::Exact(name) => Some(known(name)),
        Resolved::Fuzzy(name) if mutation => Some(Found::Unsure(vec![name])),
        Resolved::Fuzzy(name) => Some(known(name)),
        Resolved::Ambiguous(names) => Some(Found::Unsure(names)),
        Resolved::NotFound => None,
    }
}

/// Mentions in the order to try them for `kind`: those the words around them mark as
/// `kind` ("cart logs"), then those that may be `kind`, then the rest.
fn ranked(f: &Features, kind: Kind) -> Vec<&Mention> {
    let mut ranked: Vec<&Mention> = f.mentions.iter().collect();
    ranked.sort_by_key(|m| match (m.hint == Some(kind), m.can_be(kind)) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    });
    ranked
}

/// A team named where a service is needed resolves to its services as candidates.
fn service(p: &AliasPlanner, f: &Features, mutation: bool) -> Option<Found> {
    ranked(f, Kind::Service).into_iter().find_map(|m| {
        let r = p
            .catalog
            .resolve_service(resolvable(m))
            .map(|s| s.name.to_string());
        settle(r, mutation)
    })
}

fn team(p: &AliasPlanner, f: &Features, mutation: bool) -> Option<Found> {
    let mut teams = ranked(f, Kind::Team)
        .into_iter()
        .filter(|m| m.can_be(Kind::Team));
    teams.find_map(|m| {
        let r = p
            .catalog
            .resolve_team(resolvable(m))
            .map(|t| t.name.to_string());
        settle(r, mutation)
    })
}

/// The first team or service named, under the name the user used (not its owner).
fn subject(p: &AliasPlanner, f: &Features) -> Option<Found> {
    f.mentions.iter().find_map(|m| {
        if m.can_be(Kind::Service) && m.can_be(Kind::Team) && !m.corrected {
            return Some(known(m.key.clone()));
        }
        let r = if m.can_be(Kind::Service) {
            p.catalog
                .resolve_service(resolvable(m))
                .map(|s| s.name.to_string())
        } else {
            p.catalog
                .resolve_team(resolvable(m))
                .map(|t| t.name.to_string())
        };
        settle(r, false)
    })
}

/// A question between two tools neither of which was likely enough (or, when both are
/// the same change, whether it was meant at all), with the first tool's arguments so
/// far. A change is never proposed on such a reading; the answer picks the tool.
pub(crate) fn ask_which(p: &AliasPlanner, f: &Features, first: usize, second: usize) -> Intent {
    let tool = &p.tools[first];
    let mut args = extract(p, tool, f).args;
    if second != first {
        let other = extract(p, &p.tools[second], f).args;
        for (k, v) in other {
            args.entry(k).or_insert(v);
        }
    }
    args.remove("query");
    let names: Vec<&str> = [first, second]
        .iter()
        .map(|i| p.tools[*i].spec.name.as_str())
        .collect();
    let question = reply::which(&names, &args);
    let mut choices: Vec<ToolName> = [first, second].map(|i| p.tools[i].spec.name).to_vec();
    choices.dedup();
    Intent::Clarify(Clarification {
        tool: tool.spec.name,
        args,
        missing: Vec::new(),
        question,
        choices,
    })
}

/// `base` (from the thread) updated with `ex`: a call when every required argument is
/// settled, otherwise a question for the missing ones.
pub(crate) fn finish(tool: &ToolInfo, base: Map<String, Value>, ex: Extraction) -> Intent {
    let mut args = base;
    args.extend(ex.args);
    for u in &ex.unsure {
        args.remove(&u.arg);
    }
    let spec = &tool.spec;
    let missing: Vec<String> = spec
        .required
        .iter()
        .chain(&spec.optional)
        .filter(|a| {
            let required = spec.required.contains(a) && !args.contains_key(a.as_str());
            required || ex.unsure.iter().any(|u| &u.arg == *a)
        })
        .cloned()
        .collect();
    if missing.is_empty() {
        return Intent::Call(ToolCall {
            tool: spec.name,
            args,
        });
    }
    let question = reply::question(spec.name.as_str(), &args, &missing, &ex.unsure);
    Intent::Clarify(Clarification {
        tool: spec.name,
        args,
        missing,
        question,
        choices: Vec::new(),
    })
}
