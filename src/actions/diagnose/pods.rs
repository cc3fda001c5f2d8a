//! Pod analyzers: CrashLoopBackOff, OOMKilled, image pulls, CreateContainerConfigError,
//! Pending (from the scheduler's words), failing probes, Evicted, failing init containers,
//! volume mounts, containers restarting often, and config references that point at nothing.
//!
//! Pods with the same problem in the same container are one finding (the pods of a
//! ReplicaSet fail alike); its evidence comes from the pod that restarted most.

mod images;
mod probes;
mod scheduling;

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
    let started = t.started_at.as_ref().and_then(time);
    let finished = t.finished_at.as_ref().and_then(time);
    let mut text = format!(
        "last termination: exit code {} ({})",
        t.exit_code,
        t.reason.as_deref().unwrap_or("no reason")
    );
    if let (Some(a), Some(b)) = (started, finished) {
        text.push_str(&format!(" after running {}", span(b - a)));
    }
    if let Some(b) = finished {
        text.push_str(&format!(", {}", ago(s.now - b)));
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
        .and_then(time)
        .is_some_and(|at| s.now - at > chrono::Duration::hours(24))
}

fn ran_for(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> Option<chrono::Duration> {
    Some(t.finished_at.as_ref().and_then(time)? - t.started_at.as_ref().and_then(time)?)
}

/// When a group's trouble began: the first warning event about its pods, else the oldest pod.
fn trouble_began(s: &Snapshot, g: &Group<'_>) -> Option<chrono::DateTime<chrono::Utc>> {
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

// ---------------------------------------------------------------------------------------------
// The findings
// ---------------------------------------------------------------------------------------------

fn crash_loop(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let status = status_of(rep, &g.container, g.init);
    let last = status.and_then(last_terminated);
    let restarts = status.map_or(0, |c| c.restart_count);
    let exit = last.map(|t| t.exit_code);
    let mut problem = format!("{} crash-loops {}", container_label(g), scope(g, total));
    if let Some(t) = last {
        problem.push_str(&format!(
            ": exit code {} ({})",
            t.exit_code,
            t.reason.as_deref().unwrap_or("Error")
        ));
        if let Some(d) = ran_for(t) {
            problem.push_str(&format!(" after {}", span(d)));
        }
    }
    problem.push_str(&format!(", {restarts} restarts"));
    let all_down = total > 0 && g.pods.len() >= total;
    let mut f = base(
        s,
        g,
        "pod.crash_loop",
        if all_down {
            Severity::Critical
        } else {
            Severity::Warning
        },
        problem,
    )
    .with(Evidence::fact(format!(
        "state: waiting CrashLoopBackOff (restartCount {restarts}){}",
        status
            .and_then(waiting_message)
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    )));
    if let Some(t) = last {
        f = f.with(Evidence::fact(termination_fact(s, t)));
    }
    f = f.with_all(pod_events(s, rep, 2));
    let logs = log_evidence(s, pod, &g.container, true);
    let key_line = logs.as_ref().and_then(|(_, k)| k.clone());
    if let Some((e, _)) = logs {
        f = f.with(e);
    }
    let spec = rep.spec.as_ref();
    let broken: Vec<BrokenRef> = container(spec, &g.container)
        .map(|c| config_refs::broken(s, c, spec))
        .unwrap_or_default();
    // The reference the logs complain about, else any broken one.
    let named: Vec<&BrokenRef> = broken
        .iter()
        .filter(|b| {
            let var = b.reference.env_var.as_deref().unwrap_or("\u{0}");
            key_line.as_deref().is_some_and(|k| k.contains(var))
        })
        .collect();
    let relevant: Vec<BrokenRef> = if named.is_empty() {
        broken.clone()
    } else {
        named.into_iter().cloned().collect()
    };

    let mut cause = String::new();
    if let (Some(t), Some(d)) = (last, last.and_then(ran_for)) {
        cause.push_str(&format!(
            "The container exits {} after starting: {}.",
            if d.num_seconds() < 10 {
                "right".to_owned()
            } else {
                format!("{} ", span(d))
            }
            .trim(),
            exit_code_meaning(t.exit_code)
        ));
    } else if let Some(code) = exit {
        cause.push_str(&format!(
            "The container keeps exiting: {}.",
            exit_code_meaning(code)
        ));
    }
    if let Some(k) = &key_line {
        cause.push_str(&format!(" Its last words: `{k}`."));
    }
    let began = trouble_began(s, g);
    for b in &relevant {
        cause.push_str(&format!(" {}", b.describe()));
        if let (Some(changed), Some(began)) = (b.changed, began)
            && changed <= began
            && began - changed < chrono::Duration::hours(6)
        {
            cause.push_str(&format!(
                " {} {} was last changed {}, {} before the crashes began.",
                b.reference.kind.as_str(),
                b.reference.name,
                ago(s.now - changed),
                span(began - changed)
            ));
        }
    }
    if cause.is_empty() {
        cause =
            "The container keeps exiting; the kubelet restarts it with a growing back-off.".into();
    }
    f = f
        .cause(cause.trim().to_owned())
        .doc("troubleshooting-pods.md#crashloopbackoff");

    let candidate = rollback_candidate(s);
    if !relevant.is_empty() {
        let mut fix = refs_fix(s, &relevant);
        fix.push_str(" The crashing pods read it at their next restart; a rolling restart makes that immediate.");
        if let Some(c) = &candidate
            && relevant.iter().all(|b| candidate_has_ref(s, c.revision, b))
        {
            fix.push_str(&format!(
                " Rolling back would not help: revision {} reads the same reference.",
                c.revision
            ));
        }
        let what = relevant
            .iter()
            .map(BrokenRef::target)
            .collect::<Vec<_>>()
            .join(" and ");
        f = f.fix(fix).remedy(Some(Remediation::restart(
            &s.service,
            &s.environment,
            "Environment variables from ConfigMaps and Secrets are read when a container starts; a rolling restart starts every pod with the fixed value instead of waiting for the crash back-off (up to 5 minutes).".into(),
            Some(format!("after {what} exists")),
        )));
        return f;
    }
    // A ConfigMap the container reads changed after its last start: the crash-looping
    // container has not seen the change (env and files are read at start), so a restart
    // tries it now instead of after the back-off.
    let last_start = last.and_then(|t| t.started_at.as_ref()).and_then(time);
    let mut changed_after: Vec<String> = container(spec, &g.container)
        .map(|c| config_refs::refs_of(c, spec))
        .unwrap_or_default()
        .iter()
        .filter(|r| r.kind == config_refs::SourceKind::ConfigMap)
        .filter_map(|r| {
            let at = last_written(&s.config_map(&r.name)?.metadata)?;
            last_start
                .is_some_and(|started| at > started)
                .then(|| format!("ConfigMap {} (changed {})", r.name, ago(s.now - at)))
        })
        .collect();
    changed_after.dedup();
    if !changed_after.is_empty() {
        let what = changed_after.join(", ");
        f.likely_cause.push_str(&format!(
            " {what} changed after the container last started, so the crashes above predate that change."
        ));
        return f
            .fix(format!(
                "Restart to apply the change to {what} now; the crashing pods would otherwise pick it up only at their next start (the back-off reaches 5 minutes). If it still crashes, read the new log."
            ))
            .remedy(Some(Remediation::restart(
                &s.service,
                &s.environment,
                format!("{what} changed after the container's last start; environment variables and mounted config are read at start, so a rolling restart applies the change to every pod now."),
                None,
            )));
    }
    let rollout_recent = workloads::current_rollout_started(s)
        .zip(began)
        .is_some_and(|(rollout, began)| began - rollout < chrono::Duration::minutes(30));
    match candidate {
        Some(c) if on_current_revision(s, g) && (rollout_recent || c.serving()) => {
            let why = format!(
                "The crashes began with the rollout of revision {}.",
                s.current_revision().unwrap_or_default()
            );
            f = f
                .fix(format!(
                    "Roll back to revision {} to restore service, then fix the crash (see its last log lines) before rolling out again.",
                    c.revision
                ))
                .remedy(Some(rollback_remedy(s, &c, &why)));
        }
        _ => {
            let hint = match exit {
                Some(126 | 127) => {
                    "Check the image's entrypoint/command: the binary is missing or not executable."
                }
                Some(137) => {
                    "Exit 137 without OOMKilled means SIGKILL from outside: check liveness probe events and the node."
                }
                _ => {
                    "Read the previous instance's last log lines (above) for the error; fix the code or configuration it names."
                }
            };
            f = f.fix(hint);
        }
    }
    f
}

/// The memory limit to suggest for an OOM-killed container, and the reasoning.
pub fn suggest_memory(limit_bytes: u64, ran: Option<chrono::Duration>) -> (u32, String) {
    let limit_mib = quantity::to_mib(limit_bytes).max(1);
    let (factor, why) = match ran {
        Some(d) if d.num_seconds() < 60 => (
            2.0,
            "it is killed within a minute of starting, so it needs well more than the limit just to start: 2x",
        ),
        Some(_) => (
            1.5,
            "it runs a while before hitting the limit: 1.5x gives headroom without doubling its footprint",
        ),
        None => (
            1.5,
            "how long it ran before the kill is not recorded: 1.5x is the usual first step",
        ),
    };
    let raw = (limit_mib as f64 * factor).ceil() as u64;
    let rounded = quantity::round_up_mib(raw);
    let step = quantity::memory_step_mib(raw);
    let mib = u32::try_from(rounded).unwrap_or(u32::MAX);
    let reasoning = format!(
        "It was killed at its {} limit; {why}. {factor} x {limit_mib}Mi = {raw}Mi, rounded up to the next {step}Mi: {}.",
        quantity::human_bytes(limit_bytes),
        quantity::mib_quantity(mib)
    );
    (mib, reasoning)
}

fn oom_killed(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let status = status_of(rep, &g.container, g.init);
    let last = status.and_then(last_terminated);
    let spec_container = container(rep.spec.as_ref(), &g.container);
    let resources = spec_container.and_then(|c| c.resources.as_ref());
    let limit = resources
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| quantity::bytes(&q.0));
    let request = resources
        .and_then(|r| r.requests.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| quantity::bytes(&q.0));
    let crashlooping = g.pods.iter().any(|p| {
        status_of(p, &g.container, g.init).and_then(waiting_reason) == Some("CrashLoopBackOff")
    });
    let none_ready = g
        .pods
        .iter()
        .all(|p| status_of(p, &g.container, g.init).is_some_and(|c| !c.ready));
    let total_restarts: i32 = g
        .pods
        .iter()
        .filter_map(|p| status_of(p, &g.container, g.init))
        .map(|c| c.restart_count)
        .sum();
    let limit_text = limit.map_or_else(
        || "no limit".to_owned(),
        |b| format!("its {} limit", quantity::human_bytes(b)),
    );
    let problem = format!(
        "{} is OOMKilled {} (exit code 137 at {limit_text}), {total_restarts} restarts",
        container_label(g),
        scope(g, total)
    );
    let severity = if crashlooping || (none_ready && g.pods.len() >= total) {
        Severity::Critical
    } else if long_ago(s, last) && !none_ready {
        // One old kill on a container that has run fine since is history, not a fault.
        Severity::Info
    } else {
        Severity::Warning
    };
    let mut f = base(s, g, "pod.oom_killed", severity, problem);
    if let Some(t) = last {
        f = f.with(Evidence::fact(termination_fact(s, t)));
    }
    f = f.with(Evidence::fact(format!(
        "resources: memory limit {}, request {}",
        limit.map_or_else(|| "none".to_owned(), quantity::human_bytes),
        request.map_or_else(|| "none".to_owned(), quantity::human_bytes)
    )));
    let per_pod: Vec<String> = g
        .pods
        .iter()
        .filter_map(|p| {
            status_of(p, &g.container, g.init)
                .map(|c| format!("{} {}", name_of(&p.metadata), c.restart_count))
        })
        .collect();
    f = f.with(Evidence::fact(format!(
        "restarts per pod: {}",
        per_pod.join(", ")
    )));
    f = f.with_all(pod_events(s, rep, 2));
    if let Some((e, _)) = log_evidence(s, pod, &g.container, true) {
        f = f.with(e);
    }
    let ran = last.and_then(ran_for);
    f = f.doc("troubleshooting-pods.md#oomkilled");
    match limit {
        Some(limit) => {
            let (mib, mut reasoning) = suggest_memory(limit, ran);
            if let Some(r) = request {
                reasoning.push_str(&format!(
                    " The request stays {}, so scheduling does not change.",
                    quantity::human_bytes(r)
                ));
            }
            reasoning.push_str(" If usage keeps growing (a leak), a higher limit only buys time: watch it after the change.");
            let ran_text = ran
                .map(|d| format!(" after running {}", span(d)))
                .unwrap_or_default();
            f = f
                .cause(format!(
                    "The container used more memory than {limit_text} and the kernel killed it{ran_text} (exit 137, OOMKilled).{}",
                    match ran {
                        Some(d) if d.num_seconds() < 60 => {
                            " It dies right at start: the limit is below what it needs to boot."
                        }
                        Some(_) => {
                            " It grows into the limit while working (a load spike, a growing queue or cache, or a leak)."
                        }
                        None => "",
                    }
                ))
                .fix(format!(
                    "Raise the memory limit of container `{}` to {} (the reasoning is below), then check whether usage settles below it.",
                    g.container,
                    quantity::mib_quantity(mib)
                ))
                .remedy(Some(Remediation::memory_limit(
                    &s.service,
                    &s.environment,
                    &g.container,
                    mib,
                    reasoning,
                )));
        }
        None => {
            f = f
                .cause("The container has no memory limit; it was killed when the node ran out of memory.")
                .fix("Set a memory request and limit sized to its real usage so the scheduler reserves room for it.");
        }
    }
    f
}

fn config_error(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let status = status_of(rep, &g.container, g.init);
    let reason = status
        .and_then(waiting_reason)
        .unwrap_or("CreateContainerConfigError");
    let message = status
        .and_then(waiting_message)
        .unwrap_or_default()
        .to_owned();
    let spec = rep.spec.as_ref();
    let broken: Vec<BrokenRef> = container(spec, &g.container)
        .map(|c| config_refs::broken(s, c, spec))
        .unwrap_or_default()
        .into_iter()
        .filter(|b| !b.reference.optional)
        .collect();
    let missing = broken
        .first()
        .map(BrokenRef::target)
        .or_else(|| missing_from_message(&message))
        .unwrap_or_else(|| "its configuration".into());
    let mut f = base(
        s,
        g,
        "pod.config_error",
        if g.pods.len() >= total {
            Severity::Critical
        } else {
            Severity::Warning
        },
        format!(
            "{} cannot start {}: {reason} ({missing})",
            container_label(g),
            scope(g, total)
        ),
    )
    .with(Evidence::fact(format!(
        "state: waiting {reason}: {message}"
    )))
    .with_all(broken.iter().map(|b| Evidence::fact(b.describe())))
    .with_all(pod_events(s, rep, 2))
    .doc("troubleshooting-pods.md#createcontainerconfigerror");
    let lower = message.to_lowercase();
    let cause = if lower.contains("runasnonroot") {
        "The pod requires a non-root user (`runAsNonRoot: true`) but the image runs as root (or by a user name the kubelet cannot verify).".to_owned()
    } else if !broken.is_empty() {
        format!(
            "The kubelet cannot build the container's environment or volumes: {}.",
            broken
                .iter()
                .map(BrokenRef::describe)
                .collect::<Vec<_>>()
                .join(" ")
        )
    } else {
        format!("The kubelet cannot create the container: {message}")
    };
    f = f.cause(cause);
    let fix = if lower.contains("runasnonroot") {
        "Run the image as a numeric non-root user (`securityContext.runAsUser: 10001`) or fix the image's USER.".to_owned()
    } else if !broken.is_empty() {
        refs_fix(s, &broken)
    } else {
        "Fix what the message names in the pod template.".to_owned()
    };
    f = f.fix(fix);
    if let Some(c) = rollback_candidate(s)
        && c.serving()
        && on_current_revision(s, g)
        && !broken.is_empty()
        && broken.iter().all(|b| !candidate_has_ref(s, c.revision, b))
    {
        f.remediation = Some(rollback_remedy(
            s,
            &c,
            &format!("Revision {} does not read {missing}.", c.revision),
        ));
    }
    f
}

/// "Secret db-creds" from `secret "db-creds" not found` / `couldn't find key K in Secret ns/x`.
fn missing_from_message(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("couldn't find key ") {
        let (key, rest) = rest.split_once(" in ")?;
        let (kind, path) = rest.split_once(' ')?;
        let name = path.rsplit('/').next()?;
        return Some(format!("key `{key}` of {kind} {name}"));
    }
    for (prefix, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let name = rest.split('"').next()?;
            return Some(format!("{kind} {name}"));
        }
    }
    None
}

