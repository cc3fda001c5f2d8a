//! The HTTP surface (axum): health and readiness, and the JSON API other tools script against.
//!
//! - `POST /api/v1/messages` `{"conversation", "user", "text"}` -> `{"replies": [...]}`
//! - `POST /api/v1/proposals/{id}/confirm` and `/cancel` `{"user"}` -> `{"proposal", "text"}`;
//!   403 when the policy does not allow the user, 409 when the proposal is no longer pending
//! - `GET /api/v1/proposals/{id}` -> `{"proposal"}`
//! - `GET /healthz`, `GET /readyz`
//! - `POST /slack/events`, `/slack/interactivity`, `/slack/commands` when Slack runs in
//!   Events API mode (mounted through [`router_with`]; see `chat::slack::events`)
//!
//! With `[http] token_env` set, `/api/v1` requires `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::approval::{ApprovalError, ProposalId};
use crate::chat::{ConversationKey, Inbound, Surface, UserRef};
use crate::domain::UserId;
use crate::engine::{Engine, EngineError};

#[derive(Clone)]
pub struct ServerState {
    pub engine: Arc<Engine>,
    pub token: Option<Arc<str>>,
}

/// The longest conversation id the API accepts.
const MAX_CONVERSATION_LEN: usize = 200;

pub fn router(state: ServerState) -> Router {
    router_with(state, None)
}

/// The API plus a surface's own routes (Slack's `/slack/*` in Events API mode); those
/// carry their own authentication (request signatures), not the API's bearer token.
pub fn router_with(state: ServerState, extra: Option<Router>) -> Router {
    let api = Router::new()
        .route("/messages", post(post_message))
        .route("/proposals/{id}", get(get_proposal))
        .route("/proposals/{id}/confirm", post(confirm))
        .route("/proposals/{id}/cancel", post(cancel))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token))
        .method_not_allowed_fallback(method_not_allowed);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .nest("/api/v1", api)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    app.layer(tower_http::trace::TraceLayer::new_for_http())
}

/// A known path with the wrong method: a JSON error like every other refusal.
async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
    )
}

/// An API error: a status and a message, answered as `{"error": "..."}`.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

async fn require_token(
    State(state): State<ServerState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        }
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn ready(State(state): State<ServerState>) -> Response {
    match state.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    conversation: String,
    user: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: String,
}

fn parse_user(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("user: {e}")))
}

fn parse_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {}", e.body_text()),
        )
    })
}

async fn post_message(
    State(state): State<ServerState>,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = parse_body(body)?;
    let conversation = body.conversation.trim();
    if conversation.is_empty() || conversation.len() > MAX_CONVERSATION_LEN {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("conversation must be 1 to {MAX_CONVERSATION_LEN} characters"),
        ));
    }
    let msg = Inbound {
        conversation: ConversationKey::new(Surface::Http, "api", conversation),
        user: UserRef {
            id: parse_user(&body.user)?,
            display: None,
        },
        text: body.text,
    };
    let replies = state.engine.handle(msg).await;
    Ok(Json(json!({ "replies": replies })))
}

fn parse_id(raw: &str) -> Result<ProposalId, ApiError> {
    raw.parse()
        .map_err(|e: ApprovalError| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
}

/// The `{id}` of a proposal route; an undecodable one (`%AA`) is a JSON 404 like any other
/// unknown id, not axum's plain-text rejection.
fn path_id(id: Result<Path<String>, PathRejection>) -> Result<ProposalId, ApiError> {
    let Path(raw) = id.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such proposal: {}", e.body_text()),
        )
    })?;
    parse_id(&raw)
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Approval(a) => match a {
                ApprovalError::NotFound(_) => StatusCode::NOT_FOUND,
                ApprovalError::NotAllowed { .. } => StatusCode::FORBIDDEN,
                ApprovalError::Expired(_)
                | ApprovalError::NotPending(_)
                | ApprovalError::AlreadyConfirmed(_)
                | ApprovalError::Concurrent => StatusCode::CONFLICT,
                ApprovalError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

async fn decide(
    state: ServerState,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<UserBody>, JsonRejection>,
    confirm: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = path_id(id)?;
    let user = parse_user(&parse_body(body)?.user)?;
    let decision = if confirm {
        state.engine.confirm(id, &user).await?
    } else {
        state.engine.cancel(id, &user).await?
    };
    Ok(Json(
        json!({ "proposal": decision.proposal.view(), "text": decision.text }),
    ))
}

async fn confirm(
    State(state): State<ServerState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<UserBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide(state, id, body, true).await
}

async fn cancel(
    State(state): State<ServerState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<UserBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide(state, id, body, false).await
}

async fn get_proposal(
    State(state): State<ServerState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = state
        .engine
        .approvals()
        .get(path_id(id)?)
        .await
        .map_err(|e| ApiError::from(EngineError::from(e)))?;
    Ok(Json(json!({ "proposal": p.view() })))
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`] with a surface's extra routes mounted (see [`router_with`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: ServerState,
    extra: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router_with(state, extra))
        .with_graceful_shutdown(shutdown)
        .await
}
