//! Seed data for the sandbox cluster: the fictional company Larkspur Goods.
//!
//! Six teams, each with `<team>-staging` and `<team>-prod` namespaces and a `<team>-dev` one for
//! checkout, search and identity only (so `payments-dev` does not exist: the demo proposes
//! creating it). Every service of `sandbox/catalog/components.yaml` runs as a Deployment in its
//! team's namespaces, with ReplicaSets per revision, Pods, a Service, Events and pod logs.
//!
//! Five workloads are broken on purpose, for troubleshooting:
//! - `search` in `search-staging`: CrashLoopBackOff (exit 1, a missing env var: its ConfigMap
//!   key was renamed).
//! - `feature-store` in `data-platform-staging`: ImagePullBackOff (the new tag was never pushed).
//! - `ledger` in `payments-prod`: one pod Pending (`0/6 nodes are available: 6 Insufficient memory.`).
//! - `notifications` in `mobile-backend-staging`: containers OOMKilled (exit 137) and restarting.
//! - `recommendations` in `search-prod`: rollout stalled (ProgressDeadlineExceeded, 1 of 3 updated).
//!
//! Everything is built from the tables below; names, uids and hashes are derived from stable
//! inputs, so the same pod has the same name on every run. Timestamps are relative to now.

use jiff::{SignedDuration, Timestamp};
use kube_double::{Seed, SeedLog};
use serde_json::{Value, json};

mod logs;
mod pods;
mod roles;
#[cfg(test)]
mod tests;
mod workload;

use logs::{crash_log, healthy_log, oom_log, stalled_log};

/// Kubernetes writes timestamps to the second, in UTC.
const RFC3339_SECONDS: &str = "%Y-%m-%dT%H:%M:%SZ";

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}
pub use roles::{PLATFORM_GROUP, PROVISIONER_ROLE, PROVISIONER_USER, READ_ROLE};

/// The sandbox objects, namespaces first.
pub fn sandbox_objects() -> Vec<Value> {
    sandbox().objects
}

/// The sandbox objects and the pod logs that go with them.
pub fn sandbox() -> Seed {
    sandbox_with_group_prefix("")
}

/// [`sandbox`] with each team's group named `<prefix><team>`, as `[kubernetes] group_prefix`
/// makes platbot impersonate it.
pub fn sandbox_with_group_prefix(prefix: &str) -> Seed {
    let mut builder = Builder::new(Timestamp::now());
    builder.cluster();
    for team in TEAMS {
        let group = format!("{prefix}{team}");
        for env in Env::ALL {
            if env != Env::Dev || TEAMS_WITH_DEV.contains(team) {
                builder.team_namespace(team, &group, env);
            }
        }
    }
    for service in SERVICES {
        for env in Env::ALL {
            if env != Env::Dev || TEAMS_WITH_DEV.contains(&service.team) {
                builder.workload(service, env);
            }
        }
    }
    builder.seed
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

pub const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "identity",
    "data-platform",
    "mobile-backend",
];
/// Only these teams have a dev namespace.
pub const TEAMS_WITH_DEV: &[&str] = &["checkout", "search", "identity"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Go,
    Java,
    Kotlin,
    Python,
    Node,
}

/// One service. `tags` run oldest to newest: staging (and dev) run the newest, prod the one
/// before it; each tag is a revision with its change-cause.
struct Service {
    name: &'static str,
    team: &'static str,
    lang: Lang,
    prod_replicas: i64,
    memory: &'static str,
    tags: &'static [(&'static str, &'static str)],
}

