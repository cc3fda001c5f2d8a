//! `pod_logs`: the last lines of a service's pods, per pod and container, with values that
//! look like secrets redacted and the whole cut to what fits in a chat message.
//!
//! Logs are data (invariant 6): they are shown, never interpreted as instructions.

use crate::domain::ToolName;
use std::sync::LazyLock;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use regex::Regex;
use serde::Serialize;
use serde_json::json;

use super::args::PodLogsArgs;
use super::scope::{ServiceScope, namespace_in, service_scope};
use super::{ActionContext, ActionError, ActionOutput, ReadAction};
use crate::domain::Environment;
use crate::platform::PlatformError;
use crate::platform::kube::api_code;

/// Lines per container when the user does not say.
pub const DEFAULT_LINES: u32 = 20;
/// The most lines anyone can ask for per container.
pub const MAX_LINES: u32 = 5000;
/// Pods shown per environment (the unhealthy ones first).
pub const MAX_PODS: usize = 5;
/// Characters of log text in one chat reply, across every pod.
pub const CHAT_BUDGET: usize = 3500;
/// A longer line is cut (minified JSON, stack dumps on one line).
pub const MAX_LINE_CHARS: usize = 300;

/// Bytes read per container instance at most (the API's `limitBytes`), so one chatty
/// or hostile container cannot exhaust memory. The kubelet counts them from the start of
/// the requested tail; what is cut is said under the logs.
pub const MAX_LOG_BYTES: usize = 256 * 1024;

/// Every replacement starts so (`[REDACTED]`, `[REDACTED jwt]`, ...).
const REDACTED_PREFIX: &str = "[REDACTED";

/// Secret-looking values and what replaces them. Key-value pairs keep the key so the line
/// still says what was there.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // user:password@ in URLs and connection strings. The password runs to the last `@`
        // of the token, since unencoded passwords hold `/`, `:` and `@` too (hiding part of
        // a path with an `@` in it is the safe mistake).
        (
            r#"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@"'<>]*:)[^\s"'<>]*@"#,
            "${1}[REDACTED]@",
        ),
        // Authorization headers.
        (
            r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*(?:bearer\s+|basic\s+|token\s+)?)[^\s,;]+",
            "${1}[REDACTED]",
        ),
        (r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}", "${1}[REDACTED]"),
        // key=value, key: value, "key": "value" for secret-sounding keys.
        (
            r#"(?i)(["']?[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id|cookie|signature)[\w.-]*["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&}\]]+)"#,
            "${1}[REDACTED]",
        ),
        // Well-known token shapes.
        (
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            "[REDACTED jwt]",
        ),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "[REDACTED aws key]"),
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", "[REDACTED github token]"),
        (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", "[REDACTED slack token]"),
        (r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", "[REDACTED api key]"),
        (r"\bAIza[0-9A-Za-z_-]{35}\b", "[REDACTED api key]"),
    ]
    .into_iter()
    .filter_map(|(pattern, replacement)| match Regex::new(pattern) {
        Ok(re) => Some((re, replacement)),
        Err(e) => {
            // Unreachable in a tested build (the unit tests compile every rule).
            tracing::error!(error = %e, pattern, "bad redaction rule");
            None
        }
    })
    .collect()
});

/// The first or last line of a PEM private key (PKCS#1/#8, EC, OpenSSH, encrypted, PGP).
static PEM_MARKER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"-----(BEGIN|END) [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
        .inspect_err(|e| tracing::error!(error = %e, "bad PEM marker rule"))
        .ok()
});

const REDACTED_KEY: &str = "[REDACTED private key]";

