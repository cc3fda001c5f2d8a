//! Docs index timings (release build): full index of a corpus, re-index with no
//! change, reopening (the rankings read back from the shard), query latency
//! through `DocsIndex::search` and of the in-process rankings alone; then the same over the corpus replicated 1x..10x (distinct paths,
//! perturbed text), each size in its own process so its peak RSS is its own.
//! `cargo bench --bench docs`.
//!
//! The corpus is `PLATBOT_BENCH_DOCS` (default: the shared Argo CD docs next to
//! the repository, `../shared/corpora/argocd-docs`), falling back to the shipped
//! `docs-index/`. `PLATBOT_BENCH_SCALES` lists the replication factors (default
//! `1,2,5,10`; empty to skip); `PLATBOT_BENCH_SHARD_ABOVE` sets the chunks per
//! embedded shard past which a scaled build splits (default 8,192). Targets for
//! the 455-file Argo CD corpus: index no slower than bm25s on the same files
//! (`benches/retrieval_vs_bm25s.py`), query p50 <= 0.25 ms; index time growing
//! no faster than the corpus, query time slower.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use platbot::config::{DocSourceSettings, KnowledgeSettings};
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

fn report(name: &str, samples: Vec<Duration>) -> Duration {
    let n = samples.len();
    let (p50, p90, p99) = percentiles(samples);
    println!("{name:<44} n={n:<6} p50={p50:>10.1?} p90={p90:>10.1?} p99={p99:>10.1?}");
    p50
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

fn settings(docs: &Path) -> KnowledgeSettings {
    KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "bench".into(),
            path: docs.to_path_buf(),
            base_url: None,
        }],
        ..KnowledgeSettings::default()
    }
}

/// Peak resident memory of this process (Linux), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The allocator the platbot binary ships with, so the figures are the binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Ok(factor) = std::env::var("PLATBOT_BENCH_ONE_SCALE") {
        scale_one(factor.parse().expect("a replication factor"));
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let docs = corpus();
    let data = tempfile::tempdir().expect("tempdir");
    let settings = settings(&docs);
    println!("corpus: {}", docs.display());

    let index = rt
        .block_on(DocsIndex::open(&settings, data.path()))
        .expect("open");
    let started = Instant::now();
    let full = rt
        .block_on(index.index(IndexOptions::default(), None))
        .expect("index");
    println!(
        "full index: {:.3}s  ({} files, {} chunks)",
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

    let mut raw = Vec::new();
    for _ in 0..50 {
        for q in QUERIES {
            let s = Instant::now();
            let found = rt.block_on(index.rankings_for_bench(q)).expect("rankings");
            raw.push(s.elapsed());
            assert!(found > 0);
        }
    }
    report("analysis + BM25 + semantic rankings (60 each)", raw);
    drop(index);
    scaling(&docs);
}

/// Each factor in a child process (a fresh peak RSS), then one line per size.
fn scaling(docs: &Path) {
    let scales = std::env::var("PLATBOT_BENCH_SCALES").unwrap_or_else(|_| "1,2,5,10".into());
    let exe = std::env::current_exe().expect("current exe");
    println!("\nscaling (corpus replicated, perturbed):");
    println!("factor  files  chunks  index s  s/1k files  query p50  peak RSS MB");
    for factor in scales.split(',').filter(|s| !s.trim().is_empty()) {
        let out = std::process::Command::new(&exe)
            .env("PLATBOT_BENCH_ONE_SCALE", factor.trim())
            .env("PLATBOT_BENCH_DOCS", docs)
            .output()
            .expect("run one scale");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

fn scale_one(factor: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let corpus_dir = tempfile::tempdir().expect("tempdir");
    let files = replicate(&corpus(), corpus_dir.path(), factor);
    let data = tempfile::tempdir().expect("tempdir");
    let settings = settings(corpus_dir.path());
    let index = rt
        .block_on(DocsIndex::open(&settings, data.path()))
        .expect("open");
    // A shard size to compare against the default's (`SHARD_ABOVE`).
    let opts = IndexOptions {
        shard_above: std::env::var("PLATBOT_BENCH_SHARD_ABOVE")
            .ok()
            .and_then(|v| v.parse().ok()),
        ..IndexOptions::default()
    };
    let started = Instant::now();
    let summary = rt.block_on(index.index(opts, None)).expect("index");
    let seconds = started.elapsed().as_secs_f64();
    let mut search = Vec::new();
    for _ in 0..20 {
        for q in QUERIES {
            let s = Instant::now();
            rt.block_on(index.search(q, 10, None)).expect("search");
            search.push(s.elapsed());
        }
    }
    let (p50, _, _) = percentiles(search);
    println!(
        "{factor:>6}  {files:>5}  {:>6}  {seconds:>7.2}  {:>10.3}  {:>9.1?}  {:>11.0}",
        summary.chunks,
        seconds * 1000.0 / files as f64,
        p50,
        peak_rss_mb().unwrap_or(0.0)
    );
}

/// `factor` copies of every Markdown file under `from`, each under `copy-N/`, the
/// copies' words perturbed (one in seven swapped with a later word of the same
/// line) so they are not byte-identical; the first copy is the original.
fn replicate(from: &Path, to: &Path, factor: usize) -> usize {
    let mut files = 0;
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).expect("under the corpus");
        let Ok(text) = std::fs::read_to_string(&entry) else {
            continue;
        };
        for copy in 0..factor {
            let dest = to.join(format!("copy-{copy}")).join(rel);
            std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
            let body = if copy == 0 {
                text.clone()
            } else {
                perturb(&text, copy)
            };
            std::fs::write(dest, body).expect("write");
            files += 1;
        }
    }
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn perturb(text: &str, copy: usize) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (n, line) in text.lines().enumerate() {
        let mut words: Vec<&str> = line.split(' ').collect();
        for i in 1..words.len() {
            if (i * 31 + n * 17 + copy * 5).is_multiple_of(7) && i + 3 < words.len() {
                words.swap(i, i + 3);
            }
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}
