//! Server-side printing (`Table`), so `kubectl get` shows the usual columns.

use serde_json::{Value, json};

use super::{Incoming, Reply};
use crate::objects::{ResourceType, Store, meta_str};

/// A column: header, and whether it only shows with `-o wide`.
type Column = (&'static str, bool);

fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Namespace" => &[("Name", false), ("Status", false), ("Age", false)],
        "Pod" => &[
            ("Name", false),
            ("Ready", false),
            ("Status", false),
            ("Restarts", false),
            ("Age", false),
            ("IP", true),
            ("Node", true),
        ],
        "Deployment" => &[
            ("Name", false),
            ("Ready", false),
            ("Up-to-date", false),
            ("Available", false),
            ("Age", false),
            ("Containers", true),
            ("Images", true),
        ],
        "ReplicaSet" => &[
            ("Name", false),
            ("Desired", false),
            ("Current", false),
            ("Ready", false),
            ("Age", false),
            ("Containers", true),
            ("Images", true),
        ],
        "Service" => &[
            ("Name", false),
            ("Type", false),
            ("Cluster-IP", false),
            ("External-IP", false),
            ("Port(s)", false),
            ("Age", false),
        ],
        "Event" => &[
            ("Last Seen", false),
            ("Type", false),
            ("Reason", false),
            ("Object", false),
            ("Message", false),
        ],
        "ConfigMap" => &[("Name", false), ("Data", false), ("Age", false)],
        "Secret" => &[
            ("Name", false),
            ("Type", false),
            ("Data", false),
            ("Age", false),
        ],
        "Node" => &[
            ("Name", false),
            ("Status", false),
            ("Roles", false),
            ("Age", false),
            ("Version", false),
        ],
        _ => &[("Name", false), ("Age", false)],
    }
}

pub(super) fn table_reply(
    store: &Store,
    res: &ResourceType,
    items: &[Value],
    req: &Incoming,
) -> Reply {
    Reply::json(
        200,
        &table(
            res,
            items,
            store.resource_version(),
            req.param("includeObject"),
        ),
    )
}

pub(super) fn table(
    res: &ResourceType,
    items: &[Value],
    resource_version: String,
    include: Option<&str>,
) -> Value {
    let definitions: Vec<Value> = columns(res.kind)
        .iter()
        .map(|(name, wide)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({ "name": name, "type": "string", "format": format, "description": "", "priority": i32::from(*wide) })
        })
        .collect();
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| table_row(res, obj, now, include))
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": resource_version },
        "columnDefinitions": definitions, "rows": rows,
    })
}

fn table_row(
    res: &ResourceType,
    obj: &Value,
    now: jiff::Timestamp,
    include: Option<&str>,
) -> Value {
    let cells: Vec<Value> = columns(res.kind)
        .iter()
        .map(|(name, _)| json!(cell(res.kind, name, obj, now)))
        .collect();
    let object = match include {
        Some("None") => Value::Null,
        Some("Object") => {
            let mut full = obj.clone();
            full["kind"] = json!(res.kind);
            full["apiVersion"] = json!(res.api_version());
            full
        }
        _ => {
            json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({})) })
        }
    };
    json!({ "cells": cells, "object": object })
}

