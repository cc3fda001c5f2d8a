//! The planner without an LLM reading a message in its thread, through `Engine::handle`:
//! "restart it" after a docs answer or a diagnosis means the service and environment the
//! thread last named; a bare "yes" or "cancel" with nothing waiting says so.

use crate::support::common;

use common::sandbox_bot;

/// A member of the team that owns `cart` and `checkout-api` (checkout).
const CHECKOUT: &str = "jonah.feld";

#[tokio::test]
async fn restart_it_after_a_docs_answer_means_the_service_last_named() {
    let bot = sandbox_bot("").await;
    let status = bot
        .say_one("t1", CHECKOUT, "how is cart doing in staging?")
        .await;
    assert!(status.proposal.is_none(), "{}", status.text);
    let docs = bot
        .say_one("t1", CHECKOUT, "how do I rotate a database password?")
        .await;
    assert!(docs.proposal.is_none(), "{}", docs.text);
    let restart = bot.say_one("t1", CHECKOUT, "ok, restart it please").await;
    let proposal = restart.proposal.expect("a restart proposal");
    assert_eq!(proposal.action, "restart_deployment");
    assert_eq!(proposal.args["service"], "cart");
    assert_eq!(proposal.args["environment"], "staging");
}

#[tokio::test]
async fn restart_it_after_a_diagnosis_means_the_diagnosed_service() {
    let bot = sandbox_bot("").await;
    let diagnosis = bot
        .say_one("t2", CHECKOUT, "what's wrong with checkout-api in dev?")
        .await;
    assert!(diagnosis.data.is_some(), "{}", diagnosis.text);
    let restart = bot.say_one("t2", CHECKOUT, "can you bounce it").await;
    let proposal = restart.proposal.expect("a restart proposal");
    assert_eq!(proposal.action, "restart_deployment");
    assert_eq!(proposal.args["service"], "checkout-api");
    assert_eq!(proposal.args["environment"], "dev");
}

#[tokio::test]
async fn a_new_service_starts_a_new_topic() {
    let bot = sandbox_bot("").await;
    bot.say_one("t3", CHECKOUT, "how is cart doing in prod")
        .await;
    // Another service without an environment: "it" is now that service, and the
    // environment of the old one is not carried over to it.
    bot.say_one("t3", CHECKOUT, "is checkout-api healthy?")
        .await;
    let restart = bot.say_one("t3", CHECKOUT, "restart it").await;
    assert!(restart.proposal.is_none(), "{}", restart.text);
    assert!(
        restart.text.contains("checkout-api") && restart.text.contains("environment"),
        "{}",
        restart.text
    );
}

#[tokio::test]
async fn yes_or_cancel_with_nothing_waiting_says_so() {
    let bot = sandbox_bot("").await;
    let yes = bot.say_one("t4", CHECKOUT, "yes").await;
    assert!(
        yes.text.contains("nothing waiting for confirmation"),
        "{}",
        yes.text
    );
    assert!(yes.proposal.is_none());
    let cancel = bot.say_one("t4", CHECKOUT, "cancel").await;
    assert!(cancel.text.contains("nothing to cancel"), "{}", cancel.text);
    // After a read, a stray "confirm" is still about nothing.
    bot.say_one("t4", CHECKOUT, "how is cart doing in prod")
        .await;
    let confirm = bot.say_one("t4", CHECKOUT, "confirm").await;
    assert!(
        confirm.text.contains("nothing waiting for confirmation"),
        "{}",
        confirm.text
    );
}
