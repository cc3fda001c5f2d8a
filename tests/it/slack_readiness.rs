//! `/readyz` of `platbot serve` in Slack Socket Mode follows the websocket: not ready until
//! Slack's `hello`, not ready while every connection is lost and Slack refuses new ones,
//! ready again once a connection is back. The process runs as an operator runs it, against
//! the fake Slack.

use std::time::{Duration, Instant};

use crate::support::fake_slack::FakeSlack;
use crate::support::serve;

/// Polls `/readyz` until it answers `status`, or panics after `secs`; returns the body.
async fn wait_ready(http: &reqwest::Client, base: &str, status: u16, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        let got = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {got} ({body}) after {secs} s, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the fake holds `n` open connections (each has been sent `hello`).
async fn wait_sockets(fake: &FakeSlack, n: usize, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while fake.sockets() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} Socket Mode connections open after {secs} s",
            fake.sockets()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn readiness_follows_the_socket_mode_connection() {
    let fake = FakeSlack::start().await;
    fake.hold_hello(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("platbot.toml");
    std::fs::write(
        &config,
        format!("[slack]\napi_url = \"{}\"\n", fake.api_url),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8").to_owned();
    let served = tokio::task::spawn_blocking(move || {
        serve::start(&[
            ("PLATBOT_CONFIG", config.as_str()),
            ("SLACK_BOT_TOKEN", "xoxb-test-token"),
            ("SLACK_APP_TOKEN", "xapp-1-test-token"),
        ])
    })
    .await
    .expect("serve");
    let http = reqwest::Client::new();

    // Websockets open, but Slack has not said hello: Slack cannot deliver here yet.
    fake.wait_for(15, "apps.connections.open", |calls| {
        calls
            .iter()
            .any(|c| c.method == "apps.connections.open" && c.ok())
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = wait_ready(&http, &served.base, 503, 1).await;
    assert!(body.contains("slack socket mode: not connected"), "{body}");

    fake.hold_hello(false);
    wait_ready(&http, &served.base, 200, 15).await;
    // Ready as soon as one link said hello; the other may not have reached the fake
    // yet, and would then connect after the drop and keep the bot ready.
    wait_sockets(&fake, 2, 15).await;

    // Every connection lost, and Slack refuses new ones for a while: not ready.
    fake.refuse_sockets(true);
    fake.drop_sockets();
    wait_ready(&http, &served.base, 503, 10).await;
    fake.wait_for(15, "a refused reconnection", |calls| {
        calls
            .iter()
            .any(|c| c.method == "apps.connections.open" && !c.ok())
            .then_some(())
    })
    .await;
    wait_ready(&http, &served.base, 503, 1).await;

    // Slack takes connections again: platbot reconnects by itself and is ready.
    fake.refuse_sockets(false);
    wait_ready(&http, &served.base, 200, 20).await;
    assert!(fake.sockets() >= 1);
}
