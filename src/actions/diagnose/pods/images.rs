//! ImagePullBackOff / ErrImagePull: whether the tag does not exist, the registry refuses
//! the credentials, or the node cannot reach the registry, told apart by the kubelet's and
//! the runtime's own words.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodSpec};

use super::{
    Group, base, container_label, on_current_revision, pod_events, scope, status_of,
    waiting_message, waiting_reason,
};
use crate::actions::diagnose::facts::{container, events_of, name_of};
use crate::actions::diagnose::finding::{Evidence, Finding, Severity};
use crate::actions::diagnose::snapshot::Snapshot;
use crate::actions::diagnose::workloads::{rollback_candidate, rollback_remedy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullFailure {
    /// The registry answered: there is no such tag or repository.
    NotFound,
    /// The registry refused: no or wrong credentials, or no access to the repository.
    Auth,
    /// The node could not talk to the registry at all.
    Unreachable,
    RateLimited,
    InvalidName,
    Unknown,
}

impl PullFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "image not found",
            Self::Auth => "registry refused the credentials",
            Self::Unreachable => "registry unreachable",
            Self::RateLimited => "registry rate limit",
            Self::InvalidName => "invalid image name",
            Self::Unknown => "pull failed",
        }
    }
}

/// Classifies the pull error text (the waiting message plus the `Failed` events).
pub fn classify_pull(text: &str) -> PullFailure {
    let t = text.to_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&[
        "invalid reference format",
        "invalidimagename",
        "couldn't parse image",
    ]) {
        PullFailure::InvalidName
    } else if any(&["toomanyrequests", "429 too many requests", "rate limit"]) {
        PullFailure::RateLimited
    } else if any(&[
        "no such host",
        "i/o timeout",
        "connection refused",
        "network is unreachable",
        "tls handshake timeout",
        "x509:",
        "certificate signed by unknown authority",
        "context deadline exceeded",
        "client.timeout exceeded",
        "no route to host",
        "connection reset by peer",
    ]) {
        PullFailure::Unreachable
    } else if any(&[
        "unauthorized",
        "401",
        "403 forbidden",
        "authentication required",
        "no basic auth credentials",
        "pull access denied",
        "insufficient_scope",
        "denied: ",
        "access denied",
        "authorization failed",
    ]) {
        // "pull access denied ... repository does not exist or may require 'docker login'"
        // is ambiguous; the registry answered, which rules out the network.
        PullFailure::Auth
    } else if any(&[
        "manifest unknown",
        "not found",
        "notfound",
        "name unknown",
        "repository does not exist",
    ]) {
        PullFailure::NotFound
    } else {
        PullFailure::Unknown
    }
}

fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => host,
        _ => "docker.io",
    }
}

