//! Changes to a service's Deployment: `restart_deployment`, `scale_deployment`,
//! `rollback_deployment` and `set_memory_limit`. Each plans with a server-side dry run of
//! the exact patch it will send; each executes only with an [`ExecutionGrant`].
//!
//! A rollback and a memory change re-read the Deployment when they execute and refuse to
//! run if what they would change is no longer what was confirmed (someone deployed in
//! between): a confirmation is for that exact change.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, LimitRange, PodTemplateSpec, ResourceQuota};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::args::{
    RollbackDeploymentArgs, ScaleDeploymentArgs, ServiceInEnvArgs, SetMemoryLimitArgs,
};
use super::namespace::FIELD_MANAGER;
use super::quantity;
use super::status::find_service;
use super::{
    ActionContext, ActionError, ChangePlan, DryRun, MutateAction, PlanOutcome, PlannedChange,
};
use crate::approval::ExecutionGrant;
use crate::domain::{Environment, ServiceName};
use crate::platform::PlatformError;
use crate::platform::kube::{Cluster, api_code};

pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
/// The largest replica count platbot proposes (matches the argument schema).
pub const MAX_REPLICAS: u32 = 500;

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

fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        dry_run,
        ..PatchParams::default()
    }
}

/// Runs the patch as a server-side dry run; the verdict for the plan. A 403 is an error, not a
/// verdict: the cluster's RBAC refuses the requester, so there is nothing to propose.
async fn dry_run(
    ctx: &ActionContext<'_>,
    loaded: &Loaded<'_>,
    patch: &Patch<Value>,
    scale: bool,
) -> Result<(String, DryRun), ActionError> {
    let result = if scale {
        loaded
            .api
            .patch_scale(&loaded.name, &params(true), patch)
            .await
            .map(drop)
    } else {
        loaded
            .api
            .patch(&loaded.name, &params(true), patch)
            .await
            .map(drop)
    };
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

/// Refuses to execute when the change would differ from the confirmed plan.
fn same_as_confirmed(grant: &ExecutionGrant, detail_now: &str) -> Result<(), ActionError> {
    let confirmed = grant
        .proposal()
        .plan
        .changes
        .first()
        .and_then(|c| c.detail.as_deref())
        .unwrap_or_default();
    if confirmed == detail_now {
        Ok(())
    } else {
        Err(ActionError::Failed(format!(
            "The Deployment changed since this was proposed, so nothing was changed. Confirmed: {confirmed}. Now it would be: {detail_now}. Ask again for a fresh proposal."
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// restart_deployment
// ---------------------------------------------------------------------------------------------

pub struct RestartDeployment;

fn restart_patch(at: &str) -> Value {
    json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: at } } } } })
}

#[async_trait::async_trait]
impl MutateAction for RestartDeployment {
    type Args = ServiceInEnvArgs;
    const NAME: &'static str = "restart_deployment";

    fn environment(args: &Self::Args) -> Option<Environment> {
        Some(args.environment.clone())
    }

