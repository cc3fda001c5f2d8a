//! `rollback_deployment`: back to an earlier revision's pod template, with the diff shown.

use super::*;
use crate::domain::ToolName;

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
    const NAME: ToolName = ToolName::RollbackDeployment;
    const DOES: &'static str = "roll back deployments";

    on_a_service!();

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
        let (validation, dry) = dry_run(
            ctx,
            &loaded,
            &rollback_patch(&plan, rv.as_deref()),
            Target::Deployment,
        )
        .await?;
        let summary = format!(
            "Roll back Deployment `{}` in {} from revision {} to revision {}",
            loaded.name, loaded.namespace, plan.current, plan.target
        );
        let precondition = Some(loaded.precondition());
        Ok(loaded.change(
            "rollback",
            summary,
            plan.detail,
            (validation, dry),
            precondition,
        ))
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
        same_as_confirmed(grant, &loaded)?;
        let rv = loaded.deployment.metadata.resource_version.clone();
        let patch = rollback_patch(&plan, rv.as_deref());
        loaded
            .patch_granted(ctx, grant, &patch, Target::Deployment)
            .await?;
        Ok(format!(
            "Rolled back Deployment `{}` in {} to the pod template of revision {} ({}). The Deployment controller now replaces the pods; ask for its status to follow it.",
            loaded.name, loaded.namespace, plan.target, plan.detail
        ))
    }
}
