//! Per-message engine overhead: the alias planner, the store and the sandbox
//! cluster, no network beyond loopback. `cargo bench --bench engine`.
//!
//! Prints p50/p90/p99 per scenario and the intent classifier's training time. Targets:
//! planner well under 100 µs, a read turn (plan + store + one Kubernetes GET over
//! loopback) p50 under 1 ms, training at start under 1 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use platbot::chat::{ConversationKey, Inbound, Surface, UserRef};
use platbot::config::Config;
use platbot::domain::UserId;
use platbot::engine::PlanContext;
use platbot::startup::{StartOptions, build};

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.9), at(0.99))
}

fn report(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p90, p99) = percentiles(samples);
    println!("{name:<44} n={n:<6} p50={p50:>10.1?} p90={p90:>10.1?} p99={p99:>10.1?}");
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
    let app = rt.block_on(build(config.clone(), &opts)).expect("startup");
    let engine = Arc::clone(&app.engine);

    let catalog = Arc::new(platbot::startup::catalog(&config, true).expect("catalog"));
    // The process already trained the classifier once (startup above): time a fresh
    // training on the same examples, as a start does.
    let table = platbot::startup::alias_table(&config).expect("tools");
    let started = Instant::now();
    let planner = platbot::startup::alias_planner(&config, catalog).expect("planner");
    let set = planner.training_set(&table);
    let built = started.elapsed();
    let t = Instant::now();
    let _model = platbot::engine::nlu::train(
        &set.labels,
        &set.examples,
        &platbot::engine::nlu::TrainConfig::default(),
    );
    println!(
        "intent classifier: {} examples, trained in {:.0?} (planner built in {built:.0?})",
        set.examples.len(),
        t.elapsed()
    );
    let utterances = [
        "how is cart doing in prod?",
        "can I get a namespace for payments in dev?",
        "who's on call for checkout?",
        "why is search crashing in staging?",
        "how do I rotate a db password?",
        "put checkout-api on 3 replicas in staging",
    ];
    let empty = PlanContext::default();
    let mut samples = Vec::new();
    for i in 0..20_000 {
        let u = utterances[i % utterances.len()];
        let t = Instant::now();
        std::hint::black_box(planner.plan(u, &empty));
        samples.push(t.elapsed());
    }
    report("alias planner (6 utterances)", samples);

    let user = UserId::parse("jonah.feld").expect("user");
    let turn = |thread: String, text: &'static str| Inbound {
        conversation: ConversationKey::new(Surface::Terminal, "bench", thread),
        user: UserRef::direct(user.clone()),
        text: text.to_owned(),
    };
    for (name, text) in [
        (
            "turn: how is cart doing in prod (1 GET)",
            "how is cart doing in prod?",
        ),
        ("turn: chit-chat (no tool)", "thanks!"),
        (
            "turn: list deployments in staging (6 LISTs)",
            "list deployments in staging",
        ),
    ] {
        let mut samples = Vec::new();
        rt.block_on(async {
            for i in 0..300 {
                engine.handle(turn(format!("warm-{i}"), text)).await;
            }
            for i in 0..2_000 {
                let t = Instant::now();
                std::hint::black_box(engine.handle(turn(format!("b-{name}-{i}"), text)).await);
                samples.push(t.elapsed());
            }
        });
        report(name, samples);
    }
}
