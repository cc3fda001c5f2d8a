//! Typed actions: the tools the planners can call.
//!
//! A read action runs at once. A mutation has two halves: `plan` (read-only,
//! validated by a server-side dry run) which the engine turns into a proposal,
//! and `execute`, which needs an [`ExecutionGrant`] that only the approval
//! module can make. Arguments arrive as JSON from a planner and are parsed into
//! the action's typed arguments here, once.

pub mod args;
pub mod diagnose;
pub mod docs;
pub mod history;
pub mod logs;
pub mod namespace;
pub mod oncall;
pub mod quantity;
mod registry;
pub mod rollout;
pub(crate) mod scope;
pub mod spec;
pub mod status;
pub mod write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use registry::{CheckedArgs, Registry, RegistryEntry};
pub use spec::{ActionKind, ToolSpec, all_tools};

pub use crate::domain::ToolName;
pub use crate::domain::proposal::{ChangePlan, ChangeSubject, DryRun, PlannedChange};
pub use crate::platform::golden_path;

use crate::approval::ExecutionGrant;
use crate::domain::Actor;
use crate::platform::{Platform, PlatformError};

/// What an action reads or changes, and as whom.
pub struct ActionContext<'a> {
    pub platform: &'a Platform,
    pub actor: &'a Actor,
}

/// The result of a read action: text for chat, data for surfaces that render more.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutput {
    pub text: String,
    pub data: Value,
    /// The sources the text is built from (docs answers).
    pub citations: Vec<crate::domain::Citation>,
}

/// A mutation a read action offers as the fix for what it found (diagnose's top
/// remediation), kept in the output's `data.offer`. The engine plans it and proposes it
/// like any other mutation; it still needs a confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// A tool name the data carries that is not a tool makes no offer.
    pub tool: ToolName,
    pub args: serde_json::Map<String, Value>,
}

impl Offer {
    /// The offer in a read result's data, if there is one.
    pub fn from_data(data: &Value) -> Option<Offer> {
        serde_json::from_value(data.get("offer")?.clone()).ok()
    }

    /// The offer with what it does and how to ask for it, if there is one.
    pub fn offered_in(data: &Value) -> Option<Suggested> {
        Suggested::at(data, "offer")
    }

    /// The fix a read result suggests whether or not it could be offered yet (someone may
    /// have to act first), in `data.suggested`: proposed when the user says "do it".
    pub fn suggested_in(data: &Value) -> Option<Suggested> {
        Suggested::at(data, "suggested")
    }
}

/// A fix a read result points at: the mutation, what it does, and what to say for it.
/// Kept in the result's data (`data.offer`, `data.suggested`) in this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggested {
    #[serde(flatten)]
    pub offer: Offer,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub say: String,
}

impl Suggested {
    /// The fix at `data[key]`; one naming no known tool, or without arguments, is none.
    fn at(data: &Value, key: &str) -> Option<Suggested> {
        serde_json::from_value(data.get(key)?.clone()).ok()
    }
}

impl ActionOutput {
    /// The mutation this output offers, if any.
    pub fn offer(&self) -> Option<Offer> {
        Offer::from_data(&self.data)
    }

    pub fn new(text: String, data: Value) -> Self {
        Self {
            text,
            data,
            citations: Vec::new(),
        }
    }
}

/// What `plan` found.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanOutcome {
    /// Something would change: propose this plan.
    Change(ChangePlan),
    /// Nothing to do (e.g. the namespace exists already); say why, propose nothing.
    NoChange(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The arguments do not parse into the action's types; the message says which and why.
    #[error("{0}")]
    InvalidArgs(String),
    /// A name the catalog or the configuration does not know.
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error("{0}")]
    Failed(String),
    /// The asker may not request this change; the text says who may.
    #[error("{0}")]
    NotAllowed(String),
}

/// A read-only action.
#[async_trait::async_trait]
pub trait ReadAction: Send + Sync + 'static {
    type Args: serde::de::DeserializeOwned + Serialize + schemars::JsonSchema + Send + Sync;
    const NAME: ToolName;
    /// What the tool does, as a phrase after "I can" ("list deployments"): the
    /// capability text is made of these.
    const DOES: &'static str;
    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError>;
}

/// An action that changes the platform: planned freely, executed only with a grant.
#[async_trait::async_trait]
pub trait MutateAction: Send + Sync + 'static {
    type Args: serde::de::DeserializeOwned + Serialize + schemars::JsonSchema + Send + Sync;
    const NAME: ToolName;
    /// What the tool does, as a phrase after "I can" ("list deployments"): the
    /// capability text is made of these.
    const DOES: &'static str;
    /// The environment the change is in (the policy may ask for a second approver there).
    fn environment(args: &Self::Args) -> Option<crate::domain::Environment>;
    /// Whose namespace or service the change touches (who may request it depends on it).
    fn subject(args: &Self::Args) -> ChangeSubject;
    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError>;
    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError>;
}

/// Parses planner JSON into typed arguments, with a message a user can act on.
pub fn parse_args<T: serde::de::DeserializeOwned>(
    tool: ToolName,
    args: Value,
) -> Result<T, ActionError> {
    serde_json::from_value(args).map_err(|e| ActionError::InvalidArgs(format!("{tool}: {e}")))
}
