//! Typed configuration: one TOML file plus a few environment overrides, validated at start.
//! Secrets are never inline: the file names the environment variable that holds each one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::{Environment, NameError, UserId, UserIdError};

mod discord;
mod http;
mod integrations;
mod knowledge;
mod kubernetes;
mod llm;
mod slack;
mod store;
pub use discord::{DISCORD_INTENTS, DiscordId, DiscordIntent, DiscordSettings};
pub use http::{
    ActsAs, DEFAULT_LISTEN, HttpClient, HttpLimits, HttpSettings, OidcSettings, token_digest,
};
pub use integrations::{
    ArgoCdSettings, BackstageSettings, OnCallProviderKind, OnCallSettings, ProviderApi, TeamOnCall,
    check_timezone,
};
pub use knowledge::{
    DEFAULT_DENSE_WEIGHT, DocSourceSettings, EmbeddingRoles, EmbeddingSettings, KnowledgeSettings,
    QdrantSettings,
};
pub use kubernetes::ProvisionerSettings;
pub use llm::{Answers, ClassifierRole, LlmSettings};
use llm::{RawLlm, llm_settings, llm_summary};
pub use slack::{DEFAULT_SLACK_API_URL, SlackMode, SlackSettings};
use slack::{RawSlack, slack_settings, slack_summary};
pub use store::{PostgresSettings, StoreSettings};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("config: {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("config: environment variable {var} (named by {field}) is not set or is empty")]
    MissingSecret { field: String, var: String },
}

fn invalid(field: impl Into<String>, message: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.to_string(),
    }
}

/// How the config reads the environment (tests pass their own).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A secret from the variable `var` that `field` names. Unset, empty or blank is an error: an
/// empty API token must never mean "no token needed". Secrets go into HTTP headers, so what a
/// header cannot carry is refused too.
fn secret(field: &str, var: &str, env: Env<'_>) -> Result<Secret, ConfigError> {
    let value =
        env(var)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ConfigError::MissingSecret {
                field: field.to_owned(),
                var: var.to_owned(),
            })?;
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(
            field,
            format!("${var} holds characters an HTTP header cannot carry"),
        ));
    }
    Ok(Secret::new(value))
}

/// The file as written. Every field has a default so an empty file is valid.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    store: store::RawStore,
    tools_dir: Option<PathBuf>,
    environments: BTreeMap<String, RawEnvironment>,
    catalog: RawCatalog,
    kubernetes: RawKubernetes,
    approval: RawApproval,
    http: http::RawHttp,
    memory: RawMemory,
    retention: RawRetention,
    groups: BTreeMap<String, Vec<String>>,
    slack: Option<RawSlack>,
    discord: Option<discord::RawDiscord>,
    llm: Option<RawLlm>,
    oncall: integrations::RawOnCall,
    argocd: Option<integrations::RawArgoCd>,
    knowledge: knowledge::RawKnowledge,
}

/// `[environments.<name>]`: where that environment's cluster is.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawEnvironment {
    kube_context: Option<String>,
    kubeconfig: Option<PathBuf>,
    in_cluster: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCatalog {
    paths: Vec<PathBuf>,
    /// A Backstage backend to read entities from as well (`/api/catalog/entities`).
    backstage_url: Option<String>,
    token_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawKubernetes {
    mode: Option<String>,
    context: Option<String>,
    kubeconfig: Option<PathBuf>,
    impersonate: Option<bool>,
    group_prefix: Option<String>,
    provisioner: Option<kubernetes::RawProvisioner>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawApproval {
    ttl_minutes: Option<u32>,
    requester_may_confirm: Option<bool>,
    approver_groups: Vec<String>,
    second_approver_environments: Vec<String>,
}

/// `[retention]`: how long thread memory and the audit log are kept (days; 0 keeps forever).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRetention {
    thread_days: Option<u32>,
    audit_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawMemory {
    max_tokens: Option<usize>,
    max_message_chars: Option<usize>,
}

/// How platbot reaches Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeMode {
    /// The current kube context if there is one, else in-cluster config, else none.
    Auto,
    /// A kubeconfig file (and optionally a context in it).
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    InCluster,
    Disabled,
}

/// Which cluster serves an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterRef {
    /// The cluster `[kubernetes]` describes.
    Default,
    /// A kubeconfig (the default one when `path` is `None`) and a context in it.
    Kubeconfig {
        path: Option<PathBuf>,
        context: Option<String>,
    },
    InCluster,
}

