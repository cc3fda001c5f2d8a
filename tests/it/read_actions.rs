//! Read actions and bad input, through the engine against the sandbox cluster.

use crate::support::common;

use common::sandbox_bot;
use platbot::actions::{ActionError, Registry, RegistryEntry};
use platbot::domain::ToolName;

#[tokio::test]
async fn status_of_a_service_in_one_environment() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "jonah.feld", "how is cart doing in prod?")
        .await;
    assert!(reply.text.contains("cart"), "{}", reply.text);
    assert!(
        reply.text.contains("prod (checkout-prod)"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("ready"), "{}", reply.text);
    assert!(!reply.text.contains("staging"), "{}", reply.text);
    let data = reply.data.expect("structured data");
    let dep = &data["environments"][0]["deployment"];
    assert_eq!(dep["name"], "cart");
    assert!(dep["images"][0].as_str().unwrap().contains("cart"));
    // Read as the asking user.
    let reads = bot.double().requests();
    assert!(reads.iter().any(|r| r.method == "GET"
        && r.path.ends_with("/deployments/cart")
        && r.impersonate_user.as_deref() == Some("jonah.feld")));
}

#[tokio::test]
async fn status_in_every_environment_and_a_stalled_rollout() {
    let bot = sandbox_bot("").await;
    let reply = bot.say_one("t", "x", "status of recommendations").await;
    for env in ["dev", "staging", "prod"] {
        assert!(reply.text.contains(&format!("- {env} (")), "{}", reply.text);
    }
    assert!(reply.text.contains("STALLED"), "{}", reply.text);
    // search-team dev exists, but recommendations' dev deployment is reported either way.
    let follow = bot.say_one("t", "x", "and in staging?").await;
    assert!(follow.text.contains("- staging ("), "{}", follow.text);
    assert!(!follow.text.contains("- prod ("), "{}", follow.text);
}

#[tokio::test]
async fn a_service_that_is_not_deployed_is_reported_as_such() {
    let bot = sandbox_bot("").await;
    // payments has no dev namespace in the sandbox.
    let reply = bot.say_one("t", "x", "status of ledger in dev").await;
    assert!(reply.text.contains("not deployed"), "{}", reply.text);
}

#[tokio::test]
async fn list_deployments_in_an_environment_and_for_a_team() {
    let bot = sandbox_bot("").await;
    let reply = bot.say_one("t", "x", "list deployments in staging").await;
    assert!(
        reply.text.contains("15 deployments for staging"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("payments-api in payments-staging"),
        "{}",
        reply.text
    );
    let team = bot
        .say_one("t2", "x", "show me all payments deployments")
        .await;
    assert!(
        team.text.contains("deployments for team payments"),
        "{}",
        team.text
    );
    assert!(!team.text.contains("cart"), "{}", team.text);
}

#[tokio::test]
async fn an_unknown_service_gets_a_clear_reply() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "x", "status of quantum-flux-capacitor in prod")
        .await;
    assert!(!reply.text.is_empty());
    assert!(reply.proposal.is_none());
}

#[tokio::test]
async fn invalid_and_unknown_names_get_clear_errors_from_the_typed_arguments() {
    let registry = Registry::standard();
    let Some(RegistryEntry::Mutate(action)) = registry.get(ToolName::CreateNamespace) else {
        panic!("create_namespace is a mutation");
    };
    let err = action
        .check(serde_json::json!({"team": "Payments_Team", "environment": "dev"}))
        .err()
        .expect("invalid team name");
    assert!(matches!(err, ActionError::InvalidArgs(_)));
    assert!(err.to_string().contains("Payments_Team"), "{err}");
    let long = "a".repeat(70);
    let err = action
        .check(serde_json::json!({"team": long, "environment": "dev"}))
        .err()
        .unwrap();
    assert!(err.to_string().contains("too long"), "{err}");
    let err = action
        .check(serde_json::json!({"team": "payments"}))
        .err()
        .unwrap();
    assert!(err.to_string().contains("environment"), "{err}");
    let err = action
        .check(serde_json::json!({"team": "payments", "environment": "dev", "force": true}))
        .err()
        .unwrap();
    assert!(err.to_string().contains("force"), "{err}");
    // Canonical arguments: synonyms are resolved before anything is proposed.
    let ok = action
        .check(serde_json::json!({"team": "payments", "environment": "production"}))
        .ok()
        .unwrap();
    assert_eq!(ok.canonical["environment"], "prod");
}

