//! The docs index on a real Qdrant server through qdrant-client: runs when
//! `QDRANT_URL` (the gRPC URL, e.g. `http://localhost:6334`) is set, and is
//! skipped with a printed reason otherwise.

use std::path::PathBuf;

use platbot::config::{DocSourceSettings, KnowledgeSettings, QdrantSettings};
use platbot::knowledge::{DocsIndex, IndexOptions};

#[tokio::test]
async fn indexes_and_searches_on_a_qdrant_server() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        println!("skipped: QDRANT_URL is not set (e.g. QDRANT_URL=http://localhost:6334)");
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let collection = format!("platbot-test-{}", uuid::Uuid::new_v4().simple());
    let settings = KnowledgeSettings {
        sources: vec![DocSourceSettings {
            name: "fixtures".into(),
            path: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs"),
            base_url: None,
        }],
        qdrant: Some(QdrantSettings {
            url,
            api_key: std::env::var("QDRANT_API_KEY").ok(),
            api_key_env: None,
            collection: collection.clone(),
        }),
        ..KnowledgeSettings::default()
    };
    let data = tempfile::tempdir().expect("tempdir");
    let index = DocsIndex::open(&settings, data.path()).await.expect("open");
    let first = index
        .index(IndexOptions::default(), None)
        .await
        .expect("index");
    assert_eq!(first.files, 3);

    let found = index
        .search("pods in ImagePullBackOff", 3, None)
        .await
        .expect("search");
    assert_eq!(found.passages[0].path, "guides/pods.md");
    let again = index
        .index(IndexOptions::default(), None)
        .await
        .expect("reindex");
    assert_eq!(again.chunks_written, 0);

    // Reopened from the manifest, the server holds the same points.
    drop(index);
    let reopened = DocsIndex::open(&settings, data.path())
        .await
        .expect("reopen");
    assert_eq!(reopened.status().await.expect("ready"), first.chunks);

    let client = qdrant_client::Qdrant::from_url(&settings.qdrant.as_ref().expect("qdrant").url)
        .build()
        .expect("client");
    let _ = client.delete_collection(&collection).await;
}
