//! Clients for the systems platbot reads and changes: the service catalog and Kubernetes.

pub mod catalog;
pub mod kube;

use std::sync::Arc;

pub use self::catalog::Catalog;
pub use self::kube::{Cluster, KubeError};

use crate::domain::Environment;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(
        "Kubernetes is not configured: there is no kube context, no in-cluster config and no --sandbox. Status and changes need a cluster."
    )]
    NoCluster,
}

/// Everything the actions read and change.
pub struct Platform {
    pub catalog: Arc<Catalog>,
    pub cluster: Option<Cluster>,
    pub environments: Vec<Environment>,
    pub golden_paths: crate::actions::golden_path::GoldenPaths,
}

impl Platform {
    pub fn cluster(&self) -> Result<&Cluster, PlatformError> {
        self.cluster.as_ref().ok_or(PlatformError::NoCluster)
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
