//! The namespace golden path against a cluster that enforces RBAC (the sandbox as `--sandbox`
//! runs it): it runs as the provisioner identity, checks each object with a
//! SelfSubjectAccessReview before proposing, and completes a namespace left half built.

use crate::support::common;

use common::{sandbox_bot_with_rbac, user};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use platbot::approval::ProposalState;
use platbot::store::AuditEvent;
use serde_json::json;

const ASK: &str = "can I get a namespace for payments in dev?";
const GOLDEN_PATH: [(&str, &str, &str); 6] = [
    ("v1", "Namespace", "payments-dev"),
    ("v1", "ResourceQuota", "team-quota"),
    ("v1", "LimitRange", "container-defaults"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "team-edit"),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "default-deny-ingress",
    ),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "allow-same-namespace",
    ),
];

fn exists(bot: &common::TestBot, (api_version, kind, name): (&str, &str, &str)) -> bool {
    let ns = (kind != "Namespace").then_some("payments-dev");
    bot.double().get(api_version, kind, ns, name).is_some()
}

/// A kube client of the sandbox's API impersonating `user` in `groups`.
fn client_as(bot: &common::TestBot, user: &str, groups: &[&str]) -> kube::Client {
    let running = &bot.app.sandbox.as_ref().expect("sandbox").running;
    let mut config = running.kube_config();
    config.auth_info.impersonate = Some(user.into());
    config.auth_info.impersonate_groups = Some(groups.iter().map(|g| (*g).to_string()).collect());
    kube::Client::try_from(config).expect("client")
}

