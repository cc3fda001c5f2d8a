//! Chat surfaces and the types they share with the engine. A surface turns its
//! wire format into an [`Inbound`] and renders the [`Reply`]s; it knows nothing
//! about Kubernetes or the actions behind a reply.

pub mod render;
pub mod slack;
pub mod terminal;

use serde::{Deserialize, Serialize};

use crate::approval::ProposalView;

pub use crate::domain::{ConversationKey, Surface};

/// The person talking, as the surface knows them, mapped to a platform user by the surface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    /// The platform user id (catalog user name or email), used by the policy and the audit log.
    pub id: crate::domain::UserId,
    /// How the surface shows them (e.g. a Slack mention); for display only.
    pub display: Option<String>,
    /// The integration relaying for them (an HTTP client that acts for users); audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl UserRef {
    /// A user who talks to platbot directly.
    pub fn direct(id: crate::domain::UserId) -> Self {
        Self {
            id,
            display: None,
            via: None,
        }
    }
}

/// One message to the bot.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub conversation: ConversationKey,
    pub user: UserRef,
    pub text: String,
}

pub use crate::domain::Citation;

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
