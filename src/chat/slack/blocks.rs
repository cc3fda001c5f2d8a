//! Block Kit rendering: answers as sections split to Slack's limits, proposals as cards
//! with Confirm and Cancel buttons.
//!
//! Slack refuses a section whose text exceeds 3000 characters and a message with more
//! than 50 blocks (`invalid_blocks`), so long answers become several sections and, past
//! 50 blocks, several messages. A card is one message (it is updated in place), so its
//! list of changes is cut to fit, saying how much was left out.

use slack_morphism::prelude::*;

use crate::approval::{ProposalState, ProposalView};
use crate::chat::{Citation, Reply};
use crate::engine::card::short_id;

/// Slack's limit on a section's text, in characters.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on blocks in one message.
pub const MESSAGE_BLOCKS_MAX: usize = 50;
/// How much of a message goes into its notification text (the `text` fallback).
const FALLBACK_MAX: usize = 300;

pub const CONFIRM_ACTION: &str = "platbot_confirm";
pub const CANCEL_ACTION: &str = "platbot_cancel";
const PROPOSAL_BLOCK: &str = "platbot_proposal";

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Splits escaped mrkdwn into pieces of at most `max` characters: at line ends where it
/// can, inside a line only when one line alone is too long, never inside an `&amp;`-style entity.
pub fn split_text(escaped: &str, max: usize) -> Vec<String> {
    let max = max.max(8);
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in escaped.split_inclusive('\n') {
        let len = line.chars().count();
        if current_len + len <= max {
            current.push_str(line);
            current_len += len;
            continue;
        }
        if !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
        }
        let mut pieces = hard_split(line, max);
        let last = pieces.pop().unwrap_or_default();
        chunks.extend(pieces);
        current_len = last.chars().count();
        current = last;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
        .into_iter()
        .map(|c| c.trim_end().to_owned())
        .filter(|c| !c.trim().is_empty())
        .collect()
}

/// Cuts one line into pieces of at most `max` characters, moving a cut that would
/// fall inside an entity (`&amp;`, `&lt;`, `&gt;`) to just before it.
fn hard_split(line: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    while chars.len() - start > max {
        let mut end = start + max;
        let window = &chars[end.saturating_sub(4).max(start)..end];
        if let Some(amp) = window.iter().rposition(|&c| c == '&')
            && !window[amp..].contains(&';')
        {
            let at = end.saturating_sub(4).max(start) + amp;
            if at > start {
                end = at;
            }
        }
        out.push(chars[start..end].iter().collect());
        start = end;
    }
    out.push(chars[start..].iter().collect());
    out
}

/// The first piece of `escaped` that fits in `max` characters, with an ellipsis when cut.
fn truncate(escaped: &str, max: usize) -> String {
    if escaped.chars().count() <= max {
        return escaped.to_owned();
    }
    let mut first = hard_split(escaped, max.saturating_sub(1))
        .into_iter()
        .next()
        .unwrap_or_default();
    first.push('…');
    first
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(text)))
        .into()
}

fn context(text: String) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(text),
    )])
    .into()
}

/// A short plain message, e.g. an ephemeral explanation.
pub fn plain(text: &str) -> SlackMessageContent {
    let escaped = escape(text);
    let blocks = split_text(&escaped, SECTION_TEXT_MAX)
        .into_iter()
        .take(MESSAGE_BLOCKS_MAX)
        .map(section)
        .collect();
    SlackMessageContent::new()
        .with_text(truncate(&escaped, FALLBACK_MAX))
        .with_blocks(blocks)
}

/// `[n] <link|title>`: numbered as the answer's text numbers its passages.
fn citation_line(n: usize, c: &Citation) -> String {
    let title = escape(&c.title).replace('|', "¦");
    let link_ok = (c.link.starts_with("https://") || c.link.starts_with("http://"))
        && !c
            .link
            .contains(|ch: char| ch.is_whitespace() || matches!(ch, '<' | '>' | '|'));
    if link_ok {
        format!("[{n}] <{}|{title}>", c.link.replace('&', "&amp;"))
    } else {
        format!("[{n}] {title}")
    }
}

/// A text answer as one or more messages, each within Slack's limits.
pub fn text_messages(text: &str, citations: &[Citation]) -> Vec<SlackMessageContent> {
    mrkdwn_messages(&escape(text), citations)
}

/// Like [`text_messages`] for text that is mrkdwn already (escaped, with mentions).
pub fn mrkdwn_messages(mrkdwn: &str, citations: &[Citation]) -> Vec<SlackMessageContent> {
    let mut sections = split_text(mrkdwn, SECTION_TEXT_MAX);
    if sections.is_empty() {
        sections.push("(no text)".to_owned());
    }
    if !citations.is_empty() {
        let sources: Vec<String> = citations
            .iter()
            .enumerate()
            .map(|(i, c)| citation_line(i + 1, c))
            .collect();
        let sources = format!("*Sources*\n{}", sources.join("\n"));
        sections.extend(split_text(&sources, SECTION_TEXT_MAX));
    }
    sections
        .chunks(MESSAGE_BLOCKS_MAX)
        .map(|chunk| {
            SlackMessageContent::new()
                .with_text(truncate(&chunk[0], FALLBACK_MAX))
                .with_blocks(chunk.iter().cloned().map(section).collect())
        })
        .collect()
}

