//! The agent loop of one turn: requests, the model's calls taken in order, reads run
//! through the host, and the end of the turn (an answer, a proposal or a question).

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionResponseMessage, FunctionCall,
};
use serde_json::Value;

use super::repair::Repair;
use super::state::RunState;
use super::wire::{answer_text, assistant_with_calls, raw_answer, tool_message, tools_answer};
use super::{AgentOutcome, Interpreted, LlmAgent, LlmError, ReadDone, Refusal, ToolHost};
use crate::actions::ActionError;
use crate::actions::spec::ActionKind;
use crate::config::Answers;
use crate::engine::intent::{Intent, ToolCall};

/// Where the loop stands.
#[derive(Default)]
pub(super) struct Progress {
    reads: Vec<ReadDone>,
    /// The one repair attempt of the turn is spent.
    repaired: bool,
    refused_unknown: bool,
    /// The next request goes without tools and asks for the answer.
    closing: bool,
    step: usize,
}

impl LlmAgent {
    pub(super) async fn drive(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
        mut p: Progress,
    ) -> Result<AgentOutcome, LlmError> {
        loop {
            if self.answers == Answers::Tools && !p.reads.is_empty() {
                // The reads the model chose (or the classifier settled) answer as they are.
                return Ok(tools_answer(p.reads, &state.error_texts, None));
            }
            p.closing = p.closing || p.step >= self.max_steps;
            // Once there are results, every request says how to answer from them
            // (grounded, with citations), whether or not more tool calls may follow.
            let has_results = !p.reads.is_empty() || state.had_tool_errors;
            let instruction =
                (p.closing || has_results).then(|| self.closing_instruction(&p.reads));
            let msg = match self.request(state, !p.closing, instruction).await {
                Ok(m) => m,
                Err(e) if has_results => {
                    // The reads ran and were audited: their own text answers, unsummarised.
                    return Ok(raw_answer(p.reads, &state.error_texts, &e));
                }
                Err(e) => return Err(e),
            };
            let calls = self.calls_of(&msg);
            if p.closing || calls.is_empty() {
                return self.final_answer(state, &msg, calls.is_empty(), p.reads);
            }
            p.step += 1;
            state.push(assistant_with_calls(&msg, &calls));
            // Calls are taken in order, each answered by a tool message; one that ends the
            // turn (a mutation to propose, a question for the user) returns at once.
            for call in &calls {
                if let Some(done) = self.take_call(host, state, &mut p, call).await {
                    return Ok(done);
                }
            }
        }
    }

    /// A read the classifier settled: it runs as if the model had called it, and the
    /// model only words the answer (a closing request, without tools).
    pub(super) async fn routed_read(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
        call: ToolCall,
    ) -> Result<AgentOutcome, LlmError> {
        let id = format!("call_{}", uuid::Uuid::new_v4().simple());
        let wire = ChatCompletionMessageToolCall {
            id: id.clone(),
            function: FunctionCall {
                name: call.tool.to_string(),
                arguments: Value::Object(call.args.clone()).to_string(),
            },
        };
        state.push(assistant_with_calls(
            &ChatCompletionResponseMessage::default(),
            &[wire],
        ));
        let mut p = Progress {
            closing: true,
            ..Progress::default()
        };
        if let Some(repair) = self.take_read(host, state, &mut p, &id, call).await
            && let Some(done) = settle(state, &id, repair, &mut p.reads)
        {
            return Ok(done);
        }
        self.drive(host, state, p).await
    }

    /// The model's text as the turn's answer, unless it is none.
    fn final_answer(
        &self,
        state: &RunState,
        msg: &ChatCompletionResponseMessage,
        no_calls: bool,
        reads: Vec<ReadDone>,
    ) -> Result<AgentOutcome, LlmError> {
        let text = answer_text(msg);
        // Without tools on offer a small model may still write a call as text.
        let problem = if text.is_empty() {
            Some("an empty answer")
        } else if !no_calls {
            Some("another tool call instead of an answer")
        } else {
            self.written_change(msg)
        };
        if let Some(problem) = problem {
            let e = LlmError::BadResponse(problem.into());
            if reads.is_empty() && !state.had_tool_errors {
                return Err(e);
            }
            return Ok(raw_answer(reads, &state.error_texts, &e));
        }
        Ok(AgentOutcome::Answer {
            text,
            reads,
            note: None,
        })
    }

