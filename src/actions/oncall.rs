//! `who_is_on_call{subject}`: a team, or a service resolved to its owning team through the
//! catalog, answered by that team's on-call provider.

use crate::domain::ToolName;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::args::WhoIsOnCallArgs;
use super::{ActionContext, ActionError, ActionOutput, ReadAction};
use crate::domain::TeamName;
use crate::platform::Catalog;
use crate::platform::catalog::{Resolved, Service};
use crate::platform::oncall::{Answer, OnCallError, Person, Shift};

pub struct WhoIsOnCall;

/// What the subject named: a team, or a service and its team; `note` says how it was read.
struct Subject<'c> {
    team: TeamName,
    service: Option<&'c Service>,
    note: Option<String>,
}

fn resolve<'c>(catalog: &'c Catalog, text: &str) -> Result<Subject<'c>, ActionError> {
    if let Some(t) = catalog.team(text) {
        return Ok(Subject {
            team: t.name.clone(),
            service: None,
            note: None,
        });
    }
    if let Some(s) = catalog.service(text) {
        return Ok(Subject {
            team: s.owner.clone(),
            service: Some(s),
            note: None,
        });
    }
    let guessed = |name: &str| Some(format!("taking `{text}` to mean `{name}`"));
    if let Some(t) = catalog.resolve_team(text).single() {
        return Ok(Subject {
            team: t.name.clone(),
            service: None,
            note: guessed(t.name.as_str()),
        });
    }
    match catalog.resolve_service(text) {
        Resolved::Exact(s) | Resolved::Fuzzy(s) => Ok(Subject {
            team: s.owner.clone(),
            service: Some(s),
            note: guessed(s.name.as_str()),
        }),
        // Several services of one team: the team is on call for all of them.
        Resolved::Ambiguous(list) if list.iter().all(|s| s.owner == list[0].owner) => Ok(Subject {
            team: list[0].owner.clone(),
            service: None,
            note: guessed(list[0].owner.as_str()),
        }),
        Resolved::Ambiguous(list) => {
            let options: Vec<String> = list
                .iter()
                .map(|s| format!("`{}` (team {})", s.name, s.owner))
                .collect();
            Err(ActionError::Unknown(format!(
                "`{text}` could be {}; which one do you mean",
                options.join(" or ")
            )))
        }
        Resolved::NotFound => Err(ActionError::Unknown(format!(
            "there is no team or service `{text}` in the catalog"
        ))),
    }
}

/// PagerDuty and Opsgenie know people by email: find them in the catalog and the schedule
/// file so the answer carries their platform user and chat handle too.
fn enrich(person: &mut Person, ctx: &ActionContext<'_>) {
    if person.user.is_none()
        && let Some(email) = &person.email
    {
        person.user = ctx
            .platform
            .catalog
            .users()
            .find(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .map(|u| u.name.to_string());
    }
    let Some(user) = person.user.clone() else {
        return;
    };
    if let Some(u) = ctx.platform.catalog.user(&user)
        && person.name.contains('@')
        && let Some(display) = &u.display_name
    {
        person.name = display.clone();
    }
    if let Some(known) = ctx
        .platform
        .oncall
        .schedule_file()
        .and_then(|f| f.person(&user))
    {
        person.slack_id = person.slack_id.take().or_else(|| known.slack_id.clone());
        person.handle = person.handle.take().or_else(|| known.handle.clone());
    }
}

fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a %-d %b %H:%M %Z")
        .to_string()
}

fn iso(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn shift_data(shift: &Shift, tz: &TimeZone) -> Value {
    let mut v = serde_json::to_value(&shift.person).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("since".into(), json!(shift.since.map(|t| iso(t, tz))));
        map.insert("until".into(), json!(shift.until.map(|t| iso(t, tz))));
    }
    v
}

fn shift_text(role: &str, shift: &Shift, tz: &TimeZone) -> String {
    let mut s = format!("{role}: {}", shift.person.display());
    match (shift.since, shift.until) {
        (Some(since), Some(until)) => {
            s.push_str(&format!(
                ", {} until {}",
                local(since, tz),
                local(until, tz)
            ));
        }
        (None, Some(until)) => s.push_str(&format!(", until {}", local(until, tz))),
        (Some(since), None) => s.push_str(&format!(", since {}", local(since, tz))),
        (None, None) => {}
    }
    s
}

