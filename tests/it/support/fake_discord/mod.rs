//! A fake Discord for the tests: the REST API v10 endpoints platbot calls, served over TLS as
//! `https://discord.com` (the test's HTTP client resolves discord.com to it and trusts the
//! fake's own CA, so serenity's real REST path, rate limiter included, runs unchanged), and
//! a gateway websocket (the `ws://` URL comes from `GET /gateway`).
//!
//! It emulates: `GET /gateway`, `/gateway/bot`, `/users/@me`, `/oauth2/applications/@me`
//! (a `Bot ` token is required, else 401); `PUT` of global and guild commands (recorded);
//! `GET /channels/{id}` for the channels a test declares (10003 Unknown Channel otherwise);
//! creating messages, editing the bot's own messages, starting a thread from a message (the
//! thread's id is the message's); interaction callbacks (types 4, 5, 6; refused with 10062
//! Unknown interaction after 3 seconds or when repeated), editing `@original` and followups
//! (refused with 10015 before a callback); Discord's message limits (2000 characters of
//! content, 10 embeds, title 256, description 4096, 25 fields, name 256, value 1024, footer
//! 2048, 6000 per message), answered with 400 / 50035 Invalid Form Body; a 429 with
//! `Retry-After` and `X-RateLimit-*` headers for the next calls of a route when the test
//! asks. The gateway: HELLO, IDENTIFY -> READY, heartbeats -> ACK, dispatches the test
//! pushes (numbered, kept for replay), a forced drop (TCP closed without a close frame), and
//! RESUME -> the events after the client's sequence number (plus `replay_overlap` already
//! delivered ones, as an at-least-once delivery would) -> RESUMED; an unknown session gets
//! INVALID_SESSION.
//!
//! It does not emulate: zlib or zstd transport compression (serenity asks for none), ETF
//! encoding, sharding and `session_start_limit` accounting, gateway rate limits and close
//! codes other than the drop, presence and guild events (no GUILD_CREATE after READY),
//! permissions and channel membership, message history, rate-limit buckets beyond the
//! scripted 429s (no `X-RateLimit-*` on other answers), attachments, webhooks other than
//! interaction ones, Ed25519-signed outgoing interactions (the HTTP interactions endpoint).

mod gateway;
pub mod payloads;
mod rest;

use gateway::serve_gateway;
use rest::{TlsListener, api};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use payloads::APPLICATION;

const CA_PEM: &[u8] = include_bytes!("ca.pem");
const CERT_PEM: &[u8] = include_bytes!("discord.pem");
const KEY_PEM: &[u8] = include_bytes!("discord.key");
pub const TOKEN: &str = "MTEwMDAwMDAwMDAwMDAwMDAxMA.GfAkE1.fake-token-for-the-tests";
pub const HEARTBEAT_MS: u64 = 1000;
/// Discord's window to acknowledge an interaction.
const ACK_WINDOW: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path under `/api/v10`, with its query.
    pub path: String,
    pub body: Value,
    pub status: u16,
    pub response: Value,
    pub at: Instant,
}

impl Call {
    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method == method && self.path.starts_with(path_prefix)
    }
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// Everything the message shows: content, embed titles, descriptions, fields, footer.
    pub fn shown_text(&self) -> String {
        let data = if self.body["data"].is_object() {
            &self.body["data"]
        } else {
            &self.body
        };
        let mut out = data["content"].as_str().unwrap_or_default().to_owned();
        for e in data["embeds"].as_array().into_iter().flatten() {
            for key in ["title", "description"] {
                out.push('\n');
                out.push_str(e[key].as_str().unwrap_or_default());
            }
            for f in e["fields"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "\n{}: {}",
                    f["name"].as_str().unwrap_or_default(),
                    f["value"].as_str().unwrap_or_default()
                ));
            }
        }
        out
    }
    /// The custom ids of the buttons the message carries.
    pub fn buttons(&self) -> Vec<String> {
        let data = if self.body["data"].is_object() {
            &self.body["data"]
        } else {
            &self.body
        };
        data["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
            .collect()
    }
    pub fn ephemeral(&self) -> bool {
        let data = if self.body["data"].is_object() {
            &self.body["data"]
        } else {
            &self.body
        };
        data["flags"].as_u64().is_some_and(|f| f & 64 != 0)
    }
}

enum Out {
    Frame(String),
    Drop,
}

#[derive(Default)]
struct Gateway {
    conn: Option<mpsc::UnboundedSender<Out>>,
    session: String,
    seq: u64,
    history: Vec<(u64, String)>,
    identifies: Vec<Value>,
    resumes: Vec<Value>,
    heartbeats: usize,
    connections: usize,
    replay_overlap: u64,
}

