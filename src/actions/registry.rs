//! The action registry: typed actions behind a JSON-in, JSON-out surface for the engine,
//! and the one place tool specs are made (from each action's `NAME`, `DOES` and `Args`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{
    ActionContext, ActionError, ActionKind, ActionOutput, ChangeSubject, MutateAction, PlanOutcome,
    ReadAction, ToolSpec, parse_args,
};
use crate::approval::ExecutionGrant;
use crate::domain::{Environment, ToolName};

/// A read action with its arguments still JSON.
#[async_trait::async_trait]
pub trait ErasedRead: Send + Sync {
    async fn run(&self, ctx: &ActionContext<'_>, args: Value) -> Result<ActionOutput, ActionError>;
}

/// A mutation's arguments after parsing: canonical JSON (re-serialised from the typed
/// value, so the proposal holds exactly what will run) and the environment.
pub struct CheckedArgs {
    pub canonical: Value,
    pub environment: Option<Environment>,
    pub subject: ChangeSubject,
}

/// A mutation with its arguments still JSON.
#[async_trait::async_trait]
pub trait ErasedMutate: Send + Sync {
    fn check(&self, args: Value) -> Result<CheckedArgs, ActionError>;
    async fn plan(&self, ctx: &ActionContext<'_>, args: Value) -> Result<PlanOutcome, ActionError>;
    /// Runs the proposal the grant was issued for, with the arguments stored in it.
    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError>;
}

struct Read<A>(A);
struct Mutate<A>(A);

#[async_trait::async_trait]
impl<A: ReadAction> ErasedRead for Read<A> {
    async fn run(&self, ctx: &ActionContext<'_>, args: Value) -> Result<ActionOutput, ActionError> {
        let typed = parse_args::<A::Args>(A::NAME, args)?;
        self.0.run(ctx, typed).await
    }
}

#[async_trait::async_trait]
impl<A: MutateAction> ErasedMutate for Mutate<A> {
    fn check(&self, args: Value) -> Result<CheckedArgs, ActionError> {
        let typed = parse_args::<A::Args>(A::NAME, args)?;
        let canonical = serde_json::to_value(&typed)
            .map_err(|e| ActionError::InvalidArgs(format!("{}: {e}", A::NAME)))?;
        Ok(CheckedArgs {
            canonical,
            environment: A::environment(&typed),
            subject: A::subject(&typed),
        })
    }

    async fn plan(&self, ctx: &ActionContext<'_>, args: Value) -> Result<PlanOutcome, ActionError> {
        let typed = parse_args::<A::Args>(A::NAME, args)?;
        self.0.plan(ctx, &typed).await
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let typed = parse_args::<A::Args>(A::NAME, grant.proposal().args.clone())?;
        self.0.execute(ctx, typed, grant).await
    }
}

#[derive(Clone)]
pub enum RegistryEntry {
    Read(Arc<dyn ErasedRead>),
    Mutate(Arc<dyn ErasedMutate>),
}

/// An action and its spec.
struct Registered {
    entry: RegistryEntry,
    spec: ToolSpec,
}

#[derive(Default)]
pub struct Registry {
    /// Ordered by `ToolName`, so specs come out in the enum's order.
    entries: BTreeMap<ToolName, Registered>,
}

impl Registry {
    /// The actions this build can run.
    pub fn standard() -> Self {
        let mut r = Self::default();
        r.add_mutation(super::namespace::CreateNamespace);
        r.add_read(super::status::DeploymentStatus);
        r.add_read(super::status::ListDeployments);
        r.add_read(super::history::RolloutHistory);
        r.add_read(super::oncall::WhoIsOnCall);
        r.add_read(super::docs::SearchDocs);
        r.add_read(super::diagnose::Diagnose);
        r.add_read(super::logs::PodLogs);
        r.add_mutation(super::rollout::RestartDeployment);
        r.add_mutation(super::rollout::ScaleDeployment);
        r.add_mutation(super::rollout::RollbackDeployment);
        r.add_mutation(super::rollout::SetMemoryLimit);
        r
    }

    pub fn add_read<A: ReadAction>(&mut self, action: A) {
        let spec = ToolSpec::of::<A::Args>(A::NAME, ActionKind::Read, A::DOES);
        let entry = RegistryEntry::Read(Arc::new(Read(action)));
        self.entries.insert(A::NAME, Registered { entry, spec });
    }

    pub fn add_mutation<A: MutateAction>(&mut self, action: A) {
        let spec = ToolSpec::of::<A::Args>(A::NAME, ActionKind::Mutate, A::DOES);
        let entry = RegistryEntry::Mutate(Arc::new(Mutate(action)));
        self.entries.insert(A::NAME, Registered { entry, spec });
    }

    /// The action `name`, if this build has it.
    pub fn get(&self, name: ToolName) -> Option<&RegistryEntry> {
        self.entries.get(&name).map(|r| &r.entry)
    }

    pub fn kind(&self, name: ToolName) -> Option<ActionKind> {
        self.get(name).map(|e| match e {
            RegistryEntry::Read(_) => ActionKind::Read,
            RegistryEntry::Mutate(_) => ActionKind::Mutate,
        })
    }

    /// Tool specs of the actions this build can run, in `ToolName` order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.entries.values().map(|r| r.spec.clone()).collect()
    }
}
