//! Patch semantics: JSON merge patch, strategic merge patch, JSON patch, and the
//! `managedFields` tree a field manager claims.

use serde_json::{Map, Value, json};

use super::store::Subresource;

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
pub(super) fn claimed_fields(body: &Value, sub: Subresource) -> Value {
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
