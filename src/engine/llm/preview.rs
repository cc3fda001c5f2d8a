//! What the planner makes of a message before any tool runs, for `platbot eval`: the
//! classifier's settled intent, or the model's first call as the loop takes it.

use super::opinion::{Ended, Opinion, read_instead};
use super::repair::Repair;
use super::state::RunState;
use super::wire::{answer_text, assistant_with_calls, text_intent, tool_message};
use super::{Interpreted, LlmAgent, LlmError, RequestUsage, TurnInput};
use serde::Serialize;

use crate::actions::spec::ActionKind;
use crate::engine::intent::{Intent, PlanContext};

/// What a planner made of a message, as the eval scores it: an intent, or one of the two
/// things a turn never turns into an intent (the loop answers or refuses them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Predicted {
    /// The model asked back in words, naming no tool.
    Question(String),
    /// The model called a tool platbot does not have (a turn refuses it).
    UnknownTool(String),
    #[serde(untagged)]
    Intent(Intent),
}

impl From<Intent> for Predicted {
    fn from(intent: Intent) -> Self {
        Self::Intent(intent)
    }
}

/// The planner's intent for one message, and what it cost.
#[derive(Debug)]
pub struct Preview {
    pub intent: Result<Predicted, LlmError>,
    pub requests: Vec<RequestUsage>,
    /// Whether the classifier settled it without asking the model.
    pub routed: bool,
}

/// The model's first call as the loop takes it, or the repair it needs.
enum Taken {
    Done(Predicted, Ended),
    Repair(Repair),
}

impl LlmAgent {
    /// The turn's intent before any tool runs: what the classifier settles, or the
    /// model's first tool call as the loop takes it (names settled, the one repair
    /// attempt included), its question or its no-tool answer; and, as in the engine, the
    /// read the classifier finds when the model read nothing.
    pub async fn predict(&self, text: &str, ctx: &PlanContext) -> Preview {
        let input = TurnInput {
            text,
            history: &[],
            ctx,
        };
        let consult = match self.opinion(&input) {
            Opinion::Settled(intent) => {
                return Preview {
                    intent: Ok(intent.into()),
                    requests: Vec::new(),
                    routed: true,
                };
            }
            Opinion::Consult(c) => c,
        };
        let mut state = RunState::new(self, &input);
        state.consult = consult;
        let intent = self.first_intent(&mut state).await.map(|(intent, ended)| {
            if ended == Ended::Other {
                return intent;
            }
            let alias = self.reader.plan(text, ctx);
            read_instead(ended, alias, |t| self.is_read(t))
                .map_or(intent, |call| Intent::Call(call).into())
        });
        Preview {
            intent,
            requests: state.requests,
            routed: false,
        }
    }

    async fn first_intent(&self, state: &mut RunState) -> Result<(Predicted, Ended), LlmError> {
        let mut repaired = false;
        loop {
            let msg = self.request(state, true, None).await?;
            let calls = self.calls_of(&msg);
            let Some(call) = calls.first() else {
                if let Some(problem) = self.written_change(&msg) {
                    return Err(LlmError::BadResponse(problem.into()));
                }
                return Ok((text_intent(&answer_text(&msg)), Ended::Unread));
            };
            let (name, raw) = (&call.function.name, &call.function.arguments);
            let repair = match self.unasked_change(state, &mut repaired, name, raw) {
                Some(repair) => repair,
                None => match self.first_call(state, &mut repaired, name, raw) {
                    Taken::Done(intent, ended) => return Ok((intent, ended)),
                    Taken::Repair(repair) => repair,
                },
            };
            match repair {
                Repair::Ask(c) => return Ok((Intent::Clarify(c).into(), Ended::GaveUp)),
                Repair::Stop(reply) => {
                    return Ok((Intent::NotPlatform { reply }.into(), Ended::Unread));
                }
                Repair::Retry(text) => {
                    state.push(assistant_with_calls(&msg, &calls[..1]));
                    state.push(tool_message(&calls[0].id, text));
                }
            }
        }
    }

    /// The model's call as the loop would take it, or the repair it needs.
    fn first_call(
        &self,
        state: &mut RunState,
        repaired: &mut bool,
        name: &str,
        raw: &str,
    ) -> Taken {
        match self
            .tools
            .interpret(name, raw, &self.catalog, &state.grounding)
        {
            Interpreted::Ready {
                call,
                kind: ActionKind::Mutate,
            } => match state.consult.doubt(&call) {
                Some(question) => Taken::Done(Intent::Clarify(question).into(), Ended::GaveUp),
                None => Taken::Done(Intent::Call(call).into(), Ended::Other),
            },
            Interpreted::Ready { call, .. } => Taken::Done(Intent::Call(call).into(), Ended::Other),
            Interpreted::Ask(c) => Taken::Done(Intent::Clarify(c).into(), Ended::GaveUp),
            // Refused in a turn; scored as the wrong tool here.
            Interpreted::Unknown { name } => {
                Taken::Done(Predicted::UnknownTool(name), Ended::Other)
            }
            Interpreted::Unreadable { tool, error } => {
                Taken::Repair(self.repair_or_ask(state, repaired, tool, raw, &error))
            }
            Interpreted::Ungrounded(u) => Taken::Repair(self.repair_ungrounded(state, repaired, u)),
        }
    }
}
