//! Slack over the Events API, end to end on loopback: requests signed exactly as Slack
//! signs them, with payloads of the shapes Slack documents, sent to `platbot serve`'s
//! `/slack/*` routes; what platbot posts back is read from the fake Slack Web API.

use crate::support::common;
use crate::support::fake_slack;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_slack::payloads::{self, CardClick};
use fake_slack::{Call, FakeSlack, NOT_IN_CHANNEL};
use platbot::chat::slack::{self, SlackOptions, SlackService};
use platbot::config::Config;
use platbot::server::{ServerState, serve_with};
use platbot::store::AuditEvent;
use platbot::store::AuditFilter;
use serde_json::{Value, json};

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CHANNEL: &str = "C0PLATFORM";
const PRIYA: &str = "U0PRIYA";
const JONAH: &str = "U0JONAH";
const NAMESPACE_ASK: &str = "can I get a namespace for payments in dev?";

struct Slack {
    fake: FakeSlack,
    bot: common::TestBot,
    base: String,
    http: reqwest::Client,
    service: SlackService,
}

async fn start() -> Slack {
    let fake = FakeSlack::start().await;
    fake.add_user(PRIYA, "priya.nair@example.com");
    fake.add_user(JONAH, "jonah.feld@example.com");
    let bot = common::sandbox_bot("").await;
    let toml = format!(
        "[slack]\nmode = \"events\"\napi_url = \"{}\"\n",
        fake.api_url
    );
    let env = |k: &str| match k {
        "SLACK_BOT_TOKEN" => Some("xoxb-test-token".to_owned()),
        "SLACK_SIGNING_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    let settings = Config::from_toml(&toml, &env).unwrap().slack.unwrap();
    let service = slack::start(
        Arc::clone(&bot.app.engine),
        &settings,
        &SlackOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(service.bot_user, fake_slack::BOT_USER);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The API has a bearer token; Slack's routes authenticate by signature instead.
    let state = ServerState::new(Arc::clone(&bot.app.engine), &api_with_a_client().http);
    tokio::spawn(serve_with(
        listener,
        state,
        service.routes.clone(),
        std::future::pending(),
    ));
    Slack {
        fake,
        bot,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        service,
    }
}

struct Sent {
    status: u16,
    body: String,
    took: Duration,
}

impl Slack {
    /// Sends `body` to `path` with Slack's headers; `timestamp` and `signature` as given.
    async fn send_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        timestamp: Option<i64>,
        signature: Option<String>,
        extra: &[(&str, &str)],
    ) -> Sent {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
            .body(body.to_owned());
        if let Some(ts) = timestamp {
            req = req.header("x-slack-request-timestamp", ts.to_string());
        }
        if let Some(sig) = signature {
            req = req.header("x-slack-signature", sig);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let started = Instant::now();
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Sent {
            status,
            body,
            took: started.elapsed(),
        }
    }

    /// Signed with the app's secret, now, as Slack does.
    async fn signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Sent {
        let ts = payloads::now();
        let sig = payloads::sign(SECRET, ts, body);
        self.send_raw(path, content_type, body, Some(ts), Some(sig), extra)
            .await
    }

    async fn event(&self, payload: &Value) -> Sent {
        self.signed(
            "/slack/events",
            "application/json",
            &payload.to_string(),
            &[],
        )
        .await
    }

    async fn interact(&self, payload: &Value) -> Sent {
        let body = payloads::form(&[("payload", payload.to_string())]);
        self.signed(
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            &body,
            &[],
        )
        .await
    }

    async fn command(&self, fields: &[(&str, String)]) -> Sent {
        let body = payloads::form(fields);
        self.signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            &body,
            &[],
        )
        .await
    }

    fn response_url(&self) -> String {
        format!("{}/response/T0FAKE/1234/abcd", self.fake.base)
    }

    /// Asks for a namespace in a new thread and returns the card platbot posted.
    async fn proposal_card(&self, event_id: &str, thread_ts: &str) -> Call {
        let mention = payloads::app_mention(PRIYA, CHANNEL, thread_ts, None, NAMESPACE_ASK);
        let sent = self.event(&payloads::callback(event_id, mention)).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        self.fake
            .wait_for(15, "the proposal card", |calls| {
                calls
                    .iter()
                    .find(|c| {
                        c.method == "chat.postMessage"
                            && c.ok()
                            && c.str("thread_ts") == Some(thread_ts)
                            && c.confirm_value().is_some()
                    })
                    .cloned()
            })
            .await
    }

    fn click(
        &self,
        card: &Call,
        user: &str,
        action: &str,
        trigger: &str,
        thread_ts: &str,
    ) -> Value {
        payloads::block_actions(&CardClick {
            user,
            action_id: action,
            proposal_id: &card.confirm_value().unwrap(),
            channel: CHANNEL,
            card_ts: &card.ts(),
            thread_ts,
            card_blocks: &card.blocks(),
            trigger_id: trigger,
            response_url: &self.response_url(),
        })
    }

    async fn executions(&self) -> usize {
        let filter = AuditFilter {
            action: Some("create_namespace".into()),
            ..AuditFilter::default()
        };
        let entries = self.bot.app.engine.store().audit(&filter).await.unwrap();
        entries
            .iter()
            .filter(|e| e.event == AuditEvent::Execute)
            .count()
    }

    async fn healthy(&self) -> bool {
        let r = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .unwrap();
        r.status().is_success()
    }
}

fn posts_in_thread(calls: &[Call], thread_ts: &str) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| {
            c.method == "chat.postMessage" && c.ok() && c.str("thread_ts") == Some(thread_ts)
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn url_verification_is_answered_with_the_challenge() {
    let s = start().await;
    let sent = s
        .signed(
            "/slack/events",
            "application/json",
            &payloads::url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
                .to_string(),
            &[],
        )
        .await;
    assert_eq!(sent.status, 200);
    let v: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn mention_gets_a_card_and_only_the_requester_confirms_once() {
    let s = start().await;
    let thread = "1700000000.000100";
    let card = s.proposal_card("Ev0PROPOSE", thread).await;
    assert_eq!(card.str("channel"), Some(CHANNEL));
    let shown = card.shown_text();
    for want in [
        "payments-dev",
        "Dry run passed",
        "Requested by *priya.nair*",
        "expires",
        "Namespace",
    ] {
        assert!(shown.contains(want), "card lacks {want:?}: {shown}");
    }
    assert!(card.blocks().len() <= 50);

    // Jonah (checkout) clicks Confirm: an ephemeral explanation, nothing else changes.
    let sent = s
        .interact(&s.click(&card, JONAH, "platbot_confirm", "1111.2222.jonah", thread))
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let refusal = s
        .fake
        .wait_for(10, "an ephemeral refusal", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postEphemeral" && c.str("user") == Some(JONAH))
                .cloned()
        })
        .await;
    assert!(
        refusal.shown_text().contains("can't confirm"),
        "{}",
        refusal.shown_text()
    );
    assert_eq!(refusal.str("thread_ts"), Some(thread));
    s.fake.settle().await;
    assert!(
        s.fake.calls_of("chat.update").is_empty(),
        "a refused click changed the card"
    );
    assert!(!s.bot.namespace_exists("payments-dev"));
    assert_eq!(s.executions().await, 0);

    // Priya's click is delivered twice at once (same trigger_id), and she clicks again.
    let click = s.click(&card, PRIYA, "platbot_confirm", "1111.3333.priya", thread);
    let (a, b) = tokio::join!(s.interact(&click), s.interact(&click));
    assert_eq!((a.status, b.status), (200, 200));
    assert!(a.took < Duration::from_secs(3) && b.took < Duration::from_secs(3));
    let again = s
        .interact(&s.click(&card, PRIYA, "platbot_confirm", "1111.4444.priya", thread))
        .await;
    assert_eq!(again.status, 200);

    let updated = s
        .fake
        .wait_for(15, "the card updated with the outcome", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.update" && c.ok() && c.shown_text().contains("applied"))
                .cloned()
        })
        .await;
    assert_eq!(
        updated.str("ts"),
        Some(card.ts().as_str()),
        "updated in place"
    );
    assert!(!updated.has_buttons());
    assert!(
        updated.shown_text().contains("Confirmed by *priya.nair*"),
        "{}",
        updated.shown_text()
    );
    assert!(updated.shown_text().contains("Outcome"));
    s.fake.settle().await;
    assert!(s.bot.namespace_exists("payments-dev"));
    assert_eq!(s.executions().await, 1, "executed exactly once");
    let done: Vec<Call> = posts_in_thread(&s.fake.calls(), thread)
        .into_iter()
        .filter(|c| c.shown_text().contains("confirmed. Done."))
        .collect();
    assert_eq!(done.len(), 1, "one outcome message: {done:#?}");
    assert!(done[0].shown_text().contains("<@U0PRIYA> confirmed."));
    for update in s.fake.calls_of("chat.update") {
        assert!(
            !update.has_buttons(),
            "every update shows the finished card"
        );
    }
    // users.info once per person, however many events they sent.
    let lookups: Vec<String> = s
        .fake
        .calls_of("users.info")
        .iter()
        .map(|c| c.str("user").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        lookups.iter().filter(|u| *u == PRIYA).count(),
        1,
        "{lookups:?}"
    );
    assert_eq!(
        lookups.iter().filter(|u| *u == JONAH).count(),
        1,
        "{lookups:?}"
    );
}

#[tokio::test]
async fn cancel_and_expired_clicks_update_the_card() {
    let s = start().await;
    let thread = "1700000000.000200";
    let card = s.proposal_card("Ev0CANCEL", thread).await;
    let sent = s
        .interact(&s.click(&card, PRIYA, "platbot_cancel", "2222.1.priya", thread))
        .await;
    assert_eq!(sent.status, 200);
    let updated = s
        .fake
        .wait_for(10, "the cancelled card", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.update" && c.ok())
                .cloned()
        })
        .await;
    assert!(
        updated.shown_text().contains("cancelled"),
        "{}",
        updated.shown_text()
    );
    assert!(!updated.has_buttons());

    // An expired proposal: the click says so, and the card shows it.
    let thread = "1700000000.000300";
    let card = s.proposal_card("Ev0EXPIRE", thread).await;
    let id: platbot::approval::ProposalId = card.confirm_value().unwrap().parse().unwrap();
    let store = s.bot.app.engine.store();
    let mut p = store.proposal(id).await.unwrap().unwrap();
    p.id = platbot::approval::ProposalId::new();
    p.expires_at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    p.created_at = p.expires_at - jiff::SignedDuration::from_mins(15);
    store.insert_proposal(&p).await.unwrap();
    let mut click = s.click(&card, PRIYA, "platbot_confirm", "3333.1.priya", thread);
    click["actions"][0]["value"] = json!(p.id.to_string());
    s.interact(&click).await;
    let note = s
        .fake
        .wait_for(10, "the expiry explanation", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postEphemeral" && c.shown_text().contains("expired"))
                .cloned()
        })
        .await;
    assert_eq!(note.str("user"), Some(PRIYA));
    s.fake
        .wait_for(10, "the expired card", |calls| {
            calls
                .iter()
                .find(|c| {
                    c.method == "chat.update" && c.shown_text().contains(":hourglass: expired")
                })
                .cloned()
        })
        .await;
    assert!(!s.bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn direct_messages_are_answered_in_their_thread_after_the_ack() {
    let s = start().await;
    // A slow users.info: the ack must not wait for the work.
    s.fake.delay("users.info", Duration::from_millis(1500));
    let ts = "1700000001.000100";
    let dm = payloads::direct_message(PRIYA, "D0PRIYA", ts, None, "how is cart doing in prod?");
    let sent = s.event(&payloads::callback("Ev0DM1", dm)).await;
    assert_eq!(sent.status, 200);
    assert!(
        sent.took < Duration::from_millis(1000),
        "acked after {:?}",
        sent.took
    );
    let answer = s
        .fake
        .wait_for(15, "the answer in the DM thread", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postMessage" && c.str("channel") == Some("D0PRIYA"))
                .cloned()
        })
        .await;
    assert_eq!(answer.str("thread_ts"), Some(ts));
    assert!(
        answer.shown_text().contains("cart"),
        "{}",
        answer.shown_text()
    );

    // A follow-up in the thread keeps its context ("and in staging?" means cart in staging).
    let follow = payloads::direct_message(
        PRIYA,
        "D0PRIYA",
        "1700000001.000200",
        Some(ts),
        "and in staging?",
    );
    s.event(&payloads::callback("Ev0DM2", follow)).await;
    let second = s
        .fake
        .wait_for(15, "the follow-up answer", |calls| {
            let posts = posts_in_thread(calls, ts);
            (posts.len() >= 2).then(|| posts[1].clone())
        })
        .await;
    let text = second.shown_text();
    assert!(text.contains("cart") && text.contains("staging"), "{text}");
}

