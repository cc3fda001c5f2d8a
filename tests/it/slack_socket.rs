//! Slack over Socket Mode, end to end: slack-morphism's listener connects to the fake's
//! websocket (the `ws://` URL comes from `apps.connections.open`), receives envelopes of
//! the shapes Slack documents and acknowledges them; answers go to the fake Web API.

use crate::support::common;
use crate::support::fake_slack;

use std::sync::Arc;

use fake_slack::FakeSlack;
use fake_slack::payloads::{self, CardClick};
use platbot::chat::slack::{self, SlackOptions, SocketOptions};
use platbot::config::Config;

const CHANNEL: &str = "C0PLATFORM";
const PRIYA: &str = "U0PRIYA";

#[tokio::test]
async fn socket_mode_answers_confirms_and_acknowledges() {
    let fake = FakeSlack::start().await;
    fake.add_user(PRIYA, "priya.nair@example.com");
    let bot = common::sandbox_bot("").await;
    let toml = format!("[slack]\napi_url = \"{}\"\n", fake.api_url);
    let env = |k: &str| match k {
        "SLACK_BOT_TOKEN" => Some("xoxb-test-token".to_owned()),
        "SLACK_APP_TOKEN" => Some("xapp-1-test-token".to_owned()),
        _ => None,
    };
    let settings = Config::from_toml(&toml, &env).unwrap().slack.unwrap();
    assert_eq!(
        settings.mode,
        platbot::config::SlackMode::Socket,
        "an app token means Socket Mode"
    );
    let options = SlackOptions {
        socket: SocketOptions {
            connections: 1,
            ..SocketOptions::default()
        },
    };
    let service = slack::start(Arc::clone(&bot.app.engine), &settings, &options)
        .await
        .unwrap();
    assert!(service.routes.is_none(), "no HTTP routes in Socket Mode");
    fake.wait_for_socket(15).await;
    assert!(
        fake.calls_of("apps.connections.open")
            .iter()
            .any(|c| c.ok())
    );

    // A mention arrives in an events_api envelope: acknowledged, then answered with a card.
    let thread = "1700000010.000100";
    let event = payloads::callback(
        "Ev0SOCK1",
        payloads::app_mention(
            PRIYA,
            CHANNEL,
            thread,
            None,
            "can I get a namespace for payments in dev?",
        ),
    );
    fake.push_frame(&payloads::envelope(
        "events_api",
        "env-1",
        event.clone(),
        false,
    ));
    let ack = fake.wait_ack("env-1", 5).await;
    assert_eq!(ack, serde_json::json!({"envelope_id": "env-1"}));
    let card = fake
        .wait_for(15, "the proposal card", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.postMessage" && c.confirm_value().is_some())
                .cloned()
        })
        .await;
    assert_eq!(card.str("thread_ts"), Some(thread));

    // Slack redelivers the same event in a new envelope: acknowledged, not answered again.
    fake.push_frame(&payloads::envelope("events_api", "env-2", event, false));
    fake.wait_ack("env-2", 5).await;

    // Confirm arrives as an interactive envelope.
    let click = payloads::block_actions(&CardClick {
        user: PRIYA,
        action_id: "platbot_confirm",
        proposal_id: &card.confirm_value().unwrap(),
        channel: CHANNEL,
        card_ts: &card.ts(),
        thread_ts: thread,
        card_blocks: &card.blocks(),
        trigger_id: "5555.1.priya",
        response_url: &format!("{}/response/1", fake.base),
    });
    fake.push_frame(&payloads::envelope("interactive", "env-3", click, false));
    fake.wait_ack("env-3", 5).await;
    let updated = fake
        .wait_for(15, "the applied card", |calls| {
            calls
                .iter()
                .find(|c| c.method == "chat.update" && c.shown_text().contains("applied"))
                .cloned()
        })
        .await;
    assert!(updated.shown_text().contains("Confirmed by *priya.nair*"));
    fake.settle().await;
    assert!(bot.namespace_exists("payments-dev"));
    let cards = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.confirm_value().is_some())
        .count();
    assert_eq!(cards, 1, "the redelivered event was not answered twice");

    // A slash command: the ack carries the ephemeral note; the answer follows in a thread.
    let command = payloads::slash_command_json(
        PRIYA,
        CHANNEL,
        "how is cart doing in prod",
        "5555.2.cmd",
        &format!("{}/response/2", fake.base),
    );
    fake.push_frame(&payloads::envelope(
        "slash_commands",
        "env-4",
        command,
        true,
    ));
    let ack = fake.wait_ack("env-4", 5).await;
    assert_eq!(ack["payload"]["response_type"], "ephemeral");
    assert!(
        ack["payload"]["text"].as_str().unwrap().contains("thread"),
        "{ack}"
    );
    fake.wait_for(15, "the command's answer", |calls| {
        calls
            .iter()
            .find(|c| {
                c.method == "chat.postMessage"
                    && c.str("thread_ts").is_some()
                    && c.shown_text().contains("cart")
            })
            .cloned()
    })
    .await;

    // Frames that are not Slack's: no panic, acknowledged when they carry an envelope id.
    fake.push_frame("this is not json");
    fake.push_frame(r#"{"type":"mystery","envelope_id":"env-5","payload":{}}"#);
    fake.wait_ack("env-5", 5).await;

    // Still serving: a direct message is answered.
    let dm = payloads::callback(
        "Ev0SOCK2",
        payloads::direct_message(
            PRIYA,
            "D0PRIYA",
            "1700000011.000100",
            None,
            "status of cart in staging?",
        ),
    );
    fake.push_frame(&payloads::envelope("events_api", "env-6", dm, false));
    fake.wait_ack("env-6", 5).await;
    fake.wait_for(15, "the DM answer", |calls| {
        calls
            .iter()
            .find(|c| c.method == "chat.postMessage" && c.str("channel") == Some("D0PRIYA"))
            .cloned()
    })
    .await;
    service.shutdown().await;
}
