//! Builds a running platbot from a [`Config`]: store, catalog, cluster (or the
//! sandbox), planner, actions and approval policy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::actions::golden_path::{GoldenPaths, TemplateError};
use crate::actions::{Registry, all_tools};
use crate::approval::{ActionPolicy, ApprovalPolicy, Approvals};
use crate::config::Config;
use crate::config::{ClusterRef, KubeMode};
use crate::domain::Environment;
use crate::engine::alias::AliasTable;
use crate::engine::{AliasPlanner, Engine, EngineParts, Limits, Memory};
use crate::platform::catalog::{Catalog, CatalogError};
use crate::platform::{Cluster, ClusterSlot, KubeError, Platform};
use crate::sandbox::{KubeApiDouble, RunningDouble, SandboxError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Kube(#[from] KubeError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("tools: {0}")]
    Tools(String),
}

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Run against the in-process Kubernetes API double, seeded with sample teams and services.
    pub sandbox: bool,
    /// Serve the sandbox's Kubernetes API on this address (for kubectl); loopback port 0 otherwise.
    pub sandbox_listen: Option<SocketAddr>,
}

pub struct App {
    pub engine: Arc<Engine>,
    pub config: Config,
    /// The sandbox cluster, when running with `--sandbox`.
    pub sandbox: Option<Sandbox>,
}

pub struct Sandbox {
    pub api: KubeApiDouble,
    pub running: RunningDouble,
}

/// The planner's view of the tools: patterns from `tools/*.yaml`, or the built-in ones.
pub fn alias_planner(config: &Config, catalog: Arc<Catalog>) -> Result<AliasPlanner, StartupError> {
    Ok(AliasPlanner::new(
        all_tools(),
        alias_table(config)?,
        catalog,
    ))
}

/// The catalog from the configured paths; the sample catalog in the sandbox when none are set.
pub fn catalog(config: &Config, sandbox: bool) -> Result<Catalog, StartupError> {
    if config.catalog_paths.is_empty() {
        return Ok(if sandbox {
            Catalog::sandbox()
        } else {
            Catalog::from_yaml_str("", "(no catalog configured)")?
        });
    }
    Ok(Catalog::load(&config.catalog_paths)?)
}

/// Per-action policy overrides from the `policy:` blocks of `tools/*.yaml`.
pub fn action_policies(aliases: &AliasTable) -> HashMap<String, ActionPolicy> {
    aliases
        .iter()
        .filter_map(|t| t.policy.clone().map(|p| (t.name.clone(), p)))
        .collect()
}

/// The tool files: `tools/*.yaml` when the folder exists, else the built-in copies.
pub fn alias_table(config: &Config) -> Result<AliasTable, StartupError> {
    if config.tools_dir.is_dir() {
        AliasTable::load_dir(&config.tools_dir).map_err(|e| StartupError::Tools(e.to_string()))
    } else {
        Ok(AliasTable::builtin())
    }
}

/// Each environment's cluster. Startup does not fail on one bad cluster: the
/// environment answers with the reason and the others keep working.
async fn clusters(config: &Config) -> HashMap<Environment, ClusterSlot> {
    let impersonate = config.kubernetes.impersonate;
    let default = Cluster::from_mode(&config.kubernetes.mode, impersonate).await;
    let mut out = HashMap::new();
    for env in &config.environments {
        let found = match &env.cluster {
            ClusterRef::Default => match &default {
                Ok(c) => Ok(c.clone()),
                Err(e) => Err(e.to_string()),
            },
            ClusterRef::InCluster => Cluster::from_mode(&KubeMode::InCluster, impersonate)
                .await
                .map_err(|e| e.to_string()),
            ClusterRef::Kubeconfig { path, context } => {
                let mode = KubeMode::Kubeconfig {
                    path: path.clone(),
                    context: context.clone(),
                };
                Cluster::from_mode(&mode, impersonate)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        match found {
            Ok(Some(cluster)) => {
                out.insert(env.name.clone(), ClusterSlot::Ready(cluster));
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(environment = %env.name, %reason, "cluster unavailable");
                out.insert(env.name.clone(), ClusterSlot::Unavailable(reason));
            }
        }
    }
    out
}

pub async fn build(config: Config, opts: &StartOptions) -> Result<App, StartupError> {
    let store = Store::open_in(&config.data_dir).await?;
    let catalog = Arc::new(catalog(&config, opts.sandbox)?);

    let environments: Vec<_> = config.environments.iter().map(|e| e.name.clone()).collect();
    let (clusters, sandbox) = if opts.sandbox {
        let api = KubeApiDouble::seeded();
        let addr = opts
            .sandbox_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let running = api.serve(addr).await?;
        let cluster = Cluster::from_url(&running.url, config.kubernetes.impersonate)?;
        let clusters = environments
            .iter()
            .map(|e| (e.clone(), ClusterSlot::Ready(cluster.clone())))
            .collect();
        (clusters, Some(Sandbox { api, running }))
    } else {
        (clusters(&config).await, None)
    };

    let platform = Arc::new(Platform {
        catalog: Arc::clone(&catalog),
        environments,
        clusters,
        golden_paths: GoldenPaths::load(&config.tools_dir)?,
    });
    let aliases = alias_table(&config)?;
    let policy = ApprovalPolicy {
        requester_may_confirm: config.approval.requester_may_confirm,
        approver_groups: config.approval.approver_groups.clone(),
        second_approver_environments: config.approval.second_approver_environments.clone(),
        per_action: action_policies(&aliases),
    };
    let approvals = Approvals::new(store.clone(), policy, config.approval.ttl);
    let interrupted = approvals.recover_interrupted().await.map_err(|e| match e {
        crate::approval::ApprovalError::Store(s) => StartupError::Store(s),
        other => StartupError::Tools(other.to_string()),
    })?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "proposals interrupted by a restart were marked failed"
        );
    }
    let planner = AliasPlanner::new(all_tools(), aliases, Arc::clone(&catalog));
    let engine = Engine::new(EngineParts {
        planner: Arc::new(planner),
        registry: Registry::standard(),
        approvals,
        memory: Memory::new(store.clone(), config.memory_max_tokens),
        store,
        platform,
        groups: config.groups.clone(),
        limits: Limits {
            max_message_chars: config.max_message_chars,
        },
    });
    Ok(App {
        engine: Arc::new(engine),
        config,
        sandbox,
    })
}
