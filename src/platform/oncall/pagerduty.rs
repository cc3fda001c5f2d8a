//! PagerDuty REST API v2: who is on call for an escalation policy, a schedule, or a service
//! (through its escalation policy). `GET /oncalls` pages with `limit`/`offset`/`more`; the
//! named object is read first (`/schedules/{id}`, `/escalation_policies/{id}`,
//! `/services/{id}`), which gives its name and turns an unknown id into "no such schedule".

use std::collections::HashSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use reqwest::header::ACCEPT;
use serde::Deserialize;
use serde_json::Value;

use super::{OnCallError, OnCallProvider, Person, Rota, Shift, Target};
use crate::config::{OnCallProviderKind, ProviderApi};
use crate::platform::http::{ApiClient, HttpError};

const SYSTEM: &str = "PagerDuty";
const PAGE_SIZE: u32 = 100;
/// Pages read at most: far more on-call entries than one policy has at one instant.
const MAX_PAGES: u32 = 10;

/// `{"error": {"message": "...", "code": 2100, "errors": ["..."]}}`.
fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str)?.to_owned();
    let details: Vec<&str> = e
        .get("errors")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Some(if details.is_empty() {
        message
    } else {
        format!("{message} ({})", details.join("; "))
    })
}

#[derive(Debug, Deserialize)]
struct Reference {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

impl Reference {
    fn label(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.summary.clone())
            .unwrap_or_else(|| self.id.clone())
    }
}

#[derive(Debug, Deserialize)]
struct ServiceBody {
    service: ServiceObject,
}

#[derive(Debug, Deserialize)]
struct ServiceObject {
    escalation_policy: Reference,
}

#[derive(Debug, Deserialize)]
struct ScheduleBody {
    schedule: Reference,
}

#[derive(Debug, Deserialize)]
struct PolicyBody {
    escalation_policy: Reference,
}

#[derive(Debug, Deserialize)]
struct OnCallsPage {
    oncalls: Vec<Entry>,
    #[serde(default)]
    more: bool,
}

#[derive(Debug, Deserialize)]
struct Entry {
    user: User,
    #[serde(default)]
    escalation_level: u32,
    /// `null` for a permanent on-call.
    #[serde(default)]
    start: Option<Timestamp>,
    #[serde(default)]
    end: Option<Timestamp>,
}

/// A user reference, or the full user with `include[]=users`.
#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

pub struct PagerDuty {
    api: ApiClient,
    token_env: String,
}

impl PagerDuty {
    pub fn new(settings: &ProviderApi, timeout: Duration) -> Result<Self, HttpError> {
        let auth = format!("Token token={}", settings.token.expose());
        let api = ApiClient::new(
            SYSTEM,
            &settings.api_url,
            Some(&auth),
            &[(ACCEPT, "application/vnd.pagerduty+json;version=2")],
            timeout,
            error_message,
        )?;
        Ok(Self {
            api,
            token_env: settings.token_env.clone(),
        })
    }

