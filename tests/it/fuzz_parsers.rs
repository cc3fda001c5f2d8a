//! Property tests of every parser of outside input (issue 14, item 6): none may panic, and
//! every bad input gets a clear error. Inputs are mostly valid payloads mutated (fields
//! dropped, retyped, set to adversarial strings; bodies truncated or spliced), so the
//! generators reach past the first parse, plus arbitrary text and bytes.
//!
//! One binary for all targets (each test binary links the whole dependency set). The case
//! counts in [`cases`] keep the file under a minute in a debug build on two cores; the README's
//! Tests section lists them.

use crate::support::common;
use crate::support::fake_slack;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fake_slack::payloads;
use platbot::actions::golden_path::{GoldenPaths, render};
use platbot::actions::spec::all_tools;
use platbot::actions::{Registry, RegistryEntry};
use platbot::chat::slack::inbound;
use platbot::config::Config;
use platbot::domain::{Environment, NamespaceName, ServiceName, TeamName, UserId};
use platbot::engine::alias::AliasTable;
use platbot::engine::{AliasPlanner, Clarification, Intent, PlanContext, ToolCall};
use platbot::knowledge::chunk::{ChunkLimits, chunk, count_tokens};
use platbot::knowledge::ingest::{anchor, parse, plain_links, title_from_path};
use platbot::platform::catalog::Catalog;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use slack_morphism::prelude::{SlackCommandEvent, SlackInteractionEvent, SlackPushEvent};

/// Cases per target (debug build, 2 cores: the whole file in well under a minute).
mod cases {
    pub const DOMAIN: u32 = 1024;
    pub const SLACK_PAYLOADS: u32 = 512;
    pub const SLACK_ROUTES: u32 = 256;
    pub const SLACK_SIGNATURES: u32 = 192;
    pub const SOCKET_FRAMES: u32 = 128;
    pub const HTTP_API: u32 = 512;
    pub const CONFIG: u32 = 512;
    pub const TOOLS_YAML: u32 = 512;
    pub const TEMPLATES: u32 = 256;
    pub const CATALOG: u32 = 256;
    pub const SCHEDULE: u32 = 256;
    pub const MARKDOWN: u32 = 384;
    pub const PLANNER: u32 = 768;
    pub const ENGINE: u32 = 96;
    pub const APPROVALS: u32 = 64;
}

fn runner(cases: u32) -> TestRunner {
    // A fixed seed, so CI runs the same cases every time and a failure reproduces; set
    // PROPTEST_RNG_SEED to explore other inputs.
    let rng_seed = match std::env::var("PROPTEST_RNG_SEED") {
        Ok(_) => ProptestConfig::default().rng_seed,
        Err(_) => proptest::test_runner::RngSeed::Fixed(20_261_204),
    };
    TestRunner::new(ProptestConfig {
        cases,
        rng_seed,
        // No regression files in the tree; a failure prints its minimal input.
        failure_persistence: None,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })
}