const SERVICES: &[Service] = &[
    svc(
        "payments-api",
        "payments",
        Lang::Java,
        3,
        "768Mi",
        &[
            ("v2.31.0", "Add 3-D Secure 2.2 challenge flow"),
            ("v2.31.1", "Fix refund idempotency key collisions"),
            ("v2.32.0", "Capture retries with exponential back-off"),
        ],
    ),
    svc(
        "fraud-scoring-worker",
        "payments",
        Lang::Python,
        2,
        "1Gi",
        &[
            ("v0.18.3", "Model fraud-v41"),
            ("v0.18.4", "Model fraud-v42"),
        ],
    ),
    svc(
        "ledger",
        "payments",
        Lang::Go,
        3,
        "6Gi",
        &[
            ("v1.9.0", "Partitioned journal tables"),
            ("v1.9.1", "Faster month-end balance snapshot"),
        ],
    ),
    svc(
        "cart",
        "checkout",
        Lang::Kotlin,
        3,
        "512Mi",
        &[
            ("v3.4.0", "Guest carts survive sign-in"),
            ("v3.4.1", "Redis pipeline for cart reads"),
            ("v3.5.0", "Saved-for-later list"),
        ],
    ),
    svc(
        "checkout-api",
        "checkout",
        Lang::Kotlin,
        3,
        "512Mi",
        &[
            ("v1.14.1", "Order confirmation e-mail via notifications"),
            ("v1.14.2", "Timeout on pricing calls"),
        ],
    ),
    svc(
        "pricing-engine",
        "checkout",
        Lang::Java,
        2,
        "1Gi",
        &[
            ("v5.2.0", "VAT rules 2026"),
            ("v5.2.1", "Promotion stacking fix"),
        ],
    ),
    svc(
        "search",
        "search",
        Lang::Go,
        2,
        "512Mi",
        &[
            ("v2.7.3", "Synonym dictionary reload"),
            ("v2.8.0", "OpenSearch 2.x client"),
            ("v2.8.1", "Read the cluster URL from SEARCH_OPENSEARCH_URL"),
        ],
    ),
    svc(
        "search-indexer",
        "search",
        Lang::Go,
        2,
        "512Mi",
        &[
            ("v1.6.0", "Batch bulk indexing"),
            ("v1.6.1", "Skip tombstoned products"),
        ],
    ),
    svc(
        "recommendations",
        "search",
        Lang::Python,
        3,
        "2Gi",
        &[
            ("v3.1.4", "Cache warm-up on start"),
            ("v3.2.0", "Embeddings model v7"),
            ("v3.3.0", "Diversity re-ranking"),
        ],
    ),
    svc(
        "auth-gateway",
        "identity",
        Lang::Go,
        3,
        "256Mi",
        &[
            ("v4.0.2", "Rotate signing keys weekly"),
            ("v4.1.0", "PKCE for public clients"),
        ],
    ),
    svc(
        "user-profile",
        "identity",
        Lang::Node,
        2,
        "384Mi",
        &[
            ("v2.3.0", "Address validation"),
            ("v2.3.1", "Preference defaults per locale"),
        ],
    ),
    svc(
        "event-ingest",
        "data-platform",
        Lang::Go,
        3,
        "256Mi",
        &[
            ("v1.21.0", "Schema registry lookups cached"),
            ("v1.21.1", "Drop oversized events with a 413"),
        ],
    ),
    svc(
        "feature-store",
        "data-platform",
        Lang::Python,
        2,
        "1Gi",
        &[
            ("v0.12.0", "Redis cluster mode"),
            ("v0.12.1", "Batch feature reads"),
            ("v0.13.0", "Point-in-time lookups"),
        ],
    ),
    svc(
        "notifications",
        "mobile-backend",
        Lang::Node,
        2,
        "256Mi",
        &[
            ("v1.8.0", "SMS provider fail-over"),
            ("v1.8.1", "Batch push sends"),
        ],
    ),
    svc(
        "mobile-bff",
        "mobile-backend",
        Lang::Node,
        3,
        "512Mi",
        &[
            ("v6.2.0", "Wishlist queries"),
            ("v6.2.1", "Persisted queries"),
        ],
    ),
];

const fn svc(
    name: &'static str,
    team: &'static str,
    lang: Lang,
    prod_replicas: i64,
    memory: &'static str,
    tags: &'static [(&'static str, &'static str)],
) -> Service {
    Service {
        name,
        team,
        lang,
        prod_replicas,
        memory,
        tags,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    Dev,
    Staging,
    Prod,
}

impl Env {
    const ALL: [Env; 3] = [Env::Dev, Env::Staging, Env::Prod];

    fn name(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Staging => "staging",
            Env::Prod => "prod",
        }
    }
}

/// The broken workloads, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    CrashLoop,
    ImagePull,
    Unschedulable,
    OomKilled,
    StalledRollout,
}

const TROUBLE: &[(&str, Env, Trouble)] = &[
    ("search", Env::Staging, Trouble::CrashLoop),
    ("feature-store", Env::Staging, Trouble::ImagePull),
    ("ledger", Env::Prod, Trouble::Unschedulable),
    ("notifications", Env::Staging, Trouble::OomKilled),
    ("recommendations", Env::Prod, Trouble::StalledRollout),
];

const NODES: usize = 6;
const NODE_MEMORY: &str = "15791Mi";
const REGISTRY: &str = "registry.example.com";

// ---------------------------------------------------------------------------------------------
// Stable names and ids
// ---------------------------------------------------------------------------------------------

fn fnv(input: &str, salt: u64) -> u64 {
    input.bytes().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A stable v4-shaped uid for an object.
fn uid(key: &str) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv(key, 1).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv(key, 2).to_be_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A stable suffix in the alphabet Kubernetes uses for generated names.
fn suffix(key: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(key, 3);
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize];
            h = (h / ALPHABET.len() as u64) ^ fnv(key, h);
            char::from(c)
        })
        .collect()
}

