//! Pod analyzers: CrashLoopBackOff, OOMKilled, image pulls, CreateContainerConfigError,
//! Pending (from the scheduler's words), failing probes, Evicted, failing init containers,
//! volume mounts, containers restarting often, and config references that point at nothing.
//!
//! Pods with the same problem in the same container are one finding (the pods of a
//! ReplicaSet fail alike); its evidence comes from the pod that restarted most.

mod config;
mod crashes;
mod evicted;
mod images;
mod probes;
mod scheduling;
#[cfg(test)]
mod tests;
mod volumes;

use config::{broken_refs, config_error, init_failed};
pub use crashes::suggest_memory;
use crashes::{crash_loop, oom_killed, restarting};
use evicted::evicted;
use volumes::volume_mount;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::config_refs::{self, BrokenRef};
use super::facts::{
    self, container, event_evidence, events_of, exit_code_meaning, key_log_line, name_of, time,
};
use super::finding::{Evidence, Finding, LogEvidence, Remediation, Severity, span};
use super::gather::{LogWant, Wants};
use super::snapshot::{Snapshot, last_written};
use super::workloads::{self, rollback_candidate, rollback_remedy};
use crate::actions::quantity;
use crate::actions::status::ago;

/// Log lines shown as evidence (the gather step reads more; the key line is picked from all).
pub const EVIDENCE_LOG_LINES: usize = 12;
/// From this many restarts a running container counts as restarting often.
const RESTARTS_OFTEN: i32 = 3;

const PULL_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
];
const CONFIG_REASONS: &[&str] = &[
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// What is wrong with a pod or one of its containers, most telling first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Pending,
    VolumeMount,
    ImagePull,
    ConfigError,
    InitFailed,
    OomKilled,
    CrashLoop,
    Restarting,
    Evicted,
}

/// Pods with the same problem in the same container.
struct Group<'a> {
    kind: Kind,
    /// The container (empty for pod-level problems).
    container: String,
    init: bool,
    /// The pod that restarted most first.
    pods: Vec<&'a Pod>,
}

impl Group<'_> {
    fn representative(&self) -> &Pod {
        self.pods[0]
    }
}

fn statuses(pod: &Pod, init: bool) -> &[ContainerStatus] {
    pod.status
        .as_ref()
        .and_then(|s| {
            if init {
                s.init_container_statuses.as_deref()
            } else {
                s.container_statuses.as_deref()
            }
        })
        .unwrap_or_default()
}

fn status_of<'a>(pod: &'a Pod, name: &str, init: bool) -> Option<&'a ContainerStatus> {
    statuses(pod, init).iter().find(|c| c.name == name)
}

fn waiting_reason(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn waiting_message(c: &ContainerStatus) -> Option<&str> {
    c.state.as_ref()?.waiting.as_ref()?.message.as_deref()
}

fn last_terminated(
    c: &ContainerStatus,
) -> Option<&k8s_openapi::api::core::v1::ContainerStateTerminated> {
    c.state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| c.last_state.as_ref().and_then(|s| s.terminated.as_ref()))
}

fn is_oom(c: &ContainerStatus) -> bool {
    let killed = |s: &Option<k8s_openapi::api::core::v1::ContainerState>| {
        s.as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
    };
    killed(&c.state) || killed(&c.last_state)
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn unscheduled(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "False")
}

fn has_mount_failures(s: &Snapshot, pod: &Pod) -> bool {
    events_of(&s.events, "Pod", name_of(&pod.metadata))
        .iter()
        .any(|e| {
            matches!(
                e.reason.as_deref(),
                Some("FailedMount" | "FailedAttachVolume")
            )
        })
}

/// Every problem of one pod, as (kind, container, init).
fn classify(s: &Snapshot, pod: &Pod) -> Vec<(Kind, String, bool)> {
    let status = pod.status.as_ref();
    if status.and_then(|st| st.reason.as_deref()) == Some("Evicted") {
        return vec![(Kind::Evicted, String::new(), false)];
    }
    if phase(pod) == "Pending" && unscheduled(pod) {
        return vec![(Kind::Pending, String::new(), false)];
    }
    let mut out = Vec::new();
    for c in statuses(pod, true) {
        let reason = waiting_reason(c);
        if reason.is_some_and(|r| PULL_REASONS.contains(&r)) {
            out.push((Kind::ImagePull, c.name.clone(), true));
        } else if reason.is_some_and(|r| CONFIG_REASONS.contains(&r)) {
            out.push((Kind::ConfigError, c.name.clone(), true));
        } else if reason == Some("CrashLoopBackOff")
            || last_terminated(c).is_some_and(|t| t.exit_code != 0) && !c.ready
        {
            out.push((Kind::InitFailed, c.name.clone(), true));
        }
    }
    if !out.is_empty() {
        // The app containers do not start before every init container has succeeded.
        return out;
    }
    for c in statuses(pod, false) {
        let reason = waiting_reason(c);
        let kind = if reason.is_some_and(|r| PULL_REASONS.contains(&r)) {
            Kind::ImagePull
        } else if reason.is_some_and(|r| CONFIG_REASONS.contains(&r)) {
            Kind::ConfigError
        } else if is_oom(c) {
            Kind::OomKilled
        } else if reason == Some("CrashLoopBackOff") {
            Kind::CrashLoop
        } else if c.restart_count >= RESTARTS_OFTEN && last_terminated(c).is_some() {
            Kind::Restarting
        } else {
            continue;
        };
        out.push((kind, c.name.clone(), false));
    }
    if out.is_empty() && phase(pod) == "Pending" && has_mount_failures(s, pod) {
        out.push((Kind::VolumeMount, String::new(), false));
    }
    out
}

