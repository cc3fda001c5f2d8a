//! Who is on call: a team's rotation from a schedule file, PagerDuty or Opsgenie, behind one
//! trait. [`OnCall`] picks the provider per team (from `[oncall]`), works out what to ask it
//! (a schedule, an escalation policy, a PagerDuty service), and caches answers for a minute
//! so a busy channel does not hammer the providers' APIs.

pub mod opsgenie;
pub mod pagerduty;
pub mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

pub use self::opsgenie::Opsgenie;
pub use self::pagerduty::PagerDuty;
pub use self::schedule::{ScheduleError, ScheduleFile};
use super::catalog::Service;
use super::http::HttpError;
use crate::config::{OnCallProviderKind, OnCallSettings};
use crate::domain::TeamName;

/// The Backstage annotation naming a Component's PagerDuty service.
pub const PAGERDUTY_SERVICE_ANNOTATION: &str = "pagerduty.com/service-id";
/// Cached answers kept at most; past it the cache starts over (answers are cheap to refetch).
const CACHE_LIMIT: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    /// Something is missing from the configuration or the catalog; the message names it.
    #[error("{0}")]
    NotConfigured(String),
    /// The provider answered 404 for the schedule, escalation policy or service asked about.
    #[error("{provider}: no such {what} `{id}`")]
    NoSuch {
        provider: &'static str,
        what: &'static str,
        id: String,
    },
    #[error("{provider} rejected the token (check the variable ${token_env})")]
    TokenRejected {
        provider: &'static str,
        token_env: String,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("{provider} says nobody is on call for {what} right now")]
    NobodyOnCall {
        provider: &'static str,
        what: String,
    },
}

/// A person on a rotation, with whatever the provider and the directory know of them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Person {
    pub name: String,
    /// The platform user id (catalog User name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Slack member id (`U…`); a Slack surface renders it as a mention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack_id: Option<String>,
    /// Chat handle as people write it (`@priya`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

impl Person {
    /// "Priya Nair (@priya)".
    pub fn display(&self) -> String {
        match &self.handle {
            Some(h) => format!("{} ({h})", self.name),
            None => self.name.clone(),
        }
    }
}

/// One person's stretch on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub person: Person,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rota {
    /// The schedule or escalation policy the answer comes from, by name where known.
    pub schedule: Option<String>,
    pub primary: Option<Shift>,
    pub secondary: Option<Shift>,
    /// The rotation's own time zone, when the provider knows it.
    pub time_zone: Option<String>,
}

/// What to ask a provider about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The team's rotation in the schedule file.
    Team(TeamName),
    /// A PagerDuty schedule id, or an Opsgenie schedule name or id.
    Schedule(String),
    /// A PagerDuty escalation policy id.
    EscalationPolicy(String),
    /// A PagerDuty service id (its escalation policy answers).
    Service(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::Team(t) => format!("team {t}'s rotation"),
            Target::Schedule(s) => format!("schedule `{s}`"),
            Target::EscalationPolicy(p) => format!("escalation policy `{p}`"),
            Target::Service(s) => format!("service `{s}`"),
        }
    }
}

/// A source of on-call answers.
#[async_trait::async_trait]
pub trait OnCallProvider: Send + Sync {
    fn kind(&self) -> OnCallProviderKind;
    /// Who is on call for `target` at `at`.
    async fn on_call(&self, target: &Target, at: Timestamp) -> Result<Rota, OnCallError>;
}

/// The answer for a team, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub team: TeamName,
    pub provider: OnCallProviderKind,
    pub target: Target,
    pub rota: Rota,
    /// The time zone times are shown in: the team's override, the rotation's, else UTC.
    pub time_zone: String,
    /// Served from the cache rather than a fresh provider call.
    pub cached: bool,
}

#[derive(Default)]
struct Cache {
    entries: Mutex<HashMap<(OnCallProviderKind, Target), (Instant, Rota)>>,
}

impl Cache {
    fn get(
        &self,
        key: &(OnCallProviderKind, Target),
        ttl: Duration,
        at: Timestamp,
    ) -> Option<Rota> {
        let map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (stored, rota) = map.get(key)?;
        // A handoff inside the TTL makes the cached answer wrong: refetch past it.
        let expired = rota
            .primary
            .as_ref()
            .and_then(|p| p.until)
            .is_some_and(|until| until <= at);
        (stored.elapsed() < ttl && !expired).then(|| rota.clone())
    }