#[tokio::test]
async fn a_developer_gets_a_namespace_through_the_provisioner() {
    let bot = sandbox_bot_with_rbac("").await;

    // priya.nair herself may not create a quota: the golden path cannot run as her.
    let quotas: Api<ResourceQuota> = Api::namespaced(
        client_as(&bot, "priya.nair", &["payments"]),
        "payments-prod",
    );
    let quota: ResourceQuota = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": { "name": "more", "namespace": "payments-prod" }, "spec": { "hard": { "pods": "99" } }
    }))
    .expect("quota");
    let refused = quotas
        .patch("more", &PatchParams::apply("test"), &Patch::Apply(&quota))
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(s)) if s.code == 403),
        "{refused:?}"
    );

    let reply = bot.say_one("t", "priya.nair", ASK).await;
    let proposal = reply
        .proposal
        .clone()
        .unwrap_or_else(|| panic!("no proposal: {}", reply.text));
    assert!(proposal.plan.dry_run.passed, "{:?}", proposal.plan);
    assert!(
        proposal.plan.summary.contains("as `platbot-provisioner`"),
        "{}",
        proposal.plan.summary
    );
    assert_eq!(proposal.plan.changes.len(), 6);
    for change in &proposal.plan.changes {
        assert!(
            change
                .validation
                .starts_with("`platbot-provisioner` may create it"),
            "{change:?}"
        );
    }
    // The access checks were SelfSubjectAccessReviews sent as the provisioner.
    let reviews: Vec<_> = bot
        .double()
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/selfsubjectaccessreviews"))
        .collect();
    assert_eq!(reviews.len(), 12, "create and patch per object");
    assert!(
        reviews
            .iter()
            .all(|r| r.impersonate_user.as_deref() == Some("platbot-provisioner"))
    );

    let done = bot.say_one("t", "priya.nair", "confirm").await;
    assert_eq!(
        done.proposal.as_ref().map(|p| p.state),
        Some(ProposalState::Succeeded),
        "{}",
        done.text
    );
    assert!(
        done.text.contains("Created namespace `payments-dev`")
            && done.text.contains(
                "as `platbot-provisioner`, requested by priya.nair, approved by priya.nair"
            ),
        "{}",
        done.text
    );
    for object in GOLDEN_PATH {
        assert!(exists(&bot, object), "{object:?} was not created");
    }
    // The team now has `edit` in its new namespace, through the golden path's RoleBinding.
    let binding = bot
        .double()
        .get(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some("payments-dev"),
            "team-edit",
        )
        .expect("binding");
    assert_eq!(binding["subjects"][0]["name"], "payments");

    // The execute audit entry names the requester and the approvers.
    let audit = bot
        .app
        .engine
        .store()
        .audit(&Default::default())
        .await
        .expect("audit");
    let execute = audit
        .iter()
        .find(|e| e.event == AuditEvent::Execute)
        .expect("an execute entry");
    let detail = execute.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("requested by priya.nair") && detail.contains("approved by priya.nair"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_half_built_namespace_is_completed_and_a_whole_one_reported() {
    let bot = sandbox_bot_with_rbac("").await;
    bot.say_one("t", "priya.nair", ASK).await;
    let done = bot.say_one("t", "priya.nair", "confirm").await;
    assert!(done.text.contains("Created namespace"), "{}", done.text);

    // Someone deletes a golden-path object (or a run stopped half way).
    let policies: Api<kube::api::DynamicObject> = Api::namespaced_with(
        bot.app
            .sandbox
            .as_ref()
            .expect("sandbox")
            .running
            .kube_client(),
        "payments-dev",
        &kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
        )),
    );
    policies
        .delete("default-deny-ingress", &DeleteParams::default())
        .await
        .expect("deleted");

    let reply = bot.say_one("t2", "priya.nair", ASK).await;
    let proposal = reply
        .proposal
        .clone()
        .unwrap_or_else(|| panic!("no offer to complete it: {}", reply.text));
    assert!(
        proposal
            .plan
            .summary
            .starts_with("Complete namespace `payments-dev`")
            && proposal.plan.summary.contains("1 of 6"),
        "{}",
        proposal.plan.summary
    );
    let names: Vec<&str> = proposal
        .plan
        .changes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["default-deny-ingress"]);
    assert!(
        proposal.plan.changes[0]
            .validation
            .contains("server-side dry run: ok"),
        "{:?}",
        proposal.plan.changes[0]
    );

    // Only the missing object is written.
    let writes_before = bot.double().mutation_count();
    let done = bot.say_one("t2", "priya.nair", "confirm").await;
    assert!(
        done.text.contains("Completed namespace `payments-dev`")
            && done.text.contains("NetworkPolicy default-deny-ingress"),
        "{}",
        done.text
    );
    assert_eq!(bot.double().mutation_count(), writes_before + 1);
    for object in GOLDEN_PATH {
        assert!(exists(&bot, object), "{object:?}");
    }

    let again = bot.say_one("t3", "priya.nair", ASK).await;
    assert!(again.proposal.is_none(), "{}", again.text);
    assert!(
        again
            .text
            .contains("already exists with every golden-path object"),
        "{}",
        again.text
    );
}

#[tokio::test]
async fn a_namespace_with_only_the_namespace_object_gets_the_rest() {
    let bot = sandbox_bot_with_rbac("").await;
    bot.double()
        .insert(
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "payments-dev",
            "labels": { "platform.example.com/team": "payments" } } }),
        )
        .expect("namespace");
    let reply = bot.say_one("t", "priya.nair", ASK).await;
    let proposal = reply.proposal.expect("an offer to complete it");
    let kinds: Vec<&str> = proposal
        .plan
        .changes
        .iter()
        .map(|c| c.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "ResourceQuota",
            "LimitRange",
            "RoleBinding",
            "NetworkPolicy",
            "NetworkPolicy"
        ]
    );
    let done = bot.say_one("t", "priya.nair", "confirm").await;
    assert!(done.text.contains("Completed namespace"), "{}", done.text);
    for object in GOLDEN_PATH {
        assert!(exists(&bot, object), "{object:?}");
    }
}

