//! Who a Slack user is on the platform: the Slack id is resolved once through
//! `users.info` (cached) to an email, then to the catalog user with that email.
//! The result is what the approval policy and the audit log see.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::chat::UserRef;
use crate::domain::{UserId, UserIdError};
use crate::platform::catalog::Catalog;

use super::api::SlackWebApi;

/// How long a resolved identity is trusted before `users.info` is asked again
/// (an email or catalog change shows up within this time).
const CACHE_TTL: Duration = Duration::from_secs(60 * 60);
const CACHE_MAX: usize = 10_000;

/// Why a Slack account gets no answer as a platform user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unserved {
    /// A guest (restricted) account, a Slack Connect stranger, a bot or a deleted account:
    /// told so, never served.
    Guest,
    /// No usable id at all (logged and ignored).
    Unusable,
}

/// What the cache remembers of a Slack account.
#[derive(Debug, Clone)]
enum Cached {
    User(UserId),
    Guest,
}

/// The reply to an account platbot does not serve.
pub const GUEST_REPLY: &str = "I only work with full members of this workspace: guest, external (Slack Connect) and bot accounts can't ask me anything. Ask a teammate from the platform's catalog to ask for you.";

pub struct SlackIdentity {
    api: Arc<SlackWebApi>,
    catalog: Arc<Catalog>,
    cache: Mutex<HashMap<String, (Instant, Cached)>>,
}

/// The platform user for an email: the catalog user with exactly that email (any case).
/// Anyone else, including an account whose email only shares the local part with a catalog
/// user (a guest or a Slack Connect account from another domain), is `slack:<id>`: a name no
/// catalog user has, so they can ask questions but never request or confirm a change.
/// Fails only when the Slack id is not a usable id.
pub fn platform_user(
    catalog: &Catalog,
    email: Option<&str>,
    slack_id: &str,
) -> Result<UserId, UserIdError> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    if let Some(email) = email
        && let Some(user) = catalog.users().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    {
        return Ok(user.name.clone());
    }
    unmapped(slack_id)
}

/// The id of a Slack account platbot does not map to a platform user.
fn unmapped(slack_id: &str) -> Result<UserId, UserIdError> {
    let id = UserId::parse(slack_id)?;
    UserId::parse(&format!("slack:{id}"))
}

impl SlackIdentity {
    pub fn new(api: Arc<SlackWebApi>, catalog: Arc<Catalog>) -> Self {
        Self {
            api,
            catalog,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The platform user behind a Slack user id. A failing `users.info` is logged and falls
    /// back to the Slack id, uncached, so the next message tries again.
    pub async fn resolve(&self, slack_id: &str) -> Result<UserRef, Unserved> {
        let display = Some(format!("<@{slack_id}>"));
        match self.cached(slack_id) {
            Some(Cached::Guest) => return Err(Unserved::Guest),
            Some(Cached::User(id)) => {
                return Ok(UserRef {
                    id,
                    display,
                    via: None,
                });
            }
            None => {}
        }
        let email = match self.api.user_info(slack_id).await {
            // Guests, Slack Connect strangers, bots and deleted accounts are never mapped to a
            // platform user, whatever their email says.
            Ok(user)
                if [
                    user.flags.is_restricted,
                    user.flags.is_ultra_restricted,
                    user.flags.is_stranger,
                    user.flags.is_bot,
                    user.deleted,
                ]
                .contains(&Some(true)) =>
            {
                tracing::info!(
                    slack_user = slack_id,
                    "guest, external or bot account: not served"
                );
                self.remember(slack_id, Cached::Guest);
                return Err(Unserved::Guest);
            }
            Ok(user) => {
                let email = user
                    .profile
                    .as_ref()
                    .and_then(|p| p.email.as_ref())
                    .map(|e| e.to_string());
                if email.is_none() {
                    tracing::warn!(
                        slack_user = slack_id,
                        "users.info has no email (is the users:read.email scope granted?)"
                    );
                }
                Some(email)
            }
            Err(e) => {
                tracing::warn!(slack_user = slack_id, error = %e, "cannot resolve Slack user");
                None
            }
        };
        let id = match platform_user(
            &self.catalog,
            email.as_ref().and_then(Option::as_deref),
            slack_id,
        ) {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "Slack event without a usable user id; ignored");
                return Err(Unserved::Unusable);
            }
        };
        if email.is_some() {
            self.remember(slack_id, Cached::User(id.clone()));
        }
        Ok(UserRef {
            id,
            display,
            via: None,
        })
    }

    fn cached(&self, slack_id: &str) -> Option<Cached> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(slack_id)
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, id)| id.clone())
    }

    fn remember(&self, slack_id: &str, id: Cached) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(slack_id.to_owned(), (Instant::now(), id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = "apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: priya.nair
spec:
  profile: {displayName: Priya Nair, email: Priya@Payments.Example.com}
  memberOf: []
";

    #[test]
    fn only_an_exact_email_maps_to_a_catalog_user() {
        let catalog = Catalog::from_yaml_str(CATALOG, "test").unwrap();
        let who = |email: Option<&str>| {
            platform_user(&catalog, email, "U024BE7LH")
                .unwrap()
                .to_string()
        };
        assert_eq!(who(Some("priya@payments.example.com")), "priya.nair");
        // Same local part, another domain (a guest, Slack Connect): not priya.nair.
        assert_eq!(who(Some("priya@another-domain.test")), "slack:u024be7lh");
        assert_eq!(
            who(Some("priya.nair@another-domain.test")),
            "slack:u024be7lh"
        );
        assert_eq!(who(Some("Sam.Ops@example.com")), "slack:u024be7lh");
        assert_eq!(who(None), "slack:u024be7lh");
        assert_eq!(who(Some("  ")), "slack:u024be7lh");
        assert!(platform_user(&catalog, None, " ").is_err());
    }
}
