//! HorizontalPodAutoscaler analyzers: pinned at its maximum while the metric stays above
//! target, and unable to read its metrics (no metrics server, no adapter, or containers
//! without the requests a utilization target needs).

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerSpec,
    MetricSpec, MetricStatus,
};

use super::facts::{event_evidence, events_of, name_of, time};
use super::finding::{Evidence, Finding, Severity, span};
use super::snapshot::Snapshot;

fn condition<'a>(
    h: &'a HorizontalPodAutoscaler,
    kind: &str,
) -> Option<&'a HorizontalPodAutoscalerCondition> {
    h.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn target_text(m: &MetricSpec) -> String {
    if let Some(r) = &m.resource {
        let t = &r.target;
        return match (t.average_utilization, &t.average_value, &t.value) {
            (Some(u), _, _) => format!("{} {u}% of request", r.name),
            (_, Some(v), _) => format!("{} {} per pod", r.name, v.0),
            (_, _, Some(v)) => format!("{} {}", r.name, v.0),
            _ => r.name.clone(),
        };
    }
    if let Some(p) = &m.pods {
        return format!("pods metric {}", p.metric.name);
    }
    if let Some(e) = &m.external {
        return format!("external metric {}", e.metric.name);
    }
    if let Some(o) = &m.object {
        return format!("object metric {}", o.metric.name);
    }
    m.type_.clone()
}

fn current_text(m: &MetricStatus) -> Option<String> {
    let r = m.resource.as_ref()?;
    let c = &r.current;
    match (c.average_utilization, &c.average_value) {
        (Some(u), _) => Some(format!("{} at {u}% of request", r.name)),
        (_, Some(v)) => Some(format!("{} at {} per pod", r.name, v.0)),
        _ => None,
    }
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for h in &s.hpas {
        let Some(spec) = &h.spec else { continue };
        let target = &spec.scale_target_ref;
        if target.name != s.workload
            || !matches!(target.kind.as_str(), "Deployment" | "StatefulSet")
        {
            continue;
        }
        let counts = Counts::of(h, spec);
        let facts = hpa_facts(h, spec, &counts);
        out.extend(missing_metrics(s, h, &counts, &facts));
        out.extend(pinned_at_max(s, h, &counts, &facts));
    }
    out
}

/// An HPA's replica counts: current, its bounds and what it wants.
struct Counts {
    replicas: i32,
    min: i32,
    max: i32,
    desired: i32,
}

impl Counts {
    fn of(h: &HorizontalPodAutoscaler, spec: &HorizontalPodAutoscalerSpec) -> Self {
        let status = h.status.as_ref();
        Counts {
            replicas: status.and_then(|st| st.current_replicas).unwrap_or(0),
            min: spec.min_replicas.unwrap_or(1),
            max: spec.max_replicas,
            desired: status.map(|st| st.desired_replicas).unwrap_or(0),
        }
    }
}

/// The HPA at a glance: its counts, targets and current metric values.
fn hpa_facts(
    h: &HorizontalPodAutoscaler,
    spec: &HorizontalPodAutoscalerSpec,
    c: &Counts,
) -> Evidence {
    let metrics: Vec<String> = spec
        .metrics
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(target_text)
        .collect();
    let current: Vec<String> = h
        .status
        .as_ref()
        .and_then(|st| st.current_metrics.as_deref())
        .unwrap_or_default()
        .iter()
        .filter_map(current_text)
        .collect();
    Evidence::fact(format!(
        "HPA {}: {} replicas (min {}, max {}, desired {}); targets {}; current {}",
        name_of(&h.metadata),
        c.replicas,
        c.min,
        c.max,
        c.desired,
        if metrics.is_empty() {
            "none".to_owned()
        } else {
            metrics.join(", ")
        },
        if current.is_empty() {
            "unknown".to_owned()
        } else {
            current.join(", ")
        }
    ))
}

