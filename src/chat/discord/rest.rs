//! The Discord REST calls the surface makes, through serenity's `Http` (and with it serenity's
//! per-route rate limiter, which waits out a 429 for its `Retry-After` and retries). Every
//! message goes out with no allowed mentions: quoting `@everyone` or a role never pings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serenity::builder::{
    Builder, CreateAllowedMentions, CreateCommand, CreateCommandOption, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    CreateThread, EditInteractionResponse, EditMessage,
};
use serenity::http::{Http, HttpError};
use serenity::model::application::{Command, CommandOptionType};
use serenity::model::channel::{Channel, ChannelType};
use serenity::model::id::{ChannelId, GuildId, InteractionId, MessageId};

use crate::config::DiscordId;

use super::inbound::{COMMAND, COMMAND_OPTION};
use super::render::{Card, MESSAGE_MAX, truncate};

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("Discord answered {status} to {method} {path}: {message} (code {code})")]
    Refused {
        status: u16,
        method: String,
        path: String,
        code: isize,
        message: String,
    },
    #[error("Discord REST: {0}")]
    Other(String),
}

impl RestError {
    /// Discord's JSON error code (e.g. 50001 Missing Access, 160004 thread exists).
    pub fn code(&self) -> Option<isize> {
        match self {
            RestError::Refused { code, .. } => Some(*code),
            RestError::Other(_) => None,
        }
    }
}

impl From<serenity::Error> for RestError {
    fn from(e: serenity::Error) -> Self {
        match e {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => RestError::Refused {
                status: r.status_code.as_u16(),
                method: r.method.to_string(),
                path: r
                    .url
                    .split_once("/api/")
                    .map_or(r.url.clone(), |(_, p)| format!("/api/{p}")),
                code: r.error.code,
                message: r.error.message,
            },
            other => RestError::Other(other.to_string()),
        }
    }
}

/// Where a message was written, as far as threading goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A thread; answers go into it.
    Thread { parent: u64 },
    /// A server channel; an answer starts a thread from the question.
    Channel,
    /// A direct message (or a channel kind without threads): answers go there as they are.
    Flat,
}

/// Channel kinds never change, so what a channel is gets asked once per process.
const PLACES_MAX: usize = 10_000;

pub struct DiscordRest {
    http: Arc<Http>,
    places: Mutex<HashMap<u64, Place>>,
}

fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

impl DiscordRest {
    pub fn new(http: Arc<Http>) -> Self {
        Self {
            http,
            places: Mutex::new(HashMap::new()),
        }
    }

    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// What kind of place `channel` is (`GET /channels/{id}`, cached).
    pub async fn place(&self, channel: u64) -> Result<Place, RestError> {
        if let Some(p) = self.lock_places().get(&channel) {
            return Ok(*p);
        }
        let place = match ChannelId::new(channel).to_channel(&*self.http).await? {
            Channel::Guild(c) => match c.kind {
                ChannelType::PublicThread
                | ChannelType::PrivateThread
                | ChannelType::NewsThread => Place::Thread {
                    parent: c.parent_id.map_or(channel, ChannelId::get),
                },
                ChannelType::Text | ChannelType::News => Place::Channel,
                _ => Place::Flat,
            },
            Channel::Private(_) => Place::Flat,
            _ => Place::Flat,
        };
        let mut places = self.lock_places();
        if places.len() >= PLACES_MAX {
            places.clear();
        }
        places.insert(channel, place);
        Ok(place)
    }

