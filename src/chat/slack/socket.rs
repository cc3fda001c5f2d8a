//! Socket Mode: platbot opens websockets to Slack (URLs from `apps.connections.open`,
//! called with the app-level token), so no public URL is needed.
//!
//! Our own small client rather than slack-morphism's listener, which exposes no
//! connection state (readiness must say whether Slack can reach the bot) and stops for
//! good when a websocket ends without a close frame. Each connection: open, wait for
//! `hello` (only then is it [`Connection::up`]), hand envelopes to the surface and
//! acknowledge them at once (the surface queues the work), ping, and on any loss reconnect
//! with a growing backoff. Slack's `disconnect` (a refresh) reconnects at once. Slack
//! redelivers an envelope it saw no acknowledgement for; the surface's event-id check
//! makes that harmless.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use slack_morphism::prelude::*;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::surface::SlackSurface;
use crate::chat::Connection;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Websockets kept open at once (Slack delivers each envelope on one of them), so one
    /// can be refreshed while another serves.
    pub connections: u32,
    /// The first wait before reconnecting; doubled per failure up to [`MAX_BACKOFF`].
    pub reconnect_after: Duration,
    /// A ping this often; a connection silent for three pings is given up.
    pub ping_every: Duration,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            connections: 2,
            reconnect_after: Duration::from_secs(1),
            ping_every: Duration::from_secs(10),
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Opening the websocket (TCP, TLS, upgrade) and Slack's `hello` after it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

pub struct SocketMode {
    stop: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    connection: Connection,
}

impl SocketMode {
    /// Starts the connections in the background; [`SocketMode::connection`] says when one is up.
    pub fn start(surface: Arc<SlackSurface>, app_token: &str, options: &SocketOptions) -> Self {
        let (stop, stopped) = watch::channel(false);
        let connection = Connection::new("slack socket mode");
        let mut tasks = JoinSet::new();
        let token = SlackApiToken::new(app_token.into());
        for n in 0..options.connections.max(1) {
            let link = Link {
                n,
                surface: Arc::clone(&surface),
                token: token.clone(),
                options: options.clone(),
                connection: connection.clone(),
                stopped: stopped.clone(),
            };
            tasks.spawn(link.run());
        }
        tracing::info!(
            connections = options.connections,
            "Slack Socket Mode started"
        );
        Self {
            stop,
            tasks: tokio::sync::Mutex::new(tasks),
            connection,
        }
    }

    /// Whether Slack can reach the bot: at least one websocket said `hello` and is open.
    pub fn connection(&self) -> Connection {
        self.connection.clone()
    }

    /// Closes every websocket (with a close frame) and waits for the connections to end.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let mut tasks = self.tasks.lock().await;
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), all_done)
            .await
            .is_err()
        {
            tracing::warn!("Slack Socket Mode connections did not close in 5 s");
        }
    }
}

/// One of the websockets, reconnected for as long as platbot runs.
struct Link {
    n: u32,
    surface: Arc<SlackSurface>,
    token: SlackApiToken,
    options: SocketOptions,
    connection: Connection,
    stopped: watch::Receiver<bool>,
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    Stopped,
    /// Slack asked for a new connection (`disconnect`): reconnect now.
    Refresh,
    Lost(String),
}

