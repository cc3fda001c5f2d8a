//! The store's behaviour, once on SQLite and once on a real PostgreSQL (skipped with a
//! message where PostgreSQL is not installed): compare-and-set transitions with one winner
//! among concurrent callers, expiry, execution leases and recovery, the audit log, thread
//! memory, retention and the shared delivery ids.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use platbot::actions::ChangePlan;
use platbot::approval::{Proposal, ProposalId, ProposalState};
use platbot::domain::ToolName;
use platbot::domain::{ConversationKey, Surface, UserId};
use platbot::store::{AuditEntry, AuditEvent, AuditFilter, AuditOutcome, Store};
use serde_json::json;

/// Runs each check as a test on both backends.
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = platbot::store::Store::open_in(dir.path()).await.expect("sqlite");
                    super::$check(store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let Some(store) = crate::support::postgres::store().await else {
                        return;
                    };
                    super::$check(store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_proposal_reads_back_as_written,
    of_many_concurrent_confirmations_exactly_one_wins,
    an_expired_proposal_cannot_be_approved,
    approvals_change_only_from_the_list_seen,
    only_one_caller_takes_the_execution,
    recovery_leaves_a_live_lease_alone_and_the_owner_outcome_wins,
    the_audit_log_filters_and_keeps_order,
    thread_memory_is_bounded_and_pruned,
    a_delivery_id_is_first_on_exactly_one_caller,
);

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("user")
}

fn proposal(thread: &str, ttl: SignedDuration) -> Proposal {
    let now = Timestamp::now();
    Proposal {
        id: ProposalId::new(),
        action: ToolName::ScaleDeployment,
        args: json!({"service": "cart", "environment": "dev", "replicas": 3}),
        plan: ChangePlan {
            summary: "Scale cart to 3 ".into(),
            ..ChangePlan::default()
        },
        environment: Some(platbot::domain::Environment::parse("dev").expect("env")),
        requester: user("priya.nair"),
        conversation: ConversationKey::new(Surface::Terminal, "test", thread),
        state: ProposalState::Proposed,
        approvals: Vec::new(),
        created_at: now,
        expires_at: now + ttl,
        updated_at: now,
        outcome: None,
    }
}

async fn stored(store: &Store, thread: &str) -> Proposal {
    let p = proposal(thread, SignedDuration::from_mins(15));
    store.insert_proposal(&p).await.expect("insert");
    p
}

async fn a_proposal_reads_back_as_written(store: Store) {
    let p = stored(&store, "t1").await;
    let got = store.proposal(p.id).await.expect("read").expect("found");
    // Times are kept to the millisecond.
    assert_eq!(got.id, p.id);
    assert_eq!(got.args, p.args);
    assert_eq!(got.plan, p.plan);
    assert_eq!(got.conversation, p.conversation);
    assert_eq!(got.environment, p.environment);
    assert_eq!(
        got.expires_at.as_millisecond(),
        p.expires_at.as_millisecond()
    );
    let latest = store
        .latest_proposal_in(&p.conversation, ProposalState::Proposed)
        .await
        .expect("latest");
    assert_eq!(latest.map(|l| l.id), Some(p.id));
    assert!(
        store
            .proposal(ProposalId::new())
            .await
            .expect("read")
            .is_none()
    );
    let counts = store.proposal_counts().await.expect("counts");
    assert_eq!(counts, vec![(ProposalState::Proposed, 1)]);
}

