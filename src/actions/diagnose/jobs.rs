//! Job and CronJob analyzers: a Job that failed (backoff limit reached, deadline exceeded),
//! with the exit code and last log lines of its last failed pod, and CronJobs that are
//! suspended or whose last run failed.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;

use super::facts::{created, event_evidence, events_of, exit_code_meaning, name_of, owner, time};
use super::finding::{Evidence, Finding, Severity};
use super::gather::{LogWant, Wants};
use super::pods::log_evidence;
use super::snapshot::Snapshot;
use crate::actions::status::ago;

fn cron_job_of<'a>(s: &'a Snapshot, job: &Job) -> Option<&'a CronJob> {
    let name = owner(&job.metadata, "CronJob")?;
    s.cron_jobs.iter().find(|c| name_of(&c.metadata) == name)
}

/// The service's Jobs: its own, and those of its CronJobs.
fn jobs(s: &Snapshot) -> Vec<&Job> {
    s.jobs
        .iter()
        .filter(|j| {
            s.belongs(&j.metadata) || cron_job_of(s, j).is_some_and(|c| s.belongs(&c.metadata))
        })
        .collect()
}

fn failed_condition(job: &Job) -> Option<&k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| (c.type_ == "Failed" || c.type_ == "FailureTarget") && c.status == "True")
}

fn succeeded(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|st| st.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True")
}

/// A failed Job that still matters: no later run of the same CronJob succeeded.
fn relevant_failures(s: &Snapshot) -> Vec<&Job> {
    let all = jobs(s);
    all.iter()
        .copied()
        .filter(|j| failed_condition(j).is_some())
        .filter(|j| {
            let Some(cron) = owner(&j.metadata, "CronJob") else {
                return true;
            };
            let started = created(&j.metadata);
            !all.iter().any(|other| {
                owner(&other.metadata, "CronJob") == Some(cron)
                    && succeeded(other)
                    && created(&other.metadata) > started
            })
        })
        .collect()
}

fn job_pods<'a>(s: &'a Snapshot, job: &Job) -> Vec<&'a Pod> {
    let name = name_of(&job.metadata);
    let mut pods: Vec<&Pod> = s
        .pods
        .iter()
        .filter(|p| {
            owner(&p.metadata, "Job") == Some(name)
                || p.metadata.labels.as_ref().is_some_and(|l| {
                    l.get("batch.kubernetes.io/job-name")
                        .or_else(|| l.get("job-name"))
                        .is_some_and(|v| v == name)
                })
        })
        .collect();
    pods.sort_by_key(|p| std::cmp::Reverse(created(&p.metadata)));
    pods
}

fn last_failed_pod<'a>(s: &'a Snapshot, job: &Job) -> Option<&'a Pod> {
    job_pods(s, job)
        .into_iter()
        .find(|p| p.status.as_ref().and_then(|st| st.phase.as_deref()) == Some("Failed"))
}

fn failed_container(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_deref()?
        .iter()
        .find(|c| {
            c.state
                .as_ref()
                .and_then(|st| st.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0)
        })
}

pub fn wanted(s: &Snapshot, w: &mut Wants) {
    for job in relevant_failures(s).into_iter().take(2) {
        if let Some(pod) = last_failed_pod(s, job)
            && let Some(c) = failed_container(pod)
        {
            w.logs.insert(LogWant {
                pod: name_of(&pod.metadata).to_owned(),
                container: c.name.clone(),
                previous: false,
            });
        }
    }
}

pub fn analyze(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    for job in relevant_failures(s) {
        out.push(failed(s, job));
    }
    for cron in &s.cron_jobs {
        if !s.belongs(&cron.metadata) {
            continue;
        }
        if cron
            .spec
            .as_ref()
            .and_then(|sp| sp.suspend)
            .unwrap_or(false)
        {
            let name = name_of(&cron.metadata);
            let last = cron
                .status
                .as_ref()
                .and_then(|st| st.last_successful_time.as_ref())
                .map(time)
                .map_or_else(|| "never".to_owned(), |t| ago(s.now.duration_since(t)));
            out.push(
                Finding::new(
                    "cronjob.suspended",
                    Severity::Info,
                    s.object("CronJob", name),
                    format!("CronJob {name} is suspended: no runs are scheduled (last success: {last})"),
                )
                .with(Evidence::fact("spec.suspend: true"))
                .cause("Someone suspended it (maintenance, or to stop a failing job).")
                .fix(format!(
                    "Resume it when it should run again: `kubectl -n {} patch cronjob {name} -p '{{\"spec\":{{\"suspend\":false}}}}'`.",
                    s.namespace
                ))
                .doc("troubleshooting/jobs"),
            );
        }
    }
    out
}

