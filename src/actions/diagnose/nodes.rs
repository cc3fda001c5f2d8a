//! Node analyzers, for the nodes hosting the workload's pods only: NotReady (or not
//! heard from), memory/disk/PID pressure, network unavailable, cordoned.

use k8s_openapi::api::core::v1::{Node, NodeCondition};

use super::facts::{name_of, time};
use super::finding::{Evidence, Finding, Severity, span};
use super::snapshot::Snapshot;

fn conditions(n: &Node) -> &[NodeCondition] {
    n.status
        .as_ref()
        .and_then(|st| st.conditions.as_deref())
        .unwrap_or_default()
}

fn pods_on(s: &Snapshot, node: &str) -> Vec<String> {
    s.workload_pods()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|sp| sp.node_name.as_deref()) == Some(node))
        .map(|p| name_of(&p.metadata).to_owned())
        .collect()
}

fn condition_fact(s: &Snapshot, c: &NodeCondition) -> Evidence {
    let since = c
        .last_transition_time
        .as_ref()
        .map(time)
        .map(|t| format!(" for {}", span(s.now.duration_since(t))))
        .unwrap_or_default();
    let heartbeat = c
        .last_heartbeat_time
        .as_ref()
        .map(time)
        .map(|t| format!("; last heartbeat {} ago", span(s.now.duration_since(t))))
        .unwrap_or_default();
    Evidence::fact(format!(
        "condition {}={}{since} ({}): {}{heartbeat}",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or("-"),
        c.message.as_deref().unwrap_or("")
    ))
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, node) in &s.nodes {
        let pods = pods_on(s, name);
        let on = if pods.is_empty() {
            String::new()
        } else {
            format!(" (hosts {} of its pods)", pods.len())
        };
        let object = super::finding::ObjectRef::new("Node", name, None);
        if let Some(ready) = conditions(node).iter().find(|c| c.type_ == "Ready")
            && ready.status != "True"
        {
            let unknown = ready.status == "Unknown";
            let mut f = Finding::new(
                "node.not_ready",
                Severity::Critical,
                object.clone(),
                format!("node {name} is NotReady{on}",),
            )
            .with(condition_fact(s, ready));
            let taints: Vec<String> = node
                .spec
                .as_ref()
                .and_then(|sp| sp.taints.as_deref())
                .unwrap_or_default()
                .iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect();
            if !taints.is_empty() {
                f = f.with(Evidence::fact(format!("taints: {}", taints.join(", "))));
            }
            f.affected = pods.clone();
            out.push(
                f.cause(if unknown {
                    "The kubelet stopped reporting (node down, network partition, or kubelet crashed); after the toleration period its pods are evicted and rescheduled."
                } else {
                    "The kubelet reports the node unhealthy (container runtime or network plugin down, or resource exhaustion)."
                })
                .fix("The ReplicaSet replaces pods elsewhere once they are evicted; tell the platform team about the node. Deleting the stuck pods speeds up the move.")
                .doc("troubleshooting/nodes"),
            );
            continue;
        }
        for c in conditions(node).iter().filter(|c| c.status == "True") {
            let (what, cause) = match c.type_.as_str() {
                "MemoryPressure" => (
                    "memory pressure",
                    "The node is low on memory; the kubelet evicts pods that use more than they request, BestEffort first.",
                ),
                "DiskPressure" => (
                    "disk pressure",
                    "The node is low on disk (images, logs, emptyDir); the kubelet evicts pods and garbage-collects images.",
                ),
                "PIDPressure" => (
                    "PID pressure",
                    "The node is running out of process ids; something forks too many processes.",
                ),
                "NetworkUnavailable" => (
                    "network unavailable",
                    "The node's network is not configured (CNI); pods there cannot communicate.",
                ),
                _ => continue,
            };
            let mut f = Finding::new(
                &format!("node.{}", c.type_.to_lowercase()),
                Severity::Warning,
                object.clone(),
                format!("node {name} has {what}{on}"),
            )
            .with(condition_fact(s, c))
            .cause(cause)
            .fix("Tell the platform team; set requests close to real usage so your pods are not the first evicted.")
            .doc("troubleshooting/nodes");
            f.affected = pods.clone();
            out.push(f);
        }
        if node
            .spec
            .as_ref()
            .and_then(|sp| sp.unschedulable)
            .unwrap_or(false)
        {
            out.push(
                Finding::new(
                    "node.cordoned",
                    Severity::Info,
                    object.clone(),
                    format!("node {name} is cordoned{on}: no new pods are placed there"),
                )
                .with(Evidence::fact("spec.unschedulable: true"))
                .cause("The node is being drained or maintained; its pods will move.")
                .fix("Nothing to do unless pods cannot be placed elsewhere.")
                .doc("troubleshooting/nodes"),
            );
        }
    }
    out
}
