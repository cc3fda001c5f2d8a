//! Hybrid search against a local OpenAI-compatible `/v1/embeddings` server
//! written here: deterministic vectors, request counting, and the content-hash
//! cache that keeps unchanged chunks from being embedded again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use platbot::config::{DocSourceSettings, EmbeddingRoles, EmbeddingSettings, KnowledgeSettings};
use platbot::knowledge::{DocsIndex, IndexOptions};
use serde_json::{Value, json};

const DIM: usize = 32;

#[derive(Default)]
struct Counts {
    requests: AtomicUsize,
    inputs: AtomicUsize,
}

/// A bag-of-words vector where "credentials" and "password" share a dimension,
/// so the dense half can find what BM25 cannot.
fn embed(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let word = if word == "credentials" {
            "password"
        } else {
            word
        };
        let h = word.bytes().fold(2166136261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16777619)
        });
        v[h as usize % DIM] += 1.0;
    }
    v
}

async fn embeddings(State(counts): State<Arc<Counts>>, Json(body): Json<Value>) -> Json<Value> {
    counts.requests.fetch_add(1, Ordering::SeqCst);
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    counts.inputs.fetch_add(inputs.len(), Ordering::SeqCst);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t)}))
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1}
    }))
}

async fn serve(counts: Arc<Counts>) -> String {
    let app = axum::Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(counts);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

fn settings(docs: &Path, base_url: &str) -> KnowledgeSettings {
    KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "docs".into(),
            path: docs.to_path_buf(),
            base_url: None,
        }],
        embeddings: Some(EmbeddingSettings {
            base_url: base_url.to_owned(),
            model: "fake-embed".into(),
            api_key: Some("test-key".into()),
            api_key_env: Some("TEST_KEY".into()),
            batch_size: 2,
            dimensions: None,
            timeout: std::time::Duration::from_secs(10),
            roles: EmbeddingRoles::default(),
            weight: platbot::config::DEFAULT_DENSE_WEIGHT,
        }),
        ..KnowledgeSettings::default()
    }
}

fn write_docs(dir: &Path) {
    std::fs::write(
        dir.join("secrets.md"),
        "# Secrets\n\n## Rotating a password\n\nWrite the new password to Vault, then restart the service.\n\n## Leaks\n\nRotate first, then tell security.\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("quotas.md"),
        "# Quotas\n\nEvery namespace has a ResourceQuota. Raise it with a pull request.\n",
    )
    .expect("write");
}

