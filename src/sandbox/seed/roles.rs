//! Who may do what in the sandbox: the built-in ClusterRoles (`view`, `edit`, `admin`,
//! `cluster-admin`, with rules close to the real ones for the kinds the double serves), a read
//! role every authenticated user holds (what platbot reads as the asker), the `platform` group
//! as cluster-admin and the golden path's provisioner. Each team's `edit` comes from the
//! `team-edit` RoleBinding in its own namespaces (see `team_namespace` in `seed.rs`).

use serde_json::{Value, json};

use crate::platform::golden_path::{GoldenPaths, sample_namespace_objects};
use crate::platform::rbac::{
    PolicyRule, cluster_role_binding, provisioner_rules, read_rules, rule,
};

/// The group whose members administer the whole sandbox cluster.
pub const PLATFORM_GROUP: &str = "platform";
/// The identity the golden path runs as in the sandbox (`[kubernetes.provisioner]` default).
pub const PROVISIONER_USER: &str = "platbot-provisioner";
/// The ClusterRole of [`PROVISIONER_USER`]: the golden path's kinds only.
pub const PROVISIONER_ROLE: &str = "platbot-provisioner";
/// The ClusterRole every authenticated user holds in the sandbox.
pub const READ_ROLE: &str = "platbot-sandbox-read";

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "events",
                "limitranges",
                "namespaces",
                "namespaces/status",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "pods/log",
                "pods/status",
                "resourcequotas",
                "resourcequotas/status",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ]
}

fn edit_rules() -> Vec<PolicyRule> {
    let mut rules = view_rules();
    rules.extend([
        rule(&[""], &["secrets"], READ),
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "secrets",
                "serviceaccounts",
                "services",
            ],
            WRITE,
        ),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
    ]);
    rules
}

fn admin_rules() -> Vec<PolicyRule> {
    let mut rules = edit_rules();
    let all: Vec<&str> = READ.iter().chain(WRITE).copied().collect();
    rules.push(rule(
        &["rbac.authorization.k8s.io"],
        &["rolebindings", "roles"],
        &all,
    ));
    rules
}

/// The ClusterRoles, as (name, rules, whether Kubernetes ships it).
pub(super) fn cluster_roles() -> Vec<(&'static str, Vec<PolicyRule>, bool)> {
    // The built-in templates always render; an empty provisioner role would only refuse.
    let golden_path = sample_namespace_objects(&GoldenPaths::builtin()).unwrap_or_default();
    vec![
        ("cluster-admin", vec![rule(&["*"], &["*"], &["*"])], true),
        ("admin", admin_rules(), true),
        ("edit", edit_rules(), true),
        ("view", view_rules(), true),
        (READ_ROLE, read_rules(), false),
        (PROVISIONER_ROLE, provisioner_rules(&golden_path), false),
    ]
}

/// The ClusterRoleBindings: reads for everyone, cluster-admin for the platform group, the
/// provisioner's role for the provisioner.
pub(super) fn cluster_role_bindings() -> Vec<Value> {
    let names = |n: &str| vec![n.to_string()];
    vec![
        cluster_role_binding(READ_ROLE, READ_ROLE, &[], &names("system:authenticated")),
        cluster_role_binding(
            "platform-cluster-admin",
            "cluster-admin",
            &[],
            &names(PLATFORM_GROUP),
        ),
        cluster_role_binding(
            PROVISIONER_ROLE,
            PROVISIONER_ROLE,
            &names(PROVISIONER_USER),
            &[],
        ),
    ]
}

/// The rules of a built-in ClusterRole as JSON, for the seed objects.
pub(super) fn rules_json(rules: &[PolicyRule]) -> Value {
    serde_json::to_value(rules).unwrap_or_else(|_| json!([]))
}
