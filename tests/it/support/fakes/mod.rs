//! Helpers for the tests that stand up local HTTP servers in place of PagerDuty, Opsgenie
//! and Argo CD: serve an axum router on loopback, and build a sandbox platbot whose config
//! names secrets by variable (the values come from the test, never from the environment).

use std::sync::{Arc, Mutex};

use platbot::config::Config;
use platbot::startup::build;

use crate::support::common::{TestBot, sandbox};

/// Serves `router` on 127.0.0.1 (any port) until the test ends; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// A sandbox platbot with `toml` as its config and `vars` as the only environment variables.
pub async fn sandbox_bot_with(toml: &str, vars: &[(&str, &str)]) -> TestBot {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut config = Config::from_toml(toml, &env).expect("config");
    let dir = tempfile::tempdir().expect("tempdir");
    config.data_dir = dir.path().to_path_buf();
    config.tools_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools");
    let app = build(config, &sandbox()).await.expect("startup");
    TestBot { app, _dir: dir }
}

/// What a fake server was asked: path and query, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: String) {
        self.0.lock().expect("log").push(entry);
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().expect("log").clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }
}

/// `now + hours` as RFC 3339 in UTC.
pub fn hours_from_now(hours: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