/// A log's text with every PEM private key block replaced, across lines: from BEGIN to END,
/// from BEGIN to the end when the tail (or `limit_bytes`) cut the END off, and from the
/// start (or the previous block) to an END whose BEGIN was cut off.
fn redact_private_keys(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(marker) = PEM_MARKER.as_ref() else {
        return text.into();
    };
    if !marker.is_match(text) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    // Where the text not yet copied starts, and whether it is inside a key.
    let mut kept_from = 0;
    let mut open_at: Option<usize> = None;
    for m in marker.captures_iter(text) {
        let (Some(whole), Some(kind)) = (m.get(0), m.get(1)) else {
            continue;
        };
        match (kind.as_str(), open_at) {
            ("BEGIN", None) => open_at = Some(whole.start()),
            // A second BEGIN inside a block changes nothing: all of it is hidden.
            ("BEGIN", Some(_)) => {}
            (_, start) => {
                out.push_str(&text[kept_from..start.unwrap_or(kept_from)]);
                out.push_str(REDACTED_KEY);
                kept_from = whole.end();
                open_at = None;
            }
        }
    }
    match open_at {
        Some(start) => {
            out.push_str(&text[kept_from..start]);
            out.push_str(REDACTED_KEY);
        }
        None => out.push_str(&text[kept_from..]),
    }
    out.into()
}

/// One container instance's log as read.
#[derive(Debug, Clone, PartialEq)]
pub struct LogText {
    /// Invalid UTF-8 replaced, so a binary line or a cut inside a character does not lose
    /// the whole log.
    pub text: String,
    /// The read stopped at [`MAX_LOG_BYTES`].
    pub cut: bool,
}

/// Reads one container instance's log, at most [`MAX_LOG_BYTES`]: asked of the API as
/// `limitBytes` and enforced while reading, so a server that ignores it cannot make the
/// bot hold more.
pub async fn read_log(
    api: &Api<Pod>,
    pod: &str,
    mut params: LogParams,
) -> Result<LogText, kube::Error> {
    use futures::AsyncReadExt;
    params.limit_bytes = Some(i64::try_from(MAX_LOG_BYTES).unwrap_or(i64::MAX));
    let stream = api.log_stream(pod, &params).await?;
    let stream = std::pin::pin!(stream);
    let mut bytes = Vec::new();
    stream
        .take(MAX_LOG_BYTES as u64)
        .read_to_end(&mut bytes)
        .await
        .map_err(kube::Error::ReadEvents)?;
    Ok(LogText {
        cut: bytes.len() >= MAX_LOG_BYTES,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// A container's log as lines for chat: secrets redacted (multi-line ones first), each
/// line capped.
pub fn redact_log(text: &str) -> Vec<String> {
    redact_private_keys(text).lines().map(redact).collect()
}

/// One log line with secret-looking values replaced and its length capped for chat.
pub fn redact(line: &str) -> String {
    let mut out = redact_private_keys(line.trim_end()).into_owned();
    for (re, replacement) in RULES.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *replacement).into_owned();
        }
    }
    if out.chars().count() > MAX_LINE_CHARS {
        out = out.chars().take(MAX_LINE_CHARS).collect::<String>() + " [...]";
    }
    out
}

/// Whether a redaction happened (for the note under the logs).
fn was_redacted(line: &str) -> bool {
    line.contains(REDACTED_PREFIX)
}

/// The last lines of one container instance.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerLog {
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub lines: Vec<String>,
    /// The read stopped at [`MAX_LOG_BYTES`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut_at_limit: bool,
    /// Why it could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct PodLogs;

/// Pods worth showing first: not ready or restarting, then the newest.
fn order_pods(pods: &mut [Pod]) {
    pods.sort_by_key(|p| {
        let statuses = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        let troubled =
            statuses.iter().any(|c| !c.ready || c.restart_count > 0) || statuses.is_empty();
        let created = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second())
            .unwrap_or_default();
        (!troubled, std::cmp::Reverse(created))
    });
}