    /// One call of the model's: `Some` when it ends the turn.
    async fn take_call(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
        p: &mut Progress,
        call: &ChatCompletionMessageToolCall,
    ) -> Option<AgentOutcome> {
        let id = call.id.clone();
        let name = call.function.name.clone();
        let raw = call.function.arguments.clone();
        // Whether the user asked for a change comes first: a question towards an
        // unasked change must not be left pending for their next answer either.
        if let Some(repair) = self.unasked_change(state, &mut p.repaired, &name, &raw) {
            return settle(state, &id, repair, &mut p.reads);
        }
        let repair = match self
            .tools
            .interpret(&name, &raw, &self.catalog, &state.grounding)
        {
            Interpreted::Unknown { name } => self.refuse_unknown(state, p, name, raw),
            Interpreted::Unreadable { tool, error } => {
                self.repair_or_ask(state, &mut p.repaired, tool, &raw, &error)
            }
            Interpreted::Ask(c) => Repair::Ask(c),
            Interpreted::Ungrounded(u) => self.repair_ungrounded(state, &mut p.repaired, u),
            Interpreted::Ready {
                call: tc,
                kind: ActionKind::Mutate,
            } => match self.take_change(host, state, p, tc).await {
                Ok(call) => return Some(AgentOutcome::Intent(Intent::Call(call))),
                Err(repair) => repair,
            },
            Interpreted::Ready {
                call: tc,
                kind: ActionKind::Read,
            } => self.take_read(host, state, p, &id, tc).await?,
        };
        settle(state, &id, repair, &mut p.reads)
    }

    fn refuse_unknown(
        &self,
        state: &mut RunState,
        p: &mut Progress,
        name: String,
        raw: String,
    ) -> Repair {
        state.refused.push(Refusal {
            tool: name.clone(),
            args: raw,
            reason: "unknown tool".into(),
        });
        if p.refused_unknown {
            p.closing = true;
        }
        p.refused_unknown = true;
        Repair::Retry(format!(
            "There is no tool named `{name}`; nothing was done. The tools are: {}.",
            self.tools.names().join(", ")
        ))
    }

    /// A change the model proposes, checked: the classifier sees it in the message, its
    /// arguments parse, a container the user did not name exists.
    async fn take_change(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
        p: &mut Progress,
        call: ToolCall,
    ) -> Result<ToolCall, Repair> {
        if let Some(question) = state.consult.doubt(&call) {
            return Err(Repair::Ask(question));
        }
        match host.check_mutation(&call) {
            Ok(()) => match self
                .unknown_container(state, host, &mut p.repaired, &call)
                .await
            {
                None => Ok(call),
                Some(repair) => Err(repair),
            },
            Err(e @ (ActionError::InvalidArgs(_) | ActionError::Unknown(_))) => {
                let args = Value::Object(call.args.clone()).to_string();
                Err(self.repair_or_ask(state, &mut p.repaired, call.tool, &args, &e.to_string()))
            }
            // Checking arguments touches nothing else; anything else is a bug to report.
            Err(e) => Err(Repair::Stop(format!("I can't do that: {e}"))),
        }
    }

    /// A read, run through the host; `None` when its result (or a note that it ran
    /// already) went back to the model.
    async fn take_read(
        &self,
        host: &dyn ToolHost,
        state: &mut RunState,
        p: &mut Progress,
        id: &str,
        call: ToolCall,
    ) -> Option<Repair> {
        if p.reads.iter().any(|r| r.call == call) {
            // Asked twice: the model has what it needs; close.
            p.closing = true;
            state.push(tool_message(id, "Same result as above.".into()));
            return None;
        }
        match host.read(&call).await {
            Ok(output) => {
                let room = self.context_tokens.saturating_sub(self.tools.tokens());
                let text = state.frame_output(call.tool.as_str(), &output, room);
                state.push(tool_message(id, text));
                p.reads.push(ReadDone { call, output });
                None
            }
            Err(ActionError::InvalidArgs(m)) => {
                let args = Value::Object(call.args.clone()).to_string();
                Some(self.repair_or_ask(state, &mut p.repaired, call.tool, &args, &m))
            }
            Err(e) => {
                let text = e.to_string();
                state.error_texts.push(text.clone());
                state.had_tool_errors = true;
                Some(Repair::Retry(state.frame_error(call.tool.as_str(), &text)))
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
