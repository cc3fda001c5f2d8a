//! The object store behind the Kubernetes API double: the resource table, `Status` bodies,
//! validation, selectors, patch semantics and the store itself.
//!
//! Everything here is synchronous and knows nothing about HTTP, so it can be unit tested
//! directly; `api.rs` maps requests onto [`Store`].

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Change;

// ---------------------------------------------------------------------------------------------
// Resource table
// ---------------------------------------------------------------------------------------------

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

const NAMESPACED: u8 = 1;
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

const fn rt(
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

const RBAC: &str = "rbac.authorization.k8s.io";
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

fn qualify(name: &str, group: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Status bodies
// ---------------------------------------------------------------------------------------------

/// A failed API call, rendered exactly like the API server's `Status` body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Value) -> Self {
        Self {
            code,
            reason,
            message,
            details,
        }
    }

    /// HTTP status code (404, 409, 422, ...).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub fn reason(&self) -> &str {
        self.reason
    }

    /// Human-readable message, as the API server words it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Status` object the API server sends for this failure.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }

    pub(crate) fn not_found(res: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", res.group_resource());
        Self::new(404, "NotFound", message, resource_details(res, name))
    }

    pub(crate) fn namespace_not_found(namespace: &str) -> Self {
        Self::not_found(namespaces(), namespace)
    }

    pub(crate) fn already_exists(res: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", res.group_resource());
        Self::new(409, "AlreadyExists", message, resource_details(res, name))
    }

    pub(crate) fn conflict(res: &ResourceType, name: &str, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            res.group_resource()
        );
        Self::new(409, "Conflict", message, resource_details(res, name))
    }

    pub(crate) fn invalid(res: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        let summary = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let message = format!("{} \"{name}\" is invalid: {summary}", res.group_kind());
        let mut details = json!({ "name": name, "kind": res.kind, "causes": errors.iter().map(FieldError::cause).collect::<Vec<_>>() });
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        Self::new(422, "Invalid", message, details)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), Value::Null)
    }

    pub(crate) fn method_not_allowed() -> Self {
        let message = "the server does not allow this method on the requested resource".to_string();
        Self::new(405, "MethodNotAllowed", message, json!({}))
    }

    /// The generic 404 for paths that name no known resource.
    pub(crate) fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
            json!({}),
        )
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!(
            "the body of the request was in an unknown format ({content_type}) - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, \
             application/strategic-merge-patch+json"
        );
        Self::new(415, "UnsupportedMediaType", message, Value::Null)
    }

    /// RBAC said no: `deployments.apps "cart" is forbidden: User "u" cannot patch ...`.
    pub(crate) fn forbidden(group: &str, resource: &str, name: Option<&str>, why: &str) -> Self {
        let what = qualify(resource, group);
        let message = match name {
            Some(name) => format!("{what} \"{name}\" is forbidden: {why}"),
            None => format!("{what} is forbidden: {why}"),
        };
        let mut details = json!({ "kind": resource });
        if let Some(name) = name {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(403, "Forbidden", message, details)
    }

    /// A SelfSubjectAccessReview the API server would not accept.
    pub(crate) fn invalid_review(why: &str) -> Self {
        let message =
            format!("SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: {why}");
        let details = json!({ "group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview" });
        Self::new(422, "Invalid", message, details)
    }

    /// A patch that is well-formed but cannot be applied (RFC 6902 `test` failed, missing path).
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message.into(), json!({}))
    }
}

fn resource_details(res: &ResourceType, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": res.plural });
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    details
}

fn namespaces() -> &'static ResourceType {
    &RESOURCES[0]
}

/// One field-level validation failure (a `causes[]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    field: String,
    reason: &'static str,
    message: String,
}

impl FieldError {
    fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        let message = format!("Invalid value: {value}: {detail}");
        Self {
            field: field.into(),
            reason: "FieldValueInvalid",
            message,
        }
    }

    fn required(field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            field: field.into(),
            reason: "FieldValueRequired",
            message,
        }
    }

    fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("Unsupported value: \"{value}\": supported values: {list}");
        Self {
            field: field.into(),
            reason: "FieldValueNotSupported",
            message,
        }
    }

    fn cause(&self) -> Value {
        json!({ "reason": self.reason, "message": self.message, "field": self.field })
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// Validation (the API server's messages, verbatim)
// ---------------------------------------------------------------------------------------------

const LABEL_1123_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with \
an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for \
validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is \
'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' \
or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex \
used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_rfc1123_label(s: &str) -> bool {
    let starts_ends = s.starts_with(is_lower_alnum) && s.ends_with(is_lower_alnum);
    starts_ends && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

fn is_rfc1123_subdomain(s: &str) -> bool {
    s.split('.').all(is_rfc1123_label)
}

fn max_len(s: &str, max: usize) -> Option<String> {
    (s.len() > max).then(|| format!("must be no more than {max} characters"))
}

/// The API server's messages for a name under `rule` (empty when valid).
pub(crate) fn name_errors(rule: NameRule, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    match rule {
        NameRule::Rfc1123Label => {
            out.extend(max_len(name, 63));
            if !is_rfc1123_label(name) {
                out.push(LABEL_1123_MSG.to_string());
            }
        }
        NameRule::Rfc1035Label => {
            out.extend(max_len(name, 63));
            if !is_rfc1123_label(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push(LABEL_1035_MSG.to_string());
            }
        }
        NameRule::Rfc1123Subdomain => {
            out.extend(max_len(name, 253));
            if !is_rfc1123_subdomain(name) {
                out.push(SUBDOMAIN_MSG.to_string());
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                out.push(format!("may not be '{name}'"));
            }
            for bad in ['/', '%'] {
                if name.contains(bad) {
                    out.push(format!("may not contain '{bad}'"));
                }
            }
        }
    }
    out
}

fn is_qualified_part(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// Messages for a label or annotation key (`prefix/name`), empty when valid.
pub(crate) fn qualified_name_errors(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut out = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            out.push("prefix part must be non-empty".to_string());
        } else {
            out.extend(
                name_errors(NameRule::Rfc1123Subdomain, prefix)
                    .into_iter()
                    .map(|m| format!("prefix part {m}")),
            );
        }
    }
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".to_string());
        }
        if !is_qualified_part(name) {
            out.push(QUALIFIED_NAME_MSG.to_string());
        }
    }
    out
}

/// Messages for a label value, empty when valid.
pub(crate) fn label_value_errors(value: &str) -> Vec<String> {
    let mut out: Vec<String> = max_len(value, 63).into_iter().collect();
    if !value.is_empty() && !is_qualified_part(value) {
        out.push(LABEL_VALUE_MSG.to_string());
    }
    out
}

/// Validates what the API server validates for every object, plus a few structural checks per
/// kind (selectors, containers, roleRef). Everything else in a spec is accepted as is.
pub(crate) fn validate(res: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = meta_str(obj, "name").unwrap_or_default();
    let mut errors = metadata_errors(res, obj);
    errors.extend(kind_errors(res, obj));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(res, name, &errors))
    }
}

fn metadata_errors(res: &ResourceType, obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match meta_str(obj, "name") {
        None | Some("") => errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(name) => {
            for msg in name_errors(res.names, name) {
                errors.push(FieldError::invalid("metadata.name", &quote(name), &msg));
            }
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            for msg in qualified_name_errors(key) {
                errors.push(FieldError::invalid("metadata.labels", &quote(key), &msg));
            }
            let value = value.as_str().unwrap_or_default();
            for msg in label_value_errors(value) {
                errors.push(FieldError::invalid("metadata.labels", &quote(value), &msg));
            }
        }
    }
    if let Some(annotations) = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for key in annotations.keys() {
            for msg in qualified_name_errors(key) {
                errors.push(FieldError::invalid(
                    "metadata.annotations",
                    &quote(key),
                    &msg,
                ));
            }
        }
    }
    errors
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn kind_errors(res: &ResourceType, obj: &Value) -> Vec<FieldError> {
    match res.kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => workload_errors(obj),
        "Pod" => pod_spec_errors(obj.get("spec"), "spec"),
        "Job" => pod_spec_errors(obj.pointer("/spec/template/spec"), "spec.template.spec"),
        "CronJob" => cronjob_errors(obj),
        "RoleBinding" => role_ref_errors(obj, &["Role", "ClusterRole"]),
        "ClusterRoleBinding" => role_ref_errors(obj, &["ClusterRole"]),
        _ => Vec::new(),
    }
}

