//! Planner behaviour, end to end over the sandbox catalog and the builtin table.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::actions::spec::all_tools;
use crate::domain::ToolName;
use crate::engine::intent::{Clarification, ToolCall};

fn planner() -> AliasPlanner {
    AliasPlanner::new(
        all_tools(),
        AliasTable::builtin(),
        Arc::new(Catalog::sandbox()),
    )
}

fn plan(text: &str) -> Intent {
    planner().plan(text, &PlanContext::default())
}

fn call(text: &str) -> (String, Value) {
    match plan(text) {
        Intent::Call(ToolCall { tool, args }) => (tool.to_string(), Value::Object(args)),
        other => panic!("{text:?}: expected a call, got {other:?}"),
    }
}

fn clarify(text: &str) -> Clarification {
    match plan(text) {
        Intent::Clarify(c) => c,
        other => panic!("{text:?}: expected a question, got {other:?}"),
    }
}

fn assert_call(text: &str, tool: &str, args: Value) {
    let (t, a) = call(text);
    assert_eq!(t, tool, "{text:?} -> {a}");
    for (k, v) in args.as_object().into_iter().flatten() {
        assert_eq!(a.get(k), Some(v), "{text:?}: argument {k} in {a}");
    }
}

#[test]
fn the_planner_can_be_shared_between_tasks() {
    fn shared<T: Send + Sync>() {}
    shared::<AliasPlanner>();
    shared::<AliasTable>();
}

#[test]
fn integer_arguments_come_from_the_schema() {
    let p = planner();
    let numeric = |name: &str| p.tools[p.tool_index(name).unwrap()].numeric.clone();
    assert_eq!(numeric("scale_deployment"), ["replicas"]);
    assert_eq!(numeric("pod_logs"), ["lines"]);
    assert_eq!(numeric("rollback_deployment"), ["revision"]);
    assert!(numeric("deployment_status").is_empty());
}

#[test]
fn read_tools_are_recognised() {
    assert_call(
        "how is cart doing in prod",
        "deployment_status",
        json!({"service": "cart", "environment": "prod"}),
    );
    assert_call(
        "is payments api ok in staging?",
        "deployment_status",
        json!({"service": "payments-api"}),
    );
    assert_call(
        "what's deployed in stg",
        "list_deployments",
        json!({"environment": "staging"}),
    );
    assert_call(
        "list everything the search team has running",
        "list_deployments",
        json!({"team": "search"}),
    );
    assert_call(
        "who do i page for the mobile bff",
        "who_is_on_call",
        json!({"subject": "mobile-bff"}),
    );
    assert_call(
        "oncall for the data platform folks?",
        "who_is_on_call",
        json!({"subject": "data-platform"}),
    );
    assert_call(
        "why is cart crashlooping in live",
        "diagnose",
        json!({"service": "cart", "environment": "prod"}),
    );
    assert_call("grab search logs", "pod_logs", json!({"service": "search"}));
    assert_call(
        "search for cart logs in prod",
        "pod_logs",
        json!({"service": "cart"}),
    );
    assert_call(
        "last fifty lines of ledger logs",
        "pod_logs",
        json!({"service": "ledger", "lines": 50}),
    );
    assert_call(
        "rollout history for checkout-api in prod",
        "rollout_history",
        json!({"service": "checkout-api"}),
    );
}

#[test]
fn docs_questions_get_the_cleaned_text_as_query() {
    let (tool, args) = call("@platbot how do I add a readiness probe? 🤔");
    assert_eq!(tool, "search_docs");
    assert_eq!(args["query"], "how do I add a readiness probe?");
    // Tool words inside a how-to question do not make it an action.
    assert_call(
        "how do i roll back a deploy by hand",
        "search_docs",
        json!({}),
    );
    assert_call(
        "what's the naming convention for services",
        "search_docs",
        json!({}),
    );
}

