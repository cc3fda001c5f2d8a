//! `/metrics` of a running `platbot serve`, read as Prometheus reads it: after one chat
//! turn it shows the message, its tool call, the planner's latency and the Kubernetes
//! requests, in text that parses line by line, with nothing about who asked what.

use std::collections::BTreeMap;

use serde_json::json;

use crate::support::serve;

/// One sample line: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the text exposition format strictly: `# HELP`/`# TYPE`/`# UNIT`/`# EOF` comments,
/// then `name{label="value",...} number` samples; any other line fails the test.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut words = rest.splitn(3, ' ');
            match (words.next(), words.next()) {
                (Some("TYPE"), Some(name)) => {
                    assert!(typed.insert(name.to_owned()), "TYPE twice for {name}");
                }
                (Some("HELP" | "UNIT"), Some(_)) | (Some("EOF"), None) => {}
                _ => panic!("bad comment line: {line}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label in: {line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        assert!(
            typed.iter().any(|t| name.starts_with(t.as_str())),
            "sample before its TYPE: {line}"
        );
        samples.push((name.to_owned(), labels, value));
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn a_chat_turn_shows_in_the_metrics() {
    let served = serve::start(&[("PLATBOT_METRICS_LISTEN", "127.0.0.1:0")]);
    let metrics_url = served
        .metrics
        .clone()
        .expect("the metrics listener is announced");
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v1/messages", served.base))
        .json(
            &json!({"conversation": "m1", "user": "priya.nair", "text": "how is cart doing in prod?"}),
        )
        .send()
        .await
        .expect("message");
    assert_eq!(resp.status(), 200);

    let resp = http.get(&metrics_url).send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = resp.text().await.expect("body");
    let samples = parse(&text);

    let turn = [("surface", "http"), ("outcome", "answered")];
    assert_eq!(
        value(&samples, "platbot_messages_total", &turn),
        Some(1.0),
        "{text}"
    );
    let tool = value(&samples, "platbot_tool_calls_total", &[("result", "ok")]);
    assert_eq!(tool, Some(1.0), "{text}");
    let planned = value(
        &samples,
        "platbot_planner_seconds_count",
        &[("planner", "alias")],
    );
    assert_eq!(planned, Some(1.0), "{text}");
    let kube = value(
        &samples,
        "platbot_kube_request_seconds_count",
        &[("verb", "get")],
    );
    assert!(kube.is_some_and(|n| n >= 1.0), "{text}");
    for state in ["proposed", "executing", "succeeded"] {
        assert_eq!(
            value(&samples, "platbot_proposals", &[("state", state)]),
            Some(0.0),
            "{text}"
        );
    }
    // Nothing about who asked or what they asked.
    for private in ["priya", "m1", "cart in prod"] {
        assert!(!text.contains(private), "{private} in the metrics:\n{text}");
    }

    // The API's listener serves the same text; the metrics listener serves nothing of the API.
    let on_api = http
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .expect("scrape");
    assert_eq!(on_api.status(), 200);
    let metrics_base = metrics_url.trim_end_matches("/metrics");
    let api = http
        .post(format!("{metrics_base}/api/v1/messages"))
        .json(&json!({"conversation": "m2", "user": "priya.nair", "text": "hi"}))
        .send()
        .await
        .expect("request");
    assert_eq!(api.status(), 404);
}
