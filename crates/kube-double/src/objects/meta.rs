//! Object helpers: metadata fields, generated names, what a new object gets filled in.

use serde_json::{Value, json};

use super::status::ApiError;
use super::table::ResourceType;

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(key)?.as_str()
}

pub(super) fn set_meta(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(key.to_string(), value);
        }
    }
}

pub(super) fn remove_meta(obj: &mut Value, key: &str) -> Option<Value> {
    obj.get_mut("metadata")?.as_object_mut()?.remove(key)
}

pub(super) fn set_field(obj: &mut Value, key: &str, value: Option<Value>) {
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

pub(super) fn random_suffix(len: usize) -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .take(len)
        .map(|b| char::from(SUFFIX_ALPHABET[usize::from(*b) % SUFFIX_ALPHABET.len()]))
        .collect()
}

/// Checks the body is an object whose apiVersion/kind (if given) match the URL, fills them in,
/// and fills `metadata.namespace` from the URL.
pub(super) fn prepare_body(
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

pub(super) fn check_url_name(obj: &mut Value, url_name: &str) -> Result<(), ApiError> {
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
pub(super) fn initial_status(res: &ResourceType) -> Option<Value> {
    match res.kind {
        "Namespace" => Some(json!({ "phase": "Active" })),
        "Pod" => Some(json!({ "phase": "Pending", "qosClass": "BestEffort" })),
        _ if res.has_status() => Some(json!({})),
        _ => None,
    }
}

/// Defaults the API server always applies to a Namespace.
pub(super) fn namespace_defaults(obj: &mut Value) {
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
pub(super) fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        remove_meta(&mut v, "resourceVersion");
        remove_meta(&mut v, "managedFields");
        v
    };
    strip(a) == strip(b)
}