fn node_name(i: usize) -> String {
    format!(
        "ip-10-42-{}-{}.eu-west-1.compute.internal",
        i / 2 + 1,
        10 + i * 7
    )
}

// ---------------------------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------------------------

struct Builder {
    now: Timestamp,
    seed: Seed,
    pods_placed: usize,
    services: u32,
}

/// One revision of a workload and its ReplicaSet.
struct Revision {
    number: usize,
    tag: &'static str,
    cause: &'static str,
    rs_name: String,
    hash: String,
    age: SignedDuration,
}

/// What one pod looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodState {
    Running,
    CrashLoop,
    ImagePullBackOff,
    Pending,
    OomRestarting(i64),
    NotReady,
}

impl PodState {
    fn ready(self) -> bool {
        matches!(self, PodState::Running | PodState::OomRestarting(_))
    }
}

/// A workload being built: one service in one environment.
struct Workload<'a> {
    service: &'a Service,
    env: Env,
    namespace: String,
    replicas: i64,
    revisions: Vec<Revision>,
    trouble: Option<Trouble>,
}

impl Workload<'_> {
    fn current(&self) -> &Revision {
        &self.revisions[self.revisions.len() - 1]
    }

    fn image(&self, tag: &str) -> String {
        format!(
            "{REGISTRY}/{}/{}:{tag}",
            self.service.team, self.service.name
        )
    }

    fn labels(&self) -> Value {
        json!({
            "app.kubernetes.io/name": self.service.name,
            "app.kubernetes.io/part-of": self.service.team,
            "platform.example.com/team": self.service.team,
            "platform.example.com/environment": self.env.name(),
        })
    }

    /// Pods per revision index, and their states.
    fn pods(&self) -> Vec<(usize, Vec<PodState>)> {
        let (current, previous) = (
            self.revisions.len() - 1,
            self.revisions.len().saturating_sub(2),
        );
        let n = usize::try_from(self.replicas).unwrap_or(1);
        match self.trouble {
            None => vec![(current, vec![PodState::Running; n])],
            Some(Trouble::CrashLoop) => vec![(current, vec![PodState::CrashLoop; n])],
            Some(Trouble::ImagePull) => vec![
                (previous, vec![PodState::Running; n]),
                (current, vec![PodState::ImagePullBackOff]),
            ],
            Some(Trouble::Unschedulable) => {
                let mut states = vec![PodState::Running; n.saturating_sub(1)];
                states.push(PodState::Pending);
                vec![(current, states)]
            }
            Some(Trouble::OomKilled) => vec![(
                current,
                (0..n)
                    .map(|i| PodState::OomRestarting(6 - 2 * i as i64))
                    .collect(),
            )],
            Some(Trouble::StalledRollout) => vec![
                (previous, vec![PodState::Running; n]),
                (current, vec![PodState::NotReady]),
            ],
        }
    }
}

impl Builder {
    fn new(now: Timestamp) -> Self {
        Self {
            now,
            seed: Seed::default(),
            pods_placed: 0,
            services: 0,
        }
    }

    fn at(&self, ago: SignedDuration) -> String {
        (self.now - ago).strftime(RFC3339_SECONDS).to_string()
    }

    fn push(&mut self, obj: Value) {
        self.seed.objects.push(obj);
    }

    fn log(&mut self, namespace: &str, pod: &str, container: &str, previous: bool, text: String) {
        let log = SeedLog {
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
            previous,
            text,
        };
        self.seed.logs.push(log);
    }

    fn meta(&self, name: &str, namespace: Option<&str>, key: &str, ago: SignedDuration) -> Value {
        let mut meta = json!({ "name": name, "uid": uid(key), "creationTimestamp": self.at(ago) });
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        meta
    }