#[tokio::test]
async fn an_unknown_team_or_environment_is_refused_before_proposing() {
    let bot = sandbox_bot("").await;
    let platform = bot.app.engine.platform();
    let actor = bot.app.engine.actor(&common::user("x"));
    let ctx = platbot::actions::ActionContext {
        platform,
        actor: &actor,
    };
    let registry = Registry::standard();
    let Some(RegistryEntry::Mutate(action)) = registry.get(ToolName::CreateNamespace) else {
        panic!()
    };
    let err = action
        .plan(
            &ctx,
            serde_json::json!({"team": "ghosts", "environment": "dev"}),
        )
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("no team `ghosts`"), "{err}");
    let err = action
        .plan(
            &ctx,
            serde_json::json!({"team": "payments", "environment": "qa"}),
        )
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("not an environment"), "{err}");
}

#[tokio::test]
async fn oversized_and_empty_messages_get_a_clear_reply() {
    let bot = sandbox_bot("").await;
    let huge = "restart cart ".repeat(1000);
    let reply = bot.say_one("t", "x", &huge).await;
    assert!(reply.text.contains("characters long"), "{}", reply.text);
    let reply = bot.say_one("t", "x", "   ").await;
    assert!(reply.text.contains("platbot"), "{}", reply.text);
    // Another conversation is unaffected.
    let ok = bot.say_one("t2", "x", "how is cart doing in prod").await;
    assert!(ok.text.contains("checkout-prod"), "{}", ok.text);
}

#[tokio::test]
async fn chit_chat_calls_no_tool() {
    let bot = sandbox_bot("").await;
    let before = bot.double().requests().len();
    let reply = bot.say_one("t", "x", "tell me a joke").await;
    assert!(!reply.text.is_empty());
    assert_eq!(bot.double().requests().len(), before);
}

#[tokio::test]
async fn without_a_cluster_it_says_so_and_still_chats() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_in(dir.path(), "[kubernetes]\nmode = \"disabled\"\n");
    let app = platbot::startup::build(config, &Default::default())
        .await
        .unwrap();
    assert!(!app.engine.platform().has_cluster());
    let bot = common::TestBot { app, _dir: dir };
    // No catalog is configured outside the sandbox, so name resolution fails first;
    // the namespace request is refused with a clear reply, not a panic or silence.
    let reply = bot.say_one("t", "x", "list deployments in staging").await;
    assert!(
        reply.text.contains("Kubernetes is not configured"),
        "{}",
        reply.text
    );
    let reply = bot.say_one("t", "x", "hello").await;
    assert!(!reply.text.is_empty());
}

#[tokio::test]
async fn an_unavailable_cluster_is_reported_while_the_others_answer() {
    use std::collections::HashMap;
    use std::sync::Arc;

    use platbot::domain::Environment;
    use platbot::platform::{Cluster, ClusterSlot, Platform};

    let api = platbot::sandbox::seeded();
    let running = api.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let env = |e: &str| Environment::parse(e).unwrap();
    let mut clusters = HashMap::new();
    let up = Cluster::from_url(&running.url, true).unwrap();
    clusters.insert(env("staging"), ClusterSlot::Ready(up.clone()));
    clusters.insert(
        env("prod"),
        ClusterSlot::Unavailable("kubeconfig context `prod-eu` not found".into()),
    );
    // dev points at a port nobody listens on: configured, but unreachable.
    let dead = Cluster::from_url("http://127.0.0.1:9", true).unwrap();
    clusters.insert(env("dev"), ClusterSlot::Ready(dead));
    let platform = Platform {
        catalog: Arc::new(platbot::platform::Catalog::sandbox()),
        environments: vec![env("dev"), env("staging"), env("prod")],
        clusters,
        golden_paths: platbot::actions::golden_path::GoldenPaths::builtin(),
        docs: None,
        oncall: Arc::new(platbot::platform::OnCall::disabled()),
        argocd: None,
    };
    let actor = platbot::approval::Actor {
        id: common::user("x"),
        groups: vec![],
        via: None,
    };
    let ctx = platbot::actions::ActionContext {
        platform: &platform,
        actor: &actor,
    };
    let registry = Registry::standard();
    let Some(RegistryEntry::Read(status)) = registry.get(ToolName::DeploymentStatus) else {
        panic!()
    };
    let out = status
        .run(&ctx, serde_json::json!({"service": "cart"}))
        .await
        .expect("the reachable environment still answers");
    assert!(
        out.text.contains("- staging (checkout-staging): 2/2 ready"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("the cluster for prod is not available"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains("cannot reach the Kubernetes API"),
        "{}",
        out.text
    );
}
