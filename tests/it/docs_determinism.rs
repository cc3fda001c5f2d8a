//! The same files give the same index and the same rankings, bit for bit: two
//! indexes built apart from one generated corpus answer every question with the
//! same files, chunks and scores, and files that score the same come in path order.

use std::path::Path;

use platbot::config::{DocSourceSettings, KnowledgeSettings};
use platbot::knowledge::{DocsIndex, IndexOptions};

const TOPICS: &[(&str, &[&str])] = &[
    (
        "quotas",
        &["quota", "cpu", "memory", "limit", "namespace", "request"],
    ),
    (
        "secrets",
        &[
            "secret",
            "vault",
            "rotate",
            "password",
            "credential",
            "token",
        ],
    ),
    (
        "deploys",
        &[
            "deploy", "rollout", "canary", "rollback", "release", "image",
        ],
    ),
    (
        "alerts",
        &[
            "alert",
            "pager",
            "oncall",
            "threshold",
            "silence",
            "runbook",
        ],
    ),
];

/// A fixed sequence of pseudo-random numbers (a linear congruential generator).
fn numbers(mut seed: u64) -> impl FnMut() -> usize {
    move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    }
}

/// A corpus of a few dozen pages with overlapping vocabularies, and two pages
/// with the same text under different names (their scores tie).
fn write_corpus(dir: &Path) {
    let mut next = numbers(7);
    for (t, (topic, words)) in TOPICS.iter().enumerate() {
        let folder = dir.join(topic);
        std::fs::create_dir_all(&folder).expect("mkdir");
        for page in 0..8 {
            let mut text = format!("# {topic} guide {page}\n\n");
            for section in 0..4 {
                text.push_str(&format!("## {} {section}\n\n", words[next() % words.len()]));
                for _ in 0..40 {
                    // Mostly the page's topic, sometimes a neighbour's.
                    let (_, from) = TOPICS[if next().is_multiple_of(5) {
                        (t + 1) % TOPICS.len()
                    } else {
                        t
                    }];
                    text.push_str(from[next() % from.len()]);
                    text.push(' ');
                }
                text.push_str("\n\n");
            }
            std::fs::write(folder.join(format!("page-{page}.md")), text).expect("write");
        }
    }
    let twin = "# Twin\n\n## Escalation\n\nPage the oncall engineer, then silence the alert.\n";
    std::fs::write(dir.join("twin-b.md"), twin).expect("write");
    std::fs::write(dir.join("twin-a.md"), twin).expect("write");
}

type Ranking = Vec<(String, Vec<String>, u32, u32, String)>;

async fn rankings(docs: &Path, data: &Path, questions: &[&str]) -> Vec<Ranking> {
    rankings_with(docs, data, questions, IndexOptions::default()).await
}

fn settings_of(docs: &Path) -> KnowledgeSettings {
    KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "docs".into(),
            path: docs.to_path_buf(),
            base_url: None,
        }],
        ..KnowledgeSettings::default()
    }
}

async fn rankings_with(
    docs: &Path,
    data: &Path,
    questions: &[&str],
    opts: IndexOptions,
) -> Vec<Ranking> {
    let index = DocsIndex::open(&settings_of(docs), data)
        .await
        .expect("open");
    index.index(opts, None).await.expect("index");
    ask(&index, questions).await
}

async fn ask(index: &DocsIndex, questions: &[&str]) -> Vec<Ranking> {
    let mut out = Vec::new();
    for q in questions {
        let found = index.search(q, 10, None).await.expect("search");
        out.push(
            found
                .passages
                .into_iter()
                .map(|p| {
                    (
                        p.path,
                        p.headings,
                        p.score.to_bits(),
                        p.coverage.to_bits(),
                        p.text,
                    )
                })
                .collect(),
        );
    }
    out
}

/// A quotas page rewritten much shorter, for the incremental runs.
const SHORT_QUOTAS_PAGE: &str =
    "# Quotas\n\n## Raising a quota\n\nAsk for more cpu and memory in the namespace request.\n";

const QUESTIONS: [&str; 6] = [
    "how do I rotate the vault password",
    "raise the cpu quota of a namespace",
    "canary rollout then rollback the image",
    "silence an alert and page oncall",
    "memory limit token release",
    "escalation",
];

