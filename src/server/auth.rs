//! Who is calling the API, and whom each request may act as.
//!
//! A caller proves who they are with a bearer token: a configured client's token (compared by
//! SHA-256 digest in constant time) or an OIDC JWT ([`super::oidc`]). Without any configured
//! authentication the API is local-only ([`crate::config::HttpSettings::check_exposure`]) and
//! the request body names the user, as a terminal would.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};

use super::oidc::{OidcError, OidcVerifier};
use crate::chat::UserRef;
use crate::config::{ActsAs, HttpClient, HttpSettings, token_digest};
use crate::domain::UserId;

/// Why a request was not let in, or may not act as the user it names.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token (Authorization: Bearer <token>)")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
    #[error("the bearer token is not valid: {0}")]
    Oidc(#[from] OidcError),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadUser(String),
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Missing | Self::Invalid | Self::Oidc(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadUser(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// A request's caller, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No authentication is configured (loopback only): the body names the user.
    Local,
    /// A configured client.
    Client { name: Arc<str>, acts_as: ActsAs },
    /// A person with an OIDC token.
    Person { user: UserId },
}

impl Caller {
    /// The user this request acts as, given the user the body names (if it names one).
    pub fn acting_user(&self, named: Option<&str>) -> Result<UserRef, AuthError> {
        let parse =
            |raw: &str| UserId::parse(raw).map_err(|e| AuthError::BadUser(format!("user: {e}")));
        let named = named.map(parse).transpose()?;
        match (self, named) {
            (Caller::Local, Some(user)) => Ok(UserRef::direct(user)),
            (Caller::Local, None) => Err(AuthError::BadUser(
                "user: missing (name the user this request is for)".into(),
            )),
            (Caller::Client { name, acts_as }, named) => match (acts_as, named) {
                (ActsAs::User(own), None) => Ok(UserRef::direct(own.clone())),
                (ActsAs::User(own), Some(user)) if &user == own => Ok(UserRef::direct(user)),
                (ActsAs::User(own), Some(user)) => Err(AuthError::Forbidden(format!(
                    "client `{name}` acts as {own} and may not act as {user}"
                ))),
                (ActsAs::AnyUser, Some(user)) => Ok(UserRef {
                    id: user,
                    display: None,
                    via: Some(name.to_string()),
                }),
                (ActsAs::AnyUser, None) => Err(AuthError::BadUser(format!(
                    "user: missing (client `{name}` acts for users and must name one)"
                ))),
            },
            (Caller::Person { user: own }, None) => Ok(UserRef::direct(own.clone())),
            (Caller::Person { user: own }, Some(user)) if &user == own => Ok(UserRef::direct(user)),
            (Caller::Person { user: own }, Some(user)) => Err(AuthError::Forbidden(format!(
                "your token is {own}'s and may not act as {user}"
            ))),
        }
    }

    /// Conversations are kept apart per caller, so one client cannot read or steer another's
    /// threads by guessing their ids.
    pub fn channel(&self) -> String {
        match self {
            Caller::Local => "api".to_owned(),
            Caller::Client { name, .. } => format!("client:{name}"),
            Caller::Person { user } => format!("user:{user}"),
        }
    }

    /// The key requests are rate-limited under.
    pub fn rate_key(&self) -> String {
        self.channel()
    }
}

/// The configured callers.
pub struct Callers {
    clients: Vec<HttpClient>,
    oidc: Option<OidcVerifier>,
}

impl Callers {
    pub fn new(settings: &HttpSettings) -> Self {
        Self {
            clients: settings.clients.clone(),
            oidc: settings.oidc.clone().map(OidcVerifier::new),
        }
    }

    /// Nobody needs to authenticate (tests and a local-only API).
    pub fn open() -> Self {
        Self {
            clients: Vec::new(),
            oidc: None,
        }
    }

    pub fn authenticates(&self) -> bool {
        !self.clients.is_empty() || self.oidc.is_some()
    }

    /// The caller behind a request's headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        if !self.authenticates() {
            return Ok(Caller::Local);
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if let Some(client) = self.client(token) {
            return Ok(Caller::Client {
                name: client.name.as_str().into(),
                acts_as: client.acts_as.clone(),
            });
        }
        match &self.oidc {
            Some(oidc) if looks_like_jwt(token) => Ok(Caller::Person {
                user: oidc.verify(token).await?,
            }),
            _ => Err(AuthError::Invalid),
        }
    }

    /// The client whose token this is. Every digest is compared, in constant time, so the
    /// timing says nothing about which client (if any) came close.
    fn client(&self, token: &str) -> Option<&HttpClient> {
        let given = token_digest(token);
        let mut found = None;
        for c in &self.clients {
            if constant_time_eq(&given, &c.token_sha256) {
                found = Some(c);
            }
        }
        found
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
