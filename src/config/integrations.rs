//! `[oncall]`, `[argocd]` and the Backstage half of `[catalog]`: the systems of record platbot
//! reads on-call rotations, Application sync state and catalog entities from. Kept beside
//! `config.rs` so that file only wires them in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Env, Secret, invalid, secret};
use crate::domain::TeamName;

pub const DEFAULT_PAGERDUTY_API_URL: &str = "https://api.pagerduty.com";
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com";
/// The on-call answer cache: long enough that a busy channel asks the provider once a minute.
pub const DEFAULT_ONCALL_CACHE_SECS: u64 = 60;
const DEFAULT_TIMEOUT_SECS: f64 = 5.0;

/// `[oncall]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawOnCall {
    schedule_file: Option<PathBuf>,
    provider: Option<String>,
    cache_seconds: Option<u64>,
    timeout_secs: Option<f64>,
    pagerduty: Option<RawProviderApi>,
    opsgenie: Option<RawProviderApi>,
    teams: BTreeMap<String, RawTeamOnCall>,
}

/// `[oncall.pagerduty]`, `[oncall.opsgenie]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawProviderApi {
    api_url: Option<String>,
    token_env: Option<String>,
}

/// `[oncall.teams.<team>]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTeamOnCall {
    provider: Option<String>,
    schedule: Option<String>,
    escalation_policy: Option<String>,
    timezone: Option<String>,
}

/// `[argocd]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawArgoCd {
    url: Option<String>,
    token_env: Option<String>,
    app_name_pattern: Option<String>,
    timeout_secs: Option<f64>,
}

/// Where a team's on-call answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OnCallProviderKind {
    /// The weekly rotations of `[oncall] schedule_file`.
    ScheduleFile,
    PagerDuty,
    Opsgenie,
}

impl OnCallProviderKind {
    fn parse(field: &str, raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "schedule_file" | "file" => Ok(Self::ScheduleFile),
            "pagerduty" => Ok(Self::PagerDuty),
            "opsgenie" => Ok(Self::Opsgenie),
            other => Err(invalid(
                field,
                format!("`{other}`: expected schedule_file, pagerduty or opsgenie"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScheduleFile => "schedule file",
            Self::PagerDuty => "PagerDuty",
            Self::Opsgenie => "Opsgenie",
        }
    }
}

/// A provider's REST API: base URL and token.
#[derive(Debug, Clone)]
pub struct ProviderApi {
    /// Without a trailing slash.
    pub api_url: String,
    pub token: Secret,
    pub token_env: String,
}

/// One team's on-call override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamOnCall {
    pub provider: Option<OnCallProviderKind>,
    /// A PagerDuty schedule id, or an Opsgenie schedule name or id.
    pub schedule: Option<String>,
    /// A PagerDuty escalation policy id.
    pub escalation_policy: Option<String>,
    /// IANA time zone the answer is shown in (the schedule file's own otherwise, else UTC).
    pub timezone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OnCallSettings {
    pub schedule_file: Option<PathBuf>,
    /// The provider of teams without an override.
    pub default_provider: OnCallProviderKind,
    pub cache_ttl: Duration,
    /// Per provider request.
    pub timeout: Duration,
    pub pagerduty: Option<ProviderApi>,
    pub opsgenie: Option<ProviderApi>,
    pub teams: BTreeMap<TeamName, TeamOnCall>,
}

impl Default for OnCallSettings {
    fn default() -> Self {
        Self {
            schedule_file: None,
            default_provider: OnCallProviderKind::ScheduleFile,
            cache_ttl: Duration::from_secs(DEFAULT_ONCALL_CACHE_SECS),
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            pagerduty: None,
            opsgenie: None,
            teams: BTreeMap::new(),
        }
    }
}

impl OnCallSettings {
    /// The provider answering for `team`.
    pub fn provider_for(&self, team: &TeamName) -> OnCallProviderKind {
        self.teams
            .get(team)
            .and_then(|t| t.provider)
            .unwrap_or(self.default_provider)
    }
}

#[derive(Debug, Clone)]
pub struct ArgoCdSettings {
    /// The Argo CD server, without a trailing slash (`https://argocd.example.com`).
    pub url: String,
    pub token: Secret,
    pub token_env: String,
    /// The Application name for a service in an environment: `{app}` is the `argocd/app-name`
    /// annotation, `{env}` the environment (`{app}-{env}` for one Application per environment).
    pub app_name_pattern: String,
    pub timeout: Duration,
}

/// The Backstage backend the catalog is also read from (`/api/catalog/entities`).
#[derive(Debug, Clone)]
pub struct BackstageSettings {
    pub url: String,
    pub token: Option<Secret>,
    pub token_env: Option<String>,
}

pub(super) fn http_url(field: &str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/').to_owned();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url)
    } else {
        Err(invalid(
            field,
            format!("`{raw}`: must start with http:// or https://"),
        ))
    }
}

fn seconds(field: &str, v: Option<f64>) -> Result<Duration, ConfigError> {
    let v = v.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if v.is_finite() && v > 0.0 && v <= 300.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(
            field,
            "must be more than 0 and at most 300 seconds",
        ))
    }
}