fn failed(s: &Snapshot, job: &Job) -> Finding {
    let name = name_of(&job.metadata);
    let condition = failed_condition(job);
    let reason = condition
        .and_then(|c| c.reason.clone())
        .unwrap_or_else(|| "Failed".into());
    let message = condition
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    let failures = job.status.as_ref().and_then(|st| st.failed).unwrap_or(0);
    let limit = job
        .spec
        .as_ref()
        .and_then(|sp| sp.backoff_limit)
        .unwrap_or(6);
    let cron = cron_job_of(s, job);
    let when = condition
        .and_then(|c| c.last_transition_time.as_ref())
        .map(time)
        .map(|t| format!(" {}", ago(s.now.duration_since(t))))
        .unwrap_or_default();
    let mut f = Finding::new(
        "job.failed",
        Severity::Critical,
        s.object("Job", name),
        format!(
            "Job {name}{} failed{when}: {reason} ({failures} failed pod(s), backoffLimit {limit})",
            cron.map(|c| format!(" (run of CronJob {})", name_of(&c.metadata)))
                .unwrap_or_default()
        ),
    )
    .with(Evidence::fact(format!(
        "condition Failed=True ({reason}): {message}"
    )))
    .with_all(
        events_of(&s.events, "Job", name)
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .take(2)
            .map(|e| Evidence::Event(event_evidence(e))),
    );
    if let Some(c) = cron {
        let last = c
            .status
            .as_ref()
            .and_then(|st| st.last_successful_time.as_ref())
            .map(time)
            .map_or_else(|| "never".to_owned(), |t| ago(s.now.duration_since(t)));
        f = f.with(Evidence::fact(format!(
            "CronJob {} (schedule `{}`): last successful run {last}",
            name_of(&c.metadata),
            c.spec
                .as_ref()
                .map(|sp| sp.schedule.clone())
                .unwrap_or_default()
        )));
    }
    let mut cause = match reason.as_str() {
        "BackoffLimitExceeded" => format!(
            "Its pods failed {failures} time(s), reaching the backoff limit of {limit}; the Job gave up."
        ),
        "DeadlineExceeded" => {
            "The Job ran past its activeDeadlineSeconds and was stopped.".to_owned()
        }
        _ => format!("The Job failed: {message}"),
    };
    if let Some(pod) = last_failed_pod(s, job) {
        let pname = name_of(&pod.metadata);
        if let Some(c) = failed_container(pod)
            && let Some(t) = c.state.as_ref().and_then(|st| st.terminated.as_ref())
        {
            f = f.with(Evidence::fact(format!(
                "last failed pod {pname}: container {} exit code {} ({})",
                c.name,
                t.exit_code,
                t.reason.as_deref().unwrap_or("Error")
            )));
            cause.push_str(&format!(
                " The last attempt: {}.",
                exit_code_meaning(t.exit_code)
            ));
            if let Some((e, key)) = log_evidence(s, pname, &c.name, false) {
                f = f.with(e);
                if let Some(k) = key {
                    cause.push_str(&format!(" Its last words: `{k}`."));
                }
            }
        }
    }
    let rerun = match cron {
        Some(c) => format!(
            "`kubectl -n {} create job {}-manual --from=cronjob/{}`",
            s.namespace,
            name_of(&c.metadata),
            name_of(&c.metadata)
        ),
        // A failed Job never runs again by itself; it has to be replaced.
        None => format!(
            "`kubectl -n {} get job {name} -o yaml | kubectl replace --force -f -`",
            s.namespace
        ),
    };
    f.cause(cause)
        .fix(format!(
            "Fix what the last attempt's log names, then run it again: {rerun}."
        ))
        .doc("troubleshooting/jobs")
}
