//! The reads a diagnosis needs, batched: one list per kind, scoped to the service's
//! namespace, all at once; then, from what those show, the few follow-ups (logs of the
//! failing containers, the nodes hosting the pods, the Secrets failing pods refer to),
//! again all at once. Everything runs within one time budget; what misses it is reported
//! as unread rather than waited for.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Node, PersistentVolumeClaim, Pod, ResourceQuota, Secret,
    Service as KubeService,
};
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use kube::api::{ListParams, LogParams};
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};

use super::snapshot::{LogTail, SecretKeys, Snapshot, Unread};
use crate::actions::logs::{read_log, redact_log};
use crate::domain::Actor;
use crate::platform::kube::{Cluster, api_code};

/// How long a diagnosis may spend reading, in total.
pub const BUDGET: Duration = Duration::from_secs(8);
/// Log lines read per container (the evidence shows the last few).
pub const LOG_LINES: i64 = 40;

/// A container log to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogWant {
    pub pod: String,
    pub container: String,
    pub previous: bool,
}

/// The follow-up reads the first batch calls for.
#[derive(Debug, Default)]
pub struct Wants {
    pub logs: BTreeSet<LogWant>,
    pub nodes: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

struct Reader<'a> {
    client: kube::Client,
    cluster: &'a Cluster,
    actor: &'a Actor,
    namespace: &'a str,
    deadline: Instant,
}

type Read<T> = Result<T, String>;

impl Reader<'_> {
    fn explain(&self, e: kube::Error) -> String {
        self.cluster.explain(self.actor, e).to_string()
    }

    async fn list<K>(&self) -> Read<Vec<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), self.namespace);
        match timeout_at(self.deadline, api.list(&ListParams::default())).await {
            Ok(Ok(list)) => Ok(list.items),
            // A namespace that does not exist holds nothing.
            Ok(Err(e)) if api_code(&e) == Some(404) => Ok(Vec::new()),
            Ok(Err(e)) => Err(self.explain(e)),
            Err(_) => Err(timed_out()),
        }
    }

    async fn deployment(&self, name: &str) -> Read<Option<Deployment>> {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), self.namespace);
        match timeout_at(self.deadline, api.get_opt(name)).await {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) if api_code(&e) == Some(404) => Ok(None),
            Ok(Err(e)) => Err(self.explain(e)),
            Err(_) => Err(timed_out()),
        }
    }

    async fn log(&self, want: &LogWant) -> Read<Option<Vec<String>>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), self.namespace);
        let params = LogParams {
            container: Some(want.container.clone()),
            previous: want.previous,
            tail_lines: Some(LOG_LINES),
            ..LogParams::default()
        };
        match timeout_at(self.deadline, read_log(&api, &want.pod, params)).await {
            Ok(Ok(log)) => Ok(Some(redact_log(&log.text))),
            // The kubelet keeps one previous instance, and not after the pod moved or the
            // log was rotated: nothing to show, nothing wrong with the read.
            Ok(Err(e)) if want.previous && api_code(&e) == Some(400) => Ok(None),
            Ok(Err(e)) => Err(self.explain(e)),
            Err(_) => Err(timed_out()),
        }
    }

    async fn node(&self, name: &str) -> Read<Option<Node>> {
        let api: Api<Node> = Api::all(self.client.clone());
        match timeout_at(self.deadline, api.get_opt(name)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(self.explain(e)),
            Err(_) => Err(timed_out()),
        }
    }

    /// A Secret's key names; its values never leave this function.
    async fn secret(&self, name: &str) -> Read<SecretKeys> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), self.namespace);
        match timeout_at(self.deadline, api.get_opt(name)).await {
            Ok(Ok(Some(s))) => {
                let keys = s
                    .data
                    .iter()
                    .flat_map(|d| d.keys())
                    .chain(s.string_data.iter().flat_map(|d| d.keys()))
                    .cloned()
                    .collect();
                Ok(SecretKeys { found: true, keys })
            }
            Ok(Ok(None)) => Ok(SecretKeys::default()),
            Ok(Err(e)) => Err(self.explain(e)),
            Err(_) => Err(timed_out()),
        }
    }
}