fn workload_errors(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(replicas) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        errors.push(FieldError::invalid(
            "spec.replicas",
            &replicas.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    match obj.pointer("/spec/selector").and_then(Value::as_object) {
        None => errors.push(FieldError::required("spec.selector", "")),
        Some(selector) => errors.extend(selector_template_errors(selector, obj)),
    }
    errors.extend(pod_spec_errors(
        obj.pointer("/spec/template/spec"),
        "spec.template.spec",
    ));
    errors
}

/// The selector's matchLabels must be a subset of the pod template's labels.
fn selector_template_errors(selector: &Map<String, Value>, obj: &Value) -> Option<FieldError> {
    let wanted = selector.get("matchLabels").and_then(Value::as_object)?;
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let matches = wanted
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    if matches {
        return None;
    }
    let shown = labels
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k:?}:{}", v))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let value = format!("map[string]string{{{shown}}}");
    Some(FieldError::invalid(
        "spec.template.metadata.labels",
        &value,
        "`selector` does not match template `labels`",
    ))
}

fn pod_spec_errors(spec: Option<&Value>, path: &str) -> Vec<FieldError> {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        return vec![FieldError::required(format!("{path}.containers"), "")];
    };
    let mut errors = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        match c.get("name").and_then(Value::as_str) {
            None | Some("") => errors.push(FieldError::required(format!("{at}.name"), "")),
            Some(name) => {
                for msg in name_errors(NameRule::Rfc1123Label, name) {
                    errors.push(FieldError::invalid(
                        format!("{at}.name"),
                        &quote(name),
                        &msg,
                    ));
                }
            }
        }
        if c.get("image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            errors.push(FieldError::required(format!("{at}.image"), ""));
        }
    }
    errors
}

fn cronjob_errors(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if obj
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .is_empty()
    {
        errors.push(FieldError::required("spec.schedule", ""));
    }
    let spec = obj.pointer("/spec/jobTemplate/spec/template/spec");
    errors.extend(pod_spec_errors(spec, "spec.jobTemplate.spec.template.spec"));
    errors
}

fn role_ref_errors(obj: &Value, kinds: &[&str]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let field = |name: &str| {
        obj.pointer(&format!("/roleRef/{name}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    if field("apiGroup") != RBAC {
        errors.push(FieldError::unsupported(
            "roleRef.apiGroup",
            field("apiGroup"),
            &[RBAC],
        ));
    }
    if !kinds.contains(&field("kind")) {
        errors.push(FieldError::unsupported(
            "roleRef.kind",
            field("kind"),
            kinds,
        ));
    }
    if field("name").is_empty() {
        errors.push(FieldError::required("roleRef.name", ""));
    }
    errors
}

// ---------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed `labelSelector` query (equality- and set-based requirements, ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses the `labelSelector` syntax; an empty string selects everything.
    pub(crate) fn parse(input: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self(requirements));
        }
        for term in split_top_level(input) {
            let req = parse_requirement(term.trim())
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
            requirements.push(req);
        }
        Ok(Self(requirements))
    }

    /// Whether an object with these labels is selected. As in Kubernetes, `!=` and `notin`
    /// also select objects that lack the key.
    pub(crate) fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas that are not inside `( ... )`.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    if term.is_empty() {
        return Err("found '', expected: identifier".to_string());
    }
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(checked_key(key.trim())?));
    }
    if let Some((head, tail)) = term.split_once('(') {
        return parse_set_requirement(head, tail);
    }
    for (op, build) in [
        (
            "!=",
            Requirement::NotEquals as fn(String, String) -> Requirement,
        ),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = term.split_once(op) {
            return Ok(build(
                checked_key(key.trim())?,
                checked_value(value.trim())?,
            ));
        }
    }
    if term.contains(char::is_whitespace) {
        return Err(format!(
            "found '{term}', expected: '=', '!=', '==', 'in', notin'"
        ));
    }
    Ok(Requirement::Exists(checked_key(term)?))
}

fn parse_set_requirement(head: &str, tail: &str) -> Result<Requirement, String> {
    let words: Vec<&str> = head.split_whitespace().collect();
    let [key, op] = words.as_slice() else {
        return Err(format!(
            "found '{}', expected: key and 'in' or 'notin'",
            head.trim()
        ));
    };
    let inner = tail
        .trim_end()
        .strip_suffix(')')
        .ok_or_else(|| "found '', expected: ')'".to_string())?;
    let values = inner
        .split(',')
        .map(|v| checked_value(v.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if values.iter().all(String::is_empty) {
        return Err("for 'in', 'notin' operators, values set can't be empty".to_string());
    }
    let key = checked_key(key)?;
    match *op {
        "in" => Ok(Requirement::In(key, values)),
        "notin" => Ok(Requirement::NotIn(key, values)),
        other => Err(format!("found '{other}', expected: 'in', 'notin'")),
    }
}

fn checked_key(key: &str) -> Result<String, String> {
    match qualified_name_errors(key).first() {
        None => Ok(key.to_string()),
        Some(msg) => Err(format!("key: Invalid value: {key:?}: {msg}")),
    }
}

fn checked_value(value: &str) -> Result<String, String> {
    match label_value_errors(value).first() {
        None => Ok(value.to_string()),
        Some(msg) => Err(format!("values[0]: Invalid value: {value:?}: {msg}")),
    }
}

/// A parsed `fieldSelector` query: `field=value`, `field==value`, `field!=value`, ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a field selector, rejecting fields the real server does not index for `res`.
    pub(crate) fn parse(input: &str, res: &ResourceType) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        if input.trim().is_empty() {
            return Ok(Self(terms));
        }
        for term in input.split(',') {
            let (field, equal, value) = split_field_term(term.trim()).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid selector: '{input}'; can't understand '{term}'"
                ))
            })?;
            if !supported_field(res, field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            terms.push((field.to_string(), equal, value.to_string()));
        }
        Ok(Self(terms))
    }

    pub(crate) fn matches(&self, obj: &Value) -> bool {
        self.0
            .iter()
            .all(|(field, equal, value)| (field_value(obj, field) == *value) == *equal)
    }
}

fn split_field_term(term: &str) -> Option<(&str, bool, &str)> {
    if let Some((f, v)) = term.split_once("!=") {
        return Some((f.trim(), false, v.trim()));
    }
    let (f, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    Some((f.trim(), true, v.trim()))
}

fn supported_field(res: &ResourceType, field: &str) -> bool {
    let extra: &[&str] = match res.kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "Namespace" => &["status.phase"],
        "Secret" => &["type"],
        "Node" => &["spec.unschedulable"],
        "ReplicaSet" => &["status.replicas"],
        "Job" => &["status.successful"],
        _ => &[],
    };
    field == "metadata.name" || field == "metadata.namespace" || extra.contains(&field)
}

/// The string form of a dotted field (`""` when absent, as the API server treats it).
fn field_value(obj: &Value, path: &str) -> String {
    let value = if path == "source" {
        obj.pointer("/source/component")
    } else {
        obj.pointer(&format!("/{}", path.replace('.', "/")))
    };
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Patch semantics
// ---------------------------------------------------------------------------------------------

/// The patch types the API server accepts, from the request's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
    /// `application/merge-patch+json`: RFC 7386.
    Merge,
    /// `application/strategic-merge-patch+json`: a subset, see [`strategic_merge`].
    Strategic,
    /// `application/json-patch+json`: RFC 6902.
    Json,
}

impl PatchType {
    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/json-patch+json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything else replaces.
/// Server-side apply uses the same merge here (maps merged, lists replaced).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Lists that strategic merge patch merges by a key instead of replacing.
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("volumes", "name"),
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("volumeDevices", "devicePath"),
    ("imagePullSecrets", "name"),
    ("conditions", "type"),
    ("ownerReferences", "uid"),
    ("hostAliases", "ip"),
    ("topologySpreadConstraints", "topologyKey"),
    ("resourceClaims", "name"),
];