fn restarts(pod: &Pod) -> i32 {
    statuses(pod, false)
        .iter()
        .chain(statuses(pod, true))
        .map(|c| c.restart_count)
        .sum()
}

fn groups<'a>(s: &Snapshot, pods: &[&'a Pod]) -> Vec<Group<'a>> {
    let mut by_key: BTreeMap<(Kind, String, bool), Vec<&'a Pod>> = BTreeMap::new();
    for pod in pods {
        for key in classify(s, pod) {
            by_key.entry(key).or_default().push(pod);
        }
    }
    by_key
        .into_iter()
        .map(|((kind, container, init), mut pods)| {
            pods.sort_by(|a, b| {
                restarts(b)
                    .cmp(&restarts(a))
                    .then_with(|| name_of(&a.metadata).cmp(name_of(&b.metadata)))
            });
            Group {
                kind,
                container,
                init,
                pods,
            }
        })
        .collect()
}

/// The follow-up reads the pod analyzers want: the crashed containers' previous logs, the
/// current logs of pods failing probes, Secrets failing containers refer to, the nodes.
pub fn wanted(s: &Snapshot, w: &mut Wants) {
    let pods = s.workload_pods();
    for g in groups(s, &pods) {
        let rep = g.representative();
        let pod = name_of(&rep.metadata).to_owned();
        let spec = rep.spec.as_ref();
        let status = status_of(rep, &g.container, g.init);
        match g.kind {
            Kind::CrashLoop | Kind::OomKilled | Kind::Restarting => {
                w.logs.insert(LogWant {
                    pod: pod.clone(),
                    container: g.container.clone(),
                    previous: true,
                });
            }
            Kind::InitFailed => {
                w.logs.insert(LogWant {
                    pod: pod.clone(),
                    container: g.container.clone(),
                    previous: status.is_some_and(|c| c.restart_count > 0),
                });
            }
            Kind::ImagePull => {
                for secret in spec
                    .and_then(|sp| sp.image_pull_secrets.as_deref())
                    .unwrap_or_default()
                {
                    w.secrets.insert(secret.name.clone());
                }
            }
            _ => {}
        }
        if matches!(
            g.kind,
            Kind::CrashLoop | Kind::ConfigError | Kind::InitFailed | Kind::Restarting
        ) && let Some(c) = container(spec, &g.container)
        {
            w.secrets
                .extend(config_refs::secret_names(c, spec).into_iter().take(8));
        }
    }
    probes::wanted(s, &pods, w);
    for pod in pods.iter().take(30) {
        if let Some(node) = pod.spec.as_ref().and_then(|sp| sp.node_name.as_ref()) {
            w.nodes.insert(node.clone());
        }
    }
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let pods = s.workload_pods();
    let groups = groups(s, &pods);
    let mut out: Vec<Finding> = groups
        .iter()
        .map(|g| match g.kind {
            Kind::CrashLoop => crash_loop(s, g),
            Kind::OomKilled => oom_killed(s, g),
            Kind::ImagePull => images::image_pull(s, g),
            Kind::ConfigError => config_error(s, g),
            Kind::InitFailed => init_failed(s, g),
            Kind::Restarting => restarting(s, g),
            Kind::Pending => scheduling::pending(s, g, &pods),
            Kind::Evicted => evicted(s, g, &pods),
            Kind::VolumeMount => volume_mount(s, g),
        })
        .collect();
    out.extend(probes::analyze(s, &pods));
    out.extend(broken_refs(s, &groups));
    out
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of the findings
// ---------------------------------------------------------------------------------------------

/// "in 2 of 2 pods" / "in pod x".
fn scope(g: &Group<'_>, total: usize) -> String {
    if g.pods.len() == 1 && total <= 1 {
        format!("in pod {}", name_of(&g.representative().metadata))
    } else {
        format!("in {} of {} pods", g.pods.len(), total.max(g.pods.len()))
    }
}

fn container_label(g: &Group<'_>) -> String {
    if g.init {
        format!("init container `{}`", g.container)
    } else {
        format!("container `{}`", g.container)
    }
}

fn base(s: &Snapshot, g: &Group<'_>, check: &str, severity: Severity, problem: String) -> Finding {
    let mut f = Finding::new(
        check,
        severity,
        s.object("Pod", name_of(&g.representative().metadata)),
        problem,
    );
    f.affected = g
        .pods
        .iter()
        .map(|p| name_of(&p.metadata).to_owned())
        .collect();
    f
}

/// The pod's own warning events, most recent first (at most `n`).
fn pod_events(s: &Snapshot, pod: &Pod, n: usize) -> Vec<Evidence> {
    events_of(&s.events, "Pod", name_of(&pod.metadata))
        .into_iter()
        .filter(|e| e.type_.as_deref() != Some("Normal") || e.reason.as_deref() == Some("BackOff"))
        .take(n)
        .map(|e| Evidence::Event(event_evidence(e)))
        .collect()
}

pub(super) fn log_evidence(
    s: &Snapshot,
    pod: &str,
    container: &str,
    previous: bool,
) -> Option<(Evidence, Option<String>)> {
    let tail = s.log(pod, container, previous)?;
    let key = key_log_line(&tail.lines);
    let start = tail.lines.len().saturating_sub(EVIDENCE_LOG_LINES);
    let lines = tail.lines[start..].to_vec();
    Some((
        Evidence::Logs(LogEvidence {
            pod: pod.to_owned(),
            container: container.to_owned(),
            previous,
            lines,
            key_line: key.clone(),
        }),
        key,
    ))
}

/// "exit code 1 (Error) after running 1s, 2m ago"
fn termination_fact(
    s: &Snapshot,
    t: &k8s_openapi::api::core::v1::ContainerStateTerminated,
) -> String {
    let started = t.started_at.as_ref().map(time);
    let finished = t.finished_at.as_ref().map(time);
    let mut text = format!(
        "last termination: exit code {} ({})",
        t.exit_code,
        t.reason.as_deref().unwrap_or("no reason")
    );
    if let (Some(a), Some(b)) = (started, finished) {
        text.push_str(&format!(" after running {}", span(b.duration_since(a))));
    }
    if let Some(b) = finished {
        text.push_str(&format!(", {}", ago(s.now.duration_since(b))));
    }
    if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
        text.push_str(&format!("; termination message: {}", m.trim()));
    }
    text
}