impl Link {
    async fn run(mut self) {
        let mut backoff = self.options.reconnect_after;
        loop {
            let ended = match self.session().await {
                Ok((ended, said_hello)) => {
                    if said_hello {
                        backoff = self.options.reconnect_after;
                    }
                    ended
                }
                Err(e) => Ended::Lost(e),
            };
            let wait = match ended {
                Ended::Stopped => return,
                Ended::Refresh => {
                    tracing::info!(
                        link = self.n,
                        "Slack asked for a new Socket Mode connection"
                    );
                    Duration::ZERO
                }
                Ended::Lost(why) => {
                    tracing::warn!(link = self.n, reason = %why, retry_in_ms = backoff.as_millis() as u64, "Slack Socket Mode connection lost");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            if *self.stopped.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stopped.changed() => return,
            }
        }
    }

    /// One websocket from `apps.connections.open` to its end; whether it said `hello`.
    async fn session(&self) -> Result<(Ended, bool), String> {
        let mut stopped = self.stopped.clone();
        if *stopped.borrow() {
            return Ok((Ended::Stopped, false));
        }
        let url = self
            .surface
            .api()
            .connections_open(&self.token)
            .await
            .map_err(|e| e.to_string())?;
        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| "websocket did not open in time".to_owned())?
        .map_err(|e| format!("websocket: {e}"))?;
        let (mut write, mut read) = ws.split();
        let mut up = Up::new(self.connection.clone());
        let mut ping = tokio::time::interval(self.options.ping_every);
        ping.tick().await;
        let opened = Instant::now();
        let mut heard = Instant::now();
        let ended = loop {
            tokio::select! {
                _ = stopped.changed() => {
                    let _ = write.send(Frame::Close(None)).await;
                    break Ended::Stopped;
                }
                _ = ping.tick() => {
                    if !up.said_hello() && opened.elapsed() > CONNECT_TIMEOUT {
                        break Ended::Lost("no hello from Slack".into());
                    }
                    if heard.elapsed() > self.options.ping_every * 3 {
                        break Ended::Lost("Slack stopped answering pings".into());
                    }
                    if let Err(e) = write.send(Frame::Ping(Vec::new().into())).await {
                        break Ended::Lost(format!("ping: {e}"));
                    }
                }
                frame = read.next() => {
                    heard = Instant::now();
                    let text = match frame {
                        Some(Ok(Frame::Text(t))) => t,
                        Some(Ok(Frame::Close(_))) | None => break Ended::Lost("closed by Slack".into()),
                        Some(Err(e)) => break Ended::Lost(e.to_string()),
                        Some(Ok(_)) => continue, // pings (answered by tungstenite), pongs
                    };
                    match self.handle(text.as_str(), &mut up) {
                        Handled::Reply(ack) => {
                            if let Err(e) = write.send(Frame::Text(ack.into())).await {
                                break Ended::Lost(format!("acknowledgement: {e}"));
                            }
                        }
                        Handled::Refresh => break Ended::Refresh,
                        Handled::Nothing => {}
                    }
                }
            }
        };
        Ok((ended, up.said_hello()))
    }

    fn handle(&self, frame: &str, up: &mut Up) -> Handled {
        let envelope = match serde_json::from_str::<Envelope>(frame) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "Slack Socket Mode frame not understood");
                // Acknowledged all the same: it would not parse any better redelivered.
                return serde_json::from_str::<serde_json::Value>(frame)
                    .ok()
                    .and_then(|v| v.get("envelope_id").and_then(|i| i.as_str()).map(ack))
                    .map_or(Handled::Nothing, Handled::Reply);
            }
        };
        match envelope {
            Envelope::Hello {} => {
                up.hello();
                tracing::info!(link = self.n, "Slack Socket Mode connected");
                Handled::Nothing
            }
            Envelope::Disconnect { reason } => {
                tracing::debug!(link = self.n, %reason, "Slack Socket Mode disconnect");
                Handled::Refresh
            }
            Envelope::EventsApi {
                envelope_id,
                payload,
            } => {
                let accepted = self.surface.accept_event(&payload, None);
                tracing::debug!(event_id = %payload.event_id, ?accepted, "Socket Mode event acknowledged");
                Handled::Reply(ack(&envelope_id))
            }
            Envelope::Interactive {
                envelope_id,
                payload,
            } => {
                let accepted = self.surface.accept_interaction(&payload);
                tracing::debug!(?accepted, "Socket Mode interaction acknowledged");
                Handled::Reply(ack(&envelope_id))
            }
            Envelope::SlashCommands {
                envelope_id,
                payload,
            } => {
                let (_, text) = self.surface.accept_command(&payload);
                let content = if text.is_empty() {
                    SlackMessageContent::new()
                } else {
                    SlackMessageContent::new().with_text(text)
                };
                let reply = SlackCommandEventResponse::new(content)
                    .with_response_type(SlackMessageResponseType::Ephemeral);
                Handled::Reply(
                    serde_json::json!({"envelope_id": envelope_id, "payload": reply}).to_string(),
                )
            }
        }
    }
}

/// The Socket Mode frames Slack sends (slack-morphism's own models are not public).
#[derive(serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Envelope {
    Hello {},
    Disconnect {
        #[serde(default)]
        reason: String,
    },
    EventsApi {
        envelope_id: String,
        payload: Box<SlackPushEventCallback>,
    },
    Interactive {
        envelope_id: String,
        payload: Box<SlackInteractionEvent>,
    },
    SlashCommands {
        envelope_id: String,
        payload: Box<SlackCommandEvent>,
    },
}

enum Handled {
    Reply(String),
    Refresh,
    Nothing,
}

/// The acknowledgement of an envelope.
fn ack(envelope_id: &str) -> String {
    serde_json::json!({ "envelope_id": envelope_id }).to_string()
}

/// This websocket's share of the connection count: up from `hello` until dropped.
struct Up {
    connection: Connection,
    counted: bool,
}

impl Up {
    fn new(connection: Connection) -> Self {
        Self {
            connection,
            counted: false,
        }
    }

    fn hello(&mut self) {
        if !self.counted {
            self.counted = true;
            self.connection.up();
        }
    }

    fn said_hello(&self) -> bool {
        self.counted
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if self.counted {
            self.connection.down();
        }
    }
}
