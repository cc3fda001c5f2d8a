//! `[http]`: where the API listens, who may call it, and the limits every caller works within.
//!
//! Callers are named clients with their own bearer tokens (`[[http.clients]]`), each bound to
//! one user or, for a trusted integration, allowed to name the user it acts for; or people
//! with an OIDC token (`[http.oidc]`). Only a token's SHA-256 is kept in memory.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{ConfigError, Env, invalid, secret};
use crate::domain::UserId;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    listen: Option<String>,
    /// A listener of its own for `/metrics` (and the probes), so a NetworkPolicy can admit
    /// Prometheus to it without opening the API.
    metrics_listen: Option<String>,
    /// The pre-clients single token: kept as an integration client that may act as anyone.
    token_env: Option<String>,
    clients: Vec<RawHttpClient>,
    oidc: Option<RawOidc>,
    max_body_bytes: Option<usize>,
    requests_per_minute: Option<u32>,
    max_concurrent_requests: Option<usize>,
    request_timeout_secs: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpClient {
    name: String,
    token_env: String,
    user: Option<String>,
    #[serde(default)]
    may_act_as_users: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOidc {
    issuer: String,
    audience: String,
    jwks_url: String,
    user_claim: Option<String>,
}

/// Who a client's requests act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActsAs {
    /// Always this user; a body naming someone else is refused.
    User(UserId),
    /// A trusted integration that names the user in each request; audited as "via <client>".
    AnyUser,
}

/// One API client: its name, the SHA-256 of its token, and whom it acts as.
#[derive(Clone)]
pub struct HttpClient {
    pub name: String,
    pub token_sha256: [u8; 32],
    pub acts_as: ActsAs,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("name", &self.name)
            .field("acts_as", &self.acts_as)
            .finish_non_exhaustive()
    }
}

/// OIDC bearer tokens (JWTs) verified against the issuer's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    /// The claim that holds the platform user id (`preferred_username` by default); an email
    /// is mapped to the catalog user with exactly that email.
    pub user_claim: String,
}

/// What one caller may use of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Larger request bodies get 413, on every route (Slack's included).
    pub max_body_bytes: usize,
    /// Per acting user (or client); more get 429 with `Retry-After`.
    pub requests_per_minute: u32,
    /// Requests served at once; more get 503.
    pub max_concurrent_requests: usize,
    /// A request still running after this gets 504 (a confirmed change keeps running).
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 256 * 1024,
            requests_per_minute: 60,
            max_concurrent_requests: 64,
            request_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub clients: Vec<HttpClient>,
    pub oidc: Option<OidcSettings>,
    pub limits: HttpLimits,
}

impl HttpSettings {
    /// Whether callers must prove who they are.
    pub fn authenticates(&self) -> bool {
        !self.clients.is_empty() || self.oidc.is_some()
    }

    /// The API without caller authentication takes the acting user from the request body, so it
    /// may only be reachable from this machine.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if self.authenticates() || addr.ip().is_loopback() {
            return Ok(());
        }
        Err(invalid(
            "http",
            format!(
                "refusing to serve the API on {addr} without caller authentication: anyone who can reach it could act as any user. \
                 Add [[http.clients]] (name, token_env, user or may_act_as_users) or [http.oidc] (issuer, audience, jwks_url), \
                 or listen on a loopback address (--listen 127.0.0.1:8080)"
            ),
        ))
    }
}

