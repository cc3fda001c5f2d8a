//! When the model endpoint rate-limits, errs, is slow or is down: retries with backoff
//! honouring Retry-After, then the alias planner answers and the reply says so; a
//! circuit breaker stops asking a failing endpoint for a while.

use crate::support::common;
use crate::support::fake_llm;
use platbot::store::AuditOutcome;

use std::time::{Duration, Instant};

use common::sandbox_bot;
use fake_llm::{FakeLlm, error, rate_limited, slow, text};

const FALLBACK: &str = "The language model could not help this time";

#[tokio::test]
async fn a_rate_limited_request_is_retried_after_retry_after() {
    let llm = FakeLlm::start(vec![
        rate_limited(1),
        text("Hi! I can check status and create namespaces."),
    ])
    .await;
    let bot = sandbox_bot(&llm.config("timeout_secs = 5")).await;
    let reply = bot.say_one("r1", "jonah.feld", "hello").await;
    assert!(reply.text.starts_with("Hi!"), "{}", reply.text);
    let got = llm.received();
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 honoured, waited {waited:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let llm = FakeLlm::start(vec![error(500), error(503), text("All good.")]).await;
    let bot = sandbox_bot(&llm.config("")).await;
    let reply = bot.say_one("r2", "jonah.feld", "hello").await;
    assert_eq!(reply.text, "All good.");
    assert_eq!(llm.received().len(), 3);
}

#[tokio::test]
async fn a_slow_model_falls_back_to_the_alias_planner_and_says_so() {
    let llm = FakeLlm::start(vec![slow(Duration::from_secs(5), text("too late"))]).await;
    let bot = sandbox_bot(&llm.config("timeout_secs = 0.5")).await;
    let started = Instant::now();
    let reply = bot
        .say_one("r3", "jonah.feld", "how is cart doing in prod?")
        .await;
    assert!(started.elapsed() < Duration::from_secs(4));
    // The alias planner's answer: the status read itself.
    assert!(reply.text.contains("cart"), "{}", reply.text);
    assert!(reply.data.is_some(), "{}", reply.text);
    assert!(reply.text.contains(FALLBACK), "{}", reply.text);
    assert!(
        reply.text.contains("did not answer within"),
        "{}",
        reply.text
    );
    let m = bot.app.engine.llm_metrics().unwrap();
    assert_eq!((m.fallbacks, m.failures), (1, 1));
}

#[tokio::test]
async fn an_unreachable_endpoint_falls_back_and_a_proposal_still_needs_confirmation() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // The classifier off: the model is asked about every message.
    let toml = format!(
        "[llm]\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"m\"\ntimeout_secs = 5\nclassifier = \"off\"\nwarm_up = false\n"
    );
    let bot = sandbox_bot(&toml).await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "r4",
            "priya.nair",
            "can I get a namespace for payments in dev?",
        )
        .await;
    assert!(reply.text.contains(FALLBACK), "{}", reply.text);
    assert!(reply.text.contains("cannot reach"), "{}", reply.text);
    assert!(reply.proposal.is_some(), "the alias planner proposes");
    assert!(!bot.namespace_exists("payments-dev"));
    assert_eq!(bot.double().mutation_count(), before);
    let llm_audit = bot
        .app
        .engine
        .store()
        .audit(&platbot::store::AuditFilter {
            action: Some("llm".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(llm_audit[0].outcome, AuditOutcome::Fallback);
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures_and_closes_after_a_good_trial() {
    // 400s are not retried, so each failing turn costs exactly one request.
    let llm = FakeLlm::start(vec![error(400), error(400)]).await;
    let bot = sandbox_bot(&llm.config("breaker_failures = 2\nbreaker_cooldown_secs = 1")).await;
    for i in 0..2 {
        let r = bot.say_one("r5", "jonah.feld", "hello").await;
        assert!(r.text.contains(FALLBACK), "turn {i}: {}", r.text);
    }
    assert_eq!(llm.received().len(), 2);
    // Open: the endpoint is not asked at all.
    let r = bot.say_one("r5", "jonah.feld", "hello").await;
    assert!(r.text.contains("several times in a row"), "{}", r.text);
    assert_eq!(llm.received().len(), 2);
    assert_eq!(bot.app.engine.llm_metrics().unwrap().circuit_open_skips, 1);
    // After the cool-down one trial goes through; it succeeds and the breaker closes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    llm.push([text("Back."), text("Still here.")]);
    assert_eq!(bot.say_one("r5", "jonah.feld", "hello").await.text, "Back.");
    assert_eq!(
        bot.say_one("r5", "jonah.feld", "hello").await.text,
        "Still here."
    );
}
