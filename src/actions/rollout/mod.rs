//! Changes to a service's Deployment: `restart_deployment`, `scale_deployment`,
//! `rollback_deployment` and `set_memory_limit`. Each plans with a server-side dry run of
//! the exact patch it will send; each executes only with an [`ExecutionGrant`].
//!
//! A rollback and a memory change re-read the Deployment when they execute and refuse to
//! run if what they would change is no longer what was confirmed (someone deployed in
//! between): a confirmation is for that exact change.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, LimitRange, PodTemplateSpec, ResourceQuota};
use kube::Api;
use kube::api::{ListParams, Patch};
use serde_json::{Value, json};

use super::args::{
    RollbackDeploymentArgs, ScaleDeploymentArgs, ServiceInEnvArgs, SetMemoryLimitArgs,
};
use super::quantity;
use super::scope::find_service;
use super::write::{Merge, Writer};
use super::{
    ActionContext, ActionError, ChangePlan, ChangeSubject, DryRun, MutateAction, PlanOutcome,
    PlannedChange,
};
use crate::approval::ExecutionGrant;
use crate::domain::proposal::Precondition;
use crate::domain::{Environment, ServiceName};
use crate::platform::PlatformError;
use crate::platform::kube::{Cluster, api_code};

/// The `environment` and `subject` of an action on one service's Deployment in one
/// environment: its arguments' `service` and `environment`.
macro_rules! on_a_service {
    () => {
        fn environment(args: &Self::Args) -> Option<Environment> {
            Some(args.environment.clone())
        }

        fn subject(args: &Self::Args) -> ChangeSubject {
            ChangeSubject::Service(args.service.clone())
        }
    };
}

mod memory;
mod restart;
mod rollback;
mod scale;

pub use memory::SetMemoryLimit;
pub use restart::RestartDeployment;
pub use rollback::{RollbackDeployment, template_changes};
pub use scale::ScaleDeployment;

pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The largest replica count platbot proposes (matches the argument schema).
pub const MAX_REPLICAS: u32 = 500;

/// What a patch goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Deployment,
    /// The `scale` subresource (replicas only).
    Scale,
}

/// A service's Deployment, read as the asking user.
struct Loaded<'a> {
    cluster: &'a Cluster,
    client: kube::Client,
    api: Api<Deployment>,
    namespace: String,
    name: String,
    deployment: Deployment,
    /// The Argo CD Application that manages it, if the catalog names one.
    gitops: Option<String>,
}

impl Loaded<'_> {
    /// The Deployment as this plan sees it; execution refuses if it has moved since.
    fn precondition(&self) -> Precondition {
        Precondition {
            kind: "Deployment".into(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            generation: self.deployment.metadata.generation.unwrap_or_default(),
        }
    }

    /// Appended to a plan's detail: with self-heal, Argo CD undoes in-cluster changes that Git
    /// does not carry, so the person confirming should know to change Git too.
    fn gitops_note(&self) -> String {
        self.gitops
            .as_ref()
            .map(|app| {
                format!(
                    "; managed by Argo CD (Application `{app}`): with self-heal on, the next sync reverts this unless Git says the same"
                )
            })
            .unwrap_or_default()
    }

    fn explain(&self, ctx: &ActionContext<'_>, e: kube::Error) -> ActionError {
        PlatformError::from(self.cluster.explain(ctx.actor, e)).into()
    }

    /// The plan of one change to this Deployment, with its dry run's verdict.
    fn change(
        &self,
        operation: &str,
        summary: String,
        detail: String,
        (validation, dry_run): (String, DryRun),
        precondition: Option<Precondition>,
    ) -> PlanOutcome {
        PlanOutcome::Change(ChangePlan {
            summary,
            changes: vec![PlannedChange {
                operation: operation.into(),
                kind: "Deployment".into(),
                name: self.name.clone(),
                namespace: Some(self.namespace.clone()),
                detail: Some(detail),
                validation,
            }],
            dry_run,
            precondition,
        })
    }

    /// Sends the confirmed patch, to the Deployment or its `scale` subresource.
    async fn patch_granted(
        &self,
        ctx: &ActionContext<'_>,
        grant: &ExecutionGrant,
        patch: &Patch<Value>,
        to: Target,
    ) -> Result<(), ActionError> {
        self.send(Writer::granted(grant, Merge::Patch), patch, to)
            .await
            .map_err(|e| self.explain(ctx, e))
    }

    async fn send(
        &self,
        writer: Writer,
        patch: &Patch<Value>,
        to: Target,
    ) -> Result<(), kube::Error> {
        match to {
            Target::Deployment => writer.patch(&self.api, &self.name, patch).await.map(drop),
            Target::Scale => writer
                .patch_scale(&self.api, &self.name, patch)
                .await
                .map(drop),
        }
    }

    fn replicas(&self) -> i32 {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.deployment.spec.as_ref().map(|s| &s.template)
    }

    fn images(&self) -> String {
        self.template()
            .and_then(|t| t.spec.as_ref())
            .map(|p| {
                p.containers
                    .iter()
                    .filter_map(|c| c.image.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }

    fn revision(&self) -> Option<u64> {
        revision_of(&self.deployment.metadata)
    }

    async fn list<K>(&self) -> Result<Vec<K>, kube::Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        api.list(&ListParams::default()).await.map(|l| l.items)
    }
}

fn revision_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<u64> {
    meta.annotations.as_ref()?.get(REVISION)?.parse().ok()
}

async fn load<'a>(
    ctx: &'a ActionContext<'_>,
    service: &ServiceName,
    env: &Environment,
) -> Result<Loaded<'a>, ActionError> {
    let svc = find_service(&ctx.platform.catalog, service.as_str())?;
    ctx.platform
        .environment(env)
        .map_err(ActionError::Unknown)?;
    let namespace = ctx
        .platform
        .catalog
        .namespace_of(svc, env)
        .map_err(|e| ActionError::InvalidArgs(e.to_string()))?;
    let cluster = ctx.platform.cluster_for(env)?;
    let client = cluster.client_for(ctx.actor).map_err(PlatformError::from)?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace.as_str());
    let deployment = match api.get_opt(&svc.kubernetes_id).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err(ActionError::Unknown(format!(
                "{} is not deployed in {env}: there is no Deployment `{}` in {namespace}",
                svc.name, svc.kubernetes_id
            )));
        }
        Err(e) if api_code(&e) == Some(404) => {
            return Err(ActionError::Unknown(format!(
                "{} is not deployed in {env}: namespace {namespace} does not exist",
                svc.name
            )));
        }
        Err(e) => return Err(PlatformError::from(cluster.explain(ctx.actor, e)).into()),
    };
    Ok(Loaded {
        cluster,
        client,
        api,
        namespace: namespace.to_string(),
        name: svc.kubernetes_id.clone(),
        deployment,
        gitops: svc
            .annotations
            .get(crate::platform::argocd::APP_NAME_ANNOTATION)
            .cloned(),
    })
}