#[tokio::test]
async fn embeddings_are_batched_cached_and_fused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts = Arc::new(Counts::default());
    let url = serve(Arc::clone(&counts)).await;
    let docs = tempfile::tempdir().expect("tempdir");
    write_docs(docs.path());
    let data = tempfile::tempdir().expect("tempdir");
    let s = settings(docs.path(), &url);

    let index = DocsIndex::open(&s, data.path()).await.expect("open");
    let first = index
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    assert_eq!(first.embedded, first.chunks, "{first:?}");
    assert_eq!(first.embeddings_cached, 0);
    assert_eq!(counts.inputs.load(Ordering::SeqCst), first.chunks);
    // Batches of two.
    assert_eq!(
        counts.requests.load(Ordering::SeqCst),
        first.chunks.div_ceil(2)
    );

    // No change: nothing is embedded.
    let before = counts.inputs.load(Ordering::SeqCst);
    let again = index
        .index(IndexOptions::default(), None)
        .await
        .expect("reindex");
    assert_eq!((again.embedded, again.chunks_written), (0, 0));
    assert_eq!(counts.inputs.load(Ordering::SeqCst), before);

    // One section edited: exactly one new embedding.
    let path = docs.path().join("secrets.md");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("tell security", "tell #security")).expect("write");
    let edited = index
        .index(IndexOptions::default(), None)
        .await
        .expect("reindex");
    assert_eq!(edited.embedded, 1, "{edited:?}");
    assert_eq!(counts.inputs.load(Ordering::SeqCst), before + 1);

    // A rebuild drops the store, not the cache: still nothing to embed.
    let rebuilt = index
        .index(
            IndexOptions {
                rebuild: true,
                ..IndexOptions::default()
            },
            None,
        )
        .await
        .expect("rebuild");
    assert_eq!(rebuilt.embedded, 0, "{rebuilt:?}");
    assert_eq!(rebuilt.embeddings_cached, rebuilt.chunks);
    assert_eq!(counts.inputs.load(Ordering::SeqCst), before + 1);

    // The cache survives a restart too.
    drop(index);
    let reopened = DocsIndex::open(&s, data.path()).await.expect("reopen");
    let after_restart = reopened
        .index(
            IndexOptions {
                rebuild: true,
                ..IndexOptions::default()
            },
            None,
        )
        .await
        .expect("rebuild");
    assert_eq!(after_restart.embedded, 0);

    // Hybrid: "credentials" never occurs in the docs; the dense half finds the password section.
    let requests = counts.requests.load(Ordering::SeqCst);
    let found = reopened
        .search("credentials", 3, None)
        .await
        .expect("search");
    assert_eq!(counts.requests.load(Ordering::SeqCst), requests + 1);
    assert_eq!(found.passages[0].path, "secrets.md", "{found:?}");
    assert_eq!(found.passages[0].headings, ["Rotating a password"]);

    // `weight` is the dense ranking's share of the fusion: heavier, the file
    // only it found scores higher (same index, reopened with the new weight).
    drop(reopened);
    let heavier = KnowledgeSettings {
        embeddings: s
            .embeddings
            .clone()
            .map(|e| EmbeddingSettings { weight: 3.0, ..e }),
        ..s.clone()
    };
    let weighted = DocsIndex::open(&heavier, data.path())
        .await
        .expect("reopen");
    let found3 = weighted
        .search("credentials", 3, None)
        .await
        .expect("search");
    assert_eq!(found3.passages[0].path, "secrets.md", "{found3:?}");
    assert!(
        found3.passages[0].score > found.passages[0].score,
        "{found3:?} vs {found:?}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_indexing_clearly_but_search_falls_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts = Arc::new(Counts::default());
    let url = serve(Arc::clone(&counts)).await;
    let docs = tempfile::tempdir().expect("tempdir");
    write_docs(docs.path());
    let data = tempfile::tempdir().expect("tempdir");

    let index = DocsIndex::open(&settings(docs.path(), &url), data.path())
        .await
        .expect("open");
    index
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    drop(index);

    // The same index with the endpoint gone: queries still answer from BM25.
    let dead = "http://127.0.0.1:9/v1";
    let mut s = settings(docs.path(), dead);
    if let Some(e) = s.embeddings.as_mut() {
        e.timeout = std::time::Duration::from_secs(2);
    }
    let index = DocsIndex::open(&s, data.path()).await.expect("open");
    let found = index
        .search("ResourceQuota", 3, None)
        .await
        .expect("search");
    assert_eq!(found.passages[0].path, "quotas.md");

    // A new file needs embeddings: the run fails and says why.
    std::fs::write(docs.path().join("new.md"), "# New\n\nSomething new.\n").expect("write");
    let err = index
        .index(IndexOptions::default(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("embeddings endpoint"), "{err}");
}

/// An endpoint that takes the request and never answers: the run fails within
/// the configured timeout and the error names the setting to change.
#[tokio::test]
async fn a_silent_endpoint_fails_the_run_and_names_the_timeout_setting() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
    // Holds every connection open without a byte of reply.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let docs = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    write_docs(docs.path());
    let mut s = settings(docs.path(), &url);
    if let Some(e) = s.embeddings.as_mut() {
        e.timeout = std::time::Duration::from_secs(1);
    }
    let index = DocsIndex::open(&s, data.path()).await.expect("open");
    let err = index
        .index(IndexOptions::default(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no answer within 1s"), "{err}");
    assert!(err.contains("timeout_secs"), "{err}");
}