/// An interaction the test dispatched: where its answer goes and when it was sent.
struct Pending {
    channel: u64,
    /// The message `@original` is: the card clicked on, or the deferred response.
    original: Option<u64>,
    sent: Instant,
    acked: bool,
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    limited: Mutex<Vec<(String, String, VecDeque<f64>)>>,
    channels: Mutex<HashMap<u64, Value>>,
    messages: Mutex<HashMap<u64, Value>>,
    interactions: Mutex<HashMap<String, Pending>>,
    next_id: AtomicU64,
    gateway: Mutex<Gateway>,
    ws_url: Mutex<String>,
    /// What `GET /gateway` hands out instead of the real websocket, when set.
    gateway_answer: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct FakeDiscord {
    /// Where `https://discord.com` really is.
    pub addr: SocketAddr,
    /// The same API over plain HTTP, as a REST proxy in front of Discord would serve it.
    pub proxy_url: String,
    pub ws_url: String,
    state: Arc<FakeState>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let state = Arc::new(FakeState {
            next_id: AtomicU64::new(1_200_000_000_000_000_000),
            ..FakeState::default()
        });
        lock(&state.channels).insert(
            payloads::CHANNEL,
            payloads::channel(payloads::CHANNEL, 0, None),
        );
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!("ws://{}", ws.local_addr().unwrap());
        *lock(&state.ws_url) = ws_url.clone();
        tokio::spawn(serve_gateway(ws, Arc::clone(&state)));

        let app = Router::new()
            .route("/api/v10/{*rest}", any(api))
            .with_state(Arc::clone(&state));
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!("http://{}", plain.local_addr().unwrap());
        tokio::spawn(axum::serve(plain, app.clone()).into_future());
        tokio::spawn(async move { axum::serve(TlsListener::new(tcp), app).await });
        FakeDiscord {
            addr,
            proxy_url,
            ws_url,
            state,
        }
    }

