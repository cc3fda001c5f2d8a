//! Docs index timings (release build): full BM25 index of a corpus, re-index
//! with no change, and query latency through `DocsIndex::search` and through
//! the qdrant-edge store alone. `cargo bench --bench docs`.
//!
//! The corpus is `PLATBOT_BENCH_DOCS` (default: the shared Argo CD docs next to
//! the repository, `../shared/corpora/argocd-docs`), falling back to the shipped
//! `docs-index/`. Targets for the 455-file Argo CD corpus: index < 2 s, query
//! p50 < 2 ms, no-change re-index < 0.5 s.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use platbot::config::{DocSourceSettings, KnowledgeSettings};
use platbot::knowledge::store::{HybridQuery, query_edge_blocking};
use platbot::knowledge::{DocsIndex, IndexOptions};

const QUERIES: &[&str] = &[
    "how do I hide the auto generated external url link on an application",
    "argocd-server behind nginx under /argocd, api calls 404 with --basehref",
    "sync a subset of resources, hooks did not run",
    "ImagePullBackOff after pushing a new tag",
    "exclude secrets created by cert-manager from orphaned resources warnings",
    "round robin sharding of the application controller",
    "rotate the admin password",
    "notifications timezone for slack timestamps",
    "applicationset git files generator glob nested folders",
    "keycloak PKCE code_challenge_method",
];

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

fn corpus() -> PathBuf {
    if let Ok(p) = std::env::var("PLATBOT_BENCH_DOCS") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/corpora/argocd-docs");
    if shared.is_dir() {
        shared
    } else {
        root.join("docs-index")
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    let settings = KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "bench".into(),
            path: docs.clone(),
            base_url: None,
        }],
        ..KnowledgeSettings::default()
    };
    println!("corpus: {}", docs.display());

    let index = rt
        .block_on(DocsIndex::open(&settings, data.path()))
        .expect("open");
    let started = Instant::now();
    let full = rt
        .block_on(index.index(IndexOptions::default(), None))
        .expect("index");
    println!(
        "full index (BM25): {:.3}s  ({} files, {} chunks)",
        started.elapsed().as_secs_f64(),
        full.files,
        full.chunks
    );

    let mut again = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        let r = rt
            .block_on(index.index(IndexOptions::default(), None))
            .expect("reindex");
        assert_eq!(r.chunks_written, 0);
        again.push(s.elapsed());
    }
    report("re-index, no change", again);

    // Reopen, as a restarted process would.
    drop(index);
    let s = Instant::now();
    let index = rt
        .block_on(DocsIndex::open(&settings, data.path()))
        .expect("reopen");
    println!("reopen: {:.1?}", s.elapsed());

    let mut search = Vec::new();
    for _ in 0..50 {
        for q in QUERIES {
            let s = Instant::now();
            let r = rt.block_on(index.search(q, 10, None)).expect("search");
            search.push(s.elapsed());
            assert!(!r.passages.is_empty());
        }
    }
    report("search (DocsIndex::search, top 10 files)", search);

    let edge = rt.block_on(index.edge_store()).expect("edge store");
    let analyzer = platbot::knowledge::sparse::Analyzer::new();
    let mut raw = Vec::new();
    for _ in 0..50 {
        for q in QUERIES {
            let terms = index.query_terms_for_bench(q);
            let s = Instant::now();
            let sparse = analyzer.encode_query(&terms);
            let hits = query_edge_blocking(
                &edge,
                HybridQuery {
                    sparse,
                    dense: None,
                    semantic: None,
                    limit: 60,
                    sources: None,
                },
            )
            .expect("query");
            raw.push(s.elapsed());
            assert!(!hits.is_empty());
        }
    }
    report("qdrant-edge sparse query alone (60 chunks)", raw);
}
