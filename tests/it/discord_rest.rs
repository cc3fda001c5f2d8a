//! Discord REST behaviour through serenity's real client: a 429 is waited out for its
//! `Retry-After` and the call retried, so the answer still arrives; a refused token stops
//! the start with the variable named.

use std::time::Duration;

use crate::support::fake_discord::payloads;
use crate::support::fake_discord::{Connected, FakeDiscord, PRIYA, connected};

const DM: u64 = 1_100_000_000_000_000_300;

#[tokio::test]
async fn a_429_is_waited_out_and_the_answer_still_arrives() {
    let c = connected().await;
    c.fake.add_channel(DM, 1, None);
    let path = format!("/channels/{DM}/messages");
    c.fake.rate_limit("POST", &path, &[1.5]);
    c.fake.dispatch(
        "MESSAGE_CREATE",
        payloads::message_create(
            1_100_000_000_000_000_350,
            DM,
            &Connected::person(PRIYA),
            "who is on call for checkout",
            false,
        ),
    );
    let answer = c.reply_in(DM, "primary: ").await;
    let tries: Vec<_> = c
        .fake
        .calls_of("POST", &path)
        .into_iter()
        .filter(|x| x.path == path)
        .collect();
    assert_eq!(tries.len(), 2, "one 429, one retry");
    assert_eq!((tries[0].status, tries[1].status), (429, 200));
    let waited = answer.at.duration_since(tries[0].at);
    assert!(
        waited >= Duration::from_millis(1450),
        "retried after {waited:?}, before Retry-After"
    );
    c.service.shutdown().await;
}

#[tokio::test]
async fn a_refused_token_stops_the_start_naming_the_variable() {
    let fake = FakeDiscord::start().await;
    let bot = crate::support::fakes::sandbox_bot_with(
        "[discord]\ntoken_env = \"OUR_DISCORD_TOKEN\"\n",
        &[("OUR_DISCORD_TOKEN", "MTEw.wrong.token")],
    )
    .await;
    let settings = bot.app.config.discord.clone().unwrap();
    let options = platbot::chat::discord::DiscordOptions {
        http_client: Some(fake.http_client()),
    };
    let err =
        platbot::chat::discord::start(std::sync::Arc::clone(&bot.app.engine), &settings, &options)
            .await
            .err()
            .expect("a refused token is an error");
    let msg = err.to_string();
    assert!(
        msg.contains("$OUR_DISCORD_TOKEN") && msg.contains("401"),
        "{msg}"
    );
    assert!(
        fake.identifies().is_empty(),
        "no gateway connection was made"
    );
}
