//! `restart_deployment`: a rolling restart, as `kubectl rollout restart` does it.

use super::*;
use crate::domain::ToolName;

pub struct RestartDeployment;

fn restart_patch(at: &str) -> Value {
    json!({ "spec": { "template": { "metadata": { "annotations": { RESTARTED_AT: at } } } } })
}

#[async_trait::async_trait]
impl MutateAction for RestartDeployment {
    type Args = ServiceInEnvArgs;
    const NAME: ToolName = ToolName::RestartDeployment;
    const DOES: &'static str = "restart deployments";

    on_a_service!();

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
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (validation, dry) = dry_run(
            ctx,
            &loaded,
            &Patch::Strategic(restart_patch(&now)),
            Target::Deployment,
        )
        .await?;
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
        let summary = format!(
            "Rolling restart of Deployment `{}` in {} ({replicas} pods)",
            loaded.name, loaded.namespace
        );
        Ok(loaded.change("restart", summary, detail, (validation, dry), None))
    }

    async fn execute(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
        grant: &ExecutionGrant,
    ) -> Result<String, ActionError> {
        let loaded = load(ctx, &args.service, &args.environment).await?;
        let now = Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch = Patch::Strategic(restart_patch(&now));
        loaded
            .patch_granted(ctx, grant, &patch, Target::Deployment)
            .await?;
        Ok(format!(
            "Restarted Deployment `{}` in {}: its {} pod(s) are being replaced ({RESTARTED_AT}={now}). Ask for its status to follow the rollout.",
            loaded.name,
            loaded.namespace,
            loaded.replicas()
        ))
    }
}
