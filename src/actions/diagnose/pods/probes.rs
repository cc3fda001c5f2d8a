//! Failing readiness, liveness and startup probes, from the kubelet's `Unhealthy` events,
//! checked against the probe's own configuration (a named port the container does not
//! declare, a one-second timeout on a slow endpoint).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Event, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::log_evidence;
use crate::actions::diagnose::facts::{
    container, event_counts, event_evidence, events_of, key_log_line, name_of,
};
use crate::actions::diagnose::finding::{Evidence, Finding, Severity};
use crate::actions::diagnose::gather::{LogWant, Wants};
use crate::actions::diagnose::snapshot::Snapshot;

const KINDS: [&str; 3] = ["Readiness", "Liveness", "Startup"];

/// The probe kind and container of an `Unhealthy` event.
fn probe_of(e: &Event) -> Option<(&'static str, String)> {
    if e.reason.as_deref() != Some("Unhealthy") {
        return None;
    }
    let message = e.message.as_deref()?;
    let kind = KINDS.iter().find(|k| message.starts_with(*k))?;
    let container = e
        .involved_object
        .field_path
        .as_deref()
        .and_then(|p| p.strip_prefix("spec.containers{"))
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned();
    Some((kind, container))
}

type Failures<'a> = BTreeMap<(&'static str, String), Vec<(&'a Pod, &'a Event)>>;

fn failures<'a>(s: &'a Snapshot, pods: &[&'a Pod]) -> Failures<'a> {
    let mut out: Failures<'a> = BTreeMap::new();
    for pod in pods {
        for e in events_of(&s.events, "Pod", name_of(&pod.metadata)) {
            if let Some(key) = probe_of(e) {
                out.entry(key).or_default().push((pod, e));
            }
        }
    }
    out
}

pub(super) fn wanted(s: &Snapshot, pods: &[&Pod], w: &mut Wants) {
    for ((_, container), hits) in failures(s, pods) {
        if let Some((pod, _)) = hits.first() {
            w.logs.insert(LogWant {
                pod: name_of(&pod.metadata).to_owned(),
                container: container.clone(),
                previous: false,
            });
        }
    }
}

fn probe<'a>(c: &'a Container, kind: &str) -> Option<&'a Probe> {
    match kind {
        "Readiness" => c.readiness_probe.as_ref(),
        "Liveness" => c.liveness_probe.as_ref(),
        _ => c.startup_probe.as_ref(),
    }
}