#[tokio::test]
async fn a_thread_is_answered_in_order() {
    let s = start().await;
    let ts = "1700000002.000100";
    let asks = [
        "how is cart doing in prod?",
        "and in staging?",
        "and in dev?",
    ];
    for (i, text) in asks.iter().enumerate() {
        let msg_ts = format!("1700000002.00010{i}");
        let thread = (i > 0).then_some(ts);
        let mention = payloads::app_mention(PRIYA, CHANNEL, &msg_ts, thread, text);
        let sent = s
            .event(&payloads::callback(&format!("Ev0ORDER{i}"), mention))
            .await;
        assert_eq!(sent.status, 200);
    }
    let posts = s
        .fake
        .wait_for(20, "three answers", |calls| {
            let posts = posts_in_thread(calls, ts);
            (posts.len() >= 3).then_some(posts)
        })
        .await;
    for (post, env) in posts.iter().zip(["prod", "staging", "dev"]) {
        assert!(
            post.shown_text().contains(env),
            "expected {env}: {}",
            post.shown_text()
        );
    }
}

#[tokio::test]
async fn slash_command_answers_in_a_new_thread() {
    let s = start().await;
    let fields = payloads::slash_command(
        PRIYA,
        CHANNEL,
        "how is cart doing in prod",
        "4444.1.cmd",
        &s.response_url(),
    );
    let sent = s.command(&fields).await;
    assert_eq!(sent.status, 200);
    let ack: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(ack["response_type"], "ephemeral");
    let parent = s
        .fake
        .wait_for(10, "the question posted as the thread's parent", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postMessage" && c.str("thread_ts").is_none())
                .cloned()
        })
        .await;
    assert!(
        parent
            .shown_text()
            .contains("<@U0PRIYA> asked: how is cart doing in prod")
    );
    let answer = s
        .fake
        .wait_for(15, "the answer in the thread", |calls| {
            posts_in_thread(calls, &parent.ts()).first().cloned()
        })
        .await;
    assert!(answer.shown_text().contains("cart"));

    // A channel platbot is not in: the user hears why, through the response_url.
    let fields = payloads::slash_command(
        PRIYA,
        NOT_IN_CHANNEL,
        "how is cart doing in prod",
        "4444.2.cmd",
        &s.response_url(),
    );
    assert_eq!(s.command(&fields).await.status, 200);
    let told = s
        .fake
        .wait_for(10, "the response_url explanation", |calls| {
            calls.iter().find(|c| c.method == "response_url").cloned()
        })
        .await;
    assert!(
        told.shown_text().contains("/invite @platbot"),
        "{}",
        told.shown_text()
    );

    // An empty command gets usage help right in the ack.
    let fields = payloads::slash_command(PRIYA, CHANNEL, "", "4444.3.cmd", &s.response_url());
    let sent = s.command(&fields).await;
    assert!(
        sent.body.contains("/platbot how is cart doing in prod"),
        "{}",
        sent.body
    );
}

