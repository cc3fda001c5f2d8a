//! Kubernetes access, as the person asking: every client impersonates the mapped
//! user and groups, so the cluster's own RBAC decides what they may do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::approval::Actor;
use crate::config::KubeMode;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot load Kubernetes configuration: {0}")]
    Config(String),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
    #[error("the cluster refused {user}: {message}")]
    Forbidden { user: String, message: String },
    #[error("Kubernetes API error ({code} {reason}): {message}")]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error("cannot reach the Kubernetes API at {url}: {message}")]
    Unreachable { url: String, message: String },
}

/// Who a client acts as: user and groups (empty when impersonation is off).
type Identity = (String, Vec<String>);

/// One cluster: the base config, and clients per impersonated identity.
#[derive(Clone)]
pub struct Cluster {
    /// Shared: one cluster often serves several environments.
    base: Arc<kube::Config>,
    impersonate: bool,
    clients: Arc<Mutex<HashMap<Identity, kube::Client>>>,
}

/// More cached identities than this and the cache starts over (clients are cheap to rebuild).
const CLIENT_CACHE_LIMIT: usize = 256;

impl Cluster {
    pub fn new(base: kube::Config, impersonate: bool) -> Self {
        Self {
            base: Arc::new(base),
            impersonate,
            clients: Arc::default(),
        }
    }

    /// A plain-HTTP API at `url` (the sandbox's API double).
    pub fn from_url(url: &str, impersonate: bool) -> Result<Self, KubeError> {
        let uri = url
            .parse()
            .map_err(|e| KubeError::Config(format!("bad API URL {url}: {e}")))?;
        Ok(Self::new(kube::Config::new(uri), impersonate))
    }

    /// Resolves the configured mode; `Ok(None)` when `auto` finds no cluster.
    pub async fn from_mode(mode: &KubeMode, impersonate: bool) -> Result<Option<Self>, KubeError> {
        let config = match mode {
            KubeMode::Disabled => return Ok(None),
            KubeMode::Auto => match kube::Config::infer().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(error = %e, "no Kubernetes configuration found");
                    return Ok(None);
                }
            },
            KubeMode::InCluster => {
                kube::Config::incluster().map_err(|e| KubeError::Config(e.to_string()))?
            }
            KubeMode::Kubeconfig { path, context } => {
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..Default::default()
                };
                let kubeconfig = match path {
                    Some(p) => Kubeconfig::read_from(p),
                    None => Kubeconfig::read(),
                }
                .map_err(|e| KubeError::Config(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| KubeError::Config(e.to_string()))?
            }
        };
        Ok(Some(Self::new(config, impersonate)))
    }

    pub fn url(&self) -> String {
        self.base.cluster_url.to_string()
    }

    /// A client acting as `actor` (when impersonation is on).
    pub fn client_for(&self, actor: &Actor) -> Result<kube::Client, KubeError> {
        let key: Identity = if self.impersonate {
            (actor.id.to_string(), actor.groups.clone())
        } else {
            (String::new(), Vec::new())
        };
        let mut cache = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let mut config = (*self.base).clone();
        if self.impersonate {
            config.auth_info.impersonate = Some(key.0.clone());
            config.auth_info.impersonate_groups = (!key.1.is_empty()).then(|| key.1.clone());
        }
        let client =
            kube::Client::try_from(config).map_err(|e| KubeError::Client(e.to_string()))?;
        if cache.len() >= CLIENT_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }

    /// Turns a kube error into one a chat user can read.
    pub fn explain(&self, actor: &Actor, err: kube::Error) -> KubeError {
        match err {
            kube::Error::Api(s) if s.code == 403 => KubeError::Forbidden {
                user: actor.id.to_string(),
                message: s.message,
            },
            kube::Error::Api(s) => KubeError::Api {
                code: s.code,
                reason: s.reason,
                message: s.message,
            },
            other => KubeError::Unreachable {
                url: self.url(),
                message: other.to_string(),
            },
        }
    }
}

/// The HTTP status of an API error, if it is one.
pub fn api_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
