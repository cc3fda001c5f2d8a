//! The LLM planner with the intent classifier as its second opinion, through the real
//! startup path against the scripted OpenAI-compatible server: what the classifier
//! settles goes without the model, the rest goes to the model with a hint, and no
//! change is proposed with a value the user did not give, nor one the classifier does
//! not see in the message.

use crate::support::common;
use crate::support::fake_llm;

use fake_llm::{FakeLlm, call, text, tool_names, tool_results};
use platbot::store::AuditEvent;
use platbot::store::AuditFilter;

async fn bot(llm: &FakeLlm, classifier: &str) -> common::TestBot {
    common::sandbox_bot(&llm.config(&format!("classifier = \"{classifier}\""))).await
}

/// The system messages of a request body.
fn system_texts(body: &serde_json::Value) -> Vec<String> {
    fake_llm::messages(body)
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn not_a_platform_request_is_answered_without_a_tool_or_the_model() {
    let llm = FakeLlm::start(Vec::new()).await;
    let bot = bot(&llm, "route").await;
    let reply = bot
        .say_one("c1", "jonah.feld", "what's a good recipe for banana bread?")
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.data.is_none(), "no tool ran");
    assert!(reply.text.contains("I'm platbot"), "{}", reply.text);
    assert!(llm.bodies().is_empty(), "the model was not asked");
    let store = bot.app.engine.store();
    let reads = store.audit(&AuditFilter::default()).await.unwrap();
    assert!(
        reads.iter().all(|e| e.event != AuditEvent::Read),
        "no read was audited: {reads:?}"
    );
}

#[tokio::test]
async fn a_request_missing_a_value_is_a_question_naming_it_without_the_model() {
    let llm = FakeLlm::start(Vec::new()).await;
    let bot = bot(&llm, "route").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "c2",
            "jonah.feld",
            "please scale the ledger deployment in staging",
        )
        .await;
    assert!(reply.proposal.is_none());
    assert!(
        reply.text.contains("How many replicas"),
        "names what is missing: {}",
        reply.text
    );
    let reply = bot
        .say_one("c3", "jonah.feld", "bounce the search service")
        .await;
    assert!(reply.proposal.is_none());
    assert!(
        reply.text.to_lowercase().contains("environment"),
        "{}",
        reply.text
    );
    assert!(llm.bodies().is_empty());
    assert_eq!(bot.double().mutation_count(), before);
}

#[tokio::test]
async fn a_confident_read_runs_and_the_model_only_words_the_answer() {
    let llm = FakeLlm::start(vec![text("cart in staging is healthy.")]).await;
    let bot = bot(&llm, "route").await;
    let reply = bot
        .say_one(
            "c4",
            "jonah.feld",
            "does cart look ok in staging at the moment",
        )
        .await;
    assert_eq!(reply.text, "cart in staging is healthy.");
    assert!(reply.data.is_some(), "the read's data rides along");
    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 1, "one closing request");
    assert!(tool_names(&bodies[0]).is_empty(), "sent without tools");
    let results = tool_results(&bodies[0]);
    assert_eq!(results.len(), 1);
    assert!(results[0].contains("deployment_status"), "{}", results[0]);
    // Audited as a read, and the turn as routed.
    let store = bot.app.engine.store();
    let reads = store
        .audit(&AuditFilter {
            action: Some("deployment_status".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].args["service"], "cart");
    assert_eq!(reads[0].args["environment"], "staging");
    let turns = store
        .audit(&AuditFilter {
            action: Some("llm".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(turns[0].args["routed"], true);
}

#[tokio::test]
async fn a_confident_change_is_proposed_from_the_users_words_only() {
    let llm = FakeLlm::start(Vec::new()).await;
    let bot = bot(&llm, "route").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "c5",
            "jonah.feld",
            "could you restart the cart deployment in staging",
        )
        .await;
    let proposal = reply.proposal.expect("a proposal card");
    assert_eq!(proposal.action, "restart_deployment");
    assert_eq!(proposal.args["service"], "cart");
    assert_eq!(proposal.args["environment"], "staging");
    assert!(llm.bodies().is_empty());
    assert_eq!(
        bot.double().mutation_count(),
        before,
        "proposed, not applied"
    );
}

#[tokio::test]
async fn the_model_is_told_the_classifiers_reading_when_it_is_asked() {
    let llm = FakeLlm::start(vec![text(
        "I only help with the platform: status, logs, on-call, docs and changes you confirm.",
    )])
    .await;
    let bot = bot(&llm, "advise").await;
    let reply = bot
        .say_one("c6", "jonah.feld", "what's a good recipe for banana bread?")
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.data.is_none());
    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 1);
    let hint = system_texts(&bodies[0])
        .into_iter()
        .find(|t| t.starts_with("Classifier:"))
        .expect("a hint");
    assert!(hint.contains("not a platform request"), "{hint}");
    assert_eq!(
        bodies[0]["max_completion_tokens"], 128,
        "a planning request is capped"
    );
}

