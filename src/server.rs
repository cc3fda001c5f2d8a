//! The HTTP surface (axum): health and readiness, and the JSON API other tools script against.
//!
//! - `POST /api/v1/messages` `{"conversation", "user"?, "text"}` -> `{"replies": [...]}`
//! - `POST /api/v1/proposals/{id}/confirm` and `/cancel` `{"user"?}` -> `{"proposal", "text"}`;
//!   403 when the policy does not allow the user, 409 when the proposal is no longer pending
//! - `GET /api/v1/proposals/{id}` -> `{"proposal"}`
//! - `GET /healthz`, `GET /readyz`
//! - `POST /slack/events`, `/slack/interactivity`, `/slack/commands` when Slack runs in
//!   Events API mode (mounted through [`router_with`]; see `chat::slack::events`)
//!
//! Who a request acts as comes from its credentials ([`auth`]): a client bound to a user acts
//! as that user, an integration names the user and is audited as "via" it, an OIDC token is
//! its subject's. Only an API without configured authentication, which serves loopback only,
//! takes the user from the body alone. Every route has a body-size limit; `/api/v1` also has
//! a per-user rate limit, a concurrency limit and a time limit.

pub mod auth;
mod limits;
pub mod metrics;
mod oidc;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

pub use auth::{AuthError, Caller, Callers};
pub use oidc::OidcError;

use crate::approval::{ApprovalError, ProposalId};
use crate::chat::{Connection, ConversationKey, Inbound, Surface};
use crate::config::{HttpLimits, HttpSettings};
use crate::domain::proposal::UnknownProposalId;
use crate::engine::{Engine, EngineError};
use limits::RateLimiter;

#[derive(Clone)]
pub struct ServerState {
    pub engine: Arc<Engine>,
    callers: Arc<Callers>,
    limits: HttpLimits,
    rate: Arc<RateLimiter>,
    in_flight: Arc<Semaphore>,
    /// Transports readiness waits for (Slack Socket Mode), besides the store.
    connections: Vec<Connection>,
}

impl ServerState {
    /// The API as `[http]` configures it.
    pub fn new(engine: Arc<Engine>, http: &HttpSettings) -> Self {
        Self::with(engine, Callers::new(http), http.limits)
    }

    /// The API without caller authentication (loopback only), with these limits.
    pub fn local(engine: Arc<Engine>, limits: HttpLimits) -> Self {
        Self::with(engine, Callers::open(), limits)
    }

    fn with(engine: Arc<Engine>, callers: Callers, limits: HttpLimits) -> Self {
        Self {
            engine,
            callers: Arc::new(callers),
            rate: Arc::new(RateLimiter::new(limits.requests_per_minute)),
            in_flight: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            limits,
            connections: Vec::new(),
        }
    }

    /// `/readyz` also waits for this transport to be connected.
    pub fn with_connection(mut self, connection: Connection) -> Self {
        self.connections.push(connection);
        self
    }
}

/// The longest conversation id the API accepts.
const MAX_CONVERSATION_LEN: usize = 200;

pub fn router(state: ServerState) -> Router {
    router_with(state, None)
}

/// The API plus a surface's own routes (Slack's `/slack/*` in Events API mode); those
/// carry their own authentication (request signatures), not the API's callers.
pub fn router_with(state: ServerState, extra: Option<Router>) -> Router {
    let api = Router::new()
        .route("/messages", post(post_message))
        .route("/proposals/{id}", get(get_proposal))
        .route("/proposals/{id}/confirm", post(confirm))
        .route("/proposals/{id}/cancel", post(cancel))
        // Outermost first: who is calling, then how much they may use.
        .route_layer(middleware::from_fn_with_state(state.clone(), limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .method_not_allowed_fallback(method_not_allowed);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::metrics))
        .nest("/api/v1", api)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    app.layer(middleware::from_fn_with_state(state, limit_body))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

/// Every route, Slack's included: a declared length over the limit is refused at once, and a
/// body without one is cut off at the limit as it streams in.
async fn limit_body(State(state): State<ServerState>, req: Request, next: Next) -> Response {
    let max = state.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large (at most {max} bytes)"),
        );
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, max));
    next.run(Request::from_parts(parts, body)).await
}