#[tokio::test]
async fn two_builds_of_the_same_files_rank_alike_bit_for_bit() {
    let docs = tempfile::tempdir().expect("tempdir");
    write_corpus(docs.path());
    let questions = QUESTIONS;
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let first = rankings(docs.path(), a.path(), &questions).await;
    let second = rankings(docs.path(), b.path(), &questions).await;
    assert!(first.iter().all(|r| r.len() >= 5), "{first:?}");
    assert_eq!(first, second);

    // The twins score the same; the name decides, not the store's order.
    let twins: Vec<&str> = first[5]
        .iter()
        .map(|r| r.0.as_str())
        .filter(|p| p.starts_with("twin"))
        .collect();
    assert_eq!(twins, ["twin-a.md", "twin-b.md"], "{:?}", first[5]);
    let scores: Vec<u32> = first[5]
        .iter()
        .filter(|r| r.0.starts_with("twin"))
        .map(|r| r.2)
        .collect();
    assert_eq!(scores[0], scores[1]);
}

/// A full build seals the embedded shard's segment every so many points (a
/// large corpus), and learns the semantic model before writing rather than
/// while writing: the rankings must not tell the two apart, before or after
/// a restart.
#[tokio::test]
async fn a_build_written_in_sealed_segments_ranks_like_one_written_at_once() {
    let docs = tempfile::tempdir().expect("tempdir");
    write_corpus(docs.path());
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let at_once = rankings(docs.path(), a.path(), &QUESTIONS).await;
    let sealed = IndexOptions {
        seal_every: Some(16),
        ..IndexOptions::default()
    };
    let in_segments = rankings_with(docs.path(), b.path(), &QUESTIONS, sealed).await;
    assert!(at_once.iter().all(|r| r.len() >= 5), "{at_once:?}");
    assert_eq!(at_once, in_segments);

    // Reopened from disk, as after a restart: the same again.
    let reopened = DocsIndex::open(&settings_of(docs.path()), b.path())
        .await
        .expect("reopen");
    assert_eq!(ask(&reopened, &QUESTIONS).await, at_once);
}

/// A corpus with enough chunks and terms for the semantic model's full size:
/// `pages` one-section pages of words drawn from a pool of made-up ones.
fn write_wide_corpus(dir: &Path, pages: usize) {
    let word = |i: usize| {
        let letters: String = [i / 676, (i / 26) % 26, i % 26]
            .iter()
            .map(|d| char::from(b'a' + (*d % 26) as u8))
            .collect();
        format!("zq{letters}")
    };
    let mut next = numbers(11);
    for page in 0..pages {
        let words: Vec<String> = (0..30).map(|_| word(next() % 400)).collect();
        let text = format!("# Page {page}\n\n## {}\n\n{}\n", words[0], words.join(" "));
        std::fs::write(dir.join(format!("p{page:03}.md")), text).expect("write");
    }
}

/// A first build creates the embedded shard while the files parse (its layout
/// guessed from the semantic model's full size); a rebuild over a working index
/// creates it after parsing. Both, and a restart, must rank alike. With 600
/// chunks the build also writes their sparse vectors head first and places
/// them in two halves (from 256 and 512 chunks), and the restart reads back
/// what that wrote.
#[tokio::test]
async fn a_shard_made_while_parsing_ranks_like_one_made_after() {
    let docs = tempfile::tempdir().expect("tempdir");
    write_wide_corpus(docs.path(), 600);
    let data = tempfile::tempdir().expect("data");
    let questions = ["zqaab zqaac", "zqabc", "zqapq zqaaz zqafo"];
    let first = rankings(docs.path(), data.path(), &questions).await;
    assert!(first.iter().all(|r| !r.is_empty()), "{first:?}");

    // The guess held: the model has its full size.
    let manifest =
        std::fs::read_to_string(data.path().join("knowledge/manifest.json")).expect("manifest");
    let manifest: serde_json::Value = serde_json::from_str(&manifest).expect("json");
    assert_eq!(
        manifest["layout"]["semantic_dims"],
        serde_json::json!(platbot::knowledge::semantic::DIMS)
    );
    assert_eq!(manifest["files"].as_object().map(|f| f.len()), Some(600));

    let rebuild = IndexOptions {
        rebuild: true,
        ..IndexOptions::default()
    };
    let index = DocsIndex::open(&settings_of(docs.path()), data.path())
        .await
        .expect("open");
    assert_eq!(ask(&index, &questions).await, first, "after a restart");
    index.index(rebuild, None).await.expect("rebuild");
    assert_eq!(ask(&index, &questions).await, first, "after a rebuild");
}