    /// The cluster's own namespaces, nodes and the built-in ClusterRoles (the golden-path
    /// RoleBinding refers to `edit`).
    fn cluster(&mut self) {
        for name in ["default", "kube-system"] {
            let meta = self.meta(name, None, &format!("ns/{name}"), days(420));
            self.push(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta }));
        }
        for i in 0..NODES {
            let node = self.node(i);
            self.push(node);
        }
        for (role, rules, builtin) in roles::cluster_roles() {
            let mut meta = self.meta(role, None, &format!("clusterrole/{role}"), days(420));
            if builtin {
                meta["labels"] = json!({ "kubernetes.io/bootstrapping": "rbac-defaults" });
            }
            let rules = roles::rules_json(&rules);
            self.push(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules }));
        }
        for mut binding in roles::cluster_role_bindings() {
            let name = binding["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let labels = binding["metadata"]["labels"].take();
            let mut meta = self.meta(
                &name,
                None,
                &format!("clusterrolebinding/{name}"),
                days(420),
            );
            meta["labels"] = labels;
            binding["metadata"] = meta;
            self.push(binding);
        }
    }

    fn node(&self, i: usize) -> Value {
        let name = node_name(i);
        let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3];
        let mut meta = self.meta(&name, None, &format!("node/{name}"), days(30 + i as i64));
        meta["labels"] = json!({
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m6i.xlarge", "topology.kubernetes.io/zone": zone,
        });
        let since = self.at(days(30 + i as i64));
        let condition = |kind: &str, status: &str, reason: &str, message: &str| json!({ "type": kind, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": self.at(SignedDuration::from_secs(20)), "lastTransitionTime": since });
        json!({
            "apiVersion": "v1", "kind": "Node", "metadata": meta,
            "spec": { "providerID": format!("aws:///{zone}/i-0{:015x}", fnv(&name, 9) >> 4) },
            "status": {
                "capacity": { "cpu": "4", "memory": "16069Mi", "pods": "58" },
                "allocatable": { "cpu": "3920m", "memory": NODE_MEMORY, "pods": "58" },
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [{ "type": "InternalIP", "address": format!("10.42.{}.{}", i / 2 + 1, 10 + i * 7) }, { "type": "Hostname", "address": name }],
                "nodeInfo": { "kubeletVersion": "v1.35.0", "containerRuntimeVersion": "containerd://2.1.4", "osImage": "Bottlerocket OS 1.44.0 (aws-k8s-1.35)", "architecture": "amd64", "operatingSystem": "linux" }
            }
        })
    }

    /// A team namespace as the golden path makes it: labels, a quota, limits, the team's
    /// RoleBinding (its group gets `edit` here, and only here) and the NetworkPolicies.
    fn team_namespace(&mut self, team: &str, group: &str, env: Env) {
        let name = format!("{team}-{}", env.name());
        let age = days(if env == Env::Dev { 200 } else { 400 });
        let mut meta = self.meta(&name, None, &format!("ns/{name}"), age);
        meta["labels"] = json!({
            "kubernetes.io/metadata.name": name,
            "platform.example.com/team": team,
            "platform.example.com/environment": env.name(),
            "platform.example.com/owner": team,
            "app.kubernetes.io/managed-by": "platbot",
        });
        meta["annotations"] =
            json!({ "platform.example.com/owner-email": format!("team-{team}@example.com") });
        self.push(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": { "finalizers": ["kubernetes"] }, "status": { "phase": "Active" } }));

        let managed = json!({ "app.kubernetes.io/managed-by": "platbot" });
        let mut quota = self.meta("team-quota", Some(&name), &format!("{name}/quota"), age);
        quota["labels"] = managed.clone();
        let hard = json!({ "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi", "pods": "50" });
        self.push(json!({ "apiVersion": "v1", "kind": "ResourceQuota", "metadata": quota, "spec": { "hard": hard }, "status": { "hard": hard } }));
        let mut binding = self.meta(
            "team-edit",
            Some(&name),
            &format!("{name}/rolebinding"),
            age,
        );
        binding["labels"] = managed;
        self.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": binding,
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group }],
        }));
        let mut limits = self.meta(
            "container-defaults",
            Some(&name),
            &format!("{name}/limitrange"),
            age,
        );
        limits["labels"] = json!({ "app.kubernetes.io/managed-by": "platbot" });
        self.push(json!({
            "apiVersion": "v1", "kind": "LimitRange", "metadata": limits,
            "spec": { "limits": [{ "type": "Container", "default": { "cpu": "500m", "memory": "512Mi" }, "defaultRequest": { "cpu": "100m", "memory": "128Mi" }, "max": { "cpu": "4", "memory": "8Gi" } }] },
        }));
        for (policy, spec) in [
            (
                "default-deny-ingress",
                json!({ "podSelector": {}, "policyTypes": ["Ingress"] }),
            ),
            (
                "allow-same-namespace",
                json!({ "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{ "from": [{ "podSelector": {} }] }] }),
            ),
        ] {
            let mut meta = self.meta(policy, Some(&name), &format!("{name}/{policy}"), age);
            meta["labels"] = json!({ "app.kubernetes.io/managed-by": "platbot" });
            self.push(json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta, "spec": spec }));
        }
    }
}

struct Involved {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    uid: String,
    field_path: Option<String>,
}

fn node_ip(node: &str) -> String {
    (0..NODES)
        .find(|i| node_name(*i) == node)
        .map(|i| format!("10.42.{}.{}", i / 2 + 1, 10 + i * 7))
        .unwrap_or_default()
}

fn remove_keys(value: &mut Value, keys: &[&str]) {
    if let Some(map) = value.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
}
