//! The agent inside the engine's turn: the host that runs its reads as the asking
//! user (audited like every read), the fallback to the alias planner when the model
//! fails, and the audit record of what each turn cost in tokens.

use std::time::Instant;

use serde_json::{Value, json};

use super::opinion::{Ended, read_instead};
use super::{AgentOutcome, AgentRun, LlmAgent, LlmError, ReadDone, ToolHost, TurnInput};
use crate::actions::{ActionContext, ActionError, ActionOutput, RegistryEntry};
use crate::approval::Actor;
use crate::domain::{Inbound, Reply};
use crate::engine::intent::{Intent, PlanContext, ToolCall};
use crate::engine::{Engine, EngineError, elapsed_ms};
use crate::store::{AuditEntry, AuditEvent, AuditOutcome};
use crate::telemetry::{self, PlannerKind};

/// What planning a message came to.
pub(in crate::engine) enum Planned {
    /// Answered already (reads run and summarised, chit-chat); `ctx` is updated.
    Reply(Box<Reply>),
    /// For the engine to act on, with a note to add to the reply (why the LLM was not used).
    Intent {
        intent: Intent,
        note: Option<String>,
    },
}

struct EngineHost<'a> {
    engine: &'a Engine,
    msg: &'a Inbound,
    actor: &'a Actor,
}

#[async_trait::async_trait]
impl ToolHost for EngineHost<'_> {
    async fn read(&self, call: &ToolCall) -> Result<ActionOutput, ActionError> {
        self.engine
            .run_read(
                self.msg,
                self.actor,
                call.tool,
                Value::Object(call.args.clone()),
            )
            .await
    }

    fn check_mutation(&self, call: &ToolCall) -> Result<(), ActionError> {
        match self.engine.registry.get(call.tool) {
            Some(RegistryEntry::Mutate(action)) => {
                action.check(Value::Object(call.args.clone())).map(|_| ())
            }
            _ => Err(ActionError::Unknown(format!(
                "`{}` is not a change this platbot can make",
                call.tool
            ))),
        }
    }

    async fn plan_mutation(&self, call: &ToolCall) -> Result<(), ActionError> {
        let Some(RegistryEntry::Mutate(action)) = self.engine.registry.get(call.tool) else {
            return Err(ActionError::Unknown(format!(
                "`{}` is not a change this platbot can make",
                call.tool
            )));
        };
        let checked = action.check(Value::Object(call.args.clone()))?;
        let ctx = ActionContext {
            platform: &self.engine.platform,
            actor: self.actor,
        };
        action.plan(&ctx, checked.canonical).await.map(|_| ())
    }
}

impl Engine {
    /// Plans `text`: through the LLM agent when one is configured, falling back to the
    /// alias planner (and saying so) when the model fails; the alias planner otherwise.
    pub(in crate::engine) async fn plan(
        &self,
        msg: &Inbound,
        text: &str,
        ctx: &mut PlanContext,
        actor: &Actor,
    ) -> Result<Planned, EngineError> {
        let Some(agent) = self.llm.as_deref() else {
            let started = Instant::now();
            let intent = self.planner.plan(text, ctx).await;
            telemetry::planner(PlannerKind::Alias, started.elapsed());
            return Ok(Planned::Intent { intent, note: None });
        };
        // Nothing the model could do with it would be right.
        if let Some(reply) = self.planner.refusal(text) {
            return Ok(Planned::Intent {
                intent: Intent::NotPlatform { reply },
                note: None,
            });
        }
        let history = self.memory.history(&msg.conversation).await?;
        let host = EngineHost {
            engine: self,
            msg,
            actor,
        };
        let started = Instant::now();
        let input = TurnInput {
            text,
            history: &history,
            ctx,
        };
        let run = agent.run(&input, &host).await;
        telemetry::planner(PlannerKind::Llm, started.elapsed());
        self.audit_llm(msg, actor, agent, &run, started).await;
        // The model read nothing, or asked back for a docs question: the classifier's
        // read runs instead (see `opinion::read_instead`).
        let ended = match &run.outcome {
            _ if run.routed => Ended::Other,
            Ok(AgentOutcome::Answer { reads, .. }) if reads.is_empty() => Ended::Unread,
            Ok(AgentOutcome::Intent(Intent::NotPlatform { .. })) => Ended::Unread,
            Ok(AgentOutcome::Intent(Intent::Clarify(_))) => Ended::GaveUp,
            _ => Ended::Other,
        };
        if ended != Ended::Other
            && let Some(call) = read_instead(ended, self.planner.plan(text, ctx).await, |t| {
                matches!(self.registry.get(t), Some(RegistryEntry::Read(_)))
            })
        {
            tracing::info!(tool = %call.tool, conversation = %msg.conversation, "the model read nothing for a request the classifier reads; running that read");
            return Ok(Planned::Intent {
                intent: Intent::Call(call),
                note: None,
            });
        }
        match run.outcome {
            Ok(AgentOutcome::Intent(intent)) => Ok(Planned::Intent { intent, note: None }),
            Ok(AgentOutcome::Answer { text, reads, note }) => {
                ctx.pending = None;
                if let Some(last) = reads.last() {
                    ctx.remember(last.call.clone());
                }
                // A fix a read offers (diagnose's remediation) is proposed as on the alias
                // path: it comes from the action's typed output, not from the model.
                let offer = reads.iter().rev().find_map(|r| r.output.offer());
                let text = if imitates_a_card(&text) {
                    tracing::warn!(conversation = %msg.conversation, "dropped a model answer that imitated a proposal card");
                    FORGED_CARD.to_owned()
                } else {
                    text
                };
                let mut reply = answer_reply(text, reads, note);
                if let Some(offer) = offer {
                    self.propose_offer(msg, actor, offer, &mut reply).await?;
                }
                Ok(Planned::Reply(Box::new(reply)))
            }
            Err(e) => {
                agent.count_fallback();
                tracing::warn!(error = %e, conversation = %msg.conversation, "LLM planner failed; the alias planner answers");
                Ok(Planned::Intent {
                    intent: self.planner.plan(text, ctx).await,
                    note: Some(fallback_note(&e)),
                })
            }
        }
    }