/// A reply without a proposal card (see [`proposal_card`] for those).
pub fn reply_messages(reply: &Reply) -> Vec<SlackMessageContent> {
    text_messages(&reply.text, &reply.citations)
}

fn state_label(state: ProposalState) -> &'static str {
    match state {
        ProposalState::Proposed => ":large_yellow_circle: waiting for confirmation",
        ProposalState::Approved | ProposalState::Executing => ":hourglass_flowing_sand: applying",
        ProposalState::Succeeded => ":white_check_mark: applied",
        ProposalState::Failed => ":x: failed",
        ProposalState::Cancelled => ":no_entry_sign: cancelled",
        ProposalState::Expired => ":hourglass: expired",
    }
}

/// Slack's date formatting: shown in the reader's time zone, `fallback` elsewhere.
fn slack_date(at: jiff::Timestamp, format: &str) -> String {
    format!(
        "<!date^{}^{format}|{}>",
        at.as_second(),
        at.strftime("%Y-%m-%d %H:%M UTC")
    )
}

/// A proposal as one Block Kit message: what will change, the dry-run verdict, who
/// asked, when it expires, who confirmed, the outcome, and the buttons while it is pending.
pub fn proposal_card(p: &ProposalView) -> SlackMessageContent {
    let header = format!(
        "*Proposal* `{}` · {}\n*{}*",
        short_id(&p.id),
        state_label(p.state),
        escape(&p.plan.summary)
    );
    let mut top = vec![section(truncate(&header, SECTION_TEXT_MAX))];

    let mut bottom = Vec::new();
    let verdict = if p.plan.dry_run.passed {
        ":white_check_mark: *Dry run passed:*"
    } else {
        ":x: *Dry run failed:*"
    };
    bottom.push(section(truncate(
        &format!("{verdict} {}", escape(&p.plan.dry_run.message)),
        SECTION_TEXT_MAX,
    )));
    bottom.push(context(format!(
        "Requested by *{}* {} · expires {}",
        escape(&p.requester),
        slack_date(p.created_at, "{date_short_pretty} at {time}"),
        slack_date(p.expires_at, "{time}")
    )));
    if !p.approvals.is_empty() {
        let who = escape(&p.approvals.join(", "));
        bottom.push(context(if p.state == ProposalState::Proposed {
            format!("Confirmed so far by *{who}*; a second, different approver is needed")
        } else {
            format!("Confirmed by *{who}*")
        }));
    }
    if let Some(outcome) = &p.outcome {
        bottom.push(section(truncate(
            &format!("*Outcome:* {}", escape(outcome)),
            SECTION_TEXT_MAX,
        )));
    }
    if p.state == ProposalState::Proposed {
        bottom.push(buttons(&p.id));
    }

    let lines: Vec<String> = p
        .plan
        .changes
        .iter()
        .map(|c| {
            let ns = c
                .namespace
                .as_deref()
                .map_or(String::new(), |n| format!(" in `{}`", escape(n)));
            let detail = c
                .detail
                .as_deref()
                .map_or(String::new(), |d| format!(": {}", escape(d)));
            format!(
                "• *{}* {} `{}`{ns}{detail}\n      _{}_",
                escape(&c.operation),
                escape(&c.kind),
                escape(&c.name),
                escape(&c.validation)
            )
        })
        .collect();
    let mut changes = split_text(&lines.join("\n"), SECTION_TEXT_MAX);
    let room = MESSAGE_BLOCKS_MAX - top.len() - bottom.len();
    if changes.len() > room {
        let left_out = changes.len() - (room - 1);
        changes.truncate(room - 1);
        changes.push(format!(
            "_…{left_out} more section(s) of changes not shown; the full plan is in `platbot audit` and the HTTP API._"
        ));
    }
    top.extend(changes.into_iter().map(section));
    top.extend(bottom);

    let fallback = format!(
        "Proposal {}: {} ({})",
        short_id(&p.id),
        escape(&p.plan.summary),
        p.state.as_str()
    );
    SlackMessageContent::new()
        .with_text(truncate(&fallback, FALLBACK_MAX))
        .with_blocks(top)
}

