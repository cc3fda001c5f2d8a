//! What every surface's inbound side and cards share: the two decisions a card offers,
//! why a payload is ignored, and a refused click in words.

use crate::approval::{ApprovalError, ProposalId, ProposalView};
use crate::engine::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Cancel,
}

/// The proposal as it is now, for redrawing its card after a late click (on an expired
/// or done card); `None` while it is still in flight (its execution updates the card
/// itself) or when it cannot be read (logged).
pub(crate) async fn finished_card(engine: &Engine, id: ProposalId) -> Option<ProposalView> {
    match engine.approvals().get(id).await {
        Ok(p) if p.state.is_final() => Some(p.view()),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(proposal = %id, error = %e, "cannot reload the proposal");
            None
        }
    }
}

/// Why a payload is not for platbot (acknowledged and logged, never answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub reason: String,
    /// Expected traffic (the bot's own posts, chatter without a mention, edits): debug level only.
    pub routine: bool,
}

pub(crate) fn ignored(reason: impl Into<String>) -> Ignored {
    Ignored {
        reason: reason.into(),
        routine: false,
    }
}

pub(crate) fn routine(reason: impl Into<String>) -> Ignored {
    Ignored {
        reason: reason.into(),
        routine: true,
    }
}

/// How a surface marks a refusal and an expiry (its own emoji markup).
pub(crate) struct RefusalIcons {
    pub not_allowed: &'static str,
    pub expired: &'static str,
}

/// A refused click, in words for the person who clicked.
pub(crate) fn refusal(decision: Decision, e: &ApprovalError, icons: &RefusalIcons) -> String {
    let verb = match decision {
        Decision::Confirm => "confirm",
        Decision::Cancel => "cancel",
    };
    match e {
        ApprovalError::NotAllowed { reason, .. } => format!(
            "{} You can't {verb} this proposal: {reason}. Nothing was changed.",
            icons.not_allowed
        ),
        ApprovalError::Expired(_) => format!("{} {e}.", icons.expired),
        ApprovalError::NotPending(_) => format!("Nothing to do: {e}."),
        other => format!("{other}."),
    }
}