/// An IANA time zone name the bundled tz database knows.
pub fn check_timezone(field: &str, name: &str) -> Result<(), ConfigError> {
    jiff::tz::TimeZone::get(name)
        .map(|_| ())
        .map_err(|_| invalid(field, format!("`{name}` is not an IANA time zone")))
}

fn provider_api(
    field: &'static str,
    token_field: &'static str,
    raw: Option<RawProviderApi>,
    default_url: &str,
    env: Env<'_>,
) -> Result<Option<ProviderApi>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let token_env = raw.token_env.ok_or_else(|| {
        invalid(
            field,
            "token_env is required: the variable holding the API token",
        )
    })?;
    Ok(Some(ProviderApi {
        api_url: http_url(field, raw.api_url.as_deref().unwrap_or(default_url))?,
        token: secret(token_field, &token_env, env)?,
        token_env,
    }))
}

pub(super) fn oncall_settings(raw: RawOnCall, env: Env<'_>) -> Result<OnCallSettings, ConfigError> {
    let default_provider = match &raw.provider {
        Some(p) => OnCallProviderKind::parse("oncall.provider", p)?,
        None => OnCallProviderKind::ScheduleFile,
    };
    let cache_seconds = raw.cache_seconds.unwrap_or(DEFAULT_ONCALL_CACHE_SECS);
    if cache_seconds > 3600 {
        return Err(invalid("oncall.cache_seconds", "must be at most 3600"));
    }
    let pagerduty = provider_api(
        "oncall.pagerduty",
        "oncall.pagerduty.token_env",
        raw.pagerduty,
        DEFAULT_PAGERDUTY_API_URL,
        env,
    )?;
    let opsgenie = provider_api(
        "oncall.opsgenie",
        "oncall.opsgenie.token_env",
        raw.opsgenie,
        DEFAULT_OPSGENIE_API_URL,
        env,
    )?;
    let mut teams = BTreeMap::new();
    for (key, t) in raw.teams {
        let field = format!("oncall.teams.{key}");
        let team = TeamName::parse(&key).map_err(|e| invalid(&field, e))?;
        let provider = t
            .provider
            .as_deref()
            .map(|p| OnCallProviderKind::parse(&format!("{field}.provider"), p))
            .transpose()?;
        if let Some(tz) = &t.timezone {
            check_timezone(&format!("{field}.timezone"), tz)?;
        }
        let effective = provider.unwrap_or(default_provider);
        if effective == OnCallProviderKind::Opsgenie && t.schedule.is_none() {
            return Err(invalid(
                &field,
                "an Opsgenie team needs `schedule` (the schedule's name or id)",
            ));
        }
        teams.insert(
            team,
            TeamOnCall {
                provider,
                schedule: t.schedule,
                escalation_policy: t.escalation_policy,
                timezone: t.timezone,
            },
        );
    }
    let settings = OnCallSettings {
        schedule_file: raw.schedule_file,
        default_provider,
        cache_ttl: Duration::from_secs(cache_seconds),
        timeout: seconds("oncall.timeout_secs", raw.timeout_secs)?,
        pagerduty,
        opsgenie,
        teams,
    };
    // Every provider in use must be configured; say so now rather than in a chat thread.
    let mut used: Vec<(String, OnCallProviderKind)> =
        vec![("oncall.provider".to_owned(), settings.default_provider)];
    used.extend(settings.teams.iter().filter_map(|(t, o)| {
        o.provider
            .map(|p| (format!("oncall.teams.{t}.provider"), p))
    }));
    for (field, kind) in used {
        let missing = match kind {
            OnCallProviderKind::PagerDuty => {
                settings.pagerduty.is_none().then_some("[oncall.pagerduty]")
            }
            OnCallProviderKind::Opsgenie => {
                settings.opsgenie.is_none().then_some("[oncall.opsgenie]")
            }
            OnCallProviderKind::ScheduleFile => None,
        };
        if let Some(section) = missing {
            return Err(invalid(
                field,
                format!("{} is used but {section} is not configured", kind.as_str()),
            ));
        }
    }
    Ok(settings)
}