/// Runs the patch as a server-side dry run; the verdict for the plan. A 403 is an error, not a
/// verdict: the cluster's RBAC refuses the requester, so there is nothing to propose.
async fn dry_run(
    ctx: &ActionContext<'_>,
    loaded: &Loaded<'_>,
    patch: &Patch<Value>,
    to: Target,
) -> Result<(String, DryRun), ActionError> {
    let result = loaded.send(Writer::dry_run(Merge::Patch), patch, to).await;
    match result {
        Ok(()) => Ok((
            "server-side dry run: ok".to_owned(),
            DryRun {
                passed: true,
                message: "the API server accepted the exact change in a dry run".into(),
            },
        )),
        Err(e) if api_code(&e) == Some(403) => {
            Err(PlatformError::from(loaded.cluster.explain(ctx.actor, e)).into())
        }
        Err(e) => {
            let why = loaded.cluster.explain(ctx.actor, e).to_string();
            Ok((
                format!("server-side dry run FAILED: {why}"),
                DryRun {
                    passed: false,
                    message: format!("confirming would fail: {why}"),
                },
            ))
        }
    }
}

fn strategy_text(d: &Deployment) -> String {
    let Some(strategy) = d.spec.as_ref().and_then(|s| s.strategy.as_ref()) else {
        return "RollingUpdate".into();
    };
    match strategy.type_.as_deref() {
        Some("Recreate") => "Recreate: every pod stops before the new ones start (downtime)".into(),
        _ => {
            let show =
                |v: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>| match v {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                        n.to_string()
                    }
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => {
                        s.clone()
                    }
                    None => "25%".into(),
                };
            let ru = strategy.rolling_update.as_ref();
            format!(
                "RollingUpdate: maxUnavailable {}, maxSurge {}",
                show(ru.and_then(|r| r.max_unavailable.as_ref())),
                show(ru.and_then(|r| r.max_surge.as_ref()))
            )
        }
    }
}

/// Refuses to execute when the Deployment moved since the confirmed plan was made: the
/// confirmer approved a change to what they saw, not to whatever is there now.
fn same_as_confirmed(grant: &ExecutionGrant, loaded: &Loaded<'_>) -> Result<(), ActionError> {
    let plan = &grant.proposal().plan;
    let Some(confirmed) = &plan.precondition else {
        return Err(ActionError::Failed(
            "This proposal was made by an older platbot and does not record the Deployment it was planned against, so nothing was changed. Ask again for a fresh proposal.".into(),
        ));
    };
    let now = loaded.precondition();
    if *confirmed == now {
        return Ok(());
    }
    let was = plan
        .changes
        .first()
        .and_then(|c| c.detail.as_deref())
        .unwrap_or("the confirmed change");
    Err(ActionError::Failed(format!(
        "The Deployment `{}` in {} changed since this was proposed (generation {} then, {} now), so nothing was changed. Confirmed: {was}. Ask again for a fresh proposal.",
        now.name, now.namespace, confirmed.generation, now.generation
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_changes_list_images_first_and_never_values() {
        let from = json!({"spec": {"containers": [{"name": "app", "image": "r/app:v2", "env": [{"name": "A", "value": "secret1"}, {"name": "B", "value": "x"}]}]}});
        let to = json!({"spec": {"containers": [{"name": "app", "image": "r/app:v1", "env": [{"name": "A", "value": "secret2"}]}]}});
        let (images, other) = template_changes(&from, &to);
        assert_eq!(images, ["app: r/app:v2 -> r/app:v1"]);
        assert!(
            other.contains(&"app: env removed: B".to_owned()),
            "{other:?}"
        );
        assert!(
            other.contains(&"app: env changed: A".to_owned()),
            "{other:?}"
        );
        assert!(!format!("{other:?}").contains("secret"));
    }
}
