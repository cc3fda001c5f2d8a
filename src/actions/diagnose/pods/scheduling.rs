//! Pending pods, read from the scheduler's own message ("0/6 nodes are available: 3
//! Insufficient memory, 3 node(s) had untolerated taint {dedicated: gpu}. preemption: ..."):
//! which nodes refused the pod and why, set against the pod's requests, tolerations, node
//! selector and claims.

use k8s_openapi::api::core::v1::Pod;

use super::{Group, base, phase};
use crate::actions::diagnose::facts::{event_counts, event_evidence, events_of, name_of};
use crate::actions::diagnose::finding::{Evidence, Finding, Remediation, Severity, span};
use crate::actions::diagnose::snapshot::Snapshot;
use crate::actions::quantity;

/// Why some nodes refused a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// `Insufficient memory`, `Insufficient cpu`, `Insufficient nvidia.com/gpu`
    Insufficient(String),
    /// `had untolerated taint {key: value}`
    Taint(String),
    NodeSelector,
    PodAffinity,
    UnboundClaims,
    VolumeZone,
    Unschedulable,
    TooManyPods,
    Ports,
    Other(String),
}

impl Refusal {
    fn describe(&self) -> String {
        match self {
            Self::Insufficient(r) => format!("not enough free {r}"),
            Self::Taint(t) => format!("a taint {t} the pod does not tolerate"),
            Self::NodeSelector => "the pod's node selector/affinity does not match".into(),
            Self::PodAffinity => "pod (anti-)affinity rules".into(),
            Self::UnboundClaims => "an unbound PersistentVolumeClaim".into(),
            Self::VolumeZone => "its volume is in another zone".into(),
            Self::Unschedulable => "cordoned (unschedulable)".into(),
            Self::TooManyPods => "too many pods".into(),
            Self::Ports => "the requested host port is taken".into(),
            Self::Other(t) => t.clone(),
        }
    }
}

/// What the scheduler said: how many nodes there are, and per refusal how many nodes gave it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchedulerVerdict {
    pub nodes: Option<u32>,
    pub refusals: Vec<(u32, Refusal)>,
}

fn refusal(text: &str) -> Refusal {
    let t = text.trim();
    let lower = t.to_lowercase();
    if let Some(r) = t.strip_prefix("Insufficient ") {
        Refusal::Insufficient(r.trim().to_owned())
    } else if lower.contains("taint") {
        let taint = t
            .find('{')
            .and_then(|a| t[a..].find('}').map(|b| &t[a..=a + b]))
            .unwrap_or("")
            .to_owned();
        Refusal::Taint(taint)
    } else if lower.contains("node affinity/selector") {
        Refusal::NodeSelector
    } else if lower.contains("pod affinity") || lower.contains("anti-affinity") {
        Refusal::PodAffinity
    } else if lower.contains("unbound immediate persistentvolumeclaims")
        || lower.contains("persistentvolumeclaim")
    {
        Refusal::UnboundClaims
    } else if lower.contains("volume node affinity conflict") {
        Refusal::VolumeZone
    } else if lower.contains("unschedulable") {
        Refusal::Unschedulable
    } else if lower.contains("too many pods") {
        Refusal::TooManyPods
    } else if lower.contains("free ports") {
        Refusal::Ports
    } else {
        Refusal::Other(t.to_owned())
    }
}

/// Parses `0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint
/// {k: v}. preemption: ...` (and the older wording without counts).
pub fn parse_verdict(message: &str) -> SchedulerVerdict {
    let main = message.split(" preemption:").next().unwrap_or(message);
    let (head, body) = match main.split_once(" are available: ") {
        Some((h, b)) => (Some(h), b),
        None => (None, main),
    };
    let nodes = head
        .and_then(|h| h.split('/').nth(1))
        .and_then(|n| n.split_whitespace().next())
        .and_then(|n| n.parse().ok());
    let body = body.trim().trim_end_matches('.');
    let mut refusals = Vec::new();
    // Taints contain ", " inside braces; split only outside them.
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, ch) in body.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    // A part without a count continues the one before it ("had taint {..}, that the pod
    // didn't tolerate"), unless it is the first (the unbound-claims wording has no count).
    let mut items: Vec<(u32, String)> = Vec::new();
    for part in parts {
        let part = part.trim().trim_end_matches('.');
        if part.is_empty() {
            continue;
        }
        match part.split_once(' ') {
            Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => {
                items.push((n.parse().unwrap_or(1), rest.to_owned()));
            }
            _ => match items.last_mut() {
                Some((_, text)) => {
                    text.push_str(", ");
                    text.push_str(part);
                }
                None => items.push((nodes.unwrap_or(1), part.to_owned())),
            },
        }
    }
    for (count, text) in items {
        refusals.push((count, refusal(text.trim_start_matches("node(s) "))));
    }
    SchedulerVerdict { nodes, refusals }
}

