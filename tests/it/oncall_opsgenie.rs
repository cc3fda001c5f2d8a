//! `who_is_on_call` through Opsgenie, against a local HTTP server speaking its REST API.
//!
//! The fake serves the Who-is-on-call API `GET /v2/schedules/{identifier}/on-calls`
//! (`scheduleIdentifierType`, `flat`, `date`) and the schedule timeline
//! `GET /v2/schedules/{identifier}/timeline` (`identifierType`, `date`, `interval`,
//! `intervalUnit`), with Opsgenie's documented envelopes (`data`, `took`, `requestId`), nested
//! participants (`_parent`, escalations and teams holding users), `Authorization: GenieKey …`,
//! and error bodies `{"message", "took", "requestId"}` for 401, 404 and 500.
//!
//! What it does NOT emulate: `flat=true` (`onCallRecipients`), next-on-calls, the EU host,
//! 403/40301 team-restricted keys, 422 key-format errors, 429 rate limits, overrides, time
//! restrictions and how Opsgenie computes a timeline (periods are given, and the timeline is
//! not cut to the requested interval).

use crate::support::fakes;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fakes::{Log, hours_from_now, sandbox_bot_with, serve};
use serde_json::{Value, json};

const KEY: &str = "eb24a1f0-faa2-4ba2-a551-1afdf565c889";
const CHECKOUT_ID: &str = "d875e654-9b4e-4219-a8c3-0c26936d18de";

struct Schedule {
    id: String,
    participants: Value,
    /// Timeline periods: (username, start, end) in hours from now.
    periods: Vec<(String, i64, i64)>,
    /// Whether the timeline answers (500 otherwise).
    timeline_works: bool,
}

struct Og {
    log: Log,
    /// Schedules by name.
    schedules: HashMap<String, Schedule>,
}

fn envelope(data: Value) -> Value {
    json!({"data": data, "took": 0.012, "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9"})
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message, "took": 0.001, "requestId": "4d1b5a4c-1b58-4b84-a0b5-d3f4e8d2b8a1"}))).into_response()
}

fn find<'a>(og: &'a Og, id: &str, kind: Option<&str>) -> Option<(&'a String, &'a Schedule)> {
    match kind.unwrap_or("id") {
        "name" => og.schedules.get_key_value(id),
        _ => og.schedules.iter().find(|(_, s)| s.id == id),
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("GenieKey {KEY}"))
}

async fn on_calls(
    State(og): State<Arc<Og>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.sort();
    og.log.push(format!("/on-calls/{id}?{}", query.join("&")));
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Could not authenticate");
    }
    let kind = q.get("scheduleIdentifierType").map(String::as_str);
    match find(&og, &id, kind) {
        Some((name, s)) => Json(envelope(json!({
            "_parent": {"id": s.id, "name": name, "enabled": true},
            "onCallParticipants": s.participants,
        })))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("No schedule exists with {} [{id}]", kind.unwrap_or("id")),
        ),
    }
}

async fn timeline(
    State(og): State<Arc<Og>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut query: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.sort();
    og.log.push(format!("/timeline/{id}?{}", query.join("&")));
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Could not authenticate");
    }
    match find(&og, &id, q.get("identifierType").map(String::as_str)) {
        Some((_, s)) if !s.timeline_works => {
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Some((name, s)) => {
            let sid = &s.id;
            let periods: Vec<Value> = s
                .periods
                .iter()
                .map(|(user, s, e)| json!({
                    "startDate": hours_from_now(*s), "endDate": hours_from_now(*e), "type": "default",
                    "recipient": {"id": format!("id-{user}"), "type": "user", "name": user},
                }))
                .collect();
            Json(envelope(json!({
                "_parent": {"id": sid, "name": name, "enabled": true},
                "startDate": hours_from_now(-168), "endDate": hours_from_now(168),
                "finalTimeline": {"rotations": [{"id": "rot-1", "name": "Weekly", "order": 0.0, "periods": periods}]},
            })))
            .into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            &format!("No schedule exists with id [{id}]"),
        ),
    }
}

fn user(name: &str) -> Value {
    json!({"id": format!("id-{name}"), "name": name, "type": "user"})
}

