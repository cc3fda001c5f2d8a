//! Rendering for Discord: answers as messages split to Discord's limits, proposals as an
//! embed card with Confirm and Cancel buttons.
//!
//! Discord refuses (400, "Invalid Form Body") a message over 2000 characters, an embed
//! description over 4096, more than 25 fields, a field value over 1024 and more than 6000
//! characters across a message's embeds. Long answers become several messages, split at line
//! ends with code blocks closed and reopened; a card is one message (it is edited in place),
//! so its list of changes is cut to fit, saying how much was left out.

use serenity::builder::{CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter};
use serenity::model::application::ButtonStyle;

use crate::approval::{ProposalState, ProposalView};
use crate::chat::{Citation, Reply};
use crate::engine::card::short_id;

use super::inbound::{cancel_id, confirm_id};

pub const MESSAGE_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// All embeds of one message together.
pub const EMBEDS_TOTAL_MAX: usize = 6000;

const FENCE: &str = "```";

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The first `max` characters of `text`, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if chars(text) <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Splits Markdown into pieces of at most `max` characters: at line ends where it can,
/// inside a line only when one line alone is too long. A code block cut in two is closed at
/// the end of one piece and reopened (with its language) at the start of the next.
pub fn split_markdown(text: &str, max: usize) -> Vec<String> {
    // Room for a closing fence plus an opening one with a short language tag.
    let budget = max.max(40) - 24;
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut open: Option<String> = None;
    let mut push_line = |line: &str, current: &mut String, open: &Option<String>| {
        if chars(current) + chars(line) + 1 > budget && !current.trim().is_empty() {
            if open.is_some() {
                current.push_str(FENCE);
            }
            pieces.push(std::mem::take(current));
            if let Some(lang) = open {
                current.push_str(&format!("{FENCE}{lang}\n"));
            }
        }
        current.push_str(line);
        current.push('\n');
    };
    for line in text.lines() {
        let mut rest: Vec<char> = line.chars().collect();
        while rest.len() > budget {
            let head: String = rest.drain(..budget).collect();
            push_line(&head, &mut current, &open);
        }
        let line: String = rest.into_iter().collect();
        push_line(&line, &mut current, &open);
        if let Some(tag) = line.trim_start().strip_prefix(FENCE) {
            open = match open {
                Some(_) => None,
                None => Some(tag.chars().take(16).collect()),
            };
        }
    }
    if !current.trim().is_empty() {
        pieces.push(current);
    }
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_owned())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// `[n] [title](<link>)`: numbered as the answer's text numbers its passages; the angle
/// brackets keep Discord from unfurling every source.
fn citation_line(n: usize, c: &Citation) -> String {
    let title = c.title.replace(['[', ']'], "");
    let link_ok = (c.link.starts_with("https://") || c.link.starts_with("http://"))
        && !c
            .link
            .contains(|ch: char| ch.is_whitespace() || matches!(ch, '<' | '>' | ')'));
    if link_ok {
        format!("[{n}] [{title}](<{}>)", c.link)
    } else {
        format!("[{n}] {title}")
    }
}

/// A reply without a card (see [`Card`]) as messages within Discord's limit.
pub fn reply_messages(reply: &Reply) -> Vec<String> {
    text_messages(&reply.text, &reply.citations)
}

pub fn text_messages(text: &str, citations: &[Citation]) -> Vec<String> {
    let mut text = text.trim_end().to_owned();
    if !citations.is_empty() {
        let sources: Vec<String> = citations
            .iter()
            .enumerate()
            .map(|(i, c)| citation_line(i + 1, c))
            .collect();
        text.push_str(&format!("\n\n**Sources**\n{}", sources.join("\n")));
    }
    let pieces = split_markdown(&text, MESSAGE_MAX);
    if pieces.is_empty() {
        return vec!["(no text)".to_owned()];
    }
    pieces
}

/// A proposal as one embed plus its buttons while it is pending.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub title: String,
    pub description: String,
    pub fields: Vec<(String, String)>,
    pub colour: u32,
    pub footer: String,
    /// The proposal id the buttons carry; `None` once it is decided.
    pub buttons: Option<String>,
}