/// The SHA-256 of a bearer token: what the server keeps and compares.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(super) fn http_settings(
    raw: RawHttp,
    env: Env<'_>,
    warnings: &mut Vec<String>,
) -> Result<HttpSettings, ConfigError> {
    let listen_raw = env("PLATBOT_LISTEN")
        .or(raw.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = listen_raw
        .parse()
        .map_err(|e| invalid("http.listen", format!("`{listen_raw}`: {e}")))?;
    let metrics_listen = env("PLATBOT_METRICS_LISTEN")
        .or(raw.metrics_listen)
        .map(|m| {
            m.parse()
                .map_err(|e| invalid("http.metrics_listen", format!("`{m}`: {e}")))
        })
        .transpose()?;

    let mut clients = Vec::new();
    for (i, c) in raw.clients.into_iter().enumerate() {
        let field = format!("http.clients[{i}]");
        let name = c.name.trim().to_owned();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(invalid(
                format!("{field}.name"),
                "must be 1 to 64 printable characters",
            ));
        }
        if clients.iter().any(|o: &HttpClient| o.name == name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("`{name}` is used twice"),
            ));
        }
        let acts_as = match (c.user, c.may_act_as_users) {
            (Some(u), false) => {
                ActsAs::User(UserId::parse(&u).map_err(|e| invalid(format!("{field}.user"), e))?)
            }
            (None, true) => ActsAs::AnyUser,
            (Some(_), true) => {
                return Err(invalid(
                    &field,
                    "set either `user` (the client acts as that user) or `may_act_as_users = true`, not both",
                ));
            }
            (None, false) => {
                return Err(invalid(
                    &field,
                    "set `user` (the client acts as that user) or `may_act_as_users = true` (a trusted integration)",
                ));
            }
        };
        let token = secret(&format!("{field}.token_env"), &c.token_env, env)?;
        push_client(&mut clients, &field, name, &token, acts_as)?;
    }
    if let Some(var) = &raw.token_env {
        let token = secret("http.token_env", var, env)?;
        warnings.push(format!(
            "[http] token_env: one shared token (${var}) that may act as any user; give each caller its own [[http.clients]] entry"
        ));
        push_client(
            &mut clients,
            "http.token_env",
            "http.token_env".to_owned(),
            &token,
            ActsAs::AnyUser,
        )?;
    }

    let oidc = raw.oidc.map(oidc_settings).transpose()?;

    let defaults = HttpLimits::default();
    let limits = HttpLimits {
        max_body_bytes: bounded(
            "http.max_body_bytes",
            raw.max_body_bytes,
            defaults.max_body_bytes,
            1024..=16 * 1024 * 1024,
        )?,
        requests_per_minute: bounded(
            "http.requests_per_minute",
            raw.requests_per_minute,
            defaults.requests_per_minute,
            1..=100_000,
        )?,
        max_concurrent_requests: bounded(
            "http.max_concurrent_requests",
            raw.max_concurrent_requests,
            defaults.max_concurrent_requests,
            1..=10_000,
        )?,
        request_timeout: match raw.request_timeout_secs {
            None => defaults.request_timeout,
            Some(s) if s.is_finite() && (1.0..=3600.0).contains(&s) => Duration::from_secs_f64(s),
            Some(_) => {
                return Err(invalid(
                    "http.request_timeout_secs",
                    "must be between 1 and 3600",
                ));
            }
        },
    };
    Ok(HttpSettings {
        listen,
        metrics_listen,
        clients,
        oidc,
        limits,
    })
}

fn push_client(
    clients: &mut Vec<HttpClient>,
    field: &str,
    name: String,
    token: &super::Secret,
    acts_as: ActsAs,
) -> Result<(), ConfigError> {
    // A token shorter than this is guessable; two clients with one token would be one caller.
    if token.expose().len() < 16 {
        return Err(invalid(
            format!("{field}.token_env"),
            "the token must be at least 16 characters",
        ));
    }
    let token_sha256 = token_digest(token.expose());
    if let Some(other) = clients.iter().find(|c| c.token_sha256 == token_sha256) {
        return Err(invalid(
            format!("{field}.token_env"),
            format!("holds the same token as client `{}`", other.name),
        ));
    }
    clients.push(HttpClient {
        name,
        token_sha256,
        acts_as,
    });
    Ok(())
}

fn oidc_settings(raw: RawOidc) -> Result<OidcSettings, ConfigError> {
    let issuer = raw.issuer.trim().to_owned();
    let jwks_url = raw.jwks_url.trim().to_owned();
    for (field, v) in [
        ("http.oidc.issuer", &issuer),
        ("http.oidc.jwks_url", &jwks_url),
    ] {
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(invalid(field, format!("`{v}`: expected an http(s) URL")));
        }
    }
    let audience = raw.audience.trim().to_owned();
    if audience.is_empty() {
        return Err(invalid("http.oidc.audience", "is empty"));
    }
    let user_claim = raw
        .user_claim
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "preferred_username".to_owned());
    Ok(OidcSettings {
        issuer,
        audience,
        jwks_url,
        user_claim,
    })
}

fn bounded<T: PartialOrd + Copy + std::fmt::Display>(
    field: &str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(_) => Err(invalid(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        )),
    }
}