async fn of_many_concurrent_confirmations_exactly_one_wins(store: Store) {
    let p = stored(&store, "t2").await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let who = [user(&format!("user{i}"))];
                store
                    .cas_state(
                        p.id,
                        ProposalState::Proposed,
                        ProposalState::Approved,
                        Some((&[], &who)),
                        Timestamp::now(),
                    )
                    .await
                    .expect("cas")
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(won) = t.await.expect("join") {
            winners.push(won);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one confirmation wins");
    assert_eq!(winners[0].state, ProposalState::Approved);
    assert_eq!(winners[0].approvals.len(), 1);
}

async fn an_expired_proposal_cannot_be_approved(store: Store) {
    let p = proposal("t3", SignedDuration::from_millis(-1));
    store.insert_proposal(&p).await.expect("insert");
    let won = store
        .cas_state(
            p.id,
            ProposalState::Proposed,
            ProposalState::Approved,
            None,
            Timestamp::now(),
        )
        .await
        .expect("cas");
    assert!(won.is_none(), "an expired proposal was approved");
    // Expiring it is still a transition of its own.
    let expired = store
        .cas_state(
            p.id,
            ProposalState::Proposed,
            ProposalState::Expired,
            None,
            Timestamp::now(),
        )
        .await
        .expect("cas");
    assert_eq!(expired.map(|e| e.state), Some(ProposalState::Expired));
}

async fn approvals_change_only_from_the_list_seen(store: Store) {
    let p = stored(&store, "t4").await;
    let first = [user("olga.sre")];
    let won = store
        .cas_approvals(p.id, &[], &first, Timestamp::now())
        .await
        .expect("cas");
    assert_eq!(won.map(|w| w.approvals), Some(first.to_vec()));
    // A second caller that saw the empty list loses.
    let stale = store
        .cas_approvals(p.id, &[], &[user("tomas.ruiz")], Timestamp::now())
        .await
        .expect("cas");
    assert!(stale.is_none());
    // Approving with a stale list loses too; with the current one it wins.
    let both = [user("olga.sre"), user("tomas.ruiz")];
    let lost = store
        .cas_state(
            p.id,
            ProposalState::Proposed,
            ProposalState::Approved,
            Some((&[], &both)),
            Timestamp::now(),
        )
        .await
        .expect("cas");
    assert!(lost.is_none());
    let won = store
        .cas_state(
            p.id,
            ProposalState::Proposed,
            ProposalState::Approved,
            Some((&first, &both)),
            Timestamp::now(),
        )
        .await
        .expect("cas");
    assert_eq!(won.map(|w| w.approvals), Some(both.to_vec()));
}

async fn approve(store: &Store, p: &Proposal) {
    store
        .cas_state(
            p.id,
            ProposalState::Proposed,
            ProposalState::Approved,
            None,
            Timestamp::now(),
        )
        .await
        .expect("cas")
        .expect("approved");
}

async fn only_one_caller_takes_the_execution(store: Store) {
    let p = stored(&store, "t5").await;
    approve(&store, &p).await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let now = Timestamp::now();
                store
                    .take_execution(
                        p.id,
                        &format!("replica-{i}"),
                        now + SignedDuration::from_mins(1),
                        now,
                    )
                    .await
                    .expect("take")
            })
        })
        .collect();
    let mut taken = 0;
    for t in tasks {
        taken += usize::from(t.await.expect("join").is_some());
    }
    assert_eq!(taken, 1);
}

async fn recovery_leaves_a_live_lease_alone_and_the_owner_outcome_wins(store: Store) {
    let now = Timestamp::now();
    let live = stored(&store, "t6").await;
    let gone = stored(&store, "t7").await;
    for p in [&live, &gone] {
        approve(&store, p).await;
    }
    store
        .take_execution(live.id, "alive", now + SignedDuration::from_mins(1), now)
        .await
        .expect("take")
        .expect("taken");
    store
        .take_execution(gone.id, "gone", now - SignedDuration::from_secs(1), now)
        .await
        .expect("take")
        .expect("taken");
    assert!(
        store
            .renew_lease(live.id, "alive", now + SignedDuration::from_mins(2))
            .await
            .expect("renew")
    );
    assert!(
        !store
            .renew_lease(live.id, "someone-else", now + SignedDuration::from_mins(2))
            .await
            .expect("renew")
    );

    let failed = store
        .fail_interrupted("interrupted", now, SignedDuration::from_mins(1))
        .await
        .expect("recover");
    assert_eq!(failed, 1, "only the expired lease is recovered");
    assert_eq!(
        store
            .proposal(live.id)
            .await
            .expect("read")
            .map(|p| p.state),
        Some(ProposalState::Executing)
    );
    assert_eq!(
        store
            .proposal(gone.id)
            .await
            .expect("read")
            .map(|p| p.state),
        Some(ProposalState::Failed)
    );

    // The slow owner of the recovered one finishes after all: its real outcome wins, with
    // the audit entry in the same transaction; a stranger cannot finish it.
    let entry = AuditEntry::new(
        &user("priya.nair"),
        "c",
        "scale_deployment",
        AuditEvent::Execute,
        json!({}),
        AuditOutcome::Ok,
    )
    .with_proposal(gone.id);
    assert!(
        store
            .finish_proposal(
                gone.id,
                "stranger",
                ProposalState::Succeeded,
                "done",
                &entry
            )
            .await
            .expect("finish")
            .is_none()
    );
    let finished = store
        .finish_proposal(gone.id, "gone", ProposalState::Succeeded, "done", &entry)
        .await
        .expect("finish")
        .expect("owner finishes");
    assert_eq!(finished.state, ProposalState::Succeeded);
    assert_eq!(finished.outcome.as_deref(), Some("done"));
    let audit = store.audit(&AuditFilter::default()).await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].proposal, Some(gone.id.to_string()));
}

