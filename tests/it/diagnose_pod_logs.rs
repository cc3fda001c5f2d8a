//! `pod_logs`: the last lines per pod, the crashed instance when the current one has
//! nothing to say, secret-looking values redacted, and the reply cut to fit a chat message.

use crate::support::common;

use common::sandbox_bot;

#[tokio::test]
async fn a_crashing_pod_shows_its_previous_instance() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "mei.chen", "logs for search in staging")
        .await;
    assert!(reply.text.contains("(previous instance)"), "{}", reply.text);
    assert!(
        reply.text.contains(
            "panic: config: required environment variable SEARCH_OPENSEARCH_URL is not set"
        ),
        "{}",
        reply.text
    );
    let data = reply.data.unwrap();
    let logs = data["environments"][0]["logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["previous"] == true));
    assert!(
        logs.iter().any(|l| l["previous"] == false),
        "the current instance too"
    );
    let reads = bot.double().requests();
    assert!(reads.iter().any(|r| {
        r.path.ends_with("/log")
            && r.query
                .as_deref()
                .is_some_and(|q| q.contains("previous=true"))
            && r.impersonate_user.as_deref() == Some("mei.chen")
    }));
}

#[tokio::test]
async fn secret_looking_values_are_redacted() {
    let bot = sandbox_bot("").await;
    let pods = bot.double().list("v1", "Pod", Some("checkout-prod"));
    let pod = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cart")
        .and_then(|p| p["metadata"]["name"].as_str())
        .expect("a cart pod")
        .to_owned();
    bot.double().set_logs(
        "checkout-prod",
        &pod,
        "cart",
        false,
        "connecting to redis://cart:Sup3rS3cret@redis.checkout-prod:6379\nlogin ok password=hunter2 user=ann\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijklmnop\n",
    );
    let reply = bot
        .say_one(
            "t",
            "jonah.feld",
            "show me the last 10 lines of cart logs in prod",
        )
        .await;
    for secret in ["Sup3rS3cret", "hunter2", "eyJhbGciOiJIUzI1NiJ9"] {
        assert!(
            !reply.text.contains(secret),
            "{secret} leaked: {}",
            reply.text
        );
        assert!(
            !reply.data.as_ref().unwrap().to_string().contains(secret),
            "{secret} leaked into data"
        );
    }
    assert!(
        reply
            .text
            .contains("redis://cart:[REDACTED]@redis.checkout-prod:6379"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("user=ann"), "{}", reply.text);
    assert!(reply.text.contains("shown as [REDACTED]"), "{}", reply.text);
    assert_eq!(reply.data.unwrap()["lines"], 10);
}

#[tokio::test]
async fn long_logs_are_cut_to_fit_the_chat_and_say_so() {
    let bot = sandbox_bot("").await;
    let pods = bot.double().list("v1", "Pod", Some("checkout-prod"));
    let cart: Vec<String> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cart")
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let text: String = (0..500)
        .map(|i| format!("request {i} handled in {}ms {}\n", i % 40, "x".repeat(60)))
        .collect();
    for pod in &cart {
        bot.double()
            .set_logs("checkout-prod", pod, "cart", false, text.clone());
    }
    let reply = bot
        .say_one("t", "jonah.feld", "last 500 lines of cart logs in prod")
        .await;
    assert!(reply.text.len() < 5_000, "{} chars", reply.text.len());
    assert!(
        reply.text.contains("request 499 handled"),
        "the newest lines are kept"
    );
    assert!(reply.text.contains("not shown here"), "{}", reply.text);
    assert!(reply.text.contains("Cut to fit the chat"), "{}", reply.text);
    let data = reply.data.unwrap();
    let first = &data["environments"][0]["logs"][0]["lines"];
    assert_eq!(
        first.as_array().map(Vec::len),
        Some(500),
        "the data keeps every line asked for"
    );
}

/// Redaction sees the whole log, not one line at a time: a private key's body after its
/// BEGIN line and a URL password containing `/` stay hidden. Every log read asks for at
/// most 256 KiB, and a server that sends more anyway is read only that far.
#[tokio::test]
async fn multi_line_secrets_are_redacted_and_reads_are_bounded() {
    let bot = sandbox_bot("").await;
    let pods = bot.double().list("v1", "Pod", Some("checkout-prod"));
    let cart: Vec<String> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "cart")
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    let (first, rest) = cart.split_first().expect("a cart pod");
    bot.double().set_logs(
        "checkout-prod",
        first,
        "cart",
        false,
        "starting\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dV\n-----END PRIVATE KEY-----\nconnecting to postgres://ledger:ab/cd@db.internal:5432/ledger\n".to_owned(),
    );
    // Longer than the bound, in one line, so the tail of a few lines still holds it all.
    let huge = format!("{}\n", "y".repeat(300 * 1024));
    for pod in rest {
        bot.double()
            .set_logs("checkout-prod", pod, "cart", false, huge.clone());
    }
    let reply = bot
        .say_one(
            "t",
            "jonah.feld",
            "show me the last 10 lines of cart logs in prod",
        )
        .await;
    let data = reply.data.clone().expect("data").to_string();
    for secret in [
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "VJTUt9Us8cKjMzEfYyjiWA4R4",
        "ab/cd",
    ] {
        assert!(
            !reply.text.contains(secret),
            "{secret} leaked: {}",
            reply.text
        );
        assert!(!data.contains(secret), "{secret} leaked into data");
    }
    assert!(
        reply.text.contains("[REDACTED private key]"),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains("postgres://ledger:[REDACTED]@db.internal:5432/ledger"),
        "{}",
        reply.text
    );
    assert!(!rest.is_empty(), "cart runs more than one pod in prod");
    assert!(reply.text.contains("read only that far"), "{}", reply.text);
    assert!(data.contains("\"cut_at_limit\":true"), "{data}");
    let reads: Vec<_> = bot
        .double()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert!(!reads.is_empty());
    for r in reads {
        assert!(
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("limitBytes=262144")),
            "{r:?}"
        );
    }
}
