//! `deployment_status` with Argo CD, against a local HTTP server speaking Argo CD's API.
//!
//! The fake serves `GET /api/v1/applications/{name}` with the Application resource as
//! `argocd-server` returns it (`metadata`, `spec.source`/`spec.sources`, `status.sync`,
//! `status.health`, `status.operationState` with `syncResult`, `status.history`,
//! `status.reconciledAt`), checks `Authorization: Bearer …`, and answers errors with the
//! grpc-gateway body `{"error", "code", "message"}`: 401 (code 16) for a bad token, 404
//! (code 5) for an unknown Application, 403 (code 7, "permission denied") for one the account
//! may not read.
//!
//! What it does NOT emulate: listing, `refresh`, `appNamespace`/`project` query parameters,
//! projects and RBAC beyond the one forbidden Application, session cookies and `/api/v1/session`,
//! resource trees, managed resources, and streaming (`watch`) endpoints.

use crate::support::fakes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fakes::{Log, sandbox_bot_with, serve};
use serde_json::{Value, json};

const TOKEN: &str = "argocd-test-token";

struct Argo {
    log: Log,
    apps: HashMap<String, Value>,
}

fn grpc_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({"error": message, "code": code, "message": message})),
    )
        .into_response()
}

async fn application(
    State(argo): State<Arc<Argo>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    argo.log.push(format!("/api/v1/applications/{name}"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return grpc_error(
            StatusCode::UNAUTHORIZED,
            16,
            "invalid session: token signature is invalid",
        );
    }
    if name.starts_with("secret-") {
        return grpc_error(StatusCode::FORBIDDEN, 7, "permission denied");
    }
    match argo.apps.get(&name) {
        Some(app) => Json(app.clone()).into_response(),
        None => grpc_error(
            StatusCode::NOT_FOUND,
            5,
            &format!("applications.argoproj.io \"{name}\" not found"),
        ),
    }
}

fn app(name: &str, sync: &str, health: &str, revision: &str, phase: &str, message: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "argocd", "uid": format!("uid-{name}"), "resourceVersion": "123"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/platform/apps.git", "path": format!("apps/{name}"), "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "checkout-prod"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
        },
        "status": {
            "sync": {"status": sync, "revision": revision, "comparedTo": {"source": {"repoURL": "https://git.example.com/platform/apps.git"}}},
            "health": {"status": health},
            "operationState": {
                "operation": {"sync": {"revision": revision}},
                "phase": phase, "message": message,
                "startedAt": "2026-03-04T10:11:00Z", "finishedAt": "2026-03-04T10:12:00Z",
                "syncResult": {"revision": revision, "resources": []},
            },
            "history": [{"id": 7, "revision": revision, "deployedAt": "2026-03-04T10:12:00Z", "deployStartedAt": "2026-03-04T10:11:00Z"}],
            "reconciledAt": "2026-03-04T10:20:00Z",
            "summary": {"images": ["registry.example.com/checkout/cart:v3.4.1"]},
        },
    })
}

async fn start() -> (String, Log) {
    let sha = "4f2c1a9e0b5d6c7f8a9b0c1d2e3f4a5b6c7d8e9f";
    let mut apps = HashMap::new();
    apps.insert(
        "cart".to_owned(),
        app(
            "cart",
            "Synced",
            "Healthy",
            sha,
            "Succeeded",
            "successfully synced (all tasks run)",
        ),
    );
    apps.insert(
        "cart-staging".to_owned(),
        app(
            "cart-staging",
            "OutOfSync",
            "Degraded",
            sha,
            "Failed",
            "one or more objects failed to apply, reason: Deployment.apps \"cart\" is invalid",
        ),
    );
    apps.insert(
        "cart-prod".to_owned(),
        app(
            "cart-prod",
            "Synced",
            "Progressing",
            sha,
            "Running",
            "waiting for healthy state of apps/Deployment/cart",
        ),
    );
    let argo = Argo {
        log: Log::default(),
        apps,
    };
    let log = argo.log.clone();
    let router = axum::Router::new()
        .route("/api/v1/applications/{name}", get(application))
        .with_state(Arc::new(argo));
    (serve(router).await, log)
}

fn config(url: &str, pattern: &str) -> String {
    format!(
        "[argocd]\nurl = \"{url}\"\ntoken_env = \"ARGOCD_TOKEN\"\napp_name_pattern = \"{pattern}\"\n"
    )
}

