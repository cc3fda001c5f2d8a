//! `scale_deployment`: a new replica count, checked against the namespace's quota.

use super::*;
use crate::domain::ToolName;

pub struct ScaleDeployment;

/// Quota lines that the extra pods would exceed.
pub(super) fn quota_problems(quotas: &[ResourceQuota], extra: &BTreeMap<&str, u64>) -> Vec<String> {
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
    const NAME: ToolName = ToolName::ScaleDeployment;
    const DOES: &'static str = "scale deployments";

    on_a_service!();

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
        let (validation, mut dry) = dry_run(ctx, &loaded, &patch, Target::Scale).await?;
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
        let summary = format!(
            "Scale Deployment `{}` in {} from {current} to {wanted} replicas",
            loaded.name, loaded.namespace
        );
        let precondition = Some(loaded.precondition());
        Ok(loaded.change("scale", summary, detail, (validation, dry), precondition))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        same_as_confirmed(grant, &loaded)?;
        let before = loaded.replicas();
        let wanted = i32::try_from(args.replicas).unwrap_or(i32::MAX);
        let patch = Patch::Merge(json!({ "spec": { "replicas": wanted } }));
        loaded
            .patch_granted(ctx, grant, &patch, Target::Scale)
            .await?;
        Ok(format!(
            "Scaled Deployment `{}` in {} from {before} to {wanted} replicas.",
            loaded.name, loaded.namespace
        ))
    }
}
