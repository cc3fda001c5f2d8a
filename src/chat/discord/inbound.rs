//! What a gateway payload means to platbot: a question (a mention in a server, a direct
//! message), a Confirm/Cancel click on a card, a `/platbot` command, or something to ignore
//! (with the reason, for the log line). Pure functions over serenity's model types.

pub use crate::chat::click::{Decision, Ignored};
use crate::chat::click::{ignored, routine};
use serenity::model::application::{
    CommandDataOptionValue, CommandInteraction, ComponentInteraction,
};
use serenity::model::channel::{Message, MessageType};
use serenity::model::id::UserId as DiscordUserId;

/// The slash command's name and its one option.
pub const COMMAND: &str = "platbot";
pub const COMMAND_OPTION: &str = "question";

/// Button ids: `platbot:confirm:<proposal id>`, `platbot:cancel:<proposal id>`.
const CONFIRM_PREFIX: &str = "platbot:confirm:";
const CANCEL_PREFIX: &str = "platbot:cancel:";

pub fn confirm_id(proposal: &str) -> String {
    format!("{CONFIRM_PREFIX}{proposal}")
}

pub fn cancel_id(proposal: &str) -> String {
    format!("{CANCEL_PREFIX}{proposal}")
}

/// The person behind a payload, as Discord names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author {
    pub id: u64,
}

/// A message addressed to the bot.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub message: u64,
    /// Where it was written: a server channel, a thread, or a DM channel.
    pub channel: u64,
    /// `None` in a direct message.
    pub guild: Option<u64>,
    pub author: Author,
    pub text: String,
}

/// A Confirm or Cancel click on a proposal card.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    /// Unique per click: a replayed click has the same one.
    pub interaction: u64,
    pub token: String,
    pub decision: Decision,
    /// The proposal id the button carries.
    pub proposal: String,
    pub author: Author,
    /// The card's channel (its thread) and message.
    pub channel: u64,
    pub card: u64,
}

/// `/platbot question:<text>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub interaction: u64,
    pub token: String,
    pub channel: u64,
    pub guild: Option<u64>,
    pub author: Author,
    pub text: String,
}

/// The text as the user meant it: mentions of the bot (`<@id>`, `<@!id>`) removed.
pub fn clean_text(raw: &str, bot: u64) -> String {
    let text = raw
        .replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ");
    text.trim()
        .trim_start_matches([',', ':'])
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A MESSAGE_CREATE as a question: a direct message, or a server message that mentions the
/// bot. Bots (platbot included), webhooks and system messages are never answered.
pub fn message(msg: &Message, bot: DiscordUserId) -> Result<Asked, Ignored> {
    if msg.author.bot || msg.author.system || msg.webhook_id.is_some() {
        return Err(routine("message from a bot, a webhook or the system"));
    }
    if !matches!(msg.kind, MessageType::Regular | MessageType::InlineReply) {
        return Err(routine(format!("message type {:?}", msg.kind)));
    }
    let mentioned = msg.mentions.iter().any(|u| u.id == bot);
    if msg.guild_id.is_some() && !mentioned {
        return Err(routine("server message without a mention"));
    }
    let text = clean_text(&msg.content, bot.get());
    Ok(Asked {
        message: msg.id.get(),
        channel: msg.channel_id.get(),
        guild: msg.guild_id.map(|g| g.get()),
        author: Author {
            id: msg.author.id.get(),
        },
        text,
    })
}

/// A component interaction as a card click.
pub fn click(ci: &ComponentInteraction) -> Result<Click, Ignored> {
    let id = ci.data.custom_id.as_str();
    let (decision, proposal) = if let Some(p) = id.strip_prefix(CONFIRM_PREFIX) {
        (Decision::Confirm, p)
    } else if let Some(p) = id.strip_prefix(CANCEL_PREFIX) {
        (Decision::Cancel, p)
    } else {
        return Err(ignored(format!("component `{id}` is not platbot's")));
    };
    Ok(Click {
        interaction: ci.id.get(),
        token: ci.token.clone(),
        decision,
        proposal: proposal.to_owned(),
        author: Author {
            id: ci.user.id.get(),
        },
        channel: ci.channel_id.get(),
        card: ci.message.id.get(),
    })
}

/// A command interaction as `/platbot <question>`.
pub fn command(ci: &CommandInteraction) -> Result<Command, Ignored> {
    if ci.data.name != COMMAND {
        return Err(ignored(format!(
            "command `/{}` is not platbot's",
            ci.data.name
        )));
    }
    let text = ci
        .data
        .options
        .iter()
        .find(|o| o.name == COMMAND_OPTION)
        .and_then(|o| match &o.value {
            CommandDataOptionValue::String(s) => Some(s.trim().to_owned()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(Command {
        interaction: ci.id.get(),
        token: ci.token.clone(),
        channel: ci.channel_id.get(),
        guild: ci.guild_id.map(|g| g.get()),
        author: Author {
            id: ci.user.id.get(),
        },
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: u64 = 1_100_000_000_000_000_010;

    fn msg(extra: serde_json::Value) -> Message {
        let mut base = json!({
            "id": "1100000000000000500", "channel_id": "1100000000000000100",
            "guild_id": "1100000000000000001",
            "author": {"id": "1100000000000000020", "username": "priya", "discriminator": "0",
                       "global_name": "Priya", "avatar": null},
            "content": format!("<@{BOT}> how is cart doing in prod"),
            "timestamp": "2026-01-05T09:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false,
            "mentions": [{"id": BOT.to_string(), "username": "platbot", "discriminator": "0",
                          "global_name": null, "avatar": null, "bot": true}],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn mentions_and_dms_are_questions() {
        let bot = DiscordUserId::new(BOT);
        let asked = message(&msg(json!({})), bot).unwrap();
        assert_eq!(asked.text, "how is cart doing in prod");
        assert_eq!(asked.guild, Some(1_100_000_000_000_000_001));
        let dm =
            msg(json!({"guild_id": null, "mentions": [], "content": "who is on call for cart"}));
        let asked = message(&dm, bot).unwrap();
        assert_eq!(
            (asked.guild, asked.text.as_str()),
            (None, "who is on call for cart")
        );
        assert_eq!(
            clean_text(&format!("<@!{BOT}>, status of cart"), BOT),
            "status of cart"
        );
    }

    #[test]
    fn chatter_bots_and_system_messages_are_ignored() {
        let bot = DiscordUserId::new(BOT);
        for extra in [
            json!({"mentions": [], "content": "lunch?"}),
            json!({"author": {"id": BOT.to_string(), "username": "platbot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true}}),
            json!({"webhook_id": "1100000000000000999"}),
            json!({"type": 7}),
        ] {
            assert!(message(&msg(extra.clone()), bot).is_err(), "{extra}");
        }
    }

    #[test]
    fn button_ids_round_trip() {
        let id = "3f2a9c1e-0000-4000-8000-000000000000";
        assert_eq!(confirm_id(id).strip_prefix(CONFIRM_PREFIX), Some(id));
        assert!(cancel_id(id).len() <= 100, "Discord's custom_id limit");
    }
}
