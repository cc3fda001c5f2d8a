//! Two `platbot serve` processes on one PostgreSQL database, as two replicas run: a
//! proposal made on one can be confirmed on either, and confirmations of the same proposal
//! fired at both at once execute it exactly once (the other caller gets 409), with one
//! execution in the audit log. Skipped with a message where PostgreSQL is not installed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use platbot::store::{AuditFilter, Store};
use serde_json::{Value, json};

use crate::support::postgres;

/// One `platbot serve --sandbox` process; killed when dropped.
struct Replica {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_replica(store_url: &str) -> Replica {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_platbot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", data.path())
        .env("PLATBOT_STORE_URL", store_url)
        .env("PLATBOT_LOG", "warn")
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn platbot serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("platbot serve exited before listening:\n{seen}");
        };
        if let Some(addr) = line.split("platbot serving on ").nth(1) {
            break addr.trim().to_owned();
        }
        seen.push_str(&line);
        seen.push('\n');
    };
    // Keep draining stderr so the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Replica {
        child,
        base,
        _data: data,
    }
}

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
    let replicas = [start_replica(&url), start_replica(&url)];
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
        assert_eq!(won["proposal"]["state"], "succeeded", "round {round}: {won}");
    }

    let store = Store::open_postgres(&settings).await.expect("store");
    let audit = store.audit(&AuditFilter::default()).await.expect("audit");
    let executions = audit.iter().filter(|e| e.event == "execute").count();
    let confirmations = |outcome: &str| {
        audit
            .iter()
            .filter(|e| e.event == "confirm" && e.outcome == outcome)
            .count()
    };
    assert_eq!(executions, ROUNDS, "one execution per proposal");
    assert_eq!(confirmations("approved"), ROUNDS, "one winner per proposal");
    assert_eq!(confirmations("refused"), ROUNDS, "one loser per proposal");
}
