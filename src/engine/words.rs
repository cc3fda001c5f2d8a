//! Short replies that answer a pending proposal ("yes", "cancel"), and the help text.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalReply {
    Confirm,
    Cancel,
}

/// Reads a whole message as a confirmation or a cancellation, if it is one.
pub fn proposal_reply(text: &str) -> Option<ProposalReply> {
    let t: String = text
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect();
    let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
    let t = t.strip_prefix("platbot ").unwrap_or(&t);
    match t {
        "confirm" | "confirmed" | "yes" | "y" | "yes please" | "yep" | "go" | "go ahead"
        | "do it" | "approve" | "approved" | "ok" | "okay" | "lgtm" | "ship it" | "apply"
        | "confirm it" | "yes do it" => Some(ProposalReply::Confirm),
        "cancel" | "no" | "n" | "nope" | "abort" | "stop" | "dont" | "do not" | "cancel it"
        | "never mind" | "nevermind" | "drop it" | "forget it" | "scrap it" => {
            Some(ProposalReply::Cancel)
        }
        _ => None,
    }
}

/// The answer to a confirmation or cancellation when nothing in the thread waits for one.
pub fn nothing_pending(decision: ProposalReply) -> &'static str {
    match decision {
        ProposalReply::Confirm => {
            "There is nothing waiting for confirmation in this thread. Ask for a change (\"restart cart in staging\") and I'll propose it."
        }
        ProposalReply::Cancel => "There is nothing to cancel in this thread: no change is waiting.",
    }
}

/// "confirm 3f2a9c1e" / "cancel 3f2a9c1e": a decision on the proposal whose id starts with
/// the given (at least 4 character) prefix, for threads with several waiting.
pub fn proposal_reply_by_id(text: &str) -> Option<(ProposalReply, String)> {
    let mut words = text.split_whitespace();
    let verb = words.next()?.trim_start_matches('/').to_lowercase();
    let prefix = words.next()?.trim_matches('`').to_lowercase();
    if words.next().is_some()
        || prefix.len() < 4
        || !prefix.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return None;
    }
    let decision = match verb.as_str() {
        "confirm" | "approve" | "yes" => ProposalReply::Confirm,
        "cancel" | "no" | "abort" => ProposalReply::Cancel,
        _ => return None,
    };
    Some((decision, prefix))
}

pub const HELP: &str = "I'm platbot. Ask me things like:\n\
- \"can I get a namespace for payments in dev?\" (I propose the change; you confirm)\n\
- \"how is cart doing in prod?\"\n\
- \"list deployments in staging\"\n\
- \"who's on call for checkout?\"\n\
- \"why is search crashing in staging?\"\n\
- \"how do I rotate a db password?\"\n\
Nothing changes on the platform until an allowed person confirms the exact proposal.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_confirmations_and_cancellations() {
        assert_eq!(proposal_reply("Confirm"), Some(ProposalReply::Confirm));
        assert_eq!(proposal_reply("yes!"), Some(ProposalReply::Confirm));
        assert_eq!(proposal_reply("  go ahead "), Some(ProposalReply::Confirm));
        assert_eq!(proposal_reply("cancel"), Some(ProposalReply::Cancel));
        // Not read as an unsupported "drop" change.
        assert_eq!(proposal_reply("drop it"), Some(ProposalReply::Cancel));
        assert_eq!(proposal_reply("no, restart cart instead"), None);
        assert_eq!(proposal_reply("yes restart prod"), None);
    }

    #[test]
    fn reads_decisions_on_a_named_proposal() {
        assert_eq!(
            proposal_reply_by_id("confirm 3F2A9C1E"),
            Some((ProposalReply::Confirm, "3f2a9c1e".to_owned()))
        );
        assert_eq!(
            proposal_reply_by_id("/cancel `3f2a`"),
            Some((ProposalReply::Cancel, "3f2a".to_owned()))
        );
        assert_eq!(proposal_reply_by_id("confirm it"), None);
        assert_eq!(proposal_reply_by_id("confirm 3f2"), None);
        assert_eq!(proposal_reply_by_id("confirm 3f2a9c1e now"), None);
    }
}
