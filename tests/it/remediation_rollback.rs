//! A rollback offered by a diagnosis (or asked for after one) goes through the normal
//! confirmation, executes once, and refuses to run if the Deployment moved on meanwhile.
//!
//! The API double runs no controllers: a rollback patches the Deployment's pod template to
//! the target revision's, and that is what these tests check. On a real cluster the
//! Deployment controller would then create a new ReplicaSet revision and replace the pods;
//! here the ReplicaSets, pods and the revision annotation stay as they were.

use crate::support::common;

use common::{sandbox_bot, user};
use platbot::approval::{ApprovalError, ProposalId, ProposalState};
use platbot::engine::EngineError;
use serde_json::json;

fn image(bot: &common::TestBot, ns: &str, name: &str) -> String {
    let d = bot
        .double()
        .get("apps/v1", "Deployment", Some(ns), name)
        .expect("deployment");
    d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_offered_rollback_runs_once_and_only_after_confirmation() {
    let bot = sandbox_bot("").await;
    let ns = "data-platform-staging";
    let writes = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "t",
            "elena.petrova",
            "why is feature-store failing in staging?",
        )
        .await;
    let proposal = reply.proposal.expect("rollback proposed");
    assert_eq!(proposal.action, "rollback_deployment");
    assert_eq!(
        bot.double().mutation_count(),
        writes,
        "nothing before the confirmation"
    );
    assert!(image(&bot, ns, "feature-store").ends_with(":v0.13.0"));

    // "do it" is a confirmation of the pending proposal.
    let done = bot.say_one("t", "elena.petrova", "do it").await;
    assert!(
        done.text
            .starts_with("Done. Rolled back Deployment `feature-store`"),
        "{}",
        done.text
    );
    assert_eq!(
        done.proposal.as_ref().unwrap().state,
        ProposalState::Succeeded
    );
    assert_eq!(
        bot.double().mutation_count(),
        writes + 1,
        "exactly one write"
    );
    assert!(image(&bot, ns, "feature-store").ends_with(":v0.12.1"));
    let d = bot
        .double()
        .get("apps/v1", "Deployment", Some(ns), "feature-store")
        .unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["kubernetes.io/change-cause"],
        "Batch feature reads"
    );
    // The template is revision 2's, without the hash label the controller adds.
    assert!(
        d["spec"]["template"]["metadata"]["labels"]
            .get("pod-template-hash")
            .is_none()
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"],
        "v0.12.1"
    );
    // No controller in the double: the revision annotation is what it was.
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let patches: Vec<_> = bot
        .double()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run)
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].impersonate_user.as_deref(),
        Some("elena.petrova")
    );
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );

    // Confirming again does nothing.
    let id: ProposalId = proposal.id.parse().unwrap();
    let again = bot.app.engine.confirm(id, &user("elena.petrova")).await;
    assert!(matches!(
        again,
        Err(EngineError::Approval(ApprovalError::NotPending(
            ProposalState::Succeeded
        )))
    ));
    let said_again = bot.say_one("t", "elena.petrova", "confirm").await;
    assert!(
        said_again.proposal.is_none()
            || said_again.proposal.unwrap().state != ProposalState::Proposed
    );
    assert_eq!(bot.double().mutation_count(), writes + 1);
}

#[tokio::test]
async fn roll_it_back_after_a_diagnosis_proposes_the_previous_revision() {
    let bot = sandbox_bot("").await;
    let first = bot
        .say_one("t", "hana.sato", "why is search crashing in staging?")
        .await;
    assert!(first.proposal.is_none());
    let reply = bot.say_one("t", "hana.sato", "roll it back").await;
    let proposal = reply.proposal.expect("a rollback proposal");
    assert_eq!(proposal.action, "rollback_deployment");
    assert_eq!(proposal.args["service"], "search");
    assert_eq!(proposal.args["environment"], "staging");
    let detail = proposal.plan.changes[0].detail.clone().unwrap();
    assert!(detail.contains("revision 3 -> 2"), "{detail}");
    assert!(
        detail.contains("search:v2.8.1 -> registry.example.com/search/search:v2.8.0"),
        "{detail}"
    );
    assert!(
        detail.contains("revision 2 was \"OpenSearch 2.x client\""),
        "{detail}"
    );
    let writes = bot.double().mutation_count();
    let cancelled = bot.say_one("t", "hana.sato", "cancel").await;
    assert_eq!(cancelled.proposal.unwrap().state, ProposalState::Cancelled);
    assert_eq!(bot.double().mutation_count(), writes);
    assert!(image(&bot, "search-staging", "search").ends_with(":v2.8.1"));
}

