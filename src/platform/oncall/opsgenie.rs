//! Opsgenie: who is on call for a schedule (by name or id) through the Who-is-on-call API
//! (`GET /v2/schedules/{id}/on-calls`), and when their shift started and ends through the
//! schedule timeline (`GET /v2/schedules/{id}/timeline`). The timeline only adds the times:
//! when it fails for a reason other than the token, the answer comes without them.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use super::{OnCallError, OnCallProvider, Person, Rota, Shift, Target};
use crate::config::{OnCallProviderKind, ProviderApi};
use crate::platform::http::{ApiClient, HttpError};

const SYSTEM: &str = "Opsgenie";

/// `{"message": "...", "took": 0.002, "requestId": "..."}`.
fn error_message(v: &Value) -> Option<String> {
    v.get("message").and_then(Value::as_str).map(str::to_owned)
}

#[derive(Debug, Deserialize)]
struct OnCallsBody {
    data: OnCallsData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnCallsData {
    #[serde(rename = "_parent", default)]
    parent: Option<Parent>,
    #[serde(default)]
    on_call_participants: Vec<Participant>,
}

#[derive(Debug, Deserialize)]
struct Parent {
    #[serde(default)]
    name: Option<String>,
}

/// A user, team or escalation; teams and escalations nest the people actually on call.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Participant {
    #[serde(default)]
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    on_call_participants: Vec<Participant>,
}

#[derive(Debug, Deserialize)]
struct TimelineBody {
    data: TimelineData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimelineData {
    final_timeline: Option<Timeline>,
}

#[derive(Debug, Deserialize)]
struct Timeline {
    #[serde(default)]
    rotations: Vec<TimelineRotation>,
}

#[derive(Debug, Deserialize)]
struct TimelineRotation {
    #[serde(default)]
    periods: Vec<Period>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Period {
    start_date: Timestamp,
    end_date: Timestamp,
    #[serde(default)]
    recipient: Option<Recipient>,
}

#[derive(Debug, Deserialize)]
struct Recipient {
    #[serde(default)]
    name: String,
}

pub struct Opsgenie {
    api: ApiClient,
    token_env: String,
}

/// Opsgenie ids are UUIDs; anything else is a schedule name.
fn identifier_type(id: &str) -> &'static str {
    let uuid = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if uuid { "id" } else { "name" }
}

/// Opsgenie's documented date format: `yyyy-MM-dd'T'HH:mm:ssZ` with a numeric offset.
fn opsgenie_date(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The people on call, in the order Opsgenie lists them, teams and escalations flattened.
fn users(participants: &[Participant], out: &mut Vec<String>) {
    for p in participants {
        if p.kind == "user" {
            if !p.name.is_empty() && !out.contains(&p.name) {
                out.push(p.name.clone());
            }
        } else {
            users(&p.on_call_participants, out);
        }
    }
}

fn person(username: &str) -> Person {
    Person {
        name: username.to_owned(),
        // Opsgenie usernames are email addresses.
        email: username.contains('@').then(|| username.to_owned()),
        ..Person::default()
    }
}

impl Opsgenie {
    pub fn new(settings: &ProviderApi, timeout: Duration) -> Result<Self, HttpError> {
        let auth = format!("GenieKey {}", settings.token.expose());
        let api = ApiClient::new(
            SYSTEM,
            &settings.api_url,
            Some(&auth),
            &[],
            timeout,
            error_message,
        )?;
        Ok(Self {
            api,
            token_env: settings.token_env.clone(),
        })
    }

    fn explain(&self, id: &str, e: HttpError) -> OnCallError {
        match e {
            HttpError::TokenRejected { .. } => OnCallError::TokenRejected {
                provider: SYSTEM,
                token_env: self.token_env.clone(),
            },
            HttpError::NotFound { .. } => OnCallError::NoSuch {
                provider: SYSTEM,
                what: "schedule",
                id: id.to_owned(),
            },
            other => OnCallError::Http(other),
        }
    }

    /// Each on-call user's current period: (username, start, end).
    async fn periods(
        &self,
        id: &str,
        at: Timestamp,
    ) -> Result<Vec<(String, Timestamp, Timestamp)>, OnCallError> {
        // A window around `at`, so the period running at `at` is whole in it.
        let from = at - SignedDuration::from_hours(24 * 7);
        let query = [
            ("identifierType", identifier_type(id).to_owned()),
            ("date", opsgenie_date(from)),
            ("interval", "2".to_owned()),
            ("intervalUnit", "weeks".to_owned()),
        ];
        let body: TimelineBody = self
            .api
            .get_json(
                &["v2", "schedules", id, "timeline"],
                &query,
                &format!("schedule `{id}`"),
            )
            .await
            .map_err(|e| self.explain(id, e))?;
        Ok(body
            .data
            .final_timeline
            .map(|t| t.rotations)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|r| r.periods)
            .filter(|p| p.start_date <= at && at < p.end_date)
            .filter_map(|p| p.recipient.map(|r| (r.name, p.start_date, p.end_date)))
            .collect())
    }
}

#[async_trait::async_trait]
impl OnCallProvider for Opsgenie {
    fn kind(&self) -> OnCallProviderKind {
        OnCallProviderKind::Opsgenie
    }

