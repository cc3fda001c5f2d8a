//! `diagnose`: why a service is unhealthy, with evidence and the fix.
//!
//! One diagnosis per environment: [`gather`] reads everything about the service's namespace
//! in one concurrent batch within a time budget (then the logs, nodes and Secrets that batch
//! points at), and the analyzers, small pure functions from API objects to [`Finding`]s (one
//! module per resource family), run over that [`Snapshot`]. The reads are the slow part and
//! run concurrently; the analyzers take microseconds on a snapshot, so they simply run one
//! after another on it.
//!
//! Findings are the truth of the answer: rendered directly here, or handed (not the raw
//! objects) to an LLM for a narrative when one is configured. Where the fix is an action, the
//! finding carries a [`Remediation`]; the first one that needs nobody to act first is put in
//! the output as an offer, which the engine turns into a normal proposal.

mod autoscaling;
mod config_refs;
pub mod facts;
pub mod finding;
pub mod gather;
mod jobs;
mod nodes;
mod pods;
mod services;
pub mod snapshot;
mod storage;
mod workloads;

use crate::domain::ToolName;
use std::time::{Duration, Instant};

use futures::future::join_all;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

pub use finding::{
    EventEvidence, Evidence, Finding, LogEvidence, ObjectRef, Remediation, Severity,
};
pub use gather::Wants;
pub use pods::suggest_memory;
pub use snapshot::{Snapshot, Unread};

use super::args::ServiceEnvArgs;
use super::scope::{ServiceScope, namespace_in, service_scope};
use super::status::DeploymentSummary;
use super::{ActionContext, ActionError, ActionOutput, ReadAction};
use crate::domain::Environment;
use crate::platform::catalog::Service;

/// Findings shown in chat per environment (all of them are in the data).
const SHOWN_FINDINGS: usize = 8;
/// Evidence items shown per finding.
const SHOWN_EVIDENCE: usize = 6;
/// Log lines shown per log excerpt.
const SHOWN_LOG_LINES: usize = 8;
/// At most this many container logs are read per diagnosis.
const MAX_LOGS: usize = 6;
/// Warning events newer than this count as current.
const RECENT_EVENTS: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// The follow-up reads the analyzers ask for, from what the first batch showed.
pub fn wants(s: &Snapshot) -> Wants {
    let mut w = Wants::default();
    pods::wanted(s, &mut w);
    jobs::wanted(s, &mut w);
    while w.logs.len() > MAX_LOGS {
        w.logs.pop_last();
    }
    w
}

/// Orders findings of the same severity: the headline (the workload) first, then its pods,
/// then what is around them.
fn rank(check: &str) -> u8 {
    const ORDER: &[&str] = &[
        "deployment.unavailable",
        "deployment.progress_deadline",
        "replicaset.",
        "pod.oom_killed",
        "pod.crash_loop",
        "pod.image_pull",
        "pod.config_error",
        "pod.init_failed",
        "pod.pending",
        "pod.volume_mount",
        "pod.evicted",
        "pod.",
        "pvc.",
        "node.",
        "service.",
        "ingress.",
        "hpa.",
        "job.",
        "cronjob.",
        "deployment.",
        "events.",
    ];
    ORDER
        .iter()
        .position(|p| check.starts_with(p))
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(u8::MAX)
}

/// Every analyzer over one snapshot; findings most severe first.
pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.extend(workloads::analyze(s));
    findings.extend(pods::analyze(s));
    findings.extend(services::analyze(s));
    findings.extend(storage::analyze(s));
    findings.extend(autoscaling::analyze(s));
    findings.extend(jobs::analyze(s));
    findings.extend(nodes::analyze(s));
    findings.extend(other_warnings(s, &findings));
    findings.sort_by_key(|f| (f.severity, rank(&f.check)));
    findings
}

/// Reasons the analyzers above already read.
const HANDLED_REASONS: &[&str] = &[
    "BackOff",
    "Failed",
    "Unhealthy",
    "FailedScheduling",
    "Killing",
    "FailedMount",
    "FailedAttachVolume",
    "FailedCreate",
    "ProvisioningFailed",
    "FailedBinding",
    "ExternalProvisioning",
    "WaitForFirstConsumer",
    "BackoffLimitExceeded",
    "DeadlineExceeded",
    "FailedGetResourceMetric",
    "FailedComputeMetricsReplicas",
    "FailedGetExternalMetric",
    "FailedGetPodsMetric",
    "FailedGetObjectMetric",
    "Evicted",
    "ErrImagePull",
    "ImagePullBackOff",
];