async fn start() -> (String, Log) {
    let mut schedules = HashMap::new();
    // Jonah through an escalation, Aisha directly: the order Opsgenie lists them in.
    let participants = json!([
        {"id": "esc-1", "name": "checkout_escalation", "type": "escalation", "onCallParticipants": [user("jonah.feld@example.com")]},
        user("aisha.bello@example.com"),
    ]);
    let periods = vec![
        ("lukas.brandt@example.com".to_owned(), -216, -48),
        ("jonah.feld@example.com".to_owned(), -48, 120),
        ("aisha.bello@example.com".to_owned(), -48, 120),
        ("lukas.brandt@example.com".to_owned(), 120, 288),
    ];
    schedules.insert(
        "checkout_schedule".to_owned(),
        Schedule {
            id: CHECKOUT_ID.to_owned(),
            participants,
            periods,
            timeline_works: true,
        },
    );
    schedules.insert(
        "search_schedule".to_owned(),
        Schedule {
            id: "1f4e2b9c-0000-4000-8000-000000000001".to_owned(),
            participants: json!([user("sofia.marin@example.com")]),
            periods: vec![],
            timeline_works: false,
        },
    );
    let og = Og {
        log: Log::default(),
        schedules,
    };
    let log = og.log.clone();
    let router = axum::Router::new()
        .route("/v2/schedules/{id}/on-calls", get(on_calls))
        .route("/v2/schedules/{id}/timeline", get(timeline))
        .with_state(Arc::new(og));
    (serve(router).await, log)
}

fn config(url: &str, team: &str, schedule: &str) -> String {
    format!(
        "[oncall.opsgenie]\napi_url = \"{url}\"\ntoken_env = \"OG_KEY\"\n[oncall.teams.{team}]\nprovider = \"opsgenie\"\nschedule = \"{schedule}\"\n"
    )
}

#[tokio::test]
async fn primary_and_secondary_with_their_shift_from_the_timeline() {
    let (url, log) = start().await;
    let bot = sandbox_bot_with(
        &config(&url, "checkout", "checkout_schedule"),
        &[("OG_KEY", KEY)],
    )
    .await;
    let reply = bot.say_one("t", "x", "who's on call for checkout?").await;
    let text = &reply.text;
    assert!(
        text.contains("team *checkout* (checkout_schedule, Opsgenie"),
        "{text}"
    );
    assert!(text.contains("primary: Jonah Feld (@jonah), "), "{text}");
    assert!(text.contains(" until "), "{text}");
    assert!(text.contains("secondary: Aisha Bello (@aisha.b)"), "{text}");
    let data = reply.data.unwrap();
    assert_eq!(data["primary"]["email"], "jonah.feld@example.com");
    assert_eq!(data["primary"]["slack_id"], "U052KHVMGNZ");
    assert!(
        data["primary"]["since"].as_str().is_some() && data["primary"]["until"].as_str().is_some()
    );
    let calls = log.entries();
    assert!(
        calls[0].starts_with("/on-calls/checkout_schedule?"),
        "{calls:?}"
    );
    assert!(
        calls[0].contains("scheduleIdentifierType=name") && calls[0].contains("flat=false"),
        "{calls:?}"
    );
    assert!(calls[0].contains("+00:00"), "{calls:?}");
    assert!(calls[1].contains("intervalUnit=weeks"), "{calls:?}");
    // Other teams keep the schedule file.
    let reply = bot.say_one("t2", "x", "who's on call for payments?").await;
    assert!(reply.text.contains("schedule file"), "{}", reply.text);
}

#[tokio::test]
async fn a_schedule_id_is_sent_as_an_id() {
    let (url, log) = start().await;
    let bot = sandbox_bot_with(&config(&url, "checkout", CHECKOUT_ID), &[("OG_KEY", KEY)]).await;
    let reply = bot.say_one("t", "x", "who's on call for cart").await;
    assert!(reply.text.contains("primary: Jonah Feld"), "{}", reply.text);
    assert!(
        log.entries()[0].contains("scheduleIdentifierType=id"),
        "{:?}",
        log.entries()
    );
}

#[tokio::test]
async fn unknown_schedules_bad_keys_and_a_broken_timeline() {
    let (url, _) = start().await;
    let bot = sandbox_bot_with(&config(&url, "checkout", "nope"), &[("OG_KEY", KEY)]).await;
    let reply = bot.say_one("t", "x", "who's on call for checkout").await;
    assert!(
        reply.text.contains("Opsgenie: no such schedule `nope`"),
        "{}",
        reply.text
    );

    let bot = sandbox_bot_with(
        &config(&url, "checkout", "checkout_schedule"),
        &[("OG_KEY", "wrong-key")],
    )
    .await;
    let reply = bot.say_one("t", "x", "who's on call for checkout").await;
    assert!(
        reply
            .text
            .contains("Opsgenie rejected the token (check the variable $OG_KEY)"),
        "{}",
        reply.text
    );

    // The timeline answers 500: who is on call is still known, only the times are not.
    let bot = sandbox_bot_with(
        &config(&url, "search", "search_schedule"),
        &[("OG_KEY", KEY)],
    )
    .await;
    let reply = bot.say_one("t", "x", "who's on call for search").await;
    assert!(
        reply.text.contains("primary: Sofia Marin (@sofia)\n"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("until"), "{}", reply.text);
}
