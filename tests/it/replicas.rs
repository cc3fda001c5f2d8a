//! Two `platbot serve` processes on one PostgreSQL database and one cluster, as two
//! replicas run: a proposal made on one can be confirmed on either, and confirmations of
//! the same proposal fired at both at once execute it exactly once (the other caller gets
//! 409), with one execution in the audit log. Skipped with a message where PostgreSQL is not installed.

use std::time::Duration;

use platbot::store::{AuditEvent, AuditOutcome};
use platbot::store::{AuditFilter, Store};
use serde_json::{Value, json};

use crate::support::{postgres, serve};

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = http.post(url).json(&body).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_database_execute_a_proposal_once() {
    let Some(settings) = postgres::fresh_database().await else {
        return;
    };
    let url = settings.url.to_string();
    let env = [("PLATBOT_STORE_URL", url.as_str())];
    // One store and one cluster, as two replicas of a deployment have: the second runs on the
    // first one's sandbox API, so a change planned on one can run on the other.
    let first = serve::start(&env);
    let kube_api = first
        .kube_api
        .clone()
        .expect("the sandbox API is announced");
    let replicas = [first, serve::start_on(&kube_api, &env)];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");

    const ROUNDS: usize = 20;
    for round in 0..ROUNDS {
        // Proposed on one replica, raced on both: the proposal lives in the shared store.
        let asked_on = &replicas[round % 2];
        let replicas_wanted = 2 + round;
        let (status, body) = post(
            &http,
            format!("{}/api/v1/messages", asked_on.base),
            json!({
                "conversation": format!("race-{round}"),
                "user": "jonah.feld",
                "text": format!("scale cart to {replicas_wanted} replicas in dev"),
            }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let id = body["replies"][0]["proposal"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no proposal in {body}"))
            .to_owned();

        let confirms = replicas.iter().map(|r| {
            post(
                &http,
                format!("{}/api/v1/proposals/{id}/confirm", r.base),
                json!({"user": "jonah.feld"}),
            )
        });
        let answers = futures::future::join_all(confirms).await;
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {answers:?}");
        let (_, won) = answers.iter().find(|(s, _)| *s == 200).expect("a winner");
        assert_eq!(
            won["proposal"]["state"], "succeeded",
            "round {round}: {won}"
        );
    }

    let store = Store::open_postgres(&settings).await.expect("store");
    let audit = store.audit(&AuditFilter::default()).await.expect("audit");
    let executions = audit
        .iter()
        .filter(|e| e.event == AuditEvent::Execute)
        .count();
    let confirmations = |outcome: AuditOutcome| {
        audit
            .iter()
            .filter(|e| e.event == AuditEvent::Confirm && e.outcome == outcome)
            .count()
    };
    assert_eq!(executions, ROUNDS, "one execution per proposal");
    assert_eq!(
        confirmations(AuditOutcome::Approved),
        ROUNDS,
        "one winner per proposal"
    );
    assert_eq!(
        confirmations(AuditOutcome::Refused),
        ROUNDS,
        "one loser per proposal"
    );
}

/// Proposes on one process, stops it, confirms on a new one started on the same store.
async fn a_pending_proposal_survives_a_restart(env: &[(&str, &str)]) {
    let http = reqwest::Client::new();
    let first = serve::start(env);
    let (status, body) = post(
        &http,
        format!("{}/api/v1/messages", first.base),
        json!({"conversation": "restart", "user": "jonah.feld", "text": "scale cart to 4 replicas in dev"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["replies"][0]["proposal"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no proposal in {body}"))
        .to_owned();
    drop(first);

    let second = serve::start(env);
    let (status, body) = post(
        &http,
        format!("{}/api/v1/proposals/{id}/confirm", second.base),
        json!({"user": "jonah.feld"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "succeeded", "{body}");
}

#[tokio::test]
async fn a_pending_proposal_survives_a_restart_on_sqlite() {
    let kept = tempfile::tempdir().expect("tempdir");
    let dir = kept.path().to_str().expect("utf-8 path");
    a_pending_proposal_survives_a_restart(&[("PLATBOT_DATA_DIR", dir)]).await;
}

#[tokio::test]
async fn a_pending_proposal_survives_a_restart_on_postgres() {
    let Some(settings) = postgres::fresh_database().await else {
        return;
    };
    let url = settings.url.to_string();
    a_pending_proposal_survives_a_restart(&[("PLATBOT_STORE_URL", &url)]).await;
}
