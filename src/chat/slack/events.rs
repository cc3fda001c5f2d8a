//! The Events API over HTTP: `POST /slack/events`, `/slack/interactivity` and
//! `/slack/commands`, mounted on `platbot serve`.
//!
//! slack-morphism's axum layer verifies every request before a handler sees it: the
//! `v0` HMAC-SHA256 signature over `v0:{timestamp}:{raw body}` with the signing secret,
//! and a timestamp within 5 minutes of now (an old request replayed is refused). Then
//! the handlers acknowledge at once (Slack gives up after 3 seconds) and the work runs
//! afterwards; a repeated delivery (`X-Slack-Retry-Num`, or the same request replayed
//! within the window) is recognised by its event id and handled once.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{
    SlackEventAbsentSignatureError, SlackEventSignatureVerifierError,
};

use super::surface::{Accepted, SlackSurface};

/// Slack's payloads are small; anything near this is not Slack.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The three Slack routes, verified with `signing_secret`.
pub fn router(surface: Arc<SlackSurface>, signing_secret: &str) -> Router {
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(surface.api().client())
            .with_error_handler(rejected),
    );
    let listener = SlackEventsAxumListener::new(environment);
    let secret = SlackSigningSecret::new(signing_secret.into());
    Router::new()
        .route(
            "/slack/events",
            post(push_event).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::push_event()),
            ),
        )
        .route(
            "/slack/interactivity",
            post(interaction).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::interaction_event()),
            ),
        )
        .route(
            "/slack/commands",
            post(command).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::command_event()),
            ),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .with_state(surface)
}

/// Every request the layer refuses lands here: a bad or missing signature or a stale
/// timestamp is 401, a body that does not parse is 400. Each is logged; nothing is posted.
fn rejected(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<SlackClientHyperHttpsConnector>>,
    _state: SlackClientEventsUserState,
) -> StatusCode {
    if let Some(e) = err.downcast_ref::<SlackEventSignatureVerifierError>() {
        match e {
            SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_) => {
                tracing::warn!(error = %e, "Slack request refused: timestamp outside the 5-minute window (a replay?)");
            }
            _ => tracing::warn!(error = %e, "Slack request refused: bad signature"),
        }
        return StatusCode::UNAUTHORIZED;
    }
    if err
        .downcast_ref::<SlackEventAbsentSignatureError>()
        .is_some()
    {
        tracing::warn!("Slack request refused: no X-Slack-Signature / X-Slack-Request-Timestamp");
        return StatusCode::UNAUTHORIZED;
    }
    tracing::warn!(error = %err, "Slack request refused: malformed payload");
    StatusCode::BAD_REQUEST
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn push_event(
    State(surface): State<Arc<SlackSurface>>,
    headers: HeaderMap,
    Extension(event): Extension<SlackPushEvent>,
) -> Response {
    match event {
        SlackPushEvent::UrlVerification(v) => {
            tracing::info!("Slack URL verification answered");
            Json(serde_json::json!({ "challenge": v.challenge })).into_response()
        }
        SlackPushEvent::EventCallback(cb) => {
            let retry = header(&headers, "x-slack-retry-num");
            if let Some(n) = retry {
                tracing::debug!(
                    event_id = %cb.event_id,
                    retry = n,
                    reason = header(&headers, "x-slack-retry-reason").unwrap_or("-"),
                    "Slack retry delivery"
                );
            }
            let accepted = surface.accept_event(&cb, retry);
            tracing::debug!(event_id = %cb.event_id, ?accepted, "Slack event acknowledged");
            StatusCode::OK.into_response()
        }
        SlackPushEvent::AppRateLimited(r) => {
            tracing::warn!(
                team = %r.team_id,
                minute = ?r.minute_rate_limited,
                "Slack stopped sending events for a minute: this app exceeded the Events API limit"
            );
            StatusCode::OK.into_response()
        }
    }
}

async fn interaction(
    State(surface): State<Arc<SlackSurface>>,
    Extension(event): Extension<SlackInteractionEvent>,
) -> StatusCode {
    let accepted = surface.accept_interaction(&event);
    tracing::debug!(?accepted, "Slack interaction acknowledged");
    StatusCode::OK
}

async fn command(
    State(surface): State<Arc<SlackSurface>>,
    Extension(event): Extension<SlackCommandEvent>,
) -> Response {
    let (accepted, ack) = surface.accept_command(&event);
    tracing::debug!(?accepted, "Slack command acknowledged");
    if ack.is_empty() || accepted == Accepted::Duplicate {
        return StatusCode::OK.into_response();
    }
    Json(serde_json::json!({ "response_type": "ephemeral", "text": ack })).into_response()
}
