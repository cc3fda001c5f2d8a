//! One turn of a conversation: read the thread, plan, run read-only steps, and
//! turn mutations into proposals. Nothing here changes the platform except
//! [`Engine::confirm`], and only with the grant the approval module hands out.

pub mod alias;
pub mod card;
pub mod intent;
pub mod llm;
pub mod memory;
pub mod nlu;
pub mod prompt;
mod words;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

pub use alias::AliasPlanner;
pub use intent::{Clarification, Intent, PlanContext, ToolCall};
pub use llm::LlmAgent;
pub use memory::{Memory, count_tokens};

use crate::actions::{
    ActionContext, ActionError, ActionOutput, ChangeSubject, CheckedArgs, Offer, PlanOutcome,
    Registry, RegistryEntry, all_tools,
};
use crate::approval::{
    Actor, ApprovalError, Approvals, Confirmation, ExecutionGrant, Proposal, ProposalDraft,
    ProposalId,
};
use crate::domain::UserId;
use crate::domain::{ConversationKey, Inbound, Reply, ToolName, UserRef};
use crate::platform::Platform;
use crate::store::{AuditEntry, AuditEvent, AuditOutcome, Store, StoreError};
use crate::telemetry::{self, MessageOutcome, ToolResult};
use words::{ProposalReply, proposal_reply};

/// Reads a message into an intent. The alias planner is the one that always works;
/// an LLM planner (when configured) sits in front of it.
#[async_trait::async_trait]
pub trait Planner: Send + Sync {
    async fn plan(&self, text: &str, ctx: &PlanContext) -> Intent;

    /// The reply to a request for a change no action makes ("delete the namespace"),
    /// which no planner may read as another change.
    fn refusal(&self, _text: &str) -> Option<String> {
        None
    }
}

#[async_trait::async_trait]
impl Planner for AliasPlanner {
    async fn plan(&self, text: &str, ctx: &PlanContext) -> Intent {
        AliasPlanner::plan(self, text, ctx)
    }

    fn refusal(&self, text: &str) -> Option<String> {
        AliasPlanner::refusal(self, text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The execution task died before it could record its outcome; its lease runs out and the
    /// next start marks the proposal failed.
    #[error(
        "the change stopped before its outcome could be recorded ({0}); check the platform before asking again"
    )]
    Execution(String),
}

/// The limits a turn works within.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_chars: usize,
}

/// Extra group memberships from the config, merged with the catalog's teams.
pub type GroupMap = std::collections::BTreeMap<String, Vec<UserId>>;

pub struct Engine {
    planner: Arc<dyn Planner>,
    registry: Registry,
    approvals: Approvals,
    store: Store,
    memory: Memory,
    platform: Arc<Platform>,
    groups: GroupMap,
    limits: Limits,
    locks: ConversationLocks,
    /// The LLM planner in front of the alias planner, when `[llm]` is configured.
    llm: Option<Arc<LlmAgent>>,
}

pub struct EngineParts {
    pub planner: Arc<dyn Planner>,
    pub registry: Registry,
    pub approvals: Approvals,
    pub store: Store,
    pub memory: Memory,
    pub platform: Arc<Platform>,
    pub groups: GroupMap,
    pub limits: Limits,
}

/// The result of a confirmation or cancellation, for surfaces and the HTTP API.
#[derive(Debug)]
pub struct Decision {
    pub proposal: Proposal,
    pub text: String,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Self {
        Self {
            planner: parts.planner,
            registry: parts.registry,
            approvals: parts.approvals,
            store: parts.store,
            memory: parts.memory,
            platform: parts.platform,
            groups: parts.groups,
            limits: parts.limits,
            locks: ConversationLocks::default(),
            llm: None,
        }
    }

    /// Plans with `agent` first; the alias planner stays the fallback.
    pub fn with_llm(mut self, agent: Arc<LlmAgent>) -> Self {
        self.llm = Some(agent);
        self
    }

    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The person behind a message, with the integration that relayed it (if any).
    pub fn actor_of(&self, user: &UserRef) -> Actor {
        Actor {
            via: user.via.clone(),
            ..self.actor(&user.id)
        }
    }

