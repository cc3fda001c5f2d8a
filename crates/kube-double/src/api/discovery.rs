//! Discovery: the API versions, groups and resources the double serves, plain and
//! aggregated (`apidiscovery.k8s.io/v2`).

use axum::http::Method;
use serde_json::{Value, json};

use super::{Incoming, REVIEW_GROUP, Reply};
use crate::objects::{self, ApiError, RESOURCES, ResourceType};

const OBJECT_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
const AGGREGATED_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

pub(super) fn discovery(req: &Incoming, segments: &[&str]) -> Result<Reply, ApiError> {
    let known = matches!(
        segments,
        ["version"] | ["api"] | ["apis"] | ["api", "v1"] | ["apis", _] | ["apis", _, _]
    );
    if !known {
        return Err(ApiError::path_not_found());
    }
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let body = match segments {
        ["version"] => version_info(),
        ["api"] if req.wants_aggregated_discovery() => return Ok(aggregated(|g| g.is_empty())),
        ["apis"] if req.wants_aggregated_discovery() => return Ok(aggregated(|g| !g.is_empty())),
        ["api"] => {
            json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [] })
        }
        ["apis"] => group_list(),
        ["api", "v1"] => resource_list("", "v1")?,
        ["apis", group] => api_group(group)?,
        ["apis", group, version] => resource_list(group, version)?,
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(Reply::json(200, &body))
}

fn version_info() -> Value {
    json!({
        "major": "1", "minor": "35",
        "emulationMajor": "1", "emulationMinor": "35",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
        "gitVersion": "v1.35.0", "gitCommit": "platbot-sandbox", "gitTreeState": "clean",
        "buildDate": "2025-12-17T00:00:00Z", "goVersion": "go1.25.5", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn group_version_entry(group: &str, version: &str) -> Value {
    json!({ "groupVersion": objects::group_version(group, version), "version": version })
}

fn named_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (group, version) in objects::group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
    {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(version),
            None => groups.push((group, vec![version])),
        }
    }
    groups.push((REVIEW_GROUP, vec!["v1"]));
    groups
}

/// The access-review resource: create only, nothing stored.
fn review_resource() -> Value {
    json!({ "name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"] })
}

fn group_body(group: &str, versions: &[&str]) -> Value {
    json!({
        "name": group,
        "versions": versions.iter().map(|v| group_version_entry(group, v)).collect::<Vec<_>>(),
        "preferredVersion": group_version_entry(group, versions.first().copied().unwrap_or("v1")),
    })
}

pub(super) fn group_list() -> Value {
    let groups: Vec<Value> = named_groups()
        .iter()
        .map(|(g, vs)| group_body(g, vs))
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

fn api_group(group: &str) -> Result<Value, ApiError> {
    let (name, versions) = named_groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .ok_or_else(ApiError::path_not_found)?;
    let mut body = group_body(name, &versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(body)
}

fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceType> {
    let (group, version) = (group.to_string(), version.to_string());
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

fn categories(res: &ResourceType) -> Vec<&'static str> {
    if res.in_all_category() {
        vec!["all"]
    } else {
        Vec::new()
    }
}

pub(super) fn resource_list(group: &str, version: &str) -> Result<Value, ApiError> {
    let mut resources = Vec::new();
    if (group, version) == (REVIEW_GROUP, "v1") {
        resources.push(review_resource());
    }
    for res in resources_of(group, version) {
        resources.push(json!({
            "name": res.plural, "singularName": res.singular(), "namespaced": res.namespaced(), "kind": res.kind,
            "verbs": OBJECT_VERBS, "shortNames": res.short_names, "categories": categories(res),
        }));
        if res.has_status() {
            resources.push(json!({ "name": format!("{}/status", res.plural), "singularName": "", "namespaced": res.namespaced(), "kind": res.kind, "verbs": STATUS_VERBS }));
        }
        if res.kind == "Pod" {
            resources.push(json!({ "name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"] }));
        }
        if res.has_scale() {
            resources.push(json!({ "name": format!("{}/scale", res.plural), "singularName": "", "namespaced": res.namespaced(), "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": STATUS_VERBS }));
        }
    }
    if resources.is_empty() {
        return Err(ApiError::path_not_found());
    }
    Ok(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": objects::group_version(group, version), "resources": resources }),
    )
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`): every group, version and resource in one
/// answer, which is what recent kubectl and kube ask for first.
fn aggregated(include: impl Fn(&str) -> bool) -> Reply {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (group, version) in objects::group_versions()
        .into_iter()
        .filter(|(g, _)| include(g))
    {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(version),
            None => groups.push((group, vec![version])),
        }
    }
    let mut items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({ "version": v, "resources": resources_of(group, v).map(aggregated_resource).collect::<Vec<_>>(), "freshness": "Current" }))
                .collect();
            let metadata = if group.is_empty() { json!({ "creationTimestamp": null }) } else { json!({ "name": group, "creationTimestamp": null }) };
            json!({ "metadata": metadata, "versions": versions })
        })
        .collect();
    if include(REVIEW_GROUP) {
        let review = json!({
            "resource": "selfsubjectaccessreviews", "responseKind": { "group": REVIEW_GROUP, "version": "v1", "kind": "SelfSubjectAccessReview" },
            "scope": "Cluster", "singularResource": "selfsubjectaccessreview", "verbs": ["create"],
        });
        items.push(json!({ "metadata": { "name": REVIEW_GROUP, "creationTimestamp": null }, "versions": [{ "version": "v1", "resources": [review], "freshness": "Current" }] }));
    }
    let body = json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items });
    Reply {
        code: 200,
        content_type: AGGREGATED_TYPE,
        body: body.to_string(),
    }
}

fn aggregated_resource(res: &'static ResourceType) -> Value {
    let response_kind = json!({ "group": res.group, "version": res.version, "kind": res.kind });
    let mut subresources = Vec::new();
    if res.has_status() {
        subresources.push(json!({ "subresource": "status", "responseKind": response_kind, "verbs": STATUS_VERBS }));
    }
    if res.kind == "Pod" {
        subresources.push(json!({ "subresource": "log", "responseKind": { "group": "", "version": "", "kind": "" }, "verbs": ["get"] }));
    }
    if res.has_scale() {
        subresources.push(json!({ "subresource": "scale", "responseKind": { "group": "autoscaling", "version": "v1", "kind": "Scale" }, "verbs": STATUS_VERBS }));
    }
    json!({
        "resource": res.plural,
        "responseKind": response_kind,
        "scope": if res.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": res.singular(),
        "verbs": OBJECT_VERBS,
        "shortNames": res.short_names,
        "categories": categories(res),
        "subresources": subresources,
    })
}