async fn the_audit_log_filters_and_keeps_order(store: Store) {
    let start = Timestamp::now() - SignedDuration::from_hours(1);
    for (i, who) in ["priya.nair", "olga.sre", "priya.nair"].iter().enumerate() {
        let mut e = AuditEntry::new(
            &user(who),
            "c",
            "read_status",
            AuditEvent::Read,
            json!({"i": i}),
            AuditOutcome::Ok,
        )
        .via(Some("backstage"))
        .with_duration(7);
        e.at = start + SignedDuration::from_mins(i64::try_from(i).expect("small"));
        store.append_audit(&e).await.expect("append");
    }
    let all = store.audit(&AuditFilter::default()).await.expect("audit");
    let order: Vec<_> = all.iter().map(|e| e.args["i"].clone()).collect();
    assert_eq!(order, vec![json!(0), json!(1), json!(2)]);
    assert_eq!(all[0].via.as_deref(), Some("backstage"));
    assert_eq!(all[0].duration_ms, Some(7));
    let priya = AuditFilter {
        user: Some("priya.nair".into()),
        ..AuditFilter::default()
    };
    assert_eq!(store.audit(&priya).await.expect("audit").len(), 2);
    let newest = AuditFilter {
        limit: Some(1),
        since: Some(start),
        ..AuditFilter::default()
    };
    let got = store.audit(&newest).await.expect("audit");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].args["i"], json!(2));
    let pruned = store
        .prune_audit(start + SignedDuration::from_secs(30))
        .await
        .expect("prune");
    assert_eq!(pruned, 1);
}

async fn thread_memory_is_bounded_and_pruned(store: Store) {
    let c = ConversationKey::new(Surface::Slack, "C1", "1.0");
    store
        .commit_turn(&c, &[("user", "first", 5), ("bot", "second", 5)], None)
        .await
        .expect("commit");
    store
        .commit_turn(&c, &[("user", "third", 5)], Some(&json!({"pending": null})))
        .await
        .expect("commit");
    let recent = store.recent_turns(&c, 10).await.expect("recent");
    let texts: Vec<_> = recent.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["second", "third"], "newest that fit, oldest first");
    assert_eq!(
        store.thread_state(&c).await.expect("state"),
        Some(json!({"pending": null}))
    );
    store
        .commit_turn(&c, &[], Some(&json!({"previous": 1})))
        .await
        .expect("replace state");
    assert_eq!(
        store.thread_state(&c).await.expect("state"),
        Some(json!({"previous": 1}))
    );
    let gone = store
        .prune_turns(Timestamp::now() + SignedDuration::from_secs(1))
        .await
        .expect("prune");
    assert_eq!(gone, 3);
    assert!(store.thread_state(&c).await.expect("state").is_none());
}

async fn a_delivery_id_is_first_on_exactly_one_caller(store: Store) {
    let store = Arc::new(store);
    let now = Timestamp::now();
    let window = now - SignedDuration::from_hours(1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .first_delivery("slack", "event:Ev1", now, window)
                    .await
                    .expect("seen")
            })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.expect("join"));
    }
    assert_eq!(firsts, 1, "one replica handles a delivery");
    // Another surface's id space is its own; an id older than the window is new again.
    assert!(
        store
            .first_delivery("discord", "event:Ev1", now, window)
            .await
            .expect("seen")
    );
    let later = now + SignedDuration::from_hours(2);
    assert!(
        store
            .first_delivery(
                "slack",
                "event:Ev1",
                later,
                later - SignedDuration::from_hours(1)
            )
            .await
            .expect("seen")
    );
    assert_eq!(
        store.prune_seen(later).await.expect("prune"),
        1,
        "the discord id is older than `later`"
    );
}
