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

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

mod roles;
pub use roles::{PLATFORM_GROUP, PROVISIONER_ROLE, PROVISIONER_USER, READ_ROLE};

/// A pod log to seed with [`super::KubeApiDouble::set_logs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLog {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub text: String,
}

/// The sandbox's objects (in insertion order: namespaces first) and pod logs.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub objects: Vec<Value>,
    pub logs: Vec<SeedLog>,
}

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
    let mut builder = Builder::new(Utc::now());
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
    now: DateTime<Utc>,
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
    age: Duration,
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
    fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            seed: Seed::default(),
            pods_placed: 0,
            services: 0,
        }
    }

    fn at(&self, ago: Duration) -> String {
        (self.now - ago).to_rfc3339_opts(SecondsFormat::Secs, true)
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

    fn meta(&self, name: &str, namespace: Option<&str>, key: &str, ago: Duration) -> Value {
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
            let meta = self.meta(name, None, &format!("ns/{name}"), Duration::days(420));
            self.push(json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": meta }));
        }
        for i in 0..NODES {
            let node = self.node(i);
            self.push(node);
        }
        for (role, rules, builtin) in roles::cluster_roles() {
            let mut meta = self.meta(
                role,
                None,
                &format!("clusterrole/{role}"),
                Duration::days(420),
            );
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
                Duration::days(420),
            );
            meta["labels"] = labels;
            binding["metadata"] = meta;
            self.push(binding);
        }
    }

    fn node(&self, i: usize) -> Value {
        let name = node_name(i);
        let zone = ["eu-west-1a", "eu-west-1b", "eu-west-1c"][i % 3];
        let mut meta = self.meta(
            &name,
            None,
            &format!("node/{name}"),
            Duration::days(30 + i as i64),
        );
        meta["labels"] = json!({
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m6i.xlarge", "topology.kubernetes.io/zone": zone,
        });
        let since = self.at(Duration::days(30 + i as i64));
        let condition = |kind: &str, status: &str, reason: &str, message: &str| json!({ "type": kind, "status": status, "reason": reason, "message": message, "lastHeartbeatTime": self.at(Duration::seconds(20)), "lastTransitionTime": since });
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
        let age = Duration::days(if env == Env::Dev { 200 } else { 400 });
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

    fn workload(&mut self, service: &Service, env: Env) {
        let trouble = TROUBLE
            .iter()
            .find(|(s, e, _)| *s == service.name && *e == env)
            .map(|(_, _, t)| *t);
        let tags = match env {
            // Prod runs one tag behind staging (the same tag when there is only one).
            Env::Prod => {
                &service.tags[..service
                    .tags
                    .len()
                    .saturating_sub(1)
                    .max(1)
                    .min(service.tags.len())]
            }
            _ => service.tags,
        };
        // Revisions index from the newest tag; a service without tags has nothing to run.
        if tags.is_empty() {
            return;
        }
        let namespace = format!("{}-{}", service.team, env.name());
        let rollout_age = match (trouble, env) {
            (Some(Trouble::ImagePull), _) => Duration::minutes(25),
            (Some(Trouble::StalledRollout), _) => Duration::hours(2),
            (_, Env::Prod) => Duration::days(6),
            _ => Duration::days(2),
        };
        let revisions = tags
            .iter()
            .enumerate()
            .map(|(i, (tag, cause))| {
                let hash = suffix(&format!("{namespace}/{}/{tag}", service.name), 10);
                let age = rollout_age + Duration::days(14 * (tags.len() - 1 - i) as i64);
                Revision {
                    number: i + 1,
                    tag,
                    cause,
                    rs_name: format!("{}-{hash}", service.name),
                    hash,
                    age,
                }
            })
            .collect();
        let replicas = match env {
            Env::Prod => service.prod_replicas,
            Env::Staging => 2,
            Env::Dev => 1,
        };
        let w = Workload {
            service,
            env,
            namespace,
            replicas,
            revisions,
            trouble,
        };
        self.workload_objects(&w);
    }

    fn workload_objects(&mut self, w: &Workload<'_>) {
        let pods = w.pods();
        let deployment = self.deployment(w, &pods);
        self.push(deployment);
        for (index, revision) in w.revisions.iter().enumerate() {
            let states: &[PodState] = pods
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(&[], |(_, s)| s.as_slice());
            let rs = self.replica_set(w, revision, states);
            self.push(rs);
            for (n, state) in states.iter().enumerate() {
                self.pod(w, revision, n, *state);
            }
        }
        self.service(w);
        if w.service.name == "search" {
            self.search_config(w);
        }
        self.deployment_events(w);
    }

    fn template(&self, w: &Workload<'_>, revision: &Revision) -> Value {
        let mut env = vec![
            json!({ "name": "APP_ENV", "value": w.env.name() }),
            json!({ "name": "OTEL_SERVICE_NAME", "value": w.service.name }),
        ];
        if w.service.name == "search" {
            env.push(json!({ "name": "SEARCH_OPENSEARCH_URL", "valueFrom": { "configMapKeyRef": { "name": "search-config", "key": "opensearch-url", "optional": true } } }));
        }
        let mut labels = w.labels();
        labels["app.kubernetes.io/version"] = json!(revision.tag);
        json!({
            "metadata": { "labels": labels, "annotations": { "kubectl.kubernetes.io/default-container": w.service.name } },
            "spec": {
                "containers": [{
                    "name": w.service.name,
                    "image": w.image(revision.tag),
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
                    "env": env,
                    "resources": {
                        "requests": { "cpu": "250m", "memory": w.service.memory },
                        "limits": { "cpu": "1", "memory": w.service.memory },
                    },
                    "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
                    "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http", "scheme": "HTTP" }, "periodSeconds": 20, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3 },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default",
                "schedulerName": "default-scheduler",
                "securityContext": { "runAsNonRoot": true },
            }
        })
    }

    fn deployment(&self, w: &Workload<'_>, pods: &[(usize, Vec<PodState>)]) -> Value {
        let current = w.current();
        let name = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/deploy/{name}", w.namespace),
            Duration::days(380),
        );
        meta["labels"] = w.labels();
        meta["annotations"] = json!({ "deployment.kubernetes.io/revision": current.number.to_string(), "kubernetes.io/change-cause": current.cause });
        meta["generation"] = json!(current.number);
        let spec = json!({
            "replicas": w.replicas,
            "selector": { "matchLabels": { "app.kubernetes.io/name": name } },
            "template": self.template(w, current),
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        });
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": self.deployment_status(w, pods) })
    }

    fn deployment_status(&self, w: &Workload<'_>, pods: &[(usize, Vec<PodState>)]) -> Value {
        let current_index = w.revisions.len() - 1;
        let all = pods.iter().flat_map(|(_, s)| s.iter());
        let total = all.clone().count() as i64;
        let ready = all.filter(|s| s.ready()).count() as i64;
        let updated = pods
            .iter()
            .filter(|(i, _)| *i == current_index)
            .map(|(_, s)| s.len() as i64)
            .sum::<i64>();
        let max_unavailable = w.replicas / 4;
        let available_ok = ready >= w.replicas - max_unavailable;
        let rs = &w.current().rs_name;
        let (progress_status, progress_reason, progress_message, progress_age) = match w.trouble {
            Some(Trouble::ImagePull) => (
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{rs}\" is progressing."),
                Duration::minutes(24),
            ),
            Some(Trouble::StalledRollout) => (
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{rs}\" has timed out progressing."),
                Duration::minutes(110),
            ),
            _ => (
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{rs}\" has successfully progressed."),
                w.current().age - Duration::minutes(3),
            ),
        };
        let available_age = match w.trouble {
            Some(Trouble::CrashLoop) => Duration::minutes(34),
            Some(Trouble::Unschedulable) => Duration::minutes(48),
            _ => w.current().age - Duration::minutes(2),
        };
        let available = if available_ok {
            json!({ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." })
        } else {
            json!({ "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability." })
        };
        let mut available = available;
        available["lastUpdateTime"] = json!(self.at(available_age));
        available["lastTransitionTime"] = json!(self.at(available_age));
        let progressing = json!({
            "type": "Progressing", "status": progress_status, "reason": progress_reason, "message": progress_message,
            "lastUpdateTime": self.at(progress_age), "lastTransitionTime": self.at(w.current().age),
        });
        let mut status = json!({
            "observedGeneration": w.current().number,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [available, progressing],
        });
        if total > ready {
            status["unavailableReplicas"] = json!(total - ready);
        }
        if ready == 0 {
            remove_keys(&mut status, &["readyReplicas", "availableReplicas"]);
        }
        status
    }

    fn replica_set(&self, w: &Workload<'_>, revision: &Revision, states: &[PodState]) -> Value {
        let name = &revision.rs_name;
        let deploy = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/rs/{name}", w.namespace),
            revision.age,
        );
        let mut labels = w.labels();
        labels["pod-template-hash"] = json!(revision.hash);
        meta["labels"] = labels.clone();
        meta["annotations"] = json!({
            "deployment.kubernetes.io/revision": revision.number.to_string(),
            "deployment.kubernetes.io/desired-replicas": w.replicas.to_string(),
            "deployment.kubernetes.io/max-replicas": (w.replicas + (w.replicas + 3) / 4).to_string(),
            "kubernetes.io/change-cause": revision.cause,
        });
        meta["generation"] = json!(if states.is_empty() { 2 } else { 1 });
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": deploy,
            "uid": uid(&format!("{}/deploy/{deploy}", w.namespace)), "controller": true, "blockOwnerDeletion": true,
        }]);
        let mut template = self.template(w, revision);
        template["metadata"]["labels"]["pod-template-hash"] = json!(revision.hash);
        let count = states.len() as i64;
        let ready = states.iter().filter(|s| s.ready()).count() as i64;
        let mut status = json!({ "replicas": count, "fullyLabeledReplicas": count, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": meta["generation"] });
        if count == 0 {
            status = json!({ "replicas": 0, "observedGeneration": meta["generation"] });
        }
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
            "spec": { "replicas": count, "selector": { "matchLabels": { "app.kubernetes.io/name": deploy, "pod-template-hash": revision.hash } }, "template": template },
            "status": status,
        })
    }

    fn next_node(&mut self) -> (String, String) {
        let i = self.pods_placed;
        self.pods_placed += 1;
        let node = i % NODES;
        (
            node_name(node),
            format!("10.244.{}.{}", node + 1, 10 + i / NODES),
        )
    }

    fn pod(&mut self, w: &Workload<'_>, revision: &Revision, n: usize, state: PodState) {
        let name = format!(
            "{}-{}",
            revision.rs_name,
            suffix(&format!("{}/{}/{n}", w.namespace, revision.rs_name), 5)
        );
        let age = match state {
            PodState::CrashLoop => Duration::minutes(35),
            PodState::Pending => Duration::minutes(50),
            PodState::OomRestarting(_) => Duration::hours(3),
            PodState::ImagePullBackOff | PodState::NotReady => revision.age - Duration::seconds(5),
            PodState::Running => revision.age - Duration::seconds(40 + 20 * n as i64),
        };
        let (node, ip) = if state == PodState::Pending {
            (String::new(), String::new())
        } else {
            self.next_node()
        };
        let key = format!("{}/pod/{name}", w.namespace);
        let mut meta = self.meta(&name, Some(&w.namespace), &key, age);
        let mut labels = w.labels();
        labels["app.kubernetes.io/version"] = json!(revision.tag);
        labels["pod-template-hash"] = json!(revision.hash);
        meta["labels"] = labels;
        meta["generateName"] = json!(format!("{}-", revision.rs_name));
        meta["ownerReferences"] = json!([{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": revision.rs_name,
            "uid": uid(&format!("{}/rs/{}", w.namespace, revision.rs_name)), "controller": true, "blockOwnerDeletion": true,
        }]);
        let template = self.template(w, revision);
        let mut spec = template["spec"].clone();
        if !node.is_empty() {
            spec["nodeName"] = json!(node);
        }
        let status = self.pod_status(w, revision, state, age, (&name, &key), (&node, &ip));
        self.push(json!({ "apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status }));
        self.pod_story(w, revision, &name, &key, state, &node);
    }

    #[allow(clippy::too_many_arguments)] // all of it goes into the status
    fn pod_status(
        &self,
        w: &Workload<'_>,
        revision: &Revision,
        state: PodState,
        age: Duration,
        (pod, key): (&str, &str),
        (node, ip): (&str, &str),
    ) -> Value {
        let started = self.at(age - Duration::seconds(4));
        let image = w.image(revision.tag);
        let image_id = format!(
            "{REGISTRY}/{}/{}@sha256:{:016x}{:016x}{:016x}{:016x}",
            w.service.team,
            w.service.name,
            fnv(&image, 1),
            fnv(&image, 2),
            fnv(&image, 3),
            fnv(&image, 4)
        );
        let container_id = format!(
            "containerd://{:016x}{:016x}{:016x}{:016x}",
            fnv(node, age.num_seconds() as u64),
            fnv(&image, 5),
            fnv(ip, 6),
            fnv(&started, 7)
        );
        let condition = |kind: &str, ok: bool, reason: Option<(&str, String)>| {
            let mut c = json!({ "type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": started });
            if let Some((reason, message)) = reason {
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
            c
        };
        let container = w.service.name;
        let not_ready = Some((
            "ContainersNotReady",
            format!("containers with unready status: [{container}]"),
        ));
        if state == PodState::Pending {
            let message = "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.".to_string();
            return json!({
                "phase": "Pending", "qosClass": "Burstable",
                "conditions": [condition("PodScheduled", false, Some(("Unschedulable", message)))],
            });
        }
        let ready = state.ready();
        let mut status = json!({
            "image": image, "imageID": image_id, "name": container, "ready": ready, "started": state != PodState::CrashLoop && state != PodState::ImagePullBackOff,
            "restartCount": 0, "containerID": container_id, "state": { "running": { "startedAt": started } }, "lastState": {},
        });
        match state {
            PodState::CrashLoop => {
                status["restartCount"] = json!(7);
                let message = format!(
                    "back-off 5m0s restarting failed container={container} pod={pod}_{}({})",
                    w.namespace,
                    uid(key)
                );
                status["state"] =
                    json!({ "waiting": { "reason": "CrashLoopBackOff", "message": message } });
                status["lastState"] = json!({ "terminated": { "exitCode": 1, "reason": "Error", "startedAt": self.at(Duration::seconds(150)), "finishedAt": self.at(Duration::seconds(149)), "containerID": container_id } });
            }
            PodState::ImagePullBackOff => {
                status = json!({ "image": image, "imageID": "", "name": container, "ready": false, "started": false, "restartCount": 0, "lastState": {},
                    "state": { "waiting": { "reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found") } } });
            }
            PodState::OomRestarting(restarts) => {
                status["restartCount"] = json!(restarts);
                status["state"] =
                    json!({ "running": { "startedAt": self.at(Duration::minutes(4)) } });
                status["lastState"] = json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled", "startedAt": self.at(Duration::minutes(31)), "finishedAt": self.at(Duration::minutes(4) + Duration::seconds(2)), "containerID": container_id } });
            }
            _ => {}
        }
        json!({
            "phase": "Running",
            "conditions": [
                condition("PodReadyToStartContainers", true, None),
                condition("Initialized", true, None),
                condition("Ready", ready, if ready { None } else { not_ready.clone() }),
                condition("ContainersReady", ready, if ready { None } else { not_ready }),
                condition("PodScheduled", true, None),
            ],
            "hostIP": node_ip(node), "podIP": ip, "podIPs": [{ "ip": ip }],
            "startTime": self.at(age), "qosClass": "Burstable",
            "containerStatuses": [status],
        })
    }

    /// Events and logs that explain a pod's state.
    fn pod_story(
        &mut self,
        w: &Workload<'_>,
        revision: &Revision,
        pod: &str,
        key: &str,
        state: PodState,
        node: &str,
    ) {
        let ns = w.namespace.clone();
        let container = w.service.name;
        let image = w.image(revision.tag);
        let field = format!("spec.containers{{{container}}}");
        let involved = Involved {
            kind: "Pod",
            api_version: "v1",
            name: pod.to_string(),
            uid: uid(key),
            field_path: Some(field.clone()),
        };
        let kubelet = ("kubelet", node);
        match state {
            PodState::Running => self.log(
                &ns,
                pod,
                container,
                false,
                healthy_log(w.service, revision.tag, self.now),
            ),
            PodState::CrashLoop => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {container} in pod {pod}_{ns}({})",
                        uid(key)
                    ),
                    142,
                    34,
                    0,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    8,
                    35,
                    3,
                    kubelet,
                );
                self.log(&ns, pod, container, true, crash_log(self.now));
                self.log(&ns, pod, container, false, String::new());
            }
            PodState::ImagePullBackOff => {
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    9,
                    24,
                    1,
                    kubelet,
                );
                self.event(&ns, &involved, "Warning", "Failed", &format!("Failed to pull image \"{image}\": Error response from daemon: manifest for {image} not found: manifest unknown: manifest unknown"), 9, 24, 1, kubelet);
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                    9,
                    24,
                    1,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "BackOff",
                    &format!("Back-off pulling image \"{image}\""),
                    97,
                    24,
                    0,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Failed",
                    "Error: ImagePullBackOff",
                    97,
                    24,
                    0,
                    kubelet,
                );
            }
            PodState::Pending => {
                let scheduler = Involved {
                    field_path: None,
                    ..involved
                };
                let message = "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.";
                self.event(
                    &ns,
                    &scheduler,
                    "Warning",
                    "FailedScheduling",
                    message,
                    11,
                    50,
                    2,
                    ("default-scheduler", ""),
                );
            }
            PodState::OomRestarting(restarts) => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {container} in pod {pod}_{ns}({})",
                        uid(key)
                    ),
                    restarts / 2,
                    150,
                    4,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    restarts,
                    180,
                    4,
                    kubelet,
                );
                self.event(
                    &ns,
                    &involved,
                    "Normal",
                    "Started",
                    &format!("Started container {container}"),
                    restarts + 1,
                    180,
                    4,
                    kubelet,
                );
                self.log(&ns, pod, container, true, oom_log(self.now));
                self.log(
                    &ns,
                    pod,
                    container,
                    false,
                    healthy_log(w.service, revision.tag, self.now),
                );
            }
            PodState::NotReady => {
                self.event(
                    &ns,
                    &involved,
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    689,
                    118,
                    0,
                    kubelet,
                );
                self.log(&ns, pod, container, false, stalled_log(self.now));
            }
        }
    }

    fn service(&mut self, w: &Workload<'_>) {
        self.services += 1;
        let name = w.service.name;
        let mut meta = self.meta(
            name,
            Some(&w.namespace),
            &format!("{}/svc/{name}", w.namespace),
            Duration::days(380),
        );
        meta["labels"] = w.labels();
        let ip = format!(
            "10.96.{}.{}",
            10 + self.services / 200,
            self.services % 200 + 20
        );
        self.push(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {
                "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "selector": { "app.kubernetes.io/name": name },
                "ports": [{ "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" }],
                "sessionAffinity": "None",
            },
            "status": { "loadBalancer": {} },
        }));
    }

    /// search reads its OpenSearch URL from this ConfigMap; in staging the key was renamed,
    /// which is why the pods crash.
    fn search_config(&mut self, w: &Workload<'_>) {
        let key = if w.env == Env::Staging {
            "opensearch_url"
        } else {
            "opensearch-url"
        };
        let url = format!("https://opensearch.{}.svc.cluster.local:9200", w.namespace);
        let age = if w.env == Env::Staging {
            Duration::minutes(36)
        } else {
            Duration::days(90)
        };
        let mut meta = self.meta(
            "search-config",
            Some(&w.namespace),
            &format!("{}/cm/search-config", w.namespace),
            Duration::days(300),
        );
        meta["labels"] = w.labels();
        meta["annotations"] = json!({ "platform.example.com/last-changed": self.at(age) });
        // The server records each writer's last write here; diagnose reads it as "last changed".
        meta["managedFields"] = json!([{ "manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": self.at(age), "fieldsType": "FieldsV1", "fieldsV1": { "f:data": {} } }]);
        self.push(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": { key: url, "index": "products-v5" } }));
    }

    fn deployment_events(&mut self, w: &Workload<'_>) {
        let name = w.service.name;
        let involved = Involved {
            kind: "Deployment",
            api_version: "apps/v1",
            name: name.to_string(),
            uid: uid(&format!("{}/deploy/{name}", w.namespace)),
            field_path: None,
        };
        let controller = ("deployment-controller", "");
        match w.trouble {
            Some(Trouble::ImagePull) => {
                let message = format!("Scaled up replica set {} from 0 to 1", w.current().rs_name);
                self.event(
                    &w.namespace,
                    &involved,
                    "Normal",
                    "ScalingReplicaSet",
                    &message,
                    1,
                    25,
                    25,
                    controller,
                );
            }
            Some(Trouble::StalledRollout) => {
                let message = format!("Scaled up replica set {} from 0 to 1", w.current().rs_name);
                self.event(
                    &w.namespace,
                    &involved,
                    "Normal",
                    "ScalingReplicaSet",
                    &message,
                    1,
                    120,
                    120,
                    controller,
                );
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)] // one call per event line reads better than a struct literal
    fn event(
        &mut self,
        namespace: &str,
        involved: &Involved,
        kind: &str,
        reason: &str,
        message: &str,
        count: i64,
        first_minutes_ago: i64,
        last_minutes_ago: i64,
        source: (&str, &str),
    ) {
        let name = format!(
            "{}.{:016x}",
            involved.name,
            fnv(&format!("{namespace}/{reason}/{message}"), 11) >> 4
        );
        let meta = self.meta(
            &name,
            Some(namespace),
            &format!("{namespace}/ev/{name}"),
            Duration::minutes(first_minutes_ago),
        );
        let mut involved_object = json!({ "kind": involved.kind, "namespace": namespace, "name": involved.name, "uid": involved.uid, "apiVersion": involved.api_version });
        if let Some(field) = &involved.field_path {
            involved_object["fieldPath"] = json!(field);
        }
        let mut source_json = json!({ "component": source.0 });
        if !source.1.is_empty() {
            source_json["host"] = json!(source.1);
        }
        self.push(json!({
            "apiVersion": "v1", "kind": "Event", "metadata": meta,
            "involvedObject": involved_object, "reason": reason, "message": message, "type": kind,
            "source": source_json, "count": count,
            "firstTimestamp": self.at(Duration::minutes(first_minutes_ago)),
            "lastTimestamp": self.at(Duration::minutes(last_minutes_ago)),
            "eventTime": null, "reportingComponent": source.0, "reportingInstance": source.1,
        }));
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

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

fn stamp(now: DateTime<Utc>, seconds_ago: i64) -> String {
    (now - Duration::seconds(seconds_ago)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn healthy_log(service: &Service, tag: &str, now: DateTime<Utc>) -> String {
    let t = |s: i64| stamp(now, s);
    let name = service.name;
    let lines = match service.lang {
        Lang::Go => vec![
            format!(
                r#"{{"level":"info","ts":"{}","msg":"starting","service":"{name}","version":"{tag}"}}"#,
                t(3600)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"listening","addr":":8080"}}"#,
                t(3599)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"request","method":"GET","path":"/v1/health","status":200,"duration_ms":1.2}}"#,
                t(60)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"request","method":"POST","path":"/v1/{name}","status":200,"duration_ms":18.4}}"#,
                t(12)
            ),
        ],
        Lang::Java | Lang::Kotlin => vec![
            format!(
                "{} INFO  [main] c.l.{}.Application : Starting Application using Java 21.0.5",
                t(3600),
                name.replace('-', "")
            ),
            format!(
                "{} INFO  [main] o.s.b.w.e.netty.NettyWebServer : Netty started on port 8080 (http)",
                t(3590)
            ),
            format!(
                "{} INFO  [main] c.l.{}.Application : Started Application in 9.8 seconds",
                t(3590),
                name.replace('-', "")
            ),
            format!(
                "{} INFO  [reactor-http-epoll-2] c.l.common.AccessLog : POST /v1/{name} 200 23ms",
                t(9)
            ),
        ],
        Lang::Python => vec![
            format!("{} INFO     Started server process [1]", t(3600)),
            format!("{} INFO     Waiting for application startup.", t(3600)),
            format!(
                "{} INFO     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
                t(3598)
            ),
            format!(
                "{} INFO     10.244.2.1:51234 - \"GET /readyz HTTP/1.1\" 200",
                t(5)
            ),
        ],
        Lang::Node => vec![
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"{name} listening on :8080"}}"#,
                t(3600)
            ),
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"request completed","req":{{"method":"GET","url":"/readyz"}},"res":{{"statusCode":200}},"responseTime":2}}"#,
                t(30)
            ),
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"request completed","req":{{"method":"POST","url":"/v1/{name}"}},"res":{{"statusCode":200}},"responseTime":41}}"#,
                t(7)
            ),
        ],
    };
    lines.join("\n") + "\n"
}

