//! Discord over the gateway, end to end: serenity connects to the fake's websocket (the URL
//! comes from `GET /gateway` on the fake `https://discord.com`), identifies with platbot's
//! intents, receives dispatches of the shapes Discord documents, and answers through REST.

use std::time::Duration;

use crate::support::fake_discord::payloads::{self, CHANNEL, GUILD};
use crate::support::fake_discord::{Connected, JONAH, PRIYA, connected};

const DM: u64 = 1_100_000_000_000_000_200;

#[tokio::test]
async fn mentions_get_threaded_answers_with_context_and_dms_are_answered_in_place() {
    let c = connected().await;
    let identify = &c.fake.identifies()[0];
    // GUILD_MESSAGES (1 << 9) | DIRECT_MESSAGES (1 << 12): no privileged intent.
    assert_eq!(identify["intents"], 4608, "{identify}");
    let registered = c.fake.calls_of(
        "PUT",
        &format!(
            "/applications/{}/guilds/{GUILD}/commands",
            payloads::APPLICATION
        ),
    );
    assert_eq!(registered[0].body[0]["name"], "platbot");
    assert_eq!(registered[0].body[0]["options"][0]["name"], "question");

    // A mention in a channel: a thread from the message, the answer in it.
    let question = 1_100_000_000_000_000_501;
    c.mention(question, CHANNEL, PRIYA, "how is cart doing in prod");
    let answer = c.reply_in(question, "cart").await;
    let thread = c.fake.calls_of(
        "POST",
        &format!("/channels/{CHANNEL}/messages/{question}/threads"),
    );
    assert_eq!(thread.len(), 1, "one thread started from the question");
    assert_eq!(thread[0].body["name"], "how is cart doing in prod");
    assert!(
        answer.shown_text().contains("prod"),
        "{}",
        answer.shown_text()
    );
    assert_eq!(
        answer.body["allowed_mentions"]["parse"],
        serde_json::json!([]),
        "replies never ping"
    );

    // A follow-up in the thread keeps its context and starts no new thread.
    c.mention(
        1_100_000_000_000_000_502,
        question,
        PRIYA,
        "and in staging?",
    );
    let follow = c.reply_in(question, "staging").await;
    assert!(
        follow.shown_text().contains("cart"),
        "{}",
        follow.shown_text()
    );
    assert_eq!(
        c.fake
            .calls()
            .iter()
            .filter(|x| x.path.ends_with("/threads"))
            .count(),
        1
    );

    // A direct message is answered in the DM, no thread.
    c.fake.add_channel(DM, 1, None);
    c.fake.dispatch(
        "MESSAGE_CREATE",
        payloads::message_create(
            1_100_000_000_000_000_503,
            DM,
            &Connected::person(JONAH),
            "who is on call for checkout",
            false,
        ),
    );
    c.reply_in(DM, "primary: ").await;

    // Chatter without a mention and the bot's own messages get nothing.
    let before = c.fake.posts().len();
    let mut chatter = payloads::message_create(
        1_100_000_000_000_000_504,
        CHANNEL,
        &Connected::person(PRIYA),
        "lunch?",
        true,
    );
    chatter["mentions"] = serde_json::json!([]);
    chatter["content"] = serde_json::json!("lunch?");
    c.fake.dispatch("MESSAGE_CREATE", chatter);
    let own = payloads::message_create(
        1_100_000_000_000_000_505,
        CHANNEL,
        &payloads::bot_user(),
        "hello",
        true,
    );
    c.fake.dispatch("MESSAGE_CREATE", own);
    c.fake.settle().await;
    assert_eq!(c.fake.posts().len(), before);
    // serenity heartbeats at HELLO's interval (1 s here) and the fake acknowledges each.
    c.fake
        .wait_gateway(10, "heartbeats", |f| f.heartbeats() >= 2)
        .await;
    assert_eq!(
        c.fake.connections(),
        1,
        "acknowledged heartbeats keep the connection"
    );
    c.service.shutdown().await;
}