/// "httpGet /readyz on port http (8080), timeout 1s, period 10s, 3 failures in a row"
fn describe(p: &Probe, c: &Container) -> (String, Option<String>) {
    let ports = c.ports.as_deref().unwrap_or_default();
    let resolve = |port: &IntOrString| -> (String, Option<String>) {
        match port {
            IntOrString::String(name) => {
                match ports.iter().find(|cp| cp.name.as_deref() == Some(name)) {
                    Some(cp) => (format!("{name} ({})", cp.container_port), None),
                    None => (
                        name.clone(),
                        Some(format!(
                            "the probe uses port `{name}`, which container `{}` does not declare (its ports: {})",
                            c.name,
                            if ports.is_empty() {
                                "none".to_owned()
                            } else {
                                ports
                                    .iter()
                                    .map(|cp| {
                                        format!(
                                            "{}{}",
                                            cp.name
                                                .as_deref()
                                                .map(|n| format!("{n}="))
                                                .unwrap_or_default(),
                                            cp.container_port
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            }
                        )),
                    ),
                }
            }
            IntOrString::Int(n) => (n.to_string(), None),
        }
    };
    let (what, problem) = if let Some(h) = &p.http_get {
        let (port, problem) = resolve(&h.port);
        (
            format!(
                "httpGet {} on port {port}",
                h.path.as_deref().unwrap_or("/")
            ),
            problem,
        )
    } else if let Some(t) = &p.tcp_socket {
        let (port, problem) = resolve(&t.port);
        (format!("tcpSocket on port {port}"), problem)
    } else if let Some(e) = &p.exec {
        (
            format!(
                "exec `{}`",
                e.command.as_deref().unwrap_or_default().join(" ")
            ),
            None,
        )
    } else if let Some(g) = &p.grpc {
        (format!("grpc on port {}", g.port), None)
    } else {
        ("probe".to_owned(), None)
    };
    (
        format!(
            "{what}, timeout {}s, period {}s, initial delay {}s, {} failures in a row",
            p.timeout_seconds.unwrap_or(1),
            p.period_seconds.unwrap_or(10),
            p.initial_delay_seconds.unwrap_or(0),
            p.failure_threshold.unwrap_or(3)
        ),
        problem,
    )
}

pub(super) fn analyze(s: &Snapshot, pods: &[&Pod]) -> Vec<Finding> {
    let ready = pods
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|st| st.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
        .count();
    let mut out = Vec::new();
    for ((kind, cname), hits) in failures(s, pods) {
        let Some(&(rep, latest)) = hits.iter().max_by_key(|(_, e)| event_counts(e).2) else {
            continue;
        };
        let total: i64 = hits.iter().map(|(_, e)| event_counts(e).0).sum();
        let mut affected: Vec<String> = hits
            .iter()
            .map(|(p, _)| name_of(&p.metadata).to_owned())
            .collect();
        affected.dedup();
        let message = latest.message.clone().unwrap_or_default();
        // No ready pod at all means the Service has no endpoints: an outage.
        let severity = if ready == 0 && !pods.is_empty() {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let effect = match kind {
            "Readiness" => "the pod is taken out of its Service's endpoints",
            "Liveness" => "the kubelet kills and restarts the container",
            _ => "the container is killed before it finishes starting",
        };
        let mut f = Finding::new(
            &format!("pod.{}_probe", kind.to_lowercase()),
            severity,
            s.object("Pod", name_of(&rep.metadata)),
            format!(
                "{kind} probe of container `{cname}` fails in {} pod(s) ({total} failures): {effect}",
                affected.len()
            ),
        )
        .with(Evidence::Event(event_evidence(latest)));
        f.affected = affected;
        let spec_container = container(rep.spec.as_ref(), &cname);
        let mut config_problem = None;
        if let Some(c) = spec_container
            && let Some(p) = probe(c, kind)
        {
            let (text, problem) = describe(p, c);
            f = f.with(Evidence::fact(format!(
                "{}Probe: {text}",
                kind.to_lowercase()
            )));
            config_problem = problem;
        }
        if kind == "Liveness" {
            let kills = events_of(&s.events, "Pod", name_of(&rep.metadata))
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("Killing"));
            if let Some(k) = kills {
                f = f.with(Evidence::Event(event_evidence(k)));
            }
        }
        let logs = log_evidence(s, name_of(&rep.metadata), &cname, false);
        let key = logs.as_ref().and_then(|(e, _)| match e {
            Evidence::Logs(l) => key_log_line(&l.lines),
            _ => None,
        });
        if let Some((e, _)) = logs {
            f = f.with(e);
        }
        let timeout = spec_container
            .and_then(|c| probe(c, kind))
            .and_then(|p| p.timeout_seconds)
            .unwrap_or(1);
        let (cause, fix) = match config_problem {
            Some(problem) => (
                format!("The probe is misconfigured: {problem}."),
                "Point the probe at a port the container declares (by number or by its name)."
                    .to_owned(),
            ),
            None => probe_cause(kind, &message, timeout, key.as_deref()),
        };
        f = f
            .cause(cause)
            .fix(fix)
            .doc("troubleshooting-pods.md#running-but-not-ready");
        out.push(f);
    }
    out
}

/// Why a well-configured probe fails, from the kubelet's message: nothing listening, too
/// slow, a wrong path, or the app saying it is unhealthy (`key`: its log's key line).
fn probe_cause(kind: &str, message: &str, timeout: i32, key: Option<&str>) -> (String, String) {
    let lower = message.to_lowercase();
    if lower.contains("connection refused") {
        (
                "Nothing listens on the probed port when the kubelet checks: the app listens elsewhere, or has not finished starting.".to_owned(),
                "Check the port the app listens on; for slow starters add a startupProbe (or a longer initialDelaySeconds) instead of loosening liveness.".to_owned(),
            )
    } else if lower.contains("deadline exceeded")
        || lower.contains("timeout")
        || lower.contains("timed out")
    {
        (
                format!("The probe endpoint answers slower than the probe's {timeout}s timeout (often CPU throttling or a health check that calls dependencies)."),
                "Make the health endpoint cheap (no calls to dependencies), or raise timeoutSeconds; check CPU throttling.".to_owned(),
            )
    } else if lower.contains("statuscode: 404") {
        (
            "The probe's path does not exist in the app (404).".to_owned(),
            "Fix the probe path to the app's health endpoint.".to_owned(),
        )
    } else if lower.contains("statuscode: 5") {
        (
                format!(
                    "The app answers but reports itself unhealthy ({}).{}",
                    message.rsplit(": ").next().unwrap_or("5xx"),
                    key.map(|k| format!(" Its log says: `{k}`.")).unwrap_or_default()
                ),
                "Fix what the app's health check reports (its log names it): a dependency it cannot reach, or warm-up that never completes.".to_owned(),
            )
    } else {
        (
            format!("The {} probe fails: {message}", kind.to_lowercase()),
            "Run the probe by hand in the container (`kubectl exec`) to see what it answers."
                .to_owned(),
        )
    }
}
