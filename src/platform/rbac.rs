//! The RBAC platbot needs on a cluster, generated from what it is configured with
//! (`platbot rbac`): its own ClusterRole and the provisioner's (get, create and patch on
//! exactly the kinds the golden path makes). With impersonation on (the default) every
//! request platbot makes is sent as someone else, so its own role is only `impersonate`: users,
//! and only the groups of the catalog teams and `[groups]`. With impersonation off it reads
//! with its own credentials instead, so its role is the read rules. The sandbox seeds the same
//! read rules for every user (what platbot reads as the asker) and the provisioner's role.

use std::collections::BTreeSet;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::Serialize;
use serde_json::{Value, json};

use crate::platform::kube::KubeIdentity;

const RBAC_V1: &str = "rbac.authorization.k8s.io/v1";
const READ: &[&str] = &["get", "list", "watch"];

/// One `rules[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    pub verbs: Vec<String>,
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// A rule without resourceNames.
pub fn rule(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: owned(api_groups),
        resources: owned(resources),
        resource_names: Vec::new(),
        verbs: owned(verbs),
    }
}

/// What platbot reads to answer status, history, diagnose and log questions, everywhere.
/// Secrets are not in it: diagnose names a Secret's keys only where the asker may read it.
pub fn read_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "namespaces",
                "pods",
                "pods/log",
                "events",
                "services",
                "endpoints",
                "configmaps",
                "resourcequotas",
                "limitranges",
                "persistentvolumeclaims",
                "nodes",
            ],
            READ,
        ),
        rule(
            &["apps"],
            &["deployments", "replicasets", "statefulsets", "daemonsets"],
            READ,
        ),
        rule(&["batch"], &["jobs", "cronjobs"], READ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            READ,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], READ),
    ]
}

/// How platbot's own requests reach the cluster (`[kubernetes] impersonate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// Every request impersonates the asker (or the provisioner).
    AsTheAsker,
    /// Requests use platbot's own credentials.
    AsItself,
}

/// platbot's own ClusterRole. Impersonating: impersonate any user (chat users who are not in
/// the catalog may still read, as themselves) and only `groups` as groups, nothing else (no
/// request goes out as platbot itself; an impersonated user's access reviews are allowed by
/// Kubernetes' own `system:basic-user`). With no groups at all there is no group rule: an
/// empty `resourceNames` would allow every group. Acting as itself: the read rules.
pub fn platbot_rules(groups: &[String], acting: Acting) -> Vec<PolicyRule> {
    if acting == Acting::AsItself {
        return read_rules();
    }
    let mut rules = vec![rule(&[""], &["users"], &["impersonate"])];
    if !groups.is_empty() {
        rules.push(PolicyRule {
            api_groups: owned(&[""]),
            resources: owned(&["groups"]),
            resource_names: groups.to_vec(),
            verbs: owned(&["impersonate"]),
        });
    }
    rules
}

/// The provisioner's rules: get, create and patch (server-side apply) on each kind among
/// `objects`, and `bind` on the ClusterRoles their bindings grant (the API server asks for it
/// before anyone may grant a role they do not hold).
pub fn provisioner_rules(objects: &[DynamicObject]) -> Vec<PolicyRule> {
    let mut kinds: BTreeSet<(String, String)> = BTreeSet::new();
    let mut bound: BTreeSet<String> = BTreeSet::new();
    for obj in objects {
        let Some(types) = &obj.types else { continue };
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", types.api_version.as_str()));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &types.kind));
        kinds.insert((group.to_string(), resource.plural));
        if types.kind.ends_with("Binding")
            && obj.data["roleRef"]["kind"] == "ClusterRole"
            && let Some(role) = obj.data["roleRef"]["name"].as_str()
        {
            bound.insert(role.to_string());
        }
    }
    let mut rules: Vec<PolicyRule> = Vec::new();
    for (group, plural) in kinds {
        match rules.iter_mut().find(|r| r.api_groups == [group.clone()]) {
            Some(r) => r.resources.push(plural),
            None => rules.push(PolicyRule {
                api_groups: vec![group],
                resources: vec![plural],
                resource_names: Vec::new(),
                verbs: owned(&["get", "create", "patch"]),
            }),
        }
    }
    if !bound.is_empty() {
        rules.push(PolicyRule {
            api_groups: owned(&["rbac.authorization.k8s.io"]),
            resources: owned(&["clusterroles"]),
            resource_names: bound.into_iter().collect(),
            verbs: owned(&["bind"]),
        });
    }
    rules
}