/// Recent warning events about the workload that no analyzer explains (a failing
/// postStart hook, a sandbox the network plugin cannot create): shown as they are rather
/// than dropped.
fn other_warnings(s: &Snapshot, findings: &[Finding]) -> Option<Finding> {
    let mut names: Vec<String> = s
        .workload_pods()
        .iter()
        .map(|p| facts::name_of(&p.metadata).to_owned())
        .collect();
    names.push(s.workload.clone());
    names.extend(
        s.revisions()
            .iter()
            .map(|(_, rs)| facts::name_of(&rs.metadata).to_owned()),
    );
    let mut events: Vec<&k8s_openapi::api::core::v1::Event> = s
        .events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            e.involved_object
                .name
                .as_ref()
                .is_some_and(|n| names.contains(n))
        })
        .filter(|e| !HANDLED_REASONS.contains(&e.reason.as_deref().unwrap_or_default()))
        .filter(|e| {
            facts::event_counts(e)
                .2
                .is_some_and(|last| s.now.duration_since(last) < RECENT_EVENTS)
        })
        .collect();
    if events.is_empty() {
        return None;
    }
    events.sort_by_key(|e| std::cmp::Reverse(facts::event_counts(e).2));
    let reasons: Vec<String> = {
        let mut r: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
        r.dedup();
        r
    };
    let severity = if findings.iter().any(|f| f.severity == Severity::Critical) {
        Severity::Info
    } else {
        Severity::Warning
    };
    Some(
        Finding::new(
            "events.other_warnings",
            severity,
            s.object("Deployment", &s.workload),
            format!(
                "{} other warning event(s) in the last hour: {}",
                events.len(),
                reasons.join(", ")
            ),
        )
        .with_all(
            events
                .iter()
                .take(4)
                .map(|e| Evidence::Event(facts::event_evidence(e))),
        )
        .cause("The components named in these events report a problem no specific check covers.")
        .fix("Read the event messages: they name the failing component and its error."),
    )
}

/// One service in one environment, diagnosed.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub service: String,
    pub environment: String,
    pub namespace: String,
    /// The Deployment as the status replies show it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentSummary>,
    pub pods: usize,
    pub events: usize,
    pub findings: Vec<Finding>,
    /// What could not be read (forbidden, timed out): not checked, not "fine".
    pub unread: Vec<Unread>,
    /// The cluster could not be asked at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl Diagnosis {
    /// Nothing wrong, and everything was read.
    pub fn healthy(&self) -> bool {
        self.error.is_none()
            && self.unread.is_empty()
            && self.findings.iter().all(|f| f.severity == Severity::Info)
    }
}

/// Diagnoses one service in one environment: gather, then analyze.
pub async fn diagnose_in(
    ctx: &ActionContext<'_>,
    service: &Service,
    env: &Environment,
    budget: Duration,
) -> Result<Diagnosis, ActionError> {
    let started = Instant::now();
    let ns = namespace_in(ctx, service, env)?;
    let mut diagnosis = Diagnosis {
        service: service.name.to_string(),
        environment: env.to_string(),
        namespace: ns.to_string(),
        deployment: None,
        pods: 0,
        events: 0,
        findings: Vec::new(),
        unread: Vec::new(),
        error: None,
        elapsed_ms: 0,
    };
    let client = ctx
        .platform
        .cluster_for(env)
        .and_then(|c| Ok((c, c.client_for(ctx.actor)?)));
    let (cluster, client) = match client {
        Ok(c) => c,
        Err(e) => {
            diagnosis.error = Some(e.to_string());
            return Ok(diagnosis);
        }
    };
    let mut snapshot = Snapshot::empty(
        service.name.clone(),
        env.clone(),
        ns.as_str(),
        &service.kubernetes_id,
        Timestamp::now(),
    );
    snapshot.other_workloads = ctx
        .platform
        .catalog
        .services()
        .filter(|s| s.name != service.name)
        .map(|s| s.kubernetes_id.clone())
        .collect();
    gather::gather(&mut snapshot, cluster, client, ctx.actor, budget).await;
    diagnosis.findings = analyze(&snapshot);
    diagnosis.deployment = snapshot
        .deployment
        .as_ref()
        .map(|d| DeploymentSummary::from_deployment(d, Some(env)));
    diagnosis.pods = snapshot.workload_pods().len();
    diagnosis.events = snapshot.events.len();
    diagnosis.unread = snapshot.unread;
    diagnosis.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(diagnosis)
}

