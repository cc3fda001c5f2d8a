//! Slack with two replicas on one PostgreSQL store: Slack redelivers an event (a retry, a
//! Socket Mode redelivery) and the repeat reaches the other replica. Each replica's own
//! memory has never seen it; the store's shared delivery ids make exactly one of them
//! answer. Skipped with a message where PostgreSQL is not installed.

use std::sync::Arc;

use platbot::chat::slack::{self, SlackOptions, SlackService};
use platbot::config::Config;
use platbot::server::{ServerState, serve_with};

use crate::support::fake_slack::{FakeSlack, payloads};
use crate::support::{common, postgres};

const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const CHANNEL: &str = "C0REPLICAS";
const PRIYA: &str = "U0PRIYA";

/// One replica: its own engine and Slack service on the shared store, serving Slack's routes.
struct Replica {
    _bot: common::TestBot,
    _service: SlackService,
    base: String,
}

async fn replica(fake: &FakeSlack, store_url: &str) -> Replica {
    let bot = common::sandbox_bot(&format!("[store]\nurl = \"{store_url}\"")).await;
    let toml = format!(
        "[slack]\nmode = \"events\"\napi_url = \"{}\"\n",
        fake.api_url
    );
    let env = |k: &str| match k {
        "SLACK_BOT_TOKEN" => Some("xoxb-test-token".to_owned()),
        "SLACK_SIGNING_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let settings = Config::from_toml(&toml, &env)
        .expect("config")
        .slack
        .expect("slack");
    let service = slack::start(
        Arc::clone(&bot.app.engine),
        &settings,
        &SlackOptions::default(),
    )
    .await
    .expect("slack");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = ServerState::local(Arc::clone(&bot.app.engine), Default::default());
    tokio::spawn(serve_with(
        listener,
        state,
        service.routes.clone(),
        std::future::pending(),
    ));
    Replica {
        _bot: bot,
        _service: service,
        base,
    }
}

async fn deliver(http: &reqwest::Client, base: &str, body: &str, retry: Option<&str>) -> u16 {
    let ts = payloads::now();
    let mut req = http
        .post(format!("{base}/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts.to_string())
        .header("x-slack-signature", payloads::sign(SECRET, ts, body))
        .body(body.to_owned());
    if let Some(n) = retry {
        req = req
            .header("x-slack-retry-num", n)
            .header("x-slack-retry-reason", "http_timeout");
    }
    req.send().await.expect("deliver").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_to_another_replica_is_answered_once() {
    let Some(settings) = postgres::fresh_database().await else {
        return;
    };
    let url = settings.url.to_string();
    let fake = FakeSlack::start().await;
    fake.add_user(PRIYA, "priya.nair@example.com");
    let replicas = [replica(&fake, &url).await, replica(&fake, &url).await];
    let http = reqwest::Client::new();

    let thread = "1700000100.000100";
    let mention = payloads::app_mention(PRIYA, CHANNEL, thread, None, "how is cart doing in prod?");
    let body = payloads::callback("Ev0REPLICA1", mention).to_string();
    // The first delivery to one replica, Slack's retry of it to the other, at once.
    let (first, retry) = tokio::join!(
        deliver(&http, &replicas[0].base, &body, None),
        deliver(&http, &replicas[1].base, &body, Some("1")),
    );
    assert_eq!((first, retry), (200, 200), "both acknowledged");

    let answered = |calls: &[crate::support::fake_slack::Call]| {
        let posts: Vec<_> = calls
            .iter()
            .filter(|c| {
                c.method == "chat.postMessage" && c.ok() && c.str("thread_ts") == Some(thread)
            })
            .cloned()
            .collect();
        (!posts.is_empty()).then_some(posts)
    };
    let posts = fake.wait_for(20, "the answer", answered).await;
    assert!(
        posts[0].shown_text().contains("checkout-prod"),
        "{:?}",
        posts[0]
    );
    // Both replicas had their chance: still one answer.
    fake.settle().await;
    fake.settle().await;
    let posts = answered(&fake.calls()).expect("the answer");
    assert_eq!(posts.len(), 1, "answered once across replicas: {posts:#?}");
}
