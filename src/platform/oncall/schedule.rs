//! The schedule file: one weekly (or n-day) rotation per team, with a handoff time in the
//! team's time zone. Shift n starts at `rotation_start + n * length_days` at the handoff time,
//! local time: across a DST change the handoff stays at 09:00 on the wall clock, so that
//! shift is an hour shorter or longer. Primary = `rotation[n % len]`, secondary =
//! `rotation[(n + 1) % len]`. Time zones come from the tz database compiled into the binary.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Unit, Zoned};
use serde::Deserialize;

use super::{OnCallError, OnCallProvider, Person, Rota, Shift, Target};
use crate::config::OnCallProviderKind;
use crate::domain::TeamName;

/// The sandbox's schedule file, compiled in like the sandbox catalog.
const SANDBOX_FILE: &str = include_str!("../../../sandbox/catalog/oncall.yaml");
const SANDBOX_ORIGIN: &str = "sandbox/catalog/oncall.yaml";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cannot read the on-call schedule file {path}: {message}")]
    Read { path: String, message: String },
    #[error("on-call schedule file {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("on-call schedule file {origin}: team {team}: {field}: {message}")]
    Field {
        origin: String,
        team: String,
        field: &'static str,
        message: String,
    },
    #[error("team {team} has no rotation in the on-call schedule file {origin}")]
    NoRotation { team: String, origin: String },
    #[error("team {team}'s rotation has not started yet: it starts {starts}")]
    NotStarted { team: String, starts: String },
    #[error("date arithmetic for team {team}'s rotation failed: {message}")]
    Time { team: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    #[serde(default)]
    schedules: BTreeMap<String, RawRotation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    timezone: String,
    rotation_start: String,
    handoff: String,
    #[serde(default = "default_length")]
    length_days: u32,
    #[serde(default)]
    pagerduty_escalation_policy: Option<String>,
    rotation: Vec<RawPerson>,
}

fn default_length() -> u32 {
    7
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    name: String,
    user: String,
    #[serde(default)]
    slack_id: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// One team's rotation, validated.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub team: TeamName,
    time_zone_name: String,
    time_zone: TimeZone,
    start: Date,
    handoff: Time,
    length_days: i64,
    pub people: Vec<Person>,
    pub pagerduty_escalation_policy: Option<String>,
}

/// A parsed schedule file.
#[derive(Debug, Clone)]
pub struct ScheduleFile {
    origin: String,
    rotations: BTreeMap<TeamName, Rotation>,
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.to_ascii_lowercase();
    let all = [
        (Weekday::Monday, "monday"),
        (Weekday::Tuesday, "tuesday"),
        (Weekday::Wednesday, "wednesday"),
        (Weekday::Thursday, "thursday"),
        (Weekday::Friday, "friday"),
        (Weekday::Saturday, "saturday"),
        (Weekday::Sunday, "sunday"),
    ];
    all.into_iter()
        .find(|(_, name)| s.len() >= 3 && name.starts_with(&s))
        .map(|(d, _)| d)
}

/// `Mon 09:00` or `09:00`: the weekday (if named) and the wall-clock time of the handoff.
fn parse_handoff(s: &str) -> Result<(Option<Weekday>, Time), String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (day, time) = match parts.as_slice() {
        [time] => (None, *time),
        [day, time] => (
            Some(parse_weekday(day).ok_or_else(|| format!("`{day}` is not a weekday"))?),
            *time,
        ),
        _ => return Err(format!("`{s}`: expected `Mon 09:00` or `09:00`")),
    };
    let (h, m) = time
        .split_once(':')
        .ok_or_else(|| format!("`{time}`: expected HH:MM"))?;
    let (h, m): (i8, i8) = match (h.parse(), m.parse()) {
        (Ok(h), Ok(m)) => (h, m),
        _ => return Err(format!("`{time}`: expected HH:MM")),
    };
    let t = Time::new(h, m, 0, 0).map_err(|_| format!("`{time}` is not a time of day"))?;
    Ok((day, t))
}