    /// The user with their groups: catalog teams plus configured groups.
    pub fn actor(&self, user: &UserId) -> Actor {
        let mut groups: Vec<String> = self
            .platform
            .catalog
            .teams_of(user)
            .into_iter()
            .map(|t| t.to_string())
            .collect();
        for (group, members) in &self.groups {
            if members.contains(user) && !groups.contains(group) {
                groups.push(group.clone());
            }
        }
        Actor {
            id: user.clone(),
            groups,
            via: None,
        }
    }

    /// Handles one message. Always answers: errors become replies, and are logged.
    pub async fn handle(&self, msg: Inbound) -> Vec<Reply> {
        // Refused before anything is stored or locked: an oversized message must not land in
        // the thread's memory nor hold up the conversation.
        let chars = msg.text.trim().chars().count();
        if chars > self.limits.max_message_chars {
            tracing::info!(chars, conversation = %msg.conversation, "message too long");
            telemetry::message(msg.conversation.surface.as_str(), MessageOutcome::Refused);
            return vec![Reply::text(format!(
                "That message is {chars} characters long; I read at most {}. Please shorten it (a link to a paste works for long logs).",
                self.limits.max_message_chars
            ))];
        }
        let started = Instant::now();
        let _turn = self.locks.lock(&msg.conversation).await;
        let surface = msg.conversation.surface.as_str();
        let (replies, state) = match self.turn(&msg).await {
            Ok(done) => {
                telemetry::message(surface, MessageOutcome::Answered);
                done
            }
            Err(e) => {
                telemetry::message(surface, MessageOutcome::Failed);
                tracing::error!(error = %e, conversation = %msg.conversation, "turn failed");
                let sorry = Reply::text(format!(
                    "Sorry, something went wrong on my side ({e}). Nothing was changed; please try again."
                ));
                (vec![sorry], None)
            }
        };
        // One transaction per turn: the message, the replies and the planner state.
        let texts: Vec<&str> = replies.iter().map(|r| r.text.as_str()).collect();
        if let Err(e) = self
            .memory
            .commit_turn(&msg.conversation, msg.text.trim(), &texts, state.as_ref())
            .await
        {
            tracing::warn!(error = %e, conversation = %msg.conversation, "could not remember the turn");
        }
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "turn done"
        );
        replies
    }

    /// The replies to one message, and the thread's planner state to keep when it changed.
    async fn turn(&self, msg: &Inbound) -> Result<(Vec<Reply>, Option<PlanContext>), EngineError> {
        let text = msg.text.trim();
        if text.is_empty() {
            return Ok((vec![Reply::text(words::HELP)], None));
        }

        if let Some(reply) = self.answer_pending(msg, text).await? {
            return Ok((vec![reply], None));
        }

        let mut ctx = self.memory.context(&msg.conversation).await?;
        let actor = self.actor_of(&msg.user);
        if proposal_reply(text) == Some(ProposalReply::Confirm)
            && let Some(reply) = self.propose_suggested(msg, &actor, &ctx).await?
        {
            return Ok((vec![reply], Some(ctx)));
        }

        let (intent, note) = match self.plan(msg, text, &mut ctx, &actor).await? {
            llm::Planned::Reply(reply) => return Ok((vec![*reply], Some(ctx))),
            llm::Planned::Intent { intent, note } => (intent, note),
        };
        let mut reply = match intent {
            Intent::NotPlatform { reply } => {
                ctx.pending = None;
                Reply::text(reply)
            }
            Intent::Clarify(c) => {
                let question = c.question.clone();
                ctx.pending = Some(c);
                Reply::text(question)
            }
            Intent::Call(call) => {
                ctx.pending = None;
                let mut reply = self.call(msg, &actor, &call).await?;
                if let Some(offer) = reply.data.as_ref().and_then(Offer::from_data) {
                    self.propose_offer(msg, &actor, offer, &mut reply).await?;
                }
                ctx.remember(call);
                reply
            }
        };
        if let Some(note) = note {
            reply.text = format!("{}\n\n{note}", reply.text);
        }
        Ok((vec![reply], Some(ctx)))
    }

    /// A reply that decides a pending proposal of the thread: "yes" / "cancel" when exactly one
    /// is waiting, "confirm <id>" for one of several. `None` when the message is no such reply
    /// or nothing is waiting.
    async fn answer_pending(
        &self,
        msg: &Inbound,
        text: &str,
    ) -> Result<Option<Reply>, EngineError> {
        let (decision, named) = match (proposal_reply(text), words::proposal_reply_by_id(text)) {
            (Some(d), _) => (d, None),
            (None, Some((d, prefix))) => (d, Some(prefix)),
            (None, None) => return Ok(None),
        };
        let pending = self.approvals.pending_in(&msg.conversation).await?;
        let chosen = match named {
            Some(prefix) => match pending
                .iter()
                .find(|p| p.id.to_string().starts_with(&prefix))
            {
                Some(p) => p,
                None => {
                    return Ok(Some(Reply::text(format!(
                        "No proposal waiting in this thread has an id starting with `{prefix}`."
                    ))));
                }
            },
            None => match live(&pending).as_slice() {
                // Only expired ones: the newest says it expired.
                [] => match pending.first() {
                    Some(p) => p,
                    None => return Ok(None),
                },
                [p] => *p,
                several => {
                    // A bare "yes" must never pick one of several changes for the person.
                    let list: Vec<String> = several
                        .iter()
                        .map(|p| format!("- `{}`: {}", short_id(p), p.plan.summary))
                        .collect();
                    let verb = match decision {
                        ProposalReply::Confirm => "confirm",
                        ProposalReply::Cancel => "cancel",
                    };
                    return Ok(Some(Reply::text(format!(
                        "{} proposals are waiting in this thread; say which one (`{verb} <id>`):\n{}",
                        several.len(),
                        list.join("\n")
                    ))));
                }
            },
        };
        let actor = self.actor_of(&msg.user);
        let result = match decision {
            ProposalReply::Confirm => self.confirm_as(chosen.id, &actor).await,
            ProposalReply::Cancel => self.cancel_as(chosen.id, &actor).await,
        };
        Ok(Some(match result {
            Ok(d) => Reply {
                text: d.text,
                proposal: Some(d.proposal.view()),
                ..Reply::default()
            },
            Err(EngineError::Approval(e)) => Reply::text(e.to_string()),
            Err(e) => return Err(e),
        }))
    }

    /// Whether `actor` may ask for this change at all: a team's namespace or service is
    /// changed on request of its own members or the action's approvers (see
    /// [`ApprovalPolicy::may_request`]). Confirmation rules apply on top.
    fn may_request(
        &self,
        tool: ToolName,
        checked: &CheckedArgs,
        actor: &Actor,
    ) -> Result<(), String> {
        let owner = match &checked.subject {
            ChangeSubject::Team(team) => Some(team.clone()),
            ChangeSubject::Service(service) => self
                .platform
                .catalog
                .service(service.as_str())
                .map(|s| s.owner.clone()),
        };
        self.approvals
            .policy()
            .may_request(tool, &checked.subject, owner.as_ref(), actor)
    }

    async fn call(
        &self,
        msg: &Inbound,
        actor: &Actor,
        call: &ToolCall,
    ) -> Result<Reply, EngineError> {
        let args = Value::Object(call.args.clone());
        let Some(entry) = self.registry.get(call.tool) else {
            let known = all_tools().iter().any(|t| t.name == call.tool);
            let text = if known {
                format!(
                    "I understood that as `{}` {}, but this platbot cannot do that yet. It can: {}.",
                    call.tool,
                    args,
                    self.registry
                        .specs()
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("`{}` is not a tool I have.", call.tool)
            };
            return Ok(Reply::text(text));
        };
        let ctx = ActionContext {
            platform: &self.platform,
            actor,
        };
        let conv = msg.conversation.to_string();
        let started = Instant::now();
        match entry {
            RegistryEntry::Read(_) => {
                let result = self.run_read(msg, actor, call.tool, args).await;
                Ok(match result {
                    Ok(out) => Reply {
                        text: out.text,
                        data: Some(out.data),
                        citations: out.citations,
                        proposal: None,
                    },
                    Err(e) => Reply::text(explain(&e)),
                })
            }
            RegistryEntry::Mutate(action) => {
                let checked = match action.check(args.clone()) {
                    Ok(c) => c,
                    Err(e) => {
                        self.refuse(actor, &conv, call.tool, args, &e).await;
                        return Ok(Reply::text(explain(&e)));
                    }
                };
                if let Err(who) = self.may_request(call.tool, &checked, actor) {
                    let e = ActionError::NotAllowed(who);
                    self.refuse(actor, &conv, call.tool, checked.canonical, &e)
                        .await;
                    return Ok(Reply::text(explain(&e)));
                }
                let planned = action.plan(&ctx, checked.canonical.clone()).await;
                let elapsed = elapsed_ms(started);
                match planned {
                    Err(e) => {
                        self.refuse(actor, &conv, call.tool, checked.canonical, &e)
                            .await;
                        Ok(Reply::text(explain(&e)))
                    }
                    Ok(PlanOutcome::NoChange(text)) => {
                        telemetry::tool_call(call.tool.as_str(), ToolResult::NoChange);
                        let entry = AuditEntry::new(
                            &actor.id,
                            &conv,
                            call.tool.as_str(),
                            AuditEvent::Plan,
                            checked.canonical,
                            AuditOutcome::NoChange,
                        )
                        .with_detail(Some(text.clone()))
                        .with_duration(elapsed);
                        self.store.append_audit_logged(&entry).await;
                        Ok(Reply::text(text))
                    }
                    Ok(PlanOutcome::Change(change)) => {
                        let proposal = self
                            .approvals
                            .propose(ProposalDraft {
                                action: call.tool,
                                args: checked.canonical,
                                plan: change,
                                environment: checked.environment,
                                requester: actor.id.clone(),
                                conversation: msg.conversation.clone(),
                                via: actor.via.clone(),
                            })
                            .await?;
                        telemetry::tool_call(call.tool.as_str(), ToolResult::Proposed);
                        let view = proposal.view();
                        Ok(Reply {
                            text: card::proposal_card(&view),
                            proposal: Some(view),
                            ..Reply::default()
                        })
                    }
                }
            }
        }
    }

    /// Proposes the fix a read result offers (diagnose's remediation for its top finding) in
    /// the same reply. It is planned, dry-run, audited and confirmed exactly like a mutation
    /// the user asked for; the offer only saves them asking.
    async fn propose_offer(
        &self,
        msg: &Inbound,
        actor: &Actor,
        offer: Offer,
        reply: &mut Reply,
    ) -> Result<(), EngineError> {
        if self.registry.kind(offer.tool) != Some(crate::actions::ActionKind::Mutate) {
            return Ok(());
        }
        let call = ToolCall {
            tool: offer.tool,
            args: offer.args,
        };
        let card = self.call(msg, actor, &call).await?;
        reply.text = match card.proposal {
            Some(p) => {
                reply.proposal = Some(p);
                format!("{}\n\n{}", reply.text, card.text)
            }
            None => format!(
                "{}\n\n(The suggested action was not proposed: {})",
                reply.text, card.text
            ),
        };
        Ok(())
    }

    /// "do it" with no proposal pending, after a diagnosis whose fix was only suggested (it
    /// needed someone to act first, like fixing a ConfigMap): diagnoses again, so the fix fits
    /// what runs now, and proposes it. `None` when the thread's last call was no diagnosis.
    async fn propose_suggested(
        &self,
        msg: &Inbound,
        actor: &Actor,
        ctx: &PlanContext,
    ) -> Result<Option<Reply>, EngineError> {
        let Some(previous) = ctx
            .previous
            .as_ref()
            .filter(|c| c.tool == ToolName::Diagnose)
        else {
            return Ok(None);
        };
        let args = Value::Object(previous.args.clone());
        let Ok(out) = self.run_read(msg, actor, previous.tool, args).await else {
            return Ok(None);
        };
        // What the diagnosis would do now: its offer, else the fix it only suggested.
        let Some(fix) = Offer::offered_in(&out.data).or_else(|| Offer::suggested_in(&out.data))
        else {
            return Ok(Some(Reply::text(
                "There is no proposal waiting here, and the diagnosis has no action to take now.",
            )));
        };
        // A proposal of this thread was already decided (done, cancelled, expired): a stray
        // "yes" must not chain a new change onto it; say how to ask instead.
        if self.decided_in(&msg.conversation).await? {
            return Ok(Some(Reply::text(format!(
                "There is no proposal waiting in this thread (the last one was already decided). Say \"{}\" for a fresh one.",
                fix.say
            ))));
        }
        let mut reply = Reply::text(format!("Proposing the suggested fix: {}.", fix.title));
        self.propose_offer(msg, actor, fix.offer, &mut reply)
            .await?;
        Ok(Some(reply))
    }

    /// Whether a proposal of the conversation is no longer pending.
    async fn decided_in(&self, conversation: &ConversationKey) -> Result<bool, EngineError> {
        let finals = crate::approval::ProposalState::ALL
            .into_iter()
            .filter(|s| s.is_final());
        for state in finals {
            if self
                .store
                .latest_proposal_in(conversation, state)
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Runs a read action as `actor` and audits it (for both planners).
    async fn run_read(
        &self,
        msg: &Inbound,
        actor: &Actor,
        tool: ToolName,
        args: Value,
    ) -> Result<ActionOutput, ActionError> {
        let Some(RegistryEntry::Read(action)) = self.registry.get(tool) else {
            return Err(ActionError::Unknown(format!(
                "`{tool}` is not a read action this platbot has"
            )));
        };
        let ctx = ActionContext {
            platform: &self.platform,
            actor,
        };
        let started = Instant::now();
        let result = action.run(&ctx, args.clone()).await;
        let (outcome, detail) = match &result {
            Ok(_) => (AuditOutcome::Ok, None),
            Err(e) => (AuditOutcome::Error, Some(e.to_string())),
        };
        telemetry::tool_call(
            tool.as_str(),
            if result.is_ok() {
                ToolResult::Ok
            } else {
                ToolResult::Error
            },
        );
        let conv = msg.conversation.to_string();
        let entry = AuditEntry::new(
            &actor.id,
            &conv,
            tool.as_str(),
            AuditEvent::Read,
            args,
            outcome,
        )
        .via(actor.via.as_deref())
        .with_detail(detail)
        .with_duration(elapsed_ms(started));
        self.store.append_audit_logged(&entry).await;
        result
    }

    async fn refuse(
        &self,
        actor: &Actor,
        conv: &str,
        tool: ToolName,
        args: Value,
        e: &ActionError,
    ) {
        tracing::info!(%tool, error = %e, "request refused");
        telemetry::tool_call(tool.as_str(), ToolResult::Refused);
        let outcome = match e {
            ActionError::NotAllowed(_) => AuditOutcome::NotAllowed,
            _ => AuditOutcome::Invalid,
        };
        let entry = AuditEntry::new(
            &actor.id,
            conv,
            tool.as_str(),
            AuditEvent::Refuse,
            args,
            outcome,
        )
        .via(actor.via.as_deref())
        .with_detail(Some(e.to_string()));
        self.store.append_audit_logged(&entry).await;
    }

    /// Confirms a proposal as `user`; executes it when the policy is satisfied.
    pub async fn confirm(&self, id: ProposalId, user: &UserId) -> Result<Decision, EngineError> {
        self.confirm_as(id, &self.actor(user)).await
    }

    /// [`Engine::confirm`] for a surface's user (an HTTP integration relaying for them).
    pub async fn confirm_by(
        &self,
        id: ProposalId,
        user: &UserRef,
    ) -> Result<Decision, EngineError> {
        self.confirm_as(id, &self.actor_of(user)).await
    }

    async fn confirm_as(&self, id: ProposalId, actor: &Actor) -> Result<Decision, EngineError> {
        match self.approvals.confirm(id, actor).await? {
            Confirmation::AwaitingSecondApprover(p) => Ok(Decision {
                text: format!(
                    "Recorded {}'s confirmation. This change needs a second, different approver before it runs.",
                    actor.id
                ),
                proposal: p,
            }),
            Confirmation::Execute(grant) => {
                let finished = self.execute(grant).await?;
                let text = match (&finished.state, &finished.outcome) {
                    (crate::approval::ProposalState::Succeeded, Some(o)) => format!("Done. {o}"),
                    (_, Some(o)) => format!("It failed: {o}"),
                    (s, None) => format!("Finished: {}", s.as_str()),
                };
                Ok(Decision {
                    proposal: finished,
                    text,
                })
            }
        }
    }

    /// Runs a granted proposal in its own task, so the caller going away (an HTTP client
    /// disconnecting, a surface timing out) cannot stop it half way: it runs to the end, keeps
    /// its lease alive meanwhile, and records its outcome and audit entry.
    async fn execute(&self, grant: ExecutionGrant) -> Result<Proposal, EngineError> {
        let entry = self.registry.get(grant.proposal().action).cloned();
        let approvals = self.approvals.clone();
        let platform = Arc::clone(&self.platform);
        // Act on the cluster as the person who asked for the change.
        let requester = self.actor(&grant.proposal().requester);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let ctx = ActionContext {
                platform: &platform,
                actor: &requester,
            };
            let run = async {
                match &entry {
                    Some(RegistryEntry::Mutate(action)) => action.execute(&ctx, &grant).await,
                    _ => Err(ActionError::Unknown(format!(
                        "action `{}` is not available in this build",
                        grant.proposal().action
                    ))),
                }
            };
            let result = keep_lease(&approvals, &grant, run).await;
            let outcome = result.map_err(|e| explain(&e));
            approvals.finish(grant, outcome, elapsed_ms(started)).await
        });
        match task.await {
            Ok(finished) => Ok(finished?),
            Err(e) => {
                tracing::error!(error = %e, "execution task failed");
                Err(EngineError::Execution(e.to_string()))
            }
        }
    }

    pub async fn cancel(&self, id: ProposalId, user: &UserId) -> Result<Decision, EngineError> {
        self.cancel_as(id, &self.actor(user)).await
    }

    /// [`Engine::cancel`] for a surface's user.
    pub async fn cancel_by(&self, id: ProposalId, user: &UserRef) -> Result<Decision, EngineError> {
        self.cancel_as(id, &self.actor_of(user)).await
    }

    async fn cancel_as(&self, id: ProposalId, actor: &Actor) -> Result<Decision, EngineError> {
        let p = self.approvals.cancel(id, actor).await?;
        Ok(Decision {
            text: format!("Cancelled. Nothing was changed. ({})", p.plan.summary),
            proposal: p,
        })
    }
}