pub(super) fn image_pull(s: &Snapshot, g: &Group<'_>) -> Finding {
    let total = s.workload_pods().len();
    let rep = g.representative();
    let status = status_of(rep, &g.container, g.init);
    let reason = status
        .and_then(waiting_reason)
        .unwrap_or("ImagePullBackOff");
    let spec = rep.spec.as_ref();
    let image = container(spec, &g.container)
        .and_then(|c| c.image.clone())
        .or_else(|| status.map(|c| c.image.clone()))
        .unwrap_or_default();
    let class = classify_pull(&pull_messages(s, rep, status));
    let severity = if g.pods.len() >= total {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = base(
        s,
        g,
        "pod.image_pull",
        severity,
        format!(
            "{} cannot pull its image {}: {reason}, {}",
            container_label(g),
            scope(g, total),
            class.as_str()
        ),
    )
    .with(Evidence::fact(format!("image: {image}")))
    .with(Evidence::fact(format!(
        "state: waiting {reason}: {}",
        status.and_then(waiting_message).unwrap_or("-")
    )))
    .with_all(pod_events(s, rep, 3))
    .doc("troubleshooting-pods.md#imagepullbackoff-and-errimagepull");
    let secrets = (class == PullFailure::Auth).then(|| pull_credentials(s, spec));
    if let Some(secrets) = &secrets {
        f = f.with(Evidence::fact(format!("pull credentials: {secrets}")));
    }
    let (cause, fix) = pull_cause(class, registry_of(&image), &image, secrets.as_deref());
    f = f.cause(cause).fix(fix);
    roll_back_past_the_image(s, g, f, class, &image)
}

/// What the runtime said: the waiting message and the pod's pull failure events.
fn pull_messages(s: &Snapshot, pod: &Pod, status: Option<&ContainerStatus>) -> String {
    let mut text = status
        .and_then(waiting_message)
        .unwrap_or_default()
        .to_owned();
    for e in events_of(&s.events, "Pod", name_of(&pod.metadata)) {
        if matches!(
            e.reason.as_deref(),
            Some("Failed" | "BackOff" | "ErrImagePull")
        ) {
            text.push('\n');
            text.push_str(e.message.as_deref().unwrap_or_default());
        }
    }
    text
}

/// The pod's imagePullSecrets and whether each exists.
fn pull_credentials(s: &Snapshot, spec: Option<&PodSpec>) -> String {
    let pull_secrets: Vec<&str> = spec
        .and_then(|sp| sp.image_pull_secrets.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    if pull_secrets.is_empty() {
        return "the pod has no imagePullSecrets".to_owned();
    }
    pull_secrets
        .iter()
        .map(|n| match s.secrets.get(*n) {
            Some(k) if !k.found => format!("imagePullSecret `{n}` does not exist"),
            Some(_) => format!("imagePullSecret `{n}` exists"),
            None => format!("imagePullSecret `{n}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cause and fix of each kind of pull failure; `secrets` describes the pull
/// credentials of an authentication failure.
fn pull_cause(
    class: PullFailure,
    registry: &str,
    image: &str,
    secrets: Option<&str>,
) -> (String, String) {
    match class {
        PullFailure::NotFound => (
            format!(
                "Registry {registry} answered that `{image}` does not exist: the tag was never pushed (a failed CI publish), was deleted, or is misspelt."
            ),
            "Push the image (or fix the tag in the Deployment).".to_owned(),
        ),
        PullFailure::Auth => (
            format!("Registry {registry} refused the pull: {}; the credentials are missing, expired or lack access to this repository.", secrets.unwrap_or_default()),
            "Create or refresh the pull secret and reference it in `imagePullSecrets` (or the ServiceAccount), or grant it access to the repository.".to_owned(),
        ),
        PullFailure::Unreachable => (
            format!(
                "The node cannot reach registry {registry} (DNS, egress network policy, proxy or TLS); the registry never answered."
            ),
            format!(
                "Check that nodes resolve and reach {registry} (egress rules, proxy, CA certificates); if it is down, wait or use a mirror."
            ),
        ),
        PullFailure::RateLimited => (
            format!("Registry {registry} rate-limits anonymous or per-account pulls."),
            "Authenticate pulls (an imagePullSecret) or use a pull-through cache/mirror."
                .to_owned(),
        ),
        PullFailure::InvalidName => (
            format!("`{image}` is not a valid image reference."),
            "Fix the image name in the Deployment (registry/repository:tag, lowercase).".to_owned(),
        ),
        PullFailure::Unknown => (
            "The pull fails; the event messages above hold the runtime's reason.".to_owned(),
            "Read the Failed events above; try `crictl pull` on the node for the full error."
                .to_owned(),
        ),
    }
}

/// Until the image can be pulled, a rollback to a revision with another image restores
/// the rollout (not for an unreachable or rate-limiting registry: that hits any image).
fn roll_back_past_the_image(
    s: &Snapshot,
    g: &Group<'_>,
    mut f: Finding,
    class: PullFailure,
    image: &str,
) -> Finding {
    let rollback_fixes = matches!(
        class,
        PullFailure::NotFound | PullFailure::Auth | PullFailure::InvalidName
    );
    if rollback_fixes
        && on_current_revision(s, g)
        && let Some(c) = rollback_candidate(s)
        && c.images.iter().all(|(_, i)| *i != image)
    {
        let why = format!(
            "The current revision's image `{image}` cannot be pulled ({}).",
            class.as_str()
        );
        f.fix = format!(
            "{} Until then, roll back to revision {} so the rollout stops waiting on an image that cannot be pulled.",
            f.fix, c.revision
        );
        f.remediation = Some(rollback_remedy(s, &c, &why));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_errors_are_told_apart_by_their_words() {
        let cases = [
            (
                "Failed to pull image \"r.example.com/a/b:v1\": Error response from daemon: manifest for r.example.com/a/b:v1 not found: manifest unknown: manifest unknown",
                PullFailure::NotFound,
            ),
            (
                "rpc error: code = NotFound desc = failed to pull and unpack image \"r/a:v1\": failed to resolve reference \"r/a:v1\": r/a:v1: not found",
                PullFailure::NotFound,
            ),
            (
                "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
                PullFailure::Auth,
            ),
            (
                "pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                PullFailure::Auth,
            ),
            (
                "Get \"https://registry.internal/v2/\": dial tcp: lookup registry.internal on 10.96.0.10:53: no such host",
                PullFailure::Unreachable,
            ),
            (
                "Get \"https://r.example.com/v2/\": dial tcp 10.1.2.3:443: i/o timeout",
                PullFailure::Unreachable,
            ),
            (
                "Get \"https://r.example.com/v2/\": x509: certificate signed by unknown authority",
                PullFailure::Unreachable,
            ),
            (
                "toomanyrequests: You have reached your pull rate limit.",
                PullFailure::RateLimited,
            ),
            (
                "Failed to apply default image tag \"Bad:Name\": couldn't parse image reference \"Bad:Name\": invalid reference format",
                PullFailure::InvalidName,
            ),
            ("something odd", PullFailure::Unknown),
        ];
        for (text, expected) in cases {
            assert_eq!(classify_pull(text), expected, "{text}");
        }
        assert_eq!(
            registry_of("registry.example.com/a/b:v1"),
            "registry.example.com"
        );
        assert_eq!(registry_of("nginx:1.27"), "docker.io");
        assert_eq!(registry_of("library/nginx"), "docker.io");
    }
}
