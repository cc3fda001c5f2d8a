//! Restart and scale as confirmable actions: from a diagnosis follow-up ("restart it"), from
//! an offered scale-up, and asked for directly, each with its dry-run plan.

use crate::support::common;
use crate::support::stage;

use common::sandbox_bot;
use platbot::approval::ProposalState;
use serde_json::json;

#[tokio::test]
async fn restart_it_after_a_diagnosis_restarts_once_after_confirmation() {
    let bot = sandbox_bot("").await;
    let diag = bot
        .say_one("t", "hana.sato", "why is search crashing in staging?")
        .await;
    assert!(
        diag.text.contains("restart search in staging"),
        "{}",
        diag.text
    );
    let reply = bot.say_one("t", "hana.sato", "restart it").await;
    let proposal = reply.proposal.expect("restart proposed");
    assert_eq!(proposal.action, "restart_deployment");
    assert_eq!(
        proposal.args,
        json!({"service": "search", "environment": "staging"})
    );
    let detail = proposal.plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("replaces its 2 pod(s)"), "{detail}");
    assert!(
        detail.contains("maxUnavailable 25%, maxSurge 25%"),
        "{detail}"
    );
    assert!(proposal.plan.dry_run.passed);
    let writes = bot.double().mutation_count();
    let template = |bot: &common::TestBot| {
        bot.double()
            .get("apps/v1", "Deployment", Some("search-staging"), "search")
            .unwrap()["spec"]["template"]["metadata"]["annotations"]
            .clone()
    };
    assert!(
        template(&bot)
            .get("kubectl.kubernetes.io/restartedAt")
            .is_none()
    );

    let done = bot.say_one("t", "hana.sato", "go ahead").await;
    assert_eq!(
        done.proposal.unwrap().state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    assert_eq!(bot.double().mutation_count(), writes + 1);
    let annotations = template(&bot);
    assert!(
        annotations["kubectl.kubernetes.io/restartedAt"].is_string(),
        "{annotations}"
    );
    assert_eq!(
        annotations["kubectl.kubernetes.io/default-container"], "search",
        "other annotations kept"
    );
}

#[tokio::test]
async fn the_offered_scale_up_of_a_deployment_at_zero_runs_through_the_scale_subresource() {
    let bot = sandbox_bot("").await;
    stage::namespace(bot.double());
    stage::put(bot.double(), stage::deployment("ledger", 0, 0, 2, "v1.9.1"));
    stage::put(
        bot.double(),
        stage::replica_set("ledger", 1, "v1.9.0", 3, 0),
    );
    stage::put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger", "namespace": stage::NS },
        "spec": { "selector": { "app.kubernetes.io/name": "ledger" }, "ports": [{ "port": 80, "targetPort": "http" }] } }),
    );
    let reply = bot
        .say_one("t", "priya.nair", "ledger is down in dev, what's wrong?")
        .await;
    let proposal = reply.proposal.unwrap_or_else(|| panic!("{}", reply.text));
    assert_eq!(proposal.action, "scale_deployment");
    assert_eq!(proposal.args["replicas"], 3);
    let done = bot.say_one("t", "priya.nair", "confirm").await;
    assert_eq!(
        done.proposal.unwrap().state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    let d = bot
        .double()
        .get("apps/v1", "Deployment", Some(stage::NS), "ledger")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 3);
    assert!(bot.double().requests().iter().any(|r| r.method == "PATCH"
        && r.path.ends_with("/deployments/ledger/scale")
        && !r.dry_run));
}