    fn lock_places(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Place>> {
        self.places
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a public thread from `message`; the thread's id is the message's.
    pub async fn start_thread(
        &self,
        channel: u64,
        message: u64,
        name: &str,
    ) -> Result<u64, RestError> {
        let name = truncate(name.trim(), 100);
        let name = if name.is_empty() {
            "platbot".to_owned()
        } else {
            name
        };
        let thread = ChannelId::new(channel)
            .create_thread_from_message(
                &*self.http,
                MessageId::new(message),
                CreateThread::new(name),
            )
            .await?;
        self.lock_places()
            .insert(thread.id.get(), Place::Thread { parent: channel });
        Ok(thread.id.get())
    }

    pub async fn post(&self, channel: u64, content: &str) -> Result<u64, RestError> {
        let msg = CreateMessage::new()
            .content(truncate(content, MESSAGE_MAX))
            .allowed_mentions(no_pings());
        Ok(ChannelId::new(channel)
            .send_message(&*self.http, msg)
            .await?
            .id
            .get())
    }

    pub async fn post_card(&self, channel: u64, card: &Card) -> Result<u64, RestError> {
        let msg = CreateMessage::new()
            .embed(card.embed())
            .components(card.components())
            .allowed_mentions(no_pings());
        Ok(ChannelId::new(channel)
            .send_message(&*self.http, msg)
            .await?
            .id
            .get())
    }

    pub async fn edit_card(
        &self,
        channel: u64,
        message: u64,
        card: &Card,
    ) -> Result<(), RestError> {
        let edit = EditMessage::new()
            .embed(card.embed())
            .components(card.components());
        ChannelId::new(channel)
            .edit_message(&*self.http, MessageId::new(message), edit)
            .await?;
        Ok(())
    }

    /// Type 5: "thinking…", to answer later by editing the original response.
    pub async fn defer_command(&self, interaction: u64, token: &str) -> Result<(), RestError> {
        let defer = CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new());
        defer
            .execute(&*self.http, (InteractionId::new(interaction), token))
            .await?;
        Ok(())
    }

    /// Type 6: the click is received; the card is edited later.
    pub async fn defer_click(&self, interaction: u64, token: &str) -> Result<(), RestError> {
        CreateInteractionResponse::Acknowledge
            .execute(&*self.http, (InteractionId::new(interaction), token))
            .await?;
        Ok(())
    }

    /// An immediate answer only the clicking person sees.
    pub async fn respond_ephemeral(
        &self,
        interaction: u64,
        token: &str,
        text: &str,
    ) -> Result<(), RestError> {
        let msg = CreateInteractionResponseMessage::new()
            .content(truncate(text, MESSAGE_MAX))
            .ephemeral(true)
            .allowed_mentions(no_pings());
        CreateInteractionResponse::Message(msg)
            .execute(&*self.http, (InteractionId::new(interaction), token))
            .await?;
        Ok(())
    }

    /// Replaces the deferred response with text or a card.
    pub async fn edit_original(
        &self,
        token: &str,
        content: Option<&str>,
        card: Option<&Card>,
    ) -> Result<u64, RestError> {
        let mut edit = EditInteractionResponse::new().allowed_mentions(no_pings());
        if let Some(text) = content {
            edit = edit.content(truncate(text, MESSAGE_MAX));
        }
        if let Some(card) = card {
            edit = edit.embed(card.embed()).components(card.components());
        }
        Ok(edit.execute(&*self.http, token).await?.id.get())
    }

    /// The message the deferred response created (its id starts a thread later).
    pub async fn original(&self, token: &str) -> Result<u64, RestError> {
        Ok(self
            .http
            .get_original_interaction_response(token)
            .await?
            .id
            .get())
    }

    /// A further message of an interaction's answer (`ephemeral`: only the clicker sees it).
    pub async fn followup(
        &self,
        token: &str,
        content: &str,
        ephemeral: bool,
    ) -> Result<u64, RestError> {
        let msg = CreateInteractionResponseFollowup::new()
            .content(truncate(content, MESSAGE_MAX))
            .ephemeral(ephemeral)
            .allowed_mentions(no_pings());
        Ok(msg.execute(&*self.http, (None, token)).await?.id.get())
    }

    pub async fn followup_card(&self, token: &str, card: &Card) -> Result<u64, RestError> {
        let msg = CreateInteractionResponseFollowup::new()
            .embed(card.embed())
            .components(card.components())
            .allowed_mentions(no_pings());
        Ok(msg.execute(&*self.http, (None, token)).await?.id.get())
    }

    /// `/platbot question:<text>`, in each of `guilds` (at once) or globally (Discord takes up
    /// to an hour to show a new global command). A bulk overwrite: registering again is a no-op.
    pub async fn register_commands(&self, guilds: &[DiscordId]) -> Result<(), RestError> {
        let command = CreateCommand::new(COMMAND)
            .description("Ask platbot about the platform: docs, status, on-call, changes")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    COMMAND_OPTION,
                    "What you want to know or change",
                )
                .required(true)
                .max_length(4000),
            );
        if guilds.is_empty() {
            Command::set_global_commands(&*self.http, vec![command]).await?;
        } else {
            for guild in guilds {
                GuildId::new(guild.get())
                    .set_commands(&*self.http, vec![command.clone()])
                    .await?;
            }
        }
        Ok(())
    }
}