#[tokio::test]
async fn retries_and_replays_are_handled_once() {
    let s = start().await;
    let ts = "1700000003.000100";
    let body = payloads::callback(
        "Ev0RETRY",
        payloads::app_mention(PRIYA, CHANNEL, ts, None, "how is cart doing in prod?"),
    )
    .to_string();
    let first = s
        .signed("/slack/events", "application/json", &body, &[])
        .await;
    assert_eq!(first.status, 200);
    // Slack's retry after a (supposed) timeout: same event id, retry headers.
    let retry = s
        .signed(
            "/slack/events",
            "application/json",
            &body,
            &[
                ("x-slack-retry-num", "1"),
                ("x-slack-retry-reason", "http_timeout"),
            ],
        )
        .await;
    assert_eq!(retry.status, 200);
    // The very same signed request replayed inside the 5-minute window.
    let stamp = payloads::now();
    let sig = payloads::sign(SECRET, stamp, &body);
    for _ in 0..2 {
        let replay = s
            .send_raw(
                "/slack/events",
                "application/json",
                &body,
                Some(stamp),
                Some(sig.clone()),
                &[],
            )
            .await;
        assert_eq!(replay.status, 200);
    }
    s.fake
        .wait_for(15, "the answer", |calls| {
            posts_in_thread(calls, ts).first().cloned()
        })
        .await;
    s.fake.settle().await;
    assert_eq!(
        posts_in_thread(&s.fake.calls(), ts).len(),
        1,
        "answered once"
    );

    // A retry of an event this process never saw (say, it restarted) is handled.
    let other = "1700000003.000200";
    let body = payloads::callback(
        "Ev0UNSEEN",
        payloads::app_mention(PRIYA, CHANNEL, other, None, "how is cart doing in prod?"),
    )
    .to_string();
    let sent = s
        .signed(
            "/slack/events",
            "application/json",
            &body,
            &[
                ("x-slack-retry-num", "2"),
                ("x-slack-retry-reason", "http_error"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200);
    s.fake
        .wait_for(15, "the retried event's answer", |calls| {
            posts_in_thread(calls, other).first().cloned()
        })
        .await;
}

#[tokio::test]
async fn bad_requests_are_refused_or_ignored_and_never_posted() {
    let s = start().await;
    let mention = payloads::callback(
        "Ev0BAD",
        payloads::app_mention(PRIYA, CHANNEL, "1700000004.000100", None, NAMESPACE_ASK),
    )
    .to_string();
    let now = payloads::now();
    let json = "application/json";

    // Forged: signed with another secret.
    let forged = payloads::sign("not-the-secret", now, &mention);
    let r = s
        .send_raw(
            "/slack/events",
            json,
            &mention,
            Some(now),
            Some(forged),
            &[],
        )
        .await;
    assert_eq!(r.status, 401);
    // Tampered: a valid signature for a different body.
    let sig = payloads::sign(SECRET, now, &mention);
    let tampered = mention.replace("payments", "checkout");
    let r = s
        .send_raw("/slack/events", json, &tampered, Some(now), Some(sig), &[])
        .await;
    assert_eq!(r.status, 401);
    // Stale and future timestamps, correctly signed: outside the 5-minute window.
    for skew in [-301, -3600, 400] {
        let ts = now + skew;
        let sig = payloads::sign(SECRET, ts, &mention);
        let r = s
            .send_raw("/slack/events", json, &mention, Some(ts), Some(sig), &[])
            .await;
        assert_eq!(r.status, 401, "timestamp skew {skew}");
    }
    // No signature headers at all, on each route.
    for path in ["/slack/events", "/slack/interactivity", "/slack/commands"] {
        let r = s.send_raw(path, json, &mention, None, None, &[]).await;
        assert_eq!(r.status, 401, "{path}");
    }
    // Garbage timestamp.
    let r = s
        .send_raw(
            "/slack/events",
            json,
            &mention,
            None,
            Some(payloads::sign(SECRET, now, &mention)),
            &[("x-slack-request-timestamp", "yesterday")],
        )
        .await;
    assert_eq!(r.status, 401);

    // Signed but malformed: not JSON, a truncated JSON, an unknown envelope type,
    // an interaction whose payload is not JSON, a command without its fields.
    for (path, ctype, body) in [
        ("/slack/events", json, "{not json".to_owned()),
        (
            "/slack/events",
            json,
            mention[..mention.len() / 2].to_owned(),
        ),
        (
            "/slack/events",
            json,
            r#"{"type":"mystery_envelope","token":"x"}"#.to_owned(),
        ),
        (
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            payloads::form(&[("payload", "{oops".into())]),
        ),
        (
            "/slack/interactivity",
            "application/x-www-form-urlencoded",
            "nothing=here".to_owned(),
        ),
        (
            "/slack/commands",
            "application/x-www-form-urlencoded",
            "text=hello".to_owned(),
        ),
    ] {
        let r = s.signed(path, ctype, &body, &[]).await;
        assert_eq!(r.status, 400, "{path} {body}");
    }

    // Signed and well-formed, but nothing for platbot: acknowledged and ignored.
    for (id, event) in [
        (
            "Ev0UNK1",
            json!({"type": "subteam_created", "subteam": {"id": "S1"}, "event_ts": "1.1"}),
        ),
        (
            "Ev0UNK2",
            json!({"type": "reaction_added", "user": PRIYA, "reaction": "eyes", "item_user": "U2",
            "item": {"type": "message", "channel": CHANNEL, "ts": "1.1"}, "event_ts": "1.2"}),
        ),
        (
            "Ev0BOTMSG",
            json!({"type": "message", "subtype": "bot_message", "bot_id": "B9", "text": "hi",
            "ts": "1.3", "channel": "D0PRIYA", "channel_type": "im"}),
        ),
        (
            "Ev0OWN",
            json!({"type": "message", "user": fake_slack::BOT_USER, "text": "my own answer",
            "ts": "1.4", "channel": "D0PRIYA", "channel_type": "im"}),
        ),
    ] {
        let r = s.event(&payloads::callback(id, event)).await;
        assert_eq!(r.status, 200, "{id}");
    }
    let other_interaction = json!({"type": "block_actions", "user": {"id": PRIYA}, "api_app_id": "A0PLATBOT",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": CHANNEL}, "trigger_id": "9.9.9",
        "team": {"id": "T0FAKE"}, "actions": [{"type": "button", "action_id": "someone_elses_button", "value": "x"}]});
    assert_eq!(s.interact(&other_interaction).await.status, 200);
    // A platbot button whose value is not a proposal: explained to the clicker only.
    let mut bogus = other_interaction.clone();
    bogus["actions"][0]["action_id"] = json!("platbot_confirm");
    bogus["trigger_id"] = json!("9.9.10");
    assert_eq!(s.interact(&bogus).await.status, 200);
    s.fake
        .wait_for(10, "an ephemeral note about the bogus button", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postEphemeral")
                .cloned()
        })
        .await;

    s.fake.settle().await;
    let visible: Vec<Call> = s
        .fake
        .visible_posts()
        .into_iter()
        .filter(|c| c.method != "chat.postEphemeral")
        .collect();
    assert!(visible.is_empty(), "nothing may be posted: {visible:#?}");
    assert_eq!(s.fake.calls_of("chat.postEphemeral").len(), 1);
    assert!(!s.bot.namespace_exists("payments-dev"));
    assert!(s.healthy().await, "the server survives all of it");
    assert_eq!(s.service.surface.busy_threads(), 0);
}

#[tokio::test]
async fn long_answers_are_split_to_slack_limits() {
    let s = start().await;
    let text: String = (0..120)
        .map(|i| {
            format!(
                "line {i:03}: {}end",
                "lorem ipsum dolor sit amet <&> ".repeat(40)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.chars().count() > 50 * 3000 / 2);
    s.service
        .surface
        .post_reply(
            CHANNEL,
            "1700000005.000100",
            &platbot::chat::Reply::text(text.clone()),
        )
        .await;
    let posts = s.fake.calls_of("chat.postMessage");
    assert!(posts.len() >= 2, "split over several messages");
    let mut shown = String::new();
    for post in &posts {
        assert!(post.ok(), "Slack refused a post: {:?}", post.response);
        let blocks = post.blocks();
        assert!(blocks.len() <= 50);
        for b in &blocks {
            let t = b["text"]["text"].as_str().unwrap();
            assert!(t.chars().count() <= 3000);
            shown.push_str(t);
            shown.push('\n');
        }
    }
    let unescaped = shown
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert_eq!(unescaped.trim_end(), text, "nothing lost or reordered");
}

#[tokio::test]
async fn typing_confirm_in_the_thread_updates_the_card() {
    let s = start().await;
    let thread = "1700000006.000100";
    let card = s.proposal_card("Ev0TYPED", thread).await;
    let mention =
        payloads::app_mention(PRIYA, CHANNEL, "1700000006.000200", Some(thread), "confirm");
    assert_eq!(
        s.event(&payloads::callback("Ev0TYPED2", mention))
            .await
            .status,
        200
    );
    let updated = s
        .fake
        .wait_for(15, "the card updated in place", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.update" && c.shown_text().contains("applied"))
                .cloned()
        })
        .await;
    assert_eq!(updated.str("ts"), Some(card.ts().as_str()));
    let done = s
        .fake
        .wait_for(10, "the outcome in the thread", |calls| {
            posts_in_thread(calls, thread)
                .into_iter()
                .find(|c| c.shown_text().contains("Done."))
        })
        .await;
    assert!(!done.has_buttons());
    assert!(s.bot.namespace_exists("payments-dev"));
    assert_eq!(s.executions().await, 1);
}

/// `[http]` with one API client, so the API needs a bearer token while Slack's routes
/// authenticate by signature.
fn api_with_a_client() -> platbot::config::Config {
    platbot::config::Config::from_toml(
        "[[http.clients]]\nname = \"cli\"\ntoken_env = \"T\"\nuser = \"priya.nair\"",
        &|k| (k == "T").then(|| "api-token-0123456789".to_owned()),
    )
    .expect("config")
}

#[tokio::test]
async fn guests_and_other_domains_are_never_a_catalog_user() {
    let s = start().await;
    // A guest account with priya's own email, and an account of another domain whose local
    // part is hers (Slack Connect): neither gets a change proposed as priya.
    s.fake.add_guest("U0GUEST", "priya.nair@example.com");
    s.fake
        .add_user("U0CONNECT", "priya.nair@another-domain.test");
    for (user, thread, event) in [
        ("U0GUEST", "1700000000.000901", "Ev0GUEST"),
        ("U0CONNECT", "1700000000.000902", "Ev0CONNECT"),
    ] {
        let mention = payloads::app_mention(user, CHANNEL, thread, None, NAMESPACE_ASK);
        let sent = s.event(&payloads::callback(event, mention)).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let answer = s
            .fake
            .wait_for(15, "an answer in the thread", |calls| {
                calls
                    .iter()
                    .find(|c| c.method == "chat.postMessage" && c.str("thread_ts") == Some(thread))
                    .cloned()
            })
            .await;
        assert!(answer.confirm_value().is_none(), "a card for {user}");
        let shown = answer.shown_text();
        // The guest is told platbot does not serve guests; the other domain's account is
        // served as nobody in particular, who may not ask for changes.
        let expected = if user == "U0GUEST" {
            "guest"
        } else {
            "not a member of any team"
        };
        assert!(shown.contains(expected), "{user}: {shown}");
        assert!(
            !shown.contains("priya.nair"),
            "{user} was taken for priya: {shown}"
        );
    }
    assert!(!s.bot.namespace_exists("payments-dev"));
}
