//! What a write does beyond its body: the scale subresource, server fields kept from the
//! stored object, field managers and server-side apply bodies, resourceVersion and delete
//! preconditions, what a delete answers.

use serde_json::{Value, json};

use super::meta::{
    check_url_name, meta_str, now_rfc3339, prepare_body, random_suffix, remove_meta, set_field,
    set_meta,
};
use super::patch::{PatchType, claimed_fields, json_patch, merge_patch, strategic_merge};
use super::status::{ApiError, FieldError};
use super::store::{DeleteOptions, Subresource, WriteOptions};
use super::table::{NAMESPACED, NameRule, RESOURCES, ResourceType, rt};

pub(super) fn pods() -> &'static ResourceType {
    &RESOURCES[1]
}

/// Names the Scale kind in `Invalid` messages (it is a subresource, not a table row).
pub(super) static SCALE_RESOURCE: ResourceType = rt(
    "autoscaling",
    "v1",
    "Scale",
    "scale",
    &[],
    NAMESPACED,
    NameRule::Rfc1123Subdomain,
);

pub(super) fn scale_of(obj: &Value) -> Value {
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

pub(super) fn fill_if_missing(obj: &mut Value, key: &str, value: impl FnOnce() -> Value) {
    if obj.pointer(&format!("/metadata/{key}")).is_none() {
        set_meta(obj, key, value());
    }
}

pub(super) fn generate_name(obj: &mut Value) {
    let has_name = meta_str(obj, "name").is_some_and(|n| !n.is_empty());
    if let (false, Some(prefix)) = (has_name, meta_str(obj, "generateName")) {
        let name = format!("{prefix}{}", random_suffix(5));
        set_meta(obj, "name", json!(name));
    }
}

pub(super) fn require_field_manager(opts: WriteOptions<'_>) -> Result<(), ApiError> {
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
pub(super) fn checked_apply_body(
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

pub(super) fn check_resource_version(
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
pub(super) fn merge_server_fields(
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
pub(super) fn record_manager(
    obj: &mut Value,
    opts: WriteOptions<'_>,
    operation: &str,
    body: &Value,
) {
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

pub(super) fn check_delete_preconditions(
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
pub(super) fn deletion_response(res: &ResourceType, existing: &Value) -> Value {
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
