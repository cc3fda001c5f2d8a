//! Pods the kubelet evicted (node pressure, ephemeral storage).

use super::*;

pub(super) fn evicted(s: &Snapshot, g: &Group<'_>, pods: &[&Pod]) -> Finding {
    let rep = g.representative();
    let message = rep
        .status
        .as_ref()
        .and_then(|st| st.message.clone())
        .unwrap_or_default();
    let nodes: Vec<String> = g
        .pods
        .iter()
        .filter_map(|p| p.spec.as_ref().and_then(|sp| sp.node_name.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let running = pods.iter().filter(|p| phase(p) == "Running").count();
    let lower = message.to_lowercase();
    let resource = if lower.contains("memory") {
        "memory"
    } else if lower.contains("ephemeral-storage") || lower.contains("disk") {
        "disk"
    } else {
        "a resource"
    };
    let fix = match resource {
        "memory" => {
            "Set the memory request close to what the container really uses (pods using more than they request are evicted first under pressure)."
        }
        "disk" => {
            "Set an ephemeral-storage request and limit, and write less to the container filesystem (use a volume, rotate logs)."
        }
        _ => "Read the eviction message and size the pod's requests to its real usage.",
    };
    base(
        s,
        g,
        "pod.evicted",
        if running == 0 { Severity::Critical } else { Severity::Warning },
        format!(
            "{} pod(s) evicted by the kubelet (node low on {resource}){}",
            g.pods.len(),
            if nodes.is_empty() { String::new() } else { format!(" on {}", nodes.join(", ")) }
        ),
    )
    .with(Evidence::fact(format!("status: Failed, reason Evicted: {message}")))
    .with_all(pod_events(s, rep, 1))
    .cause(format!(
        "The node ran short of {resource} and evicted pods, those using most above their requests first."
    ))
    .fix(format!(
        "{fix} Evicted pods stay listed until deleted: `kubectl -n {} delete pod --field-selector=status.phase=Failed`.",
        s.namespace
    ))
    .doc("troubleshooting/evicted")
}
