//! What Slack sends, in the shapes its documentation gives: Events API envelopes
//! (`url_verification`, `event_callback` with `app_mention` / `message.im`),
//! `block_actions` interactions, slash commands, Socket Mode envelopes; and the `v0`
//! request signature.

use ring::hmac;
use serde_json::{Value, json};

pub const TEAM: &str = "T0FAKE";
pub const APP: &str = "A0PLATBOT";

/// `X-Slack-Signature` for a body sent at `timestamp`: `v0=` + hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` keyed with the signing secret.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub fn url_verification(challenge: &str) -> Value {
    json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"})
}

/// An `event_callback` wrapping `event`.
pub fn callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "XXYYZZ",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [{"enterprise_id": null, "team_id": TEAM, "user_id": super::BOT_USER,
            "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDBGQUtFIn0"
    })
}

/// `app_mention` in a channel; `thread_ts` when the mention is a reply in a thread.
pub fn app_mention(
    user: &str,
    channel: &str,
    ts: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Value {
    let mut event = json!({
        "type": "app_mention",
        "user": user,
        "text": format!("<@{}> {text}", super::BOT_USER),
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": format!("msg-{ts}"),
        "team": TEAM,
        "blocks": [{"type": "rich_text", "block_id": "b1", "elements": [{"type": "rich_text_section",
            "elements": [{"type": "user", "user_id": super::BOT_USER}, {"type": "text", "text": format!(" {text}")}]}]}]
    });
    if let Some(t) = thread_ts {
        event["thread_ts"] = json!(t);
    }
    event
}

/// A direct message (`message.im`).
pub fn direct_message(
    user: &str,
    channel: &str,
    ts: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Value {
    let mut event = json!({
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "im",
        "client_msg_id": format!("msg-{ts}"),
        "team": TEAM
    });
    if let Some(t) = thread_ts {
        event["thread_ts"] = json!(t);
    }
    event
}

/// A click on one of a card's buttons. `card_blocks` are the blocks platbot posted;
/// `card_ts` the ts the fake gave the card.
pub struct CardClick<'a> {
    pub user: &'a str,
    pub action_id: &'a str,
    pub proposal_id: &'a str,
    pub channel: &'a str,
    pub card_ts: &'a str,
    pub thread_ts: &'a str,
    pub card_blocks: &'a [Value],
    pub trigger_id: &'a str,
    pub response_url: &'a str,
}

/// The `block_actions` payload Slack sends for `click`.
pub fn block_actions(c: &CardClick<'_>) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": c.user, "username": c.user.to_lowercase(), "name": c.user.to_lowercase(), "team_id": TEAM},
        "api_app_id": APP,
        "token": "9s8d9as89d8as9d8as989",
        "container": {"type": "message", "message_ts": c.card_ts, "channel_id": c.channel, "is_ephemeral": false},
        "trigger_id": c.trigger_id,
        "team": {"id": TEAM, "domain": "fake-co"},
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": {"id": c.channel, "name": "platform"},
        "message": {"type": "message", "user": super::BOT_USER, "ts": c.card_ts, "bot_id": "B0BOT",
            "app_id": APP, "text": "Proposal", "team": TEAM, "thread_ts": c.thread_ts, "blocks": c.card_blocks},
        "state": {"values": {}},
        "response_url": c.response_url,
        "actions": [{"action_id": c.action_id, "block_id": "platbot_proposal",
            "text": {"type": "plain_text", "text": "Confirm", "emoji": true},
            "value": c.proposal_id, "style": "primary", "type": "button", "action_ts": "1700000200.000300"}]
    })
}

/// A slash command's form fields.
pub fn slash_command(
    user: &str,
    channel: &str,
    text: &str,
    trigger_id: &str,
    response_url: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO".into()),
        ("team_id", TEAM.into()),
        ("team_domain", "fake-co".into()),
        ("enterprise_id", String::new()),
        ("channel_id", channel.into()),
        ("channel_name", "platform".into()),
        ("user_id", user.into()),
        ("user_name", user.to_lowercase()),
        ("command", "/platbot".into()),
        ("text", text.into()),
        ("api_app_id", APP.into()),
        ("is_enterprise_install", "false".into()),
        ("response_url", response_url.into()),
        ("trigger_id", trigger_id.into()),
    ]
}

/// `application/x-www-form-urlencoded`, as Slack sends interactions and commands.
pub fn form(fields: &[(&str, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A Socket Mode envelope around a payload (`events_api`, `interactive`, `slash_commands`).
pub fn envelope(
    kind: &str,
    envelope_id: &str,
    payload: Value,
    accepts_response_payload: bool,
) -> String {
    json!({
        "envelope_id": envelope_id,
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": payload
    })
    .to_string()
}

/// A slash command as Socket Mode delivers it: the form fields as a JSON object.
pub fn slash_command_json(
    user: &str,
    channel: &str,
    text: &str,
    trigger_id: &str,
    response_url: &str,
) -> Value {
    Value::Object(
        slash_command(user, channel, text, trigger_id, response_url)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect(),
    )
}