fn init_failed(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let status = status_of(rep, &g.container, true);
    let last = status.and_then(last_terminated);
    let restarts = status.map_or(0, |c| c.restart_count);
    let mut f = base(
        s,
        g,
        "pod.init_failed",
        if g.pods.len() >= total {
            Severity::Critical
        } else {
            Severity::Warning
        },
        format!(
            "{} fails {}{}: the app containers never start",
            container_label(g),
            scope(g, total),
            last.map(|t| format!(" with exit code {}", t.exit_code))
                .unwrap_or_default()
        ),
    );
    if let Some(reason) = status.and_then(waiting_reason) {
        f = f.with(Evidence::fact(format!(
            "state: waiting {reason} (restartCount {restarts})"
        )));
    }
    if let Some(t) = last {
        f = f.with(Evidence::fact(termination_fact(s, t)));
    }
    f = f.with_all(pod_events(s, rep, 2));
    let previous = restarts > 0;
    let logs = log_evidence(s, pod, &g.container, previous);
    let key = logs.as_ref().and_then(|(_, k)| k.clone());
    if let Some((e, _)) = logs {
        f = f.with(e);
    }
    let mut cause = format!(
        "Init container `{}` must exit 0 before the app containers start; it {}.",
        g.container,
        last.map_or_else(
            || "keeps failing".to_owned(),
            |t| exit_code_meaning(t.exit_code).to_owned()
        )
    );
    if let Some(k) = key {
        cause.push_str(&format!(" Its last words: `{k}`."));
    }
    f = f
        .cause(cause)
        .fix("Fix what the init container's log names (a migration, a dependency it waits for, a permission); the pod retries on its own.")
        .doc("troubleshooting-pods.md#crashloopbackoff");
    if let Some(c) = rollback_candidate(s)
        && c.serving()
        && on_current_revision(s, g)
    {
        f.remediation = Some(rollback_remedy(
            s,
            &c,
            "The init container started failing with the current revision.",
        ));
    }
    f
}