#[derive(Debug, Clone)]
pub struct EnvironmentSettings {
    pub name: Environment,
    pub cluster: ClusterRef,
}

#[derive(Debug, Clone)]
pub struct KubeSettings {
    pub mode: KubeMode,
    /// Act as the asking user (Impersonate-User/-Group), so the cluster's RBAC decides.
    pub impersonate: bool,
    /// Put before a catalog team's name to make its cluster group (`platbot:team:`); empty: none.
    pub group_prefix: String,
    /// Who runs the namespace golden path; `None`: the requester (the sandbox seeds one).
    pub provisioner: Option<ProvisionerSettings>,
}

/// How long the store keeps what it does not need forever; `None` keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Thread memory (messages and planner state) of conversations idle this long.
    pub thread_days: Option<u32>,
    /// Audit entries older than this.
    pub audit_days: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ApprovalSettings {
    pub ttl: jiff::SignedDuration,
    pub requester_may_confirm: bool,
    pub approver_groups: Vec<String>,
    pub second_approver_environments: Vec<Environment>,
}

/// A secret read from the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Where proposals, the audit log and thread memory live.
    pub store: StoreSettings,
    pub tools_dir: PathBuf,
    /// In display order: dev, staging, prod, then the others by name.
    pub environments: Vec<EnvironmentSettings>,
    pub catalog_paths: Vec<PathBuf>,
    pub kubernetes: KubeSettings,
    pub approval: ApprovalSettings,
    pub http: HttpSettings,
    /// Settings that work but are risky or pointless, for `check-config` and the start log.
    pub warnings: Vec<String>,
    pub retention: RetentionSettings,
    /// Thread memory budget, in tokens (cl100k_base).
    pub memory_max_tokens: usize,
    /// Messages longer than this are refused with a clear reply.
    pub max_message_chars: usize,
    /// Extra group memberships (group -> users), merged with the catalog's.
    pub groups: BTreeMap<String, Vec<UserId>>,
    /// Slack, when `[slack]` is present or `SLACK_BOT_TOKEN` is set.
    pub slack: Option<SlackSettings>,
    /// Discord, when `[discord]` is present or `DISCORD_TOKEN` is set.
    pub discord: Option<DiscordSettings>,
    /// The LLM planner; `None`: the alias planner only.
    pub llm: Option<LlmSettings>,
    /// On-call providers: the schedule file, PagerDuty, Opsgenie, and per-team overrides.
    pub oncall: OnCallSettings,
    /// Argo CD, for Application sync and health in status replies.
    pub argocd: Option<ArgoCdSettings>,
    /// A Backstage backend the catalog is also read from.
    pub backstage: Option<BackstageSettings>,
    /// The docs index: sources, store, embeddings.
    pub knowledge: KnowledgeSettings,
}