/// The last termination is more than a day old.
fn long_ago(
    s: &Snapshot,
    t: Option<&k8s_openapi::api::core::v1::ContainerStateTerminated>,
) -> bool {
    t.and_then(|t| t.finished_at.as_ref())
        .map(time)
        .is_some_and(|at| s.now.duration_since(at) > jiff::SignedDuration::from_hours(24))
}

fn ran_for(
    t: &k8s_openapi::api::core::v1::ContainerStateTerminated,
) -> Option<jiff::SignedDuration> {
    Some(
        t.finished_at
            .as_ref()
            .map(time)?
            .duration_since(t.started_at.as_ref().map(time)?),
    )
}

/// When a group's trouble began: the first warning event about its pods, else the oldest pod.
fn trouble_began(s: &Snapshot, g: &Group<'_>) -> Option<jiff::Timestamp> {
    g.pods
        .iter()
        .flat_map(|p| events_of(&s.events, "Pod", name_of(&p.metadata)))
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter_map(|e| facts::event_counts(e).1)
        .min()
        .or_else(|| {
            g.pods
                .iter()
                .filter_map(|p| facts::created(&p.metadata))
                .min()
        })
}

/// Whether the failing pods run the Deployment's current revision and that revision
/// replaced an earlier one: then rolling back is a fix.
fn on_current_revision(s: &Snapshot, g: &Group<'_>) -> bool {
    let current = s.current_revision();
    current.is_some() && g.pods.iter().all(|p| s.revision_of_pod(p) == current)
}

/// Whether a ReplicaSet's template holds this same broken reference (rolling back to it
/// would not help).
fn candidate_has_ref(s: &Snapshot, revision: u64, broken: &BrokenRef) -> bool {
    s.revisions()
        .into_iter()
        .find(|(n, _)| *n == revision)
        .and_then(|(_, rs)| rs.spec.as_ref()?.template.as_ref()?.spec.clone())
        .is_some_and(|spec| {
            spec.containers
                .iter()
                .flat_map(|c| config_refs::refs_of(c, Some(&spec)))
                .any(|r| r == broken.reference)
        })
}

/// The fix for broken references: restore the key or object, or point at what exists.
fn refs_fix(s: &Snapshot, broken: &[BrokenRef]) -> String {
    broken
        .iter()
        .map(|b| {
            let r = &b.reference;
            let kind = r.kind.as_str().to_lowercase();
            match (&r.key, b.object_missing, &b.similar) {
                (Some(key), false, Some(similar)) => format!(
                    "Restore key `{key}` in {} {} (it has `{similar}` instead), or point {} at `{similar}`: `kubectl -n {} edit {kind} {}`.",
                    r.kind.as_str(), r.name, r.used_as, s.namespace, r.name
                ),
                (Some(key), false, None) => format!(
                    "Add key `{key}` to {} {}: `kubectl -n {} edit {kind} {}`.",
                    r.kind.as_str(), r.name, s.namespace, r.name
                ),
                (_, _, Some(similar)) => format!(
                    "Create {} {} or point {} at `{similar}`.",
                    r.kind.as_str(), r.name, r.used_as
                ),
                _ => format!(
                    "Create {} {} in {} (`kubectl -n {} create {kind} {} ...`).",
                    r.kind.as_str(), r.name, s.namespace, s.namespace, r.name
                ),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