/// Drives `run` while renewing the grant's execution lease, so no other replica's recovery
/// mistakes a long execution for an abandoned one.
async fn keep_lease<T>(
    approvals: &Approvals,
    grant: &ExecutionGrant,
    run: impl std::future::Future<Output = T>,
) -> T {
    let mut run = std::pin::pin!(run);
    let mut tick = tokio::time::interval(crate::approval::LEASE / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            out = &mut run => return out,
            _ = tick.tick() => match approvals.renew(grant).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(proposal = %grant.proposal().id, "execution lease lost"),
                Err(e) => tracing::warn!(error = %e, "could not renew the execution lease"),
            },
        }
    }
}

/// The proposals that can still be confirmed.
fn live(pending: &[Proposal]) -> Vec<&Proposal> {
    let now = jiff::Timestamp::now();
    pending.iter().filter(|p| p.expires_at > now).collect()
}

/// The first block of a proposal id: enough to name one in a thread.
fn short_id(p: &Proposal) -> String {
    p.id.to_string().chars().take(8).collect()
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An action error as a chat reply.
fn explain(e: &ActionError) -> String {
    match e {
        ActionError::InvalidArgs(m) => format!("I can't do that: {m}"),
        ActionError::Unknown(m) => format!("I can't do that: {m}."),
        ActionError::Platform(p) => p.to_string(),
        ActionError::Failed(m) => m.clone(),
        ActionError::NotAllowed(who) => format!("I can't propose that for you: {who}."),
    }
}

/// One lock per conversation: messages of a thread are handled in order,
/// different threads concurrently.
#[derive(Default)]
struct ConversationLocks {
    locks: Mutex<HashMap<ConversationKey, Arc<tokio::sync::Mutex<()>>>>,
}

impl ConversationLocks {
    async fn lock(&self, key: &ConversationKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .locks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget locks nobody holds, so the map stays as small as the live threads.
            if map.len() > 1024 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            Arc::clone(map.entry(key.clone()).or_default())
        };
        lock.lock_owned().await
    }
}
