//! Property tests of the Discord surface's parsers and renderers: mutated gateway payloads
//! (fields dropped, retyped, set to adversarial text) are read or ignored with a reason,
//! never a panic; any text renders within Discord's limits; and malformed dispatches do not
//! cost the gateway connection.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};
use serenity::model::application::{CommandInteraction, ComponentInteraction};
use serenity::model::channel::Message;
use serenity::model::id::UserId as DiscordUserId;

use crate::support::fake_discord::payloads::{self, BOT, CHANNEL};
use crate::support::fake_discord::{Connected, PRIYA, connected};
use platbot::chat::discord::inbound;
use platbot::chat::discord::render::{self, MESSAGE_MAX};

const PAYLOAD_CASES: u32 = 384;
const TEXT_CASES: u32 = 256;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_204),
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

fn nasty() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!(
            "<@1100000000000000010><@!1100000000000000010>@everyone ``` \u{202e}\u{200b}"
        )),
        Just(json!("18446744073709551616")),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// A valid payload with up to three fields (at any depth) dropped or replaced.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<bool>(), nasty()), 0..4).prop_map(
        move |muts| {
            let mut v = valid.clone();
            for (at, drop, with) in muts {
                let mut paths = Vec::new();
                paths_of(&v, &mut Vec::new(), &mut paths);
                if paths.is_empty() {
                    break;
                }
                let path = paths[at.index(paths.len())].clone();
                let (last, parent) = path
                    .split_last()
                    .map(|(l, p)| (l.clone(), p.to_vec()))
                    .unwrap_or_default();
                let Some(node) = parent.iter().try_fold(&mut v, |n, k| n.get_mut(k.as_str()))
                else {
                    continue;
                };
                if let Some(obj) = node.as_object_mut() {
                    if drop {
                        obj.remove(&last);
                    } else {
                        obj.insert(last, with);
                    }
                }
            }
            v
        },
    )
}

fn paths_of(v: &Value, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, x) in m {
            here.push(k.clone());
            out.push(here.clone());
            paths_of(x, here, out);
            here.pop();
        }
    }
}

#[test]
fn mutated_payloads_are_read_or_ignored_with_a_reason() {
    let author = Connected::person(PRIYA);
    let message = payloads::message_create(1, CHANNEL, &author, "status of cart in prod", true);
    let card = payloads::message(2, CHANNEL, &payloads::bot_user(), "", vec![]);
    let click = payloads::button_click(
        3,
        &card,
        &author,
        "platbot:confirm:3f2a9c1e-0000-4000-8000-000000000000",
        "t",
    );
    let command = payloads::slash_command(4, CHANNEL, &author, "who is on call for cart", "t");
    let bot = DiscordUserId::new(BOT);
    let strategy = (mutated(message), mutated(click), mutated(command));
    let read = std::sync::atomic::AtomicUsize::new(0);
    let result = runner(PAYLOAD_CASES).run(&strategy, |(m, cl, co)| {
        if let Ok(msg) = serde_json::from_value::<Message>(m) {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match inbound::message(&msg, bot) {
                Ok(a) => {
                    prop_assert_eq!(a.text.trim(), a.text.as_str());
                    let mention = format!("<@{BOT}>");
                    prop_assert!(!a.text.contains(&mention));
                }
                Err(i) => prop_assert!(!i.reason.trim().is_empty()),
            }
        }
        if let Ok(ci) = serde_json::from_value::<ComponentInteraction>(cl) {
            match inbound::click(&ci) {
                Ok(c) => prop_assert!(ci.data.custom_id.ends_with(&c.proposal)),
                Err(i) => prop_assert!(!i.reason.trim().is_empty()),
            }
        }
        if let Ok(ci) = serde_json::from_value::<CommandInteraction>(co) {
            match inbound::command(&ci) {
                Ok(c) => prop_assert_eq!(c.text.trim(), c.text.as_str()),
                Err(i) => prop_assert!(!i.reason.trim().is_empty()),
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("discord payloads: {e}");
    }
    // The mutations leave many payloads readable, so the inbound functions really ran.
    assert!(read.into_inner() > PAYLOAD_CASES as usize / 10);
}

#[test]
fn any_text_renders_within_the_message_limit() {
    let text = prop_oneof![
        "\\PC{0,3000}",
        "(```[a-z]{0,4}\n|[^\n]{0,300}\n){0,80}",
        Just("é".repeat(4500)),
    ];
    let result = runner(TEXT_CASES).run(&text, |t: String| {
        let pieces = render::text_messages(&t, &[]);
        prop_assert!(!pieces.is_empty());
        for p in &pieces {
            prop_assert!(
                p.chars().count() <= MESSAGE_MAX,
                "{} characters",
                p.chars().count()
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("discord text: {e}");
    }
}

#[tokio::test]
async fn malformed_dispatches_do_not_cost_the_connection() {
    let c = connected().await;
    c.fake.dispatch(
        "MESSAGE_CREATE",
        json!({"id": "not a snowflake", "content": 7}),
    );
    c.fake
        .dispatch("INTERACTION_CREATE", json!({"type": 3, "data": null}));
    c.fake.dispatch("NO_SUCH_EVENT", json!([1, 2, 3]));
    c.mention(
        1_100_000_000_000_000_951,
        CHANNEL,
        PRIYA,
        "how is cart doing in prod",
    );
    c.reply_in(1_100_000_000_000_000_951, "cart").await;
    assert_eq!(c.fake.connections(), 1, "still the first connection");
    c.service.shutdown().await;
}
