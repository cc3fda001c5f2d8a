//! The LLM planner: OpenAI-compatible tool calling over the typed actions.
//!
//! The intent classifier reads the message first (`opinion.rs`): what it reads
//! confidently goes without the model choosing a tool; the rest goes to the model with
//! the classifier's likeliest tools as a hint. One message runs a bounded loop. The model sees the system prompt (rules and the
//! catalog), the thread's history trimmed to the token budget (the user's messages as
//! they are, platbot's replies quoted as data), and the tools this build can run. A
//! read it asks for runs at once (through [`ToolHost`], which audits it like any read)
//! and its output goes back labelled as data, truncated to its budget. A mutation ends
//! the loop as an [`Intent::Call`]: the engine turns it into a proposal, and only an
//! allowed confirmation can make it run. The model never holds anything that executes.
//!
//! What text in the transcript (tool results, quoted replies) cannot do: make a change
//! the user's own message does not ask for (as the alias planner reads it; refused once
//! back to the model, then the turn says nothing was proposed), fill in a name,
//! environment, number or revision the user never gave ([`Grounding`]), pick a container
//! the Deployment does not have, or turn a call written in prose into a change.
//!
//! Unreadable arguments go back once as a validation error for the model to repair,
//! then the user is asked; unknown tools are refused. After the last tool result the
//! closing request goes without tools (small models otherwise call the tool again). Any
//! failure before an answer leaves the turn to the alias planner (see `turn.rs`).

mod budget;
mod client;
mod drive;
mod grounding;
mod metrics;
mod opinion;
mod preview;
mod repair;
mod schema;
mod state;
mod tools;
mod turn;
mod wire;

use std::sync::Arc;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionResponseMessage,
};
use serde::Serialize;

use crate::actions::spec::{ActionKind, ToolSpec};
use crate::actions::{ActionError, ActionOutput};
use crate::config::{Answers, ClassifierRole, LlmSettings};
use crate::domain::{Environment, ToolName};
use crate::engine::alias::{AliasPlanner, AliasTable};
use crate::engine::intent::{Intent, PlanContext, ToolCall};
use crate::engine::prompt::{PromptError, Prompts};
use crate::platform::catalog::Catalog;
use crate::store::Turn;

pub use client::{LlmError, RequestUsage};
pub use grounding::Grounding;
pub use metrics::{LlmMetrics, LlmMetricsSnapshot};
pub use preview::{Predicted, Preview};
pub use tools::{Interpreted, ToolBox, Ungrounded};
pub(in crate::engine) use turn::Planned;

use budget::ANSWER_TOKENS;
use client::{ChatClient, ChatRequest};
use drive::Progress;
use opinion::Opinion;
use state::RunState;
use wire::salvage_call;

/// Runs read actions for the agent and checks a mutation's arguments. The engine
/// implements it; it has no way to execute a mutation, so neither has the model.
#[async_trait::async_trait]
pub trait ToolHost: Send + Sync {
    /// Runs a read action (and audits it).
    async fn read(&self, call: &ToolCall) -> Result<ActionOutput, ActionError>;
    /// Parses a mutation's arguments into its typed arguments, without planning it.
    fn check_mutation(&self, call: &ToolCall) -> Result<(), ActionError>;
    /// Plans a mutation against the live objects (a dry run at most; nothing is
    /// proposed), for an argument only they can settle: a container the user never named.
    async fn plan_mutation(&self, call: &ToolCall) -> Result<(), ActionError>;
}

/// One message as the agent sees it.
pub struct TurnInput<'a> {
    pub text: &'a str,
    /// The thread before this message, oldest first (`user` and `bot` turns).
    pub history: &'a [Turn],
    pub ctx: &'a PlanContext,
}

/// A read the agent ran, with what it returned.
#[derive(Debug, Clone)]
pub struct ReadDone {
    pub call: ToolCall,
    pub output: ActionOutput,
}

#[derive(Debug, Clone)]
pub enum AgentOutcome {
    /// The model answered, from the reads it ran (none for chit-chat or a question back).
    Answer {
        text: String,
        reads: Vec<ReadDone>,
        /// Set when the model failed after the reads and their raw output is the answer.
        note: Option<String>,
    },
    /// A mutation to propose, or a question for missing arguments.
    Intent(Intent),
}

