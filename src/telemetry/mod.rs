//! Telemetry: the process's Prometheus metrics and the log setup (`logging`).
//!
//! One registry per process behind free functions, so the code that counts (the engine,
//! approvals, the Kubernetes layer, the Slack Web API, the docs index) only says what
//! happened. Labels come from closed sets (surfaces, outcomes, tool names, Kubernetes
//! verbs, proposal states): never a user, a conversation, arguments or proposal content,
//! so `/metrics` can be scraped without authentication.

mod kube_layer;
pub mod logging;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use kube_layer::KubeMetricsLayer;

/// The content type of [`render`]'s text (OpenMetrics, which Prometheus scrapes natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a chat message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    Answered,
    /// The turn failed and the user got an apology.
    Failed,
    /// Refused before anything ran (too long).
    Refused,
}

/// Which planner chose what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannerKind {
    Alias,
    Llm,
}

/// What became of one tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolResult {
    /// A read that answered.
    Ok,
    /// A read that failed.
    Error,
    /// A mutation planned into a proposal.
    Proposed,
    /// A mutation with nothing to change.
    NoChange,
    /// A mutation refused before it became a proposal (invalid, not allowed, dry run failed).
    Refused,
    /// A confirmed mutation that succeeded or failed when it ran.
    Succeeded,
    Failed,
}

impl MessageOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
}

impl PlannerKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Alias => "alias",
            Self::Llm => "llm",
        }
    }
}

