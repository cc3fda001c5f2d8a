//! The chat completions client: async-openai against the configured base URL, with a
//! per-request deadline and a circuit breaker in front of it.
//!
//! Retries live in async-openai's retry layer, inside the deadline: 429 and 5xx
//! answers and refused connections are retried up to three times with exponential
//! backoff (100 ms doubling), waiting `Retry-After` seconds when the server sends it.
//! A `Retry-After` longer than what is left of the deadline ends in a timeout, so a
//! rate-limited turn falls back to the alias planner instead of hanging.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionResponseMessage, ChatCompletionTools,
    CreateChatCompletionRequest,
};
use serde::Serialize;

use super::LlmMetrics;
use crate::config::LlmSettings;
use crate::telemetry;

/// Why the model gave no usable answer. Every one of these sends the turn to the alias planner.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the language model did not answer within {0:.1?}")]
    Timeout(Duration),
    #[error("the language model failed several times in a row; not asking it for another {0}s")]
    CircuitOpen(u64),
    #[error("cannot reach the language model: {0}")]
    Unreachable(String),
    #[error("the language model endpoint answered with an error: {0}")]
    Api(String),
    #[error("the language model's answer could not be read: {0}")]
    BadResponse(String),
    #[error("the message and its context do not fit the model's {0}-token context")]
    ContextFull(usize),
}

impl LlmError {
    /// The error's kind, for the `platbot_llm_errors` metric.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::CircuitOpen(_) => "circuit_open",
            Self::Unreachable(_) => "unreachable",
            Self::Api(_) => "api",
            Self::BadResponse(_) => "bad_response",
            Self::ContextFull(_) => "context_full",
        }
    }
}

/// One request, for the audit log and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    /// Our own cl100k count of what was sent (the server's tokenizer may differ).
    pub estimated_prompt_tokens: usize,
    pub duration_ms: u64,
    /// Whether tools were offered (the closing request goes without).
    pub tools: bool,
    /// `ok`, or why it failed.
    pub outcome: String,
}

/// What one request asks.
pub struct ChatRequest {
    pub messages: Vec<ChatCompletionRequestMessage>,
    pub tools: Option<Vec<ChatCompletionTools>>,
    pub max_tokens: u32,
    /// The prompt's size as we count it, for the usage record.
    pub estimated_tokens: usize,
}

pub struct ChatClient {
    client: Client<OpenAIConfig>,
    model: String,
    temperature: Option<f32>,
    timeout: Duration,
    breaker: Breaker,
    metrics: Arc<LlmMetrics>,
}