#[tokio::test]
async fn a_rollback_refuses_to_run_when_the_deployment_changed_since_it_was_proposed() {
    let bot = sandbox_bot("").await;
    let ns = "data-platform-staging";
    let reply = bot
        .say_one(
            "t",
            "elena.petrova",
            "why is feature-store failing in staging?",
        )
        .await;
    assert!(reply.proposal.is_some());
    // Someone deploys a fixed tag through the API before the confirmation.
    let client = bot.app.sandbox.as_ref().unwrap().running.kube_client();
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, ns);
    let fixed = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "feature-store", "image": "registry.example.com/data-platform/feature-store:v0.13.1"}
    ]}}}});
    deployments
        .patch(
            "feature-store",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Strategic(fixed),
        )
        .await
        .unwrap();
    let writes = bot.double().mutation_count();

    let done = bot.say_one("t", "elena.petrova", "confirm").await;
    assert!(
        done.text.contains("changed since this was proposed"),
        "{}",
        done.text
    );
    assert_eq!(done.proposal.unwrap().state, ProposalState::Failed);
    assert_eq!(bot.double().mutation_count(), writes);
    assert!(image(&bot, ns, "feature-store").ends_with(":v0.13.1"));
}

#[tokio::test]
async fn a_prod_rollback_needs_a_second_approver_from_the_allowed_group() {
    let bot = sandbox_bot(
        "[approval]\nsecond_approver_environments = [\"prod\"]\napprover_groups = [\"platform\"]\n[groups]\nplatform = [\"olga.sre\"]\n",
    )
    .await;
    let reply = bot
        .say_one("t", "hana.sato", "why is recommendations broken in prod")
        .await;
    let proposal = reply.proposal.expect("rollback proposed");
    let id: ProposalId = proposal.id.parse().unwrap();
    let writes = bot.double().mutation_count();

    let first = bot.say_one("t", "hana.sato", "confirm").await;
    assert!(
        first.text.contains("second, different approver"),
        "{}",
        first.text
    );
    assert_eq!(bot.double().mutation_count(), writes);

    let outsider = bot.app.engine.confirm(id, &user("jonah.feld")).await;
    assert!(matches!(
        outsider,
        Err(EngineError::Approval(ApprovalError::NotAllowed { .. }))
    ));
    assert_eq!(bot.double().mutation_count(), writes);

    let done = bot
        .app
        .engine
        .confirm(id, &user("olga.sre"))
        .await
        .expect("second approval");
    assert_eq!(
        done.proposal.state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    assert_eq!(bot.double().mutation_count(), writes + 1);
    assert!(image(&bot, "search-prod", "recommendations").ends_with(":v3.1.4"));
}

#[tokio::test]
async fn asking_for_a_revision_that_does_not_exist_lists_the_real_ones() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one("t", "hana.sato", "rollback search in staging to revision 9")
        .await;
    assert!(reply.proposal.is_none());
    assert!(reply.text.contains("no revision 9"), "{}", reply.text);
    assert!(reply.text.contains("3 (v2.8.1, current)"), "{}", reply.text);
    let same = bot
        .say_one(
            "t2",
            "hana.sato",
            "rollback search in staging to revision 3",
        )
        .await;
    assert!(same.proposal.is_none());
    assert!(
        same.text.contains("already runs revision 3"),
        "{}",
        same.text
    );
}
