//! Diagnosis of a namespace of 50 pods with events, against the in-process Kubernetes API
//! (the real `kube` client over loopback). `cargo bench --bench diagnose`.
//!
//! Target: a whole diagnosis (every read, the follow-up log/node reads, every analyzer)
//! under 50 ms p50 in a release build. Also printed: the analyzers alone on a gathered
//! snapshot, and a whole engine turn ("diagnose ledger in dev") with planning, audit and
//! thread memory.

#[allow(dead_code)] // the bench stages a few of the tests' states
#[path = "../tests/it/support/stage/mod.rs"]
mod stage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use platbot::actions::ActionContext;
use platbot::actions::diagnose::{self, Snapshot, gather};
use platbot::chat::{ConversationKey, Inbound, Surface, UserRef};
use platbot::config::Config;
use platbot::domain::{Environment, UserId};
use platbot::startup::{StartOptions, build};
use serde_json::json;

const PODS: usize = 50;

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.9), at(0.99))
}

fn report(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p90, p99) = percentiles(samples);
    println!("{name:<52} n={n:<5} p50={p50:>10.1?} p90={p90:>10.1?} p99={p99:>10.1?}");
}

/// 50 pods of `ledger` in payments-dev: most healthy, some crash-looping, OOM-killed and
/// Pending, each troubled pod with its events and logs, plus one healthy pod event each.
fn stage_namespace(double: &platbot::sandbox::KubeApiDouble) {
    stage::namespace(double);
    stage::put(
        double,
        stage::deployment("ledger", PODS as i64, 40, 2, "v1.9.1"),
    );
    stage::put(double, stage::replica_set("ledger", 1, "v1.9.0", 0, 0));
    stage::put(
        double,
        stage::replica_set("ledger", 2, "v1.9.1", PODS as i64, 40),
    );
    stage::put(
        double,
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger", "namespace": stage::NS },
        "spec": { "selector": stage::labels("ledger"), "ports": [{ "name": "http", "port": 80, "targetPort": "http" }] } }),
    );
    for n in 0..PODS {
        let mut p = stage::pod("ledger", 2, "v1.9.1", n);
        let name = stage::pod_name("ledger", 2, n);
        match n {
            40..=44 => {
                stage::break_pod(
                    &mut p,
                    json!({ "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container" } }),
                    json!({ "terminated": { "exitCode": 1, "reason": "Error", "startedAt": stage::ago(3), "finishedAt": stage::ago(3) } }),
                    9,
                );
                let mut e = stage::event(
                    "Pod",
                    &name,
                    "Warning",
                    "BackOff",
                    "Back-off restarting failed container ledger",
                    40,
                    30,
                    0,
                );
                e["metadata"]["name"] = json!(format!("{name}.backoff"));
                stage::put(double, e);
                double.set_logs(
                    stage::NS,
                    &name,
                    "ledger",
                    true,
                    "starting\nloading journal\npanic: journal: connection refused\n",
                );
            }
            45..=46 => {
                p["status"]["containerStatuses"][0]["restartCount"] = json!(4);
                p["status"]["containerStatuses"][0]["lastState"] = json!({ "terminated": { "exitCode": 137, "reason": "OOMKilled", "startedAt": stage::ago(30), "finishedAt": stage::ago(4) } });
                double.set_logs(stage::NS, &name, "ledger", true, "snapshotting balances\n");
            }
            47..=49 => {
                p["spec"].as_object_mut().map(|s| s.remove("nodeName"));
                p["status"] = json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod." }] });
                let mut e = stage::event(
                    "Pod",
                    &name,
                    "Warning",
                    "FailedScheduling",
                    "0/6 nodes are available: 6 Insufficient memory.",
                    11,
                    50,
                    2,
                );
                e["metadata"]["name"] = json!(format!("{name}.sched"));
                stage::put(double, e);
            }
            _ => {}
        }
        let mut started = stage::event(
            "Pod",
            &name,
            "Normal",
            "Started",
            "Started container ledger",
            1,
            90,
            90,
        );
        started["metadata"]["name"] = json!(format!("{name}.started"));
        stage::put(double, started);
        stage::put(double, p);
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::from_toml("", &|_| None).expect("config");
    config.data_dir = dir.path().to_path_buf();
    config.tools_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools");
    let opts = StartOptions {
        sandbox: true,
        sandbox_listen: None,
        sandbox_rbac: false,
    };
    let app = rt.block_on(build(config, &opts)).expect("startup");
    let double = &app.sandbox.as_ref().expect("sandbox").api;
    stage_namespace(double);
    let engine = Arc::clone(&app.engine);
    let user = UserId::parse("priya.nair").expect("user");
    let actor = engine.actor(&user);
    let platform = engine.platform();
    let ctx = ActionContext {
        platform,
        actor: &actor,
    };
    let service = platform.catalog.service("ledger").expect("ledger");
    let env = Environment::parse("dev").expect("env");

    let first = rt
        .block_on(diagnose::diagnose_in(&ctx, service, &env, gather::BUDGET))
        .expect("diagnosis");
    println!(
        "namespace {}: {} pods, {} events; {} findings: {}",
        first.namespace,
        first.pods,
        first.events,
        first.findings.len(),
        first
            .findings
            .iter()
            .map(|f| f.check.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(first.pods, PODS);
    assert!(first.unread.is_empty(), "{:?}", first.unread);

    let mut samples = Vec::new();
    rt.block_on(async {
        for _ in 0..20 {
            let _ = diagnose::diagnose_in(&ctx, service, &env, gather::BUDGET).await;
        }
        for _ in 0..200 {
            let t = Instant::now();
            std::hint::black_box(diagnose::diagnose_in(&ctx, service, &env, gather::BUDGET).await)
                .ok();
            samples.push(t.elapsed());
        }
    });
    report("diagnosis, 50 pods + events (reads + analyzers)", samples);

    let client = platform
        .cluster_for(&env)
        .and_then(|c| Ok(c.client_for(&actor)?))
        .expect("client");
    let cluster = platform.cluster_for(&env).expect("cluster");
    let mut snapshot = Snapshot::empty(
        service.name.clone(),
        env.clone(),
        stage::NS,
        &service.kubernetes_id,
        Timestamp::now(),
    );
    rt.block_on(gather::gather(
        &mut snapshot,
        cluster,
        client,
        &actor,
        gather::BUDGET,
    ));
    let mut samples = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        std::hint::black_box(diagnose::analyze(&snapshot));
        samples.push(t.elapsed());
    }
    report("analyzers only, on the gathered snapshot", samples);

    let mut samples = Vec::new();
    rt.block_on(async {
        for i in 0..100 {
            let msg = Inbound {
                conversation: ConversationKey::new(Surface::Terminal, "bench", format!("d-{i}")),
                user: UserRef::direct(user.clone()),
                text: "diagnose ledger in dev".to_owned(),
            };
            let t = Instant::now();
            std::hint::black_box(engine.handle(msg).await);
            samples.push(t.elapsed());
        }
    });
    report("engine turn: diagnose ledger in dev (+ proposal)", samples);
}
