//! Proposal cards on Discord: an embed with Confirm/Cancel buttons; a click is acknowledged
//! at once, decided by the approval policy, and the card edited in place. Whether the change
//! ran is checked on the sandbox's Kubernetes API and in the audit log.

use serde_json::Value;

use crate::support::fake_discord::payloads::{self, CHANNEL};
use crate::support::fake_discord::{Call, Connected, JONAH, MALLORY, PRIYA, connected};
use platbot::store::AuditEvent;
use platbot::store::AuditFilter;

const APP: u64 = payloads::APPLICATION;

/// Priya asks for a namespace in a new thread; returns the card as the fake stored it.
async fn proposal_card(c: &Connected, question: u64) -> (Call, Value) {
    c.mention(
        question,
        CHANNEL,
        PRIYA,
        "can I get a namespace for payments in dev?",
    );
    let posted = c
        .fake
        .wait_for(20, "the proposal card", |calls| {
            calls
                .iter()
                .find(|x| {
                    x.is("POST", &format!("/channels/{question}/messages"))
                        && x.ok()
                        && !x.buttons().is_empty()
                })
                .cloned()
        })
        .await;
    let id: u64 = posted.response["id"].as_str().unwrap().parse().unwrap();
    (posted, c.fake.message(id))
}

fn click(c: &Connected, id: u64, card: &Value, who: u64, custom_id: &str) -> String {
    let token = format!("tok-click-{id}");
    c.fake.dispatch(
        "INTERACTION_CREATE",
        payloads::button_click(id, card, &Connected::person(who), custom_id, &token),
    );
    token
}

async fn executions(c: &Connected) -> usize {
    let filter = AuditFilter {
        action: Some("create_namespace".into()),
        ..AuditFilter::default()
    };
    let entries = c.bot.app.engine.store().audit(&filter).await.unwrap();
    entries
        .iter()
        .filter(|e| e.event == AuditEvent::Execute)
        .count()
}

async fn followup(c: &Connected, token: &str, needle: &str) -> Call {
    let path = format!("/webhooks/{APP}/{token}");
    let needle = needle.to_owned();
    c.fake
        .wait_for(20, &format!("a followup with {needle:?}"), move |calls| {
            calls
                .iter()
                .find(|x| x.is("POST", &path) && x.ok() && x.shown_text().contains(&needle))
                .cloned()
        })
        .await
}

