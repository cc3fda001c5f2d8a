//! The Slack Web API as platbot uses it: a slack-morphism client bound to the bot
//! token, with a per-method queue that honours 429 `Retry-After`.
//!
//! Slack rate-limits per method (and `chat.postMessage` per channel), so each method
//! has one FIFO gate: calls to a method go out one at a time in arrival order, and a
//! 429 closes the gate for the `Retry-After` Slack asked for. A burst therefore waits
//! its turn instead of being dropped, and posts to one thread keep their order. A call waits at
//! most [`MAX_QUEUE_WAIT`] in all (in line and for `Retry-After`), so a burst of 429s cannot
//! hold a method's queue for minutes: late calls fail fast and are logged.

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
    gates: Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<Instant>>>>,
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
            gates: Mutex::new(HashMap::new()),
        })
    }

    /// The underlying client, for slack-morphism's listeners (Socket Mode, Events API).
    pub fn client(&self) -> Arc<SlackHttpClient> {
        Arc::clone(&self.client)
    }

    fn gate(&self, method: &'static str) -> Arc<tokio::sync::Mutex<Instant>> {
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            gates
                .entry(method)
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Instant::now()))),
        )
    }

    /// Runs `call` through `method`'s queue, retrying after each 429 once Slack allows.
    async fn queued<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, SlackApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        let gate = self.gate(method);
        let deadline = Instant::now() + MAX_QUEUE_WAIT;
        // Held across the call: the next caller of this method waits in line (tokio's Mutex is FIFO).
        let Ok(mut not_before) = tokio::time::timeout_at(deadline, gate.lock()).await else {
            tracing::error!(method, "Slack method backlogged; call dropped");
            return Err(SlackApiError::Backlogged { method });
        };
        let mut limited = 0;
        loop {
            if *not_before > deadline {
                tracing::error!(
                    method,
                    "Slack Retry-After past this call's deadline; call dropped"
                );
                return Err(SlackApiError::Backlogged { method });
            }
            tokio::time::sleep_until(*not_before).await;
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
                    *not_before = Instant::now() + wait;
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
                        "Slack rate limit: queued until Retry-After"
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
        let r = self.queued("auth.test", || session.auth_test()).await?;
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
            .queued("chat.postMessage", || session.chat_post_message(&req))
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
        self.queued("chat.update", || session.chat_update(&req))
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
        self.queued("chat.postEphemeral", || session.chat_post_ephemeral(&req))
            .await
            .map(|_| ())
    }

    pub async fn user_info(&self, user: &str) -> Result<SlackUser, SlackApiError> {
        let req = SlackApiUsersInfoRequest::new(user.into());
        let session = self.client.open_session(&self.token);
        let r = self
            .queued("users.info", || session.users_info(&req))
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
        self.queued("response_url", || {
            self.client.respond_to_event(response_url, &req)
        })
        .await
        .map(|_| ())
    }
}
