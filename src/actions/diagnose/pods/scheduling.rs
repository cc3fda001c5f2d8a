//! Pending pods, read from the scheduler's own message ("0/6 nodes are available: 3
//! Insufficient memory, 3 node(s) had untolerated taint {dedicated: gpu}. preemption: ..."):
//! which nodes refused the pod and why, set against the pod's requests, tolerations, node
//! selector and claims.

use k8s_openapi::api::core::v1::{Event, Pod, PodSpec};

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

/// What one refusal adds to a Pending finding: facts about the pod, the cause, the fix.
#[derive(Default)]
struct Explained {
    facts: Vec<String>,
    cause: String,
    fix: Option<String>,
}

impl Explained {
    fn said(cause: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            facts: Vec::new(),
            cause: cause.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The scheduler's message about the representative pod: its latest FailedScheduling
/// event, else the PodScheduled condition.
fn scheduler_message<'a>(s: &'a Snapshot, rep: &Pod) -> (Vec<&'a Event>, String) {
    let condition_message = rep
        .status
        .as_ref()
        .and_then(|st| st.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .and_then(|c| c.message.clone());
    let events: Vec<_> = events_of(&s.events, "Pod", name_of(&rep.metadata))
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    let message = events
        .first()
        .and_then(|e| e.message.clone())
        .or(condition_message)
        .unwrap_or_default();
    (events, message)
}

fn headline(verdict: &SchedulerVerdict, pending: usize, total: usize, since: &str) -> String {
    let why = if verdict.refusals.is_empty() {
        "not scheduled yet".to_owned()
    } else {
        let each: Vec<String> = verdict
            .refusals
            .iter()
            .map(|(n, r)| format!("{n} node(s): {}", r.describe()))
            .collect();
        format!("no node fits ({})", each.join("; "))
    };
    format!("{pending} of {total} pod(s) Pending for {since}: {why}")
}

pub(super) fn pending(s: &Snapshot, g: &Group<'_>, pods: &[&Pod]) -> Finding {
    let rep = g.representative();
    let (events, message) = scheduler_message(s, rep);
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
    let title = headline(&verdict, g.pods.len(), total, &since);
    let mut f = base(s, g, "pod.pending", severity, title);
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
    let mut causes = Vec::new();
    let mut fixes: Vec<String> = Vec::new();
    let mut remediation = None;
    for (count, r) in &verdict.refusals {
        let e = explain(s, rep, *count, r);
        f = f.with_all(e.facts.into_iter().map(Evidence::fact));
        causes.push(e.cause);
        // The same fix for two refusals is said once.
        if let Some(fix) = e.fix.filter(|x| !fixes.contains(x)) {
            fixes.push(fix);
        }
        if let Refusal::Insufficient(_) = r
            && running > 0
            && remediation.is_none()
        {
            remediation = Some(scale_to_running(s, running, total));
        }
    }
    if verdict.refusals.is_empty() {
        let e = not_yet_scheduled(rep, events.is_empty());
        causes.push(e.cause);
        fixes.extend(e.fix);
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
    f.cause(causes.join(" "))
        .fix(fixes.join(" "))
        .remedy(remediation)
        .doc("troubleshooting-pods.md#pending")
}

/// What `count` nodes refusing the pod for `r` means, with the pod's side of it.
fn explain(s: &Snapshot, rep: &Pod, count: u32, r: &Refusal) -> Explained {
    let spec = rep.spec.as_ref();
    match r {
        Refusal::Insufficient(resource) => insufficient(s, rep, count, resource),
        Refusal::Taint(taint) => untolerated(spec, count, taint),
        Refusal::NodeSelector => unmatched_selector(s, spec, count),
        Refusal::UnboundClaims | Refusal::VolumeZone => claims(s, spec, r),
        Refusal::PodAffinity => Explained::said(
            format!(
                "{count} node(s) are excluded by the pod's (anti-)affinity rules (e.g. one replica per node or zone)."
            ),
            "Relax required anti-affinity to preferred, or add nodes/zones.",
        ),
        Refusal::Unschedulable => Explained::said(
            format!("{count} node(s) are cordoned."),
            "Wait for maintenance to finish or uncordon the nodes.",
        ),
        Refusal::TooManyPods => Explained::said(
            format!("{count} node(s) hold their maximum number of pods."),
            "Add nodes (the pod limit is per node).",
        ),
        Refusal::Ports => Explained::said(
            format!("{count} node(s) already use the pod's hostPort."),
            "Avoid hostPort, or run fewer replicas than nodes.",
        ),
        Refusal::Other(t) => Explained {
            cause: format!("{count} node(s): {t}."),
            ..Explained::default()
        },
    }
}

fn insufficient(s: &Snapshot, rep: &Pod, count: u32, resource: &str) -> Explained {
    let want = requested(rep, resource);
    let alloc: Vec<u64> = s
        .nodes
        .values()
        .filter_map(|n| {
            n.status
                .as_ref()?
                .allocatable
                .as_ref()?
                .get(resource)
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
    Explained {
        facts: vec![fact],
        cause: format!(
            "{count} node(s) do not have {} of unreserved {resource} left: requests of the pods already there use it up (requests, not actual usage, count).",
            want.map_or_else(|| "the requested amount".to_owned(), |w| show(resource, w))
        ),
        fix: Some(format!(
            "Lower the {resource} request if the app needs less (compare with `kubectl top pod` of the running pods), or ask the platform team for capacity (a larger node group or the cluster autoscaler's limits)."
        )),
    }
}

/// Scaling down to the pods that run: what is offered while capacity is missing.
fn scale_to_running(s: &Snapshot, running: usize, total: usize) -> Remediation {
    let replicas = u32::try_from(running).unwrap_or(u32::MAX);
    Remediation::scale(
        &s.service,
        &s.environment,
        replicas,
        format!(
            "{running} of {total} pods run; the rest cannot fit anywhere until capacity is added. Scaling to {running} removes the pods that cannot be scheduled (and the alert noise) at the cost of the missing replicas."
        ),
        Some("only if running with fewer replicas is acceptable until capacity is added".into()),
    )
}

/// "none" for an empty list, else the items joined with `sep`.
fn or_none(items: &[String], sep: &str) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(sep)
    }
}

fn untolerated(spec: Option<&PodSpec>, count: u32, taint: &str) -> Explained {
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
    Explained {
        facts: vec![format!("pod tolerations: {}", or_none(&tolerations, ", "))],
        cause: format!(
            "{count} node(s) carry taint {taint}, which the pod does not tolerate (those nodes are reserved for other workloads)."
        ),
        fix: Some(format!(
            "If the pod belongs on those nodes, add a toleration for {taint}; otherwise the other nodes are full or excluded for the reasons listed."
        )),
    }
}

/// The pod's required node affinity, one term per expression.
fn required_affinity(spec: Option<&PodSpec>) -> Vec<String> {
    spec.and_then(|sp| sp.affinity.as_ref())
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
        .unwrap_or_default()
}

fn unmatched_selector(s: &Snapshot, spec: Option<&PodSpec>, count: u32) -> Explained {
    let selector: Vec<String> = spec
        .and_then(|sp| sp.node_selector.as_ref())
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    let mut facts = vec![format!(
        "pod nodeSelector: {}; required node affinity: {}",
        or_none(&selector, ", "),
        or_none(&required_affinity(spec), "; ")
    )];
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
                facts.push(format!(
                    "known nodes have {key}={}; the pod wants {key}={want}",
                    seen.join(" or ")
                ));
            }
        }
    }
    Explained {
        facts,
        cause: format!(
            "{count} node(s) do not match the pod's nodeSelector / required node affinity."
        ),
        fix: Some("Fix the selector or affinity to labels the nodes carry (`kubectl get nodes --show-labels`), or label the intended nodes.".into()),
    }
}

