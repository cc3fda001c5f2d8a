//! What a Slack payload means to platbot: a message to answer, a button click, a slash
//! command, or something to ignore (with the reason, for the log line).
//!
//! Both transports (Socket Mode and the Events API) deliver the same payload types, so
//! both go through here.

pub use crate::chat::click::{Decision, Ignored};
use crate::chat::click::{ignored, routine};
use slack_morphism::prelude::*;

use super::blocks::{CANCEL_ACTION, CONFIRM_ACTION};

/// A message addressed to the bot: an `app_mention` or a direct message (`message.im`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event_id: String,
    pub channel: String,
    /// The thread to answer in: the message's thread, or the message itself when top-level.
    pub thread_ts: String,
    pub user: String,
    pub text: String,
}

/// A Confirm or Cancel click on a proposal card.
#[derive(Debug, Clone, PartialEq)]
pub struct Click {
    pub decision: Decision,
    /// The proposal id the button carries.
    pub proposal: String,
    pub user: String,
    pub channel: String,
    /// The card's own `ts` (for `chat.update`).
    pub message_ts: String,
    /// The card's thread (for the ephemeral explanation and the outcome).
    pub thread_ts: Option<String>,
    /// Unique per click: a redelivered click has the same one.
    pub trigger_id: String,
}

/// `/platbot <text>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub channel: String,
    pub user: String,
    pub text: String,
    pub trigger_id: String,
    pub response_url: SlackResponseUrl,
}

/// The text as the user meant it: leading mentions of the bot removed, Slack's escapes undone.
pub fn clean_text(raw: &str, bot_user: Option<&str>) -> String {
    let mut text = raw.trim();
    // `<@U123>` or `<@U123|name>` at the start addresses the bot; drop every such prefix.
    while let Some(rest) = text.strip_prefix("<@") {
        match rest.find('>') {
            Some(end) => {
                text = rest[end + 1..]
                    .trim_start_matches([' ', ',', ':'])
                    .trim_start()
            }
            None => break,
        }
    }
    let mut text = text.to_owned();
    if let Some(bot) = bot_user {
        text = text.replace(&format!("<@{bot}>"), "");
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// An event callback (Events API or Socket Mode) as a message to answer.
pub fn message(cb: &SlackPushEventCallback, bot_user: Option<&str>) -> Result<Message, Ignored> {
    let event_id = cb.event_id.to_string();
    match &cb.event {
        SlackEventCallbackBody::AppMention(m) => {
            let ts = m.origin.ts.to_string();
            Ok(Message {
                event_id,
                channel: m.channel.to_string(),
                thread_ts: m.origin.thread_ts.as_ref().map_or(ts, ToString::to_string),
                user: m.user.to_string(),
                text: clean_text(m.content.text.as_deref().unwrap_or_default(), bot_user),
            })
        }
        SlackEventCallbackBody::Message(m) => {
            if let Some(subtype) = &m.subtype {
                // Edits, deletions, joins and bot posts are not new questions.
                return Err(routine(format!("message subtype {subtype:?}")));
            }
            if m.sender.bot_id.is_some() {
                return Err(routine("message from a bot"));
            }
            if m.origin
                .channel_type
                .as_ref()
                .map(|t| t.to_string())
                .as_deref()
                != Some("im")
            {
                // Channel messages reach platbot as app_mention; answering both would answer twice.
                return Err(routine("channel message without a mention"));
            }
            let user = m
                .sender
                .user
                .as_ref()
                .map(ToString::to_string)
                .ok_or_else(|| ignored("message without a user"))?;
            if bot_user == Some(user.as_str()) {
                return Err(routine("the bot's own message"));
            }
            let channel = m
                .origin
                .channel
                .as_ref()
                .map(ToString::to_string)
                .ok_or_else(|| ignored("message without a channel"))?;
            let ts = m.origin.ts.to_string();
            let text = m
                .content
                .as_ref()
                .and_then(|c| c.text.as_deref())
                .unwrap_or_default();
            Ok(Message {
                event_id,
                channel,
                thread_ts: m.origin.thread_ts.as_ref().map_or(ts, ToString::to_string),
                user,
                text: clean_text(text, bot_user),
            })
        }
        SlackEventCallbackBody::Unknown(v) => Err(ignored(format!(
            "unknown event type {}",
            v.get("type").and_then(|t| t.as_str()).unwrap_or("(none)")
        ))),
        other => Err(ignored(format!("event not handled: {}", event_name(other)))),
    }
}

fn event_name(body: &SlackEventCallbackBody) -> String {
    serde_json::to_value(body)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "(unnamed)".to_owned())
}

/// A `block_actions` interaction as card clicks (Slack sends one action per click).
pub fn clicks(ev: &SlackInteractionEvent) -> Result<Vec<Click>, Ignored> {
    let SlackInteractionEvent::BlockActions(ev) = ev else {
        return Err(ignored("interaction other than block_actions"));
    };
    let user = ev
        .user
        .as_ref()
        .map(|u| u.id.to_string())
        .ok_or_else(|| ignored("block_actions without a user"))?;
    let SlackInteractionActionContainer::Message(container) = &ev.container else {
        return Err(ignored("block_actions outside a message"));
    };
    let channel = container
        .channel_id
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| ev.channel.as_ref().map(|c| c.id.to_string()))
        .ok_or_else(|| ignored("block_actions without a channel"))?;
    let thread_ts = ev
        .message
        .as_ref()
        .and_then(|m| m.origin.thread_ts.as_ref())
        .map(ToString::to_string);
    let clicks: Vec<Click> = ev
        .actions
        .iter()
        .flatten()
        .filter_map(|a| {
            let decision = match a.action_id.to_string().as_str() {
                CONFIRM_ACTION => Decision::Confirm,
                CANCEL_ACTION => Decision::Cancel,
                _ => return None,
            };
            Some(Click {
                decision,
                proposal: a.value.clone().unwrap_or_default(),
                user: user.clone(),
                channel: channel.clone(),
                message_ts: container.message_ts.to_string(),
                thread_ts: thread_ts.clone(),
                trigger_id: ev.trigger_id.to_string(),
            })
        })
        .collect();
    if clicks.is_empty() {
        return Err(ignored("block_actions without a platbot button"));
    }
    Ok(clicks)
}