impl ScheduleFile {
    pub fn from_yaml_str(src: &str, origin: &str) -> Result<Self, ScheduleError> {
        let raw: RawFile = serde_norway::from_str(src).map_err(|e| ScheduleError::Invalid {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        if raw.version != 1 {
            return Err(ScheduleError::Invalid {
                origin: origin.to_owned(),
                message: format!("version {} is not supported (expected 1)", raw.version),
            });
        }
        let mut rotations = BTreeMap::new();
        for (key, r) in raw.schedules {
            let field = |field: &'static str, message: String| ScheduleError::Field {
                origin: origin.to_owned(),
                team: key.clone(),
                field,
                message,
            };
            let team = TeamName::parse(&key).map_err(|e| field("name", e.to_string()))?;
            let time_zone = TimeZone::get(&r.timezone).map_err(|_| {
                field(
                    "timezone",
                    format!("`{}` is not an IANA time zone", r.timezone),
                )
            })?;
            let start: Date = r.rotation_start.trim().parse().map_err(|_| {
                field(
                    "rotation_start",
                    format!("`{}` is not a date (YYYY-MM-DD)", r.rotation_start),
                )
            })?;
            let (day, handoff) = parse_handoff(&r.handoff).map_err(|m| field("handoff", m))?;
            if let Some(day) = day
                && day != start.weekday()
            {
                return Err(field(
                    "handoff",
                    format!(
                        "the handoff is on {day:?} but rotation_start {start} is a {:?}",
                        start.weekday()
                    ),
                ));
            }
            if !(1..=366).contains(&r.length_days) {
                return Err(field("length_days", "must be between 1 and 366".into()));
            }
            if r.rotation.is_empty() {
                return Err(field("rotation", "nobody is on the rotation".into()));
            }
            let people = r
                .rotation
                .into_iter()
                .map(|p| Person {
                    name: p.name,
                    user: Some(p.user),
                    email: p.email,
                    slack_id: p.slack_id,
                    handle: p.handle,
                })
                .collect();
            rotations.insert(
                team.clone(),
                Rotation {
                    team,
                    time_zone_name: r.timezone,
                    time_zone,
                    start,
                    handoff,
                    length_days: i64::from(r.length_days),
                    people,
                    pagerduty_escalation_policy: r.pagerduty_escalation_policy,
                },
            );
        }
        Ok(Self {
            origin: origin.to_owned(),
            rotations,
        })
    }

    pub fn load(path: &Path) -> Result<Self, ScheduleError> {
        let src = std::fs::read_to_string(path).map_err(|e| ScheduleError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml_str(&src, &path.display().to_string())
    }

    /// The sandbox's rotations (`sandbox/catalog/oncall.yaml`, compiled in).
    pub fn sandbox() -> Self {
        match Self::from_yaml_str(SANDBOX_FILE, SANDBOX_ORIGIN) {
            Ok(f) => f,
            // Unreachable in a tested build: the file is compiled in and unit-tested.
            Err(e) => {
                tracing::error!(error = %e, "sandbox schedule file does not parse");
                Self {
                    origin: SANDBOX_ORIGIN.to_owned(),
                    rotations: BTreeMap::new(),
                }
            }
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn rotation(&self, team: &TeamName) -> Option<&Rotation> {
        self.rotations.get(team)
    }

    pub fn rotations(&self) -> impl Iterator<Item = &Rotation> {
        self.rotations.values()
    }

    /// Anyone on any rotation with this platform user id (chat handles for other providers).
    pub fn person(&self, user: &str) -> Option<&Person> {
        self.rotations
            .values()
            .flat_map(|r| r.people.iter())
            .find(|p| {
                p.user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user))
            })
    }
}

impl Rotation {
    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }

    fn time_error(&self, e: jiff::Error) -> ScheduleError {
        ScheduleError::Time {
            team: self.team.to_string(),
            message: e.to_string(),
        }
    }

    /// When shift `n` starts (shift 0 at `rotation_start`), on the team's wall clock.
    pub fn shift_start(&self, n: i64) -> Result<Zoned, ScheduleError> {
        let days = Span::new()
            .try_days(n * self.length_days)
            .map_err(|e| self.time_error(e))?;
        let date = self
            .start
            .checked_add(days)
            .map_err(|e| self.time_error(e))?;
        // A handoff inside a DST gap moves forward by the gap, as clocks do ("compatible").
        DateTime::from_parts(date, self.handoff)
            .to_zoned(self.time_zone.clone())
            .map_err(|e| self.time_error(e))
    }

    /// The shift running at `at` (negative before the rotation starts).
    pub fn shift_at(&self, at: Timestamp) -> Result<i64, ScheduleError> {
        let local = at.to_zoned(self.time_zone.clone());
        let days = local
            .date()
            .since((Unit::Day, self.start))
            .map_err(|e| self.time_error(e))?
            .get_days();
        let mut n = i64::from(days).div_euclid(self.length_days);
        // On a handoff day, before the handoff, the previous shift is still on.
        if at < self.shift_start(n)?.timestamp() {
            n -= 1;
        }
        Ok(n)
    }

    fn person(&self, n: i64) -> Person {
        let len = self.people.len() as i64;
        // `people` is never empty (checked at load), so the index is in range.
        self.people[n.rem_euclid(len) as usize].clone()
    }

    /// Primary and secondary at `at`, with the shift's start and end.
    pub fn on_call(&self, at: Timestamp) -> Result<Rota, ScheduleError> {
        let n = self.shift_at(at)?;
        if n < 0 {
            let starts = self.shift_start(0)?;
            return Err(ScheduleError::NotStarted {
                team: self.team.to_string(),
                starts: starts.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            });
        }
        let since = self.shift_start(n)?.timestamp();
        let until = self.shift_start(n + 1)?.timestamp();
        let shift = |person| Shift {
            person,
            since: Some(since),
            until: Some(until),
        };
        Ok(Rota {
            schedule: Some(format!("{} rotation", self.team)),
            primary: Some(shift(self.person(n))),
            secondary: (self.people.len() > 1).then(|| shift(self.person(n + 1))),
            time_zone: Some(self.time_zone_name.clone()),
        })
    }
}

#[async_trait::async_trait]
impl OnCallProvider for ScheduleFile {
    fn kind(&self) -> OnCallProviderKind {
        OnCallProviderKind::ScheduleFile
    }

