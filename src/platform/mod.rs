//! Clients for the systems platbot reads and changes: the service catalog, Kubernetes,
//! the on-call providers and Argo CD.

pub mod argocd;
pub mod catalog;
pub mod golden_path;
pub mod http;
pub mod kube;
pub mod oncall;
pub mod rbac;

use std::collections::HashMap;
use std::sync::Arc;

pub use self::catalog::Catalog;
pub use self::kube::{Cluster, KubeError};
pub use self::oncall::OnCall;

use crate::domain::Environment;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(
        "Kubernetes is not configured: there is no kube context, no in-cluster config and no --sandbox. Status and changes need a cluster."
    )]
    NoCluster,
    #[error("the cluster for {env} is not available: {reason}")]
    ClusterUnavailable { env: Environment, reason: String },
}

/// An environment's cluster as startup found it. A misconfigured cluster is kept
/// as a reason, so the other environments still answer.
#[derive(Clone)]
pub enum ClusterSlot {
    Ready(Cluster),
    Unavailable(String),
}

/// Everything the actions read and change.
pub struct Platform {
    pub catalog: Arc<Catalog>,
    /// The configured environments, in display order.
    pub environments: Vec<Environment>,
    /// Each environment's cluster; an environment missing here has none configured.
    pub clusters: HashMap<Environment, ClusterSlot>,
    pub golden_paths: golden_path::GoldenPaths,
    /// On-call providers (schedule file, PagerDuty, Opsgenie) and their answer cache.
    pub oncall: Arc<OnCall>,
    /// Argo CD, when `[argocd]` is configured.
    pub argocd: Option<Arc<argocd::ArgoCd>>,
    /// The docs index behind `search_docs`; `None` where none was opened.
    pub docs: Option<Arc<crate::knowledge::DocsIndex>>,
}

impl Platform {
    /// The cluster serving `env`.
    pub fn cluster_for(&self, env: &Environment) -> Result<&Cluster, PlatformError> {
        match self.clusters.get(env) {
            Some(ClusterSlot::Ready(c)) => Ok(c),
            Some(ClusterSlot::Unavailable(reason)) => Err(PlatformError::ClusterUnavailable {
                env: env.clone(),
                reason: reason.clone(),
            }),
            None => Err(PlatformError::NoCluster),
        }
    }

    /// Whether any environment has a cluster configured.
    pub fn has_cluster(&self) -> bool {
        !self.clusters.is_empty()
    }

    /// The configured environment with this name, or a clear error naming the known ones.
    pub fn environment(&self, env: &Environment) -> Result<(), String> {
        if self.environments.contains(env) {
            Ok(())
        } else {
            let known: Vec<&str> = self.environments.iter().map(Environment::as_str).collect();
            Err(format!(
                "`{env}` is not an environment here; known environments: {}",
                known.join(", ")
            ))
        }
    }
}
