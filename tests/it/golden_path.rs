//! The first golden path end to end: a namespace request becomes a proposal,
//! nothing changes until the requester confirms, and it executes exactly once.

use crate::support::common;

use std::sync::Arc;

use common::{sandbox_bot, user};
use platbot::approval::{ApprovalError, ProposalId, ProposalState};
use platbot::engine::EngineError;
use platbot::store::{AuditEvent, AuditOutcome};

const ASK: &str = "can I get a namespace for payments in dev?";

fn proposal_id(reply: &platbot::chat::Reply) -> ProposalId {
    reply
        .proposal
        .as_ref()
        .unwrap_or_else(|| panic!("no proposal in {:?}", reply.text))
        .id
        .parse()
        .expect("proposal id")
}

#[tokio::test]
async fn a_namespace_request_changes_nothing_until_confirmed() {
    let bot = sandbox_bot("").await;
    let writes_before = bot.double().mutation_count();

    let reply = bot.say_one("t1", "priya.nair", ASK).await;
    let proposal = reply.proposal.clone().expect("a proposal card");
    assert_eq!(proposal.action, "create_namespace");
    assert_eq!(proposal.args["team"], "payments");
    assert_eq!(proposal.args["environment"], "dev");
    assert_eq!(proposal.state, ProposalState::Proposed);
    assert!(proposal.plan.dry_run.passed, "{:?}", proposal.plan);
    let kinds: Vec<&str> = proposal
        .plan
        .changes
        .iter()
        .map(|c| c.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ResourceQuota",
            "LimitRange",
            "RoleBinding",
            "NetworkPolicy",
            "NetworkPolicy"
        ]
    );
    assert!(reply.text.contains("payments-dev"), "{}", reply.text);

    // Planned with a server-side dry run, and nothing persisted.
    assert!(bot.double().requests().iter().any(|r| r.dry_run));
    assert_eq!(bot.double().mutation_count(), writes_before);
    assert!(!bot.namespace_exists("payments-dev"));

    let done = bot.say_one("t1", "priya.nair", "confirm").await;
    assert!(
        done.text.contains("Created namespace `payments-dev`"),
        "{}",
        done.text
    );
    assert_eq!(
        done.proposal.as_ref().unwrap().state,
        ProposalState::Succeeded
    );
    assert!(bot.namespace_exists("payments-dev"));
    let quota = bot
        .double()
        .get("v1", "ResourceQuota", Some("payments-dev"), "team-quota")
        .expect("quota created");
    assert_eq!(quota["spec"]["hard"]["pods"], "50");
    let binding = bot
        .double()
        .get(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some("payments-dev"),
            "team-edit",
        )
        .expect("rolebinding created");
    assert_eq!(binding["subjects"][0]["name"], "payments");
    let ns = bot
        .double()
        .get("v1", "Namespace", None, "payments-dev")
        .unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["platform.example.com/environment"],
        "dev"
    );

    // The change was made as the provisioner (the approval policy authorized it), with SSA by platbot.
    let writes: Vec<_> = bot
        .double()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && !r.dry_run)
        .collect();
    assert_eq!(writes.len(), 6);
    assert!(
        writes.iter().all(
            |r| r.impersonate_user.as_deref() == Some("platbot-provisioner")
                && r.impersonate_groups.is_empty()
        ),
        "{writes:?}"
    );

    // Audited: the proposal, the confirmation and the execution.
    let audit = bot
        .app
        .engine
        .store()
        .audit(&Default::default())
        .await
        .unwrap();
    let events: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.action == "create_namespace")
        .map(|e| (e.event.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("propose", "ok"),
            ("confirm", "approved"),
            ("execute", "succeeded")
        ]
    );
    assert!(audit.iter().all(|e| e.user == "priya.nair"));
}

#[tokio::test]
async fn an_existing_namespace_is_reported_and_nothing_is_proposed() {
    let bot = sandbox_bot("").await;
    let reply = bot
        .say_one(
            "t",
            "jonah.feld",
            "create a namespace for checkout in staging",
        )
        .await;
    assert!(reply.proposal.is_none(), "{}", reply.text);
    assert!(reply.text.contains("already exists"), "{}", reply.text);
}

#[tokio::test]
async fn a_second_confirmation_executes_nothing_more() {
    let bot = sandbox_bot("").await;
    let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
    let engine = &bot.app.engine;
    engine
        .confirm(id, &user("priya.nair"))
        .await
        .expect("first confirm");
    let writes = bot.double().mutation_count();
    let again = engine.confirm(id, &user("priya.nair")).await;
    assert!(
        matches!(
            again,
            Err(EngineError::Approval(ApprovalError::NotPending(
                ProposalState::Succeeded
            )))
        ),
        "{again:?}"
    );
    assert_eq!(bot.double().mutation_count(), writes);
    // "confirm" in the thread finds no pending proposal: it is planned as a message, not executed.
    bot.say("t", "priya.nair", "confirm").await;
    assert_eq!(bot.double().mutation_count(), writes);
}

