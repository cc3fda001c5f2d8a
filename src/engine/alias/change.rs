//! Whether a message asks for a change, and which revision it names, as this planner
//! reads it. The LLM planner takes a change (or a rollback revision) only when the
//! user's own words ask for it, so text in a tool result cannot choose one.

use crate::domain::ToolName;
use crate::engine::intent::{Intent, PlanContext};

use super::mentions::Kind;
use super::text::Word;
use super::{AliasPlanner, choose, followup};

/// A change's own phrases (`tools/*.yaml` patterns) worth this much read as asking for
/// it, however the message is built ("could billing-api be bounced in staging?", "the
/// orders deployment has to be restarted"). Weaker cues ("memory", "make", "need") are
/// too common in questions to count alone.
const CHANGE_PHRASE_SCORE: f32 = 3.0;
/// Endings taken off a word to find a pattern word in it ("restarted", "bouncing").
const ENDINGS: &[&str] = &["ing", "ed", "es", "s", "d"];
/// Words right before a number that make it a revision ("rev 7", "revision seven").
const REVISION_CUES: &[&str] = &["rev", "revision", "version"];

impl AliasPlanner {
    /// The changes (mutation tools) `text` asks for in the thread `ctx`: the change the
    /// planner reads it as (a call or a question towards one), the pending change it
    /// answers, and any change whose phrases it uses in some inflection.
    pub fn changes_asked(&self, text: &str, ctx: &PlanContext) -> Vec<&'static str> {
        let f = self.read(text);
        if choose::unsupported_change(&f).is_some() {
            return Vec::new();
        }
        let mut asked: Vec<&'static str> = Vec::new();
        // A question between tools ("should I restart it, or show its logs?") is no request.
        let planned = match self.plan(text, ctx) {
            Intent::Call(c) => Some(c.tool),
            Intent::Clarify(c) if c.choices.is_empty() => Some(c.tool),
            Intent::Clarify(_) | Intent::NotPlatform { .. } => None,
        };
        if let Some(tool) = planned.and_then(|t| self.mutation(t.as_str())) {
            asked.push(tool);
        }
        // An answer to the pending question towards a change, unless it asks for another tool.
        if let Some(pending) = ctx.pending.as_ref()
            && let Some(tool) = self.mutation(pending.tool.as_str())
            && planned.is_none_or(|p| p == tool)
        {
            asked.push(tool);
        }
        let words: Vec<Word> = f.msg.words.iter().map(|w| self.base_form(w)).collect();
        let scores = self.patterns.scores(&words, self.tools.len());
        for (tool, score) in self.tools.iter().zip(scores) {
            if tool.is_mutation() && score >= CHANGE_PHRASE_SCORE {
                asked.push(tool.spec.name.as_str());
            }
        }
        asked.sort_unstable();
        asked.dedup();
        asked
    }

    /// The rollback revisions `text` names: the revision of the rollback the planner reads
    /// it as ("rollback ledger prd 7", "roll it back to 12"), and numbers marked as
    /// revisions ("rev 7", "v7", "revision seven").
    pub fn revisions_named(&self, text: &str, ctx: &PlanContext) -> Vec<u64> {
        let f = self.read(text);
        let mut out: Vec<u64> = f
            .numbers
            .iter()
            .filter(|n| {
                n.revision
                    || n.start
                        .checked_sub(1)
                        .and_then(|i| f.msg.words.get(i))
                        .is_some_and(|w| REVISION_CUES.contains(&w.text.as_str()))
            })
            .map(|n| n.value)
            .collect();
        let args = match self.plan(text, ctx) {
            Intent::Call(c) if c.tool == ToolName::RollbackDeployment => Some(c.args),
            Intent::Clarify(c) if c.tool == ToolName::RollbackDeployment => Some(c.args),
            _ => None,
        };
        if let Some(n) = args
            .as_ref()
            .and_then(|a| a.get("revision"))
            .and_then(serde_json::Value::as_u64)
        {
            out.push(n);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether `text` only gives arguments ("staging", "cart in prod", "3"): an answer
    /// to a question, not a request of its own.
    pub fn only_arguments(&self, text: &str) -> bool {
        let f = self.read(text);
        !f.msg.words.is_empty()
            && f.msg.words.len() <= followup::MAX_ELLIPTICAL_WORDS
            && followup::only_arguments(&f)
    }

    /// Whether `text` names any catalog entity that can be `arg` (`service`, `team`, or
    /// `subject`: either), as the planner's mention scan finds them.
    pub fn names_any(&self, text: &str, arg: &str) -> bool {
        let f = self.read(text);
        f.mentions.iter().any(|m| match arg {
            "service" => m.can_be(Kind::Service),
            "team" => m.can_be(Kind::Team),
            _ => m.service || m.team,
        })
    }

    /// `name` as this planner's mutation tool, if it is one.
    fn mutation(&self, name: &str) -> Option<&'static str> {
        self.tool_index(name)
            .map(|i| &self.tools[i])
            .filter(|t| t.is_mutation())
            .map(|t| t.spec.name.as_str())
    }

    /// The word as the pattern word it inflects ("bounced" -> "bounce"), when it is not
    /// a pattern word itself ("restarts" stays: it is diagnose's).
    fn base_form(&self, word: &Word) -> Word {
        let known = |w: &str| self.patterns.vocabulary().any(|v| v == w);
        if known(&word.text) {
            return word.clone();
        }
        let base = ENDINGS.iter().find_map(|ending| {
            let stem = word.text.strip_suffix(ending)?;
            if stem.chars().count() < 3 {
                return None;
            }
            // "scaled" -> "scale", "stopped" -> "stop".
            let undoubled = stem
                .chars()
                .last()
                .filter(|c| stem.ends_with(&format!("{c}{c}")))
                .map(|_| &stem[..stem.len() - 1]);
            [
                Some(stem.to_owned()),
                Some(format!("{stem}e")),
                undoubled.map(str::to_owned),
            ]
            .into_iter()
            .flatten()
            .find(|c| known(c))
        });
        match base {
            Some(text) => Word {
                text,
                ..word.clone()
            },
            None => word.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::actions::spec::all_tools;
    use crate::engine::alias::AliasTable;
    use crate::engine::intent::{Clarification, PlanContext};
    use crate::platform::catalog::Catalog;

    use super::*;

    fn planner() -> AliasPlanner {
        AliasPlanner::new(
            all_tools(),
            AliasTable::builtin(),
            Arc::new(Catalog::sandbox()),
        )
    }

    fn asked(text: &str) -> Vec<&'static str> {
        planner().changes_asked(text, &PlanContext::default())
    }

    #[test]
    fn requests_for_changes_are_read_in_many_phrasings() {
        for (text, tool) in [
            ("restart cart in staging", "restart_deployment"),
            (
                "could billing-api be bounced in staging",
                "restart_deployment",
            ),
            (
                "the orders deployment has to be restarted",
                "restart_deployment",
            ),
            (
                "cart needs to be rolled back in prod",
                "rollback_deployment",
            ),
            (
                "can I get a namespace for payments in dev?",
                "create_namespace",
            ),
            ("scaling search to 4 in dev please", "scale_deployment"),
            (
                "give notifications more memory in staging, 512",
                "set_memory_limit",
            ),
        ] {
            assert!(asked(text).contains(&tool), "{text:?}: {:?}", asked(text));
        }
    }

    #[test]
    fn questions_and_reads_ask_for_no_change() {
        for text in [
            "status of recommendations in prod?",
            "how do I rotate a db password?",
            "why does cart keep restarting in prod?",
            "is it the memory?",
            "show me the logs of cart",
            "don't restart cart, just tell me its status",
        ] {
            assert!(asked(text).is_empty(), "{text:?}: {:?}", asked(text));
        }
    }

    #[test]
    fn an_answer_to_a_pending_change_asks_for_it() {
        let ctx = PlanContext {
            pending: Some(Clarification {
                tool: crate::domain::ToolName::CreateNamespace,
                args: serde_json::Map::new(),
                missing: vec!["environment".into()],
                question: "Which environment?".into(),
                choices: Vec::new(),
            }),
            ..PlanContext::default()
        };
        let p = planner();
        assert_eq!(p.changes_asked("dev please", &ctx), ["create_namespace"]);
        assert!(p.changes_asked("status of cart?", &ctx).is_empty());
    }

    #[test]
    fn bare_arguments_are_answers_not_requests() {
        let p = planner();
        for text in ["staging", "cart in prod", "payments in dev please", "3"] {
            assert!(p.only_arguments(text), "{text:?}");
        }
        for text in ["restart cart", "how is cart doing in prod?", ""] {
            assert!(!p.only_arguments(text), "{text:?}");
        }
    }

    #[test]
    fn revisions_are_numbers_the_user_marks_as_revisions() {
        let p = planner();
        let none = PlanContext::default();
        assert_eq!(p.revisions_named("rollback cart prd to rev 7", &none), [7]);
        assert_eq!(p.revisions_named("rollback ledger prd 7", &none), [7]);
        assert_eq!(p.revisions_named("go back to v12", &none), [12]);
        assert_eq!(p.revisions_named("revision seven please", &none), [7]);
        for text in [
            "roll back search in staging, the one that is crashing",
            "scale cart to 3 in prod",
            "show me the last 50 lines of cart logs",
        ] {
            assert!(p.revisions_named(text, &none).is_empty(), "{text:?}");
        }
    }
}