#[tokio::test]
async fn the_slash_command_is_deferred_at_once_then_answered() {
    let c = connected().await;
    let (id, token) = (1_100_000_000_000_000_601u64, "tok-command-1");
    c.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::slash_command(
            id,
            CHANNEL,
            &Connected::person(PRIYA),
            "who is on call for checkout",
            token,
        ),
    );
    let ack = c
        .fake
        .wait_for(10, "the deferred response", |calls| {
            calls
                .iter()
                .find(|x| x.is("POST", &format!("/interactions/{id}/{token}/callback")))
                .cloned()
        })
        .await;
    // The fake refuses a callback after Discord's 3 seconds, so a 204 means it was in time.
    assert_eq!(
        (ack.status, ack.body["type"].as_u64()),
        (204, Some(5)),
        "{:?}",
        ack.body
    );
    let answer = c
        .fake
        .wait_for(20, "the answer", |calls| {
            calls
                .iter()
                .find(|x| {
                    x.is(
                        "PATCH",
                        &format!(
                            "/webhooks/{}/{token}/messages/@original",
                            payloads::APPLICATION
                        ),
                    ) && x.ok()
                })
                .cloned()
        })
        .await;
    assert!(
        answer.shown_text().contains("primary: "),
        "{}",
        answer.shown_text()
    );
    assert!(
        answer.shown_text().contains("checkout"),
        "{}",
        answer.shown_text()
    );

    // The answer starts a thread; a mention in it goes on from the command's question.
    let (id, token) = (1_100_000_000_000_000_602u64, "tok-command-2");
    c.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::slash_command(
            id,
            CHANNEL,
            &Connected::person(PRIYA),
            "how is cart doing in prod",
            token,
        ),
    );
    let thread = c
        .fake
        .wait_for(20, "the thread from the answer", |calls| {
            calls
                .iter()
                .filter(|x| x.path.ends_with("/threads") && x.ok())
                .nth(1)
                .cloned()
        })
        .await;
    let answer: u64 = thread.response["id"].as_str().unwrap().parse().unwrap();
    let shown = c.fake.message(answer)["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(shown.contains("cart"), "{shown}");
    c.mention(1_100_000_000_000_000_603, answer, PRIYA, "and in staging?");
    let follow = c.reply_in(answer, "staging").await;
    assert!(
        follow.shown_text().contains("cart"),
        "{}",
        follow.shown_text()
    );
    c.service.shutdown().await;
}

#[tokio::test]
async fn a_dropped_gateway_resumes_and_replays_no_answer_twice() {
    let c = connected().await;
    let first = 1_100_000_000_000_000_701;
    c.mention(first, CHANNEL, PRIYA, "how is cart doing in prod");
    c.reply_in(first, "cart").await;
    let answered = |c: &Connected, thread: u64| {
        c.fake
            .calls()
            .iter()
            .filter(|x| {
                x.is("POST", &format!("/channels/{thread}/messages"))
                    && x.path == format!("/channels/{thread}/messages")
                    && x.ok()
            })
            .count()
    };
    assert_eq!(answered(&c, first), 1);

    // The connection drops; a question arrives meanwhile; the resumed session replays it,
    // and (at-least-once) the one already answered as well.
    c.fake.drop_connection();
    let during = 1_100_000_000_000_000_702;
    c.mention(during, CHANNEL, PRIYA, "who is on call for checkout");
    c.fake.replay_overlap(2);
    c.fake
        .wait_gateway(20, "RESUME", |f| !f.resumes().is_empty())
        .await;
    let resume = &c.fake.resumes()[0];
    assert_eq!(resume["session_id"], "fake-session-1", "{resume}");
    assert!(resume["seq"].as_u64().unwrap_or(0) >= 2, "{resume}");
    c.reply_in(during, "primary: ").await;
    c.fake.settle().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        answered(&c, first),
        1,
        "the replayed question was not answered again"
    );
    assert_eq!(answered(&c, during), 1);
    assert_eq!(
        c.fake.identifies().len(),
        1,
        "resumed, not identified again"
    );
    assert_eq!(c.fake.connections(), 2);
    c.service.shutdown().await;
}

#[tokio::test]
async fn a_delivery_reaching_another_process_is_answered_once() {
    let c = connected().await;
    let (other, service) = c.another_process().await;
    // The same message reaches both (a replay after a resume landing on another replica):
    // neither process's memory has seen it; the store's delivery ids let one answer.
    let question = 1_100_000_000_000_000_961;
    let data = payloads::message_create(
        question,
        CHANNEL,
        &Connected::person(PRIYA),
        "how is cart doing in prod",
        true,
    );
    c.fake.dispatch("MESSAGE_CREATE", data.clone());
    other.dispatch("MESSAGE_CREATE", data);
    let answered = |f: &crate::support::fake_discord::FakeDiscord| {
        f.calls()
            .iter()
            .filter(|x| x.method == "POST" && x.path.ends_with("/threads"))
            .count()
    };
    c.fake
        .wait_gateway(20, "an answer from one of them", |_| {
            answered(&c.fake) + answered(&other) > 0
        })
        .await;
    c.fake.settle().await;
    assert_eq!(
        answered(&c.fake) + answered(&other),
        1,
        "answered by exactly one process"
    );
    service.shutdown().await;
    c.service.shutdown().await;
}

#[test]
fn check_config_reports_discord_with_its_intents() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_platbot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", dir.path())
        .env("PLATBOT_LOG", "error")
        .env("DISCORD_TOKEN", crate::support::fake_discord::TOKEN)
        .arg("check-config")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("discord:"))
        .unwrap_or_default();
    assert!(line.contains("on; token from $DISCORD_TOKEN"), "{stdout}");
    assert!(
        line.contains("intents GUILD_MESSAGES | DIRECT_MESSAGES (no privileged intents)"),
        "{line}"
    );
}
