//! Small accessors over API objects that several analyzers share: times, label selectors,
//! ownership, events of an object, exit codes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Event, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, Time};

use super::finding::EventEvidence;

pub fn time(t: &Time) -> Timestamp {
    t.0
}

pub fn micro_time(t: &MicroTime) -> Timestamp {
    t.0
}

pub fn created(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Timestamp> {
    meta.creation_timestamp.as_ref().map(time)
}

pub fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Whether `labels` satisfy the selector (matchLabels and matchExpressions). An empty
/// selector matches nothing here: a workload always has one, and "everything" is never
/// what a diagnosis means.
pub fn selects(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let match_labels = selector.match_labels.as_ref();
    let exprs = selector.match_expressions.as_deref().unwrap_or_default();
    if match_labels.is_none_or(BTreeMap::is_empty) && exprs.is_empty() {
        return false;
    }
    let labels_ok = match_labels
        .map(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .unwrap_or(true);
    labels_ok
        && exprs.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let have = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => have.is_some_and(|v| values.contains(v)),
                "NotIn" => have.is_none_or(|v| !values.contains(v)),
                "Exists" => have.is_some(),
                "DoesNotExist" => have.is_none(),
                _ => false,
            }
        })
}

/// Whether a plain `key: value` selector (a Service's) matches the labels.
pub fn map_selects(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)))
}

/// The name of the controller that owns an object (a Pod's ReplicaSet, a ReplicaSet's Deployment).
pub fn owner<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    kind: &str,
) -> Option<&'a str> {
    meta.owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.kind == kind)
        .map(|o| o.name.as_str())
}

/// When an event was first and last seen, and how often: core/v1 `count` and timestamps,
/// or the events.k8s.io fields (`series`, `eventTime`) newer components fill instead.
pub fn event_counts(e: &Event) -> (i64, Option<Timestamp>, Option<Timestamp>) {
    let count = e
        .count
        .map(i64::from)
        .or_else(|| e.series.as_ref().and_then(|s| s.count).map(i64::from))
        .unwrap_or(1);
    let first = e
        .first_timestamp
        .as_ref()
        .map(time)
        .or_else(|| e.event_time.as_ref().map(micro_time));
    let last = e
        .last_timestamp
        .as_ref()
        .map(time)
        .or_else(|| {
            e.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(micro_time)
        })
        .or(first);
    (count, first, last)
}

pub fn event_evidence(e: &Event) -> EventEvidence {
    let (count, first_seen, last_seen) = event_counts(e);
    EventEvidence {
        object: format!(
            "{}/{}",
            e.involved_object.kind.as_deref().unwrap_or("?"),
            e.involved_object.name.as_deref().unwrap_or("?")
        ),
        type_: e.type_.clone().unwrap_or_else(|| "Normal".into()),
        reason: e.reason.clone().unwrap_or_default(),
        message: e.message.clone().unwrap_or_default().trim().to_owned(),
        count,
        first_seen,
        last_seen,
    }
}

/// Events about one object, most recent first.
pub fn events_of<'a>(events: &'a [Event], kind: &str, name: &str) -> Vec<&'a Event> {
    let mut out: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(event_counts(e).2));
    out
}

/// What a container's exit code usually means.
pub fn exit_code_meaning(code: i32) -> &'static str {
    match code {
        0 => "exited normally (0), yet it is expected to keep running",
        1 => "the application exited with a generic error (1)",
        2 => "the application exited with a usage or configuration error (2)",
        126 => "the command is not executable (126)",
        127 => "the command was not found in the image (127)",
        128 => "invalid exit argument (128)",
        134 => "aborted (SIGABRT, 134), often an assertion or a native crash",
        137 => "killed with SIGKILL (137): out of memory, a failed liveness probe or a forced stop",
        139 => "segmentation fault (SIGSEGV, 139)",
        143 => {
            "stopped with SIGTERM (143): a liveness probe, a rollout or a node drain asked it to stop"
        }
        c if c > 128 => "killed by a signal",
        _ => "the application exited with an error",
    }
}

/// A pod's spec, or an empty one.
pub fn pod_spec(pod: &Pod) -> Option<&PodSpec> {
    pod.spec.as_ref()
}

pub fn container<'a>(spec: Option<&'a PodSpec>, name: &str) -> Option<&'a Container> {
    spec.and_then(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.as_deref().unwrap_or_default())
            .find(|c| c.name == name)
    })
}

/// The line of a log that most likely says what went wrong: the first panic, fatal or
/// exception line, else the last line mentioning an error.
pub fn key_log_line(lines: &[String]) -> Option<String> {
    const STRONG: &[&str] = &[
        "panic:",
        "fatal",
        "exception",
        "traceback",
        "caused by",
        "segmentation fault",
        "out of memory",
        "outofmemory",
        "killed",
    ];
    const WEAK: &[&str] = &["error", "err=", "failed", "warn", "refused", "timeout"];
    let lower: Vec<String> = lines.iter().map(|l| l.to_lowercase()).collect();
    let strong = lower
        .iter()
        .position(|l| STRONG.iter().any(|w| l.contains(w)));
    let weak = || {
        lower
            .iter()
            .rposition(|l| WEAK.iter().any(|w| l.contains(w)))
    };
    strong
        .or_else(weak)
        .map(|i| lines[i].trim().chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selectors_match_like_the_api_server() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "search")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["batch".into()]),
            }]),
        };
        assert!(selects(&sel, Some(&labels(&[("app", "search")]))));
        assert!(!selects(
            &sel,
            Some(&labels(&[("app", "search"), ("tier", "batch")]))
        ));
        assert!(!selects(&sel, Some(&labels(&[("app", "cart")]))));
        assert!(!selects(&LabelSelector::default(), Some(&labels(&[]))));
        assert!(map_selects(
            &labels(&[("app", "search")]),
            Some(&labels(&[("app", "search"), ("x", "y")]))
        ));
        assert!(!map_selects(&labels(&[]), Some(&labels(&[("a", "b")]))));
    }

    #[test]
    fn the_key_log_line_is_the_panic_not_the_noise() {
        let lines: Vec<String> = [
            "starting",
            "loading config",
            "panic: config: required environment variable X is not set",
            "goroutine 1 [running]:",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(
            key_log_line(&lines).as_deref(),
            Some("panic: config: required environment variable X is not set")
        );
        let calm: Vec<String> = vec!["ok".into(), "serving".into()];
        assert_eq!(key_log_line(&calm), None);
    }
}