/// The sum of a pod's container requests for one resource.
fn requested(pod: &Pod, resource: &str) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let mut total = 0;
    let mut any = false;
    for c in &spec.containers {
        if let Some(q) = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
        {
            let v = if resource == "cpu" {
                quantity::millicores(&q.0)
            } else {
                quantity::bytes(&q.0)
            };
            if let Some(v) = v {
                total += v;
                any = true;
            }
        }
    }
    any.then_some(total)
}

fn show(resource: &str, v: u64) -> String {
    if resource == "cpu" {
        format!("{v}m")
    } else if resource == "memory" || resource.contains("storage") {
        quantity::human_bytes(v)
    } else {
        v.to_string()
    }
}

pub(super) fn pending(s: &Snapshot, g: &Group<'_>, pods: &[&Pod]) -> Finding {
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let condition_message = rep
        .status
        .as_ref()
        .and_then(|st| st.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .and_then(|c| c.message.clone());
    let events: Vec<_> = events_of(&s.events, "Pod", pod)
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    let message = events
        .first()
        .and_then(|e| e.message.clone())
        .or(condition_message)
        .unwrap_or_default();
    let verdict = parse_verdict(&message);
    let running = pods.iter().filter(|p| phase(p) == "Running").count();
    let since = crate::actions::diagnose::facts::created(&rep.metadata)
        .map(|c| span(s.now.duration_since(c)))
        .unwrap_or_default();
    let total = pods.len();
    let severity = if running == 0 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = base(
        s,
        g,
        "pod.pending",
        severity,
        format!(
            "{} of {total} pod(s) Pending for {since}: {}",
            g.pods.len(),
            if verdict.refusals.is_empty() {
                "not scheduled yet".to_owned()
            } else {
                format!(
                    "no node fits ({})",
                    verdict
                        .refusals
                        .iter()
                        .map(|(n, r)| format!("{n} node(s): {}", r.describe()))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        ),
    );
    if events.is_empty() && !message.is_empty() {
        f = f.with(Evidence::fact(format!(
            "condition PodScheduled=False (Unschedulable): {message}"
        )));
    }
    f = f.with_all(
        events
            .iter()
            .take(1)
            .map(|e| Evidence::Event(event_evidence(e))),
    );
    let spec = rep.spec.as_ref();
    let mut causes = Vec::new();
    let mut fixes = Vec::new();
    let mut remediation = None;
    for (count, r) in &verdict.refusals {
        match r {
            Refusal::Insufficient(resource) => {
                let want = requested(rep, resource);
                let alloc: Vec<u64> = s
                    .nodes
                    .values()
                    .filter_map(|n| {
                        n.status
                            .as_ref()?
                            .allocatable
                            .as_ref()?
                            .get(resource.as_str())
                            .cloned()
                    })
                    .filter_map(|q| {
                        if resource == "cpu" {
                            quantity::millicores(&q.0)
                        } else {
                            quantity::bytes(&q.0)
                        }
                    })
                    .collect();
                let mut fact = format!(
                    "the pod requests {} {resource}",
                    want.map_or_else(|| "no".to_owned(), |w| show(resource, w))
                );
                if let Some(max) = alloc.iter().max() {
                    fact.push_str(&format!(
                        "; the nodes running its siblings have {} allocatable each (before other pods' requests)",
                        show(resource, *max)
                    ));
                }
                f = f.with(Evidence::fact(fact));
                causes.push(format!(
                    "{count} node(s) do not have {} of unreserved {resource} left: requests of the pods already there use it up (requests, not actual usage, count).",
                    want.map_or_else(|| "the requested amount".to_owned(), |w| show(resource, w))
                ));
                fixes.push(format!(
                    "Lower the {resource} request if the app needs less (compare with `kubectl top pod` of the running pods), or ask the platform team for capacity (a larger node group or the cluster autoscaler's limits)."
                ));
                if running > 0 && remediation.is_none() {
                    let replicas = u32::try_from(running).unwrap_or(u32::MAX);
                    remediation = Some(Remediation::scale(
                        &s.service,
                        &s.environment,
                        replicas,
                        format!(
                            "{running} of {total} pods run; the rest cannot fit anywhere until capacity is added. Scaling to {running} removes the pods that cannot be scheduled (and the alert noise) at the cost of the missing replicas."
                        ),
                        Some("only if running with fewer replicas is acceptable until capacity is added".into()),
                    ));
                }
            }
            Refusal::Taint(taint) => {
                let tolerations: Vec<String> = spec
                    .and_then(|sp| sp.tolerations.as_deref())
                    .unwrap_or_default()
                    .iter()
                    .map(|t| {
                        format!(
                            "{}{}{}",
                            t.key.as_deref().unwrap_or("*"),
                            t.value
                                .as_deref()
                                .map(|v| format!("={v}"))
                                .unwrap_or_default(),
                            t.effect
                                .as_deref()
                                .map(|e| format!(":{e}"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                f = f.with(Evidence::fact(format!(
                    "pod tolerations: {}",
                    if tolerations.is_empty() {
                        "none".to_owned()
                    } else {
                        tolerations.join(", ")
                    }
                )));
                causes.push(format!("{count} node(s) carry taint {taint}, which the pod does not tolerate (those nodes are reserved for other workloads)."));
                fixes.push(format!("If the pod belongs on those nodes, add a toleration for {taint}; otherwise the other nodes are full or excluded for the reasons listed."));
            }
            Refusal::NodeSelector => {
                let selector: Vec<String> = spec
                    .and_then(|sp| sp.node_selector.as_ref())
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                let affinity: Vec<String> = spec
                    .and_then(|sp| sp.affinity.as_ref())
                    .and_then(|a| a.node_affinity.as_ref())
                    .and_then(|na| {
                        na.required_during_scheduling_ignored_during_execution
                            .as_ref()
                    })
                    .map(|ns| {
                        ns.node_selector_terms
                            .iter()
                            .flat_map(|t| t.match_expressions.as_deref().unwrap_or_default())
                            .map(|e| {
                                format!(
                                    "{} {} [{}]",
                                    e.key,
                                    e.operator,
                                    e.values.as_deref().unwrap_or_default().join(", ")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                f = f.with(Evidence::fact(format!(
                    "pod nodeSelector: {}; required node affinity: {}",
                    if selector.is_empty() {
                        "none".to_owned()
                    } else {
                        selector.join(", ")
                    },
                    if affinity.is_empty() {
                        "none".to_owned()
                    } else {
                        affinity.join("; ")
                    }
                )));
                if let Some(sel) = spec.and_then(|sp| sp.node_selector.as_ref()) {
                    for (key, want) in sel {
                        let seen: Vec<String> = s
                            .nodes
                            .values()
                            .filter_map(|n| n.metadata.labels.as_ref()?.get(key).cloned())
                            .collect::<std::collections::BTreeSet<_>>()
                            .into_iter()
                            .collect();
                        if !seen.is_empty() && !seen.contains(want) {
                            f = f.with(Evidence::fact(format!(
                                "known nodes have {key}={}; the pod wants {key}={want}",
                                seen.join(" or ")
                            )));
                        }
                    }
                }
                causes.push(format!(
                    "{count} node(s) do not match the pod's nodeSelector / required node affinity."
                ));
                fixes.push("Fix the selector or affinity to labels the nodes carry (`kubectl get nodes --show-labels`), or label the intended nodes.".into());
            }
            Refusal::UnboundClaims | Refusal::VolumeZone => {
                let claims: Vec<String> = spec
                    .and_then(|sp| sp.volumes.as_deref())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| {
                        v.persistent_volume_claim
                            .as_ref()
                            .map(|c| c.claim_name.clone())
                    })
                    .map(|name| {
                        let phase = s
                            .pvcs
                            .iter()
                            .find(|p| name_of(&p.metadata) == name)
                            .map_or_else(
                                || "missing".to_owned(),
                                |p| {
                                    p.status
                                        .as_ref()
                                        .and_then(|st| st.phase.clone())
                                        .unwrap_or_else(|| "?".into())
                                },
                            );
                        format!("{name} ({phase})")
                    })
                    .collect();
                f = f.with(Evidence::fact(format!("pod claims: {}", claims.join(", "))));
                if *r == Refusal::VolumeZone {
                    causes.push(
                        "The pod's volume lives in a zone where no node can take the pod.".into(),
                    );
                    fixes.push("Add capacity in the volume's zone, or use a StorageClass with `volumeBindingMode: WaitForFirstConsumer`.".into());
                } else {
                    causes.push("A PersistentVolumeClaim the pod mounts is not bound to a volume yet (see the storage finding).".into());
                    fixes.push("Fix the claim (storage class, provisioner, size) so it binds; the pod is scheduled once it does.".into());
                }
            }
            Refusal::PodAffinity => {
                causes.push(format!("{count} node(s) are excluded by the pod's (anti-)affinity rules (e.g. one replica per node or zone)."));
                fixes.push("Relax required anti-affinity to preferred, or add nodes/zones.".into());
            }
            Refusal::Unschedulable => {
                causes.push(format!("{count} node(s) are cordoned."));
                fixes.push("Wait for maintenance to finish or uncordon the nodes.".into());
            }
            Refusal::TooManyPods => {
                causes.push(format!(
                    "{count} node(s) hold their maximum number of pods."
                ));
                fixes.push("Add nodes (the pod limit is per node).".into());
            }
            Refusal::Ports => {
                causes.push(format!("{count} node(s) already use the pod's hostPort."));
                fixes.push("Avoid hostPort, or run fewer replicas than nodes.".into());
            }
            Refusal::Other(t) => causes.push(format!("{count} node(s): {t}.")),
        }
    }
    if verdict.refusals.is_empty() {
        let scheduler = spec
            .and_then(|sp| sp.scheduler_name.as_deref())
            .unwrap_or("default-scheduler");
        if scheduler != "default-scheduler" && events.is_empty() {
            causes.push(format!("No scheduler has looked at the pod: it asks for scheduler `{scheduler}`, which may not be running."));
            fixes.push("Use the default scheduler or start the named one.".into());
        } else {
            causes.push("The scheduler has not placed the pod yet.".into());
            fixes.push("Wait a moment; if it stays Pending, `kubectl describe pod` shows the scheduler's reason.".into());
        }
    }
    if let Some(e) = events.first() {
        let (count, first, _) = event_counts(e);
        if let Some(first) = first {
            f = f.with(Evidence::fact(format!(
                "the scheduler has tried {count} times over {}",
                span(s.now.duration_since(first))
            )));
        }
    }
    let mut unique_fixes: Vec<String> = Vec::new();
    for x in fixes {
        if !unique_fixes.contains(&x) {
            unique_fixes.push(x);
        }
    }
    f.cause(causes.join(" "))
        .fix(unique_fixes.join(" "))
        .remedy(remediation)
        .doc("troubleshooting-pods.md#pending")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn refusal_counts(v: &SchedulerVerdict) -> BTreeMap<Refusal, u32> {
        let mut out = BTreeMap::new();
        for (n, r) in &v.refusals {
            *out.entry(r.clone()).or_insert(0) += n;
        }
        out
    }

    #[test]
    fn scheduler_messages_are_broken_down_per_reason() {
        let v = parse_verdict(
            "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.",
        );
        assert_eq!(v.nodes, Some(6));
        assert_eq!(
            v.refusals,
            vec![(6, Refusal::Insufficient("memory".into()))]
        );

        let v = parse_verdict(
            "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {dedicated: gpu, team: ml}. preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(v.refusals.len(), 2, "{v:?}");
        assert_eq!(
            v.refusals[1],
            (3, Refusal::Taint("{dedicated: gpu, team: ml}".into()))
        );

        let v = parse_verdict(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(v.refusals, vec![(3, Refusal::NodeSelector)]);

        let v = parse_verdict(
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(v.refusals, vec![(3, Refusal::UnboundClaims)]);

        let v = parse_verdict(
            "0/4 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/control-plane: }, that the pod didn't tolerate, 3 node(s) were unschedulable.",
        );
        let counts = refusal_counts(&v);
        assert_eq!(counts.get(&Refusal::Unschedulable), Some(&3));
        assert_eq!(counts.len(), 2, "{v:?}");
    }
}