/// A ClusterRole object.
pub fn cluster_role(name: &str, rules: &[PolicyRule]) -> Value {
    json!({
        "apiVersion": RBAC_V1, "kind": "ClusterRole",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "platbot" } },
        "rules": rules,
    })
}

/// A ClusterRoleBinding of `role` to users and groups.
pub fn cluster_role_binding(name: &str, role: &str, users: &[String], groups: &[String]) -> Value {
    let subject = |kind: &str, name: &String| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name });
    let subjects: Vec<Value> = users
        .iter()
        .map(|u| subject("User", u))
        .chain(groups.iter().map(|g| subject("Group", g)))
        .collect();
    json!({
        "apiVersion": RBAC_V1, "kind": "ClusterRoleBinding",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/managed-by": "platbot" } },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": subjects,
    })
}

/// What `platbot rbac` prints: platbot's ClusterRole for `groups`, and the provisioner's
/// ClusterRole and binding when there is a provisioner, as one multi-document YAML.
pub fn manifests(
    groups: &[String],
    acting: Acting,
    provisioner: Option<&KubeIdentity>,
    golden_path: &[DynamicObject],
) -> Result<String, serde_norway::Error> {
    let mut docs = vec![cluster_role("platbot", &platbot_rules(groups, acting))];
    if let Some(who) = provisioner {
        docs.push(cluster_role(
            "platbot-provisioner",
            &provisioner_rules(golden_path),
        ));
        docs.push(cluster_role_binding(
            "platbot-provisioner",
            "platbot-provisioner",
            std::slice::from_ref(&who.user),
            &who.groups,
        ));
    }
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&doc)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::golden_path::{GoldenPaths, sample_namespace_objects};

    #[test]
    fn impersonating_platbot_only_impersonates_and_acting_as_itself_only_reads() {
        let rules = platbot_rules(&["payments".into()], Acting::AsTheAsker);
        assert!(
            rules.iter().all(|r| r.verbs == ["impersonate"]),
            "{rules:?}"
        );
        assert_eq!(
            platbot_rules(&["payments".into()], Acting::AsItself),
            read_rules()
        );
    }

    #[test]
    fn groups_are_named_and_never_all() {
        let rules = platbot_rules(&["payments".into(), "platform".into()], Acting::AsTheAsker);
        let groups = rules
            .iter()
            .find(|r| r.resources == ["groups"])
            .expect("a group rule");
        assert_eq!(groups.resource_names, ["payments", "platform"]);
        // No groups at all: no group rule, rather than an empty (= every) resourceNames.
        assert!(
            !platbot_rules(&[], Acting::AsTheAsker)
                .iter()
                .any(|r| r.resources.contains(&"groups".to_string()))
        );
    }

    #[test]
    fn the_provisioner_gets_only_the_golden_path_kinds() {
        let objects = sample_namespace_objects(&GoldenPaths::builtin()).expect("render");
        let rules = provisioner_rules(&objects);
        let text = serde_json::to_string(&rules).expect("json");
        for kind in [
            "namespaces",
            "resourcequotas",
            "limitranges",
            "rolebindings",
            "networkpolicies",
        ] {
            assert!(text.contains(kind), "{kind} in {text}");
        }
        for absent in [
            "deployments",
            "secrets",
            "\"*\"",
            "delete",
            "clusterrolebindings",
        ] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
        let bind = rules
            .iter()
            .find(|r| r.verbs == ["bind"])
            .expect("bind on the granted role");
        assert_eq!(bind.resource_names, ["edit"]);
    }
}
