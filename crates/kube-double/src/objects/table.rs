//! The resource table: every kind the double serves, its group, version, plural, scope,
//! subresources and name rule. Adding a kind is adding a row.

/// Which name format the API server enforces for a kind (`metadata.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// Namespaces: RFC 1123 label.
    Rfc1123Label,
    /// Services: RFC 1035 label (like 1123, but must start with a letter).
    Rfc1035Label,
    /// Most kinds: RFC 1123 subdomain.
    Rfc1123Subdomain,
    /// RBAC kinds: any path segment (no `/`, `%`, `.` or `..`).
    PathSegment,
}

pub(super) const NAMESPACED: u8 = 1;
/// Has a `status` subresource: normal writes keep the stored status.
const STATUS: u8 = 2;
/// `metadata.generation` is set on create and bumped on spec changes.
const GENERATION: u8 = 4;
/// Member of the `all` category (`kubectl get all`).
const ALL: u8 = 8;
/// Has a `scale` subresource (`kubectl scale`).
const SCALE: u8 = 16;

/// One row of the resource table: everything the double needs to serve a kind.
#[derive(Debug)]
pub(crate) struct ResourceType {
    pub(crate) group: &'static str,
    pub(crate) version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) short_names: &'static [&'static str],
    traits: u8,
    pub(crate) names: NameRule,
}

pub(super) const fn rt(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    traits: u8,
    names: NameRule,
) -> ResourceType {
    ResourceType {
        group,
        version,
        kind,
        plural,
        short_names,
        traits,
        names,
    }
}

use NameRule::{PathSegment, Rfc1035Label, Rfc1123Label, Rfc1123Subdomain};

pub(super) const RBAC: &str = "rbac.authorization.k8s.io";
const NET: &str = "networking.k8s.io";
const NS_WORKLOAD: u8 = NAMESPACED | STATUS | GENERATION | ALL;

/// The kinds the double serves. Adding a kind is adding a row.
pub(crate) static RESOURCES: &[ResourceType] = &[
    rt(
        "",
        "v1",
        "Namespace",
        "namespaces",
        &["ns"],
        STATUS,
        Rfc1123Label,
    ),
    rt(
        "",
        "v1",
        "Pod",
        "pods",
        &["po"],
        NS_WORKLOAD,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "Service",
        "services",
        &["svc"],
        NAMESPACED | STATUS | ALL,
        Rfc1035Label,
    ),
    rt(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        &["ep"],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        &["cm"],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "Secret",
        "secrets",
        &[],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "Event",
        "events",
        &["ev"],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        &["quota"],
        NAMESPACED | STATUS,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        &["limits"],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        NAMESPACED,
        Rfc1123Subdomain,
    ),
    rt(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        NAMESPACED | STATUS,
        Rfc1123Subdomain,
    ),
    rt("", "v1", "Node", "nodes", &["no"], STATUS, Rfc1123Subdomain),
    rt(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        NS_WORKLOAD | SCALE,
        Rfc1123Subdomain,
    ),
    rt(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        NS_WORKLOAD | SCALE,
        Rfc1123Subdomain,
    ),
    rt(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        NS_WORKLOAD | SCALE,
        Rfc1123Subdomain,
    ),
    rt(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        &["ds"],
        NS_WORKLOAD,
        Rfc1123Subdomain,
    ),
    rt(
        "batch",
        "v1",
        "Job",
        "jobs",
        &[],
        NS_WORKLOAD,
        Rfc1123Subdomain,
    ),
    rt(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        &["cj"],
        NS_WORKLOAD,
        Rfc1123Subdomain,
    ),
    rt(RBAC, "v1", "Role", "roles", &[], NAMESPACED, PathSegment),
    rt(
        RBAC,
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        NAMESPACED,
        PathSegment,
    ),
    rt(
        RBAC,
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        0,
        PathSegment,
    ),
    rt(
        RBAC,
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        0,
        PathSegment,
    ),
    rt(
        NET,
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        NAMESPACED | GENERATION,
        Rfc1123Subdomain,
    ),
    rt(
        NET,
        "v1",
        "Ingress",
        "ingresses",
        &["ing"],
        NAMESPACED | STATUS | GENERATION,
        Rfc1123Subdomain,
    ),
    rt(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        &["hpa"],
        NS_WORKLOAD,
        Rfc1123Subdomain,
    ),
];

impl ResourceType {
    pub(crate) fn namespaced(&self) -> bool {
        self.traits & NAMESPACED != 0
    }

    pub(crate) fn has_status(&self) -> bool {
        self.traits & STATUS != 0
    }

    pub(crate) fn tracks_generation(&self) -> bool {
        self.traits & GENERATION != 0
    }

    pub(crate) fn in_all_category(&self) -> bool {
        self.traits & ALL != 0
    }

    pub(crate) fn has_scale(&self) -> bool {
        self.traits & SCALE != 0
    }

    pub(crate) fn api_version(&self) -> String {
        group_version(self.group, self.version)
    }

    pub(crate) fn singular(&self) -> String {
        self.kind.to_ascii_lowercase()
    }

    /// `deployments.apps`, or `namespaces` for the core group: how Status messages name it.
    pub(crate) fn group_resource(&self) -> String {
        qualify(self.plural, self.group)
    }

    /// `Deployment.apps`, or `Namespace`: how `Invalid` messages name the kind.
    pub(crate) fn group_kind(&self) -> String {
        qualify(self.kind, self.group)
    }
}

pub(super) fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

pub(crate) fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The resource for a body's `apiVersion` + `kind`.
pub(crate) fn resource_for_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource for a URL's group, version and plural.
pub(crate) fn resource_for_path(
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Distinct (group, version) pairs in table order, core first.
pub(crate) fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}