fn restarting(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let status = status_of(rep, &g.container, g.init);
    let last = status.and_then(last_terminated);
    let restarts = status.map_or(0, |c| c.restart_count);
    let since = facts::created(&rep.metadata)
        .map(|c| span(s.now - c))
        .unwrap_or_default();
    let ready = status.is_some_and(|c| c.ready);
    let mut f = base(
        s,
        g,
        "pod.restarting",
        if ready && long_ago(s, last) {
            Severity::Info
        } else {
            Severity::Warning
        },
        format!(
            "{} restarts often {}: {restarts} restarts in {since}",
            container_label(g),
            scope(g, total)
        ),
    );
    if let Some(t) = last {
        f = f.with(Evidence::fact(termination_fact(s, t)));
    }
    let kills: Vec<_> = events_of(&s.events, "Pod", pod)
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("Killing")
                && e.message.as_deref().is_some_and(|m| m.contains("liveness"))
        })
        .collect();
    f = f.with_all(
        kills
            .iter()
            .take(1)
            .map(|e| Evidence::Event(event_evidence(e))),
    );
    f = f.with_all(pod_events(s, rep, 2));
    let logs = log_evidence(s, pod, &g.container, true);
    let key = logs.as_ref().and_then(|(_, k)| k.clone());
    if let Some((e, _)) = logs {
        f = f.with(e);
    }
    let mut cause = if kills.is_empty() {
        last.map_or_else(
            || "The container exits now and then and is restarted.".to_owned(),
            |t| format!("Its last exit: {}.", exit_code_meaning(t.exit_code)),
        )
    } else {
        "The liveness probe fails and the kubelet kills the container (see the probe finding)."
            .to_owned()
    };
    if let Some(k) = key {
        cause.push_str(&format!(" The previous instance's last words: `{k}`."));
    }
    f.cause(cause)
        .fix("Find what ends the process in the previous instance's log; if it is the liveness probe, make the probe cheaper or its timeout longer.")
        .doc("troubleshooting-pods.md#crashloopbackoff")
}

