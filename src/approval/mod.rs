//! Proposals and their confirmation: the only way a mutation reaches the platform.
//!
//! A mutation the planner asks for becomes a [`Proposal`] stored in state
//! `proposed`. Only [`Approvals::confirm`] can turn it into an [`ExecutionGrant`],
//! the value an action needs to execute, and it does so with a compare-and-set in
//! the store, so one proposal executes at most once however many confirmations
//! arrive, on however many replicas.

mod policy;

use jiff::Timestamp;
use serde_json::Value;

pub use policy::{ActionPolicy, ApprovalPolicy, PolicyDecision, RequestScope};

pub use crate::domain::Actor;
use crate::domain::ConversationKey;
use crate::domain::proposal::ChangePlan;
pub use crate::domain::proposal::{Proposal, ProposalId, ProposalState, ProposalView};
use crate::domain::{Environment, ToolName, UserId};
use crate::store::{AuditEntry, AuditEvent, AuditOutcome, Store, StoreError};
use crate::telemetry::{self, ToolResult};

/// What a mutation needs to be proposed.
#[derive(Debug, Clone)]
pub struct ProposalDraft {
    pub action: ToolName,
    pub args: Value,
    pub plan: ChangePlan,
    pub environment: Option<Environment>,
    pub requester: UserId,
    pub conversation: ConversationKey,
    /// The integration that relayed the request, for the audit log.
    pub via: Option<String>,
}

/// Permission to execute one approved proposal, once. Only this module can make
/// one (the field is private), and only by winning the compare-and-set from
/// `proposed` to `executing`.
#[derive(Debug)]
pub struct ExecutionGrant {
    proposal: Proposal,
}

impl ExecutionGrant {
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }
}

/// The result of one confirmation.
#[derive(Debug)]
pub enum Confirmation {
    /// Enough approvals: the caller must execute with the grant, then call [`Approvals::finish`].
    Execute(ExecutionGrant),
    /// Recorded; another allowed person must confirm too (a second approver is required here).
    AwaitingSecondApprover(Proposal),
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no proposal with id {0}")]
    NotFound(String),
    #[error("{user} may not confirm this proposal: {reason}")]
    NotAllowed { user: UserId, reason: String },
    #[error(
        "this proposal expired at {0} and can no longer be confirmed; ask again to get a new one"
    )]
    Expired(Timestamp),
    #[error("this proposal is already {}", .0.as_str())]
    NotPending(ProposalState),
    #[error("{0} already confirmed this proposal; a second, different approver is required")]
    AlreadyConfirmed(UserId),
    #[error(
        "another confirmation of this proposal arrived at the same moment; nothing was done, please try again"
    )]
    Concurrent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApprovalError {
    /// The refusal's kind, for the `platbot_confirmation_refusals` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotAllowed { .. } => "not_allowed",
            Self::Expired(_) => "expired",
            Self::NotPending(_) => "not_pending",
            Self::AlreadyConfirmed(_) => "already_confirmed",
            Self::Concurrent => "concurrent",
            Self::Store(_) => "store_error",
        }
    }
}

impl From<crate::domain::proposal::UnknownProposalId> for ApprovalError {
    fn from(e: crate::domain::proposal::UnknownProposalId) -> Self {
        Self::NotFound(e.0)
    }
}

/// How long an execution lease lasts without renewal; the executor renews it every third of
/// this, so a lease only runs out when its process is gone or stuck.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// The approval service: proposes, confirms, cancels and records outcomes.
#[derive(Clone)]
pub struct Approvals {
    store: Store,
    policy: ApprovalPolicy,
    ttl: jiff::SignedDuration,
    /// This process, as the owner of the execution leases it takes.
    owner: std::sync::Arc<str>,
}

fn lease() -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(LEASE).unwrap_or(jiff::SignedDuration::from_secs(60))
}

