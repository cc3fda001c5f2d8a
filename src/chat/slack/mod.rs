//! The Slack surface: Socket Mode or the Events API in, the Web API out.
//!
//! - [`inbound`]: what a payload means (message, card click, slash command, or ignored).
//! - [`events`]: the Events API routes; requests verified with the signing secret.
//! - [`socket`]: Socket Mode over websockets opened with the app-level token.
//! - [`surface`]: accepted payloads to engine calls, replies posted in the thread.
//! - [`blocks`]: Block Kit rendering within Slack's limits; proposal cards with buttons.
//! - [`api`]: the Web API client with a per-method rate-limit queue.
//! - [`identity`]: Slack user -> email -> platform user, cached.
//! - `chat::dedup`, `chat::queue` (shared with Discord): once per delivery; in order per thread.
//!
//! Like every surface it knows nothing about Kubernetes: it speaks to the [`Engine`].

pub mod api;
pub mod blocks;
pub mod events;
pub mod identity;
pub mod inbound;
pub mod socket;
pub mod surface;

use std::sync::Arc;

use crate::config::{SlackMode, SlackSettings};
use crate::engine::Engine;

pub use api::{SlackApiError, SlackWebApi};
pub use socket::{SocketMode, SocketOptions};
pub use surface::{Accepted, SlackSurface};

#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack bot token check (auth.test at {url}) failed")]
    Auth { url: String, source: SlackApiError },
    #[error(transparent)]
    Api(#[from] SlackApiError),
    #[error("Slack settings: {0}")]
    Settings(&'static str),
}

#[derive(Debug, Clone, Default)]
pub struct SlackOptions {
    pub socket: SocketOptions,
}

/// Slack, running: in Events API mode the routes to mount on the HTTP server; in
/// Socket Mode the connections, which [`SlackService::shutdown`] closes.
pub struct SlackService {
    pub surface: Arc<SlackSurface>,
    pub routes: Option<axum::Router>,
    pub bot_user: String,
    socket: Option<SocketMode>,
}

impl SlackService {
    /// Socket Mode's connection, which readiness reports; `None` in Events API mode.
    pub fn connection(&self) -> Option<crate::chat::Connection> {
        self.socket.as_ref().map(SocketMode::connection)
    }

    pub async fn shutdown(&self) {
        if let Some(s) = &self.socket {
            s.shutdown().await;
        }
    }
}

/// Checks the bot token (`auth.test`) and starts the configured mode.
pub async fn start(
    engine: Arc<Engine>,
    settings: &SlackSettings,
    options: &SlackOptions,
) -> Result<SlackService, SlackError> {
    let api = Arc::new(SlackWebApi::new(
        &settings.api_url,
        settings.bot_token.expose(),
    )?);
    let bot = api.auth_test().await.map_err(|source| SlackError::Auth {
        url: settings.api_url.clone(),
        source,
    })?;
    tracing::info!(bot_user = %bot.user_id, bot = bot.name.as_deref().unwrap_or("-"), team = %bot.team, "Slack bot token accepted");
    let surface = Arc::new(SlackSurface::new(engine, api, Some(bot.user_id.clone())));
    let (routes, socket) = match settings.mode {
        SlackMode::Events => {
            let secret = settings
                .signing_secret
                .as_ref()
                .ok_or(SlackError::Settings(
                    "Events API mode without a signing secret",
                ))?;
            (
                Some(events::router(Arc::clone(&surface), secret.expose())),
                None,
            )
        }
        SlackMode::Socket => {
            let token = settings.app_token.as_ref().ok_or(SlackError::Settings(
                "Socket Mode without an app-level token",
            ))?;
            let socket = SocketMode::start(Arc::clone(&surface), token.expose(), &options.socket);
            (None, Some(socket))
        }
    };
    Ok(SlackService {
        surface,
        routes,
        bot_user: bot.user_id,
        socket,
    })
}
