//! Read actions over Deployments: `deployment_status` and `list_deployments`.

use crate::domain::ToolName;
use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;
use serde::Serialize;
use serde_json::{Value, json};

use super::args::{ListDeploymentsArgs, ServiceEnvArgs};
use super::scope::{Found, environments, in_each_env, not_read, service_scope};
use super::{ActionContext, ActionError, ActionOutput, ReadAction};
use crate::domain::{Environment, NamespaceName};
use crate::platform::argocd::{APP_NAME_ANNOTATION, AppStatus, ArgoError};
use crate::platform::{PlatformError, kube::api_code};

/// Where a rollout stands, read from the Deployment's spec and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum RolloutState {
    Complete,
    Progressing,
    /// Past its progress deadline (`ProgressDeadlineExceeded`).
    Stalled(String),
    Paused,
    ScaledToZero,
}

impl RolloutState {
    pub fn describe(&self) -> String {
        match self {
            Self::Complete => "rollout complete".into(),
            Self::Progressing => "rollout in progress".into(),
            Self::Stalled(why) => format!("rollout STALLED: {why}"),
            Self::Paused => "rollout paused".into(),
            Self::ScaledToZero => "scaled to zero".into(),
        }
    }
}

pub fn rollout_state(d: &Deployment) -> RolloutState {
    let spec = d.spec.as_ref();
    let status = d.status.clone().unwrap_or_default();
    if spec.and_then(|s| s.paused).unwrap_or(false) {
        return RolloutState::Paused;
    }
    let progressing = status
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "Progressing"));
    if let Some(c) = progressing
        && c.status == "False"
    {
        let why = c
            .message
            .clone()
            .or_else(|| c.reason.clone())
            .unwrap_or_default();
        return RolloutState::Stalled(why);
    }
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    if desired == 0 {
        return RolloutState::ScaledToZero;
    }
    let generation = d.metadata.generation.unwrap_or(0);
    let observed = status.observed_generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if observed >= generation && updated >= desired && available >= desired && total <= desired {
        RolloutState::Complete
    } else {
        RolloutState::Progressing
    }
}

/// One Deployment as the status replies show it.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentSummary {
    pub name: String,
    pub namespace: String,
    pub environment: Option<String>,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    pub images: Vec<String>,
    pub rollout: RolloutState,
    pub revision: Option<String>,
    pub last_change: Option<Timestamp>,
}

impl DeploymentSummary {
    pub fn from_deployment(d: &Deployment, environment: Option<&Environment>) -> Self {
        let status = d.status.clone().unwrap_or_default();
        let images = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| {
                p.containers
                    .iter()
                    .filter_map(|c| c.image.clone())
                    .collect()
            })
            .unwrap_or_default();
        let last_change = status
            .conditions
            .as_ref()
            .and_then(|cs| {
                cs.iter()
                    .filter_map(|c| {
                        c.last_update_time
                            .as_ref()
                            .or(c.last_transition_time.as_ref())
                    })
                    .map(|t| t.0)
                    .max()
            })
            .or_else(|| d.metadata.creation_timestamp.as_ref().map(|t| t.0));
        Self {
            name: d.metadata.name.clone().unwrap_or_default(),
            namespace: d.metadata.namespace.clone().unwrap_or_default(),
            environment: environment.map(ToString::to_string),
            desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            images,
            rollout: rollout_state(d),
            revision: d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("deployment.kubernetes.io/revision").cloned()),
            last_change,
        }
    }

    fn line(&self, now: Timestamp) -> String {
        let mut s = format!(
            "{}/{} ready, {} updated, {} available; {}",
            self.ready,
            self.desired,
            self.updated,
            self.available,
            self.rollout.describe()
        );
        if !self.images.is_empty() {
            s.push_str(&format!("; image {}", self.images.join(", ")));
        }
        if let Some(rev) = &self.revision {
            s.push_str(&format!("; revision {rev}"));
        }
        if let Some(t) = self.last_change {
            s.push_str(&format!(
                "; last change {} ({})",
                t.strftime("%Y-%m-%d %H:%M UTC"),
                ago(now.duration_since(t))
            ));
        }
        s
    }
}