impl Approvals {
    pub fn new(store: Store, policy: ApprovalPolicy, ttl: jiff::SignedDuration) -> Self {
        Self {
            store,
            policy,
            ttl,
            owner: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    pub fn policy(&self) -> &ApprovalPolicy {
        &self.policy
    }

    pub async fn propose(&self, draft: ProposalDraft) -> Result<Proposal, ApprovalError> {
        let now = Timestamp::now();
        let proposal = Proposal {
            id: ProposalId::new(),
            action: draft.action,
            args: draft.args,
            plan: draft.plan,
            environment: draft.environment,
            requester: draft.requester,
            conversation: draft.conversation,
            state: ProposalState::Proposed,
            approvals: Vec::new(),
            created_at: now,
            expires_at: now + self.ttl,
            updated_at: now,
            outcome: None,
        };
        self.store.insert_proposal(&proposal).await?;
        self.audit(
            &proposal,
            &proposal.requester,
            draft.via.as_deref(),
            AuditEvent::Propose,
            AuditOutcome::Ok,
            None,
        )
        .await;
        Ok(proposal)
    }

    pub async fn get(&self, id: ProposalId) -> Result<Proposal, ApprovalError> {
        self.store
            .proposal(id)
            .await?
            .ok_or_else(|| ApprovalError::NotFound(id.to_string()))
    }

    /// The proposals of a conversation not yet decided, newest first (for "yes" / "cancel"
    /// replies, which may only pick one when it is the only one). Expired ones are included,
    /// so a late "yes" is told the proposal expired rather than being read as a new request.
    pub async fn pending_in(
        &self,
        conversation: &ConversationKey,
    ) -> Result<Vec<Proposal>, ApprovalError> {
        Ok(self
            .store
            .proposals_in(conversation, ProposalState::Proposed)
            .await?)
    }

    /// Records `actor`'s confirmation. Wins the execution grant only through a
    /// compare-and-set, so concurrent confirmations execute nothing twice.
    pub async fn confirm(
        &self,
        id: ProposalId,
        actor: &Actor,
    ) -> Result<Confirmation, ApprovalError> {
        let proposal = self.get(id).await?;
        let result = self.try_confirm(proposal.clone(), actor).await;
        let (outcome, detail) = match &result {
            Ok(Confirmation::Execute(_)) => (AuditOutcome::Approved, None),
            Ok(Confirmation::AwaitingSecondApprover(_)) => (AuditOutcome::FirstApproval, None),
            Err(e) => {
                telemetry::confirmation_refused(e.reason());
                (AuditOutcome::Refused, Some(e.to_string()))
            }
        };
        self.audit(
            &proposal,
            &actor.id,
            actor.via.as_deref(),
            AuditEvent::Confirm,
            outcome,
            detail,
        )
        .await;
        result
    }

    async fn try_confirm(
        &self,
        proposal: Proposal,
        actor: &Actor,
    ) -> Result<Confirmation, ApprovalError> {
        let now = Timestamp::now();
        self.check_pending(&proposal, now).await?;
        let required = match self.policy.decide(&proposal, actor) {
            PolicyDecision::Allowed { approvals_required } => approvals_required,
            PolicyDecision::Denied(reason) => {
                return Err(ApprovalError::NotAllowed {
                    user: actor.id.clone(),
                    reason,
                });
            }
        };
        if proposal.approvals.contains(&actor.id) {
            return Err(ApprovalError::AlreadyConfirmed(actor.id.clone()));
        }
        let mut approvals = proposal.approvals.clone();
        approvals.push(actor.id.clone());
        if approvals.len() < required {
            let swapped = self
                .store
                .cas_approvals(proposal.id, &proposal.approvals, &approvals, now)
                .await?;
            return match swapped {
                Some(p) => Ok(Confirmation::AwaitingSecondApprover(p)),
                None => Err(self.lost_race(proposal.id).await),
            };
        }
        // Two steps, each a compare-and-set: whoever wins `proposed -> approved`
        // is the only one who can take `approved -> executing`.
        let approved = self
            .store
            .cas_state(
                proposal.id,
                ProposalState::Proposed,
                ProposalState::Approved,
                Some((&proposal.approvals, &approvals)),
                now,
            )
            .await?;
        if approved.is_none() {
            return Err(self.lost_race(proposal.id).await);
        }
        let executing = self
            .store
            .take_execution(proposal.id, &self.owner, now + lease(), now)
            .await?;
        match executing {
            Some(p) => Ok(Confirmation::Execute(ExecutionGrant { proposal: p })),
            None => Err(self.lost_race(proposal.id).await),
        }
    }

    async fn check_pending(
        &self,
        proposal: &Proposal,
        now: Timestamp,
    ) -> Result<(), ApprovalError> {
        if proposal.state != ProposalState::Proposed {
            return Err(ApprovalError::NotPending(proposal.state));
        }
        if proposal.expires_at <= now {
            // Record the expiry; losing this race only means someone else recorded it.
            self.store
                .cas_state(
                    proposal.id,
                    ProposalState::Proposed,
                    ProposalState::Expired,
                    None,
                    now,
                )
                .await?;
            return Err(ApprovalError::Expired(proposal.expires_at));
        }
        Ok(())
    }

    async fn lost_race(&self, id: ProposalId) -> ApprovalError {
        match self.store.proposal(id).await {
            Ok(Some(p))
                if p.state == ProposalState::Proposed && p.expires_at <= Timestamp::now() =>
            {
                ApprovalError::Expired(p.expires_at)
            }
            // Still pending: another confirmation changed it first; nothing was done.
            Ok(Some(p)) if p.state == ProposalState::Proposed => ApprovalError::Concurrent,
            Ok(Some(p)) => ApprovalError::NotPending(p.state),
            Ok(None) => ApprovalError::NotFound(id.to_string()),
            Err(e) => ApprovalError::Store(e),
        }
    }

    /// Cancels a pending proposal. The requester and anyone allowed to confirm may cancel.
    pub async fn cancel(&self, id: ProposalId, actor: &Actor) -> Result<Proposal, ApprovalError> {
        let proposal = self.get(id).await?;
        let result = self.try_cancel(&proposal, actor).await;
        let detail = result.as_ref().err().map(ToString::to_string);
        let outcome = if result.is_ok() {
            AuditOutcome::Cancelled
        } else {
            AuditOutcome::Refused
        };
        self.audit(
            &proposal,
            &actor.id,
            actor.via.as_deref(),
            AuditEvent::Cancel,
            outcome,
            detail,
        )
        .await;
        result
    }

    async fn try_cancel(
        &self,
        proposal: &Proposal,
        actor: &Actor,
    ) -> Result<Proposal, ApprovalError> {
        let now = Timestamp::now();
        self.check_pending(proposal, now).await?;
        if actor.id != proposal.requester
            && matches!(
                self.policy.decide(proposal, actor),
                PolicyDecision::Denied(_)
            )
        {
            return Err(ApprovalError::NotAllowed {
                user: actor.id.clone(),
                reason: "only the requester or an approver may cancel it".into(),
            });
        }
        match self
            .store
            .cas_state(
                proposal.id,
                ProposalState::Proposed,
                ProposalState::Cancelled,
                None,
                now,
            )
            .await?
        {
            Some(p) => Ok(p),
            None => Err(self.lost_race(proposal.id).await),
        }
    }

    /// Keeps the grant's execution lease alive; `false` when this process no longer owns it.
    pub async fn renew(&self, grant: &ExecutionGrant) -> Result<bool, ApprovalError> {
        Ok(self
            .store
            .renew_lease(grant.proposal.id, &self.owner, Timestamp::now() + lease())
            .await?)
    }

    /// Records how the execution ended, with its audit entry in the same transaction;
    /// consumes the grant so it cannot be used again. The entry names the requester (the
    /// identity the change ran for) and everyone who approved it.
    pub async fn finish(
        &self,
        grant: ExecutionGrant,
        outcome: Result<String, String>,
        duration_ms: u64,
    ) -> Result<Proposal, ApprovalError> {
        let (state, text, label) = match outcome {
            Ok(t) => (ProposalState::Succeeded, t, AuditOutcome::Succeeded),
            Err(t) => (ProposalState::Failed, t, AuditOutcome::Failed),
        };
        telemetry::tool_call(
            grant.proposal.action.as_str(),
            if state == ProposalState::Succeeded {
                ToolResult::Succeeded
            } else {
                ToolResult::Failed
            },
        );
        let p = &grant.proposal;
        let approvers: Vec<&str> = p.approvals.iter().map(UserId::as_str).collect();
        let entry = AuditEntry::new(
            &p.requester,
            &p.conversation.to_string(),
            p.action.as_str(),
            AuditEvent::Execute,
            p.args.clone(),
            label,
        )
        .with_detail(Some(format!(
            "requested by {}, approved by {}: {text}",
            p.requester,
            approvers.join(", ")
        )))
        .with_proposal(p.id)
        .with_duration(duration_ms);
        self.store
            .finish_proposal(p.id, &self.owner, state, &text, &entry)
            .await?
            .ok_or_else(|| ApprovalError::NotPending(p.state))
    }

    /// At start, proposals whose executor is gone (its lease ran out) are marked failed:
    /// nothing is retried automatically, so nothing can run twice, and an execution another
    /// live replica holds is left alone.
    pub async fn recover_interrupted(&self) -> Result<u64, ApprovalError> {
        Ok(self
            .store
            .fail_interrupted(
                "interrupted before it finished (its platbot process stopped); check the platform and propose again if needed",
                Timestamp::now(),
                lease(),
            )
            .await?)
    }

    async fn audit(
        &self,
        p: &Proposal,
        user: &UserId,
        via: Option<&str>,
        event: AuditEvent,
        outcome: AuditOutcome,
        detail: Option<String>,
    ) {
        let entry = AuditEntry::new(
            user,
            &p.conversation.to_string(),
            p.action.as_str(),
            event,
            p.args.clone(),
            outcome,
        )
        .via(via)
        .with_detail(detail)
        .with_proposal(p.id);
        self.store.append_audit_logged(&entry).await;
    }
}
