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

#[tokio::test]
async fn api_and_gateway_urls_point_platbot_at_a_proxy_and_another_gateway() {
    let fake = FakeDiscord::start().await;
    // What /gateway hands out is dead: only the configured gateway_url can work.
    fake.answer_gateway_with("ws://127.0.0.1:9");
    let toml = format!(
        "[discord]\napi_url = \"{}\"\ngateway_url = \"{}\"\n",
        fake.proxy_url, fake.ws_url
    );
    let bot = crate::support::fakes::sandbox_bot_with(
        &toml,
        &[("DISCORD_TOKEN", crate::support::fake_discord::TOKEN)],
    )
    .await;
    let settings = bot.app.config.discord.clone().unwrap();
    // No test client: plain HTTP to the proxy, as configured.
    let service = platbot::chat::discord::start(
        std::sync::Arc::clone(&bot.app.engine),
        &settings,
        &Default::default(),
    )
    .await
    .unwrap();
    fake.wait_gateway(15, "IDENTIFY through gateway_url", |f| {
        !f.identifies().is_empty()
    })
    .await;
    fake.wait_for(15, "the global command registration", |calls| {
        calls
            .iter()
            .find(|c| {
                c.is(
                    "PUT",
                    &format!("/applications/{}/commands", payloads::APPLICATION),
                ) && c.ok()
            })
            .cloned()
    })
    .await;
    service.shutdown().await;
}