#[tokio::test]
async fn scaling_warns_about_an_autoscaler_and_fails_the_plan_when_the_quota_is_full() {
    let bot = sandbox_bot("").await;
    bot.double()
        .insert(json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": { "name": "cart", "namespace": "checkout-prod" },
            "spec": { "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "cart" }, "minReplicas": 3, "maxReplicas": 6 } }))
        .unwrap();
    let reply = bot
        .say_one("t", "jonah.feld", "scale cart to 5 replicas in prod")
        .await;
    let plan = reply.proposal.expect("proposal").plan;
    let detail = plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("replicas 3 -> 5"), "{detail}");
    assert!(
        detail.contains("HorizontalPodAutoscaler cart manages this count (min 3, max 6)"),
        "{detail}"
    );
    assert!(plan.dry_run.passed);

    let mut quota = bot
        .double()
        .get("v1", "ResourceQuota", Some("checkout-prod"), "team-quota")
        .unwrap();
    quota["status"]["used"] = json!({ "pods": "49", "requests.memory": "4Gi" });
    bot.double().insert(quota).unwrap();
    let reply = bot
        .say_one("t2", "jonah.feld", "scale cart to 5 replicas in prod")
        .await;
    let plan = reply.proposal.expect("proposal").plan;
    assert!(!plan.dry_run.passed);
    assert!(
        plan.dry_run
            .message
            .contains("pods would need 2 more, only 1 left"),
        "{plan:?}"
    );
}

#[tokio::test]
async fn nothing_to_do_and_out_of_range_requests_get_clear_replies() {
    let bot = sandbox_bot("").await;
    let same = bot
        .say_one("t", "jonah.feld", "scale cart to 3 replicas in prod")
        .await;
    assert!(same.proposal.is_none());
    assert!(
        same.text.contains("already runs 3 replica(s)"),
        "{}",
        same.text
    );
    let huge = bot
        .say_one("t2", "jonah.feld", "scale cart to 900 replicas in prod")
        .await;
    assert!(huge.proposal.is_none());
    assert!(huge.text.contains("more than the 500"), "{}", huge.text);
    let nowhere = bot
        .say_one("t3", "priya.nair", "restart ledger in dev")
        .await;
    assert!(nowhere.proposal.is_none());
    assert!(
        nowhere.text.contains("not deployed in dev"),
        "{}",
        nowhere.text
    );
}

#[tokio::test]
async fn do_it_after_the_configmap_is_fixed_proposes_the_suggested_restart() {
    let bot = sandbox_bot("").await;
    let diag = bot
        .say_one("t", "hana.sato", "why is search crashing in staging?")
        .await;
    assert!(diag.proposal.is_none());
    // The user fixes the key by hand (as `kubectl edit` would), then says "do it".
    let client = bot.app.sandbox.as_ref().unwrap().running.kube_client();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client, "search-staging");
    let fix = json!({ "data": { "opensearch-url": "https://opensearch.search-staging.svc.cluster.local:9200", "opensearch_url": null } });
    let params = kube::api::PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    cms.patch("search-config", &params, &kube::api::Patch::Merge(fix))
        .await
        .expect("fixed");
    let writes = bot.double().mutation_count();
    let reply = bot.say_one("t", "hana.sato", "do it").await;
    assert!(
        reply
            .text
            .starts_with("Proposing the suggested fix: Rolling restart of search in staging"),
        "{}",
        reply.text
    );
    let proposal = reply.proposal.expect("restart proposed");
    assert_eq!(proposal.action, "restart_deployment");
    assert_eq!(bot.double().mutation_count(), writes, "proposed, not run");
    let done = bot.say_one("t", "hana.sato", "do it").await;
    assert_eq!(
        done.proposal.unwrap().state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    assert_eq!(bot.double().mutation_count(), writes + 1);
}

#[tokio::test]
async fn a_stray_yes_after_a_decided_proposal_does_not_propose_again() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one(
            "t",
            "elena.petrova",
            "why is feature-store failing in staging?",
        )
        .await;
    assert!(reply.proposal.is_some());
    bot.say_one("t", "elena.petrova", "cancel").await;
    let again = bot.say_one("t", "elena.petrova", "yes").await;
    assert!(again.proposal.is_none(), "{}", again.text);
    assert!(again.text.contains("no proposal waiting"), "{}", again.text);
    assert!(
        again
            .text
            .contains("roll back feature-store in staging to revision 2"),
        "{}",
        again.text
    );
}
