//! A small JSON client for the REST APIs platbot reads (PagerDuty, Opsgenie, Argo CD,
//! Backstage): every request has a timeout, path segments are escaped, and failures come
//! back as errors a chat user can read (401 means the token was rejected, and so on).

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// How long a TCP connect may take, at most; the request timeout bounds the rest.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Error bodies are quoted in replies; keep a misbehaving server's HTML page out of chat.
const MAX_DETAIL_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("{system}: bad API URL `{url}`: {message}")]
    BadUrl {
        system: &'static str,
        url: String,
        message: String,
    },
    #[error("{system}: cannot build an HTTP client: {message}")]
    Client {
        system: &'static str,
        message: String,
    },
    #[error("{system} rejected the token (HTTP 401{})", detail_suffix(.detail))]
    TokenRejected {
        system: &'static str,
        detail: String,
    },
    #[error("{system} refused access (HTTP 403{})", detail_suffix(.detail))]
    Forbidden {
        system: &'static str,
        detail: String,
    },
    #[error("{system} has no such {what} (HTTP 404{})", detail_suffix(.detail))]
    NotFound {
        system: &'static str,
        what: String,
        detail: String,
    },
    #[error("{system} did not answer within {} s", .timeout.as_secs_f64())]
    Timeout {
        system: &'static str,
        timeout: Duration,
    },
    #[error("cannot reach {system} at {url}: {message}")]
    Unreachable {
        system: &'static str,
        url: String,
        message: String,
    },
    #[error("{system} answered HTTP {status}{}", detail_suffix(.detail))]
    Status {
        system: &'static str,
        status: u16,
        detail: String,
    },
    #[error("{system} sent a response platbot cannot read: {message}")]
    Decode {
        system: &'static str,
        message: String,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// Pulls the human-readable message out of a provider's error body.
pub type ErrorMessage = fn(&Value) -> Option<String>;

/// One REST API: base URL, auth header, timeout.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
    system: &'static str,
    timeout: Duration,
    error_message: ErrorMessage,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("system", &self.system)
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// `authorization` is the whole header value (`Bearer …`, `Token token=…`, `GenieKey …`);
    /// it is marked sensitive so it never shows in debug output.
    pub fn new(
        system: &'static str,
        base_url: &str,
        authorization: Option<&str>,
        extra_headers: &[(HeaderName, &str)],
        timeout: Duration,
        error_message: ErrorMessage,
    ) -> Result<Self, HttpError> {
        let base = reqwest::Url::parse(base_url).map_err(|e| HttpError::BadUrl {
            system,
            url: base_url.to_owned(),
            message: e.to_string(),
        })?;
        if base.cannot_be_a_base() {
            return Err(HttpError::BadUrl {
                system,
                url: base_url.to_owned(),
                message: "not a base URL".into(),
            });
        }
        let client_err = |message: String| HttpError::Client { system, message };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in extra_headers {
            let value = HeaderValue::from_str(value).map_err(|e| client_err(e.to_string()))?;
            headers.insert(name.clone(), value);
        }
        if let Some(auth) = authorization {
            let mut value = HeaderValue::from_str(auth)
                .map_err(|_| client_err("the token cannot be sent in an HTTP header".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(concat!("platbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| client_err(e.to_string()))?;
        Ok(Self {
            http,
            base,
            system,
            timeout,
            error_message,
        })
    }

    pub fn system(&self) -> &'static str {
        self.system
    }

    /// The base URL with `segments` appended, each escaped (an id cannot climb out of its path).
    pub fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// GETs `segments` with `query` and decodes the JSON answer. `what` names the thing
    /// asked for, for the 404 message ("schedule `PXYZ`").
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T, HttpError> {
        let url = self.url(segments);
        let system = self.system;
        let sent = self.http.get(url.clone()).query(query).send().await;
        let response = sent.map_err(|e| self.transport(&url, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport(&url, &e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| HttpError::Decode {
                system,
                message: e.to_string(),
            });
        }
        let detail = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| (self.error_message)(&v))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        let detail = clip(&detail);
        Err(match status.as_u16() {
            401 => HttpError::TokenRejected { system, detail },
            403 => HttpError::Forbidden { system, detail },
            404 => HttpError::NotFound {
                system,
                what: what.to_owned(),
                detail,
            },
            code => HttpError::Status {
                system,
                status: code,
                detail,
            },
        })
    }

    fn transport(&self, url: &reqwest::Url, e: &reqwest::Error) -> HttpError {
        if e.is_timeout() {
            HttpError::Timeout {
                system: self.system,
                timeout: self.timeout,
            }
        } else if e.is_decode() || e.is_body() {
            HttpError::Decode {
                system: self.system,
                message: e.to_string(),
            }
        } else {
            let mut source: Option<&dyn std::error::Error> = Some(e);
            let mut message = String::new();
            // reqwest's own message is "error sending request"; the cause says why.
            while let Some(s) = source {
                message = s.to_string();
                source = s.source();
            }
            HttpError::Unreachable {
                system: self.system,
                url: format!("{}://{}", url.scheme(), url.authority()),
                message,
            }
        }
    }
}

fn clip(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DETAIL_CHARS {
        one_line
    } else {
        let mut out: String = one_line.chars().take(MAX_DETAIL_CHARS).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> ApiClient {
        ApiClient::new(
            "Test",
            base,
            Some("Bearer x"),
            &[],
            Duration::from_secs(1),
            |_| None,
        )
        .unwrap()
    }

    #[test]
    fn segments_are_escaped_and_appended_to_the_base_path() {
        let c = client("https://example.com/backstage/");
        assert_eq!(
            c.url(&["api", "catalog", "entities"]).as_str(),
            "https://example.com/backstage/api/catalog/entities"
        );
        let c = client("https://example.com");
        assert_eq!(
            c.url(&["schedules", "../admin", "on-calls"]).as_str(),
            "https://example.com/schedules/..%2Fadmin/on-calls"
        );
    }

    #[test]
    fn bad_urls_and_headers_are_refused() {
        assert!(matches!(
            ApiClient::new("T", "not a url", None, &[], Duration::from_secs(1), |_| {
                None
            }),
            Err(HttpError::BadUrl { .. })
        ));
        assert!(matches!(
            ApiClient::new(
                "T",
                "http://x",
                Some("a\nb"),
                &[],
                Duration::from_secs(1),
                |_| None
            ),
            Err(HttpError::Client { .. })
        ));
        assert!(!format!("{:?}", client("http://x")).contains("Bearer"));
    }

    #[test]
    fn details_are_clipped_to_one_line() {
        assert_eq!(clip("a\n  b"), "a b");
        assert_eq!(clip(&"x".repeat(500)).chars().count(), MAX_DETAIL_CHARS + 1);
    }
}