/// The folders of the embedded store under a data dir: `edge` and its shards.
fn shard_folders(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("knowledge"))
        .expect("knowledge dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("edge"))
        .collect();
    names.sort();
    names
}

fn manifest_shards(data: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(data.join("knowledge/manifest.json")).expect("manifest");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("json");
    manifest["layout"]["shards"].clone()
}

/// A large full build splits its points over several embedded shards, each
/// written on its own thread (and sealed, when each still holds many): the
/// rankings must not tell the split apart, after a restart, after an
/// incremental run that adds, changes and removes files, and a rebuild that
/// needs one shard leaves no other shard's folder behind.
#[tokio::test]
async fn a_build_split_over_shards_ranks_like_one_shard() {
    let docs = tempfile::tempdir().expect("tempdir");
    write_corpus(docs.path());
    let (one, split, sealed) = (
        tempfile::tempdir().expect("one"),
        tempfile::tempdir().expect("split"),
        tempfile::tempdir().expect("sealed"),
    );
    let at_once = rankings(docs.path(), one.path(), &QUESTIONS).await;
    assert!(at_once.iter().all(|r| r.len() >= 5), "{at_once:?}");
    assert_eq!(shard_folders(one.path()), ["edge"]);
    assert_eq!(manifest_shards(one.path()), serde_json::json!(1));

    let in_shards = IndexOptions {
        shard_above: Some(16),
        ..IndexOptions::default()
    };
    assert_eq!(
        rankings_with(docs.path(), split.path(), &QUESTIONS, in_shards).await,
        at_once
    );
    let folders = shard_folders(split.path());
    assert_eq!(folders.len(), 8, "{folders:?}");
    assert_eq!(folders[..2], ["edge", "edge.1"]);
    assert_eq!(manifest_shards(split.path()), serde_json::json!(8));

    let in_sealed_shards = IndexOptions {
        shard_above: Some(40),
        seal_every: Some(8),
        ..IndexOptions::default()
    };
    assert_eq!(
        rankings_with(docs.path(), sealed.path(), &QUESTIONS, in_sealed_shards).await,
        at_once
    );
    assert!(shard_folders(sealed.path()).len() > 2);

    // Reopened from disk, as after a restart: the same again.
    let open = |data: &Path| {
        let settings = settings_of(docs.path());
        let data = data.to_path_buf();
        async move { DocsIndex::open(&settings, &data).await.expect("reopen") }
    };
    let (one_ix, split_ix, sealed_ix) = (
        open(one.path()).await,
        open(split.path()).await,
        open(sealed.path()).await,
    );
    assert_eq!(ask(&split_ix, &QUESTIONS).await, at_once);
    assert_eq!(ask(&sealed_ix, &QUESTIONS).await, at_once);

    // An incremental run: one page rewritten, one removed, one added.
    let quotas = docs.path().join("quotas");
    std::fs::write(quotas.join("page-0.md"), SHORT_QUOTAS_PAGE).expect("rewrite");
    std::fs::remove_file(docs.path().join("secrets/page-3.md")).expect("remove");
    std::fs::write(
        docs.path().join("deploys/page-9.md"),
        "# Canary\n\n## Rollback\n\nRoll the canary back to the last image.\n",
    )
    .expect("add");
    let mut after = Vec::new();
    for index in [&one_ix, &split_ix, &sealed_ix] {
        let summary = index
            .index(IndexOptions::default(), None)
            .await
            .expect("update");
        assert_eq!((summary.added, summary.updated, summary.removed), (1, 1, 1));
        after.push(ask(index, &QUESTIONS).await);
    }
    assert_ne!(after[0], at_once, "the update changed nothing");
    assert_eq!(after[1], after[0]);
    assert_eq!(after[2], after[0]);
    assert_eq!(manifest_shards(split.path()), serde_json::json!(8));
    drop((split_ix, sealed_ix));
    assert_eq!(ask(&open(split.path()).await, &QUESTIONS).await, after[0]);

    // A shard's folder gone is a damaged index, not fewer answers.
    std::fs::remove_dir_all(split.path().join("knowledge/edge.5")).expect("remove a shard");
    let index = open(split.path()).await;
    let err = index.search("vault", 3, None).await.unwrap_err();
    assert!(err.to_string().contains("--rebuild"), "{err}");
    assert!(err.to_string().contains("edge.5"), "{err}");

    // A rebuild that fits one shard removes the others' folders, and ranks
    // as a first build of the files as they are now (it learns again).
    let rebuild = IndexOptions {
        rebuild: true,
        ..IndexOptions::default()
    };
    index.index(rebuild, None).await.expect("rebuild");
    let fresh = tempfile::tempdir().expect("fresh");
    assert_eq!(
        ask(&index, &QUESTIONS).await,
        rankings(docs.path(), fresh.path(), &QUESTIONS).await
    );
    assert_eq!(shard_folders(split.path()), ["edge"]);
    assert_eq!(manifest_shards(split.path()), serde_json::json!(1));
}

