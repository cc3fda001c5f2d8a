//! Builds a running platbot from a [`Config`]: store, catalog, cluster (or the
//! sandbox), planner, actions and approval policy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::actions::ToolSpec;
use crate::actions::{Registry, all_tools};
use crate::approval::{ActionPolicy, ApprovalPolicy, Approvals};
use crate::config::{ClusterRef, KubeMode};
use crate::config::{Config, LlmSettings};
use crate::domain::Environment;
use crate::engine::LlmAgent;
use crate::engine::alias::AliasTable;
use crate::engine::{AliasPlanner, Engine, EngineParts, Limits, Memory};
use crate::platform::argocd::ArgoCd;
use crate::platform::catalog::{Catalog, CatalogError, fetch_backstage};
use crate::platform::golden_path::{GoldenPaths, TemplateError};
use crate::platform::kube::{GroupScope, KubeIdentity};
use crate::platform::oncall::{OnCall, OnCallError};
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
    #[error("on-call: {0}")]
    OnCall(#[from] crate::platform::oncall::OnCallError),
    #[error("argo cd: {0}")]
    ArgoCd(#[from] crate::platform::http::HttpError),
    #[error("llm: {0}")]
    Llm(#[from] crate::engine::llm::LlmSetupError),
}

/// Reading the whole catalog at start may take a while on a big Backstage.
const BACKSTAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Run against the in-process Kubernetes API double, seeded with sample teams and services.
    pub sandbox: bool,
    /// Serve the sandbox's Kubernetes API on this address (for kubectl); loopback port 0 otherwise.
    pub sandbox_listen: Option<SocketAddr>,
    /// The sandbox's API enforces RBAC on impersonated requests (`--sandbox` does; tests that
    /// act across teams leave it off).
    pub sandbox_rbac: bool,
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

/// The LLM planner over `tools`, with the prompts from `[llm] prompts_dir`.
pub fn llm_agent(
    settings: &LlmSettings,
    tools: Vec<ToolSpec>,
    aliases: &AliasTable,
    catalog: Arc<Catalog>,
    environments: &[Environment],
) -> Result<LlmAgent, StartupError> {
    let agent = LlmAgent::new(settings, tools, aliases, catalog, environments)?;
    tracing::info!(model = %settings.model, base_url = %settings.base_url, "LLM planner on; the alias planner is its fallback");
    Ok(agent)
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

/// The on-call providers: `[oncall] schedule_file` (the sandbox's built-in one when unset in
/// sandbox mode), PagerDuty and Opsgenie when configured.
pub fn oncall(config: &Config, sandbox: bool) -> Result<OnCall, StartupError> {
    use crate::platform::oncall::ScheduleFile;
    let schedule = match &config.oncall.schedule_file {
        Some(path) => Some(ScheduleFile::load(path).map_err(OnCallError::from)?),
        None if sandbox => Some(ScheduleFile::sandbox()),
        None => None,
    };
    Ok(OnCall::new(config.oncall.clone(), schedule)?)
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

/// The groups platbot may impersonate: the catalog's teams (under `[kubernetes] group_prefix`)
/// and the configured `[groups]`.
pub fn group_scope(config: &Config, catalog: &Catalog) -> GroupScope {
    GroupScope::new(
        config.kubernetes.group_prefix.clone(),
        catalog.teams().map(|t| t.name.to_string()),
        config.groups.keys().cloned(),
    )
}

/// The provisioner identity: `[kubernetes.provisioner]`, else the seeded one in the sandbox.
pub fn provisioner(config: &Config, sandbox: bool) -> Option<KubeIdentity> {
    match &config.kubernetes.provisioner {
        Some(p) => Some(KubeIdentity {
            user: p.user.clone(),
            groups: p.groups.clone(),
        }),
        None if sandbox => Some(KubeIdentity {
            user: crate::sandbox::seed::PROVISIONER_USER.to_owned(),
            groups: Vec::new(),
        }),
        None => None,
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

/// The docs index under the data dir. A bad source stops nothing: it is logged and
/// `search_docs` says the index is unavailable; a missing index is built on first use.
pub async fn docs_index(config: &Config) -> Option<Arc<crate::knowledge::DocsIndex>> {
    match crate::knowledge::DocsIndex::open(&config.knowledge, &config.data_dir).await {
        Ok(index) => Some(Arc::new(index)),
        Err(e) => {
            tracing::warn!(error = %e, "docs index unavailable");
            None
        }
    }
}

pub async fn build(config: Config, opts: &StartOptions) -> Result<App, StartupError> {
    let store = Store::connect(&config.store, &config.data_dir).await?;
    match store.prune(&config.retention, jiff::Timestamp::now()).await {
        Ok((0, 0)) => {}
        Ok((turns, audit)) => tracing::info!(turns, audit, "retention: old records deleted"),
        Err(e) => tracing::warn!(error = %e, "retention: could not delete old records"),
    }
    let mut catalog = catalog(&config, opts.sandbox)?;
    if let Some(backstage) = &config.backstage {
        catalog.merge(fetch_backstage(backstage, BACKSTAGE_TIMEOUT).await?);
    }
    let catalog = Arc::new(catalog);

    let environments: Vec<_> = config.environments.iter().map(|e| e.name.clone()).collect();
    let (clusters, sandbox) = if opts.sandbox {
        let api = crate::sandbox::seeded_with_group_prefix(&config.kubernetes.group_prefix)
            .with_rbac(opts.sandbox_rbac);
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

    let scope = group_scope(&config, &catalog);
    let provisioner = provisioner(&config, opts.sandbox);
    let clusters = clusters
        .into_iter()
        .map(|(env, slot)| {
            let slot = match slot {
                ClusterSlot::Ready(c) => ClusterSlot::Ready(
                    c.with_scope(scope.clone())
                        .with_provisioner(provisioner.clone()),
                ),
                other => other,
            };
            (env, slot)
        })
        .collect();
    let platform = Arc::new(Platform {
        catalog: Arc::clone(&catalog),
        environments,
        clusters,
        golden_paths: GoldenPaths::load(&config.tools_dir)?,
        docs: docs_index(&config).await,
        oncall: Arc::new(oncall(&config, opts.sandbox)?),
        argocd: config
            .argocd
            .as_ref()
            .map(ArgoCd::new)
            .transpose()?
            .map(Arc::new),
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
    let registry = Registry::standard();
    // The model is offered exactly what this build can run.
    let llm = match &config.llm {
        Some(settings) => Some(Arc::new(llm_agent(
            settings,
            registry.specs(),
            &aliases,
            Arc::clone(&catalog),
            &platform.environments,
        )?)),
        None => None,
    };
    if let Some(agent) = llm
        .as_ref()
        .filter(|_| config.llm.as_ref().is_some_and(|l| l.warm_up))
    {
        // In the background: startup does not wait on the model, and a down endpoint only logs.
        let agent = Arc::clone(agent);
        tokio::spawn(async move { agent.warm_up().await });
    }
    let planner = AliasPlanner::new(all_tools(), aliases, Arc::clone(&catalog));
    let mut engine = Engine::new(EngineParts {
        planner: Arc::new(planner),
        registry,
        approvals,
        memory: Memory::new(store.clone(), config.memory_max_tokens),
        store,
        platform,
        groups: config.groups.clone(),
        limits: Limits {
            max_message_chars: config.max_message_chars,
        },
    });
    if let Some(agent) = llm {
        engine = engine.with_llm(agent);
    }
    Ok(App {
        engine: Arc::new(engine),
        config,
        sandbox,
    })
}