fn crash_log(now: DateTime<Utc>) -> String {
    let t = stamp(now, 150);
    [
        format!(r#"{{"level":"info","ts":"{t}","msg":"starting","service":"search","version":"v2.8.1"}}"#),
        format!(r#"{{"level":"info","ts":"{t}","msg":"loading config","source":"env"}}"#),
        "panic: config: required environment variable SEARCH_OPENSEARCH_URL is not set".to_string(),
        String::new(),
        "goroutine 1 [running]:".to_string(),
        "github.com/larkspur-goods/search/internal/config.MustLoad()".to_string(),
        "\t/src/internal/config/config.go:58 +0x2f4".to_string(),
        "main.main()".to_string(),
        "\t/src/cmd/search/main.go:31 +0x45".to_string(),
    ]
    .join("\n")
        + "\n"
}

fn oom_log(now: DateTime<Utc>) -> String {
    let t = |s: i64| stamp(now, s);
    [
        format!(r#"{{"level":30,"time":"{}","pid":1,"msg":"notifications listening on :8080"}}"#, t(1860)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":18211,"heapUsedMB":171}}"#, t(600)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":52870,"heapUsedMB":224}}"#, t(300)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":77104,"heapUsedMB":249}}"#, t(245)),
    ]
    .join("\n")
        + "\n"
}

fn stalled_log(now: DateTime<Utc>) -> String {
    let t = |s: i64| stamp(now, s);
    [
        format!("{} INFO     Started server process [1]", t(7100)),
        format!(
            "{} INFO     Loading embeddings model v7 from /models/embeddings-v7",
            t(7099)
        ),
        format!(
            "{} WARNING  feature-store lookup failed: timeout after 2.0s; retrying",
            t(7000)
        ),
        format!(
            "{} WARNING  readiness: model warm-up incomplete (0/12 shards loaded)",
            t(60)
        ),
        format!(
            "{} INFO     10.244.3.1:40112 - \"GET /readyz HTTP/1.1\" 503",
            t(5)
        ),
    ]
    .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::KubeApiDouble;

    fn kinds(seed: &Seed, kind: &str) -> Vec<Value> {
        seed.objects
            .iter()
            .filter(|o| o["kind"] == kind)
            .cloned()
            .collect()
    }

    #[test]
    fn namespaces_follow_the_team_rules() {
        let seed = sandbox();
        let names: Vec<String> = kinds(&seed, "Namespace")
            .iter()
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        assert_eq!(
            names.len(),
            6 * 2 + 3 + 2,
            "team namespaces plus default and kube-system"
        );
        for present in [
            "payments-staging",
            "payments-prod",
            "checkout-dev",
            "search-dev",
            "identity-dev",
            "mobile-backend-prod",
        ] {
            assert!(names.iter().any(|n| n == present), "{present}");
        }
        for absent in ["payments-dev", "data-platform-dev", "mobile-backend-dev"] {
            assert!(!names.iter().any(|n| n == absent), "{absent}");
        }
    }

    #[test]
    fn every_seed_object_is_accepted_and_owner_references_resolve() {
        let seed = sandbox();
        let double = KubeApiDouble::new();
        for obj in &seed.objects {
            double
                .insert(obj.clone())
                .unwrap_or_else(|e| panic!("{e}: {obj}"));
        }
        let deployments = double.list("apps/v1", "Deployment", None);
        assert_eq!(
            deployments.len(),
            15 * 2 + 3 + 3 + 2,
            "15 services in staging+prod, plus dev for checkout/search/identity"
        );
        for rs in double.list("apps/v1", "ReplicaSet", None) {
            let owner = &rs["metadata"]["ownerReferences"][0];
            let ns = rs["metadata"]["namespace"].as_str();
            let deploy = double
                .get(
                    "apps/v1",
                    "Deployment",
                    ns,
                    owner["name"].as_str().unwrap_or_default(),
                )
                .expect("owner exists");
            assert_eq!(deploy["metadata"]["uid"], owner["uid"]);
        }
        for pod in double.list("v1", "Pod", None) {
            let owner = &pod["metadata"]["ownerReferences"][0];
            let rs = double
                .get(
                    "apps/v1",
                    "ReplicaSet",
                    pod["metadata"]["namespace"].as_str(),
                    owner["name"].as_str().unwrap_or_default(),
                )
                .expect("rs exists");
            assert_eq!(rs["metadata"]["uid"], owner["uid"]);
        }
    }

    #[test]
    fn troubled_workloads_look_the_part() {
        let double = KubeApiDouble::seeded();
        let pods = |ns: &str, app: &str| -> Vec<Value> {
            double
                .list("v1", "Pod", Some(ns))
                .into_iter()
                .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == app)
                .collect()
        };
        let search = pods("search-staging", "search");
        assert!(search.iter().all(
            |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CrashLoopBackOff"
        ));
        assert_eq!(
            search[0]["status"]["containerStatuses"][0]["restartCount"],
            7
        );
        let pod = search[0]["metadata"]["name"].as_str().expect("name");
        assert!(
            double
                .with_store(|s| s.pod_logs("search-staging", pod, None, true, None))
                .expect("previous")
                .contains("SEARCH_OPENSEARCH_URL")
        );

        let feature = pods("data-platform-staging", "feature-store");
        assert!(feature.iter().any(
            |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "ImagePullBackOff"
        ));
        let events = double.list("v1", "Event", Some("data-platform-staging"));
        assert!(events.iter().any(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("manifest unknown"))
        }));

        let ledger = pods("payments-prod", "ledger");
        assert_eq!(
            ledger
                .iter()
                .filter(|p| p["status"]["phase"] == "Pending")
                .count(),
            1
        );
        let events = double.list("v1", "Event", Some("payments-prod"));
        assert!(events.iter().any(|e| e["reason"] == "FailedScheduling"
            && e["message"].as_str().is_some_and(|m| {
                m.starts_with("0/6 nodes are available: 6 Insufficient memory.")
            })));

        let notifications = pods("mobile-backend-staging", "notifications");
        assert!(notifications.iter().all(
            |p| p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"]
                == "OOMKilled"
        ));
        assert_eq!(
            notifications[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            137
        );

        let recs = double
            .get(
                "apps/v1",
                "Deployment",
                Some("search-prod"),
                "recommendations",
            )
            .expect("deployment");
        assert_eq!(recs["status"]["updatedReplicas"], 1);
        assert_eq!(recs["spec"]["replicas"], 3);
        assert_eq!(
            recs["status"]["conditions"][1]["reason"],
            "ProgressDeadlineExceeded"
        );

        let healthy = double
            .get("apps/v1", "Deployment", Some("checkout-prod"), "cart")
            .expect("cart");
        assert_eq!(healthy["status"]["readyReplicas"], 3);
        assert_eq!(
            healthy["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/checkout/cart:v3.4.1"
        );
        let staging = double
            .get("apps/v1", "Deployment", Some("checkout-staging"), "cart")
            .expect("cart");
        assert_eq!(
            staging["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/checkout/cart:v3.5.0"
        );
    }

    #[test]
    fn names_are_stable() {
        let a = sandbox();
        let b = sandbox();
        let names = |s: &Seed| {
            s.objects
                .iter()
                .map(|o| o["metadata"]["name"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_eq!(uid("x").len(), 36);
    }
}