    async fn on_call(&self, target: &Target, at: Timestamp) -> Result<Rota, OnCallError> {
        let Target::Team(team) = target else {
            return Err(OnCallError::NotConfigured(format!(
                "the schedule file answers for teams, not for {}",
                target.describe()
            )));
        };
        let rotation = self
            .rotation(team)
            .ok_or_else(|| ScheduleError::NoRotation {
                team: team.to_string(),
                origin: self.origin.clone(),
            })?;
        Ok(rotation.on_call(at)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn team(t: &str) -> TeamName {
        TeamName::parse(t).unwrap()
    }

    fn primary(r: &Rota) -> String {
        r.primary.as_ref().unwrap().person.user.clone().unwrap()
    }

    fn secondary(r: &Rota) -> String {
        r.secondary.as_ref().unwrap().person.user.clone().unwrap()
    }

    fn one(yaml_rotation: &str) -> Rotation {
        let src = format!("version: 1\nschedules:\n  t:\n{yaml_rotation}");
        let f = ScheduleFile::from_yaml_str(&src, "test.yaml").unwrap();
        f.rotation(&team("t")).unwrap().clone()
    }

    const PEOPLE: &str = "    rotation:\n      - {name: A, user: a}\n      - {name: B, user: b}\n      - {name: C, user: c}\n";

    #[test]
    fn the_sandbox_file_parses_every_team() {
        let f = ScheduleFile::sandbox();
        assert_eq!(f.rotations().count(), 6);
        let dp = f.rotation(&team("data-platform")).unwrap();
        assert_eq!(dp.people.len(), 4);
        assert_eq!(dp.time_zone_name(), "Europe/Amsterdam");
        let priya = f.person("priya.nair").unwrap();
        assert_eq!(priya.slack_id.as_deref(), Some("U05K1DEGZD8"));
        assert_eq!(priya.handle.as_deref(), Some("@priya"));
    }

    #[test]
    fn weeks_count_from_the_start_and_hand_off_at_the_local_time() {
        let f = ScheduleFile::sandbox();
        let payments = f.rotation(&team("payments")).unwrap();
        // 2026-01-05 09:00 Europe/Berlin (CET, UTC+1) = 08:00Z: week 0 starts.
        let r = payments.on_call(ts("2026-01-05T08:00:00Z")).unwrap();
        assert_eq!(
            (primary(&r), secondary(&r)),
            ("priya.nair".into(), "tomas.ruiz".into())
        );
        assert_eq!(
            r.primary.as_ref().unwrap().since,
            Some(ts("2026-01-05T08:00:00Z"))
        );
        assert_eq!(
            r.primary.as_ref().unwrap().until,
            Some(ts("2026-01-12T08:00:00Z"))
        );
        // One second before the next handoff: still week 0.
        let r = payments.on_call(ts("2026-01-12T07:59:59Z")).unwrap();
        assert_eq!(primary(&r), "priya.nair");
        // At the handoff: week 1.
        let r = payments.on_call(ts("2026-01-12T08:00:00Z")).unwrap();
        assert_eq!(
            (primary(&r), secondary(&r)),
            ("tomas.ruiz".into(), "mei.chen".into())
        );
        // Week 2 wraps the secondary around to the first person.
        let r = payments.on_call(ts("2026-01-20T12:00:00Z")).unwrap();
        assert_eq!(
            (primary(&r), secondary(&r)),
            ("mei.chen".into(), "priya.nair".into())
        );
        // Week 3 starts over.
        let r = payments.on_call(ts("2026-01-27T12:00:00Z")).unwrap();
        assert_eq!(primary(&r), "priya.nair");
        // Four people: week n % 4.
        let dp = f.rotation(&team("data-platform")).unwrap();
        let r = dp.on_call(ts("2026-03-26T12:00:00Z")).unwrap(); // week 3
        assert_eq!(
            (primary(&r), secondary(&r)),
            ("nora.lind".into(), "elena.petrova".into())
        );
    }

    #[test]
    fn time_zones_decide_the_handoff_instant() {
        let f = ScheduleFile::sandbox();
        // Tokyo (UTC+9, no DST): Mon 10:00 JST is Mon 01:00Z.
        let mb = f.rotation(&team("mobile-backend")).unwrap();
        assert_eq!(
            mb.shift_start(0).unwrap().timestamp(),
            ts("2026-02-16T01:00:00Z")
        );
        assert_eq!(
            primary(&mb.on_call(ts("2026-02-23T00:59:59Z")).unwrap()),
            "diego.alvarez"
        );
        assert_eq!(
            primary(&mb.on_call(ts("2026-02-23T01:00:00Z")).unwrap()),
            "yuki.tanaka"
        );
        // Los Angeles (PST, UTC-8): Mon 09:00 is 17:00Z; on Sunday evening UTC it is still
        // the previous week there.
        let id = f.rotation(&team("identity")).unwrap();
        assert_eq!(
            id.shift_start(1).unwrap().timestamp(),
            ts("2026-01-26T17:00:00Z")
        );
        assert_eq!(
            primary(&id.on_call(ts("2026-01-26T16:59:00Z")).unwrap()),
            "omar.haddad"
        );
        assert_eq!(
            primary(&id.on_call(ts("2026-01-26T17:00:00Z")).unwrap()),
            "grace.kim"
        );
    }

    #[test]
    fn handoffs_stay_on_the_wall_clock_across_dst_changes() {
        let f = ScheduleFile::sandbox();
        // New York springs forward on Sun 2026-03-08: Mon 09:30 EST (14:30Z) before,
        // Mon 09:30 EDT (13:30Z) after; that shift is 167 hours long.
        let search = f.rotation(&team("search")).unwrap();
        let before = search.shift_start(4).unwrap(); // 2026-03-02
        let after = search.shift_start(5).unwrap(); // 2026-03-09
        assert_eq!(before.timestamp(), ts("2026-03-02T14:30:00Z"));
        assert_eq!(after.timestamp(), ts("2026-03-09T13:30:00Z"));
        assert_eq!(
            before
                .timestamp()
                .duration_until(after.timestamp())
                .as_hours(),
            167
        );
        assert_eq!(after.strftime("%H:%M %Z").to_string(), "09:30 EDT");
        // 13:45Z on 03-09 is after the local handoff: the new week.
        assert_eq!(search.shift_at(ts("2026-03-09T13:45:00Z")).unwrap(), 5);
        assert_eq!(search.shift_at(ts("2026-03-09T13:29:59Z")).unwrap(), 4);
        // Berlin falls back on Sun 2026-10-25: Mon 09:00 CEST (07:00Z) then CET (08:00Z), 169 h.
        let payments = f.rotation(&team("payments")).unwrap();
        let n = payments.shift_at(ts("2026-10-20T12:00:00Z")).unwrap();
        let (a, b) = (
            payments.shift_start(n).unwrap(),
            payments.shift_start(n + 1).unwrap(),
        );
        assert_eq!(a.timestamp(), ts("2026-10-19T07:00:00Z"));
        assert_eq!(b.timestamp(), ts("2026-10-26T08:00:00Z"));
        assert_eq!(a.timestamp().duration_until(b.timestamp()).as_hours(), 169);
        // At 07:30Z on 10-26 it is 08:30 CET in Berlin: before the handoff, same shift.
        assert_eq!(payments.shift_at(ts("2026-10-26T07:30:00Z")).unwrap(), n);
    }

    #[test]
    fn a_handoff_inside_the_dst_gap_moves_forward_with_the_clocks() {
        // Europe/London skips 01:00-02:00 on Sun 2026-03-29; a Sunday 01:30 handoff happens
        // at 02:30 BST (01:30Z), one hour after the shift before it would have ended on UTC.
        let r = one(&format!(
            "    timezone: Europe/London\n    rotation_start: \"2026-03-22\"\n    handoff: \"Sun 01:30\"\n    length_days: 7\n{PEOPLE}"
        ));
        assert_eq!(
            r.shift_start(0).unwrap().timestamp(),
            ts("2026-03-22T01:30:00Z")
        );
        assert_eq!(
            r.shift_start(1).unwrap().timestamp(),
            ts("2026-03-29T01:30:00Z")
        );
        assert_eq!(
            r.shift_start(1).unwrap().strftime("%H:%M %Z").to_string(),
            "02:30 BST"
        );
        assert_eq!(
            primary(&r.on_call(ts("2026-03-29T01:00:00Z")).unwrap()),
            "a"
        );
        assert_eq!(
            primary(&r.on_call(ts("2026-03-29T01:30:00Z")).unwrap()),
            "b"
        );
    }

    #[test]
    fn daily_rotations_and_times_before_the_start() {
        let r = one(&format!(
            "    timezone: UTC\n    rotation_start: \"2026-05-01\"\n    handoff: \"08:00\"\n    length_days: 1\n{PEOPLE}"
        ));
        assert_eq!(
            primary(&r.on_call(ts("2026-05-03T09:00:00Z")).unwrap()),
            "c"
        );
        assert_eq!(
            primary(&r.on_call(ts("2026-05-04T07:00:00Z")).unwrap()),
            "c"
        );
        assert_eq!(
            primary(&r.on_call(ts("2026-05-04T08:00:00Z")).unwrap()),
            "a"
        );
        let err = r.on_call(ts("2026-05-01T07:59:00Z")).unwrap_err();
        assert!(err.to_string().contains("has not started yet"), "{err}");
        assert!(err.to_string().contains("2026-05-01 08:00 UTC"), "{err}");
    }

    #[test]
    fn a_one_person_rotation_has_no_secondary() {
        let r = one(
            "    timezone: UTC\n    rotation_start: \"2026-05-04\"\n    handoff: \"Mon 08:00\"\n    rotation:\n      - {name: Solo, user: solo}\n",
        );
        let rota = r.on_call(ts("2026-06-01T12:00:00Z")).unwrap();
        assert_eq!(primary(&rota), "solo");
        assert!(rota.secondary.is_none());
    }

    #[test]
    fn mistakes_name_the_team_and_field() {
        let base = |tz: &str, start: &str, handoff: &str, extra: &str| {
            format!(
                "version: 1\nschedules:\n  pay:\n    timezone: {tz}\n    rotation_start: \"{start}\"\n    handoff: \"{handoff}\"\n{extra}{PEOPLE}"
            )
        };
        for (src, want) in [
            (base("Mars/Base", "2026-01-05", "Mon 09:00", ""), "timezone"),
            (base("UTC", "2026-13-05", "Mon 09:00", ""), "rotation_start"),
            (base("UTC", "2026-01-05", "Tue 09:00", ""), "is a Monday"),
            (base("UTC", "2026-01-05", "Mon 25:00", ""), "handoff"),
            (base("UTC", "2026-01-05", "Funday 09:00", ""), "weekday"),
            (base("UTC", "2026-01-05", "Mon 09:00", "    length_days: 0\n"), "length_days"),
            (base("UTC", "2026-01-05", "Mon 09:00", "    lenght_days: 7\n"), "unknown field"),
            ("version: 2\nschedules: {}\n".to_owned(), "version 2"),
            (
                "version: 1\nschedules:\n  pay:\n    timezone: UTC\n    rotation_start: \"2026-01-05\"\n    handoff: \"09:00\"\n    rotation: []\n".to_owned(),
                "nobody",
            ),
        ] {
            let err = ScheduleFile::from_yaml_str(&src, "oncall.yaml").unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
            assert!(err.contains("oncall.yaml"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_team_without_a_rotation_is_named() {
        let f = ScheduleFile::sandbox();
        let err = f
            .on_call(&Target::Team(team("marketing")), ts("2026-03-01T00:00:00Z"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("team marketing has no rotation"),
            "{err}"
        );
    }
}