fn render(answer: &Answer, subject: &Subject<'_>, asked: &str) -> ActionOutput {
    let tz = TimeZone::get(&answer.time_zone).unwrap_or(TimeZone::UTC);
    let about = match subject.service {
        Some(s) => format!("*{}* (team {})", s.name, answer.team),
        None => format!("team *{}*", answer.team),
    };
    let source = match &answer.rota.schedule {
        Some(name) => format!("{name}, {}", answer.provider.as_str()),
        None => answer.provider.as_str().to_owned(),
    };
    let mut lines = vec![format!(
        "On call for {about} ({source}; times in {}):",
        answer.time_zone
    )];
    if let Some(note) = &subject.note {
        lines[0] = format!("{} [{note}]", lines[0]);
    }
    if let Some(p) = &answer.rota.primary {
        lines.push(format!("- {}", shift_text("primary", p, &tz)));
    }
    match &answer.rota.secondary {
        // The same shift as the primary's (a weekly pair): the times would only repeat.
        Some(s)
            if answer
                .rota
                .primary
                .as_ref()
                .is_some_and(|p| (p.since, p.until) == (s.since, s.until)) =>
        {
            lines.push(format!("- secondary: {}", s.person.display()));
        }
        Some(s) => lines.push(format!("- {}", shift_text("secondary", s, &tz))),
        None => lines.push("- secondary: nobody".to_owned()),
    }
    let data = json!({
        "subject": asked,
        "team": answer.team,
        "service": subject.service.map(|s| s.name.to_string()),
        "provider": answer.provider.as_str(),
        "schedule": answer.rota.schedule,
        "time_zone": answer.time_zone,
        "primary": answer.rota.primary.as_ref().map(|s| shift_data(s, &tz)),
        "secondary": answer.rota.secondary.as_ref().map(|s| shift_data(s, &tz)),
        "cached": answer.cached,
    });
    ActionOutput::new(lines.join("\n"), data)
}

#[async_trait::async_trait]
impl ReadAction for WhoIsOnCall {
    type Args = WhoIsOnCallArgs;
    const NAME: ToolName = ToolName::WhoIsOnCall;
    const DOES: &'static str = "tell you who's on call";

    async fn run(
        &self,
        ctx: &ActionContext<'_>,
        args: Self::Args,
    ) -> Result<ActionOutput, ActionError> {
        let asked = args.subject.as_str();
        let subject = resolve(&ctx.platform.catalog, asked)?;
        let mut answer = ctx
            .platform
            .oncall
            .who(&subject.team, subject.service, Timestamp::now())
            .await
            .map_err(|e| match e {
                OnCallError::NotConfigured(m) => ActionError::Unknown(m),
                other => ActionError::Failed(format!(
                    "I could not find out who is on call for team {}: {other}",
                    subject.team
                )),
            })?;
        for shift in [&mut answer.rota.primary, &mut answer.rota.secondary]
            .into_iter()
            .flatten()
        {
            enrich(&mut shift.person, ctx);
        }
        Ok(render(&answer, &subject, asked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_resolve_to_teams() {
        let c = Catalog::sandbox();
        let t = |text: &str| {
            resolve(&c, text).map(|s| (s.team.to_string(), s.service.map(|s| s.name.to_string())))
        };
        assert_eq!(t("checkout").unwrap(), ("checkout".into(), None));
        assert_eq!(t("cart").unwrap(), ("checkout".into(), Some("cart".into())));
        // `search` is a team and a service; the team answers (it owns the service).
        assert_eq!(t("search").unwrap(), ("search".into(), None));
        assert_eq!(t("checkout-apy").unwrap().0, "checkout");
        let err = t("api").unwrap_err().to_string();
        assert!(
            err.contains("checkout-api") && err.contains("payments-api"),
            "{err}"
        );
        let err = t("marketing").unwrap_err().to_string();
        assert!(err.contains("no team or service `marketing`"), "{err}");
    }
}