/// Incremental runs write into the shards a full build planned; one that
/// would leave more chunks than they were planned for builds everything
/// again, split for its size, and says so. A run that stays within them
/// does not.
#[tokio::test]
async fn an_index_grown_past_its_shards_is_split_again() {
    let docs = tempfile::tempdir().expect("tempdir");
    write_corpus(docs.path());
    let data = tempfile::tempdir().expect("data");
    let index = DocsIndex::open(&settings_of(docs.path()), data.path())
        .await
        .expect("open");
    let first = index
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    assert_eq!(manifest_shards(data.path()), serde_json::json!(1));
    // One shard holds exactly what is there now.
    let opts = IndexOptions {
        shard_above: Some(first.chunks),
        ..IndexOptions::default()
    };

    // A page rewritten shorter: fewer chunks, the same shard.
    std::fs::write(docs.path().join("quotas/page-0.md"), SHORT_QUOTAS_PAGE).expect("rewrite");
    let within = index.index(opts, None).await.expect("update");
    assert_eq!(within.rebuilt, None);
    assert_eq!((within.updated, within.unchanged), (1, first.files - 1));
    assert!(within.chunks < first.chunks, "{within:?}");

    // The deploy pages copied into an archive: past what one shard was planned for.
    let archive = docs.path().join("archive");
    std::fs::create_dir_all(&archive).expect("mkdir");
    for page in 0..8 {
        let name = format!("page-{page}.md");
        std::fs::copy(docs.path().join("deploys").join(&name), archive.join(&name)).expect("copy");
    }
    let grown = index.index(opts, None).await.expect("grow");
    let why = grown.rebuilt.clone().expect("a rebuild");
    assert!(why.contains("outgrew 1 shard, now split over 2"), "{why}");
    assert!(grown.chunks > first.chunks, "{grown:?}");
    assert_eq!(
        (grown.added, grown.updated, grown.removed, grown.unchanged),
        (first.files + 8, 0, 0, 0)
    );
    assert_eq!(grown.chunks_written, grown.chunks);
    assert_eq!(manifest_shards(data.path()), serde_json::json!(2));
    assert_eq!(shard_folders(data.path()), ["edge", "edge.1"]);
    assert!(
        grown.render().contains("full rebuild"),
        "{}",
        grown.render()
    );

    // It ranks as a first build of the files as they are now, and so after a restart.
    let fresh = tempfile::tempdir().expect("fresh");
    let now = rankings_with(docs.path(), fresh.path(), &QUESTIONS, opts).await;
    assert_eq!(ask(&index, &QUESTIONS).await, now);
    drop(index);
    let reopened = DocsIndex::open(&settings_of(docs.path()), data.path())
        .await
        .expect("reopen");
    assert_eq!(ask(&reopened, &QUESTIONS).await, now);

    // Nothing changed since: nothing written, nothing rebuilt.
    let again = reopened.index(opts, None).await.expect("again");
    assert_eq!((again.rebuilt, again.chunks_written), (None, 0));
}