    async fn on_call(&self, target: &Target, at: Timestamp) -> Result<Rota, OnCallError> {
        let Target::Schedule(id) = target else {
            return Err(OnCallError::NotConfigured(format!(
                "Opsgenie answers for schedules, not for {}",
                target.describe()
            )));
        };
        let query = [
            ("scheduleIdentifierType", identifier_type(id).to_owned()),
            ("flat", "false".to_owned()),
            ("date", opsgenie_date(at)),
        ];
        let body: OnCallsBody = self
            .api
            .get_json(
                &["v2", "schedules", id, "on-calls"],
                &query,
                &format!("schedule `{id}`"),
            )
            .await
            .map_err(|e| self.explain(id, e))?;
        let name = body
            .data
            .parent
            .and_then(|p| p.name)
            .unwrap_or_else(|| id.clone());
        let mut on_call = Vec::new();
        users(&body.data.on_call_participants, &mut on_call);
        if on_call.is_empty() {
            return Err(OnCallError::NobodyOnCall {
                provider: SYSTEM,
                what: format!("schedule `{name}`"),
            });
        }
        let periods = match self.periods(id, at).await {
            Ok(p) => p,
            Err(e @ OnCallError::TokenRejected { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, schedule = %id, "Opsgenie timeline unavailable; answering without shift times");
                Vec::new()
            }
        };
        let shift = |username: &String| {
            let period = periods.iter().find(|(n, _, _)| n == username);
            Shift {
                person: person(username),
                since: period.map(|p| p.1),
                until: period.map(|p| p.2),
            }
        };
        Ok(Rota {
            schedule: Some(name),
            primary: on_call.first().map(shift),
            secondary: on_call.get(1).map(shift),
            time_zone: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_are_told_apart() {
        assert_eq!(
            identifier_type("d875e654-9b4e-4219-a8c3-0c26936d18de"),
            "id"
        );
        assert_eq!(identifier_type("checkout_schedule"), "name");
        assert_eq!(
            identifier_type("d875e654-9b4e-4219-a8c3-0c26936d18dz"),
            "name"
        );
    }

    #[test]
    fn nested_participants_are_flattened_in_order() {
        let v = serde_json::json!([
            {"id": "1", "name": "escalation1", "type": "escalation", "onCallParticipants": [
                {"id": "2", "name": "jonah@example.com", "type": "user"},
                {"id": "3", "name": "team1", "type": "team", "onCallParticipants": [
                    {"id": "4", "name": "aisha@example.com", "type": "user"},
                    {"id": "2", "name": "jonah@example.com", "type": "user"}
                ]}
            ]}
        ]);
        let ps: Vec<Participant> = serde_json::from_value(v).unwrap();
        let mut out = Vec::new();
        users(&ps, &mut out);
        assert_eq!(out, ["jonah@example.com", "aisha@example.com"]);
        assert_eq!(
            opsgenie_date("2026-03-04T10:00:00Z".parse().unwrap()),
            "2026-03-04T10:00:00+00:00"
        );
    }
}
