//! Deployment and ReplicaSet analyzers: unavailable replicas, a rollout past its progress
//! deadline, a paused rollout, ReplicaSets that cannot create pods (quota, admission).
//! Also the rollout history the other analyzers use to offer a rollback to the last
//! healthy revision.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::facts::{annotation, created, event_evidence, events_of, name_of, time};
use super::finding::{Evidence, Finding, Remediation, Severity, span};
use super::snapshot::{CHANGE_CAUSE, Snapshot, images};
use crate::actions::status::ago;

/// A revision worth rolling back to.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackCandidate {
    pub revision: u64,
    pub rs_name: String,
    pub images: Vec<(String, String)>,
    pub ready: i32,
    pub cause: Option<String>,
}

impl RollbackCandidate {
    /// Its pods are serving right now: the strongest evidence that it works.
    pub fn serving(&self) -> bool {
        self.ready > 0
    }
}

fn template_without_hash(rs: &ReplicaSet) -> Option<Value> {
    let mut t = serde_json::to_value(rs.spec.as_ref()?.template.as_ref()?).ok()?;
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove("pod-template-hash");
    }
    Some(t)
}

fn deployment_template(d: &Deployment) -> Option<Value> {
    serde_json::to_value(&d.spec.as_ref()?.template).ok()
}

/// The revision to roll back to: the newest older revision whose pods are serving now,
/// else the newest older revision; never one identical to what runs.
pub fn rollback_candidate(s: &Snapshot) -> Option<RollbackCandidate> {
    let current = s.current_revision()?;
    let running = s.deployment.as_ref().and_then(deployment_template);
    let older: Vec<(u64, &ReplicaSet)> = s
        .revisions()
        .into_iter()
        .filter(|(n, rs)| *n < current && template_without_hash(rs) != running)
        .collect();
    let ready = |rs: &ReplicaSet| {
        rs.status
            .as_ref()
            .and_then(|st| st.ready_replicas)
            .unwrap_or(0)
    };
    let (revision, rs) = older
        .iter()
        .rev()
        .find(|(_, rs)| ready(rs) > 0)
        .or_else(|| older.last())?;
    Some(RollbackCandidate {
        revision: *revision,
        rs_name: name_of(&rs.metadata).to_owned(),
        images: images(
            rs.spec
                .as_ref()
                .and_then(|sp| sp.template.as_ref())
                .and_then(|t| t.spec.as_ref()),
        ),
        ready: ready(rs),
        cause: annotation(&rs.metadata, CHANGE_CAUSE).map(str::to_owned),
    })
}

/// `search: registry/search/search:v2.8.1 -> v2.8.0`, per container whose image differs.
pub fn image_diff(from: &[(String, String)], to: &[(String, String)]) -> Vec<String> {
    let to: BTreeMap<&str, &str> = to.iter().map(|(c, i)| (c.as_str(), i.as_str())).collect();
    from.iter()
        .filter_map(|(c, old)| {
            let new = to.get(c.as_str())?;
            (old != new).then(|| format!("{c}: {old} -> {}", short_tag(old, new)))
        })
        .collect()
}

/// The new image, shortened to its tag when only the tag differs.
fn short_tag(old: &str, new: &str) -> String {
    match (old.rsplit_once(':'), new.rsplit_once(':')) {
        (Some((repo_a, _)), Some((repo_b, tag))) if repo_a == repo_b && !tag.contains('/') => {
            tag.to_owned()
        }
        _ => new.to_owned(),
    }
}

/// The images the Deployment runs now.
pub fn current_images(s: &Snapshot) -> Vec<(String, String)> {
    images(
        s.deployment
            .as_ref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|sp| sp.template.spec.as_ref()),
    )
}

