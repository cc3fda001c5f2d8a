//! `who_is_on_call` through PagerDuty, against a local HTTP server speaking the REST API v2.
//!
//! The fake serves `GET /services/{id}`, `/escalation_policies/{id}`, `/schedules/{id}` and
//! `/oncalls` with PagerDuty's documented JSON: reference objects (`id`, `type`, `summary`,
//! `self`, `html_url`), full users with `include[]=users`, `limit`/`offset`/`more`/`total`
//! pagination, `escalation_policy_ids[]`/`schedule_ids[]` filters, the `since`/`until` overlap
//! window, `Authorization: Token token=…`, and error bodies `{"error": {"message", "code",
//! "errors"}}` for 400 (limit over 100), 401 and 404.
//!
//! What it does NOT emulate: rate limits (429), `earliest`, `time_zone` rendering (times are
//! always UTC), `user_ids[]`, `total=true`, cursor pagination, overrides, schedule layers and
//! their computation (on-call entries are given, not computed), and the 90-day window limit.
//! It answers at most 2 entries per page whatever `limit` asks, so pagination is exercised.

use crate::support::fakes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fakes::{Log, hours_from_now, sandbox_bot_with, serve};
use serde_json::{Value, json};

const TOKEN: &str = "pd-test-token";
const PAGE_CAP: usize = 2;

#[derive(Default)]
struct Pd {
    log: Log,
    delay: Option<Duration>,
    services: HashMap<String, (String, String)>,
    policies: HashMap<String, String>,
    schedules: HashMap<String, String>,
    oncalls: Vec<Value>,
}

fn error(status: StatusCode, message: &str, code: u32, errors: &[&str]) -> Response {
    let mut body = json!({"error": {"message": message, "code": code}});
    if !errors.is_empty() {
        body["error"]["errors"] = json!(errors);
    }
    (status, Json(body)).into_response()
}

fn reference(kind: &str, id: &str, summary: &str) -> Value {
    let plural = match kind {
        "escalation_policy" => "escalation_policies".to_owned(),
        k => format!("{k}s"),
    };
    json!({
        "id": id, "type": format!("{kind}_reference"), "summary": summary,
        "self": format!("https://api.pagerduty.com/{plural}/{id}"),
        "html_url": format!("https://example.pagerduty.com/{plural}/{id}"),
    })
}