/// A question that only names a concept is a docs question, also for concepts no
/// template names, and "apps" in a concept's name does not make it a listing.
#[test]
fn questions_that_only_name_a_concept_are_docs_questions() {
    for text in [
        "what's a cronjob",
        "describe the twelve-factor app",
        "what is the app of apps pattern",
    ] {
        assert_call(text, "search_docs", json!({}));
    }
}

#[test]
fn mutations_with_everything_named_are_calls() {
    assert_call(
        "restart cart in staging",
        "restart_deployment",
        json!({"service": "cart", "environment": "staging"}),
    );
    assert_call(
        "bounce the mobile bff on prd",
        "restart_deployment",
        json!({"service": "mobile-bff", "environment": "prod"}),
    );
    assert_call(
        "scale checkout api to three replicas in stg",
        "scale_deployment",
        json!({"service": "checkout-api", "environment": "staging", "replicas": 3}),
    );
    assert_call(
        "roll back ledger in production to revision seven",
        "rollback_deployment",
        json!({"service": "ledger", "environment": "prod", "revision": 7}),
    );
    assert_call(
        "create ns identity-staging",
        "create_namespace",
        json!({"team": "identity", "environment": "staging"}),
    );
    assert_call(
        "namespace for the identity team in production please",
        "create_namespace",
        json!({"team": "identity", "environment": "prod"}),
    );
}

#[test]
fn mutations_never_guess_the_environment() {
    for (text, tool) in [
        ("restart cart", "restart_deployment"),
        ("scale recommendations to 4", "scale_deployment"),
        ("rollback checkout-api", "rollback_deployment"),
        ("create a namespace for payments", "create_namespace"),
    ] {
        let c = clarify(text);
        assert_eq!(c.tool, tool);
        assert_eq!(c.missing, ["environment"], "{text}");
        assert!(
            c.question.contains("dev, staging or prod"),
            "{}",
            c.question
        );
    }
    let c = clarify("scale ledger in prod");
    assert_eq!(c.missing, ["replicas"]);
}

#[test]
fn a_namespace_without_team_or_environment_asks_for_both() {
    let c = clarify("make me a namespace");
    assert_eq!(c.tool, "create_namespace");
    assert_eq!(c.missing, ["team", "environment"]);
    assert_eq!(
        c.question,
        "Which team is the namespace for, and which environment (dev, staging or prod)?"
    );
}

#[test]
fn mutations_never_guess_a_misspelt_or_ambiguous_service() {
    let c = clarify("restart checkout-apy in prod");
    assert_eq!(c.missing, ["service"]);
    assert!(c.question.contains("checkout-api"), "{}", c.question);
    assert_eq!(c.args.get("environment"), Some(&json!("prod")));
    let c = clarify("restart identity in prod");
    assert!(
        c.question.contains("auth-gateway or user-profile"),
        "{}",
        c.question
    );
    // Reads may use the single plausible match.
    assert_call(
        "status of recomendations",
        "deployment_status",
        json!({"service": "recommendations"}),
    );
}

#[test]
fn who_is_on_call_without_a_subject_asks() {
    let c = clarify("who is on call?");
    assert_eq!(
        (c.tool.as_str(), c.missing.as_slice()),
        ("who_is_on_call", ["subject".to_owned()].as_slice())
    );
}