/// Which container instances to read from a pod: its default container (or every
/// container, up to three), the previous instance when asked, or by default when the
/// container has restarted and is not running now (so the current instance says nothing).
fn instances(pod: &Pod, previous: Option<bool>) -> Vec<(String, bool)> {
    let spec_containers: Vec<String> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    let default = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
        .filter(|d| spec_containers.contains(d));
    let containers: Vec<String> = match default {
        Some(d) => vec![d.clone()],
        None => spec_containers.into_iter().take(3).collect(),
    };
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for c in containers {
        let status = statuses.iter().find(|s| s.name == c);
        let restarted = status.is_some_and(|s| s.restart_count > 0);
        let running = status
            .and_then(|s| s.state.as_ref())
            .is_some_and(|st| st.running.is_some());
        match previous {
            Some(true) => out.push((c, true)),
            Some(false) => out.push((c, false)),
            None => {
                out.push((c.clone(), false));
                if restarted && !running {
                    out.push((c, true));
                }
            }
        }
    }
    out
}

/// The last lines of every block that fit in the chat budget, shared evenly; returns the
/// text and whether anything was cut.
fn render_blocks(blocks: &[(String, &ContainerLog)], lines_asked: usize) -> (String, bool) {
    let mut text = String::new();
    let mut cut = false;
    let per_block = CHAT_BUDGET / blocks.len().max(1);
    for (header, log) in blocks {
        text.push_str(header);
        text.push('\n');
        if let Some(e) = &log.error {
            text.push_str(&format!("  (could not read: {e})\n"));
            continue;
        }
        if log.lines.is_empty() {
            text.push_str("  (no output)\n");
            continue;
        }
        let mut shown: Vec<&String> = Vec::new();
        let mut used = 0;
        for line in log.lines.iter().rev() {
            if used + line.len() + 3 > per_block && !shown.is_empty() {
                break;
            }
            used += line.len() + 3;
            shown.push(line);
        }
        shown.reverse();
        let hidden = log.lines.len() - shown.len();
        if hidden > 0 {
            cut = true;
            text.push_str(&format!(
                "  ({hidden} earlier of {} lines not shown here)\n",
                log.lines.len().min(lines_asked)
            ));
        }
        for line in shown {
            text.push_str(&format!("  | {line}\n"));
        }
    }
    (text, cut)
}

fn label_selector(d: &Deployment) -> Option<String> {
    let labels = d.spec.as_ref()?.selector.match_labels.as_ref()?;
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

#[async_trait::async_trait]
impl ReadAction for PodLogs {
    type Args = PodLogsArgs;
    const NAME: ToolName = ToolName::PodLogs;
    const DOES: &'static str = "show pod logs";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let ServiceScope { service, envs } =
            service_scope(ctx, &args.service, args.environment.as_ref())?;
        let lines = args.lines.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES);
        let per_env = envs.iter().map(|env| async move {
            let ns = namespace_in(ctx, service, env)?;
            let logs = read_env(
                ctx,
                env,
                ns.as_str(),
                &service.kubernetes_id,
                lines,
                args.previous,
            )
            .await;
            Ok::<_, ActionError>((*env, ns, logs))
        });
        let mut sections = Vec::new();
        let mut data = Vec::new();
        let mut blocks: Vec<(String, ContainerLog)> = Vec::new();
        for result in join_all(per_env).await {
            let (env, ns, logs) = result?;
            match logs {
                Ok(logs) if logs.is_empty() => {
                    sections.push(format!(
                        "- {env} ({ns}): no pods of `{}`",
                        service.kubernetes_id
                    ));
                    data.push(json!({"environment": env, "namespace": ns, "logs": []}));
                }
                Ok(logs) => {
                    for l in &logs {
                        let which = if l.previous {
                            "previous instance"
                        } else {
                            "current"
                        };
                        blocks.push((
                            format!("{env} {}/{} ({which}):", l.pod, l.container),
                            l.clone(),
                        ));
                    }
                    data.push(json!({"environment": env, "namespace": ns, "logs": logs}));
                }
                Err(e) => {
                    sections.push(format!("- {env} ({ns}): could not read: {e}"));
                    data.push(json!({"environment": env, "namespace": ns, "error": e.to_string()}));
                }
            }
        }
        let refs: Vec<(String, &ContainerLog)> =
            blocks.iter().map(|(h, l)| (h.clone(), l)).collect();
        let (body, cut) = render_blocks(&refs, lines as usize);
        let mut text = format!(
            "Last {lines} log lines of *{}* per pod{}:\n",
            service.name,
            if envs.len() == 1 {
                format!(" in {}", envs[0])
            } else {
                String::new()
            }
        );
        text.push_str(&body);
        for s in &sections {
            text.push_str(s);
            text.push('\n');
        }
        if blocks
            .iter()
            .any(|(_, l)| l.lines.iter().any(|x| was_redacted(x)))
        {
            text.push_str("Values that look like secrets are shown as [REDACTED].\n");
        }
        if blocks.iter().any(|(_, l)| l.cut_at_limit) {
            text.push_str(&format!(
                "A log longer than {} KiB was read only that far.\n",
                MAX_LOG_BYTES / 1024
            ));
        }
        if cut {
            text.push_str(
                "Cut to fit the chat; ask for fewer lines, or use `kubectl logs` for everything.\n",
            );
        }
        Ok(ActionOutput::new(
            text.trim_end().to_owned(),
            json!({"service": service.name, "lines": lines, "environments": data}),
        ))
    }
}