/// A rollback to `candidate`, with the reasoning: what it changes and why it should work.
pub fn rollback_remedy(s: &Snapshot, candidate: &RollbackCandidate, why: &str) -> Remediation {
    let diff = image_diff(&current_images(s), &candidate.images);
    let images = candidate
        .images
        .iter()
        .map(|(_, i)| i.rsplit('/').next().unwrap_or(i).to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    let proof = if candidate.serving() {
        format!(
            "its ReplicaSet {} still serves {} ready pod(s) right now",
            candidate.rs_name, candidate.ready
        )
    } else {
        format!(
            "it is the revision before the current one (ReplicaSet {})",
            candidate.rs_name
        )
    };
    let mut reasoning = format!(
        "{why} Revision {} is the last healthy one: {proof}.",
        candidate.revision
    );
    if !diff.is_empty() {
        reasoning.push_str(&format!(" Image change: {}.", diff.join("; ")));
    }
    if let Some(cause) = &candidate.cause {
        reasoning.push_str(&format!(" Its change-cause: \"{cause}\"."));
    }
    Remediation::rollback(
        &s.service,
        &s.environment,
        candidate.revision,
        format!(
            "Roll {} in {} back to revision {} ({images})",
            s.service, s.environment, candidate.revision
        ),
        reasoning,
    )
}

/// "2 CrashLoopBackOff, 1 Running": the pods' states as kubectl would print them.
pub fn pod_states(pods: &[&Pod]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in pods {
        *counts.entry(pod_state(p)).or_default() += 1;
    }
    counts
        .iter()
        .map(|(state, n)| format!("{n} {state}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pod's state the way `kubectl get pods` shows it: a waiting or terminated reason beats
/// the phase; a running pod that is not ready says so.
pub fn pod_state(p: &Pod) -> String {
    let Some(status) = &p.status else {
        return "Unknown".into();
    };
    if let Some(reason) = &status.reason {
        return reason.clone();
    }
    for c in status
        .init_container_statuses
        .as_deref()
        .unwrap_or_default()
    {
        if let Some(st) = &c.state {
            if let Some(w) = st.waiting.as_ref().and_then(|w| w.reason.clone()) {
                return format!("Init:{w}");
            }
            if let Some(t) = &st.terminated
                && t.exit_code != 0
            {
                return format!(
                    "Init:{}",
                    t.reason.clone().unwrap_or_else(|| "Error".into())
                );
            }
        }
    }
    for c in status.container_statuses.as_deref().unwrap_or_default() {
        if let Some(st) = &c.state {
            if let Some(w) = st.waiting.as_ref().and_then(|w| w.reason.clone()) {
                return w;
            }
            if let Some(t) = st.terminated.as_ref().and_then(|t| t.reason.clone()) {
                return t;
            }
        }
    }
    let phase = status.phase.clone().unwrap_or_else(|| "Unknown".into());
    let unready = status
        .container_statuses
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|c| !c.ready);
    if phase == "Running" && unready {
        "Running (not ready)".into()
    } else {
        phase
    }
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let Some(d) = &s.deployment else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(unavailable(s, d));
    out.extend(progress_deadline(s, d));
    out.extend(paused(s, d));
    out.extend(failed_create(s));
    out
}

fn condition<'a>(
    d: &'a Deployment,
    kind: &str,
) -> Option<&'a k8s_openapi::api::apps::v1::DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == kind)
}

fn unavailable(s: &Snapshot, d: &Deployment) -> Option<Finding> {
    let desired = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let available = status.available_replicas.unwrap_or(0);
    if desired == 0 || available >= desired {
        return None;
    }
    let pods = s.workload_pods();
    let severity = if available == 0 {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let problem = if available == 0 {
        format!(
            "0 of {desired} replicas available: {} is down in {}",
            s.workload, s.environment
        )
    } else {
        format!("{} of {desired} replicas unavailable", desired - available)
    };
    let mut f = Finding::new(
        "deployment.unavailable",
        severity,
        s.object("Deployment", &s.workload),
        problem,
    )
    .with(Evidence::fact(format!(
        "status: replicas {}, updated {}, ready {}, available {available}, unavailable {}",
        status.replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0),
        status.ready_replicas.unwrap_or(0),
        status.unavailable_replicas.unwrap_or(desired - available),
    )));
    if let Some(c) = condition(d, "Available") {
        let since = c
            .last_transition_time
            .as_ref()
            .map(time)
            .map(|t| format!(" since {}", ago(s.now.duration_since(t))))
            .unwrap_or_default();
        f = f.with(Evidence::fact(format!(
            "condition Available={} ({}){since}: {}",
            c.status,
            c.reason.as_deref().unwrap_or("-"),
            c.message.as_deref().unwrap_or("")
        )));
    }
    let states = pod_states(&pods);
    if !pods.is_empty() {
        f = f.with(Evidence::fact(format!("pods: {states}")));
    }
    let mut cause = if pods.is_empty() {
        "No pods exist for it: the ReplicaSet cannot create them (see below) or nothing has run yet.".to_owned()
    } else {
        format!("Its pods are not becoming ready ({states}); the findings below say why.")
    };
    // A rollout within its deadline is expected to be short of available pods for a while.
    if let Some(c) = condition(d, "Progressing")
        && c.status == "True"
        && c.reason.as_deref() == Some("ReplicaSetUpdated")
        && let Some(t) = c.last_update_time.as_ref().map(time)
    {
        let deadline = d
            .spec
            .as_ref()
            .and_then(|sp| sp.progress_deadline_seconds)
            .unwrap_or(600);
        if (s.now.duration_since(t)).as_secs() < i64::from(deadline) {
            cause.push_str(&format!(
                " A rollout is in progress (last progress {}, deadline {deadline}s), so this may resolve itself.",
                ago(s.now.duration_since(t))
            ));
        }
    }
    f = f
        .cause(cause)
        .fix("Fix the pod-level problem below; the Deployment recovers on its own once pods turn ready.")
        .doc("troubleshooting-pods.md");
    Some(f)
}

fn progress_deadline(s: &Snapshot, d: &Deployment) -> Option<Finding> {
    let c = condition(d, "Progressing")?;
    if c.status != "False" || c.reason.as_deref() != Some("ProgressDeadlineExceeded") {
        return None;
    }
    let desired = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
    let available = d
        .status
        .as_ref()
        .and_then(|st| st.available_replicas)
        .unwrap_or(0);
    let severity = if available < desired {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let deadline = d
        .spec
        .as_ref()
        .and_then(|sp| sp.progress_deadline_seconds)
        .unwrap_or(600);
    let stuck_since = c
        .last_update_time
        .as_ref()
        .map(time)
        .or_else(|| c.last_transition_time.as_ref().map(time));
    let mut f = Finding::new(
        "deployment.progress_deadline",
        severity,
        s.object("Deployment", &s.workload),
        format!(
            "rollout stalled: no progress within its {deadline}s deadline{}",
            stuck_since
                .map(|t| format!(" (stuck for {})", span(s.now.duration_since(t))))
                .unwrap_or_default()
        ),
    )
    .with(Evidence::fact(format!(
        "condition Progressing=False (ProgressDeadlineExceeded): {}",
        c.message.as_deref().unwrap_or("")
    )));
    let current = s.current_revision();
    let pods = s.workload_pods();
    for (n, rs) in s.revisions().into_iter().rev() {
        let st = rs.status.clone().unwrap_or_default();
        if st.replicas == 0 && Some(n) != current {
            continue;
        }
        let rs_name = name_of(&rs.metadata);
        let rs_pods: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| super::facts::owner(&p.metadata, "ReplicaSet") == Some(rs_name))
            .collect();
        let imgs = images(
            rs.spec
                .as_ref()
                .and_then(|sp| sp.template.as_ref())
                .and_then(|t| t.spec.as_ref()),
        )
        .into_iter()
        .map(|(_, i)| i)
        .collect::<Vec<_>>()
        .join(", ");
        let role = if Some(n) == current { "new" } else { "old" };
        f = f.with(Evidence::fact(format!(
            "{role} ReplicaSet {rs_name} (revision {n}, {imgs}): {} pods, {} ready{}",
            st.replicas,
            st.ready_replicas.unwrap_or(0),
            if rs_pods.is_empty() {
                String::new()
            } else {
                format!(" ({})", pod_states(&rs_pods))
            }
        )));
    }
    let candidate = rollback_candidate(s);
    let new_pods_unready = pods
        .iter()
        .any(|p| s.revision_of_pod(p) == current && pod_state(p) != "Running");
    let cause = if new_pods_unready {
        "The new revision's pods never became ready, so the controller stopped replacing old pods; the old revision keeps serving. See the pod findings for why the new pods are not ready."
    } else {
        "The new ReplicaSet did not get its pods available in time (quota, scheduling or readiness); see below."
    };
    f = f.cause(cause).doc("rollbacks.md");
    match candidate {
        Some(c) => {
            let fix = format!(
                "Roll back to revision {} (what served before), then fix the new revision before rolling out again.",
                c.revision
            );
            let remedy = rollback_remedy(
                s,
                &c,
                &format!(
                    "The rollout to revision {} is stuck and will not finish by itself.",
                    current.map_or_else(|| "?".to_owned(), |r| r.to_string())
                ),
            );
            f = f.fix(fix).remedy(Some(remedy));
        }
        None => {
            f = f.fix("Fix what keeps the new pods from becoming ready; there is no earlier revision to roll back to.");
        }
    }
    Some(f)
}

fn paused(s: &Snapshot, d: &Deployment) -> Option<Finding> {
    if !d.spec.as_ref().and_then(|sp| sp.paused).unwrap_or(false) {
        return None;
    }
    let desired = d.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(1);
    let updated = d
        .status
        .as_ref()
        .and_then(|st| st.updated_replicas)
        .unwrap_or(0);
    let midway = updated < desired;
    let since = condition(d, "Progressing")
        .filter(|c| c.reason.as_deref() == Some("DeploymentPaused"))
        .and_then(|c| {
            c.last_update_time
                .as_ref()
                .or(c.last_transition_time.as_ref())
        })
        .map(time);
    let f = Finding::new(
        "deployment.paused",
        if midway { Severity::Warning } else { Severity::Info },
        s.object("Deployment", &s.workload),
        format!(
            "rollout paused{}{}",
            since.map(|t| format!(" {}", ago(s.now.duration_since(t)))).unwrap_or_default(),
            if midway { format!(" halfway: {updated} of {desired} pods updated") } else { String::new() }
        ),
    )
    .with(Evidence::fact("spec.paused: true"))
    .cause("Someone paused the rollout (`kubectl rollout pause`); template changes are recorded but not rolled out until it is resumed.")
    .fix(format!(
        "Resume it when the change should go out: `kubectl -n {} rollout resume deployment/{}`.",
        s.namespace, s.workload
    ))
    .doc("deploying.md#checking-a-rollout");
    Some(f)
}

/// Why a ReplicaSet could not create a pod, from the FailedCreate message.
fn classify_failed_create(message: &str) -> (&'static str, String) {
    let m = message.to_lowercase();
    if m.contains("exceeded quota") {
        (
            "quota",
            "Creating the pod would exceed the namespace's ResourceQuota.".into(),
        )
    } else if m.contains("maximum") && (m.contains("per container") || m.contains("per pod"))
        || m.contains("minimum") && m.contains("per container")
    {
        (
            "limitrange",
            "The pod's requests or limits are outside the namespace's LimitRange.".into(),
        )
    } else if m.contains("violates podsecurity") {
        ("podsecurity", "The pod violates the namespace's Pod Security level (security context, privileges, host access).".into())
    } else if m.contains("admission webhook") && m.contains("denied") {
        let hook = message
            .split("admission webhook \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?");
        (
            "admission",
            format!(
                "The admission webhook `{hook}` denied the pod (a policy engine such as Kyverno or Gatekeeper)."
            ),
        )
    } else if m.contains("serviceaccount") && m.contains("not found") {
        (
            "serviceaccount",
            "The pod's ServiceAccount does not exist.".into(),
        )
    } else {
        ("other", "The API server refused to create the pod.".into())
    }
}

fn failed_create(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for (n, rs) in s.revisions() {
        let rs_name = name_of(&rs.metadata);
        let condition = rs
            .status
            .as_ref()
            .and_then(|st| st.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True");
        let events: Vec<_> = events_of(&s.events, "ReplicaSet", rs_name)
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
            .collect();
        let message = condition
            .and_then(|c| c.message.clone())
            .or_else(|| events.first().and_then(|e| e.message.clone()));
        let Some(message) = message else { continue };
        let (class, cause) = classify_failed_create(&message);
        let desired = rs.spec.as_ref().and_then(|sp| sp.replicas).unwrap_or(0);
        let have = rs.status.as_ref().map(|st| st.replicas).unwrap_or(0);
        let severity = if have == 0 && desired > 0 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut f = Finding::new(
            "replicaset.failed_create",
            severity,
            s.object("ReplicaSet", rs_name),
            format!("ReplicaSet of revision {n} cannot create pods ({have} of {desired}): {class} refused"),
        )
        .with(Evidence::fact(format!("FailedCreate: {message}")))
        .with_all(events.iter().take(2).map(|e| Evidence::Event(event_evidence(e))));
        if class == "quota" {
            for q in &s.quotas {
                let hard = q
                    .status
                    .as_ref()
                    .and_then(|st| st.hard.clone())
                    .or_else(|| q.spec.as_ref().and_then(|sp| sp.hard.clone()))
                    .unwrap_or_default();
                let used = q
                    .status
                    .as_ref()
                    .and_then(|st| st.used.clone())
                    .unwrap_or_default();
                let figures: Vec<String> = hard
                    .iter()
                    .filter(|(k, _)| message.contains(k.as_str()))
                    .map(|(k, v)| {
                        format!(
                            "{k}: used {} of {}",
                            used.get(k).map_or("?", |u| u.0.as_str()),
                            v.0
                        )
                    })
                    .collect();
                if !figures.is_empty() {
                    f = f.with(Evidence::fact(format!(
                        "ResourceQuota {}: {}",
                        name_of(&q.metadata),
                        figures.join(", ")
                    )));
                }
            }
        }
        let fix = match class {
            "quota" => {
                "Free quota (scale down or remove unused workloads in the namespace), lower the pod's requests/limits, or ask the platform team to raise the quota."
            }
            "limitrange" => {
                "Bring the container's requests and limits inside the LimitRange, or ask the platform team to change it."
            }
            "podsecurity" => {
                "Set the security context the namespace's level requires (runAsNonRoot, no privilege escalation, dropped capabilities, seccomp RuntimeDefault)."
            }
            "admission" => {
                "Change the pod to satisfy the policy named in the message, or ask its owners for an exception."
            }
            "serviceaccount" => {
                "Create the ServiceAccount or fix `serviceAccountName` in the pod template."
            }
            _ => "Read the message above: the API server says what it refused.",
        };
        f = f.cause(cause).fix(fix).doc(match class {
            "quota" => "quotas.md#when-the-quota-is-full",
            "podsecurity" => "troubleshooting/pod-security",
            _ => "troubleshooting/failed-create",
        });
        out.push(f);
    }
    out
}

/// The creation time of the current revision's ReplicaSet (when the rollout started).
pub fn current_rollout_started(s: &Snapshot) -> Option<jiff::Timestamp> {
    let current = s.current_revision()?;
    s.revisions()
        .into_iter()
        .find(|(n, _)| *n == current)
        .and_then(|(_, rs)| created(&rs.metadata))
}
