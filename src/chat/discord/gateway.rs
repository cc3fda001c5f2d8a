//! serenity's event handler: the gateway's dispatches to the surface. READY registers the
//! `/platbot` command (a bulk overwrite, so every reconnect may do it again); a RESUME is
//! logged, and what Discord replays after it reaches the surface's once-per-id check.

use std::sync::Arc;

use serenity::async_trait;
use serenity::client::{Context, EventHandler};
use serenity::model::application::Interaction;
use serenity::model::channel::Message;
use serenity::model::event::ResumedEvent;
use serenity::model::gateway::Ready;

use crate::config::DiscordId;

use super::rest::DiscordRest;
use super::surface::DiscordSurface;

pub struct Handler {
    pub surface: Arc<DiscordSurface>,
    pub rest: Arc<DiscordRest>,
    pub guilds: Vec<DiscordId>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(
            bot = %ready.user.name,
            guilds = ready.guilds.len(),
            session = %ready.session_id,
            "Discord gateway ready"
        );
        match self.rest.register_commands(&self.guilds).await {
            Ok(()) => tracing::info!(
                guilds = self.guilds.len(),
                "Discord /platbot command registered"
            ),
            Err(e) => {
                tracing::error!(error = %e, "cannot register /platbot (was the bot invited with the applications.commands scope?)")
            }
        }
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!("Discord gateway session resumed");
    }

    async fn message(&self, _ctx: Context, msg: Message) {
        self.surface.accept_message(&msg);
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        self.surface.accept_interaction(&interaction);
    }
}