/// One line for `platbot check-config`.
pub(super) fn summary(h: &HttpSettings) -> String {
    let callers = if h.authenticates() {
        let mut parts: Vec<String> = h
            .clients
            .iter()
            .map(|c| match &c.acts_as {
                ActsAs::User(u) => format!("{} (as {u})", c.name),
                ActsAs::AnyUser => format!("{} (acts for any user)", c.name),
            })
            .collect();
        if let Some(o) = &h.oidc {
            parts.push(format!(
                "OIDC tokens of {} (user from `{}`)",
                o.issuer, o.user_claim
            ));
        }
        format!("callers: {}", parts.join(", "))
    } else {
        "no caller authentication: serves on loopback addresses only".to_owned()
    };
    format!(
        "{}; {callers}; bodies up to {} bytes, {} requests/min per user, {} at once, {:?} timeout",
        h.listen,
        h.limits.max_body_bytes,
        h.limits.requests_per_minute,
        h.limits.max_concurrent_requests,
        h.limits.request_timeout
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn clients_are_bound_to_a_user_or_named_integrations() {
        let c = Config::from_toml(
            r#"
            [[http.clients]]
            name = "priya-cli"
            token_env = "T_PRIYA"
            user = "Priya.Nair"
            [[http.clients]]
            name = "backstage-plugin"
            token_env = "T_BS"
            may_act_as_users = true
            "#,
            &vars(&[
                ("T_PRIYA", "priya-token-0123456789"),
                ("T_BS", "backstage-token-0123456789"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.clients.len(), 2);
        assert_eq!(
            c.http.clients[0].acts_as,
            ActsAs::User(UserId::parse("priya.nair").unwrap())
        );
        assert_eq!(
            c.http.clients[0].token_sha256,
            token_digest("priya-token-0123456789")
        );
        assert_eq!(c.http.clients[1].acts_as, ActsAs::AnyUser);
        assert!(!format!("{:?}", c.http).contains("0123456789"));
    }

    #[test]
    fn empty_or_missing_secrets_stop_the_start() {
        let toml = "[http]\ntoken_env = \"T\"";
        for env in [vars(&[("T", "")]), vars(&[("T", "   ")]), vars(&[])] {
            let err = Config::from_toml(toml, &env).unwrap_err().to_string();
            assert!(err.contains("http.token_env"), "{err}");
        }
        let client = "[[http.clients]]\nname = \"a\"\ntoken_env = \"T\"\nuser = \"a\"";
        let err = Config::from_toml(client, &vars(&[("T", "")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.clients[0].token_env"), "{err}");
    }

    #[test]
    fn ambiguous_clients_are_refused() {
        let both = "[[http.clients]]\nname = \"a\"\ntoken_env = \"T\"\nuser = \"a\"\nmay_act_as_users = true";
        let neither = "[[http.clients]]\nname = \"a\"\ntoken_env = \"T\"";
        let same_token = "[[http.clients]]\nname = \"a\"\ntoken_env = \"T\"\nuser = \"a\"\n[[http.clients]]\nname = \"b\"\ntoken_env = \"T\"\nuser = \"b\"";
        let short = "[[http.clients]]\nname = \"a\"\ntoken_env = \"S\"\nuser = \"a\"";
        let env = vars(&[("T", "a-long-enough-token-1"), ("S", "short")]);
        for toml in [both, neither, same_token, short] {
            assert!(Config::from_toml(toml, &env).is_err(), "{toml}");
        }
    }

    #[test]
    fn the_legacy_token_is_an_integration_with_a_warning() {
        let c = Config::from_toml(
            "[http]\ntoken_env = \"T\"",
            &vars(&[("T", "legacy-token-0123456789")]),
        )
        .unwrap();
        assert_eq!(c.http.clients[0].acts_as, ActsAs::AnyUser);
        assert!(c.warnings.iter().any(|w| w.contains("token_env")));
    }

    #[test]
    fn only_loopback_without_authentication() {
        let open = Config::from_toml("", &vars(&[])).unwrap().http;
        assert!(
            open.check_exposure("127.0.0.1:8080".parse().unwrap())
                .is_ok()
        );
        assert!(open.check_exposure("[::1]:8080".parse().unwrap()).is_ok());
        let err = open
            .check_exposure("0.0.0.0:8080".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[[http.clients]]") && err.contains("[http.oidc]"),
            "{err}"
        );
        let closed = Config::from_toml(
            "[[http.clients]]\nname = \"a\"\ntoken_env = \"T\"\nuser = \"a\"",
            &vars(&[("T", "a-long-enough-token-1")]),
        )
        .unwrap()
        .http;
        assert!(
            closed
                .check_exposure("0.0.0.0:8080".parse().unwrap())
                .is_ok()
        );
    }
}
