//! Plain-text rendering shared by the text surfaces (terminal, HTTP `text` fields).

use crate::domain::proposal::{ProposalState, ProposalView};

/// A proposal card as text: what will change, the dry-run verdict, who asked,
/// when it expires and how to confirm.
pub fn proposal_card(p: &ProposalView) -> String {
    let mut out = format!(
        "PROPOSAL {} [{}]\n{}\n",
        short_id(&p.id),
        p.state.as_str(),
        p.plan.summary
    );
    for c in &p.plan.changes {
        let ns = c
            .namespace
            .as_deref()
            .map_or(String::new(), |n| format!(" in {n}"));
        out.push_str(&format!("  {} {} `{}`{ns}", c.operation, c.kind, c.name));
        if let Some(d) = &c.detail {
            out.push_str(&format!(": {d}"));
        }
        out.push_str(&format!("\n      ({})\n", c.validation));
    }
    let verdict = if p.plan.dry_run.passed {
        "PASSED"
    } else {
        "FAILED"
    };
    out.push_str(&format!("Dry run: {verdict}: {}\n", p.plan.dry_run.message));
    out.push_str(&format!(
        "Requested by {} at {}; expires {}.\n",
        p.requester,
        p.created_at.strftime("%H:%M UTC"),
        p.expires_at.strftime("%H:%M UTC")
    ));
    if !p.approvals.is_empty() {
        out.push_str(&format!(
            "Confirmed so far by: {}\n",
            p.approvals.join(", ")
        ));
    }
    if p.state == ProposalState::Proposed {
        out.push_str(
            "Reply `confirm` to apply it or `cancel` to drop it. Nothing changes until then.",
        );
    } else if let Some(o) = &p.outcome {
        out.push_str(o);
    }
    out
}

pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}
