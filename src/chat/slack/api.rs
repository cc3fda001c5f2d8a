//! The Slack Web API as platbot uses it: a slack-morphism client bound to the bot
//! token, calling concurrently and holding back only what Slack limits.
//!
//! Calls run concurrently, except that calls of one method into one thread go out one at a
//! time in arrival order (so a thread's messages keep their order). Slack rate-limits per
//! method and workspace, and posting per channel: a 429 closes that method (for posting, that
//! channel) for the `Retry-After` Slack asked for, and every call that would go there waits
//! instead of adding to a storm of 429s. For a while after a 429 that scope's calls then go
//! one at a time, so a backlog released after `Retry-After` does not hit the limit all at once
//! again: at most one 429 per `Retry-After` instead of one per waiting call. A call waits at most [`MAX_QUEUE_WAIT`] in all (in
//! line and for `Retry-After`), so a burst of 429s cannot hold calls for minutes: late calls
//! fail fast and are logged.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::time::Instant;

/// Waiting longer than this for one method means Slack is unwell; give up on the call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// 429 answers one call may meet before it is given up (and logged).
const MAX_RATE_LIMITED: u32 = 5;
/// The longest one call waits for its turn and for Slack's `Retry-After`, together.
const MAX_QUEUE_WAIT: Duration = Duration::from_secs(90);
/// One HTTP exchange with Slack.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after its `Retry-After` a rate-limited scope keeps calling one at a time.
const CAREFUL_FOR: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SlackApiError {
    /// Slack answered `ok: false` with this error code (e.g. `channel_not_found`).
    #[error("Slack {method} failed: {code}")]
    Api { method: &'static str, code: String },
    #[error("Slack {method} was rate limited {attempts} times in a row; gave up")]
    RateLimited { method: &'static str, attempts: u32 },
    #[error("Slack {method} is rate limited; the call waited {}s in line and was dropped", MAX_QUEUE_WAIT.as_secs())]
    Backlogged { method: &'static str },
    #[error("Slack {method} did not answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout { method: &'static str },
    #[error("Slack {method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
    #[error("Slack client setup: {0}")]
    Setup(String),
}

impl SlackApiError {
    /// The Slack error code, for callers that react to one (e.g. `not_in_channel`).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Who the bot is, from `auth.test`.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    pub user_id: String,
    pub name: Option<String>,
    pub team: String,
}

pub type SlackHttpClient = SlackClient<SlackClientHyperHttpsConnector>;

pub struct SlackWebApi {
    client: Arc<SlackHttpClient>,
    token: SlackApiToken,
    /// One FIFO line per method and thread, held across the call; dropped when idle.
    lines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Methods (posting: methods in one channel) Slack rate-limited lately.
    limits: Mutex<HashMap<String, Limit>>,
}

/// A rate-limited scope: closed until `until`, then one call at a time until `careful_until`.
struct Limit {
    until: Instant,
    careful_until: Instant,
    gate: Arc<tokio::sync::Mutex<()>>,
}

/// A connector for `api_url`: HTTPS with the system's roots for Slack itself, or plain
/// HTTP too when the configured base is `http://` (a local gateway, the tests' fake).
fn connector(api_url: &str) -> Result<SlackClientHyperHttpsConnector, SlackApiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let https = if api_url.starts_with("http://") {
        let tls = match builder.with_provider_and_native_roots(Arc::clone(&provider)) {
            Ok(b) => b,
            // No system roots is fine for a plain-HTTP base; https URLs will then fail to verify.
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| SlackApiError::Setup(e.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            ),
        };
        tls.https_or_http().enable_http1().enable_http2().build()
    } else {
        builder
            .with_provider_and_native_roots(provider)
            .map_err(|e| SlackApiError::Setup(format!("no system CA certificates: {e}")))?
            .https_only()
            .enable_http1()
            .enable_http2()
            .build()
    };
    Ok(SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url))
}

impl SlackWebApi {
    pub fn new(api_url: &str, bot_token: &str) -> Result<Self, SlackApiError> {
        Ok(Self {
            client: Arc::new(SlackClient::new(connector(api_url)?)),
            token: SlackApiToken::new(bot_token.into()),
            lines: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
        })
    }

    /// The underlying client, for slack-morphism's Events API listener.
    pub fn client(&self) -> Arc<SlackHttpClient> {
        Arc::clone(&self.client)
    }

    fn line(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(lines.entry(key.to_owned()).or_default())
    }

    /// Forgets a line nobody is in or waiting for, so the map holds only busy threads.
    fn release_line(&self, key: &str, line: Arc<tokio::sync::Mutex<()>>) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Ours plus the map's: nobody else holds or waits for this line.
        if Arc::strong_count(&line) == 2 {
            lines.remove(key);
        }
    }

    /// Until when `key` is closed, and its one-at-a-time gate, if Slack limited it lately.
    fn limit(&self, key: &str) -> Option<(Instant, Arc<tokio::sync::Mutex<()>>)> {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        limits.retain(|_, l| l.careful_until > now);
        limits.get(key).map(|l| (l.until, Arc::clone(&l.gate)))
    }

    fn close(&self, key: &str, until: Instant) {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let l = limits.entry(key.to_owned()).or_insert_with(|| Limit {
            until,
            careful_until: until,
            gate: Arc::default(),
        });
        l.until = l.until.max(until);
        l.careful_until = l.careful_until.max(until + CAREFUL_FOR);
    }

    /// Runs `call` in `target`'s line, waiting out any `Retry-After` on its rate-limit scope.
    async fn queued<T, F, Fut>(&self, target: Target<'_>, call: F) -> Result<T, SlackApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let deadline = Instant::now() + MAX_QUEUE_WAIT;
        // Calls about nothing in particular (auth.test, users.info) need no order.
        let Some(key) = target.line_key() else {
            return self.limited(&target, deadline, call).await;
        };
        let line = self.line(&key);
        let result = match tokio::time::timeout_at(deadline, line.lock()).await {
            Ok(_turn) => self.limited(&target, deadline, call).await,
            Err(_) => {
                tracing::error!(
                    method = target.method,
                    "Slack method backlogged; call dropped"
                );
                Err(SlackApiError::Backlogged {
                    method: target.method,
                })
            }
        };
        self.release_line(&key, line);
        result
    }

    /// Calls until Slack answers other than 429, honouring each `Retry-After` for the whole scope.
    async fn limited<T, F, Fut>(
        &self,
        target: &Target<'_>,
        deadline: Instant,
        call: F,
    ) -> Result<T, SlackApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let method = target.method;
        let scope = target.limit_key();
        let mut limited = 0;
        loop {
            // Lately limited: one call at a time, each waiting out the scope's Retry-After.
            let _turn = match self.limit(&scope) {
                Some((_, gate)) => match tokio::time::timeout_at(deadline, gate.lock_owned()).await
                {
                    Ok(turn) => Some(turn),
                    Err(_) => {
                        tracing::error!(method, "Slack method backlogged; call dropped");
                        return Err(SlackApiError::Backlogged { method });
                    }
                },
                None => None,
            };
            if let Some((until, _)) = self.limit(&scope) {
                if until > deadline {
                    tracing::error!(
                        method,
                        "Slack Retry-After past this call's deadline; call dropped"
                    );
                    return Err(SlackApiError::Backlogged { method });
                }
                tokio::time::sleep_until(until).await;
            }
            let result = tokio::time::timeout(CALL_TIMEOUT, call())
                .await
                .map_err(|_| SlackApiError::Timeout { method })?;
            match result {
                Ok(v) => return Ok(v),
                Err(SlackClientError::RateLimitError(e)) => {
                    limited += 1;
                    crate::telemetry::slack_rate_limited(method);
                    let wait = e
                        .retry_after
                        .unwrap_or(Duration::from_secs(1))
                        .min(MAX_RETRY_AFTER);
                    self.close(&scope, Instant::now() + wait);
                    if limited >= MAX_RATE_LIMITED {
                        tracing::error!(
                            method,
                            attempts = limited,
                            "Slack keeps rate limiting; call dropped"
                        );
                        return Err(SlackApiError::RateLimited {
                            method,
                            attempts: limited,
                        });
                    }
                    tracing::warn!(
                        method,
                        retry_after_ms = wait.as_millis() as u64,
                        attempt = limited,
                        "Slack rate limit: waiting for Retry-After"
                    );
                }
                Err(SlackClientError::ApiError(e)) => {
                    return Err(SlackApiError::Api {
                        method,
                        code: e.code,
                    });
                }
                Err(e) => {
                    return Err(SlackApiError::Transport {
                        method,
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    pub async fn auth_test(&self) -> Result<BotIdentity, SlackApiError> {
        let session = self.client.open_session(&self.token);
        let r = self
            .queued(Target::method("auth.test"), || session.auth_test())
            .await?;
        Ok(BotIdentity {
            user_id: r.user_id.to_string(),
            name: r.user,
            team: r.team,
        })
    }

    /// Posts a message (in a thread when `thread_ts` is set); returns its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        content: SlackMessageContent,
    ) -> Result<String, SlackApiError> {
        let req = SlackApiChatPostMessageRequest::new(channel.into(), content)
            .opt_thread_ts(thread_ts.map(Into::into));
        let session = self.client.open_session(&self.token);
        let r = self
            .queued(Target::post("chat.postMessage", channel, thread_ts), || {
                session.chat_post_message(&req)
            })
            .await?;
        Ok(r.ts.to_string())
    }

    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackApiError> {
        let req = SlackApiChatUpdateRequest::new(channel.into(), content, ts.into());
        let session = self.client.open_session(&self.token);
        self.queued(Target::in_thread("chat.update", channel, ts), || {
            session.chat_update(&req)
        })
        .await
        .map(|_| ())
    }

    /// A message only `user` sees, in the thread when `thread_ts` is set.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        thread_ts: Option<&str>,
        content: SlackMessageContent,
    ) -> Result<(), SlackApiError> {
        let req = SlackApiChatPostEphemeralRequest::new(channel.into(), user.into(), content)
            .opt_thread_ts(thread_ts.map(Into::into));
        let session = self.client.open_session(&self.token);
        self.queued(
            Target::post("chat.postEphemeral", channel, thread_ts),
            || session.chat_post_ephemeral(&req),
        )
        .await
        .map(|_| ())
    }

    /// A Socket Mode websocket URL (`apps.connections.open`, with the app-level token).
    pub async fn connections_open(
        &self,
        app_token: &SlackApiToken,
    ) -> Result<String, SlackApiError> {
        let session = self.client.open_session(app_token);
        let req = SlackApiAppsConnectionOpenRequest::new();
        let r = self
            .queued(Target::method("apps.connections.open"), || {
                session.apps_connections_open(&req)
            })
            .await?;
        Ok(r.url.0.to_string())
    }

    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackApiError> {
        let req = SlackApiUsersInfoRequest::new(user.into());
        let session = self.client.open_session(&self.token);
        let r = self
            .queued(Target::method("users.info"), || session.users_info(&req))
            .await?;
        Ok(r.user)
    }

    /// Answers through a slash command's `response_url` (ephemeral unless Slack is told otherwise).
    pub async fn respond(
        &self,
        response_url: &SlackResponseUrl,
        content: SlackMessageContent,
    ) -> Result<(), SlackApiError> {
        let req = SlackApiPostWebhookMessageRequest::new(content);
        self.queued(Target::method("response_url"), || {
            self.client.respond_to_event(response_url, &req)
        })
        .await
        .map(|_| ())
    }
}

/// Where a call goes, for its line (order within a thread) and its rate-limit scope.
struct Target<'a> {
    method: &'static str,
    /// Posting is limited per channel; other methods per workspace.
    channel_limited: Option<&'a str>,
    /// The thread (or message) whose calls keep their order.
    thread: Option<(&'a str, &'a str)>,
}

impl<'a> Target<'a> {
    fn method(method: &'static str) -> Self {
        Self {
            method,
            channel_limited: None,
            thread: None,
        }
    }

    /// A post into a channel (a thread when `thread_ts` is set): limited per channel.
    fn post(method: &'static str, channel: &'a str, thread_ts: Option<&'a str>) -> Self {
        Self {
            method,
            channel_limited: Some(channel),
            thread: Some((channel, thread_ts.unwrap_or(""))),
        }
    }

    /// A call about one message: ordered with the other calls about it.
    fn in_thread(method: &'static str, channel: &'a str, ts: &'a str) -> Self {
        Self {
            method,
            channel_limited: None,
            thread: Some((channel, ts)),
        }
    }

    fn line_key(&self) -> Option<String> {
        let (channel, ts) = self.thread?;
        Some(format!("{} {channel} {ts}", self.method))
    }

    fn limit_key(&self) -> String {
        match self.channel_limited {
            Some(channel) => format!("{} {channel}", self.method),
            None => self.method.to_owned(),
        }
    }
}