    fn put(&self, key: (OnCallProviderKind, Target), rota: Rota) {
        let mut map = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, (Instant::now(), rota));
    }
}

/// Every configured on-call provider, the per-team choice between them, and the cache.
pub struct OnCall {
    settings: OnCallSettings,
    schedule: Option<Arc<ScheduleFile>>,
    pagerduty: Option<PagerDuty>,
    opsgenie: Option<Opsgenie>,
    cache: Cache,
}

impl OnCall {
    /// Builds the providers `settings` configure; `schedule` is the parsed schedule file.
    pub fn new(
        settings: OnCallSettings,
        schedule: Option<ScheduleFile>,
    ) -> Result<Self, OnCallError> {
        let pagerduty = settings
            .pagerduty
            .as_ref()
            .map(|api| PagerDuty::new(api, settings.timeout))
            .transpose()?;
        let opsgenie = settings
            .opsgenie
            .as_ref()
            .map(|api| Opsgenie::new(api, settings.timeout))
            .transpose()?;
        Ok(Self {
            schedule: schedule.map(Arc::new),
            pagerduty,
            opsgenie,
            cache: Cache::default(),
            settings,
        })
    }

    /// No provider at all: every question gets a reply saying what to configure.
    pub fn disabled() -> Self {
        Self {
            settings: OnCallSettings::default(),
            schedule: None,
            pagerduty: None,
            opsgenie: None,
            cache: Cache::default(),
        }
    }

    pub fn schedule_file(&self) -> Option<&ScheduleFile> {
        self.schedule.as_deref()
    }

    /// Who is on call for `team` at `at`; `service` (owned by `team`) when the question named
    /// one, so its own PagerDuty service can answer.
    pub async fn who(
        &self,
        team: &TeamName,
        service: Option<&Service>,
        at: Timestamp,
    ) -> Result<Answer, OnCallError> {
        let kind = self.settings.provider_for(team);
        let target = self.target(kind, team, service)?;
        let key = (kind, target.clone());
        let (rota, cached) = match self.cache.get(&key, self.settings.cache_ttl, at) {
            Some(rota) => (rota, true),
            None => {
                let rota = self.provider(kind)?.on_call(&target, at).await?;
                // The schedule file is local and exact: only remote answers are cached.
                if kind != OnCallProviderKind::ScheduleFile && !self.settings.cache_ttl.is_zero() {
                    self.cache.put(key, rota.clone());
                }
                (rota, false)
            }
        };
        let time_zone = self
            .settings
            .teams
            .get(team)
            .and_then(|t| t.timezone.clone())
            .or_else(|| self.rotation_time_zone(team))
            .or_else(|| rota.time_zone.clone())
            .filter(|tz| TimeZone::get(tz).is_ok())
            .unwrap_or_else(|| "UTC".to_owned());
        Ok(Answer {
            team: team.clone(),
            provider: kind,
            target,
            rota,
            time_zone,
            cached,
        })
    }

    fn rotation_time_zone(&self, team: &TeamName) -> Option<String> {
        self.schedule
            .as_ref()
            .and_then(|s| s.rotation(team))
            .map(|r| r.time_zone_name().to_owned())
    }

    fn provider(&self, kind: OnCallProviderKind) -> Result<&dyn OnCallProvider, OnCallError> {
        let missing = |what: &str| OnCallError::NotConfigured(what.to_owned());
        Ok(match kind {
            OnCallProviderKind::ScheduleFile => self.schedule.as_deref().ok_or_else(|| {
                missing("no on-call schedule is configured: set [oncall] schedule_file, or a PagerDuty or Opsgenie provider")
            })?,
            OnCallProviderKind::PagerDuty => self
                .pagerduty
                .as_ref()
                .ok_or_else(|| missing("PagerDuty is not configured ([oncall.pagerduty])"))?,
            OnCallProviderKind::Opsgenie => self
                .opsgenie
                .as_ref()
                .ok_or_else(|| missing("Opsgenie is not configured ([oncall.opsgenie])"))?,
        })
    }