impl ChatClient {
    pub fn new(settings: &LlmSettings, metrics: Arc<LlmMetrics>) -> Self {
        // reqwest is built with `rustls-no-provider`: make sure a provider is installed
        // (main does it first thing; this covers tests and other embedders). A second
        // install is refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Everything explicit: `OpenAIConfig::new()` would otherwise pick up OPENAI_API_KEY
        // and friends and send them to whatever `base_url` names.
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.clone())
            .with_api_key(settings.api_key.clone().unwrap_or_default())
            .with_org_id("")
            .with_project_id("");
        Self {
            client: Client::with_config(config),
            model: settings.model.clone(),
            temperature: settings.temperature,
            timeout: settings.timeout,
            breaker: Breaker::new(settings.breaker_failures, settings.breaker_cooldown),
            metrics,
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sends one request; the usage record is returned whatever happens.
    pub async fn complete(
        &self,
        req: ChatRequest,
    ) -> (
        Result<ChatCompletionResponseMessage, LlmError>,
        RequestUsage,
    ) {
        let mut usage = RequestUsage {
            estimated_prompt_tokens: req.estimated_tokens,
            tools: req.tools.is_some(),
            ..RequestUsage::default()
        };
        if let Err(wait) = self.breaker.allow() {
            self.metrics.add(&self.metrics.circuit_open_skips, 1);
            telemetry::llm_error("circuit_open");
            let e = LlmError::CircuitOpen(wait.as_secs().max(1));
            usage.outcome = "skipped: circuit open".into();
            return (Err(e), usage);
        }
        let request = CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: req.messages,
            tools: req.tools,
            temperature: self.temperature,
            max_completion_tokens: Some(req.max_tokens),
            ..CreateChatCompletionRequest::default()
        };
        let started = Instant::now();
        let sent = tokio::time::timeout(self.timeout, self.client.chat().create(request)).await;
        usage.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.metrics.add(&self.metrics.requests, 1);
        let result = match sent {
            Err(_) => Err(LlmError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(classify(e)),
            Ok(Ok(resp)) => {
                if let Some(u) = &resp.usage {
                    usage.prompt_tokens = u.prompt_tokens;
                    usage.completion_tokens = u.completion_tokens;
                    usage.total_tokens = u.total_tokens;
                    self.metrics
                        .add(&self.metrics.prompt_tokens, u64::from(u.prompt_tokens));
                    self.metrics.add(
                        &self.metrics.completion_tokens,
                        u64::from(u.completion_tokens),
                    );
                    telemetry::llm_tokens(u.prompt_tokens, u.completion_tokens);
                }
                resp.choices
                    .into_iter()
                    .next()
                    .map(|c| c.message)
                    .ok_or_else(|| LlmError::BadResponse("no choices in the answer".into()))
            }
        };
        match &result {
            Ok(_) => {
                self.breaker.success();
                usage.outcome = "ok".into();
            }
            Err(e) => {
                self.breaker.failure();
                self.metrics.add(&self.metrics.failures, 1);
                telemetry::llm_error(e.kind());
                tracing::warn!(error = %e, model = %self.model, "LLM request failed");
                usage.outcome = format!("error: {e}");
            }
        }
        (result, usage)
    }
}

fn classify(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Reqwest(e) if e.is_connect() => LlmError::Unreachable(e.to_string()),
        OpenAIError::Reqwest(e) if e.is_timeout() => LlmError::Unreachable(e.to_string()),
        OpenAIError::Reqwest(e) => LlmError::Api(e.to_string()),
        OpenAIError::ApiError(r) => LlmError::Api(format!(
            "{} {}",
            r.status_code.as_u16(),
            r.api_error.message
        )),
        OpenAIError::JSONDeserialize(e, body) => {
            let head: String = body.chars().take(200).collect();
            LlmError::BadResponse(format!("{e}: {head}"))
        }
        other => LlmError::Api(other.to_string()),
    }
}

/// Closed: requests go through, consecutive failures counted. Open: nothing goes
/// through until the cool-down ends. Then one trial request (half-open): success
/// closes the breaker, failure opens it again.
struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BreakerState {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl Breaker {
    fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(wait)` while open (or while another request is the half-open trial).
    fn allow(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = BreakerState::HalfOpen;
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            BreakerState::HalfOpen => Err(self.cooldown),
        }
    }

    fn success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    fn failure(&self) {
        let mut state = self.lock();
        let failures = match *state {
            BreakerState::Closed { failures } => failures + 1,
            BreakerState::HalfOpen | BreakerState::Open { .. } => self.threshold,
        };
        *state = if failures >= self.threshold {
            tracing::warn!(
                cooldown_s = self.cooldown.as_secs_f64(),
                "LLM circuit breaker open"
            );
            BreakerState::Open {
                until: Instant::now() + self.cooldown,
            }
        } else {
            BreakerState::Closed { failures }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_the_threshold_and_tries_once_after_the_cooldown() {
        let b = Breaker::new(2, Duration::from_millis(30));
        assert!(b.allow().is_ok());
        b.failure();
        assert!(b.allow().is_ok(), "one failure is not enough");
        b.failure();
        assert!(b.allow().is_err(), "open after two");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow().is_ok(), "half-open: one trial");
        assert!(b.allow().is_err(), "only one trial at a time");
        b.failure();
        assert!(b.allow().is_err(), "a failed trial opens it again");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow().is_ok());
        b.success();
        assert!(b.allow().is_ok() && b.allow().is_ok(), "closed again");
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.failure();
        b.success();
        b.failure();
        assert!(b.allow().is_ok());
    }
}