#[tokio::test]
async fn confirm_by_the_requester_runs_once_others_are_refused_privately() {
    let c = connected().await;
    let (posted, card) = proposal_card(&c, 1_100_000_000_000_000_801).await;
    let text = posted.shown_text();
    assert!(
        text.contains("Proposal") && text.contains("waiting for confirmation"),
        "{text}"
    );
    assert!(
        text.contains("payments-dev") && text.contains("Dry run"),
        "{text}"
    );
    assert_eq!(
        posted.body["embeds"][0]["fields"][1]["name"],
        "Requested by"
    );
    let buttons = posted.buttons();
    let confirm = buttons
        .iter()
        .find(|b| b.starts_with("platbot:confirm:"))
        .unwrap()
        .clone();
    assert!(buttons.iter().any(|b| b.starts_with("platbot:cancel:")));

    // Jonah (checkout) may not confirm payments' namespace: an ephemeral refusal, no change.
    let token = click(&c, 1_100_000_000_000_000_811, &card, JONAH, &confirm);
    let refusal = followup(&c, &token, "can't confirm").await;
    assert!(refusal.ephemeral(), "only Jonah sees it");
    // An unmapped person is told at once how to get mapped.
    let token = click(&c, 1_100_000_000_000_000_812, &card, MALLORY, &confirm);
    let hint = c
        .fake
        .wait_for(10, "the mapping hint", |calls| {
            calls
                .iter()
                .find(|x| x.path.contains(&token) && x.is("POST", "/interactions/"))
                .cloned()
        })
        .await;
    assert_eq!(hint.body["type"], 4);
    assert!(hint.ephemeral());
    assert!(
        hint.shown_text()
            .contains(&format!("discord.com/user-id: \"{MALLORY}\"")),
        "{}",
        hint.shown_text()
    );
    // Asking for a change unmapped gets the refusal and the same hint, in the thread.
    c.mention(
        1_100_000_000_000_000_820,
        1_100_000_000_000_000_801,
        MALLORY,
        "can I get a namespace for payments in staging?",
    );
    let told = c
        .reply_in(1_100_000_000_000_000_801, "discord.com/user-id")
        .await;
    assert!(
        told.shown_text().contains(&format!("\"{MALLORY}\"")),
        "{}",
        told.shown_text()
    );
    c.fake.settle().await;
    assert!(!c.bot.namespace_exists("payments-dev"));
    assert_eq!(executions(&c).await, 0);

    // Priya clicks Confirm twice in a row: it runs once, the card shows who confirmed.
    let first = click(&c, 1_100_000_000_000_000_813, &card, PRIYA, &confirm);
    let second = click(&c, 1_100_000_000_000_000_814, &card, PRIYA, &confirm);
    let edited = c
        .fake
        .wait_for(30, "the applied card", |calls| {
            calls
                .iter()
                .find(|x| {
                    x.is("PATCH", "/webhooks/") && x.ok() && x.shown_text().contains("applied")
                })
                .cloned()
        })
        .await;
    assert!(
        edited.shown_text().contains("Confirmed by: priya.nair"),
        "{}",
        edited.shown_text()
    );
    assert!(edited.buttons().is_empty(), "a decided card has no buttons");
    c.fake.settle().await;
    assert!(
        c.bot.namespace_exists("payments-dev"),
        "created on the sandbox API"
    );
    assert_eq!(executions(&c).await, 1, "executed exactly once");
    let done: Vec<Call> = [&first, &second]
        .iter()
        .flat_map(|t| c.fake.calls_of("POST", &format!("/webhooks/{APP}/{t}")))
        .filter(|x| x.ok() && x.shown_text().contains("confirmed. Done."))
        .collect();
    assert_eq!(done.len(), 1, "one outcome message");
    for t in [&first, &second] {
        let acks = c
            .fake
            .calls_of("POST", "/interactions/")
            .into_iter()
            .filter(|x| x.path.contains(t.as_str()))
            .count();
        assert_eq!(acks, 1, "each click acknowledged once");
    }
    c.service.shutdown().await;
}

#[tokio::test]
async fn cancel_and_expired_clicks_update_the_card() {
    let c = connected().await;
    let (posted, card) = proposal_card(&c, 1_100_000_000_000_000_901).await;
    let cancel = posted
        .buttons()
        .into_iter()
        .find(|b| b.starts_with("platbot:cancel:"))
        .unwrap();
    click(&c, 1_100_000_000_000_000_911, &card, PRIYA, &cancel);
    c.fake
        .wait_for(20, "the cancelled card", |calls| {
            calls
                .iter()
                .find(|x| {
                    x.is("PATCH", "/webhooks/") && x.ok() && x.shown_text().contains("cancelled")
                })
                .cloned()
        })
        .await;

    // A proposal past its expiry: the click says so privately, the card shows it.
    let (posted, card) = proposal_card(&c, 1_100_000_000_000_000_902).await;
    let confirm = posted
        .buttons()
        .into_iter()
        .find(|b| b.starts_with("platbot:confirm:"))
        .unwrap();
    let id: platbot::approval::ProposalId = confirm
        .trim_start_matches("platbot:confirm:")
        .parse()
        .unwrap();
    let store = c.bot.app.engine.store();
    let mut p = store.proposal(id).await.unwrap().unwrap();
    p.id = platbot::approval::ProposalId::new();
    p.expires_at = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    p.created_at = p.expires_at - jiff::SignedDuration::from_mins(15);
    store.insert_proposal(&p).await.unwrap();
    let token = click(
        &c,
        1_100_000_000_000_000_912,
        &card,
        PRIYA,
        &format!("platbot:confirm:{}", p.id),
    );
    let note = followup(&c, &token, "expired").await;
    assert!(note.ephemeral());
    c.fake
        .wait_for(20, "the expired card", |calls| {
            calls
                .iter()
                .find(|x| {
                    x.is("PATCH", &format!("/webhooks/{APP}/{token}"))
                        && x.ok()
                        && x.shown_text().contains("expired")
                })
                .cloned()
        })
        .await;
    assert!(!c.bot.namespace_exists("payments-dev"));
    c.service.shutdown().await;
}