fn claims(s: &Snapshot, spec: Option<&PodSpec>, r: &Refusal) -> Explained {
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
    let facts = vec![format!("pod claims: {}", claims.join(", "))];
    let (cause, fix) = if *r == Refusal::VolumeZone {
        (
            "The pod's volume lives in a zone where no node can take the pod.",
            "Add capacity in the volume's zone, or use a StorageClass with `volumeBindingMode: WaitForFirstConsumer`.",
        )
    } else {
        (
            "A PersistentVolumeClaim the pod mounts is not bound to a volume yet (see the storage finding).",
            "Fix the claim (storage class, provisioner, size) so it binds; the pod is scheduled once it does.",
        )
    };
    Explained {
        facts,
        ..Explained::said(cause, fix)
    }
}

/// No node refused the pod: the scheduler has not looked yet, or is not the one running.
fn not_yet_scheduled(rep: &Pod, no_events: bool) -> Explained {
    let scheduler = rep
        .spec
        .as_ref()
        .and_then(|sp| sp.scheduler_name.as_deref())
        .unwrap_or("default-scheduler");
    if scheduler != "default-scheduler" && no_events {
        Explained::said(
            format!(
                "No scheduler has looked at the pod: it asks for scheduler `{scheduler}`, which may not be running."
            ),
            "Use the default scheduler or start the named one.",
        )
    } else {
        Explained::said(
            "The scheduler has not placed the pod yet.",
            "Wait a moment; if it stays Pending, `kubectl describe pod` shows the scheduler's reason.",
        )
    }
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