pub(super) fn argocd_settings(
    raw: Option<RawArgoCd>,
    env: Env<'_>,
) -> Result<Option<ArgoCdSettings>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let url = raw
        .url
        .ok_or_else(|| invalid("argocd.url", "is required when [argocd] is present"))?;
    let token_env = raw
        .token_env
        .ok_or_else(|| invalid("argocd.token_env", "is required when [argocd] is present"))?;
    let app_name_pattern = raw.app_name_pattern.unwrap_or_else(|| "{app}".to_owned());
    if !app_name_pattern.contains("{app}") {
        return Err(invalid(
            "argocd.app_name_pattern",
            "must contain {app} (the argocd/app-name annotation)",
        ));
    }
    Ok(Some(ArgoCdSettings {
        url: http_url("argocd.url", &url)?,
        token: secret("argocd.token_env", &token_env, env)?,
        token_env,
        app_name_pattern,
        timeout: seconds("argocd.timeout_secs", raw.timeout_secs)?,
    }))
}

pub(super) fn backstage_settings(
    url: Option<String>,
    token_env: Option<String>,
    env: Env<'_>,
) -> Result<Option<BackstageSettings>, ConfigError> {
    let Some(url) = url else {
        if token_env.is_some() {
            return Err(invalid(
                "catalog.token_env",
                "is only used with catalog.backstage_url",
            ));
        }
        return Ok(None);
    };
    let token = token_env
        .as_deref()
        .map(|v| secret("catalog.token_env", v, env))
        .transpose()?;
    Ok(Some(BackstageSettings {
        url: http_url("catalog.backstage_url", &url)?,
        token,
        token_env,
    }))
}

