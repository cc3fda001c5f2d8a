//! PersistentVolumeClaim analyzers: claims stuck Pending (no storage class, a class that
//! does not exist, a provisioner that fails or never answers), lost claims, and pods that
//! mount a claim that does not exist.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;

use super::facts::{created, event_evidence, events_of, name_of};
use super::finding::{Evidence, Finding, Severity, span};
use super::snapshot::Snapshot;

/// Claims the workload mounts (from its pod template and pods) plus claims named after it.
fn claims(s: &Snapshot) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let template = s
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|sp| sp.template.spec.as_ref());
    let pod_specs = s
        .workload_pods()
        .into_iter()
        .filter_map(|p| p.spec.as_ref());
    for spec in template.into_iter().chain(pod_specs) {
        for v in spec.volumes.as_deref().unwrap_or_default() {
            if let Some(c) = &v.persistent_volume_claim {
                names.insert(c.claim_name.clone());
            }
        }
    }
    for pvc in &s.pvcs {
        if s.belongs(&pvc.metadata) {
            names.insert(name_of(&pvc.metadata).to_owned());
        }
    }
    names
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    if !s.was_read("persistentvolumeclaims") {
        return out;
    }
    for name in claims(s) {
        match s.pvcs.iter().find(|p| name_of(&p.metadata) == name) {
            None => out.push(
                Finding::new(
                    "pvc.missing",
                    Severity::Critical,
                    s.object("PersistentVolumeClaim", &name),
                    format!("the pods mount PersistentVolumeClaim {name}, which does not exist"),
                )
                .cause("A pod cannot start until every claim it mounts exists and is bound.")
                .fix(format!(
                    "Create the claim `{name}` (or fix `claimName` in the pod template)."
                ))
                .doc("troubleshooting/pvc-pending"),
            ),
            Some(pvc) => out.extend(claim(s, pvc)),
        }
    }
    out
}

fn claim(s: &Snapshot, pvc: &PersistentVolumeClaim) -> Option<Finding> {
    let name = name_of(&pvc.metadata);
    let phase = pvc.status.as_ref().and_then(|st| st.phase.as_deref())?;
    let spec = pvc.spec.as_ref();
    let class = spec.and_then(|sp| sp.storage_class_name.clone());
    let size = spec
        .and_then(|sp| sp.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "?".into());
    let modes = spec
        .and_then(|sp| sp.access_modes.clone())
        .unwrap_or_default()
        .join(",");
    let facts = Evidence::fact(format!(
        "spec: storageClassName {}, {size}, {}",
        class
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), |c| format!("`{c}`")),
        if modes.is_empty() {
            "no access modes".to_owned()
        } else {
            modes
        }
    ));
    let age = created(&pvc.metadata)
        .map(|c| span(s.now.duration_since(c)))
        .unwrap_or_default();
    let events = events_of(&s.events, "PersistentVolumeClaim", name);
    let messages: String = events
        .iter()
        .filter_map(|e| e.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    let lower = messages.to_lowercase();
    match phase {
        "Pending" => {
            let (check, cause, fix) = if lower.contains("no storage class is set")
                || (class.as_deref() == Some("") || class.is_none()) && lower.contains("no persistent volumes available")
            {
                (
                    "pvc.no_storage_class",
                    "The claim names no storage class and the cluster has no default one, so nothing provisions a volume (and no pre-made volume matches).".to_owned(),
                    "Set `storageClassName` to a class the cluster offers (`kubectl get storageclass`), or ask the platform team to mark one as default.".to_owned(),
                )
            } else if lower.contains("storageclass") && lower.contains("not found") {
                (
                    "pvc.no_storage_class",
                    format!(
                        "Storage class `{}` does not exist in the cluster.",
                        class.clone().unwrap_or_default()
                    ),
                    "Use a storage class that exists (`kubectl get storageclass`); `storageClassName` cannot be changed on an existing claim, so recreate it.".to_owned(),
                )
            } else if lower.contains("waiting for first consumer") {
                // Normal until a pod using it is scheduled; a pod that is Pending for other
                // reasons keeps it waiting.
                (
                    "pvc.waiting_for_consumer",
                    "The storage class binds volumes only once a pod using the claim is scheduled (WaitForFirstConsumer); the pod is not scheduled yet.".to_owned(),
                    "Fix why the pod is not scheduled (see the pod findings); the claim binds right after.".to_owned(),
                )
            } else if events.iter().any(|e| e.reason.as_deref() == Some("ProvisioningFailed")) {
                (
                    "pvc.pending",
                    "The provisioner tried and failed to create the volume (quota in the cloud account, an unsupported size or parameter).".to_owned(),
                    "Read the ProvisioningFailed message above and fix the class parameters or the cloud quota.".to_owned(),
                )
            } else if lower.contains("waiting for a volume to be created") {
                (
                    "pvc.pending",
                    "The claim waits for an external provisioner that has not created the volume: the CSI driver may not be running.".to_owned(),
                    "Check the CSI driver's controller pods in its namespace.".to_owned(),
                )
            } else {
                (
                    "pvc.pending",
                    "The claim is not bound to a volume yet.".to_owned(),
                    "Check `kubectl describe pvc` for the provisioner's messages.".to_owned(),
                )
            };
            let severity = if check == "pvc.waiting_for_consumer" {
                Severity::Info
            } else {
                Severity::Critical
            };
            Some(
                Finding::new(
                    check,
                    severity,
                    s.object("PersistentVolumeClaim", name),
                    format!("PersistentVolumeClaim {name} is Pending for {age}: no volume bound"),
                )
                .with(facts)
                .with_all(events.iter().take(2).map(|e| Evidence::Event(event_evidence(e))))
                .cause(cause)
                .fix(fix)
                .doc("troubleshooting/pvc-pending"),
            )
        }
        "Lost" => Some(
            Finding::new(
                "pvc.lost",
                Severity::Critical,
                s.object("PersistentVolumeClaim", name),
                format!("PersistentVolumeClaim {name} is Lost: its volume is gone"),
            )
            .with(facts)
            .cause("The PersistentVolume the claim was bound to was deleted or is unavailable.")
            .fix("Restore the volume from a backup or snapshot, then recreate the claim bound to it.")
            .doc("troubleshooting/pvc-pending"),
        ),
        _ => None,
    }
}