/// A tool call the agent refused, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub tool: String,
    pub args: String,
    pub reason: String,
}

/// Everything one message cost and came to.
#[derive(Debug)]
pub struct AgentRun {
    pub outcome: Result<AgentOutcome, LlmError>,
    pub requests: Vec<RequestUsage>,
    pub refused: Vec<Refusal>,
    /// Whether the classifier settled the message without the model choosing a tool.
    pub routed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmSetupError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(
        "llm.context_tokens = {context} is too small: the system prompt and the tool definitions alone take about {needed} tokens plus {ANSWER_TOKENS} for the answer"
    )]
    ContextTooSmall { context: usize, needed: usize },
}

pub struct LlmAgent {
    client: ChatClient,
    tools: ToolBox,
    /// Reads the user's own words: which changes they ask for, which revisions they name.
    reader: AliasPlanner,
    prompts: Prompts,
    system: String,
    catalog: Arc<Catalog>,
    context_tokens: usize,
    max_steps: usize,
    classifier: ClassifierRole,
    answers: Answers,
    few_shot: usize,
    metrics: Arc<LlmMetrics>,
}

impl LlmAgent {
    /// `tools` are the ones the model may call (the registry's, in production).
    pub fn new(
        settings: &LlmSettings,
        tools: Vec<ToolSpec>,
        aliases: &AliasTable,
        catalog: Arc<Catalog>,
        environments: &[Environment],
    ) -> Result<Self, LlmSetupError> {
        let prompts = Prompts::load(&settings.prompts_dir)?;
        let reader = AliasPlanner::new(tools.clone(), aliases.clone(), Arc::clone(&catalog));
        let tools = ToolBox::new(tools, aliases);
        let catalog_budget = budget::CATALOG_TOKENS.min(settings.context_tokens / 4);
        let system =
            prompts.render_system(&catalog, environments, &tools.mutations(), catalog_budget);
        // The fixed part of every request, plus room for a short message and the answer.
        let needed = budget::estimate(&system) + tools.tokens() + 200;
        if needed + ANSWER_TOKENS as usize > settings.context_tokens {
            return Err(LlmSetupError::ContextTooSmall {
                context: settings.context_tokens,
                needed,
            });
        }
        let metrics = Arc::new(LlmMetrics::default());
        Ok(Self {
            client: ChatClient::new(settings, Arc::clone(&metrics)),
            tools,
            reader,
            prompts,
            system,
            catalog,
            context_tokens: settings.context_tokens,
            max_steps: settings.max_steps,
            classifier: settings.classifier,
            answers: settings.answers,
            few_shot: settings.few_shot,
            metrics,
        })
    }

    pub fn model(&self) -> &str {
        self.client.model()
    }

    pub fn metrics(&self) -> &LlmMetrics {
        &self.metrics
    }

    pub(crate) fn count_fallback(&self) {
        self.metrics.add(&self.metrics.fallbacks, 1);
    }

    /// The system prompt as rendered at start.
    pub fn system_prompt(&self) -> &str {
        &self.system
    }

