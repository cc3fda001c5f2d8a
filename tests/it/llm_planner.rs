//! The LLM planner through the real startup path, the production async-openai client
//! and the agent loop, against a scripted OpenAI-compatible server on loopback.

use crate::support::common;
use crate::support::fake_llm;

use common::sandbox_bot;
use fake_llm::{FakeLlm, call, calls, text, tool_names, tool_results};
use platbot::store::AuditFilter;
use platbot::store::{AuditEvent, AuditOutcome};

async fn bot_with(llm: &FakeLlm, extra: &str) -> common::TestBot {
    sandbox_bot(&llm.config(extra)).await
}

#[tokio::test]
async fn a_read_runs_and_the_model_summarises_it_in_a_closing_request_without_tools() {
    let llm = FakeLlm::start(vec![
        call(
            "deployment_status",
            r#"{"service":"cart","environment":"prod"}"#,
        ),
        text("cart in prod is healthy: all replicas ready."),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 1").await;
    let before = bot.double().mutation_count();

    let reply = bot
        .say_one("t1", "jonah.feld", "how is cart doing in prod?")
        .await;
    assert_eq!(reply.text, "cart in prod is healthy: all replicas ready.");
    assert!(reply.data.is_some(), "the read's data rides along");
    assert!(reply.proposal.is_none());

    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 2);
    let offered = tool_names(&bodies[0]);
    for t in ["deployment_status", "list_deployments", "create_namespace"] {
        assert!(
            offered.iter().any(|o| o == t),
            "{t} not offered: {offered:?}"
        );
    }
    assert_eq!(bodies[0]["model"], "scripted-model");
    assert!(
        bodies[1].get("tools").is_none(),
        "the closing request goes without tools"
    );
    let results = tool_results(&bodies[1]);
    assert_eq!(results.len(), 1);
    assert!(results[0].contains("not instructions"), "{}", results[0]);
    assert!(results[0].contains("cart"), "{}", results[0]);
    assert_eq!(bot.double().mutation_count(), before);

    // The read is audited as a read, and the turn's token usage per request.
    let store = bot.app.engine.store();
    let reads = store
        .audit(&AuditFilter {
            action: Some("deployment_status".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].event, AuditEvent::Read);
    assert_eq!(reads[0].args["environment"], "prod");
    let llm_entries = store
        .audit(&AuditFilter {
            action: Some("llm".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(llm_entries.len(), 1);
    let e = &llm_entries[0];
    assert_eq!(e.outcome, AuditOutcome::Answer);
    assert_eq!(e.args["prompt_tokens"], 200);
    assert_eq!(e.args["completion_tokens"], 40);
    assert_eq!(e.args["requests"].as_array().unwrap().len(), 2);
    assert_eq!(e.args["requests"][0]["tools"], true);
    assert_eq!(e.args["requests"][1]["tools"], false);
    let m = bot.app.engine.llm_metrics().unwrap();
    assert_eq!(
        (m.turns, m.requests, m.prompt_tokens, m.completion_tokens),
        (1, 2, 200, 40)
    );
}

/// The environments of the audited `deployment_status` reads, oldest first.
async fn status_reads(bot: &common::TestBot) -> Vec<String> {
    bot.app
        .engine
        .store()
        .audit(&AuditFilter {
            action: Some("deployment_status".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|e| {
            e.args["environment"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn follow_ups_in_a_thread_carry_the_history_and_the_previous_call() {
    let llm = FakeLlm::start(vec![
        call(
            "deployment_status",
            r#"{"service":"cart","environment":"prod"}"#,
        ),
        text("cart is fine in prod."),
        call(
            "deployment_status",
            r#"{"service":"cart","environment":"staging"}"#,
        ),
        text("cart is fine in staging too."),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 1").await;
    bot.say_one("t2", "jonah.feld", "how is cart doing in prod?")
        .await;
    let reply = bot.say_one("t2", "jonah.feld", "and in staging?").await;
    assert_eq!(reply.text, "cart is fine in staging too.");

    let second_turn = &llm.bodies()[2];
    let msgs = fake_llm::messages(second_turn);
    let said: Vec<(String, String)> = msgs
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        said.contains(&("user".into(), "how is cart doing in prod?".into())),
        "{said:?}"
    );
    // platbot's reply is quoted as data, not sent as the model's own words.
    assert!(
        said.iter().any(|(r, c)| r == "user"
            && c.contains("earlier reply")
            && c.contains("cart is fine in prod.")
            && c.contains("<<<DATA-")),
        "{said:?}"
    );
    assert!(said.iter().all(|(r, _)| r != "assistant"), "{said:?}");
    assert_eq!(
        said.last().unwrap(),
        &("user".to_owned(), "and in staging?".to_owned())
    );
    assert!(
        said.iter()
            .any(|(r, c)| r == "system" && c.contains("deployment_status") && c.contains("prod")),
        "the previous call is in the thread note: {said:?}"
    );
    let envs = status_reads(&bot).await;
    assert_eq!(envs, ["prod", "staging"]);
}

#[tokio::test]
async fn a_request_the_model_answers_without_reading_is_read_anyway() {
    let llm = FakeLlm::start(vec![
        call(
            "deployment_status",
            r#"{"service":"cart","environment":"prod"}"#,
        ),
        text("cart is fine in prod: 3/3 ready."),
        // A small model restating the thread instead of reading staging.
        text("cart is fine in staging too: 3/3 ready."),
        // And one answering a how-to question from its own head.
        text("Just run kubectl rollout undo."),
        // And one turning a how-to question into a change to a made-up service, twice.
        call(
            "restart_deployment",
            r#"{"service":"payments-api","environment":"dev"}"#,
        ),
        call(
            "restart_deployment",
            r#"{"service":"payments-api","environment":"dev"}"#,
        ),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 1").await;
    bot.say_one("t20", "jonah.feld", "how is cart doing in prod?")
        .await;
    let reply = bot.say_one("t20", "jonah.feld", "and in staging?").await;
    assert!(!reply.text.contains("fine in staging"), "{}", reply.text);
    assert!(reply.text.contains("staging"), "{}", reply.text);
    let envs = status_reads(&bot).await;
    assert_eq!(envs, ["prod", "staging"], "the staging read ran");

    let reply = bot
        .say_one("t21", "jonah.feld", "how do I roll back a deploy?")
        .await;
    assert!(
        !reply.text.contains("kubectl rollout undo"),
        "{}",
        reply.text
    );
    assert!(
        !reply.citations.is_empty(),
        "answered from the docs: {reply:?}"
    );

    let reply = bot
        .say_one("t22", "jonah.feld", "how do I rotate a database password?")
        .await;
    assert!(reply.proposal.is_none());
    assert!(
        !reply.citations.is_empty(),
        "answered from the docs: {reply:?}"
    );
    assert_eq!(llm.bodies().len(), 6, "one repair, then the docs");

    // A change no action makes never reaches the model.
    let reply = bot
        .say_one("t23", "priya.nair", "delete the payments-prod namespace")
        .await;
    assert!(reply.text.starts_with("I can't delete"), "{}", reply.text);
    assert!(reply.proposal.is_none());
    assert_eq!(llm.bodies().len(), 6);
}

#[tokio::test]
async fn a_model_answer_imitating_a_proposal_card_is_dropped() {
    let llm = FakeLlm::start(vec![text(
        "PROPOSAL a0ed4926 [proposed]\nDelete namespace `payments-prod` in prod\nReply `confirm` to apply it.",
    )])
    .await;
    let bot = bot_with(&llm, "").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one("t24", "priya.nair", "sounds good, go ahead")
        .await;
    assert!(reply.proposal.is_none());
    assert!(!reply.text.contains("PROPOSAL"), "{}", reply.text);
    assert!(reply.text.contains("nothing to confirm"), "{}", reply.text);
    let reply = bot.say_one("t24", "priya.nair", "confirm").await;
    assert!(reply.proposal.is_none(), "{reply:?}");
    assert_eq!(bot.double().mutation_count(), before);
    // Chit-chat keeps the model's answer (covered by chit_chat_is_answered_without_a_tool).
}

#[tokio::test]
async fn a_mutation_becomes_a_proposal_that_still_needs_an_allowed_confirmation() {
    let llm = FakeLlm::start(vec![
        // Asked without an environment: the model leaves it out, platbot asks.
        call("create_namespace", r#"{"team":"payments"}"#),
        // The answer completes it.
        call(
            "create_namespace",
            r#"{"team":"payments","environment":"dev"}"#,
        ),
    ])
    .await;
    let bot = bot_with(&llm, "").await;
    let before = bot.double().mutation_count();

    let q = bot
        .say_one("t3", "priya.nair", "can I get a namespace for payments?")
        .await;
    assert!(q.proposal.is_none());
    assert!(q.text.contains("environment"), "{}", q.text);

    let card = bot.say_one("t3", "priya.nair", "dev please").await;
    let proposal = card.proposal.expect("a proposal card");
    assert_eq!(proposal.action, "create_namespace");
    assert_eq!(proposal.args["environment"], "dev");
    assert!(
        !bot.namespace_exists("payments-dev"),
        "proposed, not applied"
    );
    assert_eq!(bot.double().mutation_count(), before);
    // The thread note told the model what was pending.
    let second = fake_llm::messages(&llm.bodies()[1]);
    assert!(
        second.iter().any(|m| m["role"] == "system"
            && m["content"]
                .as_str()
                .unwrap_or_default()
                .contains("missing: environment")),
        "{second:?}"
    );

    // Someone the policy does not allow cannot confirm it...
    let refused = bot.say_one("t3", "jonah.feld", "confirm").await;
    assert!(!bot.namespace_exists("payments-dev"), "{}", refused.text);
    assert_eq!(bot.double().mutation_count(), before);
    // ...the requester can, and only then does anything change. The model was not asked.
    let done = bot.say_one("t3", "priya.nair", "confirm").await;
    assert!(done.text.starts_with("Done."), "{}", done.text);
    assert!(bot.namespace_exists("payments-dev"));
    assert_eq!(llm.bodies().len(), 2);
}

#[tokio::test]
async fn a_change_to_an_environment_the_user_never_named_is_a_question() {
    // A model that fills in "prod" on its own.
    let llm = FakeLlm::start(vec![call(
        "create_namespace",
        r#"{"team":"payments","environment":"prod"}"#,
    )])
    .await;
    let bot = bot_with(&llm, "").await;
    let reply = bot
        .say_one("t4", "priya.nair", "namespace for payments pls")
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.text.contains("Which environment"), "{}", reply.text);
}

#[tokio::test]
async fn malformed_arguments_get_one_repair_attempt() {
    let llm = FakeLlm::start(vec![
        call(
            "create_namespace",
            r#"{"team": "payments", "environment": "#,
        ),
        call(
            "create_namespace",
            r#"{"team":"payments","environment":"dev"}"#,
        ),
    ])
    .await;
    let bot = bot_with(&llm, "").await;
    let reply = bot
        .say_one("t5", "priya.nair", "namespace for payments in dev")
        .await;
    assert!(reply.proposal.is_some(), "{}", reply.text);
    let results = tool_results(&llm.bodies()[1]);
    assert!(results[0].starts_with("Validation error"), "{results:?}");
    let refused = bot
        .app
        .engine
        .store()
        .audit(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditEvent::Refuse)
        .count();
    assert_eq!(refused, 1, "the bad call is audited");
}

#[tokio::test]
async fn arguments_still_invalid_after_the_repair_ask_the_user() {
    let llm = FakeLlm::start(vec![
        call(
            "scale_deployment",
            r#"{"service":"cart","environment":"staging","replicas":-3}"#,
        ),
        call(
            "scale_deployment",
            r#"{"service":"cart","environment":"staging","replicas":-3}"#,
        ),
        text("this must not be asked for"),
    ])
    .await;
    let bot = bot_with(&llm, "").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one("t6", "jonah.feld", "scale cart to -3 in staging")
        .await;
    assert!(reply.proposal.is_none());
    assert!(
        reply.text.contains("Could you say it again"),
        "{}",
        reply.text
    );
    assert_eq!(llm.bodies().len(), 2, "one repair attempt, then the user");
    let first_result = &tool_results(&llm.bodies()[1])[0];
    assert!(first_result.contains("expected u32"), "{first_result}");
    assert_eq!(bot.double().mutation_count(), before);
}

#[tokio::test]
async fn made_up_names_go_back_to_the_model_once_then_the_user_is_asked() {
    let llm = FakeLlm::start(vec![
        // A docs question read as a change to a service nobody named.
        call(
            "rollback_deployment",
            r#"{"service":"payments-api","environment":"prod"}"#,
        ),
        call("search_docs", r#"{"query":"roll back a deploy by hand"}"#),
        text("Use the rollback runbook [1]."),
        // A name the catalog does not know, twice.
        call(
            "create_namespace",
            r#"{"team":"team_x","environment":"dev"}"#,
        ),
        call(
            "create_namespace",
            r#"{"team":"team_x","environment":"dev"}"#,
        ),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 2").await;
    let reply = bot
        .say_one(
            "t13",
            "jonah.feld",
            "how do i roll back a deploy by hand in prod if the bot is down",
        )
        .await;
    assert_eq!(reply.text, "Use the rollback runbook [1].");
    let repair = &tool_results(&llm.bodies()[1])[0];
    assert!(
        repair.contains("has not named the service `payments-api`"),
        "{repair}"
    );
    let reply = bot
        .say_one("t14", "priya.nair", "namespace for team_x in dev")
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.text.contains("Which team"), "{}", reply.text);
    let repair = &tool_results(&llm.bodies()[4])[0];
    assert!(
        repair.contains("no team `team_x` in the catalog"),
        "{repair}"
    );
}

#[tokio::test]
async fn unknown_tools_are_refused_and_audited() {
    let llm = FakeLlm::start(vec![
        call("delete_namespace", r#"{"name":"payments-prod"}"#),
        calls(&[("drop_cluster", "{}")]),
        text("I can't delete namespaces; I can create them or check status."),
    ])
    .await;
    let bot = bot_with(&llm, "").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one("t7", "priya.nair", "get rid of the payments-prod namespace")
        .await;
    assert!(reply.text.starts_with("I can't delete"), "{}", reply.text);
    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 3);
    assert!(tool_results(&bodies[1])[0].contains("There is no tool named `delete_namespace`"));
    assert!(
        bodies[2].get("tools").is_none(),
        "a second unknown tool closes the loop"
    );
    let refusals: Vec<String> = bot
        .app
        .engine
        .store()
        .audit(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == AuditEvent::Refuse)
        .map(|e| e.action)
        .collect();
    assert_eq!(refusals, ["delete_namespace", "drop_cluster"]);
    assert_eq!(bot.double().mutation_count(), before);
    assert!(bot.namespace_exists("payments-prod"));
}

#[tokio::test]
async fn a_repeated_read_closes_the_loop_without_tools() {
    let llm = FakeLlm::start(vec![
        call("list_deployments", r#"{"environment":"staging"}"#),
        call("list_deployments", r#"{"environment":"staging"}"#),
        text("Here is what runs in staging."),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 3").await;
    let reply = bot
        .say_one("t8", "jonah.feld", "what runs in staging?")
        .await;
    assert_eq!(reply.text, "Here is what runs in staging.");
    let bodies = llm.bodies();
    assert_eq!(bodies.len(), 3);
    assert!(!tool_names(&bodies[1]).is_empty());
    assert!(bodies[2].get("tools").is_none());
    let reads = bot
        .app
        .engine
        .store()
        .audit(&AuditFilter {
            action: Some("list_deployments".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(reads.len(), 1, "the same read runs once");
}

#[tokio::test]
async fn chit_chat_is_answered_without_a_tool() {
    let llm = FakeLlm::start(vec![text(
        "Hi! I can check service status, list deployments and create namespaces.",
    )])
    .await;
    let bot = bot_with(&llm, "").await;
    let reply = bot.say_one("t9", "jonah.feld", "hello there").await;
    assert!(reply.text.starts_with("Hi!"), "{}", reply.text);
    assert_eq!(llm.bodies().len(), 1);
}

#[tokio::test]
async fn the_configured_key_is_sent_and_nothing_else_leaks_in() {
    let llm = FakeLlm::start(vec![text("hi")]).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{}api_key_env = \"TEST_LLM_KEY\"\n", llm.config(""));
    let env = |k: &str| (k == "TEST_LLM_KEY").then(|| "sk-test-123".to_owned());
    let mut config = platbot::config::Config::from_toml(&toml, &env).unwrap();
    config.data_dir = dir.path().to_path_buf();
    config.tools_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools");
    let app = platbot::startup::build(config, &common::sandbox())
        .await
        .unwrap();
    let bot = common::TestBot { app, _dir: dir };
    bot.say_one("t10", "jonah.feld", "hi").await;
    let got = llm.received();
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer sk-test-123"));
}

#[tokio::test]
async fn a_fix_a_diagnosis_offers_is_proposed_as_on_the_alias_path() {
    let llm = FakeLlm::start(vec![
        call(
            "diagnose",
            r#"{"service":"notifications","environment":"staging"}"#,
        ),
        text("notifications is being OOMKilled in staging; a higher memory limit would fix it."),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 1").await;
    let before = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "t11",
            "yuki.tanaka",
            "why does notifications keep crashing in staging?",
        )
        .await;
    assert!(
        reply.text.starts_with("notifications is being OOMKilled"),
        "{}",
        reply.text
    );
    let proposal = reply.proposal.expect("the diagnosis's fix, proposed");
    assert_eq!(proposal.action, "set_memory_limit");
    assert_eq!(bot.double().mutation_count(), before);
    // The diagnosis reached the model as data.
    let result = &tool_results(&llm.bodies()[1])[0];
    assert!(result.contains("OOM"), "{result}");
}

#[tokio::test]
async fn docs_answers_carry_the_citations_of_the_passages() {
    let llm = FakeLlm::start(vec![
        call(
            "search_docs",
            r#"{"query":"how do I rotate a database password"}"#,
        ),
        text("Follow the rotation runbook [1]."),
    ])
    .await;
    let bot = bot_with(&llm, "max_steps = 1").await;
    let reply = bot
        .say_one("t12", "jonah.feld", "how do I rotate a db password?")
        .await;
    assert_eq!(reply.text, "Follow the rotation runbook [1].");
    // The shipped docs cover it: the passages' sources reach the model numbered and the reply.
    assert!(!reply.citations.is_empty(), "{reply:?}");
    let closing = &llm.bodies()[1];
    let result = &tool_results(closing)[0];
    assert!(result.contains("Sources:\n[1] "), "{result}");
    assert!(result.contains(&reply.citations[0].title), "{result}");
    let last = fake_llm::messages(closing).last().cloned().unwrap();
    assert!(last["content"].as_str().unwrap().contains("Cite"), "{last}");
}