    /// What to ask `kind` about for `team` (and `service`), or what is missing to ask at all.
    fn target(
        &self,
        kind: OnCallProviderKind,
        team: &TeamName,
        service: Option<&Service>,
    ) -> Result<Target, OnCallError> {
        let overrides = self.settings.teams.get(team);
        match kind {
            OnCallProviderKind::ScheduleFile => Ok(Target::Team(team.clone())),
            OnCallProviderKind::PagerDuty => {
                let service_id = service.and_then(|s| {
                    s.annotations
                        .get(PAGERDUTY_SERVICE_ANNOTATION)
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                });
                if let Some(id) = service_id {
                    return Ok(Target::Service(id));
                }
                if let Some(p) = overrides.and_then(|o| o.escalation_policy.clone()) {
                    return Ok(Target::EscalationPolicy(p));
                }
                if let Some(s) = overrides.and_then(|o| o.schedule.clone()) {
                    return Ok(Target::Schedule(s));
                }
                if let Some(p) = self
                    .schedule
                    .as_ref()
                    .and_then(|f| f.rotation(team))
                    .and_then(|r| r.pagerduty_escalation_policy.clone())
                {
                    return Ok(Target::EscalationPolicy(p));
                }
                let about = match service {
                    Some(s) => format!(
                        "service {} has no `{PAGERDUTY_SERVICE_ANNOTATION}` annotation and its team {team}",
                        s.name
                    ),
                    None => format!("team {team}"),
                };
                Err(OnCallError::NotConfigured(format!(
                    "{about} has no PagerDuty escalation policy or schedule: set `escalation_policy` or `schedule` in [oncall.teams.{team}]"
                )))
            }
            OnCallProviderKind::Opsgenie => overrides
                .and_then(|o| o.schedule.clone())
                .map(Target::Schedule)
                .ok_or_else(|| {
                    OnCallError::NotConfigured(format!(
                        "team {team} has no Opsgenie schedule: set `schedule` in [oncall.teams.{team}]"
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TeamOnCall;

    fn team(t: &str) -> TeamName {
        TeamName::parse(t).unwrap()
    }

    #[test]
    fn pagerduty_targets_prefer_the_service_then_the_team_overrides_then_the_file() {
        let catalog = crate::platform::Catalog::sandbox();
        let mut settings = OnCallSettings {
            default_provider: OnCallProviderKind::PagerDuty,
            ..OnCallSettings::default()
        };
        settings.teams.insert(
            team("search"),
            TeamOnCall {
                schedule: Some("PSCHED1".into()),
                ..TeamOnCall::default()
            },
        );
        let oncall = OnCall {
            schedule: Some(Arc::new(ScheduleFile::sandbox())),
            ..OnCall::new(settings, None).unwrap()
        };
        let pd = OnCallProviderKind::PagerDuty;
        let cart = catalog.service("cart").unwrap();
        let cart_id = cart.annotations[PAGERDUTY_SERVICE_ANNOTATION].clone();
        assert_eq!(
            oncall.target(pd, &team("checkout"), Some(cart)).unwrap(),
            Target::Service(cart_id)
        );
        assert_eq!(
            oncall.target(pd, &team("search"), None).unwrap(),
            Target::Schedule("PSCHED1".into())
        );
        assert_eq!(
            oncall.target(pd, &team("payments"), None).unwrap(),
            Target::EscalationPolicy("PEP4Q7M".into())
        );
        let err = OnCall::new(
            OnCallSettings {
                default_provider: pd,
                ..OnCallSettings::default()
            },
            None,
        )
        .unwrap()
        .target(pd, &team("payments"), None)
        .unwrap_err();
        assert!(err.to_string().contains("[oncall.teams.payments]"), "{err}");
    }

    #[test]
    fn without_providers_the_reply_says_what_to_configure() {
        let oncall = OnCall::disabled();
        let err = oncall
            .provider(OnCallProviderKind::ScheduleFile)
            .err()
            .unwrap();
        assert!(err.to_string().contains("schedule_file"), "{err}");
    }

    #[test]
    fn cache_expires_by_age_and_at_a_handoff() {
        let cache = Cache::default();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let rota = Rota {
            schedule: None,
            primary: Some(Shift {
                person: Person::default(),
                since: None,
                until: Some(now + jiff::SignedDuration::from_secs(30)),
            }),
            secondary: None,
            time_zone: None,
        };
        let key = (OnCallProviderKind::PagerDuty, Target::Schedule("S".into()));
        cache.put(key.clone(), rota.clone());
        let ttl = Duration::from_secs(60);
        assert_eq!(cache.get(&key, ttl, now), Some(rota));
        assert_eq!(
            cache.get(&key, ttl, now + jiff::SignedDuration::from_secs(31)),
            None
        );
        assert_eq!(cache.get(&key, Duration::ZERO, now), None);
    }
}