/// Primitive lists that strategic merge patch unions instead of replacing.
const MERGED_PRIMITIVE_LISTS: &[&str] = &["finalizers"];

fn merge_key_for(field: &str, items: &[Value]) -> Option<&'static str> {
    if field == "ports" {
        // Container ports merge on containerPort, Service ports on port.
        let container = items.iter().any(|i| i.get("containerPort").is_some());
        return Some(if container { "containerPort" } else { "port" });
    }
    MERGE_KEYS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, k)| *k)
}

/// Strategic merge patch, the subset kubectl relies on: maps merge like a merge patch; the
/// well-known lists of the built-in types (containers, env, volumes, ports, ...) merge by their
/// merge key; `$patch: delete|replace`, `$deleteFromPrimitiveList/` are honoured;
/// `$setElementOrder/` and `$retainKeys` are accepted and ignored. Lists the table does not know
/// are replaced, as a JSON merge patch would.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(&Value::Object(patch.clone()));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(gone)) =
                (target.get_mut(field), value.as_array())
            {
                list.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Array(current)), Value::Array(items)) => merge_list(key, current, items),
            (Some(current @ Value::Object(_)), Value::Object(_)) => strategic_merge(current, value),
            _ => {
                target.insert(key.clone(), strip_directives(value));
            }
        }
    }
}

fn merge_list(field: &str, current: &mut Vec<Value>, items: &[Value]) {
    if MERGED_PRIMITIVE_LISTS.contains(&field) {
        for item in items {
            if !current.contains(item) {
                current.push(item.clone());
            }
        }
        return;
    }
    let Some(key) = merge_key_for(field, items).filter(|_| items.iter().all(Value::is_object))
    else {
        *current = items.iter().map(strip_directives).collect();
        return;
    };
    for item in items {
        let id = item.get(key);
        let position = current.iter().position(|c| c.get(key) == id);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                current.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut current[i], item),
            (None, false) => current.push(strip_directives(item)),
        }
    }
}

/// Removes `$`-directives from a value that is inserted as is.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch (add, remove, replace, move, copy, test). Errors are worded after the
/// API server's (`jsonpatch ... operation does not apply: doc is missing path: ...`).
pub(crate) fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?;
    for op in ops {
        apply_json_op(doc, op)?;
    }
    Ok(())
}

fn apply_json_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let name = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or("JSON patch operation has no \"op\"")?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or("JSON patch operation has no \"path\"")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| format!("jsonpatch {name} operation has no \"value\""))
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("jsonpatch {name} operation has no \"from\""))
    };
    let missing =
        |p: &str| format!("jsonpatch {name} operation does not apply: doc is missing path: {p:?}");
    match name {
        "add" => pointer_add(doc, path, value()?).ok_or_else(|| missing(path)),
        "remove" => pointer_remove(doc, path)
            .map(drop)
            .ok_or_else(|| missing(path)),
        "replace" => {
            let slot = doc.pointer_mut(path).ok_or_else(|| missing(path))?;
            *slot = value()?;
            Ok(())
        }
        "move" => {
            let from = from()?;
            let moved = pointer_remove(doc, from).ok_or_else(|| missing(from))?;
            pointer_add(doc, path, moved).ok_or_else(|| missing(path))
        }
        "copy" => {
            let from = from()?;
            let copied = doc.pointer(from).cloned().ok_or_else(|| missing(from))?;
            pointer_add(doc, path, copied).ok_or_else(|| missing(path))
        }
        "test" => match doc.pointer(path) {
            Some(actual) if *actual == value()? => Ok(()),
            _ => Err(format!("testing value {path} failed: test failed")),
        },
        other => Err(format!(
            "unexpected kind of JSON patch operation: {other:?}"
        )),
    }
}

/// Splits a JSON pointer into its parent pointer and unescaped last token.
fn split_pointer(path: &str) -> Option<(&str, String)> {
    let idx = path.rfind('/')?;
    let token = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Some((&path[..idx], token))
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> Option<()> {
    if path.is_empty() {
        *doc = value;
        return Some(());
    }
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => {
            map.insert(token, value);
            Some(())
        }
        Value::Array(items) => {
            let index = if token == "-" {
                items.len()
            } else {
                token.parse::<usize>().ok()?
            };
            (index <= items.len()).then(|| items.insert(index, value))
        }
        _ => None,
    }
}

fn pointer_remove(doc: &mut Value, path: &str) -> Option<Value> {
    let (parent, token) = split_pointer(path)?;
    match doc.pointer_mut(parent)? {
        Value::Object(map) => map.remove(&token),
        Value::Array(items) => {
            let index = token.parse::<usize>().ok()?;
            (index < items.len()).then(|| items.remove(index))
        }
        _ => None,
    }
}

/// A minimal `managedFields` `fieldsV1` tree: `f:<key>` for every field the request set;
/// list elements are not itemised.
fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (format!("f:{k}"), fields_v1(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// The part of a request body a field manager claims (identity and server fields left out).
fn claimed_fields(body: &Value, sub: Subresource) -> Value {
    let mut claimed = body.clone();
    if let Some(map) = claimed.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if sub == Subresource::Main {
            map.remove("status");
        }
    }
    if let Some(meta) = claimed.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
        ] {
            meta.remove(key);
        }
        if meta.is_empty() {
            claimed.as_object_mut().map(|m| m.remove("metadata"));
        }
    }
    fields_v1(&claimed)
}

// ---------------------------------------------------------------------------------------------
// Object helpers
// ---------------------------------------------------------------------------------------------

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(key)?.as_str()
}

fn set_meta(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(key.to_string(), value);
        }
    }
}

fn remove_meta(obj: &mut Value, key: &str) -> Option<Value> {
    obj.get_mut("metadata")?.as_object_mut()?.remove(key)
}

fn set_field(obj: &mut Value, key: &str, value: Option<Value>) {
    if let Some(map) = obj.as_object_mut() {
        match value {
            Some(v) => map.insert(key.to_string(), v),
            None => map.remove(key),
        };
    }
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_suffix(len: usize) -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(len)
        .map(|b| char::from(SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()]))
        .collect()
}

/// Checks the body is an object whose apiVersion/kind (if given) match the URL, fills them in,
/// and fills `metadata.namespace` from the URL.
fn prepare_body(
    res: &ResourceType,
    namespace: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {})",
            res.kind
        )));
    };
    if map.get("metadata").is_some_and(|m| !m.is_object()) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    let expected = res.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != expected => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != res.kind => {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): kind {k:?} does not match the URL",
                res.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(expected));
    map.insert("kind".into(), json!(res.kind));
    fill_namespace(res, namespace, obj)
}

fn fill_namespace(
    res: &ResourceType,
    namespace: Option<&str>,
    obj: &mut Value,
) -> Result<(), ApiError> {
    if !res.namespaced() {
        remove_meta(obj, "namespace");
        return Ok(());
    }
    let url_ns = namespace.unwrap_or("default");
    match meta_str(obj, "namespace") {
        Some(ns) if !ns.is_empty() && ns != url_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            set_meta(obj, "namespace", json!(url_ns));
            Ok(())
        }
    }
}

fn check_url_name(obj: &mut Value, url_name: &str) -> Result<(), ApiError> {
    match meta_str(obj, "name") {
        None | Some("") => {
            set_meta(obj, "name", json!(url_name));
            Ok(())
        }
        Some(name) if name == url_name => Ok(()),
        Some(name) => Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({url_name})"
        ))),
    }
}

/// The state the API server gives a new object's status (status is not settable on create).
fn initial_status(res: &ResourceType) -> Option<Value> {
    match res.kind {
        "Namespace" => Some(json!({ "phase": "Active" })),
        "Pod" => Some(json!({ "phase": "Pending", "qosClass": "BestEffort" })),
        _ if res.has_status() => Some(json!({})),
        _ => None,
    }
}

