//! The HTTP surface over a real socket: the documented JSON API.

mod common;

use std::sync::Arc;

use platbot::server::{ServerState, serve};
use serde_json::{Value, json};

struct Api {
    base: String,
    http: reqwest::Client,
    _bot: common::TestBot,
}

async fn start(token: Option<&str>) -> Api {
    let bot = common::sandbox_bot("").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = ServerState {
        engine: Arc::clone(&bot.app.engine),
        token: token.map(Arc::from),
    };
    tokio::spawn(serve(listener, state, std::future::pending()));
    Api {
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        _bot: bot,
    }
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn message_propose_confirm_over_http() {
    let api = start(None).await;
    let (status, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c1", "user": "priya.nair", "text": "can I get a namespace for payments in dev?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let proposal = &body["replies"][0]["proposal"];
    assert_eq!(proposal["action"], "create_namespace");
    assert_eq!(proposal["state"], "proposed");
    assert_eq!(
        proposal["args"],
        json!({"team": "payments", "environment": "dev"})
    );
    assert!(proposal["plan"]["changes"].as_array().unwrap().len() >= 6);
    let id = proposal["id"].as_str().unwrap().to_owned();

    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "tomas.ruiz"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "succeeded");

    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{id}/confirm"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{id}/cancel"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 409);

    let got: Value = api
        .http
        .get(format!("{}/api/v1/proposals/{id}", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["proposal"]["state"], "succeeded");
}

#[tokio::test]
async fn cancel_over_http() {
    let api = start(None).await;
    let (_, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c2", "user": "priya.nair", "text": "create ns payments-dev"}),
        )
        .await;
    let id = body["replies"][0]["proposal"]["id"]
        .as_str()
        .expect("proposal")
        .to_owned();
    let (status, body) = api
        .post(
            &format!("/api/v1/proposals/{id}/cancel"),
            json!({"user": "priya.nair"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["proposal"]["state"], "cancelled");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let api = start(None).await;
    let resp = api
        .http
        .post(format!("{}/api/v1/messages", api.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("malformed"),
        "{body}"
    );

    let (status, body) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "user": "has space", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "", "user": "u", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .post("/api/v1/proposals/not-an-id/confirm", json!({"user": "u"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = api
        .post(
            &format!("/api/v1/proposals/{}/confirm", uuid::Uuid::new_v4()),
            json!({"user": "u"}),
        )
        .await;
    assert_eq!(status, 404);
    let health = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ready = api
        .http
        .get(format!("{}/readyz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn the_api_requires_the_bearer_token_when_configured() {
    let api = start(Some("s3cret")).await;
    let (status, _) = api
        .post(
            "/api/v1/messages",
            json!({"conversation": "c", "user": "u", "text": "hi"}),
        )
        .await;
    assert_eq!(status, 401);
    let resp = api
        .http
        .post(format!("{}/api/v1/messages", api.base))
        .bearer_auth("s3cret")
        .json(&json!({"conversation": "c", "user": "u", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Health checks stay open for the orchestrator's probes.
    let health = api
        .http
        .get(format!("{}/healthz", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