/// The `check-config` lines for these sections.
pub(super) fn summary(
    oncall: &OnCallSettings,
    argocd: Option<&ArgoCdSettings>,
    backstage: Option<&BackstageSettings>,
) -> String {
    let mut out = String::new();
    if let Some(b) = backstage {
        out.push_str(&format!(
            "backstage:     {}/api/catalog/entities ({})\n",
            b.url,
            b.token_env
                .as_ref()
                .map_or("no token".to_owned(), |v| format!("token from ${v}"))
        ));
    }
    let file = oncall.schedule_file.as_ref().map_or(
        "no schedule file (the sandbox uses its built-in one)".to_owned(),
        |p| format!("schedule file {}", p.display()),
    );
    let mut providers = vec![file];
    for (name, api) in [
        ("PagerDuty", &oncall.pagerduty),
        ("Opsgenie", &oncall.opsgenie),
    ] {
        if let Some(a) = api {
            providers.push(format!(
                "{name} {} (token from ${})",
                a.api_url, a.token_env
            ));
        }
    }
    out.push_str(&format!(
        "on-call:       {}; default provider {}; {} team override(s); answers cached {} s\n",
        providers.join("; "),
        oncall.default_provider.as_str(),
        oncall.teams.len(),
        oncall.cache_ttl.as_secs()
    ));
    out.push_str(&format!(
        "argo cd:       {}\n",
        argocd.map_or("off".to_owned(), |a| format!(
            "{} (token from ${}; application {})",
            a.url, a.token_env, a.app_name_pattern
        ))
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;
    use crate::config::test_env::env_of;

    #[test]
    fn defaults_need_no_section() {
        let c = Config::from_toml("", &env_of(&[])).unwrap();
        assert_eq!(c.oncall.default_provider, OnCallProviderKind::ScheduleFile);
        assert_eq!(c.oncall.cache_ttl, Duration::from_secs(60));
        assert!(c.oncall.schedule_file.is_none());
        assert!(c.argocd.is_none());
        assert!(c.backstage.is_none());
        assert!(
            c.summary().contains("argo cd:       off"),
            "{}",
            c.summary()
        );
    }

    #[test]
    fn providers_and_team_overrides() {
        let toml = r#"
[oncall]
schedule_file = "catalog/oncall.yaml"
[oncall.pagerduty]
token_env = "PD"
[oncall.opsgenie]
api_url = "https://api.eu.opsgenie.com/"
token_env = "OG"
[oncall.teams.payments]
provider = "pagerduty"
escalation_policy = "PEP4Q7M"
timezone = "Europe/Berlin"
[oncall.teams.checkout]
provider = "opsgenie"
schedule = "checkout_schedule"
"#;
        let env = env_of(&[("PD", "pd-token"), ("OG", "og-key")]);
        let c = Config::from_toml(toml, &env).unwrap();
        let pd = c.oncall.pagerduty.as_ref().unwrap();
        assert_eq!(pd.api_url, DEFAULT_PAGERDUTY_API_URL);
        assert_eq!(pd.token.expose(), "pd-token");
        let og = c.oncall.opsgenie.as_ref().unwrap();
        assert_eq!(og.api_url, "https://api.eu.opsgenie.com");
        let payments = TeamName::parse("payments").unwrap();
        assert_eq!(
            c.oncall.provider_for(&payments),
            OnCallProviderKind::PagerDuty
        );
        let search = TeamName::parse("search").unwrap();
        assert_eq!(
            c.oncall.provider_for(&search),
            OnCallProviderKind::ScheduleFile
        );
        let summary = c.summary();
        assert!(summary.contains("token from $PD"), "{summary}");
        assert!(!summary.contains("pd-token") && !format!("{c:?}").contains("og-key"));
    }

    #[test]
    fn argocd_and_backstage() {
        let toml = "[argocd]\nurl = \"https://argocd.example.com/\"\ntoken_env = \"ARGO\"\napp_name_pattern = \"{app}-{env}\"\n[catalog]\nbackstage_url = \"http://127.0.0.1:7007\"\ntoken_env = \"BS\"\n";
        let c = Config::from_toml(toml, &env_of(&[("ARGO", "a"), ("BS", "b")])).unwrap();
        let a = c.argocd.as_ref().unwrap();
        assert_eq!(a.url, "https://argocd.example.com");
        assert_eq!(a.app_name_pattern, "{app}-{env}");
        let b = c.backstage.as_ref().unwrap();
        assert_eq!(b.token.as_ref().map(Secret::expose), Some("b"));
    }

    #[test]
    fn mistakes_are_named() {
        let pd = env_of(&[("PD", "x"), ("ARGO", "a")]);
        for (toml, want) in [
            ("[oncall]\nprovider = \"victorops\"\n", "oncall.provider"),
            (
                "[oncall]\nprovider = \"pagerduty\"\n",
                "[oncall.pagerduty] is not configured",
            ),
            ("[oncall.pagerduty]\n", "token_env is required"),
            ("[oncall.pagerduty]\ntoken_env = \"MISSING\"\n", "MISSING"),
            (
                "[oncall.pagerduty]\ntoken_env = \"PD\"\napi_url = \"api.pagerduty.com\"\n",
                "http://",
            ),
            (
                "[oncall.teams.payments]\nprovider = \"opsgenie\"\nschedule = \"s\"\n",
                "[oncall.opsgenie] is not configured",
            ),
            (
                "[oncall.teams.Payments_Team]\n",
                "oncall.teams.Payments_Team",
            ),
            (
                "[oncall.teams.payments]\ntimezone = \"Mars/Olympus\"\n",
                "IANA",
            ),
            (
                "[oncall.teams.payments]\nschedul = \"x\"\n",
                "unknown field",
            ),
            ("[oncall]\ncache_seconds = 99999\n", "cache_seconds"),
            ("[argocd]\ntoken_env = \"ARGO\"\n", "argocd.url"),
            (
                "[argocd]\nurl = \"https://a\"\ntoken_env = \"ARGO\"\napp_name_pattern = \"x\"\n",
                "{app}",
            ),
            (
                "[argocd]\nurl = \"https://a\"\ntoken = \"inline\"\n",
                "unknown field",
            ),
            ("[catalog]\ntoken_env = \"BS\"\n", "backstage_url"),
        ] {
            let err = Config::from_toml(toml, &pd).unwrap_err().to_string();
            assert!(err.contains(want), "{toml:?}: {err}");
        }
    }
}