#[tokio::test]
async fn concurrent_confirmations_execute_once() {
    let bot = Arc::new(sandbox_bot("").await);
    let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
    let writes_before = bot.double().mutation_count();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let bot = Arc::clone(&bot);
            tokio::spawn(async move { bot.app.engine.confirm(id, &user("priya.nair")).await })
        })
        .collect();
    let mut executed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(d) if d.proposal.state == ProposalState::Succeeded => executed += 1,
            Ok(d) => panic!("unexpected {:?}", d.proposal.state),
            Err(EngineError::Approval(ApprovalError::NotPending(_))) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(executed, 1);
    assert_eq!(bot.double().mutation_count(), writes_before + 6);
}

#[tokio::test]
async fn another_user_cannot_confirm() {
    let bot = sandbox_bot("").await;
    let reply = bot.say_one("t", "priya.nair", ASK).await;
    let id = proposal_id(&reply);
    let writes = bot.double().mutation_count();

    // Someone else in the same thread says "yes": refused, nothing runs.
    let refused = bot.say_one("t", "tomas.ruiz", "yes").await;
    assert!(refused.text.contains("may not confirm"), "{}", refused.text);
    let err = bot
        .app
        .engine
        .confirm(id, &user("mallory"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Approval(ApprovalError::NotAllowed { .. })),
        "{err}"
    );
    assert_eq!(bot.double().mutation_count(), writes);
    assert_eq!(
        bot.app.engine.approvals().get(id).await.unwrap().state,
        ProposalState::Proposed
    );
    // The refusal is audited.
    let audit = bot
        .app
        .engine
        .store()
        .audit(&Default::default())
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.user == "mallory" && e.outcome == AuditOutcome::Refused)
    );
}

#[tokio::test]
async fn approver_groups_and_a_second_approver_where_the_policy_asks() {
    // Every sandbox team has its prod namespace already, so the two-person rule is set on dev here.
    let bot = sandbox_bot(
        "[approval]\napprover_groups = [\"platform\"]\nsecond_approver_environments = [\"dev\"]\n[groups]\nplatform = [\"olga.sre\"]\n",
    )
    .await;
    let id = proposal_id(
        &bot.say_one(
            "t",
            "elena.petrova",
            "we need a dev namespace for data-platform",
        )
        .await,
    );
    let writes = bot.double().mutation_count();
    let first = bot
        .app
        .engine
        .confirm(id, &user("elena.petrova"))
        .await
        .unwrap();
    assert_eq!(first.proposal.state, ProposalState::Proposed);
    assert!(first.text.contains("second"), "{}", first.text);
    assert_eq!(bot.double().mutation_count(), writes);
    // The same person twice does not count as two.
    let twice = bot.app.engine.confirm(id, &user("elena.petrova")).await;
    assert!(matches!(
        twice,
        Err(EngineError::Approval(ApprovalError::AlreadyConfirmed(_)))
    ));
    let second = bot.app.engine.confirm(id, &user("olga.sre")).await.unwrap();
    assert_eq!(
        second.proposal.state,
        ProposalState::Succeeded,
        "{}",
        second.text
    );
    assert!(bot.namespace_exists("data-platform-dev"));
}