    /// The HTTP client serenity should use: discord.com resolves to this fake, whose
    /// certificate the test CA signed.
    pub fn http_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .resolve("discord.com", self.addr)
            .add_root_certificate(reqwest::Certificate::from_pem(CA_PEM).unwrap())
            .build()
            .unwrap()
    }

    /// `GET /gateway` answers with `url` (e.g. a dead one, for `gateway_url` to override).
    pub fn answer_gateway_with(&self, url: &str) {
        *lock(&self.state.gateway_answer) = Some(url.to_owned());
    }

    pub fn add_channel(&self, id: u64, kind: u8, parent: Option<u64>) {
        lock(&self.state.channels).insert(id, payloads::channel(id, kind, parent));
    }

    /// The next calls of `method` on paths starting with `path_prefix` get 429 with these
    /// `Retry-After` seconds, one per call.
    pub fn rate_limit(&self, method: &str, path_prefix: &str, retry_after: &[f64]) {
        lock(&self.state.limited).push((
            method.to_owned(),
            path_prefix.to_owned(),
            retry_after.iter().copied().collect(),
        ));
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state.calls).clone()
    }

    pub fn calls_of(&self, method: &str, path_prefix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.is(method, path_prefix))
            .collect()
    }

    /// Messages others see: posted to a channel, `@original` edits, followups, callbacks.
    pub fn posts(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.ok()
                    && (c.is("POST", "/channels/")
                        || c.is("PATCH", "/channels/")
                        || c.is("PATCH", "/webhooks/")
                        || c.is("POST", "/webhooks/")
                        || c.is("POST", "/interactions/"))
                    && !c.path.ends_with("/threads")
            })
            .collect()
    }

    /// A message the fake stored (as REST returned it).
    pub fn message(&self, id: u64) -> Value {
        lock(&self.state.messages)
            .get(&id)
            .cloned()
            .unwrap_or(Value::Null)
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
                let calls: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| format!("{} {} {} {}", c.method, c.path, c.status, c.shown_text()))
                    .collect();
                panic!("timed out waiting for {what}; calls: {calls:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Lets queued work finish before asserting nothing more happened.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    // --- the gateway ---

    /// Sends a dispatch (op 0) with the next sequence number; kept for replay on RESUME.
    pub fn dispatch(&self, event: &str, data: Value) -> u64 {
        if event == "INTERACTION_CREATE" {
            self.expect_interaction(&data);
        }
        let mut gw = lock(&self.state.gateway);
        gw.seq += 1;
        let seq = gw.seq;
        let frame = json!({"op": 0, "t": event, "s": seq, "d": data}).to_string();
        gw.history.push((seq, frame.clone()));
        if let Some(conn) = &gw.conn {
            let _ = conn.send(Out::Frame(frame));
        }
        seq
    }

    fn expect_interaction(&self, data: &Value) {
        let token = data["token"].as_str().unwrap_or_default().to_owned();
        let channel = data["channel_id"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or_default();
        let original = data["message"]["id"].as_str().and_then(|m| m.parse().ok());
        lock(&self.state.interactions)
            .entry(token)
            .or_insert(Pending {
                channel,
                original,
                sent: Instant::now(),
                acked: false,
            });
    }

    /// Closes the TCP connection without a close frame, as a network failure would.
    pub fn drop_connection(&self) {
        let mut gw = lock(&self.state.gateway);
        if let Some(conn) = gw.conn.take() {
            let _ = conn.send(Out::Drop);
        }
    }

    /// RESUME replays this many already-delivered events as well.
    pub fn replay_overlap(&self, events: u64) {
        lock(&self.state.gateway).replay_overlap = events;
    }

    pub fn identifies(&self) -> Vec<Value> {
        lock(&self.state.gateway).identifies.clone()
    }

    pub fn resumes(&self) -> Vec<Value> {
        lock(&self.state.gateway).resumes.clone()
    }

    pub fn heartbeats(&self) -> usize {
        lock(&self.state.gateway).heartbeats
    }

    pub fn connections(&self) -> usize {
        lock(&self.state.gateway).connections
    }

    pub async fn wait_gateway(&self, secs: u64, what: &str, check: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Discord ids of the people in the tests: two mapped through `[discord.users]`, one not.
pub const PRIYA: u64 = 1_100_000_000_000_000_020;
pub const JONAH: u64 = 1_100_000_000_000_000_030;
pub const MALLORY: u64 = 1_100_000_000_000_000_066;

/// A sandbox platbot with Discord started against a fresh fake, connected and READY.
pub struct Connected {
    pub fake: FakeDiscord,
    pub bot: crate::support::common::TestBot,
    pub service: platbot::chat::discord::DiscordService,
}

pub async fn connected() -> Connected {
    let fake = FakeDiscord::start().await;
    let toml = format!(
        "[discord]\nguilds = [\"{}\"]\n[discord.users]\n\"{PRIYA}\" = \"priya.nair\"\n\"{JONAH}\" = \"jonah.feld\"\n",
        payloads::GUILD
    );
    let bot = crate::support::fakes::sandbox_bot_with(&toml, &[("DISCORD_TOKEN", TOKEN)]).await;
    let settings = bot.app.config.discord.clone().expect("discord settings");
    let options = platbot::chat::discord::DiscordOptions {
        http_client: Some(fake.http_client()),
    };
    let service =
        platbot::chat::discord::start(std::sync::Arc::clone(&bot.app.engine), &settings, &options)
            .await
            .expect("discord starts");
    fake.wait_gateway(15, "IDENTIFY", |f| !f.identifies().is_empty())
        .await;
    fake.wait_for(15, "the command registration", |calls| {
        calls
            .iter()
            .find(|c| c.is("PUT", "/applications/") && c.ok())
            .cloned()
    })
    .await;
    Connected { fake, bot, service }
}

impl Connected {
    /// Another Discord service on the same engine and store (as a second replica would be),
    /// connected to a fake of its own.
    pub async fn another_process(&self) -> (FakeDiscord, platbot::chat::discord::DiscordService) {
        let fake = FakeDiscord::start().await;
        let settings = self
            .bot
            .app
            .config
            .discord
            .clone()
            .expect("discord settings");
        let options = platbot::chat::discord::DiscordOptions {
            http_client: Some(fake.http_client()),
        };
        let service = platbot::chat::discord::start(
            std::sync::Arc::clone(&self.bot.app.engine),
            &settings,
            &options,
        )
        .await
        .expect("discord starts");
        fake.wait_gateway(15, "IDENTIFY", |f| !f.identifies().is_empty())
            .await;
        (fake, service)
    }

    /// A person in the tests as Discord's payloads show them.
    pub fn person(id: u64) -> Value {
        let name = match id {
            PRIYA => "priya",
            JONAH => "jonah",
            _ => "mallory",
        };
        payloads::user(id, name, false)
    }

    /// `who` mentions the bot in the server channel (or in a thread: `channel`).
    pub fn mention(&self, message: u64, channel: u64, who: u64, text: &str) -> u64 {
        self.fake.dispatch(
            "MESSAGE_CREATE",
            payloads::message_create(message, channel, &Self::person(who), text, true),
        )
    }

    /// Waits for the bot's message in `channel` whose text contains `needle`.
    pub async fn reply_in(&self, channel: u64, needle: &str) -> Call {
        let path = format!("/channels/{channel}/messages");
        let needle = needle.to_owned();
        self.fake
            .wait_for(
                20,
                &format!("a reply in {channel} containing {needle:?}"),
                move |calls| {
                    calls
                        .iter()
                        .find(|c| {
                            c.is("POST", &path)
                                && c.path == path
                                && c.ok()
                                && c.shown_text().contains(&needle)
                        })
                        .cloned()
                },
            )
            .await
    }
}
