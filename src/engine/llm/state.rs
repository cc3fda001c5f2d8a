//! The transcript of one turn: what the user named and asked for, this turn's steps,
//! and the request's messages within the token budget.

use async_openai::types::chat::ChatCompletionRequestMessage;
use serde_json::Value;

use super::budget::{self, ANSWER_TOKENS, TOOL_RESULT_TOKENS};
use super::opinion::Consult;
use super::wire::{system_message, user_message};
use super::{Grounding, LlmAgent, LlmError, Refusal, RequestUsage, TurnInput};
use crate::actions::ActionOutput;
use crate::domain::ToolName;
use crate::engine::intent::PlanContext;
use crate::engine::words::{ProposalReply, proposal_reply};

/// The transcript of one turn and what it has cost so far.
pub(super) struct RunState {
    pub(super) system: String,
    pub(super) history: Vec<ChatCompletionRequestMessage>,
    pub(super) note: Option<String>,
    /// The classifier's reading of the message, when the model is consulted.
    pub(super) consult: Consult,
    pub(super) user: String,
    pub(super) steps: Vec<ChatCompletionRequestMessage>,
    pub(super) grounding: Grounding,
    /// The changes the user's message asks for, as the alias planner reads it.
    pub(super) asked: Vec<&'static str>,
    /// The message confirms something offered earlier in the thread ("yes", "do it").
    pub(super) confirms: bool,
    pub(super) nonce: String,
    pub(super) citations: usize,
    pub(super) requests: Vec<RequestUsage>,
    pub(super) refused: Vec<Refusal>,
    pub(super) error_texts: Vec<String>,
    pub(super) had_tool_errors: bool,
}

impl RunState {
    pub(super) fn new(agent: &LlmAgent, input: &TurnInput<'_>) -> Self {
        let nonce = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        // platbot's replies quote logs, passages and cluster state: they go back quoted as
        // data, not as the model's own words to follow up on.
        let mut history: Vec<ChatCompletionRequestMessage> = input
            .history
            .iter()
            .map(|t| {
                if t.role == "user" {
                    user_message(t.text.clone())
                } else {
                    let body = budget::truncate(&t.text, budget::HISTORY_TURN_TOKENS);
                    user_message(budget::frame_reply(&body, &nonce))
                }
            })
            .collect();
        // The engine remembers the message before planning; it is sent as the user turn below.
        if input
            .history
            .last()
            .is_some_and(|t| t.role == "user" && t.text.trim() == input.text.trim())
        {
            history.pop();
        }
        let grounding = grounding(agent, input);
        Self {
            system: agent.system.clone(),
            history,
            note: thread_note(input.ctx),
            consult: Consult::default(),
            user: input.text.to_owned(),
            steps: Vec::new(),
            grounding,
            asked: changes_asked(agent, input),
            confirms: proposal_reply(input.text) == Some(ProposalReply::Confirm)
                && input.history.iter().any(|t| t.role != "user"),
            nonce,
            citations: 0,
            requests: Vec::new(),
            refused: Vec::new(),
            error_texts: Vec::new(),
            had_tool_errors: false,
        }
    }

    pub(super) fn push(&mut self, m: ChatCompletionRequestMessage) {
        self.steps.push(m);
    }

    /// Whether the model may propose `tool`: the user's message asks for that change (a
    /// call or a question towards it as the alias planner reads the message, the answer
    /// to a pending question towards it, or the change's own phrases in any inflection),
    /// or confirms what an earlier reply in the thread offered ("yes", "do it").
    /// Diagnose's own offer does not come through here: it is typed, from the read.
    pub(super) fn allows_change(&self, tool: ToolName) -> bool {
        self.confirms || self.asked.contains(&tool.as_str())
    }

    /// A read's output for the transcript, cut to half of what the context has left
    /// (history is dropped before anything of this turn) and never over the cap.
    pub(super) fn frame_output(
        &mut self,
        tool: &str,
        out: &ActionOutput,
        context: usize,
    ) -> String {
        let numbered: Vec<(usize, &crate::domain::Citation)> = out
            .citations
            .iter()
            .enumerate()
            .map(|(i, c)| (self.citations + i + 1, c))
            .collect();
        self.citations += out.citations.len();
        let used: usize = [&self.system, &self.user]
            .iter()
            .map(|t| budget::estimate(t))
            .sum::<usize>()
            + self.steps.iter().map(budget::message_tokens).sum::<usize>();
        let left = context.saturating_sub(ANSWER_TOKENS as usize + used);
        let room = TOOL_RESULT_TOKENS.min(left / 2).max(100);
        let body = budget::truncate(&out.text, room);
        budget::frame_data(tool, true, &body, &numbered, &self.nonce)
    }

    pub(super) fn frame_error(&self, tool: &str, text: &str) -> String {
        let body = budget::truncate(text, TOOL_RESULT_TOKENS / 3);
        budget::frame_data(tool, false, &body, &[], &self.nonce)
    }

