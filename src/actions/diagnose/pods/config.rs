//! Containers that never start for their configuration: a missing ConfigMap, Secret or
//! key, a failing init container, references to objects that do not exist.

use super::*;

pub(super) fn config_error(s: &Snapshot, g: &Group<'_>) -> Finding {
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
pub(super) fn missing_from_message(message: &str) -> Option<String> {
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

pub(super) fn init_failed(s: &Snapshot, g: &Group<'_>) -> Finding {
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

/// References to ConfigMaps and Secrets that point at nothing, where no other finding
/// already explains them: optional ones (the app starts without the value) and ones the
/// running pods got before the object changed (their next restart will fail).
pub(super) fn broken_refs(s: &Snapshot, groups: &[Group<'_>]) -> Vec<Finding> {
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
                    ago(s.now.duration_since(changed))
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
