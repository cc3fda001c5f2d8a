//! OIDC bearer tokens: JWTs signed by the identity provider, verified against its JWKS
//! (signature, issuer, audience, expiry), the user taken from a configured claim.
//!
//! Only asymmetric algorithms are accepted: a shared-secret (HS*) token would let anyone who
//! holds the secret mint identities. Keys are cached for an hour and fetched again when a
//! token names a key id the cache does not have (key rotation), at most once a minute.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::config::OidcSettings;
use crate::domain::UserId;

const KEYS_FRESH: Duration = Duration::from_secs(3600);
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("cannot read the identity provider's keys ({0})")]
    Jwks(String),
    #[error("{0}")]
    Token(#[from] jsonwebtoken::errors::Error),
    #[error("signed with {0:?}; only asymmetric algorithms (RS*, PS*, ES*, EdDSA) are accepted")]
    Algorithm(Algorithm),
    #[error("signed with a key the identity provider does not publish")]
    UnknownKey,
    #[error("claim `{0}` is missing or not a usable user id")]
    Claim(String),
}

struct Keys {
    set: JwkSet,
    fetched: Instant,
}

pub struct OidcVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    keys: Mutex<Option<Keys>>,
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            settings,
            http,
            keys: Mutex::new(None),
        }
    }

    /// The user a valid token is for.
    pub async fn verify(&self, token: &str) -> Result<UserId, OidcError> {
        let header = jsonwebtoken::decode_header(token)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 60;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )?;
        let claim = &self.settings.user_claim;
        data.claims
            .get(claim)
            .and_then(serde_json::Value::as_str)
            .and_then(|v| UserId::parse(v).ok())
            .ok_or_else(|| OidcError::Claim(claim.clone()))
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, OidcError> {
        let mut cache = self.keys.lock().await;
        let stale = cache
            .as_ref()
            .is_none_or(|k| k.fetched.elapsed() > KEYS_FRESH);
        let rotated = cache.as_ref().is_some_and(|k| {
            kid.is_some_and(|id| k.set.find(id).is_none())
                && k.fetched.elapsed() > REFETCH_AT_MOST_EVERY
        });
        if stale || rotated {
            *cache = Some(Keys {
                set: self.fetch().await?,
                fetched: Instant::now(),
            });
        }
        let set = &cache.as_ref().ok_or(OidcError::UnknownKey)?.set;
        let jwk = match kid {
            Some(id) => set.find(id),
            // Without a key id, only an unambiguous set will do.
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        }
        .ok_or(OidcError::UnknownKey)?;
        Ok(DecodingKey::from_jwk(jwk)?)
    }

    async fn fetch(&self) -> Result<JwkSet, OidcError> {
        let response = self
            .http
            .get(&self.settings.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| OidcError::Jwks(e.to_string()))?;
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| OidcError::Jwks(e.to_string()))
    }
}
