//! Domain types at the bottom of the layers: newtypes parsed once at the edge (parse, don't
//! validate), and the conversation key every layer keys its state by.
//!
//! Every name that reaches Kubernetes or the catalog passes through one of
//! these constructors; past the edge the type is the proof that it is valid.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod identity;
pub mod message;
pub mod proposal;
pub mod tool;

pub use identity::{Actor, UserRef};
pub use message::{Inbound, Reply};
pub use tool::{ToolName, UnknownTool};

/// Why a name was refused, in words a chat user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} `{value}` is too long ({len} characters, at most {max})")]
    TooLong {
        what: &'static str,
        value: String,
        len: usize,
        max: usize,
    },
    #[error(
        "{what} `{value}` is not a valid name: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
    )]
    Invalid { what: &'static str, value: String },
}

/// A DNS-1123 label: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn dns_label(what: &'static str, raw: &str) -> Result<String, NameError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(NameError::Empty { what });
    }
    let len = value.chars().count();
    if len > 63 {
        return Err(NameError::TooLong {
            what,
            value: value.to_owned(),
            len,
            max: 63,
        });
    }
    let bytes = value.as_bytes();
    let ok_inner = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    let ok_first = bytes.first().is_some_and(u8::is_ascii_lowercase);
    let ok_last = bytes
        .last()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok_inner && ok_first && ok_last {
        Ok(value.to_owned())
    } else {
        Err(NameError::Invalid {
            what,
            value: value.to_owned(),
        })
    }
}

macro_rules! label_newtype {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                dns_label($what, raw).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(raw: String) -> Result<Self, NameError> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

label_newtype!(
    /// A Kubernetes namespace name (DNS-1123 label).
    NamespaceName,
    "namespace name"
);
label_newtype!(
    /// A team, as named by its catalog Group entity.
    TeamName,
    "team name"
);
label_newtype!(
    /// A service, as named by its catalog Component entity.
    ServiceName,
    "service name"
);

label_newtype!(
    /// Who an on-call question is about: a team or a service, as the user named it.
    OnCallSubject,
    "team or service name"
);

impl NamespaceName {
    /// The golden-path name of a team's namespace in one environment: `<team>-<environment>`.
    pub fn for_team(team: &TeamName, env: &Environment) -> Result<Self, NameError> {
        Self::parse(&format!("{team}-{env}"))
    }
}

/// A deployment environment, canonicalised once: `production`, `prd` and `live`
/// become `prod`; `stage` and `stg` become `staging`; `development` and `develop` become `dev`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(
    description = "Environment name: dev, staging or prod (synonyms such as production, prd, live, stage, stg, development are accepted)"
)]
pub struct Environment(String);

impl Environment {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let lowered = raw.trim().to_ascii_lowercase();
        let canonical = canonical_environment(&lowered).unwrap_or(&lowered);
        dns_label("environment", canonical).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The canonical form of an environment synonym, if the word is one.
pub fn canonical_environment(word: &str) -> Option<&'static str> {
    Some(match word {
        "prod" | "production" | "prd" | "live" | "prod-env" => "prod",
        "staging" | "stage" | "stg" | "stag" | "preprod" | "pre-prod" => "staging",
        "dev" | "development" | "develop" | "devel" => "dev",
        _ => return None,
    })
}

impl TryFrom<String> for Environment {
    type Error = NameError;
    fn try_from(raw: String) -> Result<Self, NameError> {
        Self::parse(&raw)
    }
}
impl From<Environment> for String {
    fn from(v: Environment) -> String {
        v.0
    }
}
impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A platform user as the policy and the audit log know them (e.g. `priya.nair`).
///
/// Canonical (lowercase) from the moment it is parsed: the catalog, the approval policy, the
/// audit log and impersonation all compare ids, and `Tomas.Ruiz` must never count as a second
/// person next to `tomas.ruiz`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    #[error("user id is empty")]
    Empty,
    #[error("user id `{0}` is too long (at most 254 characters)")]
    TooLong(String),
    #[error("user id `{0}` contains whitespace or control characters")]
    Invalid(String),
}

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, UserIdError> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(UserIdError::Empty);
        }
        if v.len() > 254 {
            return Err(UserIdError::TooLong(v.chars().take(40).collect()));
        }
        if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UserIdError::Invalid(v.to_owned()));
        }
        Ok(Self(v.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for UserId {
    type Error = UserIdError;
    fn try_from(raw: String) -> Result<Self, UserIdError> {
        Self::parse(&raw)
    }
}
impl From<UserId> for String {
    fn from(v: UserId) -> String {
        v.0
    }
}
impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Surface {
    Terminal,
    Http,
    Slack,
    Discord,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Terminal => "terminal",
            Surface::Http => "http",
            Surface::Slack => "slack",
            Surface::Discord => "discord",
        }
    }
}

/// One conversation: a thread on a surface. Thread memory, pending
/// clarifications and proposals are keyed by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationKey {
    pub surface: Surface,
    pub channel: String,
    pub thread: String,
}

impl ConversationKey {
    pub fn new(surface: Surface, channel: impl Into<String>, thread: impl Into<String>) -> Self {
        Self {
            surface,
            channel: channel.into(),
            thread: thread.into(),
        }
    }
}

impl fmt::Display for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.surface.as_str(),
            self.channel,
            self.thread
        )
    }
}

/// A source an answer is built from: what to show and where it lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub title: String,
    pub link: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_dns_1123_labels() {
        assert!(NamespaceName::parse("payments-dev").is_ok());
        assert!(NamespaceName::parse("a").is_ok());
        for bad in ["", "Payments", "-x", "x-", "a_b", "a.b", "1abc"] {
            assert!(NamespaceName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = "a".repeat(64);
        assert!(matches!(
            NamespaceName::parse(&long),
            Err(NameError::TooLong { len: 64, .. })
        ));
        assert!(NamespaceName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn environments_are_canonicalised() {
        for (raw, want) in [
            ("production", "prod"),
            ("PRD", "prod"),
            ("live", "prod"),
            ("stg", "staging"),
            ("stage", "staging"),
            ("development", "dev"),
            ("qa", "qa"),
        ] {
            assert_eq!(Environment::parse(raw).unwrap().as_str(), want);
        }
        assert!(Environment::parse("not an env").is_err());
    }

    #[test]
    fn user_ids_are_one_canonical_spelling() {
        let a = UserId::parse("Tomas.Ruiz").unwrap();
        let b = UserId::parse(" tomas.ruiz ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "tomas.ruiz");
        let de: UserId = serde_json::from_str("\"TOMAS.RUIZ\"").unwrap();
        assert_eq!(de, a);
    }

    #[test]
    fn newtypes_parse_when_deserialised() {
        let ok: Result<ServiceName, _> = serde_json::from_str("\"cart\"");
        assert!(ok.is_ok());
        let bad: Result<ServiceName, _> = serde_json::from_str("\"Cart Service\"");
        assert!(bad.is_err());
        let env: Environment = serde_json::from_str("\"prd\"").unwrap();
        assert_eq!(env.as_str(), "prod");
    }
}
