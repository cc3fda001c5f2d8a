//! Who is talking and who is acting: a surface's user mapped to a platform user, and the
//! identity (with groups) that policies and impersonated Kubernetes calls use.

use serde::{Deserialize, Serialize};

use super::UserId;

/// The person talking, as the surface knows them, mapped to a platform user by the surface.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    /// The platform user id (catalog user name or email), used by the policy and the audit log.
    pub id: UserId,
    /// How the surface shows them (e.g. a Slack mention); for display only.
    pub display: Option<String>,
    /// The integration relaying for them (an HTTP client that acts for users); audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl UserRef {
    /// A user who talks to platbot directly.
    pub fn direct(id: UserId) -> Self {
        Self {
            id,
            display: None,
            via: None,
        }
    }
}

/// Who is confirming: the user and their groups (catalog teams plus configured groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub groups: Vec<String>,
    /// The integration that relayed this user's request (an HTTP client acting for users).
    pub via: Option<String>,
}
