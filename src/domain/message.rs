//! One message to the bot and one reply from it: what surfaces hand the engine and render.

use serde::Serialize;

use super::proposal::ProposalView;
use super::{Citation, ConversationKey, UserRef};

/// One message to the bot.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub conversation: ConversationKey,
    pub user: UserRef,
    pub text: String,
}

/// One reply from the bot, rendered by each surface in its own way.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reply {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<ProposalView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<Citation>,
    /// Structured result of a read action, for surfaces that render more than text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Reply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}