fn state_label(state: ProposalState) -> (&'static str, u32) {
    match state {
        ProposalState::Proposed => ("🟡 waiting for confirmation", 0xF1C40F),
        ProposalState::Approved | ProposalState::Executing => ("⏳ applying", 0x3498DB),
        ProposalState::Succeeded => ("✅ applied", 0x2ECC71),
        ProposalState::Failed => ("❌ failed", 0xE74C3C),
        ProposalState::Cancelled => ("🚫 cancelled", 0x95A5A6),
        ProposalState::Expired => ("⌛ expired", 0x95A5A6),
    }
}

/// Discord's timestamp markup: shown in each reader's own time zone.
fn discord_time(at: jiff::Timestamp, style: char) -> String {
    format!("<t:{}:{style}>", at.as_second())
}

impl Card {
    pub fn of(p: &ProposalView) -> Card {
        let (label, colour) = state_label(p.state);
        let title = truncate(
            &format!("Proposal {} · {label}", short_id(&p.id)),
            TITLE_MAX,
        );
        let mut fields = Vec::new();
        let verdict = if p.plan.dry_run.passed {
            "✅ passed"
        } else {
            "❌ failed"
        };
        fields.push((
            "Dry run".to_owned(),
            truncate(
                &format!("{verdict}: {}", p.plan.dry_run.message),
                FIELD_VALUE_MAX,
            ),
        ));
        fields.push((
            "Requested by".to_owned(),
            format!("{} {}", p.requester, discord_time(p.created_at, 'f')),
        ));
        let expires = if p.state == ProposalState::Expired {
            "Expired"
        } else {
            "Expires"
        };
        fields.push((expires.to_owned(), discord_time(p.expires_at, 'R')));
        if !p.approvals.is_empty() {
            let who = truncate(&p.approvals.join(", "), FIELD_VALUE_MAX);
            if p.state == ProposalState::Proposed {
                fields.push((
                    "Confirmed so far by".to_owned(),
                    format!("{who} (a second, different approver is needed)"),
                ));
            } else {
                fields.push(("Confirmed by".to_owned(), who));
            }
        }
        if let Some(outcome) = &p.outcome {
            fields.push(("Outcome".to_owned(), truncate(outcome, FIELD_VALUE_MAX)));
        }
        fields.truncate(FIELDS_MAX);
        let footer = if p.state == ProposalState::Proposed {
            "Confirm applies exactly this plan; nothing changes until then."
        } else {
            "The full plan is in `platbot audit` and the HTTP API."
        }
        .to_owned();
        let mut card = Card {
            title,
            description: String::new(),
            fields,
            colour,
            footer,
            buttons: (p.state == ProposalState::Proposed).then(|| p.id.clone()),
        };
        card.description = card.describe(p);
        card
    }

    /// Characters counted against the 6000 of a message's embeds.
    pub fn total_chars(&self) -> usize {
        chars(&self.title)
            + chars(&self.description)
            + chars(&self.footer)
            + self
                .fields
                .iter()
                .map(|(n, v)| chars(n) + chars(v))
                .sum::<usize>()
    }

    /// The summary and the list of changes, cut to the room the rest of the card leaves.
    fn describe(&self, p: &ProposalView) -> String {
        let room = DESCRIPTION_MAX.min(EMBEDS_TOTAL_MAX.saturating_sub(self.total_chars()));
        let mut out = truncate(&format!("**{}**\n", p.plan.summary), room / 2);
        let changes = &p.plan.changes;
        for (i, c) in changes.iter().enumerate() {
            let ns = c
                .namespace
                .as_deref()
                .map_or(String::new(), |n| format!(" in `{n}`"));
            let detail = c
                .detail
                .as_deref()
                .map_or(String::new(), |d| format!(": {d}"));
            let line = truncate(
                &format!(
                    "• **{}** {} `{}`{ns}{detail}\n  _{}_\n",
                    c.operation, c.kind, c.name, c.validation
                ),
                600,
            );
            let left = changes.len() - i;
            let note =
                format!("…{left} more change(s) not shown; the full plan is in `platbot audit`.");
            if chars(&out) + chars(&line) + chars(&note) + 2 > room {
                out.push_str(&note);
                break;
            }
            out.push_str(&line);
        }
        out.trim_end().to_owned()
    }