#[tokio::test]
async fn with_few_shot_the_hint_shows_similar_training_requests_with_their_tools() {
    let message = "could you bounce cart in staging, the cache looks stale";
    let llm = FakeLlm::start(vec![text("Which one did you mean?")]).await;
    let with = common::sandbox_bot(&llm.config("classifier = \"advise\"\nfew_shot = 3")).await;
    with.say_one("c6b", "jonah.feld", message).await;
    let hint = system_texts(&llm.bodies()[0])
        .into_iter()
        .find(|t| t.starts_with("Classifier:"))
        .expect("a hint");
    let similar = hint.split_once(" Similar: ").expect("examples").1;
    // Masked like the message, each with its tool, the restart one among them.
    assert!(similar.contains("<service>"), "{similar}");
    assert!(similar.contains("-> restart_deployment"), "{similar}");
    assert!(similar.matches(" -> ").count() <= 3, "{similar}");

    let llm = FakeLlm::start(vec![text("Which one did you mean?")]).await;
    // Off by default.
    let plain = bot(&llm, "advise").await;
    plain.say_one("c6c", "jonah.feld", message).await;
    let hint = system_texts(&llm.bodies()[0])
        .into_iter()
        .find(|t| t.starts_with("Classifier:"))
        .expect("a hint");
    assert!(!hint.contains("Similar:"), "{hint}");
}

#[tokio::test]
async fn a_value_the_user_did_not_give_becomes_a_question_not_a_proposal() {
    let llm = FakeLlm::start(vec![
        // No replica count in the message: the model makes one up.
        call(
            "scale_deployment",
            r#"{"service":"ledger","environment":"staging","replicas":3}"#,
        ),
        // No service in the message: the model picks one.
        call(
            "restart_deployment",
            r#"{"service":"cart","environment":"prod"}"#,
        ),
    ])
    .await;
    let bot = bot(&llm, "advise").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "c7",
            "jonah.feld",
            "please scale the ledger deployment in staging",
        )
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.text.contains("How many replicas"), "{}", reply.text);
    // Nothing that can be a service was named, and the classifier reads a restart too:
    // the user is asked at once, not the model a second time.
    let reply = bot.say_one("c8", "jonah.feld", "restart it in prod").await;
    assert!(reply.proposal.is_none());
    assert!(
        reply.text.to_lowercase().contains("which service"),
        "{}",
        reply.text
    );
    assert_eq!(llm.bodies().len(), 2, "one request per message");
    assert_eq!(bot.double().mutation_count(), before);
    let store = bot.app.engine.store();
    let refused = store
        .audit(&AuditFilter {
            action: Some("restart_deployment".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(
        refused.iter().any(|e| e.event == AuditEvent::Refuse),
        "the made-up name is audited as refused: {refused:?}"
    );
}

#[tokio::test]
async fn a_change_the_classifier_does_not_read_in_the_message_is_a_question() {
    // The message uses the change's word, so the phrase guard lets it through; the
    // classifier reads a diagnosis.
    let llm = FakeLlm::start(vec![call(
        "restart_deployment",
        r#"{"service":"cart","environment":"staging"}"#,
    )])
    .await;
    let bot = bot(&llm, "advise").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "c9",
            "jonah.feld",
            "cart restarted twice overnight in staging, what's wrong with it?",
        )
        .await;
    assert!(reply.proposal.is_none(), "{}", reply.text);
    assert!(
        reply.text.contains("do you want me to restart cart"),
        "{}",
        reply.text
    );
    assert_eq!(bot.double().mutation_count(), before);
}

#[tokio::test]
async fn with_answers_by_the_tools_a_settled_read_asks_the_model_nothing() {
    let llm = FakeLlm::start(Vec::new()).await;
    let bot = common::sandbox_bot(&llm.config("classifier = \"route\"\nanswers = \"tools\"")).await;
    let reply = bot
        .say_one(
            "c10",
            "jonah.feld",
            "does cart look ok in staging at the moment",
        )
        .await;
    assert!(llm.bodies().is_empty(), "the model was not asked");
    assert!(reply.data.is_some(), "the read ran");
    assert!(
        reply.text.contains("cart") && reply.text.contains("staging"),
        "the status tool's own text: {}",
        reply.text
    );
}

#[tokio::test]
async fn with_answers_by_the_tools_the_model_only_chooses() {
    let llm = FakeLlm::start(vec![call(
        "deployment_status",
        r#"{"service":"ledger","environment":"prod"}"#,
    )])
    .await;
    let bot =
        common::sandbox_bot(&llm.config("classifier = \"advise\"\nanswers = \"tools\"")).await;
    let reply = bot
        .say_one("c11", "jonah.feld", "ledger in prod: all good?")
        .await;
    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 1, "one planning request, no closing one");
    assert!(!tool_names(&bodies[0]).is_empty(), "it offered the tools");
    assert!(reply.data.is_some(), "the read ran");
    assert!(
        reply.text.contains("ledger") && reply.text.contains("prod"),
        "the status tool's own text: {}",
        reply.text
    );
    let store = bot.app.engine.store();
    let reads = store
        .audit(&AuditFilter {
            action: Some("deployment_status".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].args["service"], "ledger");
}
