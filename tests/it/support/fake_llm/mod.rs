//! A local OpenAI-compatible chat completions server that answers from a script, so
//! the LLM planner's production client and loop run for real in CI without a model.
//! Bodies follow OpenAI's documented (non-streaming) chat completion and error formats.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Step {
    /// 200 with this `chat.completion` body.
    Json(Value),
    /// An error status with OpenAI's error body; `Retry-After` in seconds when given.
    Error {
        status: u16,
        retry_after: Option<u64>,
        message: String,
    },
    /// Waits, then answers as the inner step.
    Delay(Duration, Box<Step>),
}

/// What the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Value,
    pub at: Instant,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Step>,
    received: Vec<Received>,
}

pub struct FakeLlm {
    /// The base URL to configure (`.../v1`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    pub async fn start(script: Vec<Step>) -> FakeLlm {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            received: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            url: format!("http://{addr}/v1"),
            inner,
            task,
        }
    }

    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.inner.lock().unwrap().script.extend(steps);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The request bodies, in order.
    pub fn bodies(&self) -> Vec<Value> {
        self.received().into_iter().map(|r| r.body).collect()
    }

    /// The `[llm]` section pointing at this server (a 2 s timeout unless `extra` sets one).
    /// No warm-up request at start unless `extra` sets `warm_up`.
    /// The intent classifier stays out of the way (`classifier = "off"`) unless `extra`
    /// says otherwise: these tests script what the model does with every message, and
    /// `llm_classifier.rs` tests what the classifier settles without it.
    pub fn config(&self, extra: &str) -> String {
        let timeout = if extra.contains("timeout_secs") {
            ""
        } else {
            "timeout_secs = 2\n"
        };
        let classifier = if extra.contains("classifier") {
            ""
        } else {
            "classifier = \"off\"\n"
        };
        // No warm-up request at start unless asked for: it would take a scripted answer.
        let warm_up = if extra.contains("warm_up") {
            ""
        } else {
            "warm_up = false\n"
        };
        format!(
            "[llm]\nbase_url = \"{}\"\nmodel = \"scripted-model\"\n{timeout}{classifier}{warm_up}{extra}\n",
            self.url
        )
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn completions(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let step = {
        let mut inner = inner.lock().unwrap();
        inner.received.push(Received {
            body,
            at: Instant::now(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        inner.script.pop_front()
    };
    let mut step = step.unwrap_or_else(|| Step::Error {
        status: 500,
        retry_after: None,
        message: "the test script is exhausted".into(),
    });
    loop {
        match step {
            Step::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                step = *inner;
            }
            Step::Json(v) => return (StatusCode::OK, axum::Json(v)).into_response(),
            Step::Error {
                status,
                retry_after,
                message,
            } => {
                let code =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let (kind, code_name) = match status {
                    429 => ("requests", "rate_limit_exceeded"),
                    400 => ("invalid_request_error", "invalid_request"),
                    _ => ("server_error", "server_error"),
                };
                let body = json!({ "error": { "message": message, "type": kind, "param": null, "code": code_name } });
                let mut resp = (code, axum::Json(body)).into_response();
                if let Some(s) = retry_after {
                    resp.headers_mut()
                        .insert("retry-after", s.to_string().parse().unwrap());
                }
                return resp;
            }
        }
    }
}

fn completion(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": 1_741_569_952u32,
        "model": "scripted-model",
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason
        }],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 }
        },
        "service_tier": "default"
    })
}

/// The model calls `name` with `arguments` (a JSON string, as on the wire; may be malformed).
pub fn call(name: &str, arguments: &str) -> Step {
    calls(&[(name, arguments)])
}

/// Several calls in one message.
pub fn calls(list: &[(&str, &str)]) -> Step {
    let tool_calls: Vec<Value> = list
        .iter()
        .map(|(name, args)| {
            json!({
                "id": format!("call_{}", uuid::Uuid::new_v4().simple()),
                "type": "function",
                "function": { "name": name, "arguments": args }
            })
        })
        .collect();
    Step::Json(completion(
        json!({ "role": "assistant", "content": null, "tool_calls": tool_calls, "refusal": null, "annotations": [] }),
        "tool_calls",
    ))
}

/// The model answers in text.
pub fn text(content: &str) -> Step {
    Step::Json(completion(
        json!({ "role": "assistant", "content": content, "refusal": null, "annotations": [] }),
        "stop",
    ))
}

pub fn error(status: u16) -> Step {
    Step::Error {
        status,
        retry_after: None,
        message: format!("scripted {status}"),
    }
}

pub fn rate_limited(retry_after: u64) -> Step {
    Step::Error {
        status: 429,
        retry_after: Some(retry_after),
        message: "Rate limit reached for requests".into(),
    }
}

pub fn slow(delay: Duration, then: Step) -> Step {
    Step::Delay(delay, Box::new(then))
}

/// The messages of a request body.
pub fn messages(body: &Value) -> Vec<Value> {
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// The names of the tools offered in a request body (empty when none were).
pub fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The text of the `tool` role messages of a request body.
pub fn tool_results(body: &Value) -> Vec<String> {
    messages(body)
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}