/// The logs of up to [`MAX_PODS`] pods of one workload in one environment.
async fn read_env(
    ctx: &ActionContext<'_>,
    env: &Environment,
    namespace: &str,
    workload: &str,
    lines: u32,
    previous: Option<bool>,
) -> Result<Vec<ContainerLog>, PlatformError> {
    let cluster = ctx.platform.cluster_for(env)?;
    let client = cluster.client_for(ctx.actor)?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let selector = match deployments.get_opt(workload).await {
        Ok(Some(d)) => label_selector(&d),
        Ok(None) => None,
        Err(e) if api_code(&e) == Some(404) => None,
        Err(e) => return Err(cluster.explain(ctx.actor, e).into()),
    }
    .unwrap_or_else(|| format!("app.kubernetes.io/name={workload}"));
    let pods_api: Api<Pod> = Api::namespaced(client, namespace);
    let mut pods = match pods_api
        .list(&ListParams::default().labels(&selector))
        .await
    {
        Ok(list) => list.items,
        Err(e) if api_code(&e) == Some(404) => Vec::new(),
        Err(e) => return Err(cluster.explain(ctx.actor, e).into()),
    };
    order_pods(&mut pods);
    let wanted: Vec<(String, String, bool)> = pods
        .iter()
        .take(MAX_PODS)
        .flat_map(|p| {
            let name = p.metadata.name.clone().unwrap_or_default();
            instances(p, previous)
                .into_iter()
                .map(move |(c, prev)| (name.clone(), c, prev))
        })
        .collect();
    let reads = wanted.iter().map(|(pod, container, prev)| {
        let api = pods_api.clone();
        async move {
            let params = LogParams {
                container: Some(container.clone()),
                previous: *prev,
                tail_lines: Some(i64::from(lines)),
                ..LogParams::default()
            };
            let result = read_log(&api, pod, params).await;
            ContainerLog {
                pod: pod.clone(),
                container: container.clone(),
                previous: *prev,
                lines: match &result {
                    Ok(log) => redact_log(&log.text),
                    Err(_) => Vec::new(),
                },
                cut_at_limit: result.as_ref().is_ok_and(|log| log.cut),
                error: result
                    .err()
                    .map(|e| cluster.explain(ctx.actor, e).to_string()),
            }
        }
    });
    Ok(join_all(reads).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles() {
        assert_eq!(RULES.len(), 10);
        assert!(PEM_MARKER.is_some());
    }

    #[test]
    fn secret_looking_values_are_redacted_and_the_rest_is_kept() {
        let cases = [
            ("password=hunter2 user=bob", "password=[REDACTED] user=bob"),
            (
                r#"{"msg":"login","db_password":"s3cr3t","user":"ann"}"#,
                r#"{"msg":"login","db_password":[REDACTED],"user":"ann"}"#,
            ),
            (
                "connecting to postgres://ledger:pa55w0rd@db.internal:5432/ledger",
                "connecting to postgres://ledger:[REDACTED]@db.internal:5432/ledger",
            ),
            (
                "Authorization: Bearer abc.def.ghijklmnop",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "API_KEY: sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "API_KEY: [REDACTED]",
            ),
            (
                "using key AKIAIOSFODNN7EXAMPLE for s3",
                "using key [REDACTED aws key] for s3",
            ),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "token [REDACTED jwt]",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----MIIE",
                "[REDACTED private key]",
            ),
            (
                "slack xoxb-1234567890-abcdefghij",
                "slack [REDACTED slack token]",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
        let plain = "panic: config: required environment variable SEARCH_OPENSEARCH_URL is not set";
        assert_eq!(redact(plain), plain);
        let long = "x".repeat(1000);
        assert!(redact(&long).len() < 320);
    }

    const KEY_BODY: [&str; 3] = [
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
        "LxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo",
    ];

    fn shown(log: &str) -> String {
        redact_log(log).join("\n")
    }

    #[test]
    fn a_private_key_is_hidden_from_begin_to_end_across_lines() {
        let log = format!(
            "loading key\n-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\nlistening on :8443",
            KEY_BODY.join("\n")
        );
        assert_eq!(
            redact_log(&log),
            [
                "loading key",
                "[REDACTED private key]",
                "listening on :8443"
            ]
        );
        // Cut off by the tail at the start (no BEGIN) or at the end (no END), and two keys.
        let head_cut = format!(
            "{}\n-----END PRIVATE KEY----- done\nnext",
            KEY_BODY[1..].join("\n")
        );
        assert_eq!(shown(&head_cut), "[REDACTED private key] done\nnext");
        let tail_cut = format!(
            "ok\nkey: -----BEGIN OPENSSH PRIVATE KEY-----\n{}",
            KEY_BODY.join("\n")
        );
        assert_eq!(shown(&tail_cut), "ok\nkey: [REDACTED private key]");
        let two = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{0}\n-----END EC PRIVATE KEY-----\nbetween\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n{0}\n-----END ENCRYPTED PRIVATE KEY-----",
            KEY_BODY[0]
        );
        assert_eq!(
            shown(&two),
            "[REDACTED private key]\nbetween\n[REDACTED private key]"
        );
        for log in [log, head_cut, tail_cut, two] {
            for body in KEY_BODY {
                assert!(!shown(&log).contains(&body[..20]), "{log}");
            }
        }
        // A certificate is public and stays.
        let cert = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----";
        assert_eq!(shown(cert), cert);
    }

    #[test]
    fn url_passwords_with_any_characters_are_hidden_up_to_the_last_at() {
        for (line, expected) in [
            (
                "db postgres://u:ab/cd@h:5432/db",
                "db postgres://u:[REDACTED]@h:5432/db",
            ),
            (
                "amqp://app:p@ss:w/rd@rabbit/vhost ok",
                "amqp://app:[REDACTED]@rabbit/vhost ok",
            ),
            (
                "redis://:s3cr3t@cache:6379",
                "redis://:[REDACTED]@cache:6379",
            ),
            (
                r#"{"url":"mysql://root:x/y@db","user":"a@b"}"#,
                r#"{"url":"mysql://root:[REDACTED]@db","user":"a@b"}"#,
            ),
            (
                "GET http://host:8080/health 200",
                "GET http://host:8080/health 200",
            ),
        ] {
            assert_eq!(redact(line), expected, "{line}");
        }
    }

    #[test]
    fn blocks_share_the_chat_budget_and_say_what_was_cut() {
        let big = ContainerLog {
            pod: "p".into(),
            container: "c".into(),
            previous: false,
            lines: (0..500)
                .map(|i| format!("line {i} {}", "y".repeat(40)))
                .collect(),
            cut_at_limit: false,
            error: None,
        };
        let (text, cut) = render_blocks(&[("p/c:".into(), &big)], 500);
        assert!(cut);
        assert!(text.len() <= CHAT_BUDGET + 200, "{}", text.len());
        assert!(text.contains("line 499"));
        assert!(!text.contains("line 0 "));
        assert!(text.contains("earlier of 500 lines not shown"));
    }
}