fn buttons(id: &str) -> SlackBlock {
    let confirm = SlackBlockButtonElement::new(SlackBlockPlainTextOnly::from("Confirm"))
        .with_action_id(CONFIRM_ACTION.into())
        .with_value(id.to_owned())
        .with_style(SlackBlockButtonStyle::Primary);
    let cancel = SlackBlockButtonElement::new(SlackBlockPlainTextOnly::from("Cancel"))
        .with_action_id(CANCEL_ACTION.into())
        .with_value(id.to_owned())
        .with_style(SlackBlockButtonStyle::Danger);
    SlackActionsBlock::new(vec![
        SlackActionBlockElement::Button(confirm),
        SlackActionBlockElement::Button(cancel),
    ])
    .with_block_id(PROPOSAL_BLOCK.into())
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section_texts(m: &SlackMessageContent) -> Vec<String> {
        m.blocks
            .iter()
            .flatten()
            .filter_map(|b| match b {
                SlackBlock::Section(s) => match &s.text {
                    Some(SlackBlockText::MarkDown(t)) => Some(t.text.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    #[test]
    fn escapes_control_characters() {
        assert_eq!(escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }

    #[test]
    fn long_text_splits_at_lines_then_inside_lines() {
        // Three lines and their newlines fill a section exactly.
        let line = "x".repeat(999);
        let text = vec![line.clone(); 7].join("\n");
        let chunks = split_text(&text, 3000);
        assert!(chunks.iter().all(|c| c.chars().count() <= 3000));
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat().replace('\n', ""), text.replace('\n', ""));

        let one_line = "y".repeat(7001);
        let chunks = split_text(&one_line, 3000);
        assert_eq!(
            chunks.iter().map(|c| c.chars().count()).collect::<Vec<_>>(),
            [3000, 3000, 1001]
        );
    }

    #[test]
    fn splits_never_cut_an_entity() {
        let escaped = escape(&"ab<".repeat(2000));
        for chunk in split_text(&escaped, 3000) {
            assert!(chunk.chars().count() <= 3000);
            // Every `&` starts a whole entity.
            for (i, _) in chunk.match_indices('&') {
                let rest = &chunk[i..];
                assert!(
                    rest.starts_with("&lt;")
                        || rest.starts_with("&gt;")
                        || rest.starts_with("&amp;"),
                    "cut entity in {rest:.10}"
                );
            }
        }
    }

    #[test]
    fn characters_not_bytes_are_counted() {
        let text = "é".repeat(3000);
        let chunks = split_text(&text, 3000);
        assert_eq!(chunks.len(), 1);
    }

    #[test]
    fn huge_answers_become_several_messages_within_limits() {
        let text = (0..200)
            .map(|i| format!("{i}: {}", "z".repeat(2990)))
            .collect::<Vec<_>>()
            .join("\n");
        let messages = text_messages(&text, &[]);
        assert_eq!(messages.len(), 4, "200 sections -> 50 + 50 + 50 + 50");
        for m in &messages {
            let blocks = m.blocks.as_ref().unwrap();
            assert!(blocks.len() <= MESSAGE_BLOCKS_MAX);
            assert!(
                section_texts(m)
                    .iter()
                    .all(|t| t.chars().count() <= SECTION_TEXT_MAX)
            );
            assert!(m.text.as_ref().unwrap().chars().count() <= FALLBACK_MAX);
        }
    }

    #[test]
    fn citations_are_links() {
        let m = text_messages(
            "answer",
            &[Citation {
                title: "Rotate <db> passwords".into(),
                link: "https://docs.example.com/db?a=1&b=2".into(),
            }],
        );
        let texts = section_texts(&m[0]);
        assert_eq!(
            texts[1],
            "*Sources*\n[1] <https://docs.example.com/db?a=1&amp;b=2|Rotate &lt;db&gt; passwords>"
        );
    }

    fn view(state: ProposalState, changes: usize) -> ProposalView {
        ProposalView::sample(state, changes)
    }

    fn has_buttons(m: &SlackMessageContent) -> bool {
        m.blocks
            .iter()
            .flatten()
            .any(|b| matches!(b, SlackBlock::Actions(_)))
    }

    #[test]
    fn pending_cards_have_buttons_and_finished_ones_do_not() {
        let card = proposal_card(&view(ProposalState::Proposed, 6));
        assert!(has_buttons(&card));
        let json = serde_json::to_value(&card).unwrap();
        let actions = json["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap();
        assert_eq!(actions["elements"][0]["action_id"], CONFIRM_ACTION);
        assert_eq!(
            actions["elements"][0]["value"],
            "3f2a9c1e-0000-4000-8000-000000000000"
        );
        assert_eq!(actions["elements"][1]["action_id"], CANCEL_ACTION);

        let mut done = view(ProposalState::Succeeded, 6);
        done.approvals = vec!["priya.nair".into()];
        done.outcome = Some("Created namespace payments-dev".into());
        let card = proposal_card(&done);
        assert!(!has_buttons(&card));
        let text = serde_json::to_string(&card).unwrap();
        assert!(text.contains("Confirmed by *priya.nair*"), "{text}");
        assert!(text.contains("Created namespace payments-dev"));
    }

    #[test]
    fn huge_plans_still_fit_one_card() {
        let card = proposal_card(&view(ProposalState::Proposed, 2000));
        let blocks = card.blocks.as_ref().unwrap();
        assert_eq!(blocks.len(), MESSAGE_BLOCKS_MAX);
        assert!(has_buttons(&card), "the buttons survive the cut");
        assert!(
            section_texts(&card)
                .iter()
                .all(|t| t.chars().count() <= SECTION_TEXT_MAX)
        );
        assert!(serde_json::to_string(&card).unwrap().contains("not shown"));
    }
}