    /// One audit entry per turn with the model's token usage per request, plus one
    /// per refused tool call.
    async fn audit_llm(
        &self,
        msg: &Inbound,
        actor: &Actor,
        agent: &LlmAgent,
        run: &AgentRun,
        started: Instant,
    ) {
        let conv = msg.conversation.to_string();
        for r in &run.refused {
            let entry = AuditEntry::new(
                &actor.id,
                &conv,
                &r.tool,
                AuditEvent::Refuse,
                json!({ "arguments": r.args, "from": "llm" }),
                AuditOutcome::Refused,
            )
            .with_detail(Some(r.reason.clone()));
            self.store.append_audit_logged(&entry).await;
        }
        let prompt: u64 = run
            .requests
            .iter()
            .map(|r| u64::from(r.prompt_tokens))
            .sum();
        let completion: u64 = run
            .requests
            .iter()
            .map(|r| u64::from(r.completion_tokens))
            .sum();
        let (outcome, detail) = match &run.outcome {
            Ok(AgentOutcome::Answer { note: None, .. }) => (AuditOutcome::Answer, None),
            Ok(AgentOutcome::Answer { note: Some(n), .. }) => {
                (AuditOutcome::RawAnswer, Some(n.clone()))
            }
            Ok(AgentOutcome::Intent(Intent::Call(c))) => {
                (AuditOutcome::Proposal, Some(c.tool.to_string()))
            }
            Ok(AgentOutcome::Intent(Intent::Clarify(_))) => (AuditOutcome::Clarify, None),
            Ok(AgentOutcome::Intent(Intent::NotPlatform { .. })) => (AuditOutcome::Answer, None),
            Err(e) => (AuditOutcome::Fallback, Some(e.to_string())),
        };
        let entry = AuditEntry::new(
            &actor.id,
            &conv,
            "llm",
            AuditEvent::Llm,
            json!({
                "model": agent.model(),
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "requests": run.requests,
                "routed": run.routed,
            }),
            outcome,
        )
        .with_detail(detail)
        .with_duration(elapsed_ms(started));
        self.store.append_audit_logged(&entry).await;
    }

    /// The LLM planner's counters, when one is configured.
    pub fn llm_metrics(&self) -> Option<super::LlmMetricsSnapshot> {
        self.llm.as_ref().map(|a| a.metrics().snapshot())
    }
}

fn fallback_note(e: &LlmError) -> String {
    format!(
        "(The language model could not help this time: {e}. I read your message with the simpler phrase matcher instead.)"
    )
}

const FORGED_CARD: &str = "I had an answer that looked like a proposal card, so I dropped it: nothing was proposed and there is nothing to confirm. Ask again in other words, or name the action, e.g. \"restart cart in staging\".";

/// Whether a model's text looks like a proposal card: only the engine makes those,
/// and a small model copies them from the thread.
fn imitates_a_card(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("proposal id")
        || (text.contains("PROPOSAL") && lower.contains("confirm"))
        || lower.contains("reply `confirm`")
}

/// The model's answer with what the reads it used bring: their sources and data.
fn answer_reply(text: String, reads: Vec<ReadDone>, note: Option<String>) -> Reply {
    let mut citations = Vec::new();
    for r in &reads {
        for c in &r.output.citations {
            if !citations.contains(c) {
                citations.push(c.clone());
            }
        }
    }
    let data = match reads.as_slice() {
        [] => None,
        [one] => Some(one.output.data.clone()),
        many => Some(Value::Array(
            many.iter()
                .map(|r| json!({ "tool": r.call.tool, "args": r.call.args, "data": r.output.data }))
                .collect(),
        )),
    };
    let text = match note {
        Some(n) => format!("{text}\n\n{n}"),
        None => text,
    };
    Reply {
        text,
        citations,
        data,
        proposal: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Citation;

    fn read(tool: &str, link: &str) -> ReadDone {
        ReadDone {
            call: ToolCall {
                tool: tool.parse().unwrap(),
                args: serde_json::Map::new(),
            },
            output: ActionOutput {
                text: "out".into(),
                data: json!({ "from": tool }),
                citations: vec![Citation {
                    title: "T".into(),
                    link: link.into(),
                }],
            },
        }
    }

    #[test]
    fn the_reply_carries_each_source_once_and_the_reads_data() {
        let one = answer_reply("a".into(), vec![read("search_docs", "x")], None);
        assert_eq!(one.data, Some(json!({ "from": "search_docs" })));
        assert_eq!(one.citations.len(), 1);
        let two = answer_reply(
            "a".into(),
            vec![read("search_docs", "x"), read("search_docs", "x")],
            Some("(note)".into()),
        );
        assert_eq!(two.citations.len(), 1, "the same source once");
        assert_eq!(two.data.as_ref().unwrap().as_array().unwrap().len(), 2);
        assert_eq!(two.text, "a\n\n(note)");
        assert!(answer_reply("hi".into(), Vec::new(), None).data.is_none());
    }
}