/// Defaults the API server always applies to a Namespace.
fn namespace_defaults(obj: &mut Value) {
    let name = meta_str(obj, "name").unwrap_or_default().to_string();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if obj.pointer("/spec/finalizers").is_none() {
        set_field(obj, "spec", Some(json!({ "finalizers": ["kubernetes"] })));
    }
}

/// Equal apart from what the server changes on every write (so a no-op write stays a no-op).
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        remove_meta(&mut v, "resourceVersion");
        remove_meta(&mut v, "managedFields");
        v
    };
    strip(a) == strip(b)
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    Main,
    Status,
}

/// Options common to writes (from the query string).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOptions<'a> {
    pub(crate) dry_run: bool,
    pub(crate) field_manager: Option<&'a str>,
    pub(crate) subresource: Subresource,
}

/// `DeleteOptions` the double honours.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) dry_run: bool,
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    group: &'static str,
    plural: &'static str,
    namespace: String,
    name: String,
}

impl ObjectKey {
    fn new(res: &'static ResourceType, namespace: Option<&str>, name: &str) -> Self {
        let namespace = if res.namespaced() {
            namespace.unwrap_or("default").to_string()
        } else {
            String::new()
        };
        Self {
            group: res.group,
            plural: res.plural,
            namespace,
            name: name.to_string(),
        }
    }

    fn change(&self, kind: &'static str, object: Value) -> Change {
        let namespace = (!self.namespace.is_empty()).then(|| self.namespace.clone());
        Change {
            group: self.group,
            plural: self.plural,
            namespace,
            kind,
            object,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LogKey {
    namespace: String,
    pod: String,
    container: String,
    previous: bool,
}

/// All objects, the global resourceVersion counter, pod logs and the mutation counter.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    revision: u64,
    mutations: u64,
    logs: BTreeMap<LogKey, String>,
    changes: Vec<Change>,
}

impl Store {
    /// An empty cluster with the namespaces every cluster has.
    pub(crate) fn with_default_namespaces() -> Self {
        let mut store = Self::default();
        for name in ["default", "kube-system"] {
            // Cannot fail: the names are valid and the namespace kind is in the table.
            let _ = store.insert(
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } }),
            );
        }
        store
    }

    pub(crate) fn mutations(&self) -> u64 {
        self.mutations
    }

    pub(crate) fn resource_version(&self) -> String {
        self.revision.to_string()
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// Seeds an object as is (status included), filling the server fields it lacks. Replaces
    /// an existing object of the same name. Does not count as a mutation.
    pub(crate) fn insert(&mut self, mut obj: Value) -> Result<(), ApiError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let res = resource_for_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind {kind:?} is registered for version {api_version:?}"
            ))
        })?;
        let namespace = meta_str(&obj, "namespace").map(str::to_string);
        prepare_body(res, namespace.as_deref(), &mut obj)?;
        if res.kind == "Namespace" {
            namespace_defaults(&mut obj);
        }
        validate(res, &obj)?;
        self.require_namespace(res, namespace.as_deref())?;
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        fill_if_missing(&mut obj, "uid", || json!(uuid::Uuid::new_v4().to_string()));
        fill_if_missing(&mut obj, "creationTimestamp", || json!(now_rfc3339()));
        if res.tracks_generation() {
            fill_if_missing(&mut obj, "generation", || json!(1));
        }
        if obj.get("status").is_none() {
            set_field(&mut obj, "status", initial_status(res));
        }
        let rv = self.next_revision();
        set_meta(&mut obj, "resourceVersion", json!(rv));
        self.store_object(ObjectKey::new(res, namespace.as_deref(), &name), obj);
        Ok(())
    }

    pub(crate) fn get(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        if res.namespaced() && namespace.is_none() {
            return Err(ApiError::not_found(res, name));
        }
        self.objects
            .get(&ObjectKey::new(res, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// Stored objects of a kind (all namespaces when `namespace` is None), with kind/apiVersion.
    pub(crate) fn objects<'a>(
        &'a self,
        res: &'static ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.group == res.group && k.plural == res.plural)
            .filter(move |(k, _)| namespace.is_none_or(|ns| !res.namespaced() || k.namespace == ns))
            .map(|(_, v)| v)
    }

    /// The `<Kind>List` the API server returns (items without kind/apiVersion, as it sends them).
    pub(crate) fn list(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Value {
        let items: Vec<Value> = self
            .objects(res, namespace)
            .filter(|o| labels.matches(o.pointer("/metadata/labels").and_then(Value::as_object)))
            .filter(|o| fields.matches(o))
            .map(|o| {
                let mut item = o.clone();
                set_field(&mut item, "apiVersion", None);
                set_field(&mut item, "kind", None);
                item
            })
            .collect();
        json!({
            "kind": format!("{}List", res.kind),
            "apiVersion": res.api_version(),
            "metadata": { "resourceVersion": self.resource_version() },
            "items": items,
        })
    }

    fn require_namespace(
        &self,
        res: &ResourceType,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !res.namespaced() {
            return Ok(());
        }
        let ns = namespace.unwrap_or("default");
        let key = ObjectKey::new(namespaces(), None, ns);
        if self.objects.contains_key(&key) {
            Ok(())
        } else {
            Err(ApiError::namespace_not_found(ns))
        }
    }

    /// POST: creates an object (generateName honoured). Returns the stored object.
    pub(crate) fn create(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        self.create_with(res, namespace, &mut obj, opts, "Update")?;
        Ok(obj)
    }

    fn create_with(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        obj: &mut Value,
        opts: WriteOptions<'_>,
        operation: &str,
    ) -> Result<(), ApiError> {
        prepare_body(res, namespace, obj)?;
        generate_name(obj);
        self.require_namespace(res, namespace)?;
        validate(res, obj)?;
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let key = ObjectKey::new(res, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        let body = obj.clone();
        for server_field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            remove_meta(obj, server_field);
        }
        set_meta(obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
        set_meta(obj, "creationTimestamp", json!(now_rfc3339()));
        if res.tracks_generation() {
            set_meta(obj, "generation", json!(1));
        }
        if res.kind == "Namespace" {
            namespace_defaults(obj);
        }
        set_field(obj, "status", initial_status(res));
        record_manager(obj, opts, operation, &body);
        if !opts.dry_run {
            self.persist(key, obj);
        }
        Ok(())
    }

    fn persist(&mut self, key: ObjectKey, obj: &mut Value) {
        let rv = self.next_revision();
        set_meta(obj, "resourceVersion", json!(rv));
        self.mutations += 1;
        self.store_object(key, obj.clone());
    }

    /// Stores an object and queues the matching watch event.
    fn store_object(&mut self, key: ObjectKey, obj: Value) {
        let kind = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.changes.push(key.change(kind, obj.clone()));
        self.objects.insert(key, obj);
    }

    /// The watch events queued since the last call.
    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// PUT: replaces an object (or only its status), with optimistic concurrency.
    pub(crate) fn replace(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        prepare_body(res, namespace, &mut obj)?;
        check_url_name(&mut obj, name)?;
        let existing = self.get(res, namespace, name)?;
        let body = obj.clone();
        self.update(res, &existing, obj, &body, opts, "Update")
    }

    /// PATCH: all four patch types; server-side apply creates the object when it is absent.
    /// Returns whether the object was created, and the result.
    pub(crate) fn patch(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        opts: WriteOptions<'_>,
    ) -> Result<(bool, Value), ApiError> {
        if patch_type == PatchType::Apply {
            require_field_manager(opts)?;
        }
        let existing = match self.get(res, namespace, name) {
            Ok(existing) => existing,
            Err(e)
                if patch_type == PatchType::Apply
                    && opts.subresource == Subresource::Main
                    && e.code() == 404 =>
            {
                let mut obj = checked_apply_body(res, namespace, name, patch)?;
                self.create_with(res, namespace, &mut obj, opts, "Apply")?;
                return Ok((true, obj));
            }
            Err(e) => return Err(e),
        };
        let mut patched = existing.clone();
        if patch_type == PatchType::Apply {
            merge_patch(
                &mut patched,
                &checked_apply_body(res, namespace, name, patch)?,
            );
        } else {
            apply_patch(&mut patched, patch_type, patch)?;
        }
        prepare_body(res, namespace, &mut patched)?;
        check_url_name(&mut patched, name)?;
        let operation = if patch_type == PatchType::Apply {
            "Apply"
        } else {
            "Update"
        };
        self.update(res, &existing, patched, patch, opts, operation)
            .map(|obj| (false, obj))
    }

    /// The `autoscaling/v1` Scale of a workload, as `GET .../{name}/scale` answers.
    pub(crate) fn scale(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(&self.get(res, namespace, name)?))
    }

    /// PUT/PATCH on `.../{name}/scale`: `change` edits the current Scale; only its
    /// `spec.replicas` reaches the workload.
    pub(crate) fn update_scale(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let existing = self.get(res, namespace, name)?;
        let mut scale = scale_of(&existing);
        change(&mut scale)?;
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        if replicas < 0 {
            let shown = scale
                .pointer("/spec/replicas")
                .map_or_else(|| "null".to_string(), Value::to_string);
            let error = FieldError::invalid(
                "spec.replicas",
                &shown,
                "must be greater than or equal to 0",
            );
            return Err(ApiError::invalid(&SCALE_RESOURCE, name, &[error]));
        }
        let mut next = existing.clone();
        let mut body = json!({ "spec": { "replicas": replicas } });
        if let Some(rv) = meta_str(&scale, "resourceVersion") {
            body["metadata"] = json!({ "resourceVersion": rv });
        }
        merge_patch(&mut next, &body);
        let opts = WriteOptions {
            dry_run,
            field_manager: None,
            subresource: Subresource::Main,
        };
        let updated = self.update(res, &existing, next, &body, opts, "Update")?;
        Ok(scale_of(&updated))
    }

    /// The shared tail of PUT and PATCH: precondition, status rules, validation, generation,
    /// managedFields, no-op detection, persistence.
    fn update(
        &mut self,
        res: &'static ResourceType,
        existing: &Value,
        incoming: Value,
        body: &Value,
        opts: WriteOptions<'_>,
        operation: &str,
    ) -> Result<Value, ApiError> {
        let name = meta_str(existing, "name").unwrap_or_default().to_string();
        check_resource_version(res, &name, &incoming, existing)?;
        let mut next = merge_server_fields(res, existing, incoming, opts.subresource);
        if res.kind == "Namespace" {
            namespace_defaults(&mut next);
        }
        validate(res, &next)?;
        if res.tracks_generation()
            && opts.subresource == Subresource::Main
            && next.get("spec") != existing.get("spec")
        {
            let generation = existing
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut next, "generation", json!(generation + 1));
        }
        if same_content(&next, existing) {
            return Ok(existing.clone());
        }
        record_manager(&mut next, opts, operation, body);
        if !opts.dry_run {
            let namespace = meta_str(existing, "namespace").map(str::to_string);
            self.persist(ObjectKey::new(res, namespace.as_deref(), &name), &mut next);
        }
        Ok(next)
    }

    /// DELETE of one object. Deleting a Namespace removes everything in it at once.
    pub(crate) fn delete(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let existing = self.get(res, namespace, name)?;
        check_delete_preconditions(res, name, &existing, opts)?;
        let response = deletion_response(res, &existing);
        if !opts.dry_run {
            self.remove(res, namespace, name);
            self.next_revision();
            self.mutations += 1;
        }
        Ok(response)
    }

    /// DELETE on a collection: deletes the selected objects, returns them as a list.
    pub(crate) fn delete_collection(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Value {
        let list = self.list(res, namespace, labels, fields);
        let doomed: Vec<(Option<String>, String)> = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|o| {
                        (
                            meta_str(o, "namespace").map(str::to_string),
                            meta_str(o, "name").unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !opts.dry_run && !doomed.is_empty() {
            for (ns, name) in &doomed {
                self.remove(res, ns.as_deref(), name);
            }
            self.next_revision();
            self.mutations += 1;
        }
        list
    }

    fn remove(&mut self, res: &'static ResourceType, namespace: Option<&str>, name: &str) {
        let key = ObjectKey::new(res, namespace, name);
        let mut doomed = vec![key];
        if res.kind == "Namespace" {
            doomed.extend(self.objects.keys().filter(|k| k.namespace == name).cloned());
            self.logs.retain(|k, _| k.namespace != name);
        }
        for key in doomed {
            if let Some(obj) = self.objects.remove(&key) {
                self.changes.push(key.change("DELETED", obj));
            }
        }
    }

    pub(crate) fn set_logs(
        &mut self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: String,
    ) {
        let key = LogKey {
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
            previous,
        };
        self.logs.insert(key, text);
    }

    /// `GET .../pods/{name}/log`: the container's current or previous log, optionally tailed.
    pub(crate) fn pod_logs(
        &self,
        namespace: &str,
        pod_name: &str,
        container: Option<&str>,
        previous: bool,
        tail_lines: Option<usize>,
    ) -> Result<String, ApiError> {
        let pod = self.get(pods(), Some(namespace), pod_name)?;
        let container = pick_container(&pod, pod_name, container)?;
        let key = LogKey {
            namespace: namespace.into(),
            pod: pod_name.into(),
            container: container.clone(),
            previous,
        };
        let text = match self.logs.get(&key) {
            Some(text) => text.as_str(),
            None if previous => {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
                )));
            }
            None => "",
        };
        Ok(tail(text, tail_lines))
    }
}

fn pods() -> &'static ResourceType {
    &RESOURCES[1]
}

