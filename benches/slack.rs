//! Slack throughput through the production path: `platbot serve --sandbox` as its own
//! process, Events API deliveries signed as Slack signs them, the engine's turn (identity via
//! `users.info`, plan, store, a Kubernetes GET on the sandbox's API), the answer posted with
//! `chat.postMessage` to the tests' fake Slack Web API, which answers every call after
//! `PLATBOT_BENCH_SLACK_LATENCY_MS` (default 20). `cargo bench --bench slack`.
//!
//! Sends `PLATBOT_BENCH_SLACK_EVENTS` (default 500) app mentions, each in its own thread,
//! `PLATBOT_BENCH_SLACK_INFLIGHT` (default 64) deliveries at a time, and prints the
//! acknowledged requests/s (Slack's side: HTTP 200 back) and the answered events/s (the last
//! answer posted). Target: >= 500 answered events/s with 20 ms API latency.
//!
//! Peer: the same load against @slack/bolt for Node (`benches/slack-peer/`, a handler that
//! answers in the thread) on the same fake, when `node` is on PATH and
//! `npm ci --prefix benches/slack-peer` has been run; the ratio is of this run only.

#[allow(dead_code)]
#[path = "../tests/it/support/fake_slack/mod.rs"]
mod fake_slack;
#[allow(dead_code)]
#[path = "../tests/it/support/serve.rs"]
mod serve;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_slack::{FakeSlack, payloads};
use tokio::sync::Semaphore;

const SECRET: &str = "3c1f0e9d8b7a65544332211ffeeddccb";
const CHANNEL: &str = "C0BENCH";
/// Catalog users of the sandbox: identities are looked up once each, then cached.
const USERS: &[(&str, &str)] = &[
    ("U0PRIYA", "priya.nair@example.com"),
    ("U0JONAH", "jonah.feld@example.com"),
];
const ASKS: &[&str] = &[
    "how is cart doing in prod?",
    "how is checkout-api doing in staging?",
    "who's on call for checkout?",
];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Load {
    events: usize,
    inflight: usize,
}

struct Measured {
    acked: Duration,
    answered: Duration,
    /// Threads that got exactly one answer.
    answered_threads: usize,
    failed_acks: usize,
}

impl Measured {
    fn print(&self, who: &str, load: &Load) {
        let n = load.events as f64;
        println!(
            "{who:<10} {} mentions in {} threads: acknowledged {:>7.0} req/s ({:.2?}), answered end to end {:>7.0} events/s ({:.2?}); threads answered once: {}, failed acks: {}",
            load.events,
            load.events,
            n / self.acked.as_secs_f64(),
            self.acked,
            n / self.answered.as_secs_f64(),
            self.answered,
            self.answered_threads,
            self.failed_acks,
        );
    }

    fn events_per_sec(&self, load: &Load) -> f64 {
        load.events as f64 / self.answered.as_secs_f64()
    }
}

/// Delivers one mention per thread to `base` and waits for every thread's answer.
async fn run(fake: &FakeSlack, base: &str, round: &str, load: &Load) -> Measured {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(load.inflight)
        .build()
        .expect("http client");
    let url = format!("{base}/slack/events");
    let threads: Vec<String> = (0..load.events)
        .map(|i| format!("17000{round}.{i:06}"))
        .collect();
    let posts_before = fake.calls_of("chat.postMessage").len();
    let gate = Arc::new(Semaphore::new(load.inflight));
    let started = Instant::now();
    let mut sends = Vec::with_capacity(load.events);
    for (i, ts) in threads.iter().enumerate() {
        let (user, _) = USERS[i % USERS.len()];
        let event = payloads::app_mention(user, CHANNEL, ts, None, ASKS[i % ASKS.len()]);
        let body = payloads::callback(&format!("Ev{round}{i:06}"), event).to_string();
        let (http, url, gate) = (http.clone(), url.clone(), Arc::clone(&gate));
        sends.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await.expect("semaphore");
            let at = payloads::now();
            http.post(&url)
                .header("content-type", "application/json")
                .header("x-slack-request-timestamp", at.to_string())
                .header("x-slack-signature", payloads::sign(SECRET, at, &body))
                .body(body)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }));
    }
    let mut failed_acks = 0;
    for s in sends {
        if !s.await.unwrap_or(false) {
            failed_acks += 1;
        }
    }
    let acked = started.elapsed();
    let expected = posts_before + load.events - failed_acks;
    fake.wait_for(120, "every thread's answer", |calls| {
        let posts = calls
            .iter()
            .filter(|c| c.method == "chat.postMessage")
            .count();
        (posts >= expected).then_some(())
    })
    .await;
    let answered = started.elapsed();
    let posts = fake.calls_of("chat.postMessage");
    let answered_threads = threads
        .iter()
        .filter(|ts| {
            posts
                .iter()
                .filter(|c| c.ok() && c.str("thread_ts") == Some(ts.as_str()))
                .count()
                == 1
        })
        .count();
    Measured {
        acked,
        answered,
        answered_threads,
        failed_acks,
    }
}