async fn authenticate(State(state): State<ServerState>, mut req: Request, next: Next) -> Response {
    match state.callers.authenticate(req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => {
            tracing::info!(error = %e, "API request refused");
            let mut resp = ApiError::from(e).into_response();
            if resp.status() == StatusCode::UNAUTHORIZED {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            resp
        }
    }
}

/// Per-caller rate, requests at once, and a time limit. A confirmed change runs in its own
/// task, so a request that times out leaves it running to completion.
async fn limit(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    req: Request,
    next: Next,
) -> Response {
    if let Err(wait) = state.rate.check(&caller.rate_key()) {
        let secs = wait.as_secs().max(1);
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many requests; try again in {secs} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let Ok(_permit) = Arc::clone(&state.in_flight).try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy; try again shortly",
        );
    };
    match tokio::time::timeout(state.limits.request_timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no answer within {}; a confirmed change keeps running: GET /api/v1/proposals/{{id}} shows its outcome",
                human(state.limits.request_timeout)
            ),
        ),
    }
}

fn human(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

async fn ready(State(state): State<ServerState>) -> Response {
    if let Err(e) = state.engine.store().ping().await {
        return error(StatusCode::SERVICE_UNAVAILABLE, format!("store: {e}"));
    }
    match state.connections.iter().find(|c| !c.is_up()) {
        Some(c) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}: not connected", c.name()),
        ),
        None => (StatusCode::OK, "ready").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    conversation: String,
    /// Whom the message is from; optional when the credentials say it.
    user: Option<String>,
    text: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: Option<String>,
}

fn parse_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        // 413 stays 413 (a streamed body over the limit); everything else is the caller's JSON.
        let status = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        ApiError::new(status, format!("malformed request body: {}", e.body_text()))
    })
}

/// The optional `{"user": ...}` of a decision: an empty body is fine (the credentials name
/// the user).
fn user_body(body: Result<Bytes, BytesRejection>) -> Result<UserBody, ApiError> {
    let bytes = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(UserBody::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {e}"),
        )
    })
}

async fn post_message(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<MessageBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = parse_body(body)?;
    let user = caller.acting_user(body.user.as_deref())?;
    let conversation = body.conversation.trim();
    if conversation.is_empty() || conversation.len() > MAX_CONVERSATION_LEN {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("conversation must be 1 to {MAX_CONVERSATION_LEN} characters"),
        ));
    }
    let msg = Inbound {
        conversation: ConversationKey::new(Surface::Http, caller.channel(), conversation),
        user,
        text: body.text,
    };
    let replies = state.engine.handle(msg).await;
    Ok(Json(json!({ "replies": replies })))
}

fn parse_id(raw: &str) -> Result<ProposalId, ApiError> {
    raw.parse()
        .map_err(|e: UnknownProposalId| ApiError::new(StatusCode::NOT_FOUND, e.to_string()))
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
            EngineError::Store(_) | EngineError::Execution(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

async fn decide(
    state: ServerState,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    confirm: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = path_id(id)?;
    let body = user_body(body)?;
    let user = caller.acting_user(body.user.as_deref())?;
    let decision = if confirm {
        state.engine.confirm_by(id, &user).await?
    } else {
        state.engine.cancel_by(id, &user).await?
    };
    Ok(Json(
        json!({ "proposal": decision.proposal.view(), "text": decision.text }),
    ))
}

async fn confirm(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide(state, caller, id, body, true).await
}

async fn cancel(
    State(state): State<ServerState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    decide(state, caller, id, body, false).await
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

/// [`serve`] with a surface's extra routes mounted (see [`router_with`]). Refuses a
/// non-loopback address when no caller authentication is configured.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: ServerState,
    extra: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if !state.callers.authenticates() && !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "refusing to serve the API on {addr} without caller authentication ([[http.clients]] or [http.oidc])"
            ),
        ));
    }
    axum::serve(listener, router_with(state, extra))
        .with_graceful_shutdown(shutdown)
        .await
}
