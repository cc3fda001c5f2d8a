//! What Discord sends, in the shapes its documentation gives (API v10): users, messages,
//! channels, MESSAGE_CREATE and INTERACTION_CREATE dispatch data (application command and
//! message component interactions), READY.

use serde_json::{Value, json};

pub const GUILD: u64 = 1_100_000_000_000_000_001;
pub const APPLICATION: u64 = 1_100_000_000_000_000_009;
pub const BOT: u64 = 1_100_000_000_000_000_010;
/// A server text channel, and its id as a string.
pub const CHANNEL: u64 = 1_100_000_000_000_000_100;

pub fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({"id": id.to_string(), "username": name, "discriminator": "0", "global_name": name,
           "avatar": null, "bot": bot, "public_flags": 0})
}

pub fn bot_user() -> Value {
    user(BOT, "platbot", true)
}

fn member(author: &Value) -> Value {
    json!({"user": author, "roles": [], "joined_at": "2025-06-01T09:00:00.000000+00:00",
           "deaf": false, "mute": false, "flags": 0, "pending": false,
           "permissions": "2248473465835073", "nick": null, "avatar": null, "premium_since": null})
}

/// A message as REST returns it (and MESSAGE_CREATE carries it).
pub fn message(
    id: u64,
    channel: u64,
    author: &Value,
    content: &str,
    mentions: Vec<Value>,
) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "author": author,
        "content": content, "timestamp": "2026-01-05T09:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": mentions, "mention_roles": [], "attachments": [], "embeds": [],
        "pinned": false, "type": 0, "flags": 0, "components": []
    })
}

/// MESSAGE_CREATE data for `text` by `author` in a server channel (a mention of the bot
/// first when `mention`), or in a DM when `guild` is false.
pub fn message_create(id: u64, channel: u64, author: &Value, text: &str, guild: bool) -> Value {
    let (content, mentions) = if guild {
        (format!("<@{BOT}> {text}"), vec![bot_user()])
    } else {
        (text.to_owned(), vec![])
    };
    let mut m = message(id, channel, author, &content, mentions);
    if guild {
        m["guild_id"] = json!(GUILD.to_string());
        m["member"] = member(author);
        m["member"].as_object_mut().map(|o| o.remove("user"));
    }
    m
}

fn interaction_base(id: u64, kind: u8, channel: u64, author: &Value, token: &str) -> Value {
    json!({
        "id": id.to_string(), "application_id": APPLICATION.to_string(), "type": kind,
        "guild_id": GUILD.to_string(), "channel_id": channel.to_string(),
        "channel": {"id": channel.to_string(), "type": 0, "name": "platform", "guild_id": GUILD.to_string(),
                    "permissions": "2248473465835073"},
        "member": member(author), "token": token, "version": 1,
        "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
        "entitlements": [], "authorizing_integration_owners": {"0": GUILD.to_string()},
        "context": 0, "attachment_size_limit": 10_485_760
    })
}

/// INTERACTION_CREATE data for `/platbot question:<text>`.
pub fn slash_command(id: u64, channel: u64, author: &Value, text: &str, token: &str) -> Value {
    let mut i = interaction_base(id, 2, channel, author, token);
    i["data"] = json!({"id": "1100000000000000777", "name": "platbot", "type": 1,
        "options": [{"name": "question", "type": 3, "value": text}]});
    i
}

/// INTERACTION_CREATE data for a button click on `card` (a message the bot posted).
pub fn button_click(id: u64, card: &Value, author: &Value, custom_id: &str, token: &str) -> Value {
    let channel: u64 = card["channel_id"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .expect("card channel");
    let mut i = interaction_base(id, 3, channel, author, token);
    i["message"] = card.clone();
    i["data"] = json!({"custom_id": custom_id, "component_type": 2});
    i
}

/// A channel object: `kind` 0 (text), 11 (public thread, with `parent`), 1 (DM).
pub fn channel(id: u64, kind: u8, parent: Option<u64>) -> Value {
    match kind {
        1 => json!({"id": id.to_string(), "type": 1, "last_message_id": null,
                    "recipients": [user(1_100_000_000_000_000_020, "priya", false)]}),
        _ => json!({"id": id.to_string(), "type": kind, "guild_id": GUILD.to_string(),
                    "name": if kind == 0 { "platform" } else { "a thread" },
                    "parent_id": parent.map(|p| p.to_string()), "position": 0,
                    "permission_overwrites": [], "nsfw": false, "rate_limit_per_user": 0,
                    "flags": 0,
                    "thread_metadata": if kind == 11 {
                        json!({"archived": false, "auto_archive_duration": 1440, "locked": false,
                               "archive_timestamp": "2026-01-05T09:00:00.000000+00:00"})
                    } else { Value::Null }}),
    }
}

pub fn ready(session: &str, resume_url: &str) -> Value {
    json!({
        "v": 10, "user": {"id": BOT.to_string(), "username": "platbot", "discriminator": "0",
                          "global_name": null, "avatar": null, "bot": true, "verified": true,
                          "mfa_enabled": false, "flags": 0},
        "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
        "session_id": session, "resume_gateway_url": resume_url, "shard": [0, 1],
        "application": {"id": APPLICATION.to_string(), "flags": 8_953_856}
    })
}

pub fn application() -> Value {
    json!({"id": APPLICATION.to_string(), "name": "platbot", "icon": null,
           "description": "platbot", "bot_public": false, "bot_require_code_grant": false,
           "verify_key": "0c1b1f1e4d6f2c3e9a1b7d5e2f4c6a8b0c1b1f1e4d6f2c3e9a1b7d5e2f4c6a8b",
           "team": null, "flags": 8_953_856, "owner": user(1_100_000_000_000_000_099, "owner", false)})
}