#[tokio::test]
async fn one_application_for_every_environment_is_shown_once() {
    let (url, log) = start().await;
    let bot = sandbox_bot_with(&config(&url, "{app}"), &[("ARGOCD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "status of cart").await;
    let text = &reply.text;
    assert!(
        text.contains(
            "- Argo CD `cart`: Synced, Healthy at 4f2c1a9; last sync Succeeded 2026-03-04 10:12 UTC"
        ),
        "{text}"
    );
    assert_eq!(text.matches("Argo CD").count(), 1, "{text}");
    assert!(text.contains("- prod (checkout-prod): "), "{text}");
    assert_eq!(log.count("/api/v1/applications/cart"), 1);
    let data = reply.data.unwrap();
    assert_eq!(data["argocd"]["configured"], true);
    assert_eq!(data["environments"][0]["argocd"]["sync"], "Synced");
    assert_eq!(data["environments"][2]["argocd"]["health"], "Healthy");
    assert_eq!(
        data["environments"][2]["argocd"]["last_sync"]["phase"],
        "Succeeded"
    );
    assert_eq!(data["environments"][2]["argocd"]["target_revision"], "main");
}

#[tokio::test]
async fn one_application_per_environment_with_a_failed_sync_and_a_missing_one() {
    let (url, log) = start().await;
    let bot = sandbox_bot_with(&config(&url, "{app}-{env}"), &[("ARGOCD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "status of cart").await;
    let text = &reply.text;
    assert!(text.contains("  Argo CD `cart-prod`: Synced, Progressing at 4f2c1a9; last sync Running 2026-03-04 10:12 UTC: waiting for healthy state"), "{text}");
    assert!(text.contains("  Argo CD `cart-staging`: OutOfSync, Degraded at 4f2c1a9; last sync Failed 2026-03-04 10:12 UTC: one or more objects failed to apply"), "{text}");
    assert!(
        text.contains(
            "  Argo CD `cart-dev`: could not read: Argo CD has no Application `cart-dev`"
        ),
        "{text}"
    );
    // The Deployments are reported whatever Argo CD says.
    assert!(text.contains("- dev (checkout-dev): "), "{text}");
    let mut asked = log.entries();
    asked.sort();
    assert_eq!(
        asked,
        [
            "/api/v1/applications/cart-dev",
            "/api/v1/applications/cart-prod",
            "/api/v1/applications/cart-staging"
        ]
    );
    // One environment asked: one Application read.
    let reply = bot.say_one("t2", "x", "how is cart doing in prod").await;
    assert!(reply.text.contains("Argo CD `cart-prod`"), "{}", reply.text);
    assert!(!reply.text.contains("cart-staging"), "{}", reply.text);
}

#[tokio::test]
async fn a_rejected_token_and_a_forbidden_application_are_named_and_the_rest_answers() {
    let (url, _) = start().await;
    let bot = sandbox_bot_with(&config(&url, "{app}"), &[("ARGOCD_TOKEN", "stale")]).await;
    let reply = bot.say_one("t", "x", "how is cart doing in prod").await;
    assert!(
        reply
            .text
            .contains("Argo CD rejected the token (check the variable $ARGOCD_TOKEN)"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("- prod (checkout-prod): 3/3 ready"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("stale"), "{}", reply.text);
    let bot = sandbox_bot_with(&config(&url, "secret-{app}"), &[("ARGOCD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "how is cart doing in prod").await;
    assert!(
        reply
            .text
            .contains("Argo CD refused access to Application `secret-cart`"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_service_without_the_annotation_says_argo_cd_was_not_consulted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.yaml"),
        "kind: Group\nmetadata: {name: checkout}\n---\nkind: Component\nmetadata: {name: cart}\nspec: {owner: group:checkout}\n",
    )
    .unwrap();
    let (url, log) = start().await;
    let toml = format!(
        "[catalog]\npaths = [\"{}\"]\n{}",
        dir.path().display(),
        config(&url, "{app}")
    );
    let bot = sandbox_bot_with(&toml, &[("ARGOCD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "how is cart doing in prod").await;
    assert!(
        reply
            .text
            .contains("Argo CD: not consulted (the service has no `argocd/app-name` annotation)"),
        "{}",
        reply.text
    );
    assert!(log.entries().is_empty());
}