async fn check(pd: &Pd, headers: &HeaderMap, what: String) -> Option<Response> {
    pd.log.push(what);
    if let Some(d) = pd.delay {
        tokio::time::sleep(d).await;
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    (auth != Some(&format!("Token token={TOKEN}")))
        .then(|| error(StatusCode::UNAUTHORIZED, "Authentication failed", 2006, &[]))
}

async fn service(
    State(pd): State<Arc<Pd>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = check(&pd, &headers, format!("/services/{id}")).await {
        return r;
    }
    match pd.services.get(&id) {
        Some((name, policy)) => Json(json!({"service": {
            "id": id, "type": "service", "name": name, "summary": name, "status": "active",
            "escalation_policy": reference("escalation_policy", policy, &pd.policies[policy]),
        }}))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found", 2100, &[]),
    }
}

async fn policy(State(pd): State<Arc<Pd>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = check(&pd, &headers, format!("/escalation_policies/{id}")).await {
        return r;
    }
    match pd.policies.get(&id) {
        Some(name) => Json(json!({"escalation_policy": {"id": id, "type": "escalation_policy", "name": name, "summary": name}})).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found", 2100, &[]),
    }
}

async fn schedule(
    State(pd): State<Arc<Pd>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = check(&pd, &headers, format!("/schedules/{id}")).await {
        return r;
    }
    match pd.schedules.get(&id) {
        Some(name) => Json(json!({"schedule": {"id": id, "type": "schedule", "name": name, "summary": name, "time_zone": "America/New_York"}})).into_response(),
        None => error(StatusCode::NOT_FOUND, "Not Found", 2100, &[]),
    }
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

async fn oncalls(
    State(pd): State<Arc<Pd>>,
    headers: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let line = q
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    if let Some(r) = check(&pd, &headers, format!("/oncalls?{line}")).await {
        return r;
    }
    let limit: usize = param(&q, "limit")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    if limit > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid Input Provided",
            2001,
            &["Limit must be less than or equal to 100."],
        );
    }
    let offset: usize = param(&q, "offset")
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policies = param(&q, "escalation_policy_ids[]");
    let schedules = param(&q, "schedule_ids[]");
    let ts = |v: &Value| v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let since = param(&q, "since")
        .first()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let until = param(&q, "until")
        .first()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let full_users = param(&q, "include[]").contains(&"users");
    let matching: Vec<Value> = pd
        .oncalls
        .iter()
        .filter(|o| {
            policies.is_empty()
                || policies.contains(&o["escalation_policy"]["id"].as_str().unwrap_or_default())
        })
        .filter(|o| {
            schedules.is_empty()
                || schedules.contains(&o["schedule"]["id"].as_str().unwrap_or_default())
        })
        // On-calls overlapping [since, until]; null start/end is a permanent on-call.
        .filter(|o| match (until, ts(&o["start"])) {
            (Some(u), Some(s)) => s <= u,
            _ => true,
        })
        .filter(|o| match (since, ts(&o["end"])) {
            (Some(s), Some(e)) => e > s,
            _ => true,
        })
        .map(|o| {
            let mut o = o.clone();
            if !full_users {
                let u = o["user"].clone();
                o["user"] = reference(
                    "user",
                    u["id"].as_str().unwrap_or_default(),
                    u["summary"].as_str().unwrap_or_default(),
                );
            }
            o
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit.min(PAGE_CAP))
        .cloned()
        .collect();
    let more = offset + page.len() < matching.len();
    Json(json!({"oncalls": page, "limit": limit, "offset": offset, "more": more, "total": null}))
        .into_response()
}

fn user(id: &str, name: &str, email: &str) -> Value {
    json!({
        "id": id, "type": "user", "name": name, "summary": name, "email": email, "time_zone": "Europe/London",
        "self": format!("https://api.pagerduty.com/users/{id}"), "html_url": format!("https://example.pagerduty.com/users/{id}"),
    })
}

fn entry(
    u: Value,
    policy: (&str, &str),
    schedule: Option<(&str, &str)>,
    level: u32,
    start: i64,
    end: i64,
) -> Value {
    json!({
        "user": u,
        "escalation_policy": reference("escalation_policy", policy.0, policy.1),
        "schedule": schedule.map(|(id, name)| reference("schedule", id, name)),
        "escalation_level": level,
        "start": hours_from_now(start),
        "end": hours_from_now(end),
    })
}

/// Checkout's escalation policy: Jonah primary (level 1), Aisha secondary (level 2), Lukas
/// primary next week, two managers above; noise from other policies. Jonah's level-1 entry
/// is the fourth that matches: on page 2.
fn fake() -> Pd {
    let policy = ("PEP8K2C", "Checkout on-call");
    let mut pd = Pd::default();
    pd.policies
        .insert("PEP8K2C".into(), "Checkout on-call".into());
    pd.policies
        .insert("PEP4Q7M".into(), "Payments on-call".into());
    pd.schedules
        .insert("PSCHED9".into(), "Search primary".into());
    let cart_id = platbot::platform::Catalog::sandbox()
        .service("cart")
        .unwrap()
        .annotations["pagerduty.com/service-id"]
        .clone();
    pd.services
        .insert(cart_id, ("Cart".into(), "PEP8K2C".into()));
    let jonah = user("PJONAH1", "Jonah Feld", "jonah.feld@example.com");
    let aisha = user("PAISHA1", "Aisha Bello", "aisha.bello@example.com");
    let lukas = user("PLUKAS1", "Lukas Brandt", "lukas.brandt@example.com");
    let priya = user("PPRIYA1", "Priya Nair", "priya.nair@example.com");
    pd.oncalls = vec![
        entry(
            priya.clone(),
            ("PEP4Q7M", "Payments on-call"),
            None,
            1,
            -10,
            20,
        ),
        entry(
            lukas.clone(),
            policy,
            Some(("PCHK1", "Checkout weekly")),
            1,
            100,
            268,
        ),
        entry(
            aisha,
            policy,
            Some(("PCHK2", "Checkout secondary")),
            2,
            -48,
            120,
        ),
        entry(lukas, policy, None, 3, -1000, 1000),
        entry(
            user("PMINA01", "Mina Okoye", "mina.okoye@example.com"),
            policy,
            None,
            4,
            -1000,
            1000,
        ),
        entry(
            jonah,
            policy,
            Some(("PCHK1", "Checkout weekly")),
            1,
            -48,
            120,
        ),
        entry(
            priya.clone(),
            ("PEP4Q7M", "Payments on-call"),
            None,
            2,
            -10,
            20,
        ),
        entry(
            user("PSOFIA1", "Sofia Marin", "sofia.marin@example.com"),
            ("PEP3S9R", "Search"),
            Some(("PSCHED9", "Search primary")),
            1,
            -5,
            50,
        ),
    ];
    pd
}

async fn start(pd: Pd) -> (String, Log) {
    let log = pd.log.clone();
    let router = axum::Router::new()
        .route("/services/{id}", get(service))
        .route("/escalation_policies/{id}", get(policy))
        .route("/schedules/{id}", get(schedule))
        .route("/oncalls", get(oncalls))
        .with_state(Arc::new(pd));
    (serve(router).await, log)
}

fn config(url: &str, extra: &str) -> String {
    format!(
        "[oncall]\nprovider = \"pagerduty\"\n[oncall.pagerduty]\napi_url = \"{url}\"\ntoken_env = \"PD_TOKEN\"\n{extra}"
    )
}

#[tokio::test]
async fn a_service_is_answered_through_its_pagerduty_service_and_every_page_is_read() {
    let (url, log) = start(fake()).await;
    let bot = sandbox_bot_with(&config(&url, ""), &[("PD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "who's on call for cart?").await;
    let text = &reply.text;
    assert!(text.contains("*cart* (team checkout)"), "{text}");
    assert!(text.contains("Checkout on-call, PagerDuty"), "{text}");
    // Email -> catalog user -> the schedule file's chat handle.
    assert!(text.contains("primary: Jonah Feld (@jonah)"), "{text}");
    assert!(text.contains("secondary: Aisha Bello (@aisha.b)"), "{text}");
    assert!(text.contains("times in Europe/London"), "{text}");
    let data = reply.data.expect("data");
    assert_eq!(data["provider"], "PagerDuty");
    assert_eq!(data["primary"]["user"], "jonah.feld");
    assert_eq!(data["primary"]["slack_id"], "U052KHVMGNZ");
    assert_eq!(data["primary"]["email"], "jonah.feld@example.com");
    assert!(data["primary"]["until"].as_str().is_some());
    let calls = log.entries();
    assert!(calls[0].starts_with("/services/"), "{calls:?}");
    let pages: Vec<&String> = calls.iter().filter(|c| c.starts_with("/oncalls")).collect();
    assert_eq!(pages.len(), 2, "{calls:?}");
    assert!(
        pages[0].contains("escalation_policy_ids[]=PEP8K2C"),
        "{}",
        pages[0]
    );
    assert!(
        pages[0].contains("include[]=users") && pages[0].contains("limit=100"),
        "{}",
        pages[0]
    );
    assert!(pages[1].contains("offset=2"), "{}", pages[1]);
    assert!(!pages[0].contains('.'), "whole seconds: {}", pages[0]);
}

#[tokio::test]
async fn answers_are_cached_so_a_busy_channel_asks_once() {
    let (url, log) = start(fake()).await;
    let bot = sandbox_bot_with(&config(&url, ""), &[("PD_TOKEN", TOKEN)]).await;
    let first = bot.say_one("t1", "x", "who's on call for cart?").await;
    let second = bot.say_one("t2", "y", "who is on call for cart").await;
    assert_eq!(first.data.as_ref().unwrap()["cached"], false);
    assert_eq!(second.data.as_ref().unwrap()["cached"], true);
    assert_eq!(
        second.data.as_ref().unwrap()["primary"]["name"],
        "Jonah Feld"
    );
    assert_eq!(log.count("/services/"), 1);
    // With caching off, every question asks again.
    let (url, log) = start(fake()).await;
    let bot = sandbox_bot_with(
        &config(&url, "").replace("[oncall]\n", "[oncall]\ncache_seconds = 0\n"),
        &[("PD_TOKEN", TOKEN)],
    )
    .await;
    bot.say_one("t1", "x", "who's on call for cart?").await;
    bot.say_one("t2", "x", "who's on call for cart?").await;
    assert_eq!(log.count("/services/"), 2);
}

#[tokio::test]
async fn a_team_uses_its_override_or_the_schedule_files_escalation_policy() {
    let (url, log) = start(fake()).await;
    let extra = "[oncall.teams.search]\nschedule = \"PSCHED9\"\ntimezone = \"America/New_York\"\n";
    let bot = sandbox_bot_with(&config(&url, extra), &[("PD_TOKEN", TOKEN)]).await;
    let reply = bot
        .say_one("t", "x", "who's on call for the search team?")
        .await;
    assert!(
        reply
            .text
            .contains("team *search* (Search primary, PagerDuty"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("primary: Sofia Marin (@sofia)"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("secondary: nobody"), "{}", reply.text);
    assert!(
        reply.text.contains("EST") || reply.text.contains("EDT"),
        "{}",
        reply.text
    );
    assert!(
        log.entries()
            .iter()
            .any(|c| c.contains("schedule_ids[]=PSCHED9"))
    );
    // payments has no override: the schedule file names its escalation policy.
    let reply = bot.say_one("t2", "x", "who's on call for payments").await;
    assert!(
        reply.text.contains("Payments on-call, PagerDuty"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("primary: Priya Nair (@priya)"),
        "{}",
        reply.text
    );
    assert!(
        log.entries()
            .iter()
            .any(|c| c.contains("escalation_policy_ids[]=PEP4Q7M"))
    );
}

#[tokio::test]
async fn an_unknown_schedule_is_no_such_schedule_and_a_bad_token_is_rejected() {
    let (url, _) = start(fake()).await;
    let extra = "[oncall.teams.search]\nschedule = \"PNOPE42\"\n";
    let bot = sandbox_bot_with(&config(&url, extra), &[("PD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "who's on call for search").await;
    assert!(
        reply.text.contains("PagerDuty: no such schedule `PNOPE42`"),
        "{}",
        reply.text
    );
    let bot = sandbox_bot_with(&config(&url, ""), &[("PD_TOKEN", "expired")]).await;
    let reply = bot.say_one("t", "x", "who's on call for cart").await;
    assert!(
        reply
            .text
            .contains("PagerDuty rejected the token (check the variable $PD_TOKEN)"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("expired"), "{}", reply.text);
}

#[tokio::test]
async fn a_service_without_the_annotation_and_a_team_without_a_policy_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.yaml"),
        "kind: Group\nmetadata: {name: growth}\n---\nkind: Component\nmetadata: {name: referrals}\nspec: {owner: group:growth}\n",
    )
    .unwrap();
    let (url, _) = start(fake()).await;
    let toml = format!(
        "[catalog]\npaths = [\"{}\"]\n{}",
        dir.path().display(),
        config(&url, "")
    );
    let bot = sandbox_bot_with(&toml, &[("PD_TOKEN", TOKEN)]).await;
    let reply = bot.say_one("t", "x", "who's on call for referrals?").await;
    assert!(
        reply
            .text
            .contains("service referrals has no `pagerduty.com/service-id` annotation"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("[oncall.teams.growth]"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_provider_that_times_out_gets_a_clear_reply_and_nothing_else_waits() {
    let mut pd = fake();
    pd.delay = Some(Duration::from_secs(10));
    let (url, _) = start(pd).await;
    let toml = config(&url, "").replace("[oncall]\n", "[oncall]\ntimeout_secs = 0.3\n");
    let bot = sandbox_bot_with(&toml, &[("PD_TOKEN", TOKEN)]).await;
    let started = std::time::Instant::now();
    let (slow, other) = tokio::join!(
        bot.say_one("t1", "x", "who's on call for cart?"),
        bot.say_one("t2", "x", "how is cart doing in prod"),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        slow.text.contains("PagerDuty did not answer within 0.3 s"),
        "{}",
        slow.text
    );
    assert!(
        other.text.contains("prod (checkout-prod)"),
        "{}",
        other.text
    );
}