/// Names the Scale kind in `Invalid` messages (it is a subresource, not a table row).
static SCALE_RESOURCE: ResourceType = rt(
    "autoscaling",
    "v1",
    "Scale",
    "scale",
    &[],
    NAMESPACED,
    NameRule::Rfc1123Subdomain,
);

fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut metadata = json!({});
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(value) = obj.pointer(&format!("/metadata/{key}")) {
            metadata[key] = value.clone();
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": { "replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1)) },
        "status": { "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector },
    })
}

/// Applies a merge, strategic merge or JSON patch (server-side apply is handled by the store).
pub(crate) fn apply_patch(
    target: &mut Value,
    patch_type: PatchType,
    patch: &Value,
) -> Result<(), ApiError> {
    match patch_type {
        PatchType::Apply | PatchType::Merge => merge_patch(target, patch),
        PatchType::Strategic => strategic_merge(target, patch),
        PatchType::Json => json_patch(target, patch).map_err(ApiError::unprocessable)?,
    }
    Ok(())
}

fn fill_if_missing(obj: &mut Value, key: &str, value: impl FnOnce() -> Value) {
    if obj.pointer(&format!("/metadata/{key}")).is_none() {
        set_meta(obj, key, value());
    }
}

fn generate_name(obj: &mut Value) {
    let has_name = meta_str(obj, "name").is_some_and(|n| !n.is_empty());
    if let (false, Some(prefix)) = (has_name, meta_str(obj, "generateName")) {
        let name = format!("{prefix}{}", random_suffix(5));
        set_meta(obj, "name", json!(name));
    }
}

fn require_field_manager(opts: WriteOptions<'_>) -> Result<(), ApiError> {
    if opts.field_manager.is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    let error = FieldError::required("fieldManager", "is required for apply patch");
    let message = format!("PatchOptions.meta.k8s.io \"\" is invalid: {error}");
    let details =
        json!({ "group": "meta.k8s.io", "kind": "PatchOptions", "causes": [error.cause()] });
    Err(ApiError::new(422, "Invalid", message, details))
}