fn evicted(s: &Snapshot, g: &Group<'_>, pods: &[&Pod]) -> Finding {
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

fn volume_mount(s: &Snapshot, g: &Group<'_>) -> Finding {
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
        .map(|c| span(s.now - c))
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

/// References to ConfigMaps and Secrets that point at nothing, where no other finding
/// already explains them: optional ones (the app starts without the value) and ones the
/// running pods got before the object changed (their next restart will fail).
fn broken_refs(s: &Snapshot, groups: &[Group<'_>]) -> Vec<Finding> {
    let Some(template) = s
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|sp| sp.template.spec.as_ref())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &template.containers {
        let failing = groups
            .iter()
            .any(|g| g.container == c.name && matches!(g.kind, Kind::CrashLoop | Kind::Restarting));
        let config_error = groups
            .iter()
            .any(|g| g.container == c.name && g.kind == Kind::ConfigError);
        for b in config_refs::broken(s, c, Some(template)) {
            if config_error && !b.reference.optional {
                continue;
            }
            if b.reference.optional && !failing {
                // Optional by design, and nothing fails: not worth a finding.
                continue;
            }
            let problem = format!(
                "{} of container `{}` points at a missing {}",
                b.reference.used_as,
                c.name,
                b.target()
            );
            let severity = if failing {
                Severity::Warning
            } else {
                Severity::Info
            };
            let mut f = Finding::new(
                "pod.missing_config_ref",
                severity,
                s.object(b.reference.kind.as_str(), &b.reference.name),
                problem,
            )
            .with(Evidence::fact(b.describe()));
            if let Some(changed) = b.changed {
                f = f.with(Evidence::fact(format!(
                    "{} {} last changed {}",
                    b.reference.kind.as_str(),
                    b.reference.name,
                    ago(s.now - changed)
                )));
            }
            let cause = if b.reference.optional {
                "The reference is optional, so Kubernetes starts the container without the value; the application then fails without it.".to_owned()
            } else {
                "The running pods started before it went missing; the next restart or rollout fails with CreateContainerConfigError.".to_owned()
            };
            f = f
                .cause(cause)
                .fix(refs_fix(s, std::slice::from_ref(&b)))
                .doc("troubleshooting-pods.md#createcontainerconfigerror");
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_suggestions_show_their_arithmetic() {
        let mib = 1024 * 1024;
        let (m, why) = suggest_memory(256 * mib, Some(chrono::Duration::minutes(27)));
        assert_eq!(m, 384);
        assert!(why.contains("1.5 x 256Mi = 384Mi"), "{why}");
        let (m, why) = suggest_memory(256 * mib, Some(chrono::Duration::seconds(8)));
        assert_eq!(m, 512);
        assert!(why.contains("2 x 256Mi = 512Mi"), "{why}");
        let (m, why) = suggest_memory(6 * 1024 * mib, None);
        assert_eq!(m, 9216);
        assert!(why.contains("not recorded"), "{why}");
        let (m, why) = suggest_memory(700 * mib, None);
        assert_eq!(m, 1152, "{why}");
    }

    #[test]
    fn missing_objects_are_read_from_kubelet_messages() {
        assert_eq!(
            missing_from_message(
                "couldn't find key DB_PASSWORD in Secret payments-staging/db-creds"
            )
            .as_deref(),
            Some("key `DB_PASSWORD` of Secret db-creds")
        );
        assert_eq!(
            missing_from_message("secret \"db-creds\" not found").as_deref(),
            Some("Secret db-creds")
        );
        assert_eq!(
            missing_from_message("configmap \"app\" not found").as_deref(),
            Some("ConfigMap app")
        );
        assert_eq!(missing_from_message("something else"), None);
    }
}
