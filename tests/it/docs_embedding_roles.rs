//! Asymmetric embedding models (e5, bge, nomic) need to know a question from a
//! passage: `[knowledge.embeddings]` prefixes go in front of the text and an
//! `input_type` goes in the request, both checked here on what a local
//! `/v1/embeddings` server receives. The server records requests and returns
//! fixed vectors; it does not model the prefixes' effect on the vectors.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use platbot::config::{DocSourceSettings, EmbeddingRoles, EmbeddingSettings, KnowledgeSettings};
use platbot::knowledge::{DocsIndex, IndexOptions};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<Value>>>;

async fn embeddings(State(seen): State<Seen>, Json(body): Json<Value>) -> Json<Value> {
    let n = body["input"].as_array().map_or(1, Vec::len);
    seen.lock().expect("lock").push(body.clone());
    let data: Vec<Value> = (0..n)
        .map(|i| json!({"object": "embedding", "index": i, "embedding": [1.0, i as f32, 0.5]}))
        .collect();
    Json(
        json!({"object": "list", "data": data, "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
    )
}

async fn serve(seen: Seen) -> String {
    let app = axum::Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/v1")
}

fn settings(docs: &std::path::Path, base_url: String, roles: EmbeddingRoles) -> KnowledgeSettings {
    KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "docs".into(),
            path: docs.to_path_buf(),
            base_url: None,
        }],
        embeddings: Some(EmbeddingSettings {
            base_url,
            model: "e5-test".into(),
            api_key: None,
            api_key_env: None,
            batch_size: 8,
            dimensions: None,
            timeout: std::time::Duration::from_secs(10),
            roles,
            weight: platbot::config::DEFAULT_DENSE_WEIGHT,
        }),
        ..KnowledgeSettings::default()
    }
}

fn inputs(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn questions_and_passages_are_sent_in_their_roles() {
    let seen: Seen = Arc::default();
    let base = serve(seen.clone()).await;
    let docs = tempfile::tempdir().expect("docs");
    std::fs::write(
        docs.path().join("quota.md"),
        "# Quotas\n\n## Raising\n\nAsk the platform team to raise the namespace quota.\n",
    )
    .expect("write");
    let roles = EmbeddingRoles {
        query_prefix: "query: ".into(),
        passage_prefix: "passage: ".into(),
        query_input_type: Some("query".into()),
        passage_input_type: Some("passage".into()),
    };
    let data = tempfile::tempdir().expect("data");
    let index = DocsIndex::open(&settings(docs.path(), base.clone(), roles), data.path())
        .await
        .expect("open");
    index
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    let found = index
        .search("how do I get more quota", 3, None)
        .await
        .expect("search");
    assert_eq!(found.passages[0].path, "quota.md");

    let bodies = seen.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let (passages, question) = (&bodies[0], &bodies[1]);
    assert_eq!(passages["input_type"], "passage");
    let texts = inputs(passages);
    assert!(
        texts.iter().all(|t| t.starts_with("passage: Quotas")),
        "{texts:?}"
    );
    assert_eq!(question["input_type"], "query");
    assert_eq!(inputs(question), ["query: how do I get more quota"]);

    // A symmetric model gets the plain text and no input_type.
    seen.lock().expect("lock").clear();
    let data = tempfile::tempdir().expect("data");
    let plain = DocsIndex::open(
        &settings(docs.path(), base, EmbeddingRoles::default()),
        data.path(),
    )
    .await
    .expect("open");
    plain
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    plain.search("quota", 3, None).await.expect("search");
    let bodies = seen.lock().expect("lock").clone();
    assert!(bodies.iter().all(|b| b.get("input_type").is_none()));
    assert!(inputs(&bodies[0])[0].starts_with("Quotas"));
    assert_eq!(inputs(&bodies[1]), ["quota"]);
}