/// `ScalingActive=False`: the HPA cannot read its metrics, so it does not scale.
fn missing_metrics(
    s: &Snapshot,
    h: &HorizontalPodAutoscaler,
    counts: &Counts,
    facts: &Evidence,
) -> Option<Finding> {
    let c = condition(h, "ScalingActive").filter(|c| c.status == "False")?;
    let name = name_of(&h.metadata);
    let reason = c.reason.clone().unwrap_or_default();
    let message = c.message.clone().unwrap_or_default();
    let events: Vec<_> = events_of(&s.events, "HorizontalPodAutoscaler", name)
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .take(2)
        .collect();
    let said = format!(
        "{message}\n{}",
        events
            .iter()
            .filter_map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("\n")
    )
    .to_lowercase();
    let (cause, fix) = metrics_cause(s, &reason, &said);
    Some(
        Finding::new(
            "hpa.missing_metrics",
            Severity::Warning,
            s.object("HorizontalPodAutoscaler", name),
            format!(
                "HPA {name} cannot read its metrics ({reason}): autoscaling is off, replicas stay at {}",
                counts.replicas
            ),
        )
        .with(facts.clone())
        .with(Evidence::fact(format!(
            "condition ScalingActive=False ({reason}): {message}"
        )))
        .with_all(events.iter().map(|e| Evidence::Event(event_evidence(e))))
        .cause(cause)
        .fix(fix)
        .doc("troubleshooting/hpa"),
    )
}

/// Why the metrics are missing, from the condition's reason and what it and the events
/// say (`said`, lowercase): no cpu requests, a custom metric not served, or metrics-server.
fn metrics_cause(s: &Snapshot, reason: &str, said: &str) -> (String, String) {
    let missing_requests = missing_cpu_requests(s);
    if said.contains("missing request for") || !missing_requests.is_empty() && said.contains("cpu")
    {
        return (
            format!(
                "A utilization target is a percentage of the containers' requests, and {} no cpu request.",
                if missing_requests.is_empty() {
                    "a container has".to_owned()
                } else {
                    format!("container(s) {} have", missing_requests.join(", "))
                }
            ),
            "Set cpu (and memory) requests on every container of the pod template.".to_owned(),
        );
    }
    if said.contains("external metric")
        || said.contains("custom metric")
        || reason.contains("External")
        || reason.contains("Pods")
        || reason.contains("Object")
    {
        return (
            "The custom/external metrics API does not serve the metric (the metrics adapter is missing, down, or the metric name or selector is wrong).".to_owned(),
            "Check the metrics adapter (e.g. prometheus-adapter, KEDA) and that the metric exists.".to_owned(),
        );
    }
    (
        "The resource metrics API (metrics-server) returns no metrics for the pods: it is not installed or not healthy, or the pods are too new to have samples.".to_owned(),
        "Check `kubectl top pods` in the namespace; if it fails, the platform team needs to fix metrics-server.".to_owned(),
    )
}

/// At its maximum and wanting more: the pods run hot.
fn pinned_at_max(
    s: &Snapshot,
    h: &HorizontalPodAutoscaler,
    c: &Counts,
    facts: &Evidence,
) -> Option<Finding> {
    let limited = condition(h, "ScalingLimited")
        .filter(|c| c.status == "True" && c.reason.as_deref() == Some("TooManyReplicas"));
    if c.replicas < c.max || (limited.is_none() && c.desired < c.max) {
        return None;
    }
    let name = name_of(&h.metadata);
    let since = limited
        .and_then(|c| c.last_transition_time.as_ref())
        .map(time)
        .map(|t| format!(" for {}", span(s.now.duration_since(t))))
        .unwrap_or_default();
    let mut f = Finding::new(
        "hpa.at_max",
        Severity::Warning,
        s.object("HorizontalPodAutoscaler", name),
        format!(
            "HPA {name} is pinned at its maximum of {} replicas{since}: it wants more",
            c.max
        ),
    )
    .with(facts.clone());
    if let Some(c) = limited {
        f = f.with(Evidence::fact(format!(
            "condition ScalingLimited=True (TooManyReplicas): {}",
            c.message.as_deref().unwrap_or("")
        )));
    }
    Some(
        f.cause("Load is above what the maximum replica count can absorb at the target utilization, so the pods run hot (slow responses, throttling).")
            .fix(format!(
                "Raise maxReplicas (check the namespace quota has room for the extra pods), or find why each pod does less than before (a slow dependency, a regression): `kubectl -n {} top pods`.",
                s.namespace
            ))
            .doc("troubleshooting/hpa"),
    )
}

fn missing_cpu_requests(s: &Snapshot) -> Vec<String> {
    s.deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|sp| sp.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter(|c| {
                    c.resources
                        .as_ref()
                        .and_then(|r| r.requests.as_ref())
                        .is_none_or(|r| !r.contains_key("cpu"))
                })
                .map(|c| format!("`{}`", c.name))
                .collect()
        })
        .unwrap_or_default()
}
