//! RBAC for impersonated requests: the double decides them from the Roles, ClusterRoles,
//! RoleBindings and ClusterRoleBindings it holds, the way the API server's RBAC authorizer
//! does (`k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac`), and words refusals like it.
//!
//! A request without impersonation headers is the double's own admin (test setup, platbot's
//! service account) and is always allowed; so are discovery paths. Writing a binding is also
//! checked against escalation: the writer needs `bind` on the role it grants, or every
//! permission in it. Aggregated ClusterRoles (`aggregationRule`), non-resource URL rules and
//! the `escalate` check on writes to roles themselves are not emulated.

use serde::Deserialize;
use serde_json::{Value, json};

use super::objects::{ApiError, Store, resource_for_kind};

const RBAC_V1: &str = "rbac.authorization.k8s.io/v1";
/// Every identity the API server authenticates is in this group.
pub(crate) const AUTHENTICATED: &str = "system:authenticated";

/// Who an impersonated request acts as: the user and their groups, `system:authenticated`
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) user: String,
    pub(crate) groups: Vec<String>,
}

impl Identity {
    /// The identity of `Impersonate-User` / `Impersonate-Group` headers; `Ok(None)` without
    /// them (the double's admin). Groups without a user are refused, as by the API server.
    pub(crate) fn from_headers(
        user: Option<&str>,
        groups: &[String],
    ) -> Result<Option<Self>, ApiError> {
        let Some(user) = user else {
            if groups.is_empty() {
                return Ok(None);
            }
            return Err(ApiError::bad_request(format!(
                "requested impersonation of groups {groups:?} without impersonating a user"
            )));
        };
        let mut all = groups.to_vec();
        if !all.iter().any(|g| g == AUTHENTICATED) {
            all.push(AUTHENTICATED.to_string());
        }
        Ok(Some(Self {
            user: user.to_string(),
            groups: all,
        }))
    }
}

/// What a resource request does, in the authorizer's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection (or bind, ...).
    pub(crate) verb: String,
    pub(crate) group: String,
    /// The plural (`deployments`).
    pub(crate) resource: String,
    /// `log`, `scale`, `status`.
    pub(crate) subresource: Option<String>,
    /// The request's namespace; for a Namespace itself, its own name (as the API server does).
    pub(crate) namespace: Option<String>,
    pub(crate) name: Option<String>,
}

impl Attributes {
    fn combined_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// The sentence after `is forbidden: `, as `forbiddenMessage` in the API server.
    fn refusal(&self, user: &str) -> String {
        let (verb, resource, group) = (&self.verb, self.combined_resource(), &self.group);
        match &self.namespace {
            Some(ns) => format!(
                "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{ns}\""
            ),
            None => format!(
                "User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" at the cluster scope"
            ),
        }
    }
}

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PolicyRule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
}

impl PolicyRule {
    fn allows(&self, attrs: &Attributes) -> bool {
        let has = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        has(&self.verbs, &attrs.verb)
            && has(&self.api_groups, &attrs.group)
            && self.resource_matches(attrs)
            && (self.resource_names.is_empty()
                || attrs
                    .name
                    .as_ref()
                    .is_some_and(|n| self.resource_names.contains(n)))
    }