/// An apply body must be a whole object naming the same kind and object as the URL.
fn checked_apply_body(
    res: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    patch: &Value,
) -> Result<Value, ApiError> {
    let has = |k: &str| {
        patch
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("apiVersion") || !has("kind") {
        return Err(ApiError::bad_request(
            "invalid object type: apiVersion and kind must be set in an apply patch",
        ));
    }
    let mut obj = patch.clone();
    prepare_body(res, namespace, &mut obj)?;
    check_url_name(&mut obj, name)?;
    Ok(obj)
}

fn check_resource_version(
    res: &ResourceType,
    name: &str,
    incoming: &Value,
    existing: &Value,
) -> Result<(), ApiError> {
    let wanted = meta_str(incoming, "resourceVersion").unwrap_or_default();
    let current = meta_str(existing, "resourceVersion").unwrap_or_default();
    if wanted.is_empty() || wanted == current {
        return Ok(());
    }
    Err(ApiError::conflict(
        res,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    ))
}

/// Builds the object to store from the incoming one: identity and server fields come from the
/// stored object; for kinds with a status subresource, a main write keeps the stored status and
/// a status write changes nothing but the status.
fn merge_server_fields(
    res: &ResourceType,
    existing: &Value,
    mut incoming: Value,
    sub: Subresource,
) -> Value {
    if sub == Subresource::Status {
        let mut next = existing.clone();
        set_field(&mut next, "status", incoming.get("status").cloned());
        return next;
    }
    for key in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "namespace",
        "resourceVersion",
    ] {
        match existing.pointer(&format!("/metadata/{key}")) {
            Some(v) => set_meta(&mut incoming, key, v.clone()),
            None => {
                remove_meta(&mut incoming, key);
            }
        }
    }
    if incoming.pointer("/metadata/managedFields").is_none()
        && let Some(fields) = existing.pointer("/metadata/managedFields")
    {
        set_meta(&mut incoming, "managedFields", fields.clone());
    }
    if res.has_status() {
        set_field(&mut incoming, "status", existing.get("status").cloned());
    }
    incoming
}

/// Adds or refreshes this request's `managedFields` entry (only when a fieldManager is given).
fn record_manager(obj: &mut Value, opts: WriteOptions<'_>, operation: &str, body: &Value) {
    let Some(manager) = opts.field_manager.filter(|m| !m.is_empty()) else {
        return;
    };
    let api_version = obj.get("apiVersion").cloned().unwrap_or(Value::Null);
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": claimed_fields(body, opts.subresource),
    });
    if opts.subresource == Subresource::Status {
        entry["subresource"] = json!("status");
    }
    let mut entries: Vec<Value> = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| {
        !(e["manager"] == entry["manager"]
            && e["operation"] == entry["operation"]
            && e.get("subresource") == entry.get("subresource"))
    });
    entries.push(entry);
    set_meta(obj, "managedFields", Value::Array(entries));
}

fn check_delete_preconditions(
    res: &ResourceType,
    name: &str,
    existing: &Value,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    let uid = meta_str(existing, "uid").unwrap_or_default();
    let rv = meta_str(existing, "resourceVersion").unwrap_or_default();
    if let Some(wanted) = opts.uid.as_deref().filter(|u| *u != uid) {
        let why = format!(
            "Precondition failed: UID in precondition: {wanted}, UID in object meta: {uid}"
        );
        return Err(ApiError::conflict(res, name, &why));
    }
    if let Some(wanted) = opts.resource_version.as_deref().filter(|v| *v != rv) {
        let why = format!(
            "the ResourceVersion in the precondition ({wanted}) does not match the ResourceVersion in record ({rv}). \
             The object might have been modified"
        );
        return Err(ApiError::conflict(res, name, &why));
    }
    Ok(())
}

/// What DELETE answers: Pods and Namespaces come back as the object being deleted (the real
/// server deletes them gracefully), everything else as a `Status` of success.
fn deletion_response(res: &ResourceType, existing: &Value) -> Value {
    match res.kind {
        "Pod" | "Namespace" => {
            let mut obj = existing.clone();
            set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
            if res.kind == "Namespace" {
                set_field(&mut obj, "status", Some(json!({ "phase": "Terminating" })));
            } else {
                set_meta(&mut obj, "deletionGracePeriodSeconds", json!(30));
            }
            obj
        }
        _ => {
            let mut details = json!({
                "name": meta_str(existing, "name").unwrap_or_default(),
                "kind": res.plural,
                "uid": meta_str(existing, "uid").unwrap_or_default(),
            });
            if !res.group.is_empty() {
                details["group"] = json!(res.group);
            }
            json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details })
        }
    }
}

fn container_names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn pick_container(pod: &Value, pod_name: &str, wanted: Option<&str>) -> Result<String, ApiError> {
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    match wanted.filter(|w| !w.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {pod_name}"
        ))),
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