impl Config {
    /// Loads the file at `path` (or defaults when `None`), then applies `PLATBOT_*` overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let raw = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str::<RawConfig>(&text).map_err(|source| ConfigError::Parse {
                    path: p.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => RawConfig::default(),
        };
        Self::from_raw(raw, path.map(Path::to_owned), &|k| std::env::var(k).ok())
    }

    /// Parses a TOML string with the given environment lookup (tests pass their own).
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw = toml::from_str::<RawConfig>(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            source: Box::new(source),
        })?;
        Self::from_raw(raw, None, env)
    }

    fn from_raw(
        raw: RawConfig,
        source: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let data_dir = env("PLATBOT_DATA_DIR")
            .map(PathBuf::from)
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from(".platbot"));
        let store = store::store_settings(raw.store, env)?;
        let tools_dir = raw.tools_dir.unwrap_or_else(|| PathBuf::from("tools"));

        let environments = environments(raw.environments)?;

        let kubernetes = KubeSettings {
            mode: kube_mode(&raw.kubernetes)?,
            impersonate: raw.kubernetes.impersonate.unwrap_or(true),
            group_prefix: kubernetes::group_prefix(raw.kubernetes.group_prefix)?,
            provisioner: kubernetes::provisioner(raw.kubernetes.provisioner)?,
        };

        let ttl_minutes = raw.approval.ttl_minutes.unwrap_or(15);
        if ttl_minutes == 0 || ttl_minutes > 24 * 60 {
            return Err(invalid(
                "approval.ttl_minutes",
                "must be between 1 and 1440",
            ));
        }
        let approval = ApprovalSettings {
            ttl: jiff::SignedDuration::from_mins(i64::from(ttl_minutes)),
            requester_may_confirm: raw.approval.requester_may_confirm.unwrap_or(true),
            approver_groups: raw.approval.approver_groups,
            second_approver_environments: parse_all(
                "approval.second_approver_environments",
                &raw.approval.second_approver_environments,
                Environment::parse,
            )?,
        };

        let mut warnings = Vec::new();
        let http = http::http_settings(raw.http, env, &mut warnings)?;
        if !approval.second_approver_environments.is_empty()
            && approval.approver_groups.is_empty()
            && !approval.requester_may_confirm
        {
            warnings.push(
                "[approval] second_approver_environments without approver_groups while the requester may not confirm: proposals there can never be confirmed".to_owned(),
            );
        } else if !approval.second_approver_environments.is_empty()
            && approval.approver_groups.is_empty()
        {
            warnings.push(
                "[approval] second_approver_environments without approver_groups: only the requester may confirm, so changes there can never get a second approver; add approver_groups".to_owned(),
            );
        }

        let mut groups = BTreeMap::new();
        for (group, members) in raw.groups {
            // Configured groups are impersonated as named: never a system group.
            kubernetes::check_group(&format!("groups.{group}"), &group)?;
            let users = parse_all(&format!("groups.{group}"), &members, |m| {
                UserId::parse(m).map_err(|e: UserIdError| e.to_string())
            })?;
            groups.insert(group, users);
        }

        let llm = raw.llm.map(|l| llm_settings(l, env)).transpose()?;
        let oncall = integrations::oncall_settings(raw.oncall, env)?;
        let argocd = integrations::argocd_settings(raw.argocd, env)?;
        let knowledge = knowledge::knowledge_settings(raw.knowledge, env)?;
        let backstage = integrations::backstage_settings(
            raw.catalog.backstage_url,
            raw.catalog.token_env,
            env,
        )?;

        Ok(Config {
            source,
            data_dir,
            store,
            tools_dir,
            environments,
            catalog_paths: raw.catalog.paths,
            kubernetes,
            approval,
            http,
            warnings,
            retention: RetentionSettings {
                thread_days: Some(raw.retention.thread_days.unwrap_or(90)).filter(|d| *d > 0),
                audit_days: raw.retention.audit_days.filter(|d| *d > 0),
            },
            memory_max_tokens: raw.memory.max_tokens.unwrap_or(2000),
            max_message_chars: raw.memory.max_message_chars.unwrap_or(4000),
            groups,
            slack: slack_settings(raw.slack, env)?,
            discord: discord::discord_settings(raw.discord, env)?,
            llm,
            oncall,
            argocd,
            backstage,
            knowledge,
        })
    }

    /// Human-readable summary for `platbot check-config`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let src = self
            .source
            .as_ref()
            .map_or("(defaults, no file)".to_owned(), |p| {
                p.display().to_string()
            });
        out.push_str(&format!("config:        {src}\n"));
        out.push_str(&format!("data dir:      {}\n", self.data_dir.display()));
        out.push_str(&format!(
            "store:         {}\n",
            self.store.describe(&self.data_dir)
        ));
        out.push_str(&format!("tools dir:     {}\n", self.tools_dir.display()));
        let envs: Vec<String> = self
            .environments
            .iter()
            .map(|e| match &e.cluster {
                ClusterRef::Default => e.name.to_string(),
                ClusterRef::InCluster => format!("{} (in-cluster)", e.name),
                ClusterRef::Kubeconfig { path, context } => format!(
                    "{} (context {}{})",
                    e.name,
                    context.as_deref().unwrap_or("current"),
                    path.as_ref()
                        .map_or(String::new(), |p| format!(" in {}", p.display()))
                ),
            })
            .collect();
        out.push_str(&format!("environments:  {}\n", envs.join(", ")));
        let catalog = if self.catalog_paths.is_empty() {
            "none configured (the sandbox uses its built-in catalog)".to_owned()
        } else {
            self.catalog_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("catalog:       {catalog}\n"));
        let kube = match &self.kubernetes.mode {
            KubeMode::Auto => "auto (current kube context, else in-cluster)".to_owned(),
            KubeMode::Kubeconfig { path, context } => format!(
                "kubeconfig {} context {}",
                path.as_ref()
                    .map_or("(default)".to_owned(), |p| p.display().to_string()),
                context.as_deref().unwrap_or("(current)")
            ),
            KubeMode::InCluster => "in-cluster".to_owned(),
            KubeMode::Disabled => "disabled".to_owned(),
        };
        out.push_str(&format!(
            "kubernetes:    {kube}; impersonation {}\n",
            on_off(self.kubernetes.impersonate)
        ));
        out.push_str(&format!(
            "provisioner:   {}; team groups as `{}<team>`\n",
            self.kubernetes.provisioner.as_ref().map_or_else(
                || "none: the golden path runs as the requester".to_owned(),
                |p| format!("{} (groups [{}])", p.user, p.groups.join(", "))
            ),
            self.kubernetes.group_prefix
        ));
        let second: Vec<&str> = self
            .approval
            .second_approver_environments
            .iter()
            .map(Environment::as_str)
            .collect();
        out.push_str(&format!(
            "approval:      proposals expire after {} min; requester may confirm: {}; approver groups: [{}]; second approver in: [{}]\n",
            self.approval.ttl.as_mins(),
            if self.approval.requester_may_confirm { "yes" } else { "no" },
            self.approval.approver_groups.join(", "),
            second.join(", ")
        ));
        out.push_str(&format!("http:          {}\n", http::summary(&self.http)));
        let keep = |d: Option<u32>| d.map_or("forever".to_owned(), |d| format!("{d} days"));
        out.push_str(&format!(
            "retention:     thread memory {}, audit log {}\n",
            keep(self.retention.thread_days),
            keep(self.retention.audit_days)
        ));
        out.push_str(&format!(
            "memory:        {} tokens per thread; messages up to {} characters\n",
            self.memory_max_tokens, self.max_message_chars
        ));
        out.push_str(&format!(
            "slack:         {}\n",
            slack_summary(self.slack.as_ref())
        ));
        out.push_str(&format!(
            "discord:       {}\n",
            discord::summary(self.discord.as_ref())
        ));
        out.push_str(&format!(
            "llm:           {}\n",
            llm_summary(self.llm.as_ref())
        ));
        out.push_str(&integrations::summary(
            &self.oncall,
            self.argocd.as_ref(),
            self.backstage.as_ref(),
        ));
        out.push_str(&knowledge::summary(&self.knowledge));
        out
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn parse_all<T, E: ToString>(
    field: &str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, ConfigError> {
    raw.iter()
        .map(|r| parse(r).map_err(|e| invalid(field, e)))
        .collect()
}

/// The environments, defaulting to dev, staging and prod on the default cluster.
fn environments(
    raw: BTreeMap<String, RawEnvironment>,
) -> Result<Vec<EnvironmentSettings>, ConfigError> {
    let raw = if raw.is_empty() {
        ["dev", "staging", "prod"]
            .into_iter()
            .map(|n| (n.to_owned(), RawEnvironment::default()))
            .collect()
    } else {
        raw
    };
    let mut out = Vec::new();
    for (key, env) in raw {
        let field = format!("environments.{key}");
        let name = Environment::parse(&key).map_err(|e| invalid(&field, e))?;
        if out.iter().any(|e: &EnvironmentSettings| e.name == name) {
            return Err(invalid(
                &field,
                format!("`{key}` is another name for `{name}`, which is already configured"),
            ));
        }
        let cluster = match (
            env.kube_context,
            env.kubeconfig,
            env.in_cluster.unwrap_or(false),
        ) {
            (None, None, false) => ClusterRef::Default,
            (None, None, true) => ClusterRef::InCluster,
            (context, path, false) => ClusterRef::Kubeconfig { path, context },
            (_, _, true) => {
                return Err(invalid(
                    &field,
                    "in_cluster cannot be combined with kube_context or kubeconfig",
                ));
            }
        };
        out.push(EnvironmentSettings { name, cluster });
    }
    let rank = |e: &EnvironmentSettings| match e.name.as_str() {
        "dev" => 0,
        "staging" => 1,
        "prod" => 2,
        _ => 3,
    };
    out.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

fn kube_mode(raw: &RawKubernetes) -> Result<KubeMode, ConfigError> {
    let mode =
        raw.mode
            .as_deref()
            .unwrap_or(if raw.kubeconfig.is_some() || raw.context.is_some() {
                "kubeconfig"
            } else {
                "auto"
            });
    match mode {
        "auto" => Ok(KubeMode::Auto),
        "kubeconfig" => Ok(KubeMode::Kubeconfig {
            path: raw.kubeconfig.clone(),
            context: raw.context.clone(),
        }),
        "in_cluster" | "in-cluster" => Ok(KubeMode::InCluster),
        "disabled" | "off" => Ok(KubeMode::Disabled),
        other => Err(invalid(
            "kubernetes.mode",
            format!("`{other}`: expected auto, kubeconfig, in_cluster or disabled"),
        )),
    }
}

impl From<NameError> for ConfigError {
    fn from(e: NameError) -> Self {
        invalid("name", e)
    }
}

/// Environments for config tests: none, or the given variables.
#[cfg(test)]
pub(crate) mod test_env {
    pub fn no_env(_: &str) -> Option<String> {
        None
    }

    pub fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::test_env::no_env;
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::from_toml("", &no_env).unwrap();
        assert_eq!(c.approval.ttl.as_mins(), 15);
        assert_eq!(c.http.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.environments.len(), 3);
        assert_eq!(c.kubernetes.mode, KubeMode::Auto);
    }

    #[test]
    fn secrets_come_from_the_named_variable() {
        let toml = "[http]\ntoken_env = \"API_TOKEN\"\n";
        let err = Config::from_toml(toml, &no_env).unwrap_err();
        assert!(err.to_string().contains("API_TOKEN"), "{err}");
        let env = |k: &str| (k == "API_TOKEN").then(|| "s3cret-of-sixteen-chars".to_owned());
        let c = Config::from_toml(toml, &env).unwrap();
        assert_eq!(
            c.http.clients[0].token_sha256,
            token_digest("s3cret-of-sixteen-chars")
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (toml, field) in [
            ("[approval]\nttl_minutes = 0\n", "ttl_minutes"),
            ("[kubernetes]\nmode = \"magic\"\n", "kubernetes.mode"),
            ("[http]\nlisten = \"nope\"\n", "http.listen"),
            ("[environments.\"Prod Env\"]\n", "environments"),
            (
                "[environments.prod]\n[environments.production]\n",
                "already configured",
            ),
            (
                "[environments.prod]\nin_cluster = true\nkube_context = \"x\"\n",
                "in_cluster",
            ),
            ("unknown_key = 1\n", "unknown field"),
        ] {
            let err = Config::from_toml(toml, &no_env).unwrap_err().to_string();
            assert!(err.contains(field), "{toml}: {err}");
        }
    }

    #[test]
    fn environments_map_to_clusters() {
        let toml = "[environments.live]\nkube_context = \"prod-eu\"\n[environments.dev]\n[environments.qa]\nin_cluster = true\n";
        let c = Config::from_toml(toml, &no_env).unwrap();
        let names: Vec<&str> = c.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "prod", "qa"]);
        assert_eq!(c.environments[0].cluster, ClusterRef::Default);
        assert_eq!(
            c.environments[1].cluster,
            ClusterRef::Kubeconfig {
                path: None,
                context: Some("prod-eu".into())
            }
        );
        assert_eq!(c.environments[2].cluster, ClusterRef::InCluster);
    }

    #[test]
    fn environment_overrides_win() {
        let env = |k: &str| match k {
            "PLATBOT_LISTEN" => Some("127.0.0.1:9999".to_owned()),
            "PLATBOT_DATA_DIR" => Some("/tmp/pb".to_owned()),
            _ => None,
        };
        let c = Config::from_toml("[http]\nlisten = \"127.0.0.1:1\"\n", &env).unwrap();
        assert_eq!(c.http.listen.port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/pb"));
    }
}