/// The remediation to offer as a proposal: the most severe finding's, among those that
/// need nobody to act first.
pub fn offer(diagnoses: &[Diagnosis]) -> Option<&Remediation> {
    let mut all: Vec<&Finding> = diagnoses.iter().flat_map(|d| &d.findings).collect();
    all.sort_by_key(|f| (f.severity, rank(&f.check)));
    all.into_iter()
        .filter_map(|f| f.remediation.as_ref())
        .find(|r| r.precondition.is_none())
}

/// The most severe finding's remediation, whether or not someone has to act first: what
/// "do it" proposes after a diagnosis.
pub fn suggested(diagnoses: &[Diagnosis]) -> Option<&Remediation> {
    let mut all: Vec<&Finding> = diagnoses.iter().flat_map(|d| &d.findings).collect();
    all.sort_by_key(|f| (f.severity, rank(&f.check)));
    all.into_iter().find_map(|f| f.remediation.as_ref())
}

fn render_remediation(r: &Remediation, offered: bool) -> String {
    let when = r
        .precondition
        .as_ref()
        .map(|p| format!(", {p}"))
        .unwrap_or_default();
    let tail = if offered {
        " Proposed below.".to_owned()
    } else {
        format!(" Say \"{}\" to get it proposed.", r.say)
    };
    format!(
        "   Suggested action{when}: {}. Why: {}{tail}",
        r.title, r.reasoning
    )
}

/// The findings as chat text.
pub fn render(diagnoses: &[Diagnosis], offered: Option<&Remediation>) -> String {
    let now = Timestamp::now();
    let mut out = Vec::new();
    for d in diagnoses {
        let head = format!("*{}* in {} ({})", d.service, d.environment, d.namespace);
        if let Some(e) = &d.error {
            out.push(format!("{head}: could not diagnose: {e}"));
            continue;
        }
        // Without the workload itself there is nothing to judge: never call that healthy.
        if d.unread
            .iter()
            .any(|u| u.what == "deployment" || u.what == "pods")
        {
            out.push(format!(
                "{head}: could not read the workload: {}.",
                unread_summary(&d.unread)
            ));
            continue;
        }
        if d.deployment.is_none() && d.pods == 0 && d.findings.is_empty() {
            out.push(format!(
                "{head}: not deployed (no Deployment and no pods of it)."
            ));
            continue;
        }
        let problems: Vec<&Finding> = d
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Info)
            .collect();
        if problems.is_empty() {
            let state = d.deployment.as_ref().map_or_else(String::new, |s| {
                format!(
                    ": {}/{} ready, {}, image {}",
                    s.ready,
                    s.desired,
                    s.rollout.describe(),
                    s.images.join(", ")
                )
            });
            out.push(if d.unread.is_empty() {
                format!(
                    "{head}: healthy{state}. No failing pods, probes, services, claims, autoscaler or nodes, and no warning events in the last hour."
                )
            } else {
                format!("{head}: no problems in what could be read{state}; see below what could not.")
            });
        } else {
            out.push(format!(
                "{head}: {} problem(s), most severe first:",
                problems.len()
            ));
        }
        for (i, f) in d.findings.iter().take(SHOWN_FINDINGS).enumerate() {
            if problems.is_empty() && f.severity == Severity::Info {
                out.push(format!("   note: {}", f.problem));
                continue;
            }
            // `affected` lists pods; only a pod finding reads well as "pod x (+1 more)".
            let more = match f.affected.len() {
                n if n > 1 && f.object.kind == "Pod" => format!(" (+{} more)", n - 1),
                _ => String::new(),
            };
            out.push(format!(
                "{}. {} {}{more}: {}",
                i + 1,
                f.severity.label(),
                f.object,
                f.problem
            ));
            for e in f.evidence.iter().take(SHOWN_EVIDENCE) {
                out.push(format!("   - {}", e.render(now, SHOWN_LOG_LINES)));
            }
            if !f.likely_cause.is_empty() {
                out.push(format!("   Likely cause: {}", f.likely_cause));
            }
            if !f.fix.is_empty() {
                out.push(format!("   Fix: {}", f.fix));
            }
            if let Some(r) = &f.remediation {
                out.push(render_remediation(r, offered == Some(r)));
            }
            if let Some(doc) = &f.doc_hint {
                out.push(format!("   Docs: {doc}"));
            }
        }
        if d.findings.len() > SHOWN_FINDINGS {
            out.push(format!(
                "   ... and {} more finding(s) in the structured data.",
                d.findings.len() - SHOWN_FINDINGS
            ));
        }
        let mut checked = format!(
            "   Checked {} pod(s) and {} event(s) in {} ms",
            d.pods, d.events, d.elapsed_ms
        );
        if !d.unread.is_empty() {
            checked.push_str(&format!("; could not check: {}", unread_summary(&d.unread)));
        }
        out.push(checked + ".");
    }
    out.join("\n")
}

