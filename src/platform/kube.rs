//! Kubernetes access, as the person asking: every client impersonates the mapped
//! user and groups, so the cluster's own RBAC decides what they may do. Groups are scoped:
//! only catalog teams (under the configured prefix) and the configured `[groups]` are ever
//! impersonated, never a `system:` group. Provisioning (the namespace golden path) runs as
//! the configured provisioner identity instead, after the approval policy has said yes.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::KubeMode;
use crate::domain::Actor;

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

/// Groups reserved to the API server (`system:masters` is cluster-admin): never impersonated.
pub const RESERVED_GROUP_PREFIX: &str = "system:";

/// Who a client acts as on the cluster: the impersonated user and groups.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubeIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

impl std::fmt::Display for KubeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.groups.is_empty() {
            write!(f, "`{}`", self.user)
        } else {
            write!(f, "`{}` (groups {})", self.user, self.groups.join(", "))
        }
    }
}

/// Which groups may be impersonated: catalog teams, as `<prefix><team>`, and the configured
/// `[groups]` as they are named. Anything else an actor is in is dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupScope {
    prefix: String,
    teams: BTreeSet<String>,
    configured: BTreeSet<String>,
}

impl GroupScope {
    pub fn new(
        prefix: impl Into<String>,
        teams: impl IntoIterator<Item = String>,
        configured: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            prefix: prefix.into(),
            teams: teams.into_iter().collect(),
            configured: configured.into_iter().collect(),
        }
    }

    /// The cluster group of a catalog team (`platbot:team:payments` with that prefix).
    pub fn team_group(&self, team: &str) -> String {
        format!("{}{team}", self.prefix)
    }

    /// Every group this scope may impersonate, sorted (the `resourceNames` of the ClusterRole).
    pub fn groups(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = self.teams.iter().map(|t| self.team_group(t)).collect();
        all.extend(self.configured.iter().cloned());
        all.retain(|g| !g.starts_with(RESERVED_GROUP_PREFIX));
        all.into_iter().collect()
    }

    /// An actor's groups as the cluster knows them: teams prefixed, configured groups kept,
    /// the rest (and every `system:` group, whatever the configuration says) dropped.
    pub fn map(&self, groups: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for group in groups {
            let mapped = if self.teams.contains(group) {
                self.team_group(group)
            } else if self.configured.contains(group) {
                group.clone()
            } else {
                continue;
            };
            if !mapped.starts_with(RESERVED_GROUP_PREFIX) && !out.contains(&mapped) {
                out.push(mapped);
            }
        }
        out
    }
}

/// One cluster: the base config, and clients per impersonated identity.
#[derive(Clone)]
pub struct Cluster {
    /// Shared: one cluster often serves several environments.
    base: Arc<kube::Config>,
    impersonate: bool,
    scope: Arc<GroupScope>,
    provisioner: Option<KubeIdentity>,
    clients: Arc<Mutex<HashMap<Option<KubeIdentity>, kube::Client>>>,
}

/// What the cluster answered to "may this identity do that?" (a SelfSubjectAccessReview).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub allowed: bool,
    /// The authorizer's reason, when it gave one.
    pub reason: Option<String>,
}

/// More cached identities than this and the cache starts over (clients are cheap to rebuild).
const CLIENT_CACHE_LIMIT: usize = 256;

impl Cluster {
    pub fn new(base: kube::Config, impersonate: bool) -> Self {
        Self {
            base: Arc::new(base),
            impersonate,
            scope: Arc::default(),
            provisioner: None,
            clients: Arc::default(),
        }
    }

    /// Impersonates only the groups `scope` allows.
    pub fn with_scope(mut self, scope: GroupScope) -> Self {
        self.scope = Arc::new(scope);
        self.clients = Arc::default();
        self
    }

    /// Provisioning actions run as `identity` (see [`Cluster::provisioner`]).
    pub fn with_provisioner(mut self, identity: Option<KubeIdentity>) -> Self {
        self.provisioner = identity;
        self
    }

    pub fn scope(&self) -> &GroupScope {
        &self.scope
    }

    /// Who runs a provisioning action (the namespace golden path): the configured provisioner,
    /// else the requester. `None` when impersonation is off: platbot's own credentials act.
    pub fn provisioner_for(&self, requester: &Actor) -> Option<KubeIdentity> {
        if !self.impersonate {
            return None;
        }
        Some(
            self.provisioner
                .clone()
                .unwrap_or_else(|| self.identity_of(requester)),
        )
    }

    /// Whether a provisioner identity is configured (else provisioning runs as the requester).
    pub fn has_provisioner(&self) -> bool {
        self.provisioner.is_some()
    }

