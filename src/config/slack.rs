//! `[slack]`: how platbot meets Slack (Socket Mode or the Events API), secrets by
//! environment variable name only; Slack's usual variables turn it on without a section.

use serde::Deserialize;

use super::{ConfigError, Secret, invalid};

/// `[slack]`: how platbot meets Slack. Secrets by environment variable name only.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSlack {
    mode: Option<String>,
    bot_token_env: Option<String>,
    app_token_env: Option<String>,
    signing_secret_env: Option<String>,
    api_url: Option<String>,
}

/// How Slack reaches platbot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Socket Mode: platbot opens a websocket to Slack; no public URL needed.
    Socket,
    /// Events API: Slack POSTs signed requests to `/slack/*` on `platbot serve`.
    Events,
}

#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub mode: SlackMode,
    pub bot_token: Secret,
    pub bot_token_env: String,
    /// The app-level token (`xapp-...`), present in Socket Mode.
    pub app_token: Option<Secret>,
    pub app_token_env: String,
    /// The signing secret, present in Events API mode.
    pub signing_secret: Option<Secret>,
    pub signing_secret_env: String,
    /// The Web API base URL, without a trailing slash.
    pub api_url: String,
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

pub(super) fn slack_summary(slack: Option<&SlackSettings>) -> String {
    let Some(s) = slack else {
        return "off (set SLACK_BOT_TOKEN, or add a [slack] section)".to_owned();
    };
    let mode = match s.mode {
        SlackMode::Socket => format!("Socket Mode (app token from ${})", s.app_token_env),
        SlackMode::Events => format!(
            "Events API on POST /slack/events, /slack/interactivity, /slack/commands (signing secret from ${})",
            s.signing_secret_env
        ),
    };
    format!(
        "{mode}; bot token from ${}; Web API {}",
        s.bot_token_env, s.api_url
    )
}

