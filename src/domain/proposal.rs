//! A proposed change and its lifecycle, as stored and shown: what the approval module decides
//! on, the store keeps, actions plan and surfaces render. It sits below all of them.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ConversationKey, Environment, ServiceName, TeamName, ToolName, UserId};

/// One object a mutation will touch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PlannedChange {
    /// create | update | delete | restart | scale | rollback
    pub operation: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What will change, in a line (labels, quota figures, image diff...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How this object was validated before proposing.
    pub validation: String,
}

/// The server-side dry-run verdict for the whole plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DryRun {
    pub passed: bool,
    pub message: String,
}

/// What a mutation will do, shown on the proposal card before anyone confirms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChangePlan {
    pub summary: String,
    pub changes: Vec<PlannedChange>,
    pub dry_run: DryRun,
    /// What must still hold when the confirmed plan runs; absent for plans that create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<Precondition>,
}

/// The object a plan was made against, as it was then. `metadata.generation` moves with
/// every change to the object's spec (an image, a limit, the replica count, a restart), so a
/// confirmed plan runs only on the object the confirmer saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precondition {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub generation: i64,
}

/// A proposal's identity (a random UUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProposalId(uuid::Uuid);

impl ProposalId {
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}
impl Default for ProposalId {
    fn default() -> Self {
        Self::new()
    }
}
impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
/// Text that is not a proposal id; it names the (shortened) text, for a "no such proposal" reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no proposal with id {0}")]
pub struct UnknownProposalId(pub String);

impl FromStr for ProposalId {
    type Err = UnknownProposalId;
    fn from_str(s: &str) -> Result<Self, UnknownProposalId> {
        uuid::Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| UnknownProposalId(s.chars().take(64).collect()))
    }
}

/// proposed -> approved -> executing -> succeeded | failed; proposed -> cancelled | expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalState {
    Proposed,
    Approved,
    Executing,
    Succeeded,
    Failed,
    Cancelled,
    Expired,
}

impl ProposalState {
    /// Decided for good: done, failed, cancelled or expired (nothing will change it again).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Expired
        )
    }

    pub const ALL: [ProposalState; 7] = [
        Self::Proposed,
        Self::Approved,
        Self::Executing,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "proposed" => Self::Proposed,
            "approved" => Self::Approved,
            "executing" => Self::Executing,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// A mutation waiting for (or past) its confirmation: exactly this action with exactly these arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: ProposalId,
    pub action: ToolName,
    /// The typed arguments, serialised back from their Rust types (so they are canonical).
    pub args: Value,
    pub plan: ChangePlan,
    pub environment: Option<Environment>,
    pub requester: UserId,
    pub conversation: ConversationKey,
    pub state: ProposalState,
    /// Who has confirmed so far (two people where the policy asks for a second approver).
    pub approvals: Vec<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub updated_at: Timestamp,
    /// What happened when it ran, or why it stopped.
    pub outcome: Option<String>,
}

impl Proposal {
    pub fn view(&self) -> ProposalView {
        ProposalView {
            id: self.id.to_string(),
            action: self.action,
            args: self.args.clone(),
            state: self.state,
            plan: self.plan.clone(),
            requester: self.requester.to_string(),
            approvals: self.approvals.iter().map(ToString::to_string).collect(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            outcome: self.outcome.clone(),
        }
    }
}

/// What surfaces and the HTTP API show of a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProposalView {
    pub id: String,
    pub action: ToolName,
    pub args: Value,
    pub state: ProposalState,
    pub plan: ChangePlan,
    pub requester: String,
    pub approvals: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What a change is to, so the policy can tell whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeSubject {
    /// A team's own namespace (the golden path).
    Team(TeamName),
    /// A service's workload; its owner comes from the catalog.
    Service(ServiceName),
}

#[cfg(test)]
impl ProposalView {
    /// A namespace proposal with `changes` planned ConfigMaps of long details, for the
    /// surfaces' card tests (Slack's and Discord's limits).
    pub(crate) fn sample(state: ProposalState, changes: usize) -> Self {
        ProposalView {
            id: "3f2a9c1e-0000-4000-8000-000000000000".into(),
            action: ToolName::CreateNamespace,
            args: serde_json::json!({"team": "payments", "environment": "dev"}),
            state,
            plan: ChangePlan {
                summary: "Create namespace `payments-dev`".into(),
                changes: (0..changes)
                    .map(|i| PlannedChange {
                        operation: "create".into(),
                        kind: "ConfigMap".into(),
                        name: format!("cm-{i}"),
                        namespace: Some("payments-dev".into()),
                        detail: Some("d".repeat(400)),
                        validation: "server-side dry run: ok".into(),
                    })
                    .collect(),
                dry_run: DryRun {
                    passed: true,
                    message: "accepted".into(),
                },
                precondition: None,
            },
            requester: "priya.nair".into(),
            approvals: vec![],
            created_at: Timestamp::now(),
            expires_at: Timestamp::now(),
            outcome: None,
        }
    }
}
