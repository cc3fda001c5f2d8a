//! The catalog read from a Backstage backend, against a local HTTP server speaking the
//! catalog API: `GET /api/catalog/entities` with `filter` (several are OR-ed, `kind=…`
//! compared case-insensitively), `limit`/`offset` paging, bearer tokens, and Backstage's error
//! body `{"error": {"name", "message"}, "request", "response": {"statusCode"}}` for 401.
//!
//! What it does NOT emulate: `fields`, `order`, the cursor-based `/entities/by-query`,
//! `after`, filters other than `kind=`, relations, entity refs with namespaces other than
//! `default`, and the rest of the catalog API.

use crate::support::common;
use crate::support::fakes;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fakes::{Log, sandbox_bot_with, serve};
use serde_json::{Value, json};

const TOKEN: &str = "backstage-test-token";

struct Backstage {
    log: Log,
    entities: Vec<Value>,
}

async fn list_entities(
    State(b): State<Arc<Backstage>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let line = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    b.log.push(format!("/api/catalog/entities?{line}"));
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"name": "AuthenticationError", "message": "Missing credentials"},
                "request": {"method": "GET", "url": "/api/catalog/entities"}, "response": {"statusCode": 401}})),
        )
            .into_response();
    }
    let kinds: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "filter")
        .filter_map(|(_, v)| v.strip_prefix("kind=").map(str::to_ascii_lowercase))
        .collect();
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let (limit, offset) = (
        get("limit").unwrap_or(usize::MAX),
        get("offset").unwrap_or(0),
    );
    let page: Vec<Value> = b
        .entities
        .iter()
        .filter(|e| {
            kinds.is_empty()
                || kinds.contains(&e["kind"].as_str().unwrap_or_default().to_ascii_lowercase())
        })
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Json(Value::Array(page)).into_response()
}

fn entity(kind: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "backstage.io/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{kind}-{name}"), "etag": "abc",
            "annotations": {"backstage.io/managed-by-location": "url:https://git.example.com/catalog-info.yaml"}},
        "spec": spec,
        "relations": [],
    })
}

async fn start() -> (String, Log) {
    let mut entities = vec![
        entity("System", "shop", json!({"owner": "group:payments"})),
        entity(
            "Group",
            "growth",
            json!({"type": "team", "children": [], "members": ["user:default/gia.rossi"]}),
        ),
        entity(
            "Component",
            "loyalty",
            json!({"type": "service", "lifecycle": "production", "owner": "group:default/payments"}),
        ),
        entity(
            "Component",
            "referrals",
            json!({"type": "service", "lifecycle": "production", "owner": "group:growth"}),
        ),
    ];
    // Enough users for a second page of 500.
    entities.extend((0..620).map(|i| {
        entity(
            "User",
            &format!("user{i}"),
            json!({"profile": {"email": format!("user{i}@example.com")}, "memberOf": ["growth"]}),
        )
    }));
    let b = Backstage {
        log: Log::default(),
        entities,
    };
    let log = b.log.clone();
    let router = axum::Router::new()
        .route("/api/catalog/entities", get(list_entities))
        .with_state(Arc::new(b));
    (serve(router).await, log)
}

#[tokio::test]
async fn entities_from_backstage_join_the_catalog_across_pages() {
    let (url, log) = start().await;
    let toml = format!("[catalog]\nbackstage_url = \"{url}\"\ntoken_env = \"BACKSTAGE_TOKEN\"\n");
    let bot = sandbox_bot_with(&toml, &[("BACKSTAGE_TOKEN", TOKEN)]).await;
    let catalog = &bot.app.engine.platform().catalog;
    assert_eq!(
        catalog.service("loyalty").unwrap().owner.as_str(),
        "payments"
    );
    assert_eq!(catalog.team("growth").unwrap().members.len(), 1);
    assert!(catalog.user("user619").is_some());
    // The sandbox's file catalog is still there; Backstage adds to it.
    assert!(catalog.service("cart").is_some());
    let calls = log.entries();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].contains("filter=kind=group&filter=kind=user&filter=kind=component"),
        "{calls:?}"
    );
    assert!(calls[1].contains("offset=500"), "{calls:?}");
    // And the planner knows the new names.
    let reply = bot.say_one("t", "x", "who's on call for loyalty?").await;
    assert!(
        reply.text.contains("*loyalty* (team payments)"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_rejected_token_stops_startup_with_a_clear_error() {
    let (url, _) = start().await;
    let toml = format!("[catalog]\nbackstage_url = \"{url}\"\ntoken_env = \"BACKSTAGE_TOKEN\"\n");
    let vars = [("BACKSTAGE_TOKEN", "nope")];
    let env = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    let mut config = platbot::config::Config::from_toml(&toml, &env).unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_path_buf();
    let err = platbot::startup::build(config, &common::sandbox())
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot read the catalog from Backstage: Backstage rejected the token"),
        "{msg}"
    );
    assert!(
        msg.contains("AuthenticationError: Missing credentials"),
        "{msg}"
    );
}
