//! Raising an OOM-killed container's memory limit: offered by the diagnosis with its
//! reasoning, checked against the namespace's LimitRange and quota, executed once by an
//! allowed person.

use crate::support::common;

use common::{sandbox_bot, user};
use platbot::approval::{ApprovalError, ProposalId, ProposalState};
use platbot::engine::EngineError;
use serde_json::json;

const NS: &str = "mobile-backend-staging";

fn resources(bot: &common::TestBot) -> serde_json::Value {
    bot.double()
        .get("apps/v1", "Deployment", Some(NS), "notifications")
        .expect("deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]
        .clone()
}

#[tokio::test]
async fn the_memory_limit_is_raised_only_by_an_allowed_confirmation_and_only_once() {
    let bot = sandbox_bot("").await;
    let writes = bot.double().mutation_count();
    let reply = bot
        .say_one(
            "t",
            "yuki.tanaka",
            "notifications keeps getting OOMKilled in staging",
        )
        .await;
    let proposal = reply.proposal.expect("the new limit is proposed");
    assert_eq!(proposal.action, "set_memory_limit");
    assert_eq!(proposal.args["memory_mib"], 384);
    assert!(reply.text.contains("1.5 x 256Mi = 384Mi"), "{}", reply.text);
    assert_eq!(bot.double().mutation_count(), writes);

    // Someone else in the thread cannot confirm it (the default policy: only the requester).
    let refused = bot.say_one("t", "jonah.feld", "confirm").await;
    assert!(refused.text.contains("may not confirm"), "{}", refused.text);
    assert_eq!(bot.double().mutation_count(), writes);
    assert_eq!(resources(&bot)["limits"]["memory"], "256Mi");

    let done = bot.say_one("t", "yuki.tanaka", "yes").await;
    assert_eq!(
        done.proposal.as_ref().unwrap().state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    assert_eq!(bot.double().mutation_count(), writes + 1);
    let r = resources(&bot);
    assert_eq!(r["limits"]["memory"], "384Mi");
    assert_eq!(r["requests"]["memory"], "256Mi", "the request stays");
    assert_eq!(
        r["limits"]["cpu"], "1",
        "the rest of the container is untouched"
    );

    let id: ProposalId = proposal.id.parse().unwrap();
    let again = bot.app.engine.confirm(id, &user("yuki.tanaka")).await;
    assert!(matches!(
        again,
        Err(EngineError::Approval(ApprovalError::NotPending(_)))
    ));
    assert_eq!(bot.double().mutation_count(), writes + 1);
}

#[tokio::test]
async fn a_limit_range_the_new_limit_would_break_fails_the_plan() {
    let bot = sandbox_bot("").await;
    bot.double()
        .insert(json!({ "apiVersion": "v1", "kind": "LimitRange", "metadata": { "name": "container-defaults", "namespace": NS },
            "spec": { "limits": [{ "type": "Container", "max": { "memory": "320Mi" } }] } }))
        .unwrap();
    let reply = bot
        .say_one(
            "t",
            "yuki.tanaka",
            "why does notifications keep restarting in staging",
        )
        .await;
    let proposal = reply.proposal.expect("still shown, with the verdict");
    assert!(!proposal.plan.dry_run.passed);
    assert!(
        proposal
            .plan
            .dry_run
            .message
            .contains("LimitRange container-defaults allows at most 320Mi"),
        "{:?}",
        proposal.plan
    );
    assert!(reply.text.contains("Dry run: FAILED"), "{}", reply.text);
}

#[tokio::test]
async fn a_quota_without_room_for_the_new_limit_fails_the_plan() {
    let bot = sandbox_bot("").await;
    let mut quota = bot
        .double()
        .get("v1", "ResourceQuota", Some(NS), "team-quota")
        .unwrap();
    quota["status"]["used"] = json!({ "limits.memory": "32500Mi" });
    bot.double().insert(quota).unwrap();
    let reply = bot
        .say_one(
            "t",
            "yuki.tanaka",
            "why does notifications keep restarting in staging",
        )
        .await;
    let plan = reply.proposal.expect("proposal").plan;
    assert!(!plan.dry_run.passed);
    assert!(
        plan.dry_run
            .message
            .contains("ResourceQuota team-quota: limits.memory"),
        "{plan:?}"
    );
}

#[tokio::test]
async fn asking_directly_and_bad_values() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one(
            "t",
            "yuki.tanaka",
            "set the memory limit of notifications in staging to 512 MiB",
        )
        .await;
    let proposal = reply.proposal.unwrap_or_else(|| panic!("{}", reply.text));
    assert_eq!(proposal.args["memory_mib"], 512);
    assert!(
        proposal.plan.summary.contains("to 512Mi"),
        "{}",
        proposal.plan.summary
    );

    let low = bot
        .say_one(
            "t2",
            "yuki.tanaka",
            "set the memory limit of notifications in staging to 128 MiB",
        )
        .await;
    assert!(low.proposal.is_none());
    assert!(
        low.text
            .contains("below container `notifications`'s memory request of 256Mi"),
        "{}",
        low.text
    );

    let same = bot
        .say_one(
            "t3",
            "yuki.tanaka",
            "set the memory limit of notifications in staging to 256 MiB",
        )
        .await;
    assert!(same.proposal.is_none());
    assert!(
        same.text.contains("already has a 256Mi memory limit"),
        "{}",
        same.text
    );
}