    /// `ResourceMatches` of the RBAC authorizer: `*`, the exact `resource[/sub]`, or `*/sub`.
    fn resource_matches(&self, attrs: &Attributes) -> bool {
        let combined = attrs.combined_resource();
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || attrs
                    .subresource
                    .as_ref()
                    .is_some_and(|sub| r.strip_prefix("*/") == Some(sub.as_str()))
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RoleRef {
    kind: String,
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Subject {
    kind: String,
    name: String,
    namespace: Option<String>,
}

impl Subject {
    fn covers(&self, who: &Identity) -> bool {
        match self.kind.as_str() {
            "User" => self.name == who.user,
            "Group" => who.groups.contains(&self.name),
            "ServiceAccount" => self
                .namespace
                .as_ref()
                .is_some_and(|ns| who.user == format!("system:serviceaccount:{ns}:{}", self.name)),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Binding {
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

fn rbac_objects<'a>(
    store: &'a Store,
    kind: &str,
    namespace: Option<&'a str>,
) -> impl Iterator<Item = &'a Value> + 'a {
    resource_for_kind(RBAC_V1, kind)
        .into_iter()
        .flat_map(move |res| store.objects(res, namespace))
}

fn rules_of(store: &Store, kind: &str, namespace: Option<&str>, name: &str) -> Vec<PolicyRule> {
    let Some(res) = resource_for_kind(RBAC_V1, kind) else {
        return Vec::new();
    };
    store
        .get(res, namespace, name)
        .ok()
        .and_then(|role| role.get("rules").cloned())
        .and_then(|rules| serde_json::from_value(rules).ok())
        .unwrap_or_default()
}

/// What a binding that grants a request is called, for the review's `reason`.
fn grant_reason(kind: &str, binding: &Value, role_ref: &RoleRef, subject: &Subject) -> String {
    let name = binding
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let place = match binding
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(ns) => format!(
            "{kind} \"{name}\" of {} \"{}\" to {} \"{}\" in namespace \"{ns}\"",
            role_ref.kind, role_ref.name, subject.kind, subject.name
        ),
        None => format!(
            "{kind} \"{name}\" of {} \"{}\" to {} \"{}\"",
            role_ref.kind, role_ref.name, subject.kind, subject.name
        ),
    };
    format!("RBAC: allowed by {place}")
}

/// The binding that allows `attrs` for `who`, described as the API server's review reason;
/// `None` when nothing does. ClusterRoleBindings first, then the RoleBindings of the
/// request's namespace (to a Role there or to a ClusterRole).
pub(crate) fn allowed_by(store: &Store, who: &Identity, attrs: &Attributes) -> Option<String> {
    let decide = |kind: &str, binding: &Value, namespace: Option<&str>| {
        let parsed: Binding = serde_json::from_value(binding.clone()).ok()?;
        let subject = parsed.subjects.iter().find(|s| s.covers(who))?;
        let role_namespace = (parsed.role_ref.kind == "Role")
            .then_some(namespace)
            .flatten();
        let granted = rules_of(
            store,
            &parsed.role_ref.kind,
            role_namespace,
            &parsed.role_ref.name,
        )
        .iter()
        .any(|rule| rule.allows(attrs));
        granted.then(|| grant_reason(kind, binding, &parsed.role_ref, subject))
    };
    if let Some(reason) = rbac_objects(store, "ClusterRoleBinding", None)
        .find_map(|b| decide("ClusterRoleBinding", b, None))
    {
        return Some(reason);
    }
    let namespace = attrs.namespace.as_deref()?;
    rbac_objects(store, "RoleBinding", Some(namespace))
        .find_map(|b| decide("RoleBinding", b, Some(namespace)))
}

/// The escalation check on writing `binding` (a RoleBinding in `namespace`, or a
/// ClusterRoleBinding): `who` needs `bind` on the role it grants, or must hold every permission
/// in it there. `Some(why)` when it would escalate.
pub(crate) fn escalation(
    store: &Store,
    who: &Identity,
    namespace: Option<&str>,
    binding: &Value,
) -> Option<String> {
    let role_ref: RoleRef = serde_json::from_value(binding.get("roleRef")?.clone()).ok()?;
    let role_namespace = (role_ref.kind == "Role").then_some(namespace).flatten();
    let plural = if role_ref.kind == "Role" {
        "roles"
    } else {
        "clusterroles"
    };
    let bind = Attributes {
        verb: "bind".to_string(),
        group: "rbac.authorization.k8s.io".to_string(),
        resource: plural.to_string(),
        subresource: None,
        namespace: namespace.map(str::to_string),
        name: Some(role_ref.name.clone()),
    };
    if allowed_by(store, who, &bind).is_some() {
        return None;
    }
    let mut missing = Vec::new();
    for rule in rules_of(store, &role_ref.kind, role_namespace, &role_ref.name) {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                let (resource, subresource) = match resource.split_once('/') {
                    Some((r, sub)) => (r.to_string(), Some(sub.to_string())),
                    None => (resource.clone(), None),
                };
                let uncovered: Vec<&String> = rule
                    .verbs
                    .iter()
                    .filter(|verb| {
                        let attrs = Attributes {
                            verb: (*verb).clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            subresource: subresource.clone(),
                            namespace: namespace.map(str::to_string),
                            name: None,
                        };
                        allowed_by(store, who, &attrs).is_none()
                    })
                    .collect();
                if !uncovered.is_empty() {
                    missing.push(format!(
                        "{{APIGroups:[{group:?}], Resources:[{:?}], Verbs:{uncovered:?}}}",
                        attrs_resource(&resource, subresource.as_deref())
                    ));
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "user {:?} (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{}",
        who.user,
        who.groups,
        missing.join("\n")
    ))
}

fn attrs_resource(resource: &str, subresource: Option<&str>) -> String {
    match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    }
}

/// The 403 the API server sends when `who` may not do `attrs`.
pub(crate) fn forbidden(who: &Identity, attrs: &Attributes) -> ApiError {
    ApiError::forbidden(
        &attrs.group,
        &attrs.resource,
        attrs.name.as_deref(),
        &attrs.refusal(&who.user),
    )
}

/// Answers a `SelfSubjectAccessReview` body for `who` (`None`: the double's admin, allowed
/// everything; `enforce` off: every request is allowed, as with `AlwaysAllow`).
pub(crate) fn self_subject_access_review(
    store: &Store,
    who: Option<&Identity>,
    enforce: bool,
    body: &Value,
) -> Result<Value, ApiError> {
    let spec = body
        .get("spec")
        .ok_or_else(|| ApiError::bad_request("SelfSubjectAccessReview without spec"))?;
    let text = |pointer: &str| {
        spec.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (allowed, reason) = if spec.get("resourceAttributes").is_some() {
        let verb = text("/resourceAttributes/verb").ok_or_else(|| {
            ApiError::invalid_review("spec.resourceAttributes.verb: Required value")
        })?;
        let attrs = Attributes {
            verb,
            group: text("/resourceAttributes/group").unwrap_or_default(),
            resource: text("/resourceAttributes/resource").unwrap_or_default(),
            subresource: text("/resourceAttributes/subresource"),
            namespace: text("/resourceAttributes/namespace"),
            name: text("/resourceAttributes/name"),
        };
        match who {
            Some(who) if enforce => match allowed_by(store, who, &attrs) {
                Some(reason) => (true, reason),
                None => (false, String::new()),
            },
            _ => (true, String::new()),
        }
    } else if spec.get("nonResourceAttributes").is_some() {
        // Discovery and health paths are open to everyone here.
        (true, String::new())
    } else {
        return Err(ApiError::invalid_review(
            "spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let mut status = json!({ "allowed": allowed });
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    Ok(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": { "creationTimestamp": null },
        "spec": spec,
        "status": status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_string()).collect();
        PolicyRule {
            verbs: owned(verbs),
            api_groups: owned(groups),
            resources: owned(resources),
            resource_names: owned(names),
        }
    }

    fn attrs(verb: &str, group: &str, resource: &str, sub: Option<&str>) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.map(str::to_string),
            namespace: Some("payments-prod".into()),
            name: Some("cart".into()),
        }
    }

    #[test]
    fn rules_match_like_the_rbac_authorizer() {
        let scale = attrs("patch", "apps", "deployments", Some("scale"));
        assert!(rule(&["patch"], &["apps"], &["deployments/scale"], &[]).allows(&scale));
        assert!(rule(&["*"], &["*"], &["*"], &[]).allows(&scale));
        assert!(rule(&["patch"], &["apps"], &["*/scale"], &[]).allows(&scale));
        // The parent resource does not cover its subresources.
        assert!(!rule(&["patch"], &["apps"], &["deployments"], &[]).allows(&scale));
        assert!(!rule(&["get"], &["apps"], &["deployments/scale"], &[]).allows(&scale));
        assert!(!rule(&["patch"], &[""], &["deployments/scale"], &[]).allows(&scale));
        let get = attrs("get", "apps", "deployments", None);
        assert!(rule(&["get"], &["apps"], &["deployments"], &["cart"]).allows(&get));
        assert!(!rule(&["get"], &["apps"], &["deployments"], &["search"]).allows(&get));
        let list = Attributes {
            name: None,
            ..attrs("list", "apps", "deployments", None)
        };
        assert!(!rule(&["list"], &["apps"], &["deployments"], &["cart"]).allows(&list));
    }

    #[test]
    fn impersonated_identities_are_authenticated_and_groups_need_a_user() {
        let who = Identity::from_headers(Some("jonah.feld"), &["checkout".into()])
            .expect("valid")
            .expect("impersonated");
        assert_eq!(who.groups, ["checkout", AUTHENTICATED]);
        assert_eq!(Identity::from_headers(None, &[]).expect("admin"), None);
        let err = Identity::from_headers(None, &["checkout".into()]).expect_err("refused");
        assert_eq!(err.code(), 400);
    }

    #[test]
    fn refusals_are_worded_like_the_api_server() {
        let who = Identity::from_headers(Some("jonah.feld"), &[])
            .expect("valid")
            .expect("impersonated");
        let err = forbidden(&who, &attrs("patch", "apps", "deployments", None));
        assert_eq!(err.code(), 403);
        assert_eq!(err.reason(), "Forbidden");
        assert_eq!(
            err.message(),
            "deployments.apps \"cart\" is forbidden: User \"jonah.feld\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"payments-prod\""
        );
        let nodes = Attributes {
            namespace: None,
            name: None,
            ..attrs("list", "", "nodes", None)
        };
        assert_eq!(
            forbidden(&who, &nodes).message(),
            "nodes is forbidden: User \"jonah.feld\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
        );
    }
}
