//! The Discord surface, through serenity: the gateway (websocket) in, REST out.
//!
//! - [`gateway`]: serenity's event handler (READY registers `/platbot`; messages and
//!   interactions go to the surface).
//! - [`inbound`]: what a payload means (a question, a card click, a command, or ignored).
//! - [`surface`]: accepted payloads to engine calls; threads, cards, ephemeral refusals.
//! - [`render`]: messages and embed cards within Discord's limits.
//! - [`identity`]: Discord user -> platform user (`[discord.users]`, catalog annotation).
//! - [`rest`]: the REST calls, through serenity's rate limiter.
//!
//! Like every surface it knows nothing about Kubernetes: it speaks to the [`Engine`].

pub mod gateway;
pub mod identity;
pub mod inbound;
pub mod render;
pub mod rest;
pub mod surface;

use std::sync::Arc;

use serenity::client::ClientBuilder;
use serenity::gateway::ShardManager;
use serenity::http::{Http, HttpBuilder};
use serenity::model::gateway::GatewayIntents;

use crate::config::{DISCORD_INTENTS, DiscordIntent, DiscordSettings};
use crate::engine::Engine;

pub use identity::{DiscordIdentity, IdentityError, Person};
pub use rest::{DiscordRest, RestError};
pub use surface::DiscordSurface;

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord refused the bot token from ${var} (GET /users/@me): {source}")]
    Auth { var: String, source: RestError },
    #[error("Discord application info (GET /oauth2/applications/@me): {0}")]
    Application(RestError),
    #[error("Discord identities: {0}")]
    Identity(#[from] IdentityError),
    #[error("Discord gateway client: {0}")]
    Client(String),
}

/// What tests (and only they) change about how platbot reaches Discord.
#[derive(Clone, Default)]
pub struct DiscordOptions {
    /// The HTTP client serenity uses (tests resolve discord.com to a local fake with its own
    /// CA, so the real REST path, rate limiter included, runs against it).
    pub http_client: Option<reqwest::Client>,
}

/// The intents IDENTIFY asks for, from the config's list (so `check-config` says the same).
pub fn gateway_intents() -> GatewayIntents {
    DISCORD_INTENTS
        .iter()
        .fold(GatewayIntents::empty(), |all, i| {
            all | match i {
                DiscordIntent::GuildMessages => GatewayIntents::GUILD_MESSAGES,
                DiscordIntent::DirectMessages => GatewayIntents::DIRECT_MESSAGES,
            }
        })
}

/// Discord, running: the gateway connection, which [`DiscordService::shutdown`] closes.
pub struct DiscordService {
    pub surface: Arc<DiscordSurface>,
    pub bot_user: u64,
    shards: Arc<ShardManager>,
    task: tokio::task::JoinHandle<()>,
}

impl DiscordService {
    pub async fn shutdown(&self) {
        self.shards.shutdown_all().await;
        self.task.abort();
    }
}

fn http(settings: &DiscordSettings, options: &DiscordOptions) -> Http {
    let mut builder = HttpBuilder::new(settings.token.expose());
    if let Some(client) = &options.http_client {
        builder = builder.client(client.clone());
    }
    if let Some(proxy) = &settings.api_url {
        // serenity's limiter always talks to discord.com; behind a proxy the proxy limits.
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}

/// Checks the token (`GET /users/@me`), learns the application id, then connects to the
/// gateway in the background.
pub async fn start(
    engine: Arc<Engine>,
    settings: &DiscordSettings,
    options: &DiscordOptions,
) -> Result<DiscordService, DiscordError> {
    let mut ours = http(settings, options);
    if let Some(limiter) = &mut ours.ratelimiter {
        limiter.set_ratelimit_callback(Box::new(|info| {
            tracing::info!(path = %info.path, wait_ms = info.timeout.as_millis() as u64, global = info.global, "Discord rate limit: waiting");
            crate::telemetry::discord_rate_limited();
        }));
    }
    let me = ours
        .get_current_user()
        .await
        .map_err(|e| DiscordError::Auth {
            var: settings.token_env.clone(),
            source: e.into(),
        })?;
    let app = ours
        .get_current_application_info()
        .await
        .map_err(|e| DiscordError::Application(e.into()))?;
    ours.set_application_id(app.id);
    let identity = DiscordIdentity::new(&settings.users, &engine.platform().catalog)?;
    tracing::info!(bot = %me.name, bot_id = me.id.get(), application = app.id.get(), mapped_users = identity.mapped(), "Discord bot token accepted");
    let rest = Arc::new(DiscordRest::new(Arc::new(ours)));
    let surface = Arc::new(DiscordSurface::new(
        engine,
        Arc::clone(&rest),
        identity,
        me.id.get(),
    ));
    let handler = gateway::Handler {
        surface: Arc::clone(&surface),
        rest,
        guilds: settings.guilds.clone(),
    };
    // The gateway client has an `Http` of its own (for `/gateway`); replies go through ours.
    let mut client = ClientBuilder::new_with_http(http(settings, options), gateway_intents())
        .event_handler(handler)
        .await
        .map_err(|e| DiscordError::Client(e.to_string()))?;
    if let Some(url) = &settings.gateway_url {
        *client.ws_url.lock().await = url.clone();
    }
    let shards = Arc::clone(&client.shard_manager);
    let task = tokio::spawn(async move {
        if let Err(e) = client.start().await {
            tracing::error!(error = %e, "Discord gateway stopped");
        }
    });
    Ok(DiscordService {
        surface,
        bot_user: me.id.get(),
        shards,
        task,
    })
}