/// One answer, to show what is being measured and to warm the process up.
async fn warm_up(fake: &FakeSlack, base: &str) {
    let load = Load {
        events: 20,
        inflight: 4,
    };
    let m = run(fake, base, "0", &load).await;
    assert_eq!(m.answered_threads, load.events, "warm-up answered");
    let sample = fake
        .calls_of("chat.postMessage")
        .first()
        .map(fake_slack::Call::shown_text)
        .unwrap_or_default();
    let first_line = sample.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    println!("a sample answer begins: {first_line}");
}

/// @slack/bolt's app in `benches/slack-peer`, on a free port; `None` when it cannot run here.
struct Bolt {
    child: Child,
    base: String,
}

impl Drop for Bolt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bolt(api_url: &str) -> Result<Bolt, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/slack-peer");
    if !dir.join("node_modules/@slack/bolt").is_dir() {
        return Err(format!(
            "@slack/bolt not installed (npm ci --prefix {})",
            dir.display()
        ));
    }
    let mut child = Command::new("node")
        .arg("app.js")
        .current_dir(&dir)
        .env("SLACK_BOT_TOKEN", "xoxb-bench-token")
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_API_URL", format!("{api_url}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(port) = line.strip_prefix("bolt listening on ") {
                    break format!("http://127.0.0.1:{}", port.trim());
                }
            }
            _ => return Err("bolt exited before listening".into()),
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Bolt { child, base })
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let latency = Duration::from_millis(env_or("PLATBOT_BENCH_SLACK_LATENCY_MS", 20));
    let load = Load {
        events: env_or("PLATBOT_BENCH_SLACK_EVENTS", 500) as usize,
        inflight: env_or("PLATBOT_BENCH_SLACK_INFLIGHT", 64) as usize,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let fake = FakeSlack::start().await;
        for method in [
            "auth.test",
            "users.info",
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
        ] {
            fake.delay(method, latency);
        }
        for (id, email) in USERS {
            fake.add_user(id, email);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("platbot.toml");
        std::fs::write(
            &config,
            format!(
                "[slack]\nmode = \"events\"\napi_url = \"{}\"\n",
                fake.api_url
            ),
        )
        .expect("config");
        let config = config.to_str().expect("utf-8 path").to_owned();
        let served = tokio::task::spawn_blocking(move || {
            serve::start(&[
                ("PLATBOT_CONFIG", config.as_str()),
                ("SLACK_BOT_TOKEN", "xoxb-bench-token"),
                ("SLACK_SIGNING_SECRET", SECRET),
            ])
        })
        .await
        .expect("platbot serve");
        println!(
            "fake Slack Web API latency {latency:?}; {} deliveries in flight",
            load.inflight
        );
        warm_up(&fake, &served.base).await;
        let platbot = run(&fake, &served.base, "1", &load).await;
        platbot.print("platbot", &load);
        drop(served);

        let peer = FakeSlack::start().await;
        peer.delay("chat.postMessage", latency);
        peer.delay("auth.test", latency);
        match tokio::task::spawn_blocking(move || start_bolt(&peer.api_url).map(|b| (b, peer)))
            .await
            .expect("bolt start")
        {
            Ok((bolt, peer)) => {
                run(
                    &peer,
                    &bolt.base,
                    "0",
                    &Load {
                        events: 20,
                        inflight: 4,
                    },
                )
                .await;
                let bolt_run = run(&peer, &bolt.base, "1", &load).await;
                bolt_run.print("bolt", &load);
                println!(
                    "platbot / bolt answered events/s, this run: {:.2}",
                    platbot.events_per_sec(&load) / bolt_run.events_per_sec(&load)
                );
            }
            Err(why) => println!("bolt peer skipped: {why}"),
        }
    });
}
