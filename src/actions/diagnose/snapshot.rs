//! Everything a diagnosis reads about one service in one namespace, read once, and the
//! questions the analyzers ask of it (which pods are the workload's, which revision a
//! pod runs). The analyzers are pure functions of a [`Snapshot`].

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Node, PersistentVolumeClaim, Pod, ResourceQuota, Service as KubeService,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::facts::{annotation, map_selects, name_of, owner, selects};
use super::finding::ObjectRef;
use crate::domain::{Environment, ServiceName};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// A Secret as a diagnosis sees it: whether it exists and its key names. Values are dropped
/// as soon as the object is read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretKeys {
    pub found: bool,
    pub keys: BTreeSet<String>,
}

/// The last lines of one container's log, already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTail {
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub lines: Vec<String>,
}

/// A read that did not happen, and why (forbidden, timed out): the diagnosis says what it
/// could not check instead of pretending all is well.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unread {
    pub what: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: Timestamp,
    /// The catalog name (what remediations are proposed for).
    pub service: ServiceName,
    pub environment: Environment,
    pub namespace: String,
    /// The Deployment name (the catalog's kubernetes id).
    pub workload: String,
    /// Other catalog services' kubernetes ids, so `search` does not claim `search-indexer`'s jobs.
    pub other_workloads: Vec<String>,
    pub deployment: Option<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub events: Vec<Event>,
    pub services: Vec<KubeService>,
    pub ingresses: Vec<Ingress>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub jobs: Vec<Job>,
    pub cron_jobs: Vec<CronJob>,
    pub config_maps: Vec<ConfigMap>,
    pub quotas: Vec<ResourceQuota>,
    /// Secrets the failing pods refer to, by name.
    pub secrets: BTreeMap<String, SecretKeys>,
    /// Nodes hosting the workload's pods, by name.
    pub nodes: BTreeMap<String, Node>,
    pub logs: Vec<LogTail>,
    pub unread: Vec<Unread>,
}

impl Snapshot {
    /// An empty snapshot (tests fill in what they need).
    pub fn empty(
        service: ServiceName,
        environment: Environment,
        namespace: &str,
        workload: &str,
        now: Timestamp,
    ) -> Self {
        Self {
            now,
            service,
            environment,
            namespace: namespace.to_owned(),
            workload: workload.to_owned(),
            other_workloads: Vec::new(),
            deployment: None,
            replica_sets: Vec::new(),
            pods: Vec::new(),
            events: Vec::new(),
            services: Vec::new(),
            ingresses: Vec::new(),
            pvcs: Vec::new(),
            hpas: Vec::new(),
            jobs: Vec::new(),
            cron_jobs: Vec::new(),
            config_maps: Vec::new(),
            quotas: Vec::new(),
            secrets: BTreeMap::new(),
            nodes: BTreeMap::new(),
            logs: Vec::new(),
            unread: Vec::new(),
        }
    }

    pub fn object(&self, kind: &str, name: &str) -> ObjectRef {
        ObjectRef::new(kind, name, Some(&self.namespace))
    }

    pub fn was_read(&self, what: &str) -> bool {
        !self.unread.iter().any(|u| u.what == what)
    }

    /// Whether an object named like this belongs to the service: its own name, a
    /// `<workload>-...` name no other catalog service claims, or the usual app labels.
    pub fn belongs(&self, meta: &ObjectMeta) -> bool {
        let name = name_of(meta);
        let labelled = meta.labels.as_ref().is_some_and(|l| {
            [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app",
            ]
            .iter()
            .any(|k| l.get(*k).is_some_and(|v| *v == self.workload))
        });
        if labelled || name == self.workload {
            return true;
        }
        let prefixed = |id: &str| name.starts_with(id) && name[id.len()..].starts_with('-');
        prefixed(&self.workload)
            && !self
                .other_workloads
                .iter()
                .any(|o| o.len() > self.workload.len() && (name == o || prefixed(o)))
    }

    /// The labels the workload's pods carry (the Deployment's template).
    pub fn template_labels(&self) -> Option<&BTreeMap<String, String>> {
        self.deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.as_ref())
    }

    /// The workload's pods: selected by the Deployment's selector, or labelled with its name
    /// when there is no Deployment. Job pods are the jobs analyzer's.
    pub fn workload_pods(&self) -> Vec<&Pod> {
        let selector = self
            .deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .map(|s| &s.selector);
        self.pods
            .iter()
            .filter(|p| match selector {
                Some(sel) => selects(sel, p.metadata.labels.as_ref()),
                None => {
                    owner(&p.metadata, "Job").is_none()
                        && p.metadata.labels.as_ref().is_some_and(|l| {
                            ["app.kubernetes.io/name", "app"]
                                .iter()
                                .any(|k| l.get(*k).is_some_and(|v| *v == self.workload))
                        })
                }
            })
            .collect()
    }

    /// The Deployment's ReplicaSets, oldest revision first.
    pub fn revisions(&self) -> Vec<(u64, &ReplicaSet)> {
        let mut out: Vec<(u64, &ReplicaSet)> = self
            .replica_sets
            .iter()
            .filter(|rs| owner(&rs.metadata, "Deployment") == Some(self.workload.as_str()))
            .filter_map(|rs| Some((revision_of(&rs.metadata)?, rs)))
            .collect();
        out.sort_by_key(|(n, _)| *n);
        out
    }

    /// The Deployment's current revision.
    pub fn current_revision(&self) -> Option<u64> {
        self.deployment
            .as_ref()
            .and_then(|d| revision_of(&d.metadata))
    }

    /// The revision a pod runs (through its ReplicaSet).
    pub fn revision_of_pod(&self, pod: &Pod) -> Option<u64> {
        let rs = owner(&pod.metadata, "ReplicaSet")?;
        self.replica_sets
            .iter()
            .find(|r| name_of(&r.metadata) == rs)
            .and_then(|r| revision_of(&r.metadata))
    }

    pub fn log(&self, pod: &str, container: &str, previous: bool) -> Option<&LogTail> {
        self.logs
            .iter()
            .find(|l| l.pod == pod && l.container == container && l.previous == previous)
    }

    /// The Services in front of the workload: those whose selector matches its pods' labels,
    /// plus one named like it.
    pub fn workload_services(&self) -> Vec<&KubeService> {
        let labels = self.template_labels();
        self.services
            .iter()
            .filter(|s| {
                let selector = s.spec.as_ref().and_then(|sp| sp.selector.as_ref());
                let fronts = match (selector, labels) {
                    (Some(sel), Some(l)) => map_selects(sel, Some(l)),
                    _ => false,
                };
                fronts || name_of(&s.metadata) == self.workload || self.belongs(&s.metadata)
            })
            .collect()
    }

    pub fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .iter()
            .find(|c| name_of(&c.metadata) == name)
    }
}

pub fn revision_of(meta: &ObjectMeta) -> Option<u64> {
    annotation(meta, REVISION).and_then(|r| r.parse().ok())
}

/// The images of a pod template, as `container=image`.
pub fn images(spec: Option<&k8s_openapi::api::core::v1::PodSpec>) -> Vec<(String, String)> {
    spec.map(|s| {
        s.containers
            .iter()
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

/// When an object was last written: the newest `managedFields` time (the API server keeps
/// one per writer). `None` when the object carries none (it is then no evidence either way).
pub fn last_written(meta: &ObjectMeta) -> Option<Timestamp> {
    meta.managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.time.as_ref().map(super::facts::time))
        .max()
}
