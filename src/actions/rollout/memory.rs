//! `set_memory_limit`: a container's memory limit, checked against the LimitRange and quota.

use super::scale::quota_problems;
use super::*;
use crate::domain::ToolName;

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
    const NAME: ToolName = ToolName::SetMemoryLimit;
    const DOES: &'static str = "change memory limits";

    on_a_service!();

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
        let (validation, mut dry) =
            dry_run(ctx, &loaded, &memory_patch(&plan), Target::Deployment).await?;
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
        let summary = format!(
            "{verb} the memory limit of container `{}` of Deployment `{}` in {} to {}",
            plan.container, loaded.name, loaded.namespace, plan.new_quantity
        );
        let precondition = Some(loaded.precondition());
        Ok(loaded.change(
            "update",
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
        let plan = plan_memory(&loaded, &args)?;
        same_as_confirmed(grant, &loaded)?;
        loaded
            .patch_granted(ctx, grant, &memory_patch(&plan), Target::Deployment)
            .await?;
        Ok(format!(
            "Set the memory limit of container `{}` of Deployment `{}` in {} to {}. The Deployment rolls its pods to the new limit; ask for its status to follow it.",
            plan.container, loaded.name, loaded.namespace, plan.new_quantity
        ))
    }
}