    /// The identity a client for `actor` impersonates: the user and their scoped groups.
    pub fn identity_of(&self, actor: &Actor) -> KubeIdentity {
        KubeIdentity {
            user: actor.id.to_string(),
            groups: self.scope.map(&actor.groups),
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
        let identity = self.impersonate.then(|| self.identity_of(actor));
        self.client_as(identity.as_ref())
    }

    /// A client impersonating `identity` (`None`: platbot's own credentials). Groups outside
    /// the reserved `system:` space only, whoever built the identity.
    pub fn client_as(&self, identity: Option<&KubeIdentity>) -> Result<kube::Client, KubeError> {
        let key = identity.map(|i| KubeIdentity {
            user: i.user.clone(),
            groups: i
                .groups
                .iter()
                .filter(|g| !g.starts_with(RESERVED_GROUP_PREFIX))
                .cloned()
                .collect(),
        });
        let mut cache = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let mut config = (*self.base).clone();
        if let Some(who) = &key {
            config.auth_info.impersonate = Some(who.user.clone());
            config.auth_info.impersonate_groups =
                (!who.groups.is_empty()).then(|| who.groups.clone());
        }
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| KubeError::Client(e.to_string()))?
            .with_layer(&crate::telemetry::KubeMetricsLayer)
            .build();
        if cache.len() >= CLIENT_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }

    /// Asks the cluster whether `identity` may do `attributes` (a SelfSubjectAccessReview sent
    /// as that identity).
    pub async fn access(
        &self,
        identity: Option<&KubeIdentity>,
        attributes: ResourceAttributes,
    ) -> Result<Access, KubeError> {
        let client = self.client_as(identity)?;
        let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(attributes),
                ..Default::default()
            },
            ..Default::default()
        };
        // An access review asks the API server a question; it changes nothing.
        #[allow(clippy::disallowed_methods)]
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| self.explain_as(identity, e))?;
        let status = answer.status.unwrap_or_default();
        Ok(Access {
            allowed: status.allowed,
            reason: status.reason.filter(|r| !r.is_empty()),
        })
    }

    /// Turns a kube error into one a chat user can read.
    pub fn explain(&self, actor: &Actor, err: kube::Error) -> KubeError {
        let identity = self.impersonate.then(|| self.identity_of(actor));
        self.explain_as(identity.as_ref(), err)
    }

    /// [`Cluster::explain`] for a request made as `identity` (`None`: platbot itself).
    pub fn explain_as(&self, identity: Option<&KubeIdentity>, err: kube::Error) -> KubeError {
        match err {
            kube::Error::Api(s) if s.code == 403 => KubeError::Forbidden {
                user: identity.map_or_else(
                    || "platbot's own service account".to_owned(),
                    |i| i.user.clone(),
                ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn scope() -> GroupScope {
        GroupScope::new(
            "platbot:team:",
            ["payments".to_owned(), "checkout".to_owned()],
            ["platform".to_owned()],
        )
    }

    #[test]
    fn only_teams_and_configured_groups_are_impersonated_never_system_ones() {
        let groups: Vec<String> = ["payments", "platform", "system:masters", "somebody-else"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(scope().map(&groups), ["platbot:team:payments", "platform"]);
        assert_eq!(
            scope().groups(),
            ["platbot:team:checkout", "platbot:team:payments", "platform"]
        );
        // A configured group in the reserved space is dropped here too (config refuses it first).
        let careless = GroupScope::new("", Vec::new(), ["system:masters".to_owned()]);
        assert!(careless.map(&["system:masters".to_owned()]).is_empty());
        assert!(careless.groups().is_empty());
    }

    #[test]
    fn clients_impersonate_the_scoped_identity_and_the_provisioner_runs_the_golden_path() {
        let cluster = Cluster::from_url("http://127.0.0.1:9", true)
            .expect("cluster")
            .with_scope(scope());
        let actor = Actor {
            id: UserId::parse("priya.nair").expect("user"),
            groups: vec!["payments".into(), "system:masters".into()],
            via: None,
        };
        let identity = cluster.identity_of(&actor);
        assert_eq!(identity.groups, ["platbot:team:payments"]);
        // Without a provisioner the requester runs it; with one, the provisioner does.
        assert_eq!(cluster.provisioner_for(&actor), Some(identity));
        let provisioner = KubeIdentity {
            user: "platbot-provisioner".into(),
            groups: vec![],
        };
        let cluster = cluster.with_provisioner(Some(provisioner.clone()));
        assert_eq!(cluster.provisioner_for(&actor), Some(provisioner));
        // Impersonation off: platbot's own credentials, for everyone.
        let plain = Cluster::from_url("http://127.0.0.1:9", false).expect("cluster");
        assert_eq!(plain.provisioner_for(&actor), None);
    }
}