/// What could not be read, one entry per reason: a user without rights on nodes gets one
/// line for all of them, not one per node.
fn unread_summary(unread: &[Unread]) -> String {
    let mut by_reason: Vec<(&str, Vec<&str>)> = Vec::new();
    for u in unread {
        match by_reason.iter_mut().find(|(r, _)| *r == u.reason) {
            Some((_, whats)) => whats.push(&u.what),
            None => by_reason.push((&u.reason, vec![&u.what])),
        }
    }
    by_reason
        .iter()
        .take(4)
        .map(|(reason, whats)| {
            let shown: Vec<&str> = whats.iter().take(3).copied().collect();
            let more = whats.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{}{more} ({reason})", shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub struct Diagnose;

#[async_trait::async_trait]
impl ReadAction for Diagnose {
    type Args = ServiceEnvArgs;
    const NAME: ToolName = ToolName::Diagnose;
    const DOES: &'static str = "diagnose what's wrong with a service";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let ServiceScope { service, envs } =
            service_scope(ctx, &args.service, args.environment.as_ref())?;
        let runs = envs
            .iter()
            .map(|env| diagnose_in(ctx, service, env, gather::BUDGET));
        let diagnoses: Vec<Diagnosis> =
            join_all(runs).await.into_iter().collect::<Result<_, _>>()?;
        let offered = offer(&diagnoses).cloned();
        let text = render(&diagnoses, offered.as_ref());
        let mut data = json!({ "service": service.name, "diagnoses": diagnoses });
        if let Some(r) = &offered {
            data["offer"] = json!(r.suggestion());
        }
        if let Some(r) = suggested(&diagnoses) {
            data["suggested"] = json!(r.suggestion());
            data["suggested"]["precondition"] = json!(r.precondition);
        }
        Ok(ActionOutput::new(text, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ServiceName;

    /// Analyzers are pure: API objects in, findings out, no cluster needed.
    #[test]
    fn analyzers_run_on_objects_alone() {
        let now = Timestamp::now();
        let mut s = Snapshot::empty(
            ServiceName::parse("cart").unwrap(),
            Environment::parse("dev").unwrap(),
            "checkout-dev",
            "cart",
            now,
        );
        let labels = json!({ "app": "cart" });
        s.deployment = Some(
            serde_json::from_value(json!({
                "metadata": { "name": "cart", "namespace": "checkout-dev", "annotations": { "deployment.kubernetes.io/revision": "1" } },
                "spec": { "replicas": 1, "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": { "containers": [{ "name": "cart", "image": "cart:v1" }] } } },
                "status": { "replicas": 1, "unavailableReplicas": 1 }
            }))
            .unwrap(),
        );
        s.pods = vec![
            serde_json::from_value(json!({
                "metadata": { "name": "cart-1", "namespace": "checkout-dev", "labels": labels },
                "spec": { "containers": [{ "name": "cart", "image": "cart:v1" }] },
                "status": { "phase": "Running", "containerStatuses": [{ "name": "cart", "image": "cart:v1", "imageID": "", "ready": false, "restartCount": 4,
                    "state": { "waiting": { "reason": "CrashLoopBackOff" } },
                    "lastState": { "terminated": { "exitCode": 127, "reason": "Error" } } }] }
            }))
            .unwrap(),
        ];
        let findings = analyze(&s);
        let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(checks, ["deployment.unavailable", "pod.crash_loop"]);
        let crash = &findings[1];
        assert!(
            crash.likely_cause.contains("command was not found"),
            "{crash:?}"
        );
        assert!(crash.fix.contains("entrypoint"), "{crash:?}");
        assert_eq!(offer(&[]), None);
        let text = render(
            &[Diagnosis {
                service: "cart".into(),
                environment: "dev".into(),
                namespace: "checkout-dev".into(),
                deployment: None,
                pods: 1,
                events: 0,
                findings,
                unread: vec![
                    Unread {
                        what: "node a".into(),
                        reason: "forbidden".into(),
                    },
                    Unread {
                        what: "node b".into(),
                        reason: "forbidden".into(),
                    },
                ],
                error: None,
                elapsed_ms: 1,
            }],
            None,
        );
        assert!(text.contains("CRITICAL Deployment cart"), "{text}");
        assert!(
            text.contains("could not check: node a, node b (forbidden)"),
            "{text}"
        );
    }
}