    pub fn embed(&self) -> CreateEmbed {
        CreateEmbed::new()
            .title(&self.title)
            .description(&self.description)
            .colour(self.colour)
            .fields(
                self.fields
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str(), true)),
            )
            .footer(CreateEmbedFooter::new(&self.footer))
    }

    /// Confirm and Cancel while the proposal is pending; none after (an empty list removes
    /// the buttons of an edited message).
    pub fn components(&self) -> Vec<CreateActionRow> {
        match &self.buttons {
            Some(id) => vec![CreateActionRow::Buttons(vec![
                CreateButton::new(confirm_id(id))
                    .label("Confirm")
                    .style(ButtonStyle::Success),
                CreateButton::new(cancel_id(id))
                    .label("Cancel")
                    .style(ButtonStyle::Danger),
            ])],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_splits_within_the_limit_and_keeps_code_blocks_whole() {
        let mut text = String::from("Logs:\n```text\n");
        for i in 0..300 {
            text.push_str(&format!("{i:04} {}\n", "x".repeat(40)));
        }
        text.push_str("```\nThat is all.");
        let pieces = text_messages(&text, &[]);
        assert!(pieces.len() > 5);
        for p in &pieces {
            assert!(chars(p) <= MESSAGE_MAX, "{}", chars(p));
            assert_eq!(
                p.matches(FENCE).count() % 2,
                0,
                "unbalanced fence in {p:.80}"
            );
        }
        assert!(pieces[1].starts_with("```text\n"));
        let one_line = "y".repeat(5000);
        assert!(
            text_messages(&one_line, &[])
                .iter()
                .all(|p| chars(p) <= MESSAGE_MAX)
        );
        assert_eq!(text_messages("", &[]), ["(no text)"]);
    }

    #[test]
    fn citations_are_links_without_previews() {
        let m = text_messages(
            "answer [1]",
            &[Citation {
                title: "Rotate [db] passwords".into(),
                link: "https://docs.example.com/db?a=1&b=2".into(),
            }],
        );
        assert!(
            m[0].ends_with("[1] [Rotate db passwords](<https://docs.example.com/db?a=1&b=2>)"),
            "{}",
            m[0]
        );
    }

    fn view(state: ProposalState, changes: usize) -> ProposalView {
        let mut v = ProposalView::sample(state, changes);
        v.plan.dry_run.message = "accepted ".repeat(300);
        v
    }

    #[test]
    fn cards_fit_every_embed_limit_and_say_what_was_cut() {
        for changes in [0, 6, 2000] {
            let card = Card::of(&view(ProposalState::Proposed, changes));
            assert!(chars(&card.title) <= TITLE_MAX);
            assert!(chars(&card.description) <= DESCRIPTION_MAX);
            assert!(card.fields.len() <= FIELDS_MAX);
            assert!(
                card.fields
                    .iter()
                    .all(|(n, v)| chars(n) <= FIELD_NAME_MAX && chars(v) <= FIELD_VALUE_MAX)
            );
            assert!(chars(&card.footer) <= FOOTER_MAX);
            assert!(
                card.total_chars() <= EMBEDS_TOTAL_MAX,
                "{}",
                card.total_chars()
            );
            assert_eq!(card.components().len(), 1, "pending cards have buttons");
        }
        let cut = Card::of(&view(ProposalState::Proposed, 2000));
        assert!(cut.description.contains("more change(s) not shown"));
        let json = serde_json::to_value(cut.components()).unwrap();
        assert_eq!(
            json[0]["components"][0]["custom_id"],
            "platbot:confirm:3f2a9c1e-0000-4000-8000-000000000000"
        );
        assert_eq!(
            json[0]["components"][1]["custom_id"],
            "platbot:cancel:3f2a9c1e-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn decided_cards_show_who_and_lose_their_buttons() {
        let mut done = view(ProposalState::Succeeded, 6);
        done.approvals = vec!["priya.nair".into()];
        done.outcome = Some("Created namespace payments-dev".into());
        let card = Card::of(&done);
        assert!(card.components().is_empty());
        assert!(card.title.contains("applied"));
        assert!(
            card.fields
                .contains(&("Confirmed by".into(), "priya.nair".into()))
        );
        let expired = Card::of(&view(ProposalState::Expired, 1));
        assert!(expired.title.contains("expired"), "{}", expired.title);
        assert!(expired.fields.iter().any(|(n, _)| n == "Expired"));
    }
}
