//! `rollout_history{service, environment?}`: a Deployment's revisions from its ReplicaSets
//! (`deployment.kubernetes.io/revision`, image, `kubernetes.io/change-cause`, creation time),
//! newest first, in one environment or all of them.

use crate::domain::ToolName;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::ListParams;
use serde::Serialize;
use serde_json::json;

use super::args::ServiceEnvArgs;
use super::scope::{Found, in_each_env, not_read, service_scope};
use super::status::ago;
use super::{ActionContext, ActionError, ActionOutput, ReadAction};

const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
/// Revisions shown per environment; the Deployment's `revisionHistoryLimit` keeps 10 by default.
const SHOWN: usize = 10;

/// One revision of a Deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revision {
    pub revision: u64,
    pub images: Vec<String>,
    pub change_cause: Option<String>,
    pub created: Option<Timestamp>,
    pub replica_set: String,
    /// Pods this revision runs now.
    pub replicas: i32,
    /// The revision the Deployment is on.
    pub current: bool,
}

/// The revisions of `deployment` among `replica_sets`, newest first.
pub fn revisions(deployment: &Deployment, replica_sets: &[ReplicaSet]) -> Vec<Revision> {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let uid = deployment.metadata.uid.as_deref();
    let current = deployment
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|r| r.parse::<u64>().ok());
    let mut out: Vec<Revision> = replica_sets
        .iter()
        .filter(|rs| {
            // Owned by this Deployment (by uid when both have one: a re-created Deployment
            // of the same name does not inherit the old one's history).
            rs.metadata.owner_references.as_ref().is_some_and(|refs| {
                refs.iter().any(|o| {
                    o.kind == "Deployment"
                        && o.name == name
                        && uid.is_none_or(|u| o.uid.is_empty() || o.uid == u)
                })
            })
        })
        .filter_map(|rs| {
            let annotations = rs.metadata.annotations.as_ref();
            let revision = annotations?.get(REVISION_ANNOTATION)?.parse::<u64>().ok()?;
            let images = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                .map(|p| {
                    p.containers
                        .iter()
                        .filter_map(|c| c.image.clone())
                        .collect()
                })
                .unwrap_or_default();
            Some(Revision {
                revision,
                images,
                change_cause: annotations
                    .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
                    .cloned()
                    .filter(|c| !c.trim().is_empty()),
                created: rs.metadata.creation_timestamp.as_ref().map(|t| t.0),
                replica_set: rs.metadata.name.clone().unwrap_or_default(),
                replicas: rs.status.as_ref().map_or(0, |s| s.replicas),
                current: Some(revision) == current,
            })
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.revision));
    out
}

fn line(r: &Revision, now: Timestamp) -> String {
    let mut s = format!("rev {}", r.revision);
    if r.current {
        s.push_str(" (current)");
    }
    if let Some(t) = r.created {
        s.push_str(&format!(
            " {} ({})",
            t.strftime("%Y-%m-%d %H:%M UTC"),
            ago(now.duration_since(t))
        ));
    }
    if !r.images.is_empty() {
        s.push_str(&format!(": {}", r.images.join(", ")));
    }
    if let Some(c) = &r.change_cause {
        s.push_str(&format!(" \u{2014} {c}"));
    }
    s
}

pub struct RolloutHistory;

#[async_trait::async_trait]
impl ReadAction for RolloutHistory {
    type Args = ServiceEnvArgs;
    const NAME: ToolName = ToolName::RolloutHistory;
    const DOES: &'static str = "show rollout history";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let scope = service_scope(ctx, &args.service, args.environment.as_ref())?;
        let service = scope.service;
        let reads = in_each_env(ctx, &scope, |r| async move {
            let explain = |e| r.explain(e);
            let Some(d) = r
                .api::<Deployment>()
                .get_opt(&service.kubernetes_id)
                .await
                .map_err(explain)?
            else {
                return Ok(None);
            };
            // The Deployment's own selector finds its ReplicaSets; ownership is checked after.
            let selector = d
                .spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.as_ref())
                .map(|labels| {
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let list = r
                .api::<ReplicaSet>()
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(explain)?;
            Ok(Some(revisions(&d, &list.items)))
        });
        let now = Timestamp::now();
        let mut lines = vec![format!(
            "*{}* rollout history (team {})",
            service.name, service.owner
        )];
        let mut data = Vec::new();
        for Found { env, ns, found } in reads.await? {
            match found {
                Ok(Some(revs)) if revs.is_empty() => {
                    lines.push(format!(
                        "- {env} ({ns}): no revisions recorded (no ReplicaSets of `{}`)",
                        service.kubernetes_id
                    ));
                    data.push(json!({"environment": env, "namespace": ns, "revisions": []}));
                }
                Ok(Some(revs)) => {
                    lines.push(format!("- {env} ({ns}):"));
                    for r in revs.iter().take(SHOWN) {
                        lines.push(format!("  - {}", line(r, now)));
                    }
                    if revs.len() > SHOWN {
                        lines.push(format!("  - and {} older", revs.len() - SHOWN));
                    }
                    data.push(json!({"environment": env, "namespace": ns, "revisions": revs}));
                }
                Ok(None) | Err(_) => {
                    let (line, d) = not_read(env, &ns, service, found.as_ref().err(), "revisions");
                    lines.push(line);
                    data.push(d);
                }
            }
        }
        Ok(ActionOutput::new(
            lines.join("\n"),
            json!({"service": service.name, "environments": data}),
        ))
    }
}