#[test]
fn chit_chat_is_not_a_platform_request() {
    for text in [
        "tell me a joke",
        "thanks!",
        "what's the weather like in berlin",
        "anyone for lunch?",
    ] {
        match plan(text) {
            Intent::NotPlatform { reply } => assert!(reply.contains("on call"), "{reply}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

fn pending(c: Clarification) -> PlanContext {
    PlanContext {
        pending: Some(c),
        ..PlanContext::default()
    }
}

#[test]
fn answers_complete_the_pending_request() {
    let p = planner();
    let ctx = pending(clarify("make me a namespace"));
    assert_eq!(
        p.plan("payments in dev", &ctx),
        Intent::Call(ToolCall {
            tool: crate::domain::ToolName::CreateNamespace,
            args: json!({"team": "payments", "environment": "dev"})
                .as_object()
                .cloned()
                .unwrap(),
        })
    );
    let ctx = pending(clarify("restart cart"));
    match p.plan("staging", &ctx) {
        Intent::Call(c) => assert_eq!(
            Value::Object(c.args),
            json!({"service": "cart", "environment": "staging"})
        ),
        other => panic!("{other:?}"),
    }
    let ctx = pending(clarify("scale ledger in prod"));
    match p.plan("3", &ctx) {
        Intent::Call(c) => assert_eq!(c.args["replicas"], json!(3)),
        other => panic!("{other:?}"),
    }
    // Half an answer keeps asking for the rest.
    let ctx = pending(clarify("make me a namespace"));
    match p.plan("the payments team", &ctx) {
        Intent::Clarify(c) => assert_eq!(c.missing, ["environment"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_request_replaces_the_pending_one() {
    let ctx = pending(clarify("restart cart"));
    match planner().plan("who's on call for payments?", &ctx) {
        Intent::Call(c) => assert_eq!(c.tool, "who_is_on_call"),
        other => panic!("{other:?}"),
    }
}

fn previous(text: &str) -> PlanContext {
    match plan(text) {
        Intent::Call(c) => PlanContext {
            previous: Some(c),
            ..PlanContext::default()
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn elliptical_follow_ups_reuse_the_previous_call() {
    let p = planner();
    let ctx = previous("how is cart doing in prod");
    let cases = [
        (
            "and in staging?",
            "deployment_status",
            json!({"service": "cart", "environment": "staging"}),
        ),
        (
            "same for checkout-api",
            "deployment_status",
            json!({"service": "checkout-api", "environment": "prod"}),
        ),
        (
            "and the logs?",
            "pod_logs",
            json!({"service": "cart", "environment": "prod"}),
        ),
        (
            "who's on call for it",
            "who_is_on_call",
            json!({"subject": "cart"}),
        ),
    ];
    for (text, tool, args) in cases {
        match p.plan(text, &ctx) {
            Intent::Call(c) => {
                assert_eq!(c.tool, tool, "{text}");
                assert_eq!(Value::Object(c.args), args, "{text}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    // A complete new request is planned on its own.
    match p.plan("how do I rotate a db password?", &ctx) {
        Intent::Call(c) => assert_eq!(c.tool, "search_docs"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_mutation_follow_up_is_a_complete_call_to_confirm() {
    let ctx = previous("restart cart in staging");
    match planner().plan("what about prod", &ctx) {
        Intent::Call(c) => {
            assert_eq!(c.tool, "restart_deployment");
            assert_eq!(
                Value::Object(c.args),
                json!({"service": "cart", "environment": "prod"})
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_and_empty_messages_are_handled() {
    let huge = "restart ".repeat(10_000);
    assert!(matches!(plan(&huge), Intent::Clarify(_)));
    assert!(matches!(plan(""), Intent::NotPlatform { .. }));
    assert!(matches!(plan("🙏🙏"), Intent::NotPlatform { .. }));
}

#[test]
fn changes_no_action_makes_are_refused_not_read_as_the_nearest_one() {
    for text in [
        "delete the payments-prod namespace",
        "@platbot remove cart from staging",
        "please tear down search in dev",
    ] {
        match plan(text) {
            Intent::NotPlatform { reply } => assert!(reply.starts_with("I can't"), "{reply}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    // Asking how is a docs question.
    assert_call(
        "how do I delete a namespace I no longer need?",
        "search_docs",
        json!({}),
    );
}

#[test]
fn a_negative_count_is_not_read_as_a_positive_one() {
    let c = clarify("scale cart to -3 in staging");
    assert_eq!(c.tool, "scale_deployment");
    assert_eq!(c.missing, ["replicas"]);
}

#[test]
fn replica_counts_in_chat_shorthand_are_read() {
    for text in [
        "scale cart prod x5",
        "scale cart in prod 5x",
        "scale cart prod =5",
        "scale cart in prod to five",
    ] {
        assert_call(
            text,
            "scale_deployment",
            json!({"service": "cart", "environment": "prod", "replicas": 5}),
        );
    }
    assert_call(
        "scale cart in prod to a dozen pods",
        "scale_deployment",
        json!({"service": "cart", "environment": "prod", "replicas": 12}),
    );
}

#[test]
fn a_change_by_an_amount_asks_for_the_count() {
    for text in [
        "double cart in prod",
        "scale cart up by 2 in prod",
        "scale cart +2 in prod",
    ] {
        let c = clarify(text);
        assert_eq!(c.tool, "scale_deployment", "{text}");
        assert_eq!(c.missing, ["replicas"], "{text}");
        assert_eq!(c.question, "How many replicas should cart run in prod?");
    }
}

/// A planner whose classifier learnt from a toy corpus where one phrase means a restart
/// as often as the logs: its readings of that phrase are below every threshold.
fn toy_planner() -> AliasPlanner {
    let mut corpus = crate::engine::nlu::Corpus::default();
    for (label, src) in [
        (
            "restart_deployment",
            "(restart|bounce) {service} (in|on) {environment}\ndo the thing with {service} in {environment}\n",
        ),
        (
            "pod_logs",
            "(logs|tail) (of |){service} (in|on) {environment}\ndo the thing with {service} in {environment}\n",
        ),
        ("none", "(hello|thanks|tell me a joke)\n"),
    ] {
        corpus.add(label, label, src).unwrap();
    }
    let tools = all_tools()
        .into_iter()
        .filter(|t| [ToolName::RestartDeployment, ToolName::PodLogs].contains(&t.name))
        .collect();
    AliasPlanner::new(
        tools,
        AliasTable::builtin().with_corpus(corpus),
        Arc::new(Catalog::sandbox()),
    )
}

#[test]
fn a_change_below_the_threshold_is_a_question_between_the_top_two() {
    let p = toy_planner();
    let none = PlanContext::default();
    let asked = match p.plan("do the thing with cart in staging", &none) {
        Intent::Clarify(c) => c,
        other => panic!("{other:?}"),
    };
    let mut choices = asked.choices.clone();
    choices.sort();
    assert_eq!(choices, ["pod_logs", "restart_deployment"], "{asked:?}");
    assert!(
        asked.question.contains("restart cart in staging"),
        "{}",
        asked.question
    );
    assert_eq!(asked.args["service"], json!("cart"));
    let ctx = pending(asked);
    // The answer picks one of them, with the arguments already given.
    match p.plan("the restart", &ctx) {
        Intent::Call(c) => {
            assert_eq!(c.tool, "restart_deployment");
            assert_eq!(
                Value::Object(c.args),
                json!({"service": "cart", "environment": "staging"})
            );
        }
        other => panic!("{other:?}"),
    }
    match p.plan("logs please", &ctx) {
        Intent::Call(c) => assert_eq!(c.tool, "pod_logs"),
        other => panic!("{other:?}"),
    }
    // "no" drops it.
    assert!(matches!(p.plan("no", &ctx), Intent::NotPlatform { .. }));
    // Above the threshold a clear request is a call.
    assert!(matches!(
        p.plan("bounce cart in staging", &none),
        Intent::Call(c) if c.tool == "restart_deployment"
    ));
}

#[test]
fn the_classifier_is_trained_once_per_process_for_the_same_examples() {
    let a = planner();
    let b = planner();
    assert!(Arc::ptr_eq(&a.understanding.model, &b.understanding.model));
    let (examples, _) = a.training_summary();
    assert!(examples > 1000, "{examples}");
}