    /// Sends the fixed prefix of every tool-choosing request (system prompt and tools) once,
    /// asking for a single token, so that a server with a prompt cache has it ready: on a
    /// small CPU model the first message otherwise waits for the whole prefix (tens of seconds).
    pub async fn warm_up(&self) -> RequestUsage {
        let messages = vec![
            wire::system_message(self.system.clone()),
            wire::user_message("hello".to_owned()),
        ];
        let req = ChatRequest {
            estimated_tokens: messages.iter().map(budget::message_tokens).sum::<usize>()
                + self.tools.tokens(),
            messages,
            tools: Some(self.tools.definitions()),
            max_tokens: 1,
        };
        let (result, usage) = self.client.complete(req).await;
        match result {
            Ok(_) => tracing::info!(
                ms = usage.duration_ms,
                prompt_tokens = usage.prompt_tokens,
                "LLM prompt prefix warmed up"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "LLM warm-up request failed; the first message pays for the prompt prefix")
            }
        }
        usage
    }

    /// Plans and answers one message, running reads through `host`.
    pub async fn run(&self, input: &TurnInput<'_>, host: &dyn ToolHost) -> AgentRun {
        self.metrics.add(&self.metrics.turns, 1);
        let mut state = RunState::new(self, input);
        let (outcome, routed) = match self.opinion(input) {
            Opinion::Settled(Intent::Call(call)) if self.is_read(call.tool) => {
                (self.routed_read(host, &mut state, call).await, true)
            }
            Opinion::Settled(intent) => (Ok(AgentOutcome::Intent(intent)), true),
            Opinion::Consult(consult) => {
                state.consult = consult;
                let outcome = self.drive(host, &mut state, Progress::default()).await;
                (outcome, false)
            }
        };
        AgentRun {
            outcome,
            requests: state.requests,
            refused: state.refused,
            routed,
        }
    }

    /// The classifier's opinion of the message under the configured role.
    fn opinion(&self, input: &TurnInput<'_>) -> Opinion {
        let reading = self.reader.reading(input.text, input.ctx);
        match opinion::opinion(reading, self.classifier, &self.tools) {
            Opinion::Consult(c) if self.few_shot > 0 => Opinion::Consult(
                c.with_examples(self.reader.similar_examples(input.text, self.few_shot)),
            ),
            settled => settled,
        }
    }

    fn is_read(&self, tool: ToolName) -> bool {
        matches!(self.tools.kind(tool.as_str()), Some((_, ActionKind::Read)))
    }

    fn closing_instruction(&self, reads: &[ReadDone]) -> String {
        if reads.iter().any(|r| !r.output.citations.is_empty()) {
            self.prompts.docs_answer.clone()
        } else {
            self.prompts.answer.clone()
        }
    }

    /// Sends the transcript (trimmed to the budget) and returns the model's message.
    async fn request(
        &self,
        state: &mut RunState,
        with_tools: bool,
        instruction: Option<String>,
    ) -> Result<ChatCompletionResponseMessage, LlmError> {
        let tools_tokens = if with_tools { self.tools.tokens() } else { 0 };
        let max_tokens = if with_tools && instruction.is_none() {
            budget::PLAN_TOKENS
        } else {
            ANSWER_TOKENS
        };
        let (messages, estimated) =
            state.messages(instruction, self.context_tokens, tools_tokens)?;
        let req = ChatRequest {
            messages,
            tools: with_tools.then(|| self.tools.definitions()),
            max_tokens,
            estimated_tokens: estimated,
        };
        let (result, usage) = self.client.complete(req).await;
        state.requests.push(usage);
        result
    }

    /// The function calls in the model's message; a read written out as JSON in the
    /// text counts too. Small models do that when the server does not parse their calls,
    /// and a read changes nothing, is audited and has its arguments grounded like any
    /// call. A change written so never counts (see [`Self::written_change`]).
    fn calls_of(&self, msg: &ChatCompletionResponseMessage) -> Vec<ChatCompletionMessageToolCall> {
        let calls: Vec<ChatCompletionMessageToolCall> = msg
            .tool_calls
            .iter()
            .flatten()
            .filter_map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => Some(f.clone()),
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        if !calls.is_empty() {
            return calls;
        }
        msg.content
            .as_deref()
            .and_then(|t| salvage_call(t, &self.tools))
            .filter(|c| {
                matches!(
                    self.tools.kind(&c.function.name),
                    Some((_, ActionKind::Read))
                )
            })
            .into_iter()
            .collect()
    }

    /// Why the message is no answer when its text writes out a change as JSON: prose is
    /// no tool call, and the JSON may be copied from data the model read. The turn then
    /// goes to the alias planner, which reads only the user's own words.
    fn written_change(&self, msg: &ChatCompletionResponseMessage) -> Option<&'static str> {
        let call = salvage_call(msg.content.as_deref()?, &self.tools)?;
        matches!(
            self.tools.kind(&call.function.name),
            Some((_, ActionKind::Mutate))
        )
        .then_some("a change written as text instead of a tool call")
    }
}