    fn explain(&self, what: &'static str, id: &str, e: HttpError) -> OnCallError {
        match e {
            HttpError::TokenRejected { .. } => OnCallError::TokenRejected {
                provider: SYSTEM,
                token_env: self.token_env.clone(),
            },
            HttpError::NotFound { .. } => OnCallError::NoSuch {
                provider: SYSTEM,
                what,
                id: id.to_owned(),
            },
            other => OnCallError::Http(other),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        segments: &[&str],
        id: &str,
    ) -> Result<T, OnCallError> {
        self.api
            .get_json(segments, &[], &format!("{what} `{id}`"))
            .await
            .map_err(|e| self.explain(what, id, e))
    }

    /// Every on-call entry of the filter overlapping `[at, at + 1 s]`, all pages.
    async fn oncalls(
        &self,
        filter: (&str, &str),
        at: Timestamp,
    ) -> Result<Vec<Entry>, OnCallError> {
        // Whole seconds, as PagerDuty's examples write them.
        let at = Timestamp::from_second(at.as_second()).unwrap_or(at);
        let until = at + SignedDuration::from_secs(1);
        let mut entries = Vec::new();
        for _ in 0..MAX_PAGES {
            let query = [
                (filter.0, filter.1.to_owned()),
                ("since", at.to_string()),
                ("until", until.to_string()),
                ("time_zone", "UTC".to_owned()),
                ("include[]", "users".to_owned()),
                ("limit", PAGE_SIZE.to_string()),
                ("offset", entries.len().to_string()),
            ];
            let body: OnCallsPage = self
                .api
                .get_json(&["oncalls"], &query, "on-calls")
                .await
                .map_err(|e| self.explain("on-calls", filter.1, e))?;
            let more = body.more && !body.oncalls.is_empty();
            entries.extend(body.oncalls);
            if !more {
                break;
            }
        }
        Ok(entries)
    }
}

fn person(u: &User) -> Person {
    Person {
        name: u
            .name
            .clone()
            .or_else(|| u.summary.clone())
            .unwrap_or_else(|| u.id.clone()),
        email: u.email.clone(),
        ..Person::default()
    }
}

/// Primary: the lowest escalation level on call at `at`; secondary: the next person, at the
/// next level (or the same one when a level has several).
fn pick(mut entries: Vec<Entry>, at: Timestamp) -> (Option<Shift>, Option<Shift>) {
    entries.retain(|e| e.start.is_none_or(|s| s <= at) && e.end.is_none_or(|end| at < end));
    entries.sort_by_key(|e| (e.escalation_level, e.start));
    let mut seen = HashSet::new();
    let mut shifts = entries
        .into_iter()
        .filter(|e| seen.insert(e.user.id.clone()))
        .map(|e| Shift {
            person: person(&e.user),
            since: e.start,
            until: e.end,
        });
    (shifts.next(), shifts.next())
}

#[async_trait::async_trait]
impl OnCallProvider for PagerDuty {
    fn kind(&self) -> OnCallProviderKind {
        OnCallProviderKind::PagerDuty
    }

    async fn on_call(&self, target: &Target, at: Timestamp) -> Result<Rota, OnCallError> {
        let (filter, id, name, time_zone) = match target {
            Target::Service(id) => {
                let body: ServiceBody = self.get("service", &["services", id], id).await?;
                let policy = body.service.escalation_policy;
                let label = policy.label();
                ("escalation_policy_ids[]", policy.id, label, None)
            }
            Target::EscalationPolicy(id) => {
                let body: PolicyBody = self
                    .get("escalation policy", &["escalation_policies", id], id)
                    .await?;
                let label = body.escalation_policy.label();
                ("escalation_policy_ids[]", id.clone(), label, None)
            }
            Target::Schedule(id) => {
                let body: ScheduleBody = self.get("schedule", &["schedules", id], id).await?;
                let label = body.schedule.label();
                ("schedule_ids[]", id.clone(), label, body.schedule.time_zone)
            }
            Target::Team(team) => {
                return Err(OnCallError::NotConfigured(format!(
                    "PagerDuty needs a schedule, escalation policy or service for team {team}"
                )));
            }
        };
        let entries = self.oncalls((filter, &id), at).await?;
        let (primary, secondary) = pick(entries, at);
        if primary.is_none() {
            return Err(OnCallError::NobodyOnCall {
                provider: SYSTEM,
                what: name,
            });
        }
        Ok(Rota {
            schedule: Some(name),
            primary,
            secondary,
            time_zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, level: u32, start: &str, end: &str) -> Entry {
        Entry {
            user: User {
                id: user.into(),
                summary: Some(user.into()),
                name: None,
                email: None,
            },
            escalation_level: level,
            start: Some(start.parse().unwrap()),
            end: Some(end.parse().unwrap()),
        }
    }

    #[test]
    fn primary_is_the_first_level_and_secondary_the_next_person() {
        let at: Timestamp = "2026-03-04T12:00:00Z".parse().unwrap();
        let entries = vec![
            entry("late", 1, "2026-03-09T09:00:00Z", "2026-03-16T09:00:00Z"),
            entry("second", 2, "2026-03-02T09:00:00Z", "2026-03-09T09:00:00Z"),
            entry("first", 1, "2026-03-02T09:00:00Z", "2026-03-09T09:00:00Z"),
            entry("first", 2, "2026-03-02T09:00:00Z", "2026-03-09T09:00:00Z"),
        ];
        let (p, s) = pick(entries, at);
        assert_eq!(p.unwrap().person.name, "first");
        assert_eq!(s.unwrap().person.name, "second");
    }

    #[test]
    fn error_bodies_are_read() {
        let v = serde_json::json!({"error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Limit must be less than 101."]}});
        assert_eq!(
            error_message(&v).unwrap(),
            "Invalid Input Provided (Limit must be less than 101.)"
        );
    }
}
