//! Containers that die: crash loops, OOM kills, and restarts that are not (yet) a loop.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ContainerStateTerminated;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;

pub(super) fn crash_loop(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let status = status_of(rep, &g.container, g.init);
    let last = status.and_then(last_terminated);
    let restarts = status.map_or(0, |c| c.restart_count);
    let all_down = total > 0 && g.pods.len() >= total;
    let severity = if all_down {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = base(
        s,
        g,
        "pod.crash_loop",
        severity,
        crash_headline(g, total, last, restarts),
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
    let logs = log_evidence(s, name_of(&rep.metadata), &g.container, true);
    let key_line = logs.as_ref().and_then(|(_, k)| k.clone());
    if let Some((e, _)) = logs {
        f = f.with(e);
    }
    let relevant = refs_the_crash_names(s, g, key_line.as_deref());
    let began = trouble_began(s, g);
    f = f
        .cause(crash_cause(s, last, key_line.as_deref(), &relevant, began))
        .doc("troubleshooting-pods.md#crashloopbackoff");
    if !relevant.is_empty() {
        return fix_broken_refs(s, f, &relevant);
    }
    let changed_after = config_changed_since_start(s, g, last);
    if !changed_after.is_empty() {
        return restart_for_changed_config(s, f, &changed_after.join(", "));
    }
    roll_back_or_hint(s, g, f, began, last.map(|t| t.exit_code))
}

/// "api crash-loops in 3 of 3 pods: exit code 1 (Error) after 2s, 7 restarts".
fn crash_headline(
    g: &Group<'_>,
    total: usize,
    last: Option<&ContainerStateTerminated>,
    restarts: i32,
) -> String {
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
    problem
}

/// The container's broken ConfigMap/Secret references: the one its last log line
/// complains about, else every broken one.
fn refs_the_crash_names(s: &Snapshot, g: &Group<'_>, key_line: Option<&str>) -> Vec<BrokenRef> {
    let spec = g.representative().spec.as_ref();
    let broken: Vec<BrokenRef> = container(spec, &g.container)
        .map(|c| config_refs::broken(s, c, spec))
        .unwrap_or_default();
    let named: Vec<&BrokenRef> = broken
        .iter()
        .filter(|b| {
            let var = b.reference.env_var.as_deref().unwrap_or("\u{0}");
            key_line.is_some_and(|k| k.contains(var))
        })
        .collect();
    if named.is_empty() {
        broken
    } else {
        named.into_iter().cloned().collect()
    }
}

/// Why it crashes: how soon it exits and what the exit code means, its last words, and
/// the broken references (with when they changed, if that was just before the crashes).
fn crash_cause(
    s: &Snapshot,
    last: Option<&ContainerStateTerminated>,
    key_line: Option<&str>,
    relevant: &[BrokenRef],
    began: Option<Timestamp>,
) -> String {
    let mut cause = String::new();
    if let (Some(t), Some(d)) = (last, last.and_then(ran_for)) {
        cause.push_str(&format!(
            "The container exits {} after starting: {}.",
            if d.as_secs() < 10 {
                "right".to_owned()
            } else {
                format!("{} ", span(d))
            }
            .trim(),
            exit_code_meaning(t.exit_code)
        ));
    } else if let Some(t) = last {
        cause.push_str(&format!(
            "The container keeps exiting: {}.",
            exit_code_meaning(t.exit_code)
        ));
    }
    if let Some(k) = key_line {
        cause.push_str(&format!(" Its last words: `{k}`."));
    }
    for b in relevant {
        cause.push_str(&format!(" {}", b.describe()));
        if let (Some(changed), Some(began)) = (b.changed, began)
            && changed <= began
            && began.duration_since(changed) < jiff::SignedDuration::from_hours(6)
        {
            cause.push_str(&format!(
                " {} {} was last changed {}, {} before the crashes began.",
                b.reference.kind.as_str(),
                b.reference.name,
                ago(s.now.duration_since(changed)),
                span(began.duration_since(changed))
            ));
        }
    }
    if cause.is_empty() {
        return "The container keeps exiting; the kubelet restarts it with a growing back-off."
            .into();
    }
    cause.trim().to_owned()
}

/// Fix the references, then restart (a rollback would read the same ones).
fn fix_broken_refs(s: &Snapshot, f: Finding, relevant: &[BrokenRef]) -> Finding {
    let mut fix = refs_fix(s, relevant);
    fix.push_str(
        " The crashing pods read it at their next restart; a rolling restart makes that immediate.",
    );
    if let Some(c) = rollback_candidate(s)
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
    f.fix(fix).remedy(Some(Remediation::restart(
        &s.service,
        &s.environment,
        "Environment variables from ConfigMaps and Secrets are read when a container starts; a rolling restart starts every pod with the fixed value instead of waiting for the crash back-off (up to 5 minutes).".into(),
        Some(format!("after {what} exists")),
    )))
}

/// ConfigMaps the container reads that changed after its last start: the crash-looping
/// container has not seen the change (env and files are read at start).
fn config_changed_since_start(
    s: &Snapshot,
    g: &Group<'_>,
    last: Option<&ContainerStateTerminated>,
) -> Vec<String> {
    let spec = g.representative().spec.as_ref();
    let last_start = last.and_then(|t| t.started_at.as_ref()).map(time);
    let mut changed: Vec<String> = container(spec, &g.container)
        .map(|c| config_refs::refs_of(c, spec))
        .unwrap_or_default()
        .iter()
        .filter(|r| r.kind == config_refs::SourceKind::ConfigMap)
        .filter_map(|r| {
            let at = last_written(&s.config_map(&r.name)?.metadata)?;
            last_start.is_some_and(|started| at > started).then(|| {
                format!(
                    "ConfigMap {} (changed {})",
                    r.name,
                    ago(s.now.duration_since(at))
                )
            })
        })
        .collect();
    changed.dedup();
    changed
}

/// A restart tries the changed config now instead of after the back-off.
fn restart_for_changed_config(s: &Snapshot, mut f: Finding, what: &str) -> Finding {
    f.likely_cause.push_str(&format!(
        " {what} changed after the container last started, so the crashes above predate that change."
    ));
    f.fix(format!(
        "Restart to apply the change to {what} now; the crashing pods would otherwise pick it up only at their next start (the back-off reaches 5 minutes). If it still crashes, read the new log."
    ))
    .remedy(Some(Remediation::restart(
        &s.service,
        &s.environment,
        format!("{what} changed after the container's last start; environment variables and mounted config are read at start, so a rolling restart applies the change to every pod now."),
        None,
    )))
}

/// A rollback when the crashes came with the current revision, else what to check for
/// the exit code.
fn roll_back_or_hint(
    s: &Snapshot,
    g: &Group<'_>,
    f: Finding,
    began: Option<Timestamp>,
    exit: Option<i32>,
) -> Finding {
    let rollout_recent = workloads::current_rollout_started(s)
        .zip(began)
        .is_some_and(|(rollout, began)| {
            began.duration_since(rollout) < jiff::SignedDuration::from_mins(30)
        });
    match rollback_candidate(s) {
        Some(c) if on_current_revision(s, g) && (rollout_recent || c.serving()) => {
            let why = format!(
                "The crashes began with the rollout of revision {}.",
                s.current_revision().unwrap_or_default()
            );
            f.fix(format!(
                "Roll back to revision {} to restore service, then fix the crash (see its last log lines) before rolling out again.",
                c.revision
            ))
            .remedy(Some(rollback_remedy(s, &c, &why)))
        }
        _ => f.fix(match exit {
            Some(126 | 127) => {
                "Check the image's entrypoint/command: the binary is missing or not executable."
            }
            Some(137) => {
                "Exit 137 without OOMKilled means SIGKILL from outside: check liveness probe events and the node."
            }
            _ => {
                "Read the previous instance's last log lines (above) for the error; fix the code or configuration it names."
            }
        }),
    }
}

/// The memory limit to suggest for an OOM-killed container, and the reasoning.
pub fn suggest_memory(limit_bytes: u64, ran: Option<jiff::SignedDuration>) -> (u32, String) {
    let limit_mib = quantity::to_mib(limit_bytes).max(1);
    let (factor, why) = match ran {
        Some(d) if d.as_secs() < 60 => (
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

pub(super) fn oom_killed(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let last = status_of(rep, &g.container, g.init).and_then(last_terminated);
    let resources = container(rep.spec.as_ref(), &g.container).and_then(|c| c.resources.as_ref());
    let memory = |of: Option<&BTreeMap<String, Quantity>>| {
        of.and_then(|l| l.get("memory"))
            .and_then(|q| quantity::bytes(&q.0))
    };
    let limit = memory(resources.and_then(|r| r.limits.as_ref()));
    let request = memory(resources.and_then(|r| r.requests.as_ref()));
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
    let mut f = base(
        s,
        g,
        "pod.oom_killed",
        oom_severity(s, g, last, total),
        problem,
    );
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
    if let Some((e, _)) = log_evidence(s, name_of(&rep.metadata), &g.container, true) {
        f = f.with(e);
    }
    f = f.doc("troubleshooting-pods.md#oomkilled");
    match limit {
        Some(limit) => raise_limit(s, g, f, (limit, request), last.and_then(ran_for), &limit_text),
        None => f
            .cause("The container has no memory limit; it was killed when the node ran out of memory.")
            .fix("Set a memory request and limit sized to its real usage so the scheduler reserves room for it."),
    }
}

/// Critical while it crash-loops or nothing is ready; one old kill of a container that
/// has run fine since is history, not a fault.
fn oom_severity(
    s: &Snapshot,
    g: &Group<'_>,
    last: Option<&ContainerStateTerminated>,
    total: usize,
) -> Severity {
    let crashlooping = g.pods.iter().any(|p| {
        status_of(p, &g.container, g.init).and_then(waiting_reason) == Some("CrashLoopBackOff")
    });
    let none_ready = g
        .pods
        .iter()
        .all(|p| status_of(p, &g.container, g.init).is_some_and(|c| !c.ready));
    if crashlooping || (none_ready && g.pods.len() >= total) {
        Severity::Critical
    } else if long_ago(s, last) && !none_ready {
        Severity::Info
    } else {
        Severity::Warning
    }
}

/// The cause of a kill at a limit, and a raised limit as the remedy (limit and request
/// in bytes).
fn raise_limit(
    s: &Snapshot,
    g: &Group<'_>,
    f: Finding,
    (limit, request): (u64, Option<u64>),
    ran: Option<jiff::SignedDuration>,
    limit_text: &str,
) -> Finding {
    let (mib, mut reasoning) = suggest_memory(limit, ran);
    if let Some(r) = request {
        reasoning.push_str(&format!(
            " The request stays {}, so scheduling does not change.",
            quantity::human_bytes(r)
        ));
    }
    reasoning.push_str(
        " If usage keeps growing (a leak), a higher limit only buys time: watch it after the change.",
    );
    let ran_text = ran
        .map(|d| format!(" after running {}", span(d)))
        .unwrap_or_default();
    f.cause(format!(
        "The container used more memory than {limit_text} and the kernel killed it{ran_text} (exit 137, OOMKilled).{}",
        match ran {
            Some(d) if d.as_secs() < 60 => {
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
    )))
}

pub(super) fn restarting(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let pod = name_of(&rep.metadata);
    let status = status_of(rep, &g.container, g.init);
    let last = status.and_then(last_terminated);
    let restarts = status.map_or(0, |c| c.restart_count);
    let since = facts::created(&rep.metadata)
        .map(|c| span(s.now.duration_since(c)))
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
