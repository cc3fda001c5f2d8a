//! `labelSelector` and `fieldSelector` queries: parsing and matching.

use serde_json::{Map, Value};

use super::status::ApiError;
use super::table::ResourceType;
use super::validate::{label_value_errors, qualified_name_errors};

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
