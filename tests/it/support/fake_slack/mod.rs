//! A fake Slack for the tests: the Web API methods platbot calls, over real HTTP on
//! loopback, plus a Socket Mode websocket server.
//!
//! It emulates: `auth.test`; `chat.postMessage`, `chat.update`, `chat.postEphemeral`
//! (recorded, with Slack's limits checked: at most 50 blocks, section text at most 3000
//! characters, else `invalid_blocks`; a `not_in_channel` answer for channel
//! [`NOT_IN_CHANNEL`]); `users.info` from a table set by the test (`user_not_found`
//! otherwise); `apps.connections.open` handing out a `ws://` URL of its own websocket
//! server, which sends `hello`, forwards envelopes the test pushes and records acks, and on
//! the test's word holds back `hello`, drops every connection (no close frame, as a network
//! loss) or refuses new ones (`apps.connections.open` fails);
//! slash-command `response_url` posts (recorded); 429 with `Retry-After` for the next calls
//! of a method when the test asks, or past a rate per method and channel (a fixed
//! one-second window, `Retry-After: 1`); a delay per method; bearer tokens checked by prefix
//! (`xoxb-` for bot methods, `xapp-` for `apps.connections.open`).
//!
//! It does not emulate: OAuth scopes, channel membership beyond that one channel, message
//! storage (history, threads, `chat.update` of a message that does not exist), Block Kit
//! validation beyond the two limits above, mrkdwn rendering, Slack's own rate limits and
//! tiers (only the scripted 429s and the rate a test sets), `disconnect` / refresh of Socket Mode connections, several
//! connections per app, Events API delivery (the tests sign and send those themselves).

pub mod payloads;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

pub const BOT_USER: &str = "U0BOT";
pub const NOT_IN_CHANNEL: &str = "C0NOTIN";

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The JSON body, or the query / form parameters as a JSON object.
    pub body: Value,
    pub status: u16,
    /// What the fake answered (for `chat.postMessage`, the `ts` it gave the message).
    pub response: Value,
    pub at: Instant,
}

impl Call {
    pub fn ok(&self) -> bool {
        self.status == 200 && self.response["ok"] == true
    }
    /// The `ts` Slack gave a posted message.
    pub fn ts(&self) -> String {
        self.response["ts"].as_str().unwrap_or_default().to_owned()
    }
    pub fn str(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }
    /// Everything the message shows: its text and every text inside its blocks.
    pub fn shown_text(&self) -> String {
        let mut out = self.str("text").unwrap_or_default().to_owned();
        collect_texts(self.body.get("blocks").unwrap_or(&Value::Null), &mut out);
        out
    }
    pub fn blocks(&self) -> Vec<Value> {
        self.body
            .get("blocks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
    /// The proposal id a card's Confirm button carries.
    pub fn confirm_value(&self) -> Option<String> {
        self.blocks()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .find(|e| e["action_id"] == "platbot_confirm")
            .and_then(|e| e["value"].as_str().map(str::to_owned))
    }
    pub fn has_buttons(&self) -> bool {
        self.blocks().iter().any(|b| b["type"] == "actions")
    }
}

fn collect_texts(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(t)) = m.get("text") {
                out.push('\n');
                out.push_str(t);
            }
            for (k, x) in m {
                if k != "text" || !x.is_string() {
                    collect_texts(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_texts(x, out)),
        _ => {}
    }
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    users: Mutex<HashMap<String, String>>,
    guests: Mutex<std::collections::HashSet<String>>,
    limited: Mutex<HashMap<String, VecDeque<u64>>>,
    delays: Mutex<HashMap<String, Duration>>,
    next_ts: AtomicU64,
    ws_url: Mutex<String>,
    sockets: Mutex<Vec<(u64, mpsc::UnboundedSender<String>)>>,
    next_socket: AtomicU64,
    /// Bumped by every `drop_sockets`: a connection still greeting when it ran
    /// is dropped too, as a network loss would.
    drops: AtomicU64,
    acks: Mutex<Vec<Value>>,
    hello_held: AtomicBool,
    rates: Mutex<HashMap<String, u32>>,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    refusing: AtomicBool,
}

pub struct FakeSlack {
    /// The Web API base, as `[slack] api_url` takes it.
    pub api_url: String,
    /// Where `response_url`s point.
    pub base: String,
    state: Arc<FakeState>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let state = Arc::new(FakeState {
            next_ts: AtomicU64::new(1),
            ..FakeState::default()
        });
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *lock(&state.ws_url) = format!("ws://{}/link/", ws.local_addr().unwrap());
        tokio::spawn(serve_websockets(ws, Arc::clone(&state)));

        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/response/{*rest}", any(response_url))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeSlack {
            api_url: format!("http://{addr}/api"),
            base: format!("http://{addr}"),
            state,
        }
    }

    /// `users.info` for `slack_id` answers with this email.
    pub fn add_user(&self, slack_id: &str, email: &str) {
        lock(&self.state.users).insert(slack_id.to_owned(), email.to_owned());
    }