pub fn command(ev: &SlackCommandEvent) -> Command {
    Command {
        channel: ev.channel_id.to_string(),
        user: ev.user_id.to_string(),
        text: clean_text(ev.text.as_deref().unwrap_or_default(), None),
        trigger_id: ev.trigger_id.to_string(),
        response_url: ev.response_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_escapes_are_cleaned() {
        assert_eq!(
            clean_text("<@U0BOT> can I get a namespace?", Some("U0BOT")),
            "can I get a namespace?"
        );
        assert_eq!(
            clean_text("<@U0BOT|platbot>: status of cart", None),
            "status of cart"
        );
        assert_eq!(clean_text("why &lt;x&gt; &amp; y", None), "why <x> & y");
        assert_eq!(
            clean_text("ask <@U0BOT> please", Some("U0BOT")),
            "ask  please"
        );
    }

    fn callback(event: serde_json::Value) -> SlackPushEventCallback {
        serde_json::from_value(serde_json::json!({
            "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": "Ev1", "event_time": 1700000000, "event": event
        }))
        .unwrap()
    }

    #[test]
    fn app_mentions_answer_in_their_thread() {
        let top = callback(serde_json::json!({
            "type": "app_mention", "user": "U1", "text": "<@U0BOT> hi", "ts": "1.1",
            "channel": "C1", "event_ts": "1.1"
        }));
        let m = message(&top, Some("U0BOT")).unwrap();
        assert_eq!(
            (m.channel.as_str(), m.thread_ts.as_str(), m.text.as_str()),
            ("C1", "1.1", "hi")
        );
        let reply = callback(serde_json::json!({
            "type": "app_mention", "user": "U1", "text": "<@U0BOT> and in staging?", "ts": "1.5",
            "thread_ts": "1.1", "channel": "C1", "event_ts": "1.5"
        }));
        assert_eq!(message(&reply, Some("U0BOT")).unwrap().thread_ts, "1.1");
    }

    #[test]
    fn bots_edits_and_channel_chatter_are_ignored() {
        for event in [
            serde_json::json!({"type": "message", "channel": "D1", "channel_type": "im", "user": "U0BOT", "text": "hi", "ts": "1.1"}),
            serde_json::json!({"type": "message", "channel": "D1", "channel_type": "im", "bot_id": "B1", "text": "hi", "ts": "1.1"}),
            serde_json::json!({"type": "message", "subtype": "message_changed", "channel": "D1", "channel_type": "im", "ts": "1.1"}),
            serde_json::json!({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "text": "hi", "ts": "1.1"}),
            serde_json::json!({"type": "pin_added", "user": "U1", "channel_id": "C1"}),
            serde_json::json!({"type": "reaction_added", "user": "U1", "reaction": "tada", "item_user": "U2", "item": {"type": "message", "channel": "C1", "ts": "1.1"}, "event_ts": "1.2"}),
        ] {
            assert!(
                message(&callback(event.clone()), Some("U0BOT")).is_err(),
                "{event}"
            );
        }
        let dm = callback(serde_json::json!({
            "type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "how is cart doing in prod", "ts": "2.2"
        }));
        assert_eq!(message(&dm, Some("U0BOT")).unwrap().thread_ts, "2.2");
    }
}