impl ToolResult {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Proposed => "proposed",
            Self::NoChange => "no_change",
            Self::Refused => "refused",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    surface: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlannerLabels {
    planner: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabels {
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KubeErrorLabels {
    verb: &'static str,
    /// `4xx`, `5xx` or `transport`.
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 33 s: alias planning is sub-millisecond, an LLM turn or a slow API seconds.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

struct Metrics {
    registry: Registry,
    messages: Family<MessageLabels, Counter>,
    planner_seconds: Histograms<PlannerLabels>,
    llm_tokens: Family<KindLabels, Counter>,
    llm_errors: Family<KindLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    proposals: Family<StateLabels, Gauge>,
    confirmation_refusals: Family<ReasonLabels, Counter>,
    kube_seconds: Histograms<VerbLabels>,
    kube_errors: Family<KubeErrorLabels, Counter>,
    slack_rate_limited: Family<MethodLabels, Counter>,
    discord_rate_limited: Counter,
    docs_chunks: Gauge,
    docs_query_seconds: Histogram,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("platbot");
        let m = Self {
            messages: Family::default(),
            planner_seconds: Family::new_with_constructor(latency),
            llm_tokens: Family::default(),
            llm_errors: Family::default(),
            tool_calls: Family::default(),
            proposals: Family::default(),
            confirmation_refusals: Family::default(),
            kube_seconds: Family::new_with_constructor(latency),
            kube_errors: Family::default(),
            slack_rate_limited: Family::default(),
            discord_rate_limited: Counter::default(),
            docs_chunks: Gauge::default(),
            docs_query_seconds: latency(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "messages",
            "Chat messages handled, by surface and outcome",
            m.messages.clone(),
        );
        r.register(
            "planner_seconds",
            "Time to plan a message, by planner",
            m.planner_seconds.clone(),
        );
        r.register(
            "llm_tokens",
            "LLM tokens used, prompt or completion",
            m.llm_tokens.clone(),
        );
        r.register(
            "llm_errors",
            "Failed LLM requests, by kind",
            m.llm_errors.clone(),
        );
        r.register(
            "tool_calls",
            "Tool calls, by tool and result",
            m.tool_calls.clone(),
        );
        r.register(
            "proposals",
            "Proposals in the store, by state",
            m.proposals.clone(),
        );
        r.register(
            "confirmation_refusals",
            "Confirmations refused, by reason",
            m.confirmation_refusals.clone(),
        );
        r.register(
            "kube_request_seconds",
            "Kubernetes API request latency, by verb",
            m.kube_seconds.clone(),
        );
        r.register(
            "kube_request_errors",
            "Failed Kubernetes API requests, by verb and class",
            m.kube_errors.clone(),
        );
        r.register(
            "slack_rate_limited",
            "Slack Web API answers with 429, by method",
            m.slack_rate_limited.clone(),
        );
        r.register(
            "discord_rate_limited",
            "Discord REST waits for a rate limit (a 429 or an exhausted bucket)",
            m.discord_rate_limited.clone(),
        );
        r.register(
            "docs_index_chunks",
            "Chunks in the docs index",
            m.docs_chunks.clone(),
        );
        r.register(
            "docs_query_seconds",
            "Docs index query latency",
            m.docs_query_seconds.clone(),
        );
        Self { registry, ..m }
    }
}

pub fn message(surface: &'static str, outcome: MessageOutcome) {
    METRICS
        .messages
        .get_or_create(&MessageLabels {
            surface,
            outcome: outcome.as_str(),
        })
        .inc();
}

pub fn planner(kind: PlannerKind, elapsed: Duration) {
    METRICS
        .planner_seconds
        .get_or_create(&PlannerLabels {
            planner: kind.as_str(),
        })
        .observe(elapsed.as_secs_f64());
}

pub fn llm_tokens(prompt: u32, completion: u32) {
    for (kind, n) in [("prompt", prompt), ("completion", completion)] {
        METRICS
            .llm_tokens
            .get_or_create(&KindLabels { kind })
            .inc_by(u64::from(n));
    }
}

/// `kind`: timeout, unreachable, api, bad_response, circuit_open.
pub fn llm_error(kind: &'static str) {
    METRICS.llm_errors.get_or_create(&KindLabels { kind }).inc();
}

pub fn tool_call(tool: &str, result: ToolResult) {
    METRICS
        .tool_calls
        .get_or_create(&ToolLabels {
            tool: tool.to_owned(),
            result: result.as_str(),
        })
        .inc();
}

/// Sets the proposal gauge from the store's counts (at scrape time); states not given are 0.
pub fn proposals(all_states: &[&'static str], counts: &[(&'static str, i64)]) {
    for state in all_states {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        METRICS
            .proposals
            .get_or_create(&StateLabels { state })
            .set(n);
    }
}

pub fn confirmation_refused(reason: &'static str) {
    METRICS
        .confirmation_refusals
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// One Kubernetes API request; `error`: `4xx`, `5xx` or `transport` when it failed.
pub fn kube_request(verb: &'static str, elapsed: Duration, error: Option<&'static str>) {
    METRICS
        .kube_seconds
        .get_or_create(&VerbLabels { verb })
        .observe(elapsed.as_secs_f64());
    if let Some(class) = error {
        METRICS
            .kube_errors
            .get_or_create(&KubeErrorLabels { verb, class })
            .inc();
    }
}

pub fn slack_rate_limited(method: &str) {
    METRICS
        .slack_rate_limited
        .get_or_create(&MethodLabels {
            method: method.to_owned(),
        })
        .inc();
}

pub fn discord_rate_limited() {
    METRICS.discord_rate_limited.inc();
}

pub fn docs_index_chunks(chunks: usize) {
    METRICS
        .docs_chunks
        .set(i64::try_from(chunks).unwrap_or(i64::MAX));
}

pub fn docs_query(elapsed: Duration) {
    METRICS.docs_query_seconds.observe(elapsed.as_secs_f64());
}

/// Every metric in the OpenMetrics text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; an encoder error would leave the text partial.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry) {
        tracing::error!(error = %e, "could not encode the metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_text_with_their_labels() {
        message("terminal", MessageOutcome::Answered);
        tool_call("who_is_on_call", ToolResult::Ok);
        planner(PlannerKind::Alias, Duration::from_micros(300));
        let text = render();
        assert!(
            text.contains(r#"platbot_messages_total{surface="terminal",outcome="answered"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"platbot_tool_calls_total{tool="who_is_on_call",result="ok"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"platbot_planner_seconds_bucket{le="0.001",planner="alias"}"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