/// Runs `test` on `cases` inputs from `strategy`; a failure (or panic) fails the test with the
/// shrunk input.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Strings that break naive parsers: control characters, bidi and zero-width characters,
/// huge and negative numbers, Slack markup, YAML/TOML/JSON syntax, long runs.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "\\PC{0,40}",
        1 => "[\\x00-\\x1f\\x7f]{1,12}",
        1 => Just("\u{202e}gnp.exe\u{200b}\u{feff}\u{0}".to_owned()),
        1 => Just("99999999999999999999999999999".to_owned()),
        1 => Just("-9223372036854775809".to_owned()),
        1 => Just("1e309".to_owned()),
        1 => Just("NaN".to_owned()),
        1 => Just("<@U0BOT|platbot> <#C1|x> <!here> &amp;lt;".to_owned()),
        1 => Just("\"\n- kind: ClusterRole\n  x: {{namespace}}".to_owned()),
        1 => Just("[[x]]\n= \"\\u0000\" ]]".to_owned()),
        1 => Just("../../../../etc/passwd".to_owned()),
        1 => (1usize..40_000).prop_map(|n| "a".repeat(n)),
        1 => (1usize..500).prop_map(|n| "ü🦀\u{301}".repeat(n)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        Just(json!(u64::MAX)),
        nasty_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One change to a JSON tree, at the `at`-th node (pre-order, modulo the node count).
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Replace(usize, Value),
    /// A string node replaced by an adversarial string (retyping keeps the shape).
    Nasty(usize, String),
    Insert(usize, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<usize>().prop_map(Mutation::Drop),
        2 => (any::<usize>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        3 => (any::<usize>(), nasty_string()).prop_map(|(i, s)| Mutation::Nasty(i, s)),
        1 => (any::<usize>(), "[a-z_]{1,12}", json_value()).prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
    ]
}

/// Paths (object keys and array indices) of every node, pre-order; the root is `[]`.
fn node_paths(v: &Value, here: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                here.push(Value::String(k.clone()));
                node_paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                here.push(json!(i));
                node_paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(root: &'v mut Value, path: &[Value]) -> Option<&'v mut Value> {
    path.iter().try_fold(root, |v, step| match step {
        Value::String(k) => v.get_mut(k.as_str()),
        Value::Number(i) => i.as_u64().and_then(|i| v.get_mut(i as usize)),
        _ => None,
    })
}

fn apply(mut v: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut paths = Vec::new();
        node_paths(&v, &mut Vec::new(), &mut paths);
        let at = |i: usize| paths[i % paths.len()].clone();
        match m {
            Mutation::Drop(i) => {
                let path = at(*i);
                if let Some((last, parent)) = path.split_last()
                    && let Some(parent) = node_mut(&mut v, parent)
                {
                    match (parent, last) {
                        (Value::Object(o), Value::String(k)) => {
                            o.remove(k);
                        }
                        (Value::Array(a), Value::Number(n)) => {
                            if let Some(n) = n.as_u64().map(|n| n as usize)
                                && n < a.len()
                            {
                                a.remove(n);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Replace(i, new) => {
                if let Some(node) = node_mut(&mut v, &at(*i)) {
                    *node = new.clone();
                }
            }
            Mutation::Nasty(i, s) => {
                // The i-th string node, if there is one, else the i-th node.
                let strings: Vec<&Vec<Value>> = paths
                    .iter()
                    .filter(|p| {
                        let mut probe = v.clone();
                        node_mut(&mut probe, p).is_some_and(|n| n.is_string())
                    })
                    .collect();
                let path = match strings.is_empty() {
                    true => at(*i),
                    false => strings[i % strings.len()].clone(),
                };
                if let Some(node) = node_mut(&mut v, &path) {
                    *node = Value::String(s.clone());
                }
            }
            Mutation::Insert(i, key, new) => {
                if let Some(Value::Object(o)) = node_mut(&mut v, &at(*i)) {
                    o.insert(key.clone(), new.clone());
                }
            }
        }
    }
    v
}

/// What is done to a serialised body after the tree mutations.
#[derive(Debug, Clone)]
enum TextCut {
    Keep,
    /// Keep this share (per mille) of the characters.
    Truncate(u16),
    /// Insert text at this share (per mille) of the characters.
    Splice(u16, String),
}

fn text_cut() -> impl Strategy<Value = TextCut> {
    prop_oneof![
        4 => Just(TextCut::Keep),
        1 => (0u16..1000).prop_map(TextCut::Truncate),
        1 => (0u16..1000, nasty_string()).prop_map(|(at, s)| TextCut::Splice(at, s)),
    ]
}

fn cut(text: &str, how: &TextCut) -> String {
    let at = |permille: u16| {
        let n = text.chars().count() * usize::from(permille) / 1000;
        text.char_indices().nth(n).map_or(text.len(), |(i, _)| i)
    };
    match how {
        TextCut::Keep => text.to_owned(),
        TextCut::Truncate(p) => text[..at(*p)].to_owned(),
        TextCut::Splice(p, s) => {
            let i = at(*p);
            format!("{}{s}{}", &text[..i], &text[i..])
        }
    }
}

/// A valid document mutated in its tree and then in its text.
fn mutated(valid: Vec<Value>) -> impl Strategy<Value = (usize, Vec<Mutation>, TextCut)> {
    (
        0..valid.len(),
        prop::collection::vec(mutation(), 0..4),
        text_cut(),
    )
}

// ---------------------------------------------------------------------------------------------
// Names and ids
// ---------------------------------------------------------------------------------------------

/// Every newtype parsed at the edge: arbitrary text is accepted or refused with a message
/// naming the value, and an accepted value parses again to itself.
#[test]
fn domain_names_parse_or_say_why() {
    check("domain names", cases::DOMAIN, nasty_string(), |raw| {
        macro_rules! round_trip {
            ($ty:ty) => {
                match <$ty>::parse(&raw) {
                    Ok(v) => prop_assert_eq!(<$ty>::parse(v.as_str()).ok(), Some(v)),
                    Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
                }
            };
        }
        round_trip!(NamespaceName);
        round_trip!(TeamName);
        round_trip!(ServiceName);
        round_trip!(Environment);
        round_trip!(UserId);
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Slack: payloads, routes, signatures
// ---------------------------------------------------------------------------------------------

const BOT: &str = fake_slack::BOT_USER;

fn slack_events() -> Vec<Value> {
    vec![
        payloads::callback(
            "Ev1",
            payloads::app_mention(
                "U0PRIYA",
                "C0PLATFORM",
                "1700000000.000100",
                None,
                "how is cart doing in prod",
            ),
        ),
        payloads::callback(
            "Ev2",
            payloads::direct_message(
                "U0PRIYA",
                "D0PRIYA",
                "1700000000.000200",
                Some("1700000000.000100"),
                "logs for search",
            ),
        ),
        payloads::url_verification("challenge-x"),
    ]
}

fn slack_clicks() -> Vec<Value> {
    vec![payloads::block_actions(&payloads::CardClick {
        user: "U0PRIYA",
        action_id: "platbot_confirm",
        proposal_id: "0b5c2f4e-6a43-4f4e-9f57-2a4b8f0f9e11",
        channel: "C0PLATFORM",
        card_ts: "1700000000.000300",
        thread_ts: "1700000000.000100",
        card_blocks: &[json!({"type": "section", "text": {"type": "mrkdwn", "text": "x"}})],
        trigger_id: "13345224609.738474920.8088930838d88f008e0",
        response_url: "http://127.0.0.1:9/response",
    })]
}

fn slack_commands() -> Vec<Value> {
    vec![payloads::slash_command_json(
        "U0PRIYA",
        "C0PLATFORM",
        "who is on call for payments",
        "13345224609.738474920.8088930838d88f008e0",
        "http://127.0.0.1:9/response",
    )]
}

/// Slack's three payload kinds, mutated, through slack-morphism's types and then what platbot
/// makes of them: a message, clicks, a command, or a reason to ignore it.
#[test]
fn slack_payloads_are_read_or_ignored_with_a_reason() {
    let kinds = [slack_events(), slack_clicks(), slack_commands()];
    check(
        "slack payloads",
        cases::SLACK_PAYLOADS,
        (
            0usize..3,
            any::<usize>(),
            prop::collection::vec(mutation(), 0..4),
            nasty_string(),
        ),
        |(kind, which, muts, text)| {
            let valid = &kinds[kind];
            let value = apply(valid[which % valid.len()].clone(), &muts);
            match kind {
                0 => {
                    if let Ok(SlackPushEvent::EventCallback(cb)) =
                        serde_json::from_value::<SlackPushEvent>(value)
                    {
                        match inbound::message(&cb, Some(BOT)) {
                            Ok(m) => prop_assert_eq!(m.text.trim(), m.text.as_str()),
                            Err(why) => prop_assert!(!why.reason.trim().is_empty()),
                        }
                    }
                }
                1 => {
                    if let Ok(ev) = serde_json::from_value::<SlackInteractionEvent>(value) {
                        match inbound::clicks(&ev) {
                            Ok(clicks) => prop_assert!(!clicks.is_empty()),
                            Err(why) => prop_assert!(!why.reason.trim().is_empty()),
                        }
                    }
                }
                _ => {
                    if let Ok(ev) = serde_json::from_value::<SlackCommandEvent>(value) {
                        let _ = inbound::command(&ev);
                    }
                }
            }
            let cleaned = inbound::clean_text(&text, Some(BOT));
            prop_assert_eq!(cleaned.trim(), cleaned.as_str());
            Ok(())
        },
    );
}

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

struct SlackServer {
    rt: tokio::runtime::Runtime,
    base: String,
    http: reqwest::Client,
    _fake: fake_slack::FakeSlack,
    _bot: common::TestBot,
}

fn slack_server() -> SlackServer {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (base, fake, bot) = rt.block_on(async {
        let fake = fake_slack::FakeSlack::start().await;
        fake.add_user("U0PRIYA", "priya.nair@example.com");
        let bot = common::sandbox_bot("").await;
        let toml = format!(
            "[slack]\nmode = \"events\"\napi_url = \"{}\"\n",
            fake.api_url
        );
        let env = |k: &str| match k {
            "SLACK_BOT_TOKEN" => Some("xoxb-test-token".to_owned()),
            "SLACK_SIGNING_SECRET" => Some(SECRET.to_owned()),
            _ => None,
        };
        let settings = Config::from_toml(&toml, &env)
            .expect("config")
            .slack
            .expect("slack");
        let service = platbot::chat::slack::start(
            Arc::clone(&bot.app.engine),
            &settings,
            &platbot::chat::slack::SlackOptions::default(),
        )
        .await
        .expect("slack");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // An API client, so the API needs a token while Slack's routes go by signature.
        let api = platbot::config::Config::from_toml(
            "[[http.clients]]\nname = \"cli\"\ntoken_env = \"T\"\nuser = \"priya.nair\"",
            &|k| (k == "T").then(|| "api-token-0123456789".to_owned()),
        )
        .expect("config");
        let state = platbot::server::ServerState::new(Arc::clone(&bot.app.engine), &api.http);
        tokio::spawn(platbot::server::serve_with(
            listener,
            state,
            service.routes.clone(),
            std::future::pending(),
        ));
        (format!("http://{addr}"), fake, bot)
    });
    SlackServer {
        rt,
        base,
        http: reqwest::Client::new(),
        _fake: fake,
        _bot: bot,
    }
}

impl SlackServer {
    fn post(
        &self,
        path: &str,
        body: &str,
        form: bool,
        headers: &[(&str, String)],
    ) -> Result<(u16, String), String> {
        self.rt.block_on(async {
            let mut req = self
                .http
                .post(format!("{}{path}", self.base))
                .header(
                    "content-type",
                    if form {
                        "application/x-www-form-urlencoded"
                    } else {
                        "application/json"
                    },
                )
                .body(body.to_owned());
            for (k, v) in headers {
                req = req.header(*k, v.as_str());
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("no answer (a panic?): {e}"))?;
            let status = resp.status().as_u16();
            Ok((status, resp.text().await.unwrap_or_default()))
        })
    }

    fn signed(&self, path: &str, body: &str, form: bool) -> Result<(u16, String), String> {
        let ts = payloads::now();
        let sig = payloads::sign(SECRET, ts, body);
        self.post(
            path,
            body,
            form,
            &[
                ("x-slack-request-timestamp", ts.to_string()),
                ("x-slack-signature", sig),
            ],
        )
    }
}

/// Correctly signed but mutated payloads on the three Slack routes: acknowledged (200) or
/// refused as malformed (400); never a 5xx, a panic or a dropped connection.
#[test]
fn slack_routes_refuse_malformed_payloads_cleanly() {
    let server = slack_server();
    let kinds = [slack_events(), slack_clicks(), slack_commands()];
    check(
        "slack routes",
        cases::SLACK_ROUTES,
        (
            0usize..3,
            any::<usize>(),
            prop::collection::vec(mutation(), 0..4),
            text_cut(),
        ),
        |(kind, which, muts, how)| {
            let valid = &kinds[kind];
            let value = apply(valid[which % valid.len()].clone(), &muts);
            let (path, body, form) = match kind {
                0 => ("/slack/events", cut(&value.to_string(), &how), false),
                1 => (
                    "/slack/interactivity",
                    payloads::form(&[("payload", cut(&value.to_string(), &how))]),
                    true,
                ),
                _ => {
                    let fields: Vec<(String, String)> = value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                            )
                        })
                        .collect();
                    let fields: Vec<(&str, String)> = fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                    ("/slack/commands", cut(&payloads::form(&fields), &how), true)
                }
            };
            let (status, text) = server
                .signed(path, &body, form)
                .map_err(TestCaseError::fail)?;
            prop_assert!(
                status == 200 || status == 400,
                "{path} answered {status} {text:?} to {body:?}"
            );
            Ok(())
        },
    );
}

/// Requests with a wrong, mangled, stale or missing signature are refused with 401 (or 400
/// when the headers are not even readable), never handled.
#[test]
fn slack_signatures_are_checked_before_anything_is_read() {
    let server = slack_server();
    #[derive(Debug, Clone)]
    enum Forge {
        /// The right signature with one hex digit changed.
        FlipDigit(usize),
        /// Signed with another secret.
        OtherSecret(String),
        /// Valid for a timestamp this many seconds away (over 5 minutes).
        Stale(i64),
        /// Arbitrary header values.
        Garbage(String, String),
        /// No signature header.
        Missing,
    }
    let forge = prop_oneof![
        any::<usize>().prop_map(Forge::FlipDigit),
        "[ -~]{1,40}".prop_map(Forge::OtherSecret),
        prop_oneof![301i64..100_000_000, -100_000_000i64..-301].prop_map(Forge::Stale),
        ("[ -~]{0,80}", "[ -~]{0,30}").prop_map(|(s, t)| Forge::Garbage(s, t)),
        Just(Forge::Missing),
    ];
    let body = payloads::callback(
        "EvForged",
        payloads::app_mention(
            "U0PRIYA",
            "C0PLATFORM",
            "1700000001.000100",
            None,
            "restart cart in prod",
        ),
    )
    .to_string();
    check(
        "slack signatures",
        cases::SLACK_SIGNATURES,
        forge,
        |forge| {
            let now = payloads::now();
            let good = payloads::sign(SECRET, now, &body);
            let headers: Vec<(&str, String)> = match &forge {
                Forge::FlipDigit(i) => {
                    let mut sig: Vec<char> = good.chars().collect();
                    let at = 3 + i % (sig.len() - 3);
                    sig[at] = if sig[at] == '0' { '1' } else { '0' };
                    vec![
                        ("x-slack-request-timestamp", now.to_string()),
                        ("x-slack-signature", sig.into_iter().collect()),
                    ]
                }
                Forge::OtherSecret(secret) if secret != SECRET => vec![
                    ("x-slack-request-timestamp", now.to_string()),
                    ("x-slack-signature", payloads::sign(secret, now, &body)),
                ],
                Forge::OtherSecret(_) => return Ok(()),
                Forge::Stale(by) => vec![
                    ("x-slack-request-timestamp", (now + by).to_string()),
                    ("x-slack-signature", payloads::sign(SECRET, now + by, &body)),
                ],
                Forge::Garbage(sig, ts) => vec![
                    ("x-slack-request-timestamp", ts.clone()),
                    ("x-slack-signature", sig.clone()),
                ],
                Forge::Missing => vec![("x-slack-request-timestamp", now.to_string())],
            };
            let (status, text) = server
                .post("/slack/events", &body, false, &headers)
                .map_err(TestCaseError::fail)?;
            match forge {
                Forge::Garbage(..) => prop_assert!(
                    status == 401 || status == 400,
                    "{forge:?}: {status} {text:?}"
                ),
                _ => prop_assert_eq!(status, 401, "{:?}: {:?}", forge, text),
            }
            Ok(())
        },
    );
}

/// Socket Mode: mutated envelopes (and their payloads) and arbitrary frames on platbot's
/// websocket. None may take the connection down: an envelope sent after each one is still
/// acknowledged.
#[test]
fn socket_mode_survives_malformed_frames() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (fake, _bot, _service) = rt.block_on(async {
        let fake = fake_slack::FakeSlack::start().await;
        fake.add_user("U0PRIYA", "priya.nair@example.com");
        let bot = common::sandbox_bot("").await;
        let toml = format!("[slack]\napi_url = \"{}\"\n", fake.api_url);
        let env = |k: &str| match k {
            "SLACK_BOT_TOKEN" => Some("xoxb-test-token".to_owned()),
            "SLACK_APP_TOKEN" => Some("xapp-1-test-token".to_owned()),
            _ => None,
        };
        let settings = Config::from_toml(&toml, &env)
            .expect("config")
            .slack
            .expect("slack");
        let options = platbot::chat::slack::SlackOptions {
            socket: platbot::chat::slack::SocketOptions {
                connections: 1,
                ..Default::default()
            },
        };
        let service = platbot::chat::slack::start(Arc::clone(&bot.app.engine), &settings, &options)
            .await
            .expect("slack");
        fake.wait_for_socket(15).await;
        (fake, bot, service)
    });
    let envelopes: Vec<Value> = [
        ("events_api", slack_events()[0].clone()),
        ("interactive", slack_clicks()[0].clone()),
        ("slash_commands", slack_commands()[0].clone()),
    ]
    .into_iter()
    .map(|(kind, payload)| {
        serde_json::from_str(&payloads::envelope(
            kind,
            "env-fuzz",
            payload,
            kind != "events_api",
        ))
        .unwrap_or(Value::Null)
    })
    .collect();
    #[derive(Debug, Clone)]
    enum Frame {
        Mutated(usize, Vec<Mutation>, TextCut),
        Text(String),
    }
    let frame = prop_oneof![
        4 => mutated(envelopes.clone()).prop_map(|(i, m, c)| Frame::Mutated(i, m, c)),
        1 => nasty_string().prop_map(Frame::Text),
    ];
    let probes = std::sync::atomic::AtomicUsize::new(0);
    check("socket mode", cases::SOCKET_FRAMES, frame, |frame| {
        let text = match &frame {
            Frame::Mutated(i, m, c) => cut(&apply(envelopes[*i].clone(), m).to_string(), c),
            Frame::Text(t) => t.clone(),
        };
        fake.push_frame(&text);
        // An ignored event (a reaction) in a fresh envelope: acknowledged if the socket lives.
        let n = probes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe_id = format!("probe-{n}");
        let probe = payloads::callback(
            &format!("EvProbe{n}"),
            json!({"type": "reaction_added", "user": "U0PRIYA", "reaction": "tada",
                "item": {"type": "message", "channel": "C0PLATFORM", "ts": "1.1"}, "event_ts": "1.2"}),
        );
        fake.push_frame(&payloads::envelope("events_api", &probe_id, probe, false));
        rt.block_on(fake.wait_ack(&probe_id, 10));
        prop_assert_eq!(
            fake.sockets(),
            1,
            "a frame took the connection down: {:?}",
            text
        );
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// The HTTP API
// ---------------------------------------------------------------------------------------------

/// Arbitrary and mutated bodies, content types and ids on every `/api/v1` route: a 2xx, or a
/// 4xx whose body is JSON `{"error": "<something>"}`; never a 5xx, a panic or a dropped
/// connection.
#[test]
fn http_api_bodies_get_a_json_error_never_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (base, _bot) = rt.block_on(async {
        let bot = common::sandbox_bot("").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Rate limits high enough that every case reaches the parsers.
        let limits = platbot::config::HttpLimits {
            requests_per_minute: 100_000,
            ..platbot::config::HttpLimits::default()
        };
        let state = platbot::server::ServerState::local(Arc::clone(&bot.app.engine), limits);
        tokio::spawn(platbot::server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        (format!("http://{addr}"), bot)
    });
    let http = reqwest::Client::new();
    let valid = vec![
        json!({"conversation": "fuzz", "user": "priya.nair", "text": "how is cart doing in prod"}),
        json!({"user": "priya.nair"}),
    ];
    #[derive(Debug, Clone)]
    enum Body {
        Mutated(usize, Vec<Mutation>, TextCut),
        Bytes(Vec<u8>),
    }
    let body = prop_oneof![
        3 => mutated(valid.clone()).prop_map(|(i, m, c)| Body::Mutated(i, m, c)),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Body::Bytes),
    ];
    let route = prop_oneof![
        Just("/api/v1/messages".to_owned()),
        prop_oneof![
            Just("0b5c2f4e-6a43-4f4e-9f57-2a4b8f0f9e11".to_owned()),
            "[ -~]{0,60}",
            "(%[0-9A-F]{2}){1,8}",
        ]
        .prop_flat_map(|id| {
            let id = id.replace(['/', '?', '#'], "_");
            prop_oneof![
                Just(format!("/api/v1/proposals/{id}/confirm")),
                Just(format!("/api/v1/proposals/{id}/cancel")),
                Just(format!("/api/v1/proposals/{id}")),
            ]
        }),
    ];
    let content_type = prop_oneof![
        4 => Just(Some("application/json")),
        1 => Just(Some("text/plain")),
        1 => Just(None),
    ];
    check(
        "http api",
        cases::HTTP_API,
        (route, body, content_type),
        |(route, body, content_type)| {
            let bytes = match &body {
                Body::Mutated(i, m, c) => {
                    cut(&apply(valid[*i].clone(), m).to_string(), c).into_bytes()
                }
                Body::Bytes(b) => b.clone(),
            };
            let get = !route.ends_with("/confirm")
                && !route.ends_with("/cancel")
                && !route.ends_with("/messages");
            let (status, text) = rt
                .block_on(async {
                    let url = format!("{base}{route}");
                    let mut req = if get {
                        http.get(url)
                    } else {
                        http.post(url).body(bytes.clone())
                    };
                    if let Some(ct) = content_type {
                        req = req.header("content-type", ct);
                    }
                    let resp = req.send().await?;
                    let status = resp.status().as_u16();
                    Ok::<_, reqwest::Error>((status, resp.text().await.unwrap_or_default()))
                })
                .map_err(|e| TestCaseError::fail(format!("{route}: no answer (a panic?): {e}")))?;
            prop_assert!(status < 500, "{route}: {status} {text}");
            if status >= 400 {
                let parsed: Value = serde_json::from_str(&text).map_err(|_| {
                    TestCaseError::fail(format!("{route}: {status} without JSON: {text:?}"))
                })?;
                let message = parsed["error"].as_str().unwrap_or_default();
                prop_assert!(!message.trim().is_empty(), "{route}: {status} {text}");
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Files the platform team edits: config, tools, templates, catalog, schedules
// ---------------------------------------------------------------------------------------------

const FULL_CONFIG: &str = r#"
data_dir = ".platbot"
tools_dir = "tools"
[environments.dev]
[environments.staging]
kube_context = "staging-eu"
[environments.prod]
kubeconfig = "/etc/platbot/prod.kubeconfig"
kube_context = "prod-eu"
[catalog]
paths = ["catalog/"]
[oncall]
schedule_file = "catalog/oncall.yaml"
provider = "schedule_file"
cache_seconds = 60
timeout_secs = 5
[oncall.pagerduty]
token_env = "PAGERDUTY_TOKEN"
[oncall.teams.payments]
provider = "pagerduty"
escalation_policy = "PEP4Q7M"
timezone = "Europe/Berlin"
[argocd]
url = "https://argocd.example.com"
token_env = "ARGOCD_TOKEN"
app_name_pattern = "{app}-{env}"
[kubernetes]
mode = "auto"
impersonate = true
[approval]
ttl_minutes = 15
requester_may_confirm = true
approver_groups = ["platform"]
second_approver_environments = ["prod"]
[groups]
platform = ["olga.sre"]
[http]
listen = "127.0.0.1:8080"
[memory]
max_tokens = 2000
max_message_chars = 4000
[llm]
base_url = "http://127.0.0.1:11434/v1"
model = "qwen2.5"
timeout_secs = 30
temperature = 0.1
breaker_cooldown_secs = 30
[knowledge]
docs_base_url = "https://git.example.com/docs/"
score_threshold = 0.4
max_file_bytes = 1048576
[[knowledge.sources]]
name = "runbooks"
path = "ops/**/*.md"
[knowledge.embeddings]
base_url = "http://127.0.0.1:11434/v1"
model = "nomic-embed-text"
timeout_secs = 20
weight = 1.5
[discord]
guilds = ["1100000000000000001"]
gateway_url = "wss://gateway.discord.gg"
[discord.users]
"1100000000000000020" = "priya.nair"
"#;

/// JSON back to TOML (nulls have no TOML form: they are left out).
fn to_toml(v: &Value) -> Option<String> {
    fn conv(v: &Value) -> Option<toml::Value> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64()?),
            },
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Array(a) => toml::Value::Array(a.iter().filter_map(conv).collect()),
            Value::Object(o) => toml::Value::Table(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), conv(v)?)))
                    .collect(),
            ),
        })
    }
    toml::to_string(&conv(v)?).ok()
}

/// The config file, mutated as a tree (fields dropped, retyped, set to special floats and
/// huge numbers) and as text: `Ok`, or an error that names what is wrong.
#[test]
fn config_files_load_or_name_the_mistake() {
    let valid: Value =
        serde_json::to_value(toml::from_str::<toml::Value>(FULL_CONFIG).expect("toml"))
            .expect("json");
    // Secrets for the integrations the file names; none for Slack (no [slack] table), a
    // bot-token-shaped one for Discord.
    let env = |k: &str| match k {
        "DISCORD_TOKEN" => Some("MTEw.GfAkE1.s3cret".to_owned()),
        _ => (!k.starts_with("SLACK") && (k.ends_with("TOKEN") || k.ends_with("KEY")))
            .then(|| "s3cret".to_owned()),
    };
    Config::from_toml(FULL_CONFIG, &env).expect("the valid config loads");
    let special = prop_oneof![
        Just("nan"),
        Just("inf"),
        Just("-inf"),
        Just("1e300"),
        Just("-0.0"),
        Just("18446744073709551615"),
        Just("-9223372036854775808"),
    ];
    check(
        "config",
        cases::CONFIG,
        (
            prop::collection::vec(mutation(), 0..5),
            text_cut(),
            prop::option::of((any::<prop::sample::Index>(), special)),
        ),
        |(muts, how, special)| {
            let mutated = apply(valid.clone(), &muts);
            let Some(text) = to_toml(&mutated) else {
                return Ok(());
            };
            let mut text = cut(&text, &how);
            // A numeric field set to a value JSON cannot carry.
            if let Some((i, value)) = special {
                let numeric: Vec<usize> = text
                    .match_indices(" = ")
                    .map(|(at, _)| at + 3)
                    .filter(|at| text[*at..].starts_with(|c: char| c.is_ascii_digit()))
                    .collect();
                if !numeric.is_empty() {
                    let at = numeric[i.index(numeric.len())];
                    let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
                    text.replace_range(at..end, value);
                }
            }
            match Config::from_toml(&text, &env) {
                Ok(c) => {
                    let _ = c.summary();
                }
                Err(e) => prop_assert!(e.to_string().len() > 10, "unclear: {e}"),
            }
            Ok(())
        },
    );
}

fn tool_files() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tools/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("read");
            out.push(serde_norway::from_str(&text).expect("tool yaml"));
        }
    }
    assert!(out.len() >= 10);
    out
}

