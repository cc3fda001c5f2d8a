//! Validation of what the API server validates for every object (names, labels,
//! annotations) plus a few structural checks per kind, with the server's messages verbatim.

use serde_json::{Map, Value};

use super::meta::meta_str;
use super::status::{ApiError, FieldError};
use super::table::{NameRule, RBAC, ResourceType};

pub(super) const LABEL_1123_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
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