fn timed_out() -> String {
    format!("not read within the {}s diagnosis budget", BUDGET.as_secs())
}

fn keep<T: Default>(unread: &mut Vec<Unread>, what: &str, read: Read<T>) -> T {
    read.unwrap_or_else(|reason| {
        unread.push(Unread {
            what: what.to_owned(),
            reason,
        });
        T::default()
    })
}

/// Reads everything the analyzers need about `snapshot`'s service into it.
pub async fn gather(
    snapshot: &mut Snapshot,
    cluster: &Cluster,
    client: kube::Client,
    actor: &Actor,
    budget: Duration,
) {
    let namespace = snapshot.namespace.clone();
    let reader = Reader {
        client,
        cluster,
        actor,
        namespace: &namespace,
        deadline: Instant::now() + budget,
    };
    let r = &reader;
    let (deployment, replica_sets, pods, events, services, ingresses) = tokio::join!(
        r.deployment(&snapshot.workload),
        r.list::<ReplicaSet>(),
        r.list::<Pod>(),
        r.list::<Event>(),
        r.list::<KubeService>(),
        r.list::<Ingress>(),
    );
    let (pvcs, hpas, jobs, cron_jobs, config_maps, quotas) = tokio::join!(
        r.list::<PersistentVolumeClaim>(),
        r.list::<HorizontalPodAutoscaler>(),
        r.list::<Job>(),
        r.list::<CronJob>(),
        r.list::<ConfigMap>(),
        r.list::<ResourceQuota>(),
    );
    let s = snapshot;
    let u = &mut s.unread;
    s.deployment = keep(u, "deployment", deployment);
    s.replica_sets = keep(u, "replicasets", replica_sets);
    s.pods = keep(u, "pods", pods);
    s.events = keep(u, "events", events);
    s.services = keep(u, "services", services);
    s.ingresses = keep(u, "ingresses", ingresses);
    s.pvcs = keep(u, "persistentvolumeclaims", pvcs);
    s.hpas = keep(u, "horizontalpodautoscalers", hpas);
    s.jobs = keep(u, "jobs", jobs);
    s.cron_jobs = keep(u, "cronjobs", cron_jobs);
    s.config_maps = keep(u, "configmaps", config_maps);
    s.quotas = keep(u, "resourcequotas", quotas);

    let wants = super::wants(s);
    let logs = join_all(wants.logs.iter().map(|w| r.log(w)));
    let nodes = join_all(wants.nodes.iter().map(|n| r.node(n)));
    let secrets = join_all(wants.secrets.iter().map(|n| r.secret(n)));
    let (logs, nodes, secrets) = tokio::join!(logs, nodes, secrets);
    for (want, read) in wants.logs.into_iter().zip(logs) {
        let what = format!(
            "logs of {}/{}{}",
            want.pod,
            want.container,
            if want.previous { " (previous)" } else { "" }
        );
        match read {
            Ok(None) => {}
            Ok(Some(lines)) => s.logs.push(LogTail {
                pod: want.pod,
                container: want.container,
                previous: want.previous,
                lines,
            }),
            Err(reason) => s.unread.push(Unread { what, reason }),
        }
    }
    let mut found_nodes = BTreeMap::new();
    for (name, read) in wants.nodes.into_iter().zip(nodes) {
        if let Some(node) = keep(&mut s.unread, &format!("node {name}"), read) {
            found_nodes.insert(name, node);
        }
    }
    s.nodes = found_nodes;
    for (name, read) in wants.secrets.into_iter().zip(secrets) {
        match read {
            Ok(keys) => {
                s.secrets.insert(name, keys);
            }
            Err(reason) => s.unread.push(Unread {
                what: format!("secret {name}"),
                reason,
            }),
        }
    }
}