pub(super) fn text(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn number(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

pub(super) fn cell(kind: &str, column: &str, obj: &Value, now: jiff::Timestamp) -> String {
    let age = |pointer: &str| age_since(&text(obj, pointer), now);
    match (kind, column) {
        (_, "Name") => meta_str(obj, "name").unwrap_or_default().to_string(),
        (_, "Age") => age("/metadata/creationTimestamp"),
        ("Namespace", "Status") => text(obj, "/status/phase"),
        ("Pod", _) => pod_cell(column, obj, now),
        ("Deployment", "Ready") => format!(
            "{}/{}",
            number(obj, "/status/readyReplicas"),
            number(obj, "/spec/replicas")
        ),
        ("Deployment", "Up-to-date") => number(obj, "/status/updatedReplicas").to_string(),
        ("Deployment", "Available") => number(obj, "/status/availableReplicas").to_string(),
        ("ReplicaSet", "Desired") => number(obj, "/spec/replicas").to_string(),
        ("ReplicaSet", "Current") => number(obj, "/status/replicas").to_string(),
        ("ReplicaSet", "Ready") => number(obj, "/status/readyReplicas").to_string(),
        (_, "Containers") => container_field(obj, "name"),
        (_, "Images") => container_field(obj, "image"),
        ("Service", "Type") => or_none(text(obj, "/spec/type")),
        ("Service", "Cluster-IP") => or_none(text(obj, "/spec/clusterIP")),
        ("Service", "External-IP") => "<none>".to_string(),
        ("Service", "Port(s)") => service_ports(obj),
        ("Event", "Last Seen") => age("/lastTimestamp"),
        ("Event", "Type") => text(obj, "/type"),
        ("Event", "Reason") => text(obj, "/reason"),
        ("Event", "Object") => format!(
            "{}/{}",
            text(obj, "/involvedObject/kind").to_lowercase(),
            text(obj, "/involvedObject/name")
        ),
        ("Event", "Message") => text(obj, "/message"),
        ("ConfigMap" | "Secret", "Data") => {
            let count = |k: &str| obj.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
            (count("data") + count("binaryData") + count("stringData")).to_string()
        }
        ("Secret", "Type") => text(obj, "/type"),
        ("Node", "Status") => node_status(obj),
        ("Node", "Roles") => node_roles(obj),
        ("Node", "Version") => text(obj, "/status/nodeInfo/kubeletVersion"),
        _ => String::new(),
    }
}

fn container_field(obj: &Value, field: &str) -> String {
    let containers = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    containers
        .map(|cs| {
            cs.iter()
                .map(|c| text(c, &format!("/{field}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn service_ports(obj: &Value) -> String {
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    let shown: Vec<String> = ports
        .map(|ps| {
            ps.iter()
                .map(|p| format!("{}/{}", text(p, "/port"), or_tcp(text(p, "/protocol"))))
                .collect()
        })
        .unwrap_or_default();
    or_none(shown.join(","))
}

fn or_tcp(s: String) -> String {
    if s.is_empty() { "TCP".to_string() } else { s }
}

fn pod_cell(column: &str, pod: &Value, now: jiff::Timestamp) -> String {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    match column {
        "Ready" => format!(
            "{}/{total}",
            statuses.iter().filter(|s| s["ready"] == true).count()
        ),
        "Status" => pod_status(pod, &statuses),
        "Restarts" => {
            let restarts: i64 = statuses.iter().map(|s| number(s, "/restartCount")).sum();
            let last = statuses
                .iter()
                .map(|s| text(s, "/lastState/terminated/finishedAt"))
                .filter(|t| !t.is_empty())
                .max();
            match last {
                Some(at) if restarts > 0 => format!("{restarts} ({} ago)", age_since(&at, now)),
                _ => restarts.to_string(),
            }
        }
        "IP" => or_none(text(pod, "/status/podIP")),
        "Node" => or_none(text(pod, "/spec/nodeName")),
        _ => String::new(),
    }
}

/// The STATUS column as kubectl shows it: a waiting or terminated reason beats the phase.
fn pod_status(pod: &Value, statuses: &[Value]) -> String {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_string();
    }
    for s in statuses {
        for pointer in ["/state/waiting/reason", "/state/terminated/reason"] {
            let reason = text(s, pointer);
            if !reason.is_empty() {
                return reason;
            }
        }
    }
    let reason = text(pod, "/status/reason");
    if reason.is_empty() {
        text(pod, "/status/phase")
    } else {
        reason
    }
}

fn node_status(node: &Value) -> String {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conditions
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"] == "True");
    let mut status = if ready == Some(true) {
        "Ready".to_string()
    } else {
        "NotReady".to_string()
    };
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object);
    let roles: Vec<&str> = labels
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    or_none(roles.join(","))
}

/// Ages as kubectl prints them (a port of `duration.HumanDuration`).
pub(crate) fn age_since(timestamp: &str, now: jiff::Timestamp) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return "<unknown>".to_string();
    };
    human_duration(now.duration_since(then).as_secs())
}

pub(super) fn human_duration(seconds: i64) -> String {
    let with = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let days = hours / 24;
    match seconds {
        s if s < -1 => "<invalid>".to_string(),
        s if s < 0 => "0s".to_string(),
        s if s < 120 => format!("{s}s"),
        _ if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => with(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => with(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}