#[tokio::test]
async fn a_provisioner_the_cluster_refuses_gets_no_proposal() {
    let bot = sandbox_bot_with_rbac("[kubernetes.provisioner]\nuser = \"nobody-special\"\n").await;
    let writes = bot.double().mutation_count();
    let reply = bot.say_one("t", "priya.nair", ASK).await;
    assert!(reply.proposal.is_none(), "{}", reply.text);
    assert!(
        reply.text.contains("`nobody-special`")
            && reply.text.contains("DENIED")
            && reply.text.contains("may not create namespaces"),
        "{}",
        reply.text
    );
    assert_eq!(bot.double().mutation_count(), writes);
    assert!(!bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn another_teams_namespace_is_not_completed() {
    let bot = sandbox_bot_with_rbac("").await;
    bot.double()
        .insert(
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "payments-dev",
            "labels": { "platform.example.com/team": "checkout" } } }),
        )
        .expect("namespace");
    let reply = bot.say_one("t", "priya.nair", ASK).await;
    assert!(reply.proposal.is_none(), "{}", reply.text);
    assert!(
        reply.text.contains("belongs to team checkout"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn everyday_changes_run_as_the_requester_and_a_refusal_names_them() {
    // jonah is also an approver here, so platbot's policy lets him ask for another team's
    // change; the cluster's RBAC still decides, as him.
    let bot = sandbox_bot_with_rbac(
        "[approval]\napprover_groups = [\"helpers\"]\n[groups]\nhelpers = [\"jonah.feld\"]\n",
    )
    .await;
    // Their own team's deployment: allowed, and done as them.
    let reply = bot
        .say_one("t", "jonah.feld", "scale cart to 4 replicas in prod")
        .await;
    assert!(reply.proposal.is_some(), "{}", reply.text);
    let done = bot.say_one("t", "jonah.feld", "confirm").await;
    assert_eq!(
        done.proposal.as_ref().map(|p| p.state),
        Some(ProposalState::Succeeded),
        "{}",
        done.text
    );
    let scaled = bot
        .double()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run && r.path.contains("/deployments/cart"))
        .collect::<Vec<_>>();
    assert!(
        !scaled.is_empty()
            && scaled
                .iter()
                .all(|r| r.impersonate_user.as_deref() == Some("jonah.feld")),
        "{scaled:?}"
    );

    // Another team's: the cluster refuses them, and the reply says who and what.
    let writes = bot.double().mutation_count();
    let other = bot
        .say(
            "t2",
            "jonah.feld",
            "scale payments-api to 5 replicas in prod",
        )
        .await;
    let text: Vec<&str> = other.iter().map(|r| r.text.as_str()).collect();
    let text = text.join("\n");
    assert!(other.iter().all(|r| r.proposal.is_none()), "{text}");
    assert!(
        text.contains("jonah.feld") && text.contains("forbidden"),
        "{text}"
    );
    assert_eq!(bot.double().mutation_count(), writes);
    let _ = user("jonah.feld");
}

#[tokio::test]
async fn teams_are_impersonated_under_the_group_prefix_and_nothing_else() {
    let bot = sandbox_bot_with_rbac(
        "[kubernetes]\ngroup_prefix = \"platbot:team:\"\n[groups]\noncall-helpers = [\"priya.nair\"]\n",
    )
    .await;
    bot.say_one("t", "priya.nair", "status of payments-api in prod?")
        .await;
    let read = bot
        .double()
        .requests()
        .into_iter()
        .find(|r| r.impersonate_user.as_deref() == Some("priya.nair"))
        .expect("a read as priya.nair");
    assert_eq!(
        read.impersonate_groups,
        ["platbot:team:payments", "oncall-helpers"]
    );

    // The golden path binds the prefixed group, and the seed's bindings match it, so the
    // team's own changes still pass the cluster's RBAC.
    bot.say_one("t2", "priya.nair", ASK).await;
    let done = bot.say_one("t2", "priya.nair", "confirm").await;
    assert!(done.text.contains("Created namespace"), "{}", done.text);
    let binding = bot
        .double()
        .get(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some("payments-dev"),
            "team-edit",
        )
        .expect("binding");
    assert_eq!(binding["subjects"][0]["name"], "platbot:team:payments");
    let reply = bot
        .say_one(
            "t3",
            "priya.nair",
            "scale payments-api to 4 replicas in prod",
        )
        .await;
    assert!(reply.proposal.is_some(), "{}", reply.text);
}