    /// The request's messages within `context` tokens: history goes first, oldest
    /// first; the system prompt, the message and this turn's steps always stay.
    pub(super) fn messages(
        &self,
        instruction: Option<String>,
        context: usize,
        tools_tokens: usize,
    ) -> Result<(Vec<ChatCompletionRequestMessage>, usize), LlmError> {
        let system = system_message(self.system.clone());
        let note = self.note.clone().map(system_message);
        // The classifier's hint is for choosing a tool; an answer from results needs none.
        let hint = instruction
            .is_none()
            .then(|| self.consult.hint())
            .flatten()
            .map(system_message);
        let user = user_message(self.user.clone());
        let closing = instruction.map(system_message);
        let fixed: usize = [
            Some(&system),
            note.as_ref(),
            hint.as_ref(),
            Some(&user),
            closing.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(budget::message_tokens)
        .sum::<usize>()
            + self.steps.iter().map(budget::message_tokens).sum::<usize>()
            + tools_tokens;
        let limit = context.saturating_sub(ANSWER_TOKENS as usize);
        if fixed > limit {
            return Err(LlmError::ContextFull(context));
        }
        // Newest history first until the budget is spent.
        let mut left = limit - fixed;
        let mut kept = 0;
        for m in self.history.iter().rev() {
            let cost = budget::message_tokens(m);
            if cost > left {
                break;
            }
            left -= cost;
            kept += 1;
        }
        let history = &self.history[self.history.len() - kept..];
        let mut out = Vec::with_capacity(history.len() + self.steps.len() + 4);
        out.push(system);
        out.extend(history.iter().cloned());
        out.extend(note);
        out.extend(hint);
        out.push(user);
        out.extend(self.steps.iter().cloned());
        out.extend(closing);
        Ok((out, limit - left))
    }
}

/// What the user named in the thread (their messages, and the arguments of the
/// thread's earlier call and pending question, which came from their words).
fn grounding(agent: &LlmAgent, input: &TurnInput<'_>) -> Grounding {
    let earlier_user: Vec<&str> = input
        .history
        .iter()
        .filter(|t| t.role == "user")
        .map(|t| t.text.as_str())
        .collect();
    let mut grounding = Grounding::from_texts(earlier_user.iter().copied().chain([input.text]));
    let revisions = earlier_user
        .iter()
        .flat_map(|t| agent.reader.revisions_named(t, &PlanContext::default()))
        .chain(agent.reader.revisions_named(input.text, input.ctx));
    for n in revisions {
        grounding.add_revision(n);
    }
    for arg in ["service", "team", "subject"] {
        let named = earlier_user.iter().chain([&input.text]);
        if named.into_iter().any(|t| agent.reader.names_any(t, arg)) {
            grounding.add_named_arg(arg);
        }
    }
    let earlier = [
        input.ctx.previous.as_ref().map(|p| &p.args),
        input.ctx.pending.as_ref().map(|p| &p.args),
    ];
    for args in earlier.into_iter().flatten() {
        if let Some(Value::String(env)) = args.get("environment") {
            grounding.add_environment(env);
        }
        // Only ever set from the user's words (a pending rollback's revision).
        if let Some(n) = args.get("revision").and_then(Value::as_u64) {
            grounding.add_revision(n);
        }
        for key in ["service", "team", "subject"] {
            if let Some(Value::String(name)) = args.get(key) {
                grounding.add_name(name);
            }
        }
    }
    grounding
}

/// The changes the user's message asks for. A bare answer ("staging") to a question
/// the model asked in prose (no pending question is kept for those) carries the request
/// of the user's message it answers.
fn changes_asked(agent: &LlmAgent, input: &TurnInput<'_>) -> Vec<&'static str> {
    let asked = agent.reader.changes_asked(input.text, input.ctx);
    if !asked.is_empty() || !agent.reader.only_arguments(input.text) {
        return asked;
    }
    let mut earlier = input
        .history
        .iter()
        .rev()
        .skip_while(|t| t.role == "user" && t.text.trim() == input.text.trim());
    let question = earlier
        .next()
        .is_some_and(|t| t.role != "user" && t.text.trim_end().ends_with('?'));
    match earlier.find(|t| t.role == "user") {
        Some(request) if question => agent
            .reader
            .changes_asked(&request.text, &PlanContext::default()),
        _ => asked,
    }
}

/// What the thread is in the middle of, for follow-ups ("and in staging?", "prod").
fn thread_note(ctx: &PlanContext) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = &ctx.previous {
        parts.push(format!(
            "The last tool used in this thread: {} {}.",
            p.tool,
            Value::Object(p.args.clone())
        ));
    }
    if let Some(p) = &ctx.pending {
        parts.push(format!(
            "Waiting for the user to answer \"{}\" to complete {} {} (missing: {}).",
            p.question,
            p.tool,
            Value::Object(p.args.clone()),
            p.missing.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| format!("Thread context. {}", parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::intent::{Clarification, ToolCall};

    #[test]
    fn the_thread_note_names_the_previous_call_and_what_is_pending() {
        assert!(thread_note(&PlanContext::default()).is_none());
        let mut args = serde_json::Map::new();
        args.insert("service".into(), Value::from("cart"));
        let ctx = PlanContext {
            previous: Some(ToolCall {
                tool: crate::domain::ToolName::DeploymentStatus,
                args: args.clone(),
            }),
            pending: Some(Clarification {
                tool: crate::domain::ToolName::RestartDeployment,
                args,
                missing: vec!["environment".into()],
                question: "Which environment?".into(),
                choices: Vec::new(),
            }),
            ..PlanContext::default()
        };
        let note = thread_note(&ctx).unwrap();
        assert!(
            note.contains("deployment_status {\"service\":\"cart\"}"),
            "{note}"
        );
        assert!(note.contains("missing: environment"), "{note}");
    }
}