    fn subject(args: &Self::Args) -> super::ChangeSubject {
        super::ChangeSubject::Service(args.service.clone())
    }

    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let replicas = loaded.replicas();
        if replicas == 0 {
            return Ok(PlanOutcome::NoChange(format!(
                "Deployment `{}` in {} is scaled to 0 replicas: there are no pods to restart. Scale it up instead.",
                loaded.name, loaded.namespace
            )));
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let (validation, dry) =
            dry_run(ctx, &loaded, &Patch::Strategic(restart_patch(&now)), false).await?;
        let paused = loaded
            .deployment
            .spec
            .as_ref()
            .and_then(|s| s.paused)
            .unwrap_or(false);
        let mut detail = format!(
            "replaces its {replicas} pod(s) with fresh ones ({}); the image stays {}; sets the pod template annotation {RESTARTED_AT}",
            strategy_text(&loaded.deployment),
            loaded.images()
        );
        if paused {
            detail.push_str("; the rollout is PAUSED, so nothing restarts until it is resumed");
        }
        detail.push_str(&loaded.gitops_note());
        Ok(PlanOutcome::Change(ChangePlan {
            summary: format!(
                "Rolling restart of Deployment `{}` in {} ({replicas} pods)",
                loaded.name, loaded.namespace
            ),
            changes: vec![PlannedChange {
                operation: "restart".into(),
                kind: "Deployment".into(),
                name: loaded.name.clone(),
                namespace: Some(loaded.namespace.clone()),
                detail: Some(detail),
                validation,
            }],
            dry_run: dry,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        _grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        loaded
            .api
            .patch(
                &loaded.name,
                &params(false),
                &Patch::Strategic(restart_patch(&now)),
            )
            .await
            .map_err(|e| loaded.explain(ctx, e))?;
        Ok(format!(
            "Restarted Deployment `{}` in {}: its {} pod(s) are being replaced ({RESTARTED_AT}={now}). Ask for its status to follow the rollout.",
            loaded.name,
            loaded.namespace,
            loaded.replicas()
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// scale_deployment
// ---------------------------------------------------------------------------------------------

pub struct ScaleDeployment;

/// Quota lines that the extra pods would exceed.
fn quota_problems(quotas: &[ResourceQuota], extra: &BTreeMap<&str, u64>) -> Vec<String> {
    let mut out = Vec::new();
    for q in quotas {
        let Some(status) = &q.status else { continue };
        let (Some(hard), Some(used)) = (&status.hard, &status.used) else {
            continue;
        };
        for (resource, more) in extra {
            let parse = |v: &str| {
                if resource.contains("cpu") {
                    quantity::millicores(v)
                } else {
                    quantity::bytes(v)
                }
            };
            let (Some(h), Some(u)) = (
                hard.get(*resource).and_then(|x| parse(&x.0)),
                used.get(*resource).and_then(|x| parse(&x.0)),
            ) else {
                continue;
            };
            if u + more > h {
                out.push(format!(
                    "ResourceQuota {}: {resource} would need {} more, only {} left",
                    q.metadata.name.as_deref().unwrap_or("?"),
                    show_amount(resource, *more),
                    show_amount(resource, h.saturating_sub(u))
                ));
            }
        }
    }
    out
}

fn show_amount(resource: &str, v: u64) -> String {
    if resource == "pods" {
        v.to_string()
    } else if resource.contains("cpu") {
        format!("{v}m")
    } else {
        quantity::human_bytes(v)
    }
}

/// The per-pod requests and limits of a template, summed over its containers.
fn per_pod(template: Option<&PodTemplateSpec>) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    for c in containers {
        let r = c.resources.as_ref();
        for (key, map, res) in [
            ("requests.cpu", r.and_then(|r| r.requests.as_ref()), "cpu"),
            (
                "requests.memory",
                r.and_then(|r| r.requests.as_ref()),
                "memory",
            ),
            ("limits.cpu", r.and_then(|r| r.limits.as_ref()), "cpu"),
            ("limits.memory", r.and_then(|r| r.limits.as_ref()), "memory"),
        ] {
            let v = map.and_then(|m| m.get(res)).and_then(|q| {
                if res == "cpu" {
                    quantity::millicores(&q.0)
                } else {
                    quantity::bytes(&q.0)
                }
            });
            if let Some(v) = v {
                *out.entry(key).or_insert(0) += v;
            }
        }
    }
    out
}

#[async_trait::async_trait]
impl MutateAction for ScaleDeployment {
    type Args = ScaleDeploymentArgs;
    const NAME: &'static str = "scale_deployment";

    fn environment(args: &Self::Args) -> Option<Environment> {
        Some(args.environment.clone())
    }

    fn subject(args: &Self::Args) -> super::ChangeSubject {
        super::ChangeSubject::Service(args.service.clone())
    }

    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError> {
        if args.replicas > MAX_REPLICAS {
            return Err(ActionError::InvalidArgs(format!(
                "{} replicas is more than the {MAX_REPLICAS} platbot scales to; ask the platform team",
                args.replicas
            )));
        }
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let current = loaded.replicas();
        let wanted = i32::try_from(args.replicas).unwrap_or(i32::MAX);
        if current == wanted {
            return Ok(PlanOutcome::NoChange(format!(
                "Deployment `{}` in {} already runs {current} replica(s); nothing to do.",
                loaded.name, loaded.namespace
            )));
        }
        let patch = Patch::Merge(json!({ "spec": { "replicas": wanted } }));
        let (validation, mut dry) = dry_run(ctx, &loaded, &patch, true).await?;
        let mut notes = Vec::new();
        let hpas: Vec<HorizontalPodAutoscaler> = loaded.list().await.unwrap_or_default();
        for h in hpas.iter().filter(|h| {
            h.spec.as_ref().is_some_and(|s| {
                s.scale_target_ref.kind == "Deployment" && s.scale_target_ref.name == loaded.name
            })
        }) {
            let spec = h.spec.as_ref();
            notes.push(format!(
                "WARNING: HorizontalPodAutoscaler {} manages this count (min {}, max {}) and will set it back within that range; change the HPA instead",
                h.metadata.name.as_deref().unwrap_or("?"),
                spec.and_then(|s| s.min_replicas).unwrap_or(1),
                spec.map(|s| s.max_replicas).unwrap_or(0)
            ));
        }
        if wanted > current {
            let extra_pods = u64::try_from(wanted - current).unwrap_or(0);
            let mut extra: BTreeMap<&str, u64> = per_pod(loaded.template())
                .into_iter()
                .map(|(k, v)| (k, v * extra_pods))
                .collect();
            extra.insert("pods", extra_pods);
            let quotas: Vec<ResourceQuota> = loaded.list().await.unwrap_or_default();
            let problems = quota_problems(&quotas, &extra);
            if !problems.is_empty() {
                dry.passed = false;
                dry.message = format!(
                    "the namespace quota cannot hold the extra pods ({}); they would fail to be created",
                    problems.join("; ")
                );
            }
        }
        if wanted == 0 {
            notes.push("takes every pod down: the service stops serving".into());
        }
        let mut detail = format!("replicas {current} -> {wanted}");
        for n in &notes {
            detail.push_str("; ");
            detail.push_str(n);
        }
        detail.push_str(&loaded.gitops_note());
        Ok(PlanOutcome::Change(ChangePlan {
            summary: format!(
                "Scale Deployment `{}` in {} from {current} to {wanted} replicas",
                loaded.name, loaded.namespace
            ),
            changes: vec![PlannedChange {
                operation: "scale".into(),
                kind: "Deployment".into(),
                name: loaded.name.clone(),
                namespace: Some(loaded.namespace.clone()),
                detail: Some(detail),
                validation,
            }],
            dry_run: dry,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        _grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let before = loaded.replicas();
        let wanted = i32::try_from(args.replicas).unwrap_or(i32::MAX);
        let patch = Patch::Merge(json!({ "spec": { "replicas": wanted } }));
        loaded
            .api
            .patch_scale(&loaded.name, &params(false), &patch)
            .await
            .map_err(|e| loaded.explain(ctx, e))?;
        Ok(format!(
            "Scaled Deployment `{}` in {} from {before} to {wanted} replicas.",
            loaded.name, loaded.namespace
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// rollback_deployment
// ---------------------------------------------------------------------------------------------

pub struct RollbackDeployment;

/// The revisions of a Deployment, oldest first, from its ReplicaSets.
async fn history(
    ctx: &ActionContext<'_>,
    loaded: &Loaded<'_>,
) -> Result<Vec<(u64, ReplicaSet)>, ActionError> {
    let api: Api<ReplicaSet> = Api::namespaced(loaded.client.clone(), &loaded.namespace);
    let selector = loaded
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let uid = loaded.deployment.metadata.uid.clone();
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| loaded.explain(ctx, e))?;
    let mut out: Vec<(u64, ReplicaSet)> = list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| {
                    o.kind == "Deployment"
                        && o.name == loaded.name
                        && (uid.is_none() || Some(&o.uid) == uid.as_ref())
                })
        })
        .filter_map(|rs| Some((revision_of(&rs.metadata)?, rs)))
        .collect();
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// A ReplicaSet's pod template as the Deployment should carry it (without the hash label
/// the controller adds).
fn template_of(rs: &ReplicaSet) -> Option<Value> {
    let mut t = serde_json::to_value(rs.spec.as_ref()?.template.as_ref()?).ok()?;
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    Some(t)
}

fn containers_of(t: &Value) -> BTreeMap<String, Container> {
    t.pointer("/spec/containers")
        .and_then(|c| serde_json::from_value::<Vec<Container>>(c.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect()
}

/// What changes between two pod templates, briefly: images first, then env var names,
/// resources, commands, probes and volumes. Values are not shown (they may be secrets).
pub fn template_changes(from: &Value, to: &Value) -> (Vec<String>, Vec<String>) {
    let (a, b) = (containers_of(from), containers_of(to));
    let mut images = Vec::new();
    let mut other = Vec::new();
    for (name, old) in &a {
        let Some(new) = b.get(name) else {
            other.push(format!("container {name} removed"));
            continue;
        };
        let (oi, ni) = (
            old.image.clone().unwrap_or_default(),
            new.image.clone().unwrap_or_default(),
        );
        if oi != ni {
            images.push(format!("{name}: {oi} -> {ni}"));
        }
        let env = |c: &Container| -> BTreeMap<String, String> {
            c.env
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|e| (e.name.clone(), serde_json::to_string(e).unwrap_or_default()))
                .collect()
        };
        let (oe, ne) = (env(old), env(new));
        let added: Vec<&String> = ne.keys().filter(|k| !oe.contains_key(*k)).collect();
        let removed: Vec<&String> = oe.keys().filter(|k| !ne.contains_key(*k)).collect();
        let changed: Vec<&String> = oe
            .keys()
            .filter(|k| ne.get(*k).is_some_and(|v| Some(v) != oe.get(*k)))
            .collect();
        for (what, names) in [("added", added), ("removed", removed), ("changed", changed)] {
            if !names.is_empty() {
                let list: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                other.push(format!("{name}: env {what}: {}", list.join(", ")));
            }
        }
        fn json<T: serde::Serialize>(v: &T) -> Value {
            serde_json::to_value(v).unwrap_or_default()
        }
        if json(&old.resources) != json(&new.resources) {
            other.push(format!("{name}: resources change"));
        }
        if json(&old.command) != json(&new.command) || json(&old.args) != json(&new.args) {
            other.push(format!("{name}: command/args change"));
        }
        if json(&old.readiness_probe) != json(&new.readiness_probe)
            || json(&old.liveness_probe) != json(&new.liveness_probe)
        {
            other.push(format!("{name}: probes change"));
        }
    }
    for name in b.keys().filter(|n| !a.contains_key(*n)) {
        other.push(format!("container {name} added"));
    }
    if from.pointer("/spec/volumes") != to.pointer("/spec/volumes") {
        other.push("volumes change".into());
    }
    (images, other)
}

struct RollbackPlan {
    current: u64,
    target: u64,
    template: Value,
    cause: Option<String>,
    detail: String,
}

async fn plan_rollback(
    ctx: &ActionContext<'_>,
    loaded: &Loaded<'_>,
    wanted: Option<u64>,
) -> Result<Result<RollbackPlan, String>, ActionError> {
    let current = loaded.revision().ok_or_else(|| {
        ActionError::Failed(format!(
            "Deployment `{}` has no revision annotation yet; there is nothing to roll back to",
            loaded.name
        ))
    })?;
    let revisions = history(ctx, loaded).await?;
    let running = serde_json::to_value(loaded.template()).unwrap_or_default();
    let known = || {
        revisions
            .iter()
            .map(|(n, rs)| {
                let image = rs
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .and_then(|t| t.spec.as_ref())
                    .and_then(|p| p.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let tag = image.rsplit(':').next().unwrap_or_default().to_owned();
                if *n == current {
                    format!("{n} ({tag}, current)")
                } else {
                    format!("{n} ({tag})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = match wanted {
        Some(n) if n == current => {
            return Ok(Err(format!(
                "Deployment `{}` in {} already runs revision {n}; nothing to roll back.",
                loaded.name, loaded.namespace
            )));
        }
        Some(n) => revisions.iter().find(|(r, _)| *r == n).ok_or_else(|| {
            ActionError::Unknown(format!(
                "Deployment `{}` has no revision {n}; its revisions: {}",
                loaded.name,
                known()
            ))
        })?,
        None => match revisions
            .iter()
            .rev()
            .find(|(r, rs)| *r < current && template_of(rs).as_ref() != Some(&running))
        {
            Some(t) => t,
            None => {
                return Ok(Err(format!(
                    "Deployment `{}` in {} has no earlier revision to roll back to (revisions: {}).",
                    loaded.name,
                    loaded.namespace,
                    known()
                )));
            }
        },
    };
    let (n, rs) = target;
    let template = template_of(rs).ok_or_else(|| {
        ActionError::Failed(format!("revision {n} has no pod template to roll back to"))
    })?;
    if template == running {
        return Ok(Err(format!(
            "Revision {n} has the same pod template as what runs now; rolling back would change nothing."
        )));
    }
    let (images, other) = template_changes(&running, &template);
    let mut detail = format!("revision {current} -> {n}");
    if images.is_empty() {
        detail.push_str("; images unchanged");
    } else {
        detail.push_str(&format!("; image {}", images.join("; ")));
    }
    if !other.is_empty() {
        detail.push_str(&format!("; also: {}", other.join("; ")));
    }
    let cause = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CHANGE_CAUSE).cloned());
    if let Some(c) = &cause {
        detail.push_str(&format!("; revision {n} was \"{c}\""));
    }
    detail.push_str(&loaded.gitops_note());
    Ok(Ok(RollbackPlan {
        current,
        target: *n,
        template,
        cause,
        detail,
    }))
}

/// The target revision's template in place of the running one (what `kubectl rollout undo`
/// does), as a strategic merge patch that replaces the whole template. The
/// `resourceVersion` makes the API server refuse it if the Deployment changed since it was
/// read.
fn rollback_patch(p: &RollbackPlan, resource_version: Option<&str>) -> Patch<Value> {
    let mut template = p.template.clone();
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    if let Some(cause) = &p.cause {
        metadata["annotations"] = json!({ CHANGE_CAUSE: cause });
    }
    Patch::Strategic(json!({ "metadata": metadata, "spec": { "template": template } }))
}

#[async_trait::async_trait]
impl MutateAction for RollbackDeployment {
    type Args = RollbackDeploymentArgs;
    const NAME: &'static str = "rollback_deployment";

    fn environment(args: &Self::Args) -> Option<Environment> {
        Some(args.environment.clone())
    }

    fn subject(args: &Self::Args) -> super::ChangeSubject {
        super::ChangeSubject::Service(args.service.clone())
    }

    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let plan = match plan_rollback(ctx, &loaded, args.revision).await? {
            Ok(p) => p,
            Err(nothing) => return Ok(PlanOutcome::NoChange(nothing)),
        };
        let rv = loaded.deployment.metadata.resource_version.clone();
        let (validation, dry) =
            dry_run(ctx, &loaded, &rollback_patch(&plan, rv.as_deref()), false).await?;
        Ok(PlanOutcome::Change(ChangePlan {
            summary: format!(
                "Roll back Deployment `{}` in {} from revision {} to revision {}",
                loaded.name, loaded.namespace, plan.current, plan.target
            ),
            changes: vec![PlannedChange {
                operation: "rollback".into(),
                kind: "Deployment".into(),
                name: loaded.name.clone(),
                namespace: Some(loaded.namespace.clone()),
                detail: Some(plan.detail),
                validation,
            }],
            dry_run: dry,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let plan = plan_rollback(ctx, &loaded, args.revision)
            .await?
            .map_err(ActionError::Failed)?;
        same_as_confirmed(grant, &plan.detail)?;
        let rv = loaded.deployment.metadata.resource_version.clone();
        loaded
            .api
            .patch(
                &loaded.name,
                &params(false),
                &rollback_patch(&plan, rv.as_deref()),
            )
            .await
            .map_err(|e| loaded.explain(ctx, e))?;
        Ok(format!(
            "Rolled back Deployment `{}` in {} to the pod template of revision {} ({}). The Deployment controller now replaces the pods; ask for its status to follow it.",
            loaded.name, loaded.namespace, plan.target, plan.detail
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// set_memory_limit
// ---------------------------------------------------------------------------------------------

pub struct SetMemoryLimit;

/// The container to change: the one named, else the template's default container, the only
/// one, or the one named like the Deployment.
fn pick_container<'a>(
    loaded: &'a Loaded<'_>,
    wanted: Option<&str>,
) -> Result<&'a Container, ActionError> {
    let template = loaded.template();
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let names = || {
        containers
            .iter()
            .map(|c| format!("`{}`", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let default = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"));
    let found = match wanted {
        Some(name) => containers.iter().find(|c| c.name == name),
        None if containers.len() == 1 => containers.first(),
        None => containers
            .iter()
            .find(|c| Some(&c.name) == default || c.name == loaded.name),
    };
    found.ok_or_else(|| {
        ActionError::InvalidArgs(match wanted {
            Some(name) => format!(
                "Deployment `{}` has no container `{name}`; its containers: {}",
                loaded.name,
                names()
            ),
            None => format!(
                "Deployment `{}` has several containers ({}); say which one",
                loaded.name,
                names()
            ),
        })
    })
}

struct MemoryPlan {
    container: String,
    old_limit: Option<u64>,
    new_quantity: String,
    detail: String,
}

fn memory_of(c: &Container, which: &str) -> Option<u64> {
    let r = c.resources.as_ref()?;
    let map = if which == "limits" {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    };
    map?.get("memory").and_then(|q| quantity::bytes(&q.0))
}

fn plan_memory(loaded: &Loaded<'_>, args: &SetMemoryLimitArgs) -> Result<MemoryPlan, ActionError> {
    let c = pick_container(loaded, args.container.as_deref())?;
    let new_bytes = u64::from(args.memory_mib) * 1024 * 1024;
    let old_limit = memory_of(c, "limits");
    let request = memory_of(c, "requests");
    if let Some(r) = request
        && new_bytes < r
    {
        return Err(ActionError::InvalidArgs(format!(
            "{} is below container `{}`'s memory request of {}; a limit cannot be lower than the request",
            quantity::mib_quantity(args.memory_mib),
            c.name,
            quantity::human_bytes(r)
        )));
    }
    let new_quantity = quantity::mib_quantity(args.memory_mib);
    let detail = format!(
        "container `{}`: memory limit {} -> {new_quantity} (request stays {}); the Deployment rolls its {} pod(s) to the new limit",
        c.name,
        old_limit.map_or_else(|| "none".to_owned(), quantity::human_bytes),
        request.map_or_else(|| "none".to_owned(), quantity::human_bytes),
        loaded.replicas()
    ) + &loaded.gitops_note();
    Ok(MemoryPlan {
        container: c.name.clone(),
        old_limit,
        new_quantity,
        detail,
    })
}

fn memory_patch(p: &MemoryPlan) -> Patch<Value> {
    Patch::Strategic(json!({
        "spec": { "template": { "spec": { "containers": [
            { "name": p.container, "resources": { "limits": { "memory": p.new_quantity } } }
        ] } } }
    }))
}

/// What the namespace's LimitRanges and quota say about the new limit (admission checks
/// that a dry run of the Deployment does not reach: they apply when pods are created).
async fn memory_policy(loaded: &Loaded<'_>, plan: &MemoryPlan, new_bytes: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let ranges: Vec<LimitRange> = loaded.list().await.unwrap_or_default();
    for lr in &ranges {
        for item in lr
            .spec
            .as_ref()
            .map(|s| s.limits.as_slice())
            .unwrap_or_default()
        {
            if item.type_ != "Container" {
                continue;
            }
            if let Some(max) = item
                .max
                .as_ref()
                .and_then(|m| m.get("memory"))
                .and_then(|q| quantity::bytes(&q.0))
                && new_bytes > max
            {
                problems.push(format!(
                    "LimitRange {} allows at most {} of memory per container: new pods would be rejected",
                    lr.metadata.name.as_deref().unwrap_or("?"),
                    quantity::human_bytes(max)
                ));
            }
        }
    }
    let replicas = u64::try_from(loaded.replicas().max(0)).unwrap_or(0);
    // During the rolling update old and new pods coexist; count one extra pod at the new size.
    let extra = new_bytes.saturating_sub(plan.old_limit.unwrap_or(0)) * replicas + new_bytes;
    let quotas: Vec<ResourceQuota> = loaded.list().await.unwrap_or_default();
    problems.extend(quota_problems(
        &quotas,
        &BTreeMap::from([("limits.memory", extra)]),
    ));
    problems
}

#[async_trait::async_trait]
impl MutateAction for SetMemoryLimit {
    type Args = SetMemoryLimitArgs;
    const NAME: &'static str = "set_memory_limit";

    fn environment(args: &Self::Args) -> Option<Environment> {
        Some(args.environment.clone())
    }

    fn subject(args: &Self::Args) -> super::ChangeSubject {
        super::ChangeSubject::Service(args.service.clone())
    }

    async fn plan(
        &self,
        ctx: &ActionContext<'_>,
        args: &Self::Args,
    ) -> Result<PlanOutcome, ActionError> {
        if !(16..=262_144).contains(&args.memory_mib) {
            return Err(ActionError::InvalidArgs(format!(
                "{} MiB is outside 16 MiB..256 GiB",
                args.memory_mib
            )));
        }
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let plan = plan_memory(&loaded, args)?;
        let new_bytes = u64::from(args.memory_mib) * 1024 * 1024;
        if plan.old_limit == Some(new_bytes) {
            return Ok(PlanOutcome::NoChange(format!(
                "Container `{}` of Deployment `{}` already has a {} memory limit; nothing to do.",
                plan.container, loaded.name, plan.new_quantity
            )));
        }
        let (validation, mut dry) = dry_run(ctx, &loaded, &memory_patch(&plan), false).await?;
        let problems = memory_policy(&loaded, &plan, new_bytes).await;
        if !problems.is_empty() {
            dry.passed = false;
            dry.message = format!(
                "the Deployment change passes, but its pods would not: {}",
                problems.join("; ")
            );
        }
        let verb = if plan.old_limit.is_some_and(|o| o > new_bytes) {
            "Lower"
        } else {
            "Raise"
        };
        Ok(PlanOutcome::Change(ChangePlan {
            summary: format!(
                "{verb} the memory limit of container `{}` of Deployment `{}` in {} to {}",
                plan.container, loaded.name, loaded.namespace, plan.new_quantity
            ),
            changes: vec![PlannedChange {
                operation: "update".into(),
                kind: "Deployment".into(),
                name: loaded.name.clone(),
                namespace: Some(loaded.namespace.clone()),
                detail: Some(plan.detail),
                validation,
            }],
            dry_run: dry,
        }))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let plan = plan_memory(&loaded, &args)?;
        same_as_confirmed(grant, &plan.detail)?;
        loaded
            .api
            .patch(&loaded.name, &params(false), &memory_patch(&plan))
            .await
            .map_err(|e| loaded.explain(ctx, e))?;
        Ok(format!(
            "Set the memory limit of container `{}` of Deployment `{}` in {} to {}. The Deployment rolls its pods to the new limit; ask for its status to follow it.",
            plan.container, loaded.name, loaded.namespace, plan.new_quantity
        ))
    }
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
