//! `/metrics` in the Prometheus (OpenMetrics) text format, on the API's listener and, when
//! `[http] metrics_listen` is set, on a listener of its own with the probes.
//!
//! No authentication: like `/healthz` it says nothing about anyone. Its labels are closed
//! sets (surfaces, outcomes, tool names, verbs, states), never users, conversations,
//! arguments or proposal content.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{ServerState, ready};
use crate::approval::ProposalState;
use crate::telemetry;

pub(super) async fn metrics(State(state): State<ServerState>) -> Response {
    // Proposals by state are read at scrape time, so every replica reports the shared store.
    match state.engine.store().proposal_counts().await {
        Ok(counts) => {
            let counts: Vec<(&'static str, i64)> =
                counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect();
            let all: Vec<&'static str> = ProposalState::ALL.iter().map(|s| s.as_str()).collect();
            telemetry::proposals(&all, &counts);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not count proposals"),
    }
    (
        [(header::CONTENT_TYPE, telemetry::CONTENT_TYPE)],
        telemetry::render(),
    )
        .into_response()
}

/// The metrics listener's routes: `/metrics` and the probes, nothing of the API.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves [`router`] until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