    /// `users.info` for `slack_id` answers with this email and `is_restricted: true`, as for
    /// a multi-channel guest.
    pub fn add_guest(&self, slack_id: &str, email: &str) {
        self.add_user(slack_id, email);
        lock(&self.state.guests).insert(slack_id.to_owned());
    }

    /// The next calls of `method` get 429 with these `Retry-After` seconds, one per call.
    pub fn rate_limit(&self, method: &str, retry_after_secs: &[u64]) {
        lock(&self.state.limited)
            .entry(method.to_owned())
            .or_default()
            .extend(retry_after_secs);
    }

    /// More than `per_second` calls of `method` into one channel within a second get 429.
    pub fn limit_rate(&self, method: &str, per_second: u32) {
        lock(&self.state.rates).insert(method.to_owned(), per_second);
    }

    /// Every call of `method` takes this long to answer.
    pub fn delay(&self, method: &str, by: Duration) {
        lock(&self.state.delays).insert(method.to_owned(), by);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Successful posts of messages that others see (postMessage, update, ephemeral).
    pub fn visible_posts(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(
                    c.method.as_str(),
                    "chat.postMessage" | "chat.update" | "chat.postEphemeral" | "response_url"
                )
            })
            .collect()
    }

    /// Waits until `check` holds over the recorded calls, or panics after `secs`.
    pub async fn wait_for<T>(
        &self,
        secs: u64,
        what: &str,
        check: impl Fn(&[Call]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check(&self.calls()) {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; calls: {:#?}", self.calls());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets queued work finish, then asserts the recorded calls are still what they were.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(400)).await;
    }

    /// Socket Mode: waits for platbot's websocket.
    pub async fn wait_for_socket(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while lock(&self.state.sockets).is_empty() {
            assert!(
                Instant::now() < deadline,
                "platbot never opened the Socket Mode websocket"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Socket Mode: sends a frame to platbot over its newest connection.
    pub fn push_frame(&self, frame: &str) {
        let sockets = lock(&self.state.sockets);
        let (_, tx) = sockets.last().expect("no Socket Mode connection");
        tx.send(frame.to_owned()).expect("socket closed");
    }

    /// Socket Mode: new connections get no `hello` until this is turned off again.
    pub fn hold_hello(&self, held: bool) {
        self.state.hello_held.store(held, Ordering::SeqCst);
    }

    /// Socket Mode: `apps.connections.open` fails while this is on.
    pub fn refuse_sockets(&self, refusing: bool) {
        self.state.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Socket Mode: ends every open connection without a close frame.
    pub fn drop_sockets(&self) {
        let mut sockets = lock(&self.state.sockets);
        self.state.drops.fetch_add(1, Ordering::SeqCst);
        sockets.clear();
    }

    /// Socket Mode: open connections.
    pub fn sockets(&self) -> usize {
        lock(&self.state.sockets).len()
    }

    /// Socket Mode: waits for the ack of `envelope_id` and returns it.
    pub async fn wait_ack(&self, envelope_id: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(a) = lock(&self.state.acks)
                .iter()
                .find(|a| a["envelope_id"] == envelope_id)
            {
                return a.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no ack for envelope {envelope_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Value {
    let form_like = |s: &str| {
        Value::Object(
            url_pairs(s)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice(body).unwrap_or(Value::Null);
    }
    if !body.is_empty() {
        return form_like(&String::from_utf8_lossy(body));
    }
    form_like(query.unwrap_or_default())
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Slack's limits on what a message may carry.
fn check_blocks(body: &Value) -> Result<(), &'static str> {
    let blocks = body.get("blocks").and_then(Value::as_array);
    let has_text = body
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    match blocks {
        None if !has_text => Err("no_text"),
        None => Ok(()),
        Some(b) if b.len() > 50 => Err("invalid_blocks"),
        Some(b) => {
            for block in b {
                if block["type"] == "section"
                    && block["text"]["text"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() > 3000 || t.is_empty())
                {
                    return Err("invalid_blocks");
                }
            }
            Ok(())
        }
    }
}

async fn api(
    State(state): State<Arc<FakeState>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = params(query.as_deref(), &headers, &body);
    let delay = lock(&state.delays).get(&method).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let (status, answer) = answer(&state, &method, &headers, &body);
    lock(&state.calls).push(Call {
        method: method.clone(),
        body,
        status,
        response: answer.clone(),
        at: Instant::now(),
    });
    if status == 429 {
        let secs = answer["retry_after"].as_u64().unwrap_or(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        Json(answer),
    )
        .into_response()
}

fn slack_error(code: &str) -> (u16, Value) {
    (200, json!({"ok": false, "error": code}))
}

/// Counts the call in its method and channel's one-second window: past the rate set?
fn over_rate(state: &FakeState, method: &str, body: &Value) -> bool {
    let Some(per_second) = lock(&state.rates).get(method).copied() else {
        return false;
    };
    let channel = body.get("channel").and_then(Value::as_str).unwrap_or("");
    let now = Instant::now();
    let mut windows = lock(&state.windows);
    let window = windows
        .entry(format!("{method} {channel}"))
        .or_insert((now, 0));
    if now.duration_since(window.0) >= Duration::from_secs(1) {
        *window = (now, 0);
    }
    window.1 += 1;
    window.1 > per_second
}

fn answer(state: &FakeState, method: &str, headers: &HeaderMap, body: &Value) -> (u16, Value) {
    if let Some(secs) = lock(&state.limited)
        .get_mut(method)
        .and_then(VecDeque::pop_front)
    {
        return (
            429,
            json!({"ok": false, "error": "ratelimited", "retry_after": secs}),
        );
    }
    if over_rate(state, method, body) {
        return (
            429,
            json!({"ok": false, "error": "ratelimited", "retry_after": 1}),
        );
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let wants = if method == "apps.connections.open" {
        "xapp-"
    } else {
        "xoxb-"
    };
    if !token.starts_with(wants) {
        return slack_error(if token.is_empty() {
            "not_authed"
        } else {
            "invalid_auth"
        });
    }
    let ts = || {
        let n = state.next_ts.fetch_add(1, Ordering::SeqCst);
        format!("1700000100.{n:06}")
    };
    let channel = body
        .get("channel")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let text = body.get("text").cloned().unwrap_or(Value::Null);
    match method {
        "auth.test" => (
            200,
            json!({"ok": true, "url": "https://fake.slack.test/", "team": "Fake Co",
            "user": "platbot", "team_id": "T0FAKE", "user_id": BOT_USER, "bot_id": "B0BOT"}),
        ),
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => {
            if channel.is_empty() {
                return slack_error("channel_not_found");
            }
            if channel == NOT_IN_CHANNEL {
                return slack_error("not_in_channel");
            }
            if let Err(code) = check_blocks(body) {
                return slack_error(code);
            }
            let answer = match method {
                "chat.postMessage" => {
                    let ts = ts();
                    json!({"ok": true, "channel": channel, "ts": ts, "message": {
                        "type": "message", "user": BOT_USER, "bot_id": "B0BOT", "ts": ts, "text": text}})
                }
                "chat.update" => json!({"ok": true, "channel": channel, "ts": body["ts"],
                    "text": text, "message": {"text": text}}),
                _ => json!({"ok": true, "message_ts": ts()}),
            };
            (200, answer)
        }
        "users.info" => {
            let user = body.get("user").and_then(Value::as_str).unwrap_or_default();
            let guest = lock(&state.guests).contains(user);
            match lock(&state.users).get(user) {
                Some(email) => (
                    200,
                    json!({"ok": true, "user": {"id": user, "team_id": "T0FAKE",
                    "name": email.split('@').next(), "deleted": false, "is_bot": false,
                    "is_restricted": guest,
                    "profile": {"email": email, "real_name": "Someone", "display_name": "someone"}}}),
                ),
                None => slack_error("user_not_found"),
            }
        }
        "apps.connections.open" if state.refusing.load(Ordering::SeqCst) => {
            slack_error("internal_error")
        }
        "apps.connections.open" => {
            let url = lock(&state.ws_url).clone();
            (
                200,
                json!({"ok": true, "url": format!("{url}?ticket={}", ts())}),
            )
        }
        _ => (404, json!({"ok": false, "error": "unknown_method"})),
    }
}

async fn response_url(
    State(state): State<Arc<FakeState>>,
    Path(_rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = params(None, &headers, &body);
    lock(&state.calls).push(Call {
        method: "response_url".into(),
        body,
        status: 200,
        response: json!({"ok": true}),
        at: Instant::now(),
    });
    // Slack's response_url answers a plain "ok".
    (StatusCode::OK, "ok").into_response()
}

async fn serve_websockets(listener: tokio::net::TcpListener, state: Arc<FakeState>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        let born = state.drops.load(Ordering::SeqCst);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (mut write, mut read) = ws.split();
            while state.hello_held.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            let hello = json!({"type": "hello", "num_connections": 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A0PLATBOT"}});
            if write
                .send(WsMessage::Text(hello.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            let id = state.next_socket.fetch_add(1, Ordering::SeqCst);
            {
                // Checked under the lock `drop_sockets` bumps `drops` under.
                let mut sockets = lock(&state.sockets);
                if state.drops.load(Ordering::SeqCst) != born {
                    return;
                }
                sockets.push((id, tx));
            }
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(frame) => {
                            if write.send(WsMessage::Text(frame.into())).await.is_err() {
                                break;
                            }
                        }
                        None => break,
                    },
                    inc = read.next() => match inc {
                        Some(Ok(WsMessage::Text(t))) => {
                            if let Ok(v) = serde_json::from_str::<Value>(&t) {
                                lock(&state.acks).push(v);
                            }
                        }
                        Some(Ok(WsMessage::Ping(p))) => {
                            let _ = write.send(WsMessage::Pong(p)).await;
                        }
                        Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            lock(&state.sockets).retain(|(i, _)| *i != id);
        });
    }
}
