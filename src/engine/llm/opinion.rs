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
use crate::domain::ToolName;
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
    /// Training examples like the message, with their tools (`None`: no tool).
    examples: Vec<(String, Option<ToolName>)>,
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
        examples: Vec::new(),
    })
}

/// Whether the reading is sure enough to act on without the model.
fn confident(reading: &Reading, tools: &ToolBox) -> bool {
    match (&reading.source, &reading.intent) {
        // The thread's own answers: a pending question answered, "and in staging?", a
        // "yes" with nothing waiting; and a change no action makes.
        (Source::Thread | Source::Unsupported, _) => true,
        (Source::Classifier, Intent::NotPlatform { .. }) => reading.probability(None) >= ROUTE_NONE,
        (Source::Classifier, Intent::Call(call)) => sure_of(reading, tools, call.tool),
        // A question for missing arguments of the tool it is sure of; not a question
        // between two tools (the model may know which).
        (Source::Classifier, Intent::Clarify(c)) => {
            c.choices.is_empty() && !c.missing.is_empty() && sure_of(reading, tools, c.tool)
        }
    }
}

fn sure_of(reading: &Reading, tools: &ToolBox, tool: ToolName) -> bool {
    let p = reading.probability(Some(tool.as_str()));
    // Unknown to the box: as careful as with a change.
    let change = !matches!(tools.kind(tool.as_str()), Some((_, ActionKind::Read)));
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
            // How to use it is in the system prompt (the cached prefix): new tokens here
            // cost a small model on a CPU about 40 ms each.
            let mut hint = format!("Classifier: {}.", named.join(", "));
            if !self.examples.is_empty() {
                let shown: Vec<String> = self
                    .examples
                    .iter()
                    .map(|(text, tool)| {
                        let tool = tool.map_or("no tool", |t| t.as_str());
                        format!("\"{text}\" -> {tool}")
                    })
                    .collect();
                hint.push_str(&format!(" Similar: {}.", shown.join("; ")));
            }
            hint
        })
    }

    /// Shows the model `examples` like the message with the hint (few-shot).
    pub(super) fn with_examples(mut self, examples: Vec<(String, Option<ToolName>)>) -> Self {
        if self.reading.is_some() {
            self.examples = examples;
        }
        self
    }

    /// Whether the classifier's likeliest reading of the message is `tool`.
    pub(super) fn reads_as(&self, tool: ToolName) -> bool {
        self.reading
            .as_ref()
            .and_then(|r| r.ranked.first())
            .is_some_and(|(t, _)| *t == Some(tool.as_str()))
    }

    /// A question instead of the change `call` when the classifier does not see that
    /// change in the message; `None` when it agrees (or there is no reading).
    pub(super) fn doubt(&self, call: &ToolCall) -> Option<Clarification> {
        let reading = self.reading.as_ref()?;
        let top = reading.ranked.first().and_then(|(t, _)| *t);
        if top == Some(call.tool.as_str())
            || reading.probability(Some(call.tool.as_str())) >= CHANGE_AGREEMENT
        {
            return None;
        }
        tracing::info!(tool = %call.tool, "the model proposed a change the classifier does not read in the message; asking");
        let mut args: Map<String, serde_json::Value> = call.args.clone();
        args.remove("query");
        Some(Clarification {
            tool: call.tool,
            question: which_question(&[call.tool.as_str()], &args),
            args,
            missing: Vec::new(),
            choices: vec![call.tool],
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
    is_read: impl Fn(ToolName) -> bool,
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
    (wanted && is_read(call.tool)).then_some(call)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::spec::all_tools;
    use crate::engine::alias::AliasTable;

    fn toolbox() -> ToolBox {
        ToolBox::new(all_tools(), &AliasTable::builtin())
    }

    fn call(tool: &str) -> Intent {
        Intent::Call(ToolCall {
            tool: tool.parse().unwrap(),
            args: json!({"service": "cart", "environment": "prod"})
                .as_object()
                .cloned()
                .unwrap(),
        })
    }

    fn reading(intent: Intent, ranked: &[(Option<&'static str>, f32)]) -> Reading {
        Reading {
            intent,
            source: Source::Classifier,
            ranked: ranked.to_vec(),
        }
    }

    fn settled(o: &Opinion) -> bool {
        matches!(o, Opinion::Settled(_))
    }

    #[test]
    fn confident_readings_are_settled_and_a_change_needs_more_than_a_read() {
        let tb = toolbox();
        let read = reading(
            call("deployment_status"),
            &[(Some("deployment_status"), 0.55)],
        );
        assert!(settled(&opinion(read.clone(), ClassifierRole::Route, &tb)));
        assert!(!settled(&opinion(
            read.clone(),
            ClassifierRole::Advise,
            &tb
        )));
        assert!(!settled(&opinion(read, ClassifierRole::Off, &tb)));
        let change = reading(
            call("restart_deployment"),
            &[(Some("restart_deployment"), 0.55)],
        );
        assert!(!settled(&opinion(change, ClassifierRole::Route, &tb)));
        let change = reading(
            call("restart_deployment"),
            &[(Some("restart_deployment"), 0.7)],
        );
        assert!(settled(&opinion(change, ClassifierRole::Route, &tb)));
        let chat = reading(
            Intent::NotPlatform { reply: "hi".into() },
            &[(None, 0.45), (Some("search_docs"), 0.3)],
        );
        assert!(!settled(&opinion(chat, ClassifierRole::Route, &tb)));
    }

    #[test]
    fn a_question_between_two_tools_goes_to_the_model_one_for_a_missing_value_does_not() {
        let tb = toolbox();
        let question = |choices: Vec<ToolName>, missing: Vec<String>| {
            Intent::Clarify(Clarification {
                tool: ToolName::RestartDeployment,
                args: Map::new(),
                missing,
                question: "?".into(),
                choices,
            })
        };
        let ranked = [(Some("restart_deployment"), 0.8)];
        let missing = reading(question(Vec::new(), vec!["environment".into()]), &ranked);
        assert!(settled(&opinion(missing, ClassifierRole::Route, &tb)));
        let which = reading(
            question(
                vec![ToolName::RestartDeployment, ToolName::PodLogs],
                Vec::new(),
            ),
            &ranked,
        );
        assert!(!settled(&opinion(which, ClassifierRole::Route, &tb)));
        // A change no action makes is refused whatever the role, except with the model alone.
        let refused = Reading {
            intent: Intent::NotPlatform { reply: "no".into() },
            source: Source::Unsupported,
            ranked: Vec::new(),
        };
        assert!(settled(&opinion(
            refused.clone(),
            ClassifierRole::Advise,
            &tb
        )));
        assert!(!settled(&opinion(refused, ClassifierRole::Off, &tb)));
    }

    #[test]
    fn the_hint_names_the_likeliest_tools_and_a_doubted_change_is_a_question() {
        let consult = Consult {
            reading: Some(reading(
                call("diagnose"),
                &[
                    (Some("diagnose"), 0.6),
                    (None, 0.2),
                    (Some("restart_deployment"), 0.15),
                    (Some("pod_logs"), 0.05),
                ],
            )),
            examples: Vec::new(),
        };
        let hint = consult.hint().unwrap();
        assert!(hint.contains("diagnose (0.60)"), "{hint}");
        assert!(hint.contains("not a platform request (0.20)"), "{hint}");
        assert!(!hint.contains("pod_logs"), "{hint}");
        assert!(!hint.contains("Similar"), "{hint}");
        let shown = consult.clone().with_examples(vec![
            ("why is <service> crashing".into(), Some(ToolName::Diagnose)),
            ("tell me a joke".into(), None),
        ]);
        let hint = shown.hint().unwrap();
        assert!(
            hint.ends_with(
                "Similar: \"why is <service> crashing\" -> diagnose; \"tell me a joke\" -> no tool."
            ),
            "{hint}"
        );
        // Without a reading (the model alone) there is no hint to add them to.
        let alone = Consult::default().with_examples(vec![("x".into(), None)]);
        assert!(alone.hint().is_none());
        let Intent::Call(restart) = call("restart_deployment") else {
            unreachable!()
        };
        let q = consult.doubt(&restart).expect("a question");
        assert_eq!(q.choices, [ToolName::RestartDeployment]);
        assert!(
            q.question.contains("restart cart in prod"),
            "{}",
            q.question
        );
        let Intent::Call(diagnose) = call("diagnose") else {
            unreachable!()
        };
        assert!(consult.doubt(&diagnose).is_none(), "the classifier agrees");
        assert!(
            Consult::default().doubt(&restart).is_none(),
            "no reading, no doubt"
        );
        assert!(Consult::default().hint().is_none());
        assert!(
            consult.reads_as(ToolName::Diagnose) && !consult.reads_as(ToolName::RestartDeployment)
        );
    }

    #[test]
    fn only_a_model_that_read_nothing_gets_the_classifiers_read() {
        let is_read = |t: ToolName| t != ToolName::RestartDeployment;
        let status = call("deployment_status");
        assert!(read_instead(Ended::Unread, status.clone(), is_read).is_some());
        assert!(read_instead(Ended::Other, status.clone(), is_read).is_none());
        assert!(read_instead(Ended::GaveUp, status, is_read).is_none());
        assert!(read_instead(Ended::Unread, call("restart_deployment"), is_read).is_none());
        let docs = Intent::Call(ToolCall {
            tool: ToolName::SearchDocs,
            args: json!({"query": "how do i"}).as_object().cloned().unwrap(),
        });
        assert!(read_instead(Ended::GaveUp, docs, is_read).is_some());
    }
}
