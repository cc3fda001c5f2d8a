//! Pods stuck on volumes that cannot be mounted.

use super::*;

pub(super) fn volume_mount(s: &Snapshot, g: &Group<'_>) -> Finding {
    let rep = g.representative();
    let events: Vec<_> = events_of(&s.events, "Pod", name_of(&rep.metadata))
        .into_iter()
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some("FailedMount" | "FailedAttachVolume")
            )
        })
        .collect();
    let message = events
        .first()
        .and_then(|e| e.message.clone())
        .unwrap_or_default();
    let since = facts::created(&rep.metadata)
        .map(|c| span(s.now.duration_since(c)))
        .unwrap_or_default();
    let lower = message.to_lowercase();
    let (cause, fix) = if lower.contains("not found")
        && (lower.contains("secret") || lower.contains("configmap"))
    {
        (
            format!("A volume's source does not exist: {message}"),
            "Create the Secret/ConfigMap the volume names, or fix the volume's source.".to_owned(),
        )
    } else if lower.contains("persistentvolumeclaim")
        || lower.contains("multi-attach")
        || lower.contains("attach")
    {
        (
            format!("The volume cannot be attached to the node: {message}"),
            "Check the PersistentVolumeClaim (see the storage findings); a ReadWriteOnce volume can only attach to one node at a time.".to_owned(),
        )
    } else {
        (
            format!("The kubelet cannot mount a volume: {message}"),
            "Fix the volume the message names.".to_owned(),
        )
    };
    base(
        s,
        g,
        "pod.volume_mount",
        Severity::Critical,
        format!(
            "{} pod(s) stuck in ContainerCreating for {since}: a volume cannot be mounted",
            g.pods.len()
        ),
    )
    .with_all(
        events
            .iter()
            .take(2)
            .map(|e| Evidence::Event(event_evidence(e))),
    )
    .cause(cause)
    .fix(fix)
    .doc("troubleshooting/volume-mounts")
}
