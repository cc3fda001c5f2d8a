//! HorizontalPodAutoscaler analyzers: pinned at its maximum while the metric stays above
//! target, and unable to read its metrics (no metrics server, no adapter, or containers
//! without the requests a utilization target needs).

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, MetricSpec, MetricStatus,
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
        let name = name_of(&h.metadata);
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
        let min = spec.min_replicas.unwrap_or(1);
        let max = spec.max_replicas;
        let replicas = h
            .status
            .as_ref()
            .and_then(|st| st.current_replicas)
            .unwrap_or(0);
        let desired = h.status.as_ref().map(|st| st.desired_replicas).unwrap_or(0);
        let facts = Evidence::fact(format!(
            "HPA {name}: {replicas} replicas (min {min}, max {max}, desired {desired}); targets {}; current {}",
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
        ));

        if let Some(c) = condition(h, "ScalingActive").filter(|c| c.status == "False") {
            let reason = c.reason.clone().unwrap_or_default();
            let message = c.message.clone().unwrap_or_default();
            let events: Vec<_> = events_of(&s.events, "HorizontalPodAutoscaler", name)
                .into_iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .take(2)
                .collect();
            let lower = format!(
                "{message}\n{}",
                events
                    .iter()
                    .filter_map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
            .to_lowercase();
            let missing_requests = missing_cpu_requests(s);
            let (cause, fix) = if lower.contains("missing request for")
                || !missing_requests.is_empty() && lower.contains("cpu")
            {
                (
                    format!(
                        "A utilization target is a percentage of the containers' requests, and {} no cpu request.",
                        if missing_requests.is_empty() {
                            "a container has".to_owned()
                        } else {
                            format!("container(s) {} have", missing_requests.join(", "))
                        }
                    ),
                    "Set cpu (and memory) requests on every container of the pod template."
                        .to_owned(),
                )
            } else if lower.contains("external metric")
                || lower.contains("custom metric")
                || reason.contains("External")
                || reason.contains("Pods")
                || reason.contains("Object")
            {
                (
                    "The custom/external metrics API does not serve the metric (the metrics adapter is missing, down, or the metric name or selector is wrong).".to_owned(),
                    "Check the metrics adapter (e.g. prometheus-adapter, KEDA) and that the metric exists.".to_owned(),
                )
            } else {
                (
                    "The resource metrics API (metrics-server) returns no metrics for the pods: it is not installed or not healthy, or the pods are too new to have samples.".to_owned(),
                    "Check `kubectl top pods` in the namespace; if it fails, the platform team needs to fix metrics-server.".to_owned(),
                )
            };
            out.push(
                Finding::new(
                    "hpa.missing_metrics",
                    Severity::Warning,
                    s.object("HorizontalPodAutoscaler", name),
                    format!("HPA {name} cannot read its metrics ({reason}): autoscaling is off, replicas stay at {replicas}"),
                )
                .with(facts.clone())
                .with(Evidence::fact(format!("condition ScalingActive=False ({reason}): {message}")))
                .with_all(events.iter().map(|e| Evidence::Event(event_evidence(e))))
                .cause(cause)
                .fix(fix)
                .doc("troubleshooting/hpa"),
            );
        }

        let limited = condition(h, "ScalingLimited")
            .filter(|c| c.status == "True" && c.reason.as_deref() == Some("TooManyReplicas"));
        if replicas >= max && (limited.is_some() || desired >= max) {
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
                    "HPA {name} is pinned at its maximum of {max} replicas{since}: it wants more"
                ),
            )
            .with(facts.clone());
            if let Some(c) = limited {
                f = f.with(Evidence::fact(format!(
                    "condition ScalingLimited=True (TooManyReplicas): {}",
                    c.message.as_deref().unwrap_or("")
                )));
            }
            out.push(
                f.cause("Load is above what the maximum replica count can absorb at the target utilization, so the pods run hot (slow responses, throttling).")
                    .fix(format!(
                        "Raise maxReplicas (check the namespace quota has room for the extra pods), or find why each pod does less than before (a slow dependency, a regression): `kubectl -n {} top pods`.",
                        s.namespace
                    ))
                    .doc("troubleshooting/hpa"),
            );
        }
    }
    out
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