fn tail(text: &str, lines: Option<usize>) -> String {
    let Some(n) = lines else {
        return text.to_string();
    };
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(n);
    let mut out = all[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: &str) -> &'static ResourceType {
        RESOURCES
            .iter()
            .find(|r| r.kind == kind)
            .expect("kind in table")
    }

    fn opts() -> WriteOptions<'static> {
        WriteOptions {
            dry_run: false,
            field_manager: None,
            subresource: Subresource::Main,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    }

    fn deployment(name: &str, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": name, "labels": { "app": name } },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": name } },
                "template": {
                    "metadata": { "labels": { "app": name } },
                    "spec": { "containers": [{ "name": "app", "image": image, "ports": [{ "containerPort": 8080 }] }] }
                }
            },
            "status": { "replicas": 2 }
        })
    }

    #[test]
    fn table_is_consistent() {
        for r in RESOURCES {
            assert_eq!(
                resource_for_kind(&r.api_version(), r.kind).map(|x| x.plural),
                Some(r.plural)
            );
            assert_eq!(
                resource_for_path(r.group, r.version, r.plural).map(|x| x.kind),
                Some(r.kind)
            );
        }
        assert_eq!(namespaces().kind, "Namespace");
        assert_eq!(pods().kind, "Pod");
        assert_eq!(res("Deployment").group_resource(), "deployments.apps");
        assert_eq!(res("Namespace").group_kind(), "Namespace");
        assert_eq!(group_versions().first(), Some(&("", "v1")));
    }

    #[test]
    fn label_selector_equality_and_sets() {
        let l = labels(&[("app", "cart"), ("tier", "web")]);
        let cases = [
            ("", true),
            ("app=cart", true),
            ("app==cart", true),
            ("app!=cart", false),
            ("app=cart,tier=web", true),
            ("app=cart,tier=db", false),
            ("app in (cart, search)", true),
            ("app notin (cart)", false),
            ("env notin (prod)", true),
            ("env!=prod", true),
            ("tier", true),
            ("!tier", false),
            ("!env", true),
            ("app in (a,b),tier", false),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).expect(selector);
            assert_eq!(parsed.matches(Some(&l)), expected, "{selector}");
        }
        assert!(!LabelSelector::parse("app").expect("exists").matches(None));
    }

    #[test]
    fn label_selector_rejects_garbage() {
        for bad in [
            "app=a b",
            "app in ()",
            "app in (a",
            "a b c",
            "app=cart,",
            "app inn (x)",
            "bad key!=x",
        ] {
            let err = LabelSelector::parse(bad).expect_err(bad);
            assert_eq!((err.code(), err.reason()), (400, "BadRequest"), "{bad}");
            assert!(
                err.message().starts_with("unable to parse requirement"),
                "{}",
                err.message()
            );
        }
    }

    #[test]
    fn field_selectors() {
        let pod = json!({ "metadata": { "name": "p1", "namespace": "ns" }, "spec": { "nodeName": "n1" }, "status": { "phase": "Running" } });
        let sel =
            FieldSelector::parse("metadata.name=p1,status.phase!=Pending", pods()).expect("valid");
        assert!(sel.matches(&pod));
        assert!(
            !FieldSelector::parse("spec.nodeName==n2", pods())
                .expect("valid")
                .matches(&pod)
        );
        let err =
            FieldSelector::parse("spec.nodeName=n1", res("Deployment")).expect_err("not indexed");
        assert_eq!(err.message(), "field label not supported: spec.nodeName");
        assert_eq!(
            FieldSelector::parse("nonsense", pods())
                .expect_err("no operator")
                .code(),
            400
        );
        let event = json!({ "involvedObject": { "kind": "Pod", "name": "p1" } });
        assert!(
            FieldSelector::parse(
                "involvedObject.kind=Pod,involvedObject.name=p1",
                res("Event")
            )
            .expect("ok")
            .matches(&event)
        );
    }

    #[test]
    fn merge_patch_is_rfc7386() {
        let mut doc = json!({ "a": { "b": 1, "c": [1, 2] }, "d": "x" });
        merge_patch(
            &mut doc,
            &json!({ "a": { "b": null, "c": [3], "e": { "f": true } }, "d": "y" }),
        );
        assert_eq!(
            doc,
            json!({ "a": { "c": [3], "e": { "f": true } }, "d": "y" })
        );
    }

    #[test]
    fn strategic_merge_merges_known_lists_by_key() {
        let mut doc = deployment("cart", "img:v1");
        doc["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .expect("array")
            .push(json!({ "name": "sidecar", "image": "proxy:1" }));
        let patch = json!({ "spec": { "template": { "spec": {
            "$setElementOrder/containers": [{ "name": "app" }, { "name": "sidecar" }],
            "containers": [{ "name": "app", "image": "img:v2" }, { "name": "sidecar", "$patch": "delete" }]
        } } } });
        strategic_merge(&mut doc, &patch);
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers.as_array().map(Vec::len), Some(1));
        assert_eq!(containers[0]["image"], "img:v2");
        assert_eq!(
            containers[0]["ports"][0]["containerPort"], 8080,
            "unpatched fields kept"
        );
        assert!(
            doc["spec"]["template"]["spec"]
                .get("$setElementOrder/containers")
                .is_none()
        );

        let mut meta = json!({ "finalizers": ["a"], "args": ["x", "y"] });
        strategic_merge(
            &mut meta,
            &json!({ "finalizers": ["b"], "args": ["z"], "$deleteFromPrimitiveList/finalizers": ["a"] }),
        );
        assert_eq!(meta, json!({ "finalizers": ["b"], "args": ["z"] }));
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({ "spec": { "replicas": 1, "list": ["a"] }, "metadata": { "labels": { "x/y": "1" } } });
        let ops = json!([
            { "op": "replace", "path": "/spec/replicas", "value": 3 },
            { "op": "add", "path": "/spec/list/-", "value": "b" },
            { "op": "add", "path": "/spec/list/0", "value": "z" },
            { "op": "remove", "path": "/metadata/labels/x~1y" },
            { "op": "copy", "from": "/spec/replicas", "path": "/spec/copied" },
            { "op": "move", "from": "/spec/copied", "path": "/spec/moved" },
            { "op": "test", "path": "/spec/moved", "value": 3 }
        ]);
        json_patch(&mut doc, &ops).expect("applies");
        assert_eq!(
            doc,
            json!({ "spec": { "replicas": 3, "list": ["z", "a", "b"], "moved": 3 }, "metadata": { "labels": {} } })
        );
        let err = json_patch(&mut doc, &json!([{ "op": "remove", "path": "/spec/nope" }]))
            .expect_err("missing");
        assert!(err.contains("doc is missing path"), "{err}");
        assert!(
            json_patch(
                &mut doc,
                &json!([{ "op": "test", "path": "/spec/replicas", "value": 9 }])
            )
            .is_err()
        );
        assert!(json_patch(&mut doc, &json!({ "op": "add" })).is_err());
    }

    #[test]
    fn name_rules_match_the_api_server() {
        assert!(name_errors(NameRule::Rfc1123Label, "payments-dev").is_empty());
        assert_eq!(
            name_errors(NameRule::Rfc1123Label, "Bad_Name"),
            vec![LABEL_1123_MSG.to_string()]
        );
        assert_eq!(
            name_errors(NameRule::Rfc1123Label, &"a".repeat(64))[0],
            "must be no more than 63 characters"
        );
        assert!(name_errors(NameRule::Rfc1123Subdomain, "a.b-c.d").is_empty());
        assert!(!name_errors(NameRule::Rfc1123Subdomain, "a..b").is_empty());
        assert!(!name_errors(NameRule::Rfc1035Label, "1abc").is_empty());
        assert!(name_errors(NameRule::PathSegment, "system:auth-delegator").is_empty());
        assert_eq!(
            name_errors(NameRule::PathSegment, "a/b"),
            vec!["may not contain '/'"]
        );
        assert!(qualified_name_errors("platform.example.com/team").is_empty());
        assert!(!qualified_name_errors("Bad Prefix/x").is_empty());
        assert!(label_value_errors("").is_empty());
        assert!(!label_value_errors("-bad").is_empty());
    }

    #[test]
    fn invalid_status_body_is_verbatim() {
        let ns =
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "Bad_Name" } });
        let status = validate(namespaces(), &ns)
            .expect_err("invalid")
            .to_status();
        let detail = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must \
            start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
            '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
        assert_eq!(
            status,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {detail}"),
                "reason": "Invalid",
                "details": { "name": "Bad_Name", "kind": "Namespace", "causes": [
                    { "reason": "FieldValueInvalid", "message": format!("Invalid value: \"Bad_Name\": {detail}"), "field": "metadata.name" }
                ] },
                "code": 422
            })
        );
    }

    #[test]
    fn not_found_and_conflict_bodies() {
        let status = ApiError::namespace_not_found("payments-dev").to_status();
        assert_eq!(
            status,
            json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "namespaces \"payments-dev\" not found", "reason": "NotFound",
                    "details": { "name": "payments-dev", "kind": "namespaces" }, "code": 404 })
        );
        let conflict = ApiError::conflict(
            res("Deployment"),
            "cart",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
        assert_eq!(
            conflict.to_status()["details"],
            json!({ "name": "cart", "group": "apps", "kind": "deployments" })
        );
        assert!(
            conflict
                .message()
                .starts_with("Operation cannot be fulfilled on deployments.apps \"cart\"")
        );
        assert_eq!(ApiError::bad_request("x").to_status().get("details"), None);
    }

    #[test]
    fn workload_validation() {
        let mut d = deployment("cart", "img");
        d["spec"]["template"]["metadata"]["labels"] = json!({ "app": "other" });
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        let err = validate(res("Deployment"), &d).expect_err("invalid");
        assert!(
            err.message()
                .starts_with("Deployment.apps \"cart\" is invalid: ["),
            "{}",
            err.message()
        );
        assert!(
            err.message()
                .contains("`selector` does not match template `labels`")
        );
        assert!(
            err.message()
                .contains("spec.template.spec.containers[0].image: Required value")
        );
        let rb = json!({ "metadata": { "name": "x" }, "roleRef": { "apiGroup": RBAC, "kind": "Pod", "name": "" } });
        assert_eq!(
            validate(res("RoleBinding"), &rb)
                .expect_err("invalid")
                .to_status()["details"]["causes"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn create_fills_server_fields_and_checks_namespace() {
        let mut store = Store::with_default_namespaces();
        let err = store
            .create(
                res("ConfigMap"),
                Some("nope"),
                json!({ "metadata": { "name": "c" } }),
                opts(),
            )
            .expect_err("no ns");
        assert_eq!(err.message(), "namespaces \"nope\" not found");
        let cm = store
            .create(
                res("ConfigMap"),
                Some("default"),
                json!({ "metadata": { "name": "c" } }),
                opts(),
            )
            .expect("created");
        assert_eq!(cm["kind"], "ConfigMap");
        assert_eq!(cm["metadata"]["namespace"], "default");
        assert!(
            cm["metadata"]["uid"].is_string() && cm["metadata"]["creationTimestamp"].is_string()
        );
        let again = store.create(
            res("ConfigMap"),
            Some("default"),
            json!({ "metadata": { "name": "c" } }),
            opts(),
        );
        assert_eq!(again.expect_err("exists").reason(), "AlreadyExists");
        let generated = store
            .create(
                res("ConfigMap"),
                Some("default"),
                json!({ "metadata": { "generateName": "job-" } }),
                opts(),
            )
            .expect("generated");
        assert_eq!(meta_str(&generated, "name").map(str::len), Some(9));
        assert_eq!(store.mutations(), 2);
    }

    #[test]
    fn status_subresource_rules() {
        let mut store = Store::with_default_namespaces();
        let d = store
            .create(
                res("Deployment"),
                Some("default"),
                deployment("cart", "img:v1"),
                opts(),
            )
            .expect("created");
        assert_eq!(d["status"], json!({}), "status is not settable on create");
        assert_eq!(d["metadata"]["generation"], 1);

        let mut changed = d.clone();
        changed["status"] = json!({ "replicas": 9 });
        changed["spec"]["replicas"] = json!(3);
        let after = store
            .replace(res("Deployment"), Some("default"), "cart", changed, opts())
            .expect("replaced");
        assert_eq!(after["status"], json!({}), "main write ignores status");
        assert_eq!(after["metadata"]["generation"], 2);

        let status_opts = WriteOptions {
            subresource: Subresource::Status,
            ..opts()
        };
        let patch = json!({ "status": { "readyReplicas": 3 }, "spec": { "replicas": 7 } });
        let (_, after) = store
            .patch(
                res("Deployment"),
                Some("default"),
                "cart",
                PatchType::Merge,
                &patch,
                status_opts,
            )
            .expect("patched");
        assert_eq!(after["status"]["readyReplicas"], 3);
        assert_eq!(after["spec"]["replicas"], 3, "status write ignores spec");
        assert_eq!(after["metadata"]["generation"], 2);
    }

    #[test]
    fn stale_resource_version_conflicts_and_noop_is_free() {
        let mut store = Store::with_default_namespaces();
        let cm = store
            .create(
                res("ConfigMap"),
                Some("default"),
                json!({ "metadata": { "name": "c" }, "data": { "a": "1" } }),
                opts(),
            )
            .expect("ok");
        let mut first = cm.clone();
        first["data"]["a"] = json!("2");
        store
            .replace(res("ConfigMap"), Some("default"), "c", first, opts())
            .expect("first write wins");
        let mut stale = cm.clone();
        stale["data"]["a"] = json!("3");
        let err = store
            .replace(res("ConfigMap"), Some("default"), "c", stale, opts())
            .expect_err("stale");
        assert_eq!((err.code(), err.reason()), (409, "Conflict"));
        let before = store.mutations();
        let current = store
            .get(res("ConfigMap"), Some("default"), "c")
            .expect("exists");
        store
            .replace(res("ConfigMap"), Some("default"), "c", current, opts())
            .expect("no-op");
        assert_eq!(store.mutations(), before);
    }

    #[test]
    fn apply_creates_then_merges_and_dry_run_persists_nothing() {
        let mut store = Store::with_default_namespaces();
        let apply = WriteOptions {
            field_manager: Some("platbot"),
            ..opts()
        };
        let body = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "labels": { "a": "1" } }, "data": { "x": "1" } });
        let no_manager = store.patch(
            res("ConfigMap"),
            Some("default"),
            "c",
            PatchType::Apply,
            &body,
            opts(),
        );
        assert_eq!(no_manager.expect_err("manager required").code(), 422);

        let dry = WriteOptions {
            dry_run: true,
            ..apply
        };
        let (created, obj) = store
            .patch(
                res("ConfigMap"),
                Some("default"),
                "c",
                PatchType::Apply,
                &body,
                dry,
            )
            .expect("dry");
        assert!(created && obj["metadata"].get("resourceVersion").is_none());
        assert_eq!(store.mutations(), 0);
        assert!(store.get(res("ConfigMap"), Some("default"), "c").is_err());

        let (created, _) = store
            .patch(
                res("ConfigMap"),
                Some("default"),
                "c",
                PatchType::Apply,
                &body,
                apply,
            )
            .expect("create");
        assert!(created);
        let update = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" }, "data": { "y": "2" } });
        let (created, obj) = store
            .patch(
                res("ConfigMap"),
                Some("default"),
                "c",
                PatchType::Apply,
                &update,
                apply,
            )
            .expect("update");
        assert!(!created);
        assert_eq!(obj["data"], json!({ "x": "1", "y": "2" }));
        assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "platbot");
        assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");
        let wrong_name =
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "other" } });
        assert_eq!(
            store
                .patch(
                    res("ConfigMap"),
                    Some("default"),
                    "c",
                    PatchType::Apply,
                    &wrong_name,
                    apply
                )
                .expect_err("name")
                .code(),
            400
        );
    }

    #[test]
    fn scale_subresource_changes_only_replicas() {
        let mut store = Store::with_default_namespaces();
        store
            .create(
                res("Deployment"),
                Some("default"),
                deployment("cart", "img"),
                opts(),
            )
            .expect("created");
        let scale = store
            .scale(res("Deployment"), Some("default"), "cart")
            .expect("scale");
        assert_eq!(
            (
                scale["spec"]["replicas"].clone(),
                scale["status"]["selector"].clone()
            ),
            (json!(2), json!("app=cart"))
        );
        let scaled = store
            .update_scale(
                res("Deployment"),
                Some("default"),
                "cart",
                |s| apply_patch(s, PatchType::Merge, &json!({ "spec": { "replicas": 5 } })),
                false,
            )
            .expect("scaled");
        assert_eq!(scaled["spec"]["replicas"], 5);
        let d = store
            .get(res("Deployment"), Some("default"), "cart")
            .expect("deployment");
        assert_eq!(
            (
                d["spec"]["replicas"].clone(),
                d["metadata"]["generation"].clone()
            ),
            (json!(5), json!(2))
        );
        let negative = store.update_scale(
            res("Deployment"),
            Some("default"),
            "cart",
            |s| apply_patch(s, PatchType::Merge, &json!({ "spec": { "replicas": -1 } })),
            false,
        );
        assert!(
            negative
                .expect_err("invalid")
                .message()
                .starts_with("Scale.autoscaling \"cart\" is invalid: spec.replicas")
        );
    }

    #[test]
    fn deleting_a_namespace_removes_its_contents() {
        let mut store = Store::with_default_namespaces();
        let ns = json!({ "metadata": { "name": "team-dev" } });
        store.create(namespaces(), None, ns, opts()).expect("ns");
        store
            .create(
                res("ConfigMap"),
                Some("team-dev"),
                json!({ "metadata": { "name": "c" } }),
                opts(),
            )
            .expect("cm");
        let dry = DeleteOptions {
            dry_run: true,
            ..DeleteOptions::default()
        };
        store
            .delete(namespaces(), None, "team-dev", &dry)
            .expect("dry");
        assert_eq!(store.objects(res("ConfigMap"), Some("team-dev")).count(), 1);
        let resp = store
            .delete(namespaces(), None, "team-dev", &DeleteOptions::default())
            .expect("deleted");
        assert_eq!(resp["status"]["phase"], "Terminating");
        assert_eq!(store.objects(res("ConfigMap"), Some("team-dev")).count(), 0);
        let status = store
            .delete(
                res("ConfigMap"),
                Some("default"),
                "nope",
                &DeleteOptions::default(),
            )
            .expect_err("gone");
        assert_eq!(status.code(), 404);
    }

    #[test]
    fn pod_logs_pick_containers_like_the_kubelet() {
        let mut store = Store::with_default_namespaces();
        let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "namespace": "default" },
            "spec": { "containers": [{ "name": "a", "image": "i" }, { "name": "b", "image": "i" }] } });
        store.insert(pod).expect("pod");
        store.set_logs("default", "p", "a", false, "1\n2\n3\n".into());
        assert_eq!(
            store
                .pod_logs("default", "p", Some("a"), false, Some(2))
                .expect("logs"),
            "2\n3\n"
        );
        let err = store
            .pod_logs("default", "p", None, false, None)
            .expect_err("ambiguous");
        assert_eq!(
            err.message(),
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert_eq!(
            store
                .pod_logs("default", "p", Some("c"), false, None)
                .expect_err("unknown")
                .code(),
            400
        );
        assert_eq!(
            store
                .pod_logs("default", "p", Some("b"), false, None)
                .expect("empty"),
            ""
        );
        assert!(
            store
                .pod_logs("default", "p", Some("b"), true, None)
                .is_err()
        );
    }
}