#[tokio::test]
async fn an_expired_proposal_cannot_be_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config_in(dir.path(), "");
    config.approval.ttl = jiff::SignedDuration::from_millis(30);
    let app = platbot::startup::build(config, &common::sandbox())
        .await
        .unwrap();
    let bot = common::TestBot { app, _dir: dir };
    let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    let writes = bot.double().mutation_count();
    // A late "yes" in the thread is told so, not read as a new request.
    let late = bot.say_one("t", "priya.nair", "yes").await;
    assert!(late.text.contains("expired"), "{}", late.text);
    let err = bot
        .app
        .engine
        .confirm(id, &user("priya.nair"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Approval(ApprovalError::Expired(_) | ApprovalError::NotPending(_))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(
        bot.app.engine.approvals().get(id).await.unwrap().state,
        ProposalState::Expired
    );
    assert_eq!(bot.double().mutation_count(), writes);
    assert!(!bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn a_proposal_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let app = platbot::startup::build(common::config_in(dir.path(), ""), &common::sandbox())
            .await
            .unwrap();
        let bot = common::TestBot {
            app,
            _dir: tempfile::tempdir().unwrap(),
        };
        let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
        bot.app.engine.store().close().await;
        id
    };
    let app = platbot::startup::build(common::config_in(dir.path(), ""), &common::sandbox())
        .await
        .unwrap();
    let bot = common::TestBot { app, _dir: dir };
    let p = bot.app.engine.approvals().get(id).await.unwrap();
    assert_eq!(p.state, ProposalState::Proposed);
    // The thread still knows its pending proposal: "confirm" in it applies it.
    let done = bot.say_one("t", "priya.nair", "confirm").await;
    assert_eq!(
        done.proposal.unwrap().state,
        ProposalState::Succeeded,
        "{}",
        done.text
    );
    assert!(bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn cancel_drops_the_proposal() {
    let bot = sandbox_bot("").await;
    let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
    let reply = bot.say_one("t", "priya.nair", "cancel").await;
    assert!(reply.text.contains("Cancelled"), "{}", reply.text);
    let err = bot
        .app
        .engine
        .confirm(id, &user("priya.nair"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        EngineError::Approval(ApprovalError::NotPending(ProposalState::Cancelled))
    ));
    assert!(!bot.namespace_exists("payments-dev"));
}

#[tokio::test]
async fn a_missing_argument_is_asked_for_and_the_answer_completes_the_request() {
    let bot = sandbox_bot("").await;
    let q = bot.say_one("t", "priya.nair", "make me a namespace").await;
    assert!(q.proposal.is_none());
    assert!(
        q.text.contains("team") && q.text.contains("environment"),
        "{}",
        q.text
    );
    let reply = bot.say_one("t", "priya.nair", "payments in dev").await;
    let p = reply.proposal.expect("the answer completes the request");
    assert_eq!(p.args["team"], "payments");
    assert_eq!(p.args["environment"], "dev");
}

#[tokio::test]
async fn only_the_owning_team_or_an_approver_may_ask_for_a_change() {
    let bot = sandbox_bot(
        "[approval]\napprover_groups = [\"platform\"]\n[groups]\nplatform = [\"olga.sre\"]\n",
    )
    .await;
    let writes = bot.double().mutation_count();
    // checkout asks to restart payments' ledger: refused, naming who may.
    let refused = bot
        .say_one("t1", "jonah.feld", "restart payments-api in staging")
        .await;
    assert!(refused.proposal.is_none(), "{}", refused.text);
    assert!(
        refused.text.contains("members of payments") && refused.text.contains("platform"),
        "{}",
        refused.text
    );
    // Someone the catalog does not know gets no namespace for anyone.
    let stranger = bot.say_one("t2", "mallory", ASK).await;
    assert!(stranger.proposal.is_none(), "{}", stranger.text);
    assert!(
        stranger.text.contains("not a member of any team"),
        "{}",
        stranger.text
    );
    // A team member and an approver may.
    assert!(
        bot.say_one("t3", "tomas.ruiz", "restart payments-api in staging")
            .await
            .proposal
            .is_some()
    );
    assert!(
        bot.say_one("t4", "olga.sre", "restart payments-api in staging")
            .await
            .proposal
            .is_some()
    );
    assert_eq!(bot.double().mutation_count(), writes);
    let audit = bot
        .app
        .engine
        .store()
        .audit(&Default::default())
        .await
        .unwrap();
    assert!(
        audit.iter().any(|e| e.user == "jonah.feld"
            && e.event == AuditEvent::Refuse
            && e.outcome == AuditOutcome::NotAllowed),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_bare_yes_never_picks_one_of_several_pending_changes() {
    let bot = sandbox_bot("").await;
    let ns = bot.say_one("t", "priya.nair", ASK).await;
    let restart = bot
        .say_one("t", "priya.nair", "restart payments-api in staging")
        .await;
    let ns_id = proposal_id(&ns).to_string();
    let restart_id = proposal_id(&restart).to_string();
    let writes = bot.double().mutation_count();

    let which = bot.say_one("t", "priya.nair", "yes").await;
    assert!(which.proposal.is_none(), "{}", which.text);
    assert!(
        which.text.contains(&ns_id[..8]) && which.text.contains(&restart_id[..8]),
        "{}",
        which.text
    );
    assert_eq!(bot.double().mutation_count(), writes);

    let done = bot
        .say_one("t", "priya.nair", &format!("confirm {}", &restart_id[..8]))
        .await;
    let p = done.proposal.expect("the named proposal");
    assert_eq!(p.id, restart_id);
    assert_eq!(p.state, ProposalState::Succeeded, "{}", done.text);
    assert!(!bot.namespace_exists("payments-dev"));
    // One left: now "yes" is unambiguous.
    let last = bot.say_one("t", "priya.nair", "yes").await;
    assert_eq!(last.proposal.expect("decided").id, ns_id);
    assert!(bot.namespace_exists("payments-dev"));
}

/// priya's namespace proposal, confirmed by her: the grant a confirmation wins before it executes.
async fn granted_namespace(
    bot: &common::TestBot,
) -> (ProposalId, platbot::approval::ExecutionGrant) {
    let id = proposal_id(&bot.say_one("t", "priya.nair", ASK).await);
    let actor = bot.app.engine.actor(&user("priya.nair"));
    match bot
        .app
        .engine
        .approvals()
        .confirm(id, &actor)
        .await
        .unwrap()
    {
        platbot::approval::Confirmation::Execute(g) => (id, g),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_starting_replica_leaves_a_live_execution_alone() {
    let bot = sandbox_bot("").await;
    // This process wins the grant, as a confirmation does before executing.
    let (id, grant) = granted_namespace(&bot).await;
    let engine = &bot.app.engine;
    // Another replica starts on the same database meanwhile.
    let other = platbot::approval::Approvals::new(
        engine.store().clone(),
        engine.approvals().policy().clone(),
        jiff::SignedDuration::from_mins(15),
    );
    assert_eq!(other.recover_interrupted().await.unwrap(), 0);
    assert_eq!(
        engine.approvals().get(id).await.unwrap().state,
        ProposalState::Executing
    );
    // The execution finishes and its real outcome is recorded, with its audit entry.
    let done = engine
        .approvals()
        .finish(grant, Ok("created".into()), 5)
        .await
        .unwrap();
    assert_eq!(done.state, ProposalState::Succeeded);
    let audit = engine.store().audit(&Default::default()).await.unwrap();
    let exec = audit
        .iter()
        .find(|e| e.event == AuditEvent::Execute)
        .expect("audited");
    assert_eq!(exec.user, "priya.nair");
}

#[tokio::test]
async fn an_abandoned_execution_is_failed_and_its_owner_may_still_record_the_truth() {
    let bot = sandbox_bot("").await;
    let (id, grant) = granted_namespace(&bot).await;
    let engine = &bot.app.engine;
    // Two minutes later nobody renewed the lease: recovery marks it failed...
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(2);
    let failed = engine
        .store()
        .fail_interrupted("interrupted", later, jiff::SignedDuration::from_mins(1))
        .await
        .unwrap();
    assert_eq!(failed, 1);
    assert_eq!(
        engine.approvals().get(id).await.unwrap().state,
        ProposalState::Failed
    );
    // ...but if its owner was only slow, what really happened wins over "interrupted".
    let done = engine
        .approvals()
        .finish(grant, Ok("created".into()), 5)
        .await
        .unwrap();
    assert_eq!(done.state, ProposalState::Succeeded);
    assert_eq!(done.outcome.as_deref(), Some("created"));
}

#[tokio::test]
async fn retention_forgets_old_threads_and_audit_entries_only_when_told() {
    use platbot::config::RetentionSettings;
    let bot = sandbox_bot("").await;
    bot.say_one("t", "priya.nair", "status of ledger in prod")
        .await;
    let store = bot.app.engine.store();
    let key = common::conversation("t");
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 2);
    let keep = RetentionSettings {
        thread_days: None,
        audit_days: None,
    };
    assert_eq!(store.prune(&keep, later).await.unwrap(), (0, 0));
    assert!(!store.recent_turns(&key, 100_000).await.unwrap().is_empty());
    // Threads after a day, the audit log kept: only the thread goes.
    let threads_only = RetentionSettings {
        thread_days: Some(1),
        audit_days: None,
    };
    let (turns, audit) = store.prune(&threads_only, later).await.unwrap();
    assert!(turns >= 2 && audit == 0, "{turns} {audit}");
    assert!(store.recent_turns(&key, 100_000).await.unwrap().is_empty());
    assert!(store.thread_state(&key).await.unwrap().is_none());
    assert!(!store.audit(&Default::default()).await.unwrap().is_empty());
    let both = RetentionSettings {
        thread_days: Some(1),
        audit_days: Some(1),
    };
    store.prune(&both, later).await.unwrap();
    assert!(store.audit(&Default::default()).await.unwrap().is_empty());
    // The default keeps threads 90 days and the audit log forever.
    let defaults = platbot::config::Config::from_toml("", &|_| None).unwrap();
    assert_eq!(defaults.retention.thread_days, Some(90));
    assert_eq!(defaults.retention.audit_days, None);
}
