//! The warm-up at start: one request with the fixed prefix of every tool-choosing request
//! (the system prompt and the tools) and a one-token answer, so that a server with a prompt
//! cache has the prefix before the first user waits on it.

use crate::support::common::sandbox_bot;
use crate::support::fake_llm::{FakeLlm, text};

use std::time::Duration;

#[tokio::test]
async fn start_sends_the_prefix_of_later_requests_once_asking_for_one_token() {
    let llm = FakeLlm::start(vec![text("."), text("Hi! Ask me about deployments.")]).await;
    let bot = sandbox_bot(&llm.config("warm_up = true")).await;
    // Startup does not wait for it: it runs in the background.
    let mut waited = Duration::ZERO;
    while llm.received().is_empty() && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    let reply = bot.say_one("w1", "jonah.feld", "hello there").await;
    assert!(reply.text.starts_with("Hi!"), "{}", reply.text);

    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 2, "one warm-up, one turn: {bodies:#?}");
    let (warm, turn) = (&bodies[0], &bodies[1]);
    assert_eq!(warm["max_completion_tokens"], 1);
    assert_ne!(turn["max_completion_tokens"], 1);
    // The cached prefix: the same system message first and the same tools.
    assert_eq!(warm["messages"][0]["role"], "system");
    assert_eq!(warm["messages"][0], turn["messages"][0]);
    assert!(warm["tools"].as_array().is_some_and(|t| !t.is_empty()));
    assert_eq!(warm["tools"], turn["tools"]);
}

#[tokio::test]
async fn a_failed_warm_up_does_not_stop_the_bot_answering() {
    let llm = FakeLlm::start(vec![]).await;
    // The script is empty: the warm-up gets a 500 (and its retries), then the turn falls
    // back to the planner without the model.
    let bot = sandbox_bot(&llm.config("warm_up = true")).await;
    let reply = bot
        .say_one("w2", "jonah.feld", "who is on call for cart?")
        .await;
    // The warm-up's failure opened nothing: the turn asked the model, which failed too,
    // and the planner without it answered.
    assert!(
        reply
            .text
            .contains("The language model could not help this time"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("cart"), "{}", reply.text);
}
