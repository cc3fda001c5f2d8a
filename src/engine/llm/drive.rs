//! The agent loop of one turn: requests, the model's calls taken in order, reads run
//! through the host, and the end of the turn (an answer, a proposal or a question).

use serde_json::Value;

use super::repair::Repair;
use super::state::RunState;
use super::wire::{answer_text, assistant_with_calls, raw_answer, tool_message};
use super::{AgentOutcome, Interpreted, LlmAgent, LlmError, ReadDone, Refusal, ToolHost};
use crate::actions::ActionError;
use crate::actions::spec::ActionKind;
use crate::engine::intent::Intent;

impl LlmAgent {
    pub(super) async fn drive(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
    ) -> Result<AgentOutcome, LlmError> {
        let mut reads: Vec<ReadDone> = Vec::new();
        let mut repaired = false;
        let mut refused_unknown = false;
        let mut closing = false;
        let mut step = 0;
        loop {
            closing = closing || step >= self.max_steps;
            // Once there are results, every request says how to answer from them
            // (grounded, with citations), whether or not more tool calls may follow.
            let has_results = !reads.is_empty() || state.had_tool_errors;
            let instruction = (closing || has_results).then(|| self.closing_instruction(&reads));
            let msg = match self.request(state, !closing, instruction).await {
                Ok(m) => m,
                Err(e) if !reads.is_empty() || state.had_tool_errors => {
                    // The reads ran and were audited: their own text answers, unsummarised.
                    return Ok(raw_answer(reads, &state.error_texts, &e));
                }
                Err(e) => return Err(e),
            };
            let calls = self.calls_of(&msg);
            if closing || calls.is_empty() {
                let text = answer_text(&msg);
                // Without tools on offer a small model may still write a call as text.
                let problem = if text.is_empty() {
                    Some("an empty answer")
                } else if !calls.is_empty() {
                    Some("another tool call instead of an answer")
                } else {
                    self.written_change(&msg)
                };
                if let Some(problem) = problem {
                    let e = LlmError::BadResponse(problem.into());
                    if reads.is_empty() && !state.had_tool_errors {
                        return Err(e);
                    }
                    return Ok(raw_answer(reads, &state.error_texts, &e));
                }
                return Ok(AgentOutcome::Answer {
                    text,
                    reads,
                    note: None,
                });
            }
            step += 1;
            state.push(assistant_with_calls(&msg, &calls));
            // Calls are taken in order, each answered by a tool message; one that ends the
            // turn (a mutation to propose, a question for the user) returns at once.
            for call in &calls {
                let id = call.id.clone();
                let name = call.function.name.clone();
                let raw = call.function.arguments.clone();
                // Whether the user asked for a change comes first: a question towards an
                // unasked change must not be left pending for their next answer either.
                if let Some(repair) = self.unasked_change(state, &mut repaired, &name, &raw) {
                    match settle(state, &id, repair, &mut reads) {
                        Some(done) => return Ok(done),
                        None => continue,
                    }
                }
                let repair = match self.tools.interpret(
                    &name,
                    &raw,
                    &self.catalog,
                    &state.grounding,
                ) {
                    Interpreted::Unknown { name } => {
                        state.refused.push(Refusal {
                            tool: name.clone(),
                            args: raw,
                            reason: "unknown tool".into(),
                        });
                        if refused_unknown {
                            closing = true;
                        }
                        refused_unknown = true;
                        Repair::Retry(format!(
                            "There is no tool named `{name}`; nothing was done. The tools are: {}.",
                            self.tools.names().join(", ")
                        ))
                    }
                    Interpreted::Unreadable { tool, error } => {
                        self.repair_or_ask(state, &mut repaired, &tool, &raw, &error)
                    }
                    Interpreted::Ask(c) => Repair::Ask(c),
                    Interpreted::Ungrounded(u) => self.repair_ungrounded(state, &mut repaired, u),
                    Interpreted::Ready {
                        call: tc,
                        kind: ActionKind::Mutate,
                    } => match host.check_mutation(&tc) {
                        Ok(()) => match self
                            .unknown_container(state, host, &mut repaired, &tc)
                            .await
                        {
                            None => return Ok(AgentOutcome::Intent(Intent::Call(tc))),
                            Some(repair) => repair,
                        },
                        Err(e @ (ActionError::InvalidArgs(_) | ActionError::Unknown(_))) => {
                            let args = Value::Object(tc.args.clone()).to_string();
                            self.repair_or_ask(
                                state,
                                &mut repaired,
                                &tc.tool,
                                &args,
                                &e.to_string(),
                            )
                        }
                        // Checking arguments touches nothing else; anything else is a bug to report.
                        Err(e) => Repair::Stop(format!("I can't do that: {e}")),
                    },
                    Interpreted::Ready {
                        call: tc,
                        kind: ActionKind::Read,
                    } => {
                        if reads.iter().any(|r| r.call == tc) {
                            // Asked twice: the model has what it needs; close.
                            closing = true;
                            state.push(tool_message(&id, "Same result as above.".into()));
                            continue;
                        }
                        match host.read(&tc).await {
                            Ok(output) => {
                                let text = state.frame_output(
                                    &tc.tool,
                                    &output,
                                    self.context_tokens.saturating_sub(self.tools.tokens()),
                                );
                                state.push(tool_message(&id, text));
                                reads.push(ReadDone { call: tc, output });
                                continue;
                            }
                            Err(ActionError::InvalidArgs(m)) => {
                                let args = Value::Object(tc.args.clone()).to_string();
                                self.repair_or_ask(state, &mut repaired, &tc.tool, &args, &m)
                            }
                            Err(e) => {
                                let text = e.to_string();
                                state.error_texts.push(text.clone());
                                state.had_tool_errors = true;
                                Repair::Retry(state.frame_error(&tc.tool, &text))
                            }
                        }
                    }
                };
                if let Some(done) = settle(state, &id, repair, &mut reads) {
                    return Ok(done);
                }
            }
        }
    }
}

/// A refused call in the loop: a tool message for the model to go on with, or the
/// turn's end.
pub(super) fn settle(
    state: &mut RunState,
    id: &str,
    repair: Repair,
    reads: &mut Vec<ReadDone>,
) -> Option<AgentOutcome> {
    match repair {
        Repair::Retry(text) => {
            state.push(tool_message(id, text));
            None
        }
        Repair::Ask(c) => Some(AgentOutcome::Intent(Intent::Clarify(c))),
        Repair::Stop(text) => Some(AgentOutcome::Answer {
            text,
            reads: std::mem::take(reads),
            note: None,
        }),
    }
}