/// `[slack]`, or Slack's usual variables when the section is absent: Slack is on when the
/// section exists or `SLACK_BOT_TOKEN` is set. Without `mode`, an app token means Socket
/// Mode and a signing secret alone means the Events API.
pub(super) fn slack_settings(
    raw: Option<RawSlack>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<SlackSettings>, ConfigError> {
    let explicit = raw.is_some();
    let raw = raw.unwrap_or_default();
    let bot_token_env = raw
        .bot_token_env
        .unwrap_or_else(|| "SLACK_BOT_TOKEN".to_owned());
    let app_token_env = raw
        .app_token_env
        .unwrap_or_else(|| "SLACK_APP_TOKEN".to_owned());
    let signing_secret_env = raw
        .signing_secret_env
        .unwrap_or_else(|| "SLACK_SIGNING_SECRET".to_owned());
    let read = |var: &str| env(var).filter(|v| !v.trim().is_empty()).map(Secret::new);
    let bot_token = match read(&bot_token_env) {
        Some(t) => t,
        None if !explicit => return Ok(None),
        None => {
            return Err(ConfigError::MissingSecret {
                field: "slack.bot_token_env".into(),
                var: bot_token_env,
            });
        }
    };
    if bot_token.expose().starts_with("xapp-") {
        return Err(invalid(
            "slack.bot_token_env",
            format!(
                "${bot_token_env} holds an app-level token (xapp-...); it needs the bot token (xoxb-...)"
            ),
        ));
    }
    let app_token = read(&app_token_env);
    let signing_secret = read(&signing_secret_env);
    let mode = match raw.mode.as_deref() {
        Some("socket") => SlackMode::Socket,
        Some("events") => SlackMode::Events,
        Some(other) => {
            return Err(invalid(
                "slack.mode",
                format!("`{other}`: expected socket or events"),
            ));
        }
        None if app_token.is_some() => SlackMode::Socket,
        None if signing_secret.is_some() => SlackMode::Events,
        None => {
            return Err(invalid(
                "slack",
                format!("set ${app_token_env} (Socket Mode) or ${signing_secret_env} (Events API)"),
            ));
        }
    };
    match mode {
        SlackMode::Socket => match &app_token {
            None => {
                return Err(ConfigError::MissingSecret {
                    field: "slack.app_token_env".into(),
                    var: app_token_env,
                });
            }
            Some(t) if !t.expose().starts_with("xapp-") => {
                return Err(invalid(
                    "slack.app_token_env",
                    format!(
                        "${app_token_env} must hold an app-level token (xapp-...) with the connections:write scope"
                    ),
                ));
            }
            Some(_) => {}
        },
        SlackMode::Events if signing_secret.is_none() => {
            return Err(ConfigError::MissingSecret {
                field: "slack.signing_secret_env".into(),
                var: signing_secret_env,
            });
        }
        SlackMode::Events => {}
    }
    let api_url = raw
        .api_url
        .unwrap_or_else(|| DEFAULT_SLACK_API_URL.to_owned())
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let scheme_ok = api_url.starts_with("https://") || api_url.starts_with("http://");
    if !scheme_ok || api_url.len() <= "https://".len() || api_url.contains(char::is_whitespace) {
        return Err(invalid(
            "slack.api_url",
            format!("`{api_url}`: expected an http(s) URL such as {DEFAULT_SLACK_API_URL}"),
        ));
    }
    Ok(Some(SlackSettings {
        mode,
        bot_token,
        bot_token_env,
        app_token: if mode == SlackMode::Socket {
            app_token
        } else {
            None
        },
        app_token_env,
        signing_secret: if mode == SlackMode::Events {
            signing_secret
        } else {
            None
        },
        signing_secret_env,
        api_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::test_env::env_of;

    #[test]
    fn slack_is_off_without_section_or_token() {
        let c = Config::from_toml("", &env_of(&[])).unwrap();
        assert!(c.slack.is_none());
        assert!(c.summary().contains("slack:         off"));
    }

    #[test]
    fn slack_variables_alone_turn_it_on_and_pick_the_mode() {
        let socket = env_of(&[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_APP_TOKEN", "xapp-1")]);
        let s = Config::from_toml("", &socket).unwrap().slack.unwrap();
        assert_eq!(s.mode, SlackMode::Socket);
        assert_eq!(s.app_token.as_ref().map(Secret::expose), Some("xapp-1"));
        assert_eq!(s.api_url, DEFAULT_SLACK_API_URL);

        let events = env_of(&[
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "abc"),
        ]);
        let s = Config::from_toml("", &events).unwrap().slack.unwrap();
        assert_eq!(s.mode, SlackMode::Events);
        assert!(s.app_token.is_none());
    }

    #[test]
    fn slack_section_names_its_variables_and_url() {
        let toml = "[slack]\nmode = \"events\"\nbot_token_env = \"BOT\"\nsigning_secret_env = \"SIGN\"\napi_url = \"http://127.0.0.1:9/api/\"\n";
        let env = env_of(&[("BOT", "xoxb-2"), ("SIGN", "s")]);
        let s = Config::from_toml(toml, &env).unwrap().slack.unwrap();
        assert_eq!(s.mode, SlackMode::Events);
        assert_eq!(s.bot_token.expose(), "xoxb-2");
        assert_eq!(s.api_url, "http://127.0.0.1:9/api");
        // Secrets never show in Debug output or the summary.
        let c = Config::from_toml(toml, &env).unwrap();
        assert!(!format!("{c:?}").contains("xoxb-2"));
        assert!(c.summary().contains("$SIGN"), "{}", c.summary());
    }

    #[test]
    fn slack_mistakes_are_named() {
        let bot = env_of(&[("SLACK_BOT_TOKEN", "xoxb-1")]);
        for (toml, env, want) in [
            ("[slack]\n", env_of(&[]), "SLACK_BOT_TOKEN"),
            ("[slack]\nmode = \"socket\"\n", bot, "SLACK_APP_TOKEN"),
            (
                "[slack]\nmode = \"events\"\n",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1")]),
                "SLACK_SIGNING_SECRET",
            ),
            (
                "[slack]\nmode = \"webhook\"\n",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1")]),
                "slack.mode",
            ),
            (
                "",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1")]),
                "SLACK_APP_TOKEN",
            ),
            ("", env_of(&[("SLACK_BOT_TOKEN", "xapp-1")]), "bot token"),
            (
                "",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_APP_TOKEN", "xoxb-2")]),
                "xapp-",
            ),
            (
                "[slack]\napi_url = \"slack.com\"\n",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1"), ("SLACK_APP_TOKEN", "xapp-1")]),
                "slack.api_url",
            ),
            (
                "[slack]\ntoken = \"xoxb-inline\"\n",
                env_of(&[("SLACK_BOT_TOKEN", "xoxb-1")]),
                "unknown field",
            ),
        ] {
            let err = Config::from_toml(toml, &env).unwrap_err().to_string();
            assert!(err.contains(want), "{toml:?}: {err}");
        }
    }
}