/// "3 days ago", "5 minutes ago".
pub fn ago(d: jiff::SignedDuration) -> String {
    let (n, unit) = if d.as_hours() >= 24 {
        (d.as_hours() / 24, "day")
    } else if d.as_hours() >= 1 {
        (d.as_hours(), "hour")
    } else if d.as_mins() >= 1 {
        (d.as_mins(), "minute")
    } else {
        return "just now".into();
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

pub struct DeploymentStatus;

#[async_trait::async_trait]
impl ReadAction for DeploymentStatus {
    type Args = ServiceEnvArgs;
    const NAME: ToolName = ToolName::DeploymentStatus;
    const DOES: &'static str = "check a service's status";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let scope = service_scope(ctx, &args.service, args.environment.as_ref())?;
        let (service, envs) = (scope.service, &scope.envs);
        let lookups = in_each_env(ctx, &scope, |r| async move {
            r.api::<Deployment>()
                .get_opt(&service.kubernetes_id)
                .await
                .map_err(|e| r.explain(e))
        });
        let argo = async {
            match &ctx.platform.argocd {
                Some(a) => Some(a.for_service(service, envs).await),
                None => None,
            }
        };
        let (results, argo) = futures::join!(lookups, argo);
        let now = Timestamp::now();
        let mut lines = vec![format!("*{}* (team {})", service.name, service.owner)];
        let mut data = Vec::new();
        let argo = ArgoView::new(argo);
        if let Some(top) = argo.shared_line() {
            lines.push(format!("- {top}"));
        }
        for Found { env, ns, found } in results? {
            match found {
                Ok(Some(d)) => {
                    let summary = DeploymentSummary::from_deployment(&d, Some(env));
                    lines.push(format!("- {env} ({ns}): {}", summary.line(now)));
                    if let Some(l) = argo.env_line(env) {
                        lines.push(format!("  {l}"));
                    }
                    data.push(json!({"environment": env, "namespace": ns, "deployment": summary, "argocd": argo.env_data(env)}));
                }
                Ok(None) | Err(_) => {
                    let (line, d) = not_read(env, &ns, service, found.as_ref().err(), "deployment");
                    lines.push(line);
                    data.push(d);
                }
            }
        }
        Ok(ActionOutput::new(
            lines.join("\n"),
            json!({"service": service.name, "environments": data, "argocd": argo.data()}),
        ))
    }
}

type ArgoApps = Vec<(Environment, String, Result<AppStatus, ArgoError>)>;

/// Argo CD's part of a status reply: one line for the service when every environment has the
/// same Application, one per environment otherwise.
struct ArgoView {
    /// `None`: Argo CD is not configured. `Some(None)`: the service has no annotation.
    apps: Option<Option<ArgoApps>>,
}

impl ArgoView {
    fn new(apps: Option<Option<ArgoApps>>) -> Self {
        Self { apps }
    }

    fn shared(&self) -> bool {
        match &self.apps {
            Some(Some(apps)) => apps.windows(2).all(|w| w[0].1 == w[1].1),
            _ => false,
        }
    }

    fn describe(name: &str, status: &Result<AppStatus, ArgoError>) -> String {
        match status {
            Ok(s) => s.line(),
            Err(e) => format!("Argo CD `{name}`: could not read: {e}"),
        }
    }

    fn shared_line(&self) -> Option<String> {
        match &self.apps {
            Some(None) => Some(format!(
                "Argo CD: not consulted (the service has no `{APP_NAME_ANNOTATION}` annotation)"
            )),
            Some(Some(apps)) if self.shared() => {
                apps.first().map(|(_, name, s)| Self::describe(name, s))
            }
            _ => None,
        }
    }

    fn env_line(&self, env: &Environment) -> Option<String> {
        match &self.apps {
            Some(Some(apps)) if !self.shared() => apps
                .iter()
                .find(|(e, _, _)| e == env)
                .map(|(_, name, s)| Self::describe(name, s)),
            _ => None,
        }
    }

    fn status_data(name: &str, status: &Result<AppStatus, ArgoError>) -> Value {
        match status {
            Ok(s) => serde_json::to_value(s).unwrap_or(Value::Null),
            Err(e) => json!({"name": name, "error": e.to_string()}),
        }
    }

    fn env_data(&self, env: &Environment) -> Value {
        match &self.apps {
            Some(Some(apps)) => apps
                .iter()
                .find(|(e, _, _)| e == env)
                .map_or(Value::Null, |(_, name, s)| Self::status_data(name, s)),
            _ => Value::Null,
        }
    }

    fn data(&self) -> Value {
        match &self.apps {
            None => json!({"configured": false}),
            Some(None) => json!({"configured": true, "annotation": null}),
            Some(Some(apps)) => json!({
                "configured": true,
                "applications": apps
                    .iter()
                    .map(|(env, name, s)| json!({"environment": env, "application": Self::status_data(name, s)}))
                    .collect::<Vec<_>>(),
            }),
        }
    }
}

pub struct ListDeployments;

#[async_trait::async_trait]
impl ReadAction for ListDeployments {
    type Args = ListDeploymentsArgs;
    const NAME: ToolName = ToolName::ListDeployments;
    const DOES: &'static str = "list deployments";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let catalog = &ctx.platform.catalog;
        let teams: Vec<_> = match &args.team {
            Some(t) => vec![catalog.team(t.as_str()).ok_or_else(|| {
                ActionError::Unknown(format!("there is no team `{t}` in the catalog"))
            })?],
            None => catalog.teams().collect(),
        };
        let envs = environments(ctx, args.environment.as_ref())?;
        if !ctx.platform.has_cluster() {
            return Err(PlatformError::NoCluster.into());
        }

        // One list per team namespace: works with namespace-scoped RBAC, unlike a cluster-wide list.
        let mut targets = Vec::new();
        for team in &teams {
            for env in &envs {
                if let Ok(ns) = NamespaceName::for_team(&team.name, env) {
                    targets.push((*env, ns));
                }
            }
        }
        let lists = targets.iter().map(|(env, ns)| async move {
            let cluster = ctx.platform.cluster_for(env)?;
            let client = cluster.client_for(ctx.actor)?;
            let api: Api<Deployment> = Api::namespaced(client, ns.as_str());
            match api.list(&ListParams::default()).await {
                Ok(list) => Ok(list.items),
                // A team without a namespace in this environment has nothing deployed there.
                Err(e) if api_code(&e) == Some(404) => Ok(Vec::new()),
                Err(e) => Err(PlatformError::from(cluster.explain(ctx.actor, e))),
            }
        });
        let results = join_all(lists).await;

        let now = Timestamp::now();
        let mut lines = Vec::new();
        let mut data = Vec::new();
        let mut problems = Vec::new();
        for ((env, ns), result) in targets.iter().zip(results) {
            match result {
                Ok(items) => {
                    for d in &items {
                        let s = DeploymentSummary::from_deployment(d, Some(env));
                        lines.push(format!("- {} in {ns}: {}", s.name, s.line(now)));
                        data.push(s);
                    }
                }
                Err(e) => problems.push(format!("{ns}: {e}")),
            }
        }
        let scope = match (&args.team, &args.environment) {
            (Some(t), Some(e)) => format!("team {t} in {e}"),
            (Some(t), None) => format!("team {t}"),
            (None, Some(e)) => format!("{e}"),
            (None, None) => "all teams and environments".into(),
        };
        let mut text = if lines.is_empty() {
            format!("No deployments found for {scope}.")
        } else {
            format!(
                "{} deployments for {scope}:\n{}",
                lines.len(),
                lines.join("\n")
            )
        };
        if !problems.is_empty() {
            text.push_str(&format!("\nCould not read: {}", problems.join("; ")));
        }
        Ok(ActionOutput::new(
            text,
            json!({"deployments": data, "errors": problems}),
        ))
    }
}