/// `tools/*.yaml` mutated: loads, or an error naming the file; a loaded tool can be planned with.
#[test]
fn tool_files_load_or_name_the_file() {
    let valid = tool_files();
    check(
        "tools yaml",
        cases::TOOLS_YAML,
        mutated(valid.clone()),
        |(i, muts, how)| {
            let yaml = serde_norway::to_string(&apply(valid[i].clone(), &muts))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let text = cut(&yaml, &how);
            match AliasTable::from_yaml("tools/fuzzed.yaml", &text) {
                Ok(tool) => {
                    let mut table = AliasTable::default();
                    table
                        .insert("tools/fuzzed.yaml", tool)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let planner =
                        AliasPlanner::new(all_tools(), table, Arc::new(Catalog::sandbox()));
                    let _ = planner.plan("how is cart doing in prod", &PlanContext::default());
                }
                Err(e) => prop_assert!(e.to_string().contains("tools/fuzzed.yaml"), "{e}"),
            }
            Ok(())
        },
    );
}

fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{prefix}/{k}");
                out.insert(p.clone());
                key_paths(child, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                key_paths(child, &format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Golden-path templates: any values (as a request could carry) render to the same objects
/// with the same fields, or a clear error; mutated templates render or name the file.
#[test]
fn golden_path_templates_render_or_name_the_file() {
    let builtin = GoldenPaths::builtin().namespace;
    let benign: BTreeMap<&str, String> = BTreeMap::from([
        ("namespace", "payments-dev".to_owned()),
        ("team", "payments".to_owned()),
        ("environment", "dev".to_owned()),
        ("group", "payments".to_owned()),
        ("owner_email", "team-payments@example.com".to_owned()),
        ("requester", "priya.nair".to_owned()),
    ]);
    let shape = |objs: &[kube::api::DynamicObject]| -> Vec<(String, BTreeSet<String>)> {
        objs.iter()
            .map(|o| {
                let v = serde_json::to_value(o).unwrap_or_default();
                let mut keys = BTreeSet::new();
                key_paths(&v, "", &mut keys);
                (
                    o.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default(),
                    keys,
                )
            })
            .collect()
    };
    let expected = shape(&render(&builtin, &benign).expect("builtin templates render"));
    let templates: Vec<Value> = builtin
        .iter()
        .map(|t| {
            serde_norway::from_str(&t.text.replace("{{", "<<").replace("}}", ">>"))
                .unwrap_or(Value::Null)
        })
        .collect();
    check(
        "golden-path templates",
        cases::TEMPLATES,
        (
            prop::collection::vec(nasty_string(), 6),
            prop::option::of(mutated(templates.clone())),
        ),
        |(values, template)| {
            let mut vars = benign.clone();
            for ((_, v), new) in vars.iter_mut().zip(&values).filter(|((k, _), _)| {
                // The names are typed (DNS labels) before they get here; the free text is not.
                matches!(**k, "owner_email" | "requester")
            }) {
                *v = new.clone();
            }
            match &template {
                None => match render(&builtin, &vars) {
                    Ok(objs) => prop_assert_eq!(shape(&objs), expected.clone()),
                    Err(e) => prop_assert!(e.to_string().contains(".yaml"), "{e}"),
                },
                Some((i, muts, how)) => {
                    let text = serde_norway::to_string(&apply(templates[*i].clone(), muts))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?
                        .replace("<<", "{{")
                        .replace(">>", "}}");
                    let mut fuzzed = builtin.clone();
                    fuzzed[*i].text = cut(&text, how);
                    if let Err(e) = render(&fuzzed, &vars) {
                        prop_assert!(
                            e.to_string().contains(&fuzzed[*i].file)
                                || e.to_string().contains(".yaml"),
                            "{e}"
                        );
                    }
                }
            }
            Ok(())
        },
    );
}

fn yaml_docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("read");
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .collect()
}

/// Catalog entities (Backstage YAML) mutated, several per stream: a catalog whose lookups work
/// on any text, or an error naming the origin and the document.
#[test]
fn catalog_yaml_loads_or_names_the_document() {
    let mut valid = yaml_docs("sandbox/catalog/groups.yaml");
    valid.extend(yaml_docs("sandbox/catalog/components.yaml"));
    check(
        "catalog yaml",
        cases::CATALOG,
        (
            prop::collection::vec(mutated(valid.clone()), 1..4),
            nasty_string(),
        ),
        |(docs, query)| {
            let mut stream = String::new();
            for (i, muts, how) in &docs {
                let yaml = serde_norway::to_string(&apply(valid[*i].clone(), muts))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                stream.push_str("---\n");
                stream.push_str(&cut(&yaml, how));
                stream.push('\n');
            }
            match Catalog::from_yaml_str(&stream, "fuzz.yaml") {
                Ok(catalog) => {
                    let _ = catalog.resolve_service(&query);
                    let _ = catalog.resolve_team(&query);
                    let _ = catalog.user(&query);
                    for s in catalog.services() {
                        for env in ["dev", "staging", "prod"] {
                            let env = Environment::parse(env)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                            let _ = catalog.namespace_of(s, &env);
                        }
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("fuzz.yaml"), "{e}"),
            }
            Ok(())
        },
    );
}

/// The on-call schedule file mutated: rotations, or an error naming the file.
#[test]
fn oncall_schedule_files_load_or_name_the_file() {
    let valid = yaml_docs("sandbox/catalog/oncall.yaml");
    check(
        "schedule yaml",
        cases::SCHEDULE,
        mutated(valid.clone()),
        |(i, muts, how)| {
            let yaml = serde_norway::to_string(&apply(valid[i].clone(), &muts))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(e) = platbot::platform::oncall::schedule::ScheduleFile::from_yaml_str(
                &cut(&yaml, &how),
                "oncall-fuzz.yaml",
            ) {
                prop_assert!(e.to_string().contains("oncall-fuzz.yaml"), "{e}");
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Docs ingest
// ---------------------------------------------------------------------------------------------

/// Lines a docs file is made of, in any order: headings of every kind, fences left open,
/// tables, front matter, comments, links, setext/reST underlines, CRLF, a BOM, odd unicode.
fn markdown() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("---".to_owned()),
        Just("title: \"Fuzz\"".to_owned()),
        "#{1,8} ?\\PC{0,20}",
        "[=\\-~^*\"]{1,12}",
        Just("```".to_owned()),
        Just("~~~sh".to_owned()),
        "\\|[ a-z|\\-]{0,20}",
        Just("<!-- open".to_owned()),
        Just("-->".to_owned()),
        "\\[\\PC{0,8}\\]\\(\\PC{0,8}\\)?!?\\[?",
        Just("\u{feff}\r".to_owned()),
        Just(String::new()),
        nasty_string(),
        "[a-z ]{0,60}",
    ];
    prop::collection::vec(line, 0..60).prop_map(|lines| lines.join("\n"))
}

/// Markdown/text ingest and chunking: any file parses into sections, every chunk is within
/// the token limit unless one line alone is longer, and link/anchor/title helpers hold on any text.
#[test]
fn markdown_ingest_and_chunking_hold_on_any_text() {
    let limits = ChunkLimits {
        max_tokens: 60,
        min_tokens: 20,
        overlap_tokens: 10,
    };
    check(
        "markdown",
        cases::MARKDOWN,
        (markdown(), "[a-z/._ \\-]{0,30}\\.(md|txt|rst)"),
        |(text, path)| {
            let doc = parse(&path, &text);
            prop_assert!(
                !doc.title.is_empty() || path.is_empty() || title_from_path(&path).is_empty()
            );
            for c in chunk(&doc, &limits) {
                prop_assert!(!c.text.trim().is_empty());
                // Over the limit only when one line alone (with a code fence around it) is.
                let longest_line = c.text.lines().map(count_tokens).max().unwrap_or(0);
                prop_assert!(
                    c.tokens <= limits.max_tokens || longest_line + 16 > limits.max_tokens / 2,
                    "chunk of {} tokens: {:?}",
                    c.tokens,
                    c.text
                );
            }
            let _ = plain_links(&text);
            let _ = anchor(&text);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The planner's text handling
// ---------------------------------------------------------------------------------------------

/// Message text: real request words mixed with adversarial tokens (huge and negative numbers,
/// number words, unicode, control characters, mentions, service and team names).
fn message_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        3 => prop::sample::select(vec![
            "scale", "restart", "rollback", "logs", "status", "namespace", "create", "for", "to",
            "in", "prod", "production", "staging", "dev", "cart", "payments", "search",
            "checkout", "replicas", "revision", "lines", "memory", "limit", "Gi", "Mi", "who",
            "on", "call", "is", "the", "last", "of", "yes", "cancel", "please", "twenty",
            "thousand", "million", "one", "hundred", "k8s", "500", "404", "v2", "-", "2Gi",
        ])
        .prop_map(str::to_owned),
        1 => "[0-9]{1,40}",
        1 => "-[0-9]{1,25}",
        1 => (1usize..16).prop_map(|n| vec!["hundred"; n].join(" ")),
        1 => "[0-9]{1,6}(Gi|Mi|Ki|G|M|Ti|Ei|e9|\\.5)",
        1 => nasty_string(),
    ];
    prop::collection::vec(word, 0..14).prop_map(|w| w.join(" "))
}

fn planner() -> AliasPlanner {
    AliasPlanner::new(
        all_tools(),
        AliasTable::builtin(),
        Arc::new(Catalog::sandbox()),
    )
}

/// `AliasPlanner::plan` on arbitrary and adversarial text, alone and as the follow-up of a
/// pending question or an earlier call: an intent whose tool exists and whose arguments the
/// action accepts or refuses with a message; a question or reply that says something.
#[test]
fn the_alias_planner_reads_any_text() {
    let planner = planner();
    let registry = Registry::standard();
    let previous = ToolCall {
        tool: platbot::domain::ToolName::ScaleDeployment,
        args: Map::from_iter([
            ("service".to_owned(), json!("cart")),
            ("environment".to_owned(), json!("prod")),
            ("replicas".to_owned(), json!(3)),
        ]),
    };
    let pending = Clarification {
        tool: platbot::domain::ToolName::PodLogs,
        args: Map::from_iter([("service".to_owned(), json!("search"))]),
        missing: vec!["environment".into()],
        question: "Which environment?".into(),
        choices: Vec::new(),
    };
    check(
        "alias planner",
        cases::PLANNER,
        (message_text(), 0u8..3),
        |(text, context)| {
            let ctx = match context {
                0 => PlanContext::default(),
                1 => PlanContext {
                    pending: Some(pending.clone()),
                    ..PlanContext::default()
                },
                _ => PlanContext {
                    previous: Some(previous.clone()),
                    ..PlanContext::default()
                },
            };
            match planner.plan(&text, &ctx) {
                Intent::Call(call) => {
                    let entry = registry.get(call.tool);
                    prop_assert!(entry.is_some(), "unknown tool {}", call.tool);
                    if let Some(RegistryEntry::Mutate(m)) = entry
                        && let Err(e) = m.check(Value::Object(call.args.clone()))
                    {
                        prop_assert!(!e.to_string().trim().is_empty());
                    }
                }
                Intent::Clarify(c) => prop_assert!(!c.question.trim().is_empty()),
                Intent::NotPlatform { reply } => prop_assert!(!reply.trim().is_empty()),
            }
            let _ = planner.refusal(&text);
            Ok(())
        },
    );
}

/// Whole turns through the engine (memory, planner, reads against the sandbox, replies):
/// every message gets at least one reply that says something.
#[test]
fn every_message_gets_a_reply() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let bot = rt.block_on(common::sandbox_bot(""));
    check(
        "engine turns",
        cases::ENGINE,
        (message_text(), 0u8..4),
        |(text, thread)| {
            let replies = rt.block_on(bot.say(&format!("fuzz-{thread}"), "priya.nair", &text));
            prop_assert!(!replies.is_empty(), "{text:?}");
            for r in &replies {
                prop_assert!(!r.text.trim().is_empty(), "{text:?}: {r:?}");
            }
            Ok(())
        },
    );
}

// ---- the approval state machine ------------------------------------------------------------

/// One step of the approval model: which process (store handle) acts, on which proposal, as whom.
#[derive(Debug, Clone)]
enum Step {
    Propose {
        prod: bool,
    },
    /// A proposal whose expiry has already passed when anyone answers it.
    ProposeExpired,
    Confirm {
        handle: usize,
        proposal: usize,
        who: usize,
    },
    Cancel {
        handle: usize,
        proposal: usize,
        who: usize,
    },
    /// A process finishes a grant it holds.
    Finish {
        grant: usize,
    },
    /// A process starts on the same database and recovers interrupted executions.
    Recover {
        handle: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => any::<bool>().prop_map(|prod| Step::Propose { prod }),
        1 => Just(Step::ProposeExpired),
        6 => (0..2usize, 0..6usize, 0..4usize)
            .prop_map(|(handle, proposal, who)| Step::Confirm { handle, proposal, who }),
        1 => (0..2usize, 0..6usize, 0..4usize)
            .prop_map(|(handle, proposal, who)| Step::Cancel { handle, proposal, who }),
        2 => (0..6usize).prop_map(|grant| Step::Finish { grant }),
        1 => (0..2usize).prop_map(|handle| Step::Recover { handle }),
    ]
}

/// Random propose / confirm / cancel / expire / recover sequences over two store handles on
/// one database (two processes): at most one grant per proposal, a grant only with the
/// distinct approvers the policy requires (two in prod), none for a cancelled or expired one.
#[test]
fn approvals_grant_at_most_once_with_the_required_approvers() {
    use platbot::approval::{
        Actor, ApprovalPolicy, Approvals, Confirmation, ExecutionGrant, ProposalDraft, ProposalId,
        ProposalState,
    };
    use platbot::chat::{ConversationKey, Surface};
    use std::collections::HashMap;

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // alice asks; olga and ravi are approvers; mallory is nobody.
    let people: [(&str, &[&str]); 4] = [
        ("alice", &["payments"]),
        ("olga", &["platform"]),
        ("ravi", &["platform"]),
        ("mallory", &[]),
    ];
    let actor = |i: usize| Actor {
        id: UserId::parse(people[i].0).expect("user"),
        groups: people[i].1.iter().map(|g| (*g).to_owned()).collect(),
        via: None,
    };
    let policy = ApprovalPolicy {
        requester_may_confirm: true,
        approver_groups: vec!["platform".into()],
        second_approver_environments: vec![Environment::parse("prod").expect("env")],
        per_action: Default::default(),
    };
    check(
        "approval state machine",
        cases::APPROVALS,
        prop::collection::vec(step(), 1..40),
        |steps| {
            rt.block_on(async {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = dir.path().join("platbot.db");
                let ttl = jiff::SignedDuration::from_mins(15);
                let mut handles = Vec::new();
                for _ in 0..2 {
                    let store = platbot::store::Store::open(&db).await.expect("store");
                    handles.push(Approvals::new(store, policy.clone(), ttl));
                }
                let expired = Approvals::new(
                    platbot::store::Store::open(&db).await.expect("store"),
                    policy.clone(),
                    jiff::SignedDuration::from_secs(-1),
                );
                let mut proposals: Vec<(ProposalId, bool, bool)> = Vec::new(); // id, prod, expired
                let mut held: Vec<(usize, ExecutionGrant)> = Vec::new();
                let mut grants: HashMap<ProposalId, usize> = HashMap::new();
                let mut cancelled: Vec<ProposalId> = Vec::new();
                for s in steps {
                    match s {
                        Step::Propose { .. } | Step::ProposeExpired if proposals.len() < 6 => {
                            let (by, prod, gone) = match s {
                                Step::Propose { prod } => (&handles[0], prod, false),
                                _ => (&expired, false, true),
                            };
                            let p = by
                                .propose(ProposalDraft {
                                    action: platbot::domain::ToolName::RestartDeployment,
                                    args: json!({"service": "ledger"}),
                                    plan: Default::default(),
                                    environment: Some(
                                        Environment::parse(if prod { "prod" } else { "dev" })
                                            .expect("env"),
                                    ),
                                    requester: actor(0).id,
                                    conversation: ConversationKey::new(Surface::Http, "p", "t"),
                                    via: None,
                                })
                                .await
                                .expect("propose");
                            proposals.push((p.id, prod, gone));
                        }
                        Step::Propose { .. } | Step::ProposeExpired => {}
                        Step::Confirm {
                            handle,
                            proposal,
                            who,
                        } => {
                            let Some(&(id, prod, gone)) = proposals.get(proposal) else {
                                continue;
                            };
                            match handles[handle].confirm(id, &actor(who)).await {
                                Ok(Confirmation::Execute(grant)) => {
                                    let n = grants.entry(id).or_default();
                                    *n += 1;
                                    prop_assert_eq!(*n, 1, "a second grant for {}", id);
                                    prop_assert!(!gone, "a grant for an expired proposal");
                                    prop_assert!(!cancelled.contains(&id), "a grant after cancel");
                                    let approvals = &grant.proposal().approvals;
                                    let distinct: BTreeSet<&str> =
                                        approvals.iter().map(UserId::as_str).collect();
                                    prop_assert_eq!(distinct.len(), approvals.len());
                                    prop_assert_eq!(approvals.len(), if prod { 2 } else { 1 });
                                    prop_assert!(
                                        approvals.iter().all(
                                            |u| ["alice", "olga", "ravi"].contains(&u.as_str())
                                        ),
                                        "an approver the policy does not allow: {:?}",
                                        approvals
                                    );
                                    held.push((handle, grant));
                                }
                                Ok(Confirmation::AwaitingSecondApprover(p)) => {
                                    prop_assert!(prod && !gone);
                                    prop_assert_eq!(p.approvals.len(), 1);
                                }
                                Err(_) => {}
                            }
                        }
                        Step::Cancel {
                            handle,
                            proposal,
                            who,
                        } => {
                            let Some(&(id, _, _)) = proposals.get(proposal) else {
                                continue;
                            };
                            if let Ok(p) = handles[handle].cancel(id, &actor(who)).await {
                                prop_assert_eq!(p.state, ProposalState::Cancelled);
                                prop_assert!(!grants.contains_key(&id), "cancelled after a grant");
                                prop_assert_ne!(who, 3, "mallory cancelled");
                                cancelled.push(id);
                            }
                        }
                        Step::Finish { grant } if grant < held.len() => {
                            let (handle, grant) = held.remove(grant);
                            let done = handles[handle]
                                .finish(grant, Ok("done".into()), 1)
                                .await
                                .expect("the grant's owner records the outcome");
                            prop_assert_eq!(done.state, ProposalState::Succeeded);
                        }
                        Step::Finish { .. } => {}
                        Step::Recover { handle } => {
                            // Every execution in flight holds a live lease: nothing to recover.
                            let recovered = handles[handle]
                                .recover_interrupted()
                                .await
                                .expect("recover");
                            prop_assert_eq!(recovered, 0);
                        }
                    }
                }
                Ok(())
            })
        },
    );
}
