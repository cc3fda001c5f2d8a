//! `[discord]`: how platbot meets Discord (a bot user on the gateway, REST for replies).
//! The token by environment variable name only; guilds and user ids parsed here once.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use super::{ConfigError, Env, Secret, invalid, secret};
use crate::domain::UserId;

pub const DEFAULT_DISCORD_TOKEN_ENV: &str = "DISCORD_TOKEN";

/// `[discord]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDiscord {
    token_env: Option<String>,
    guilds: Vec<String>,
    api_url: Option<String>,
    gateway_url: Option<String>,
    users: BTreeMap<String, String>,
}

/// A Discord id (a snowflake: user, guild, channel), as Discord writes it: decimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiscordId(u64);

impl DiscordId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        match raw.parse::<u64>() {
            Ok(n) if n > 0 && raw.chars().all(|c| c.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(format!(
                "`{raw}` is not a Discord id (the digits \"Copy ID\" gives in developer mode)"
            )),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DiscordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A gateway intent platbot asks Discord for; the surface maps these to serenity's bits, so
/// `check-config` and the IDENTIFY say the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordIntent {
    /// MESSAGE_CREATE in servers: mentions of the bot (their content comes with the mention,
    /// so the privileged MESSAGE_CONTENT intent is not needed).
    GuildMessages,
    /// MESSAGE_CREATE in direct messages.
    DirectMessages,
}

impl DiscordIntent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GuildMessages => "GUILD_MESSAGES",
            Self::DirectMessages => "DIRECT_MESSAGES",
        }
    }
}

/// The intents platbot requests: no privileged ones.
pub const DISCORD_INTENTS: [DiscordIntent; 2] =
    [DiscordIntent::GuildMessages, DiscordIntent::DirectMessages];

#[derive(Debug, Clone)]
pub struct DiscordSettings {
    pub token: Secret,
    pub token_env: String,
    /// Servers the `/platbot` command is registered in (at once); empty: registered globally.
    pub guilds: Vec<DiscordId>,
    /// A REST proxy in front of Discord that does the rate limiting (serenity's limiter is off
    /// then); `None`: https://discord.com with serenity's limiter.
    pub api_url: Option<String>,
    /// Overrides the gateway URL Discord's `/gateway` hands out.
    pub gateway_url: Option<String>,
    /// Discord user -> platform user, beside the catalog's `discord.com/user-id` annotations.
    pub users: BTreeMap<DiscordId, UserId>,
}

/// `[discord]`, or `DISCORD_TOKEN` alone: Discord is on when the section exists or the
/// variable is set.
pub(super) fn discord_settings(
    raw: Option<RawDiscord>,
    env: Env<'_>,
) -> Result<Option<DiscordSettings>, ConfigError> {
    let explicit = raw.is_some();
    let raw = raw.unwrap_or_default();
    let token_env = raw
        .token_env
        .unwrap_or_else(|| DEFAULT_DISCORD_TOKEN_ENV.to_owned());
    if !explicit && env(&token_env).is_none_or(|v| v.trim().is_empty()) {
        return Ok(None);
    }
    let token = secret("discord.token_env", &token_env, env)?;
    let bare = token
        .expose()
        .strip_prefix("Bot ")
        .unwrap_or(token.expose());
    if bare.split('.').count() != 3 || bare.split('.').any(str::is_empty) {
        return Err(invalid(
            "discord.token_env",
            format!(
                "${token_env} does not hold a bot token (three dot-separated parts, from the application's Bot page)"
            ),
        ));
    }
    let guilds = raw
        .guilds
        .iter()
        .map(|g| DiscordId::parse(g).map_err(|e| invalid("discord.guilds", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut users = BTreeMap::new();
    for (id, user) in &raw.users {
        let field = format!("discord.users.{id}");
        let id = DiscordId::parse(id).map_err(|e| invalid(&field, e))?;
        let user = UserId::parse(user).map_err(|e| invalid(&field, e))?;
        users.insert(id, user);
    }
    let api_url = raw
        .api_url
        .map(|u| super::integrations::http_url("discord.api_url", &u))
        .transpose()?;
    let gateway_url = raw.gateway_url.map(|u| gateway_url(&u)).transpose()?;
    Ok(Some(DiscordSettings {
        token,
        token_env,
        guilds,
        api_url,
        gateway_url,
        users,
    }))
}

fn gateway_url(raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "ws" | "wss") && u.host().is_some() => Ok(url.to_owned()),
        _ => Err(invalid(
            "discord.gateway_url",
            format!("`{raw}`: expected a ws:// or wss:// URL such as wss://gateway.discord.gg"),
        )),
    }
}

/// The `discord:` line of `check-config`.
pub(super) fn summary(discord: Option<&DiscordSettings>) -> String {
    let Some(d) = discord else {
        return "off (set DISCORD_TOKEN, or add a [discord] section)".to_owned();
    };
    let intents: Vec<&str> = DISCORD_INTENTS.iter().map(|i| i.as_str()).collect();
    let commands = if d.guilds.is_empty() {
        "/platbot registered globally".to_owned()
    } else {
        let ids: Vec<String> = d.guilds.iter().map(ToString::to_string).collect();
        format!("/platbot registered in guilds {}", ids.join(", "))
    };
    let rest = match &d.api_url {
        None => "REST https://discord.com with serenity's rate limiter".to_owned(),
        Some(u) => format!("REST through the proxy {u} (it does the rate limiting)"),
    };
    let gateway = d
        .gateway_url
        .as_deref()
        .map_or(String::new(), |g| format!("; gateway {g}"));
    format!(
        "on; token from ${}; intents {} (no privileged intents); {commands}; {} mapped users; {rest}{gateway}",
        d.token_env,
        intents.join(" | "),
        d.users.len()
    )
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::test_env::env_of;

    const TOKEN: &str = "MTA4.GhIjKl.abcdefghijklmnop";

    #[test]
    fn off_without_section_or_token_and_on_with_either() {
        let c = Config::from_toml("", &env_of(&[])).unwrap();
        assert!(c.discord.is_none());
        assert!(c.summary().contains("discord:       off"));
        let c = Config::from_toml("", &env_of(&[("DISCORD_TOKEN", TOKEN)])).unwrap();
        let summary = c.summary();
        assert!(
            summary.contains("discord:       on; token from $DISCORD_TOKEN; intents GUILD_MESSAGES | DIRECT_MESSAGES"),
            "{summary}"
        );
        assert!(summary.contains("registered globally"), "{summary}");
    }

    #[test]
    fn section_parses_guilds_users_and_urls() {
        let toml = "[discord]\ntoken_env = \"BOT\"\nguilds = [\"1100000000000000001\"]\napi_url = \"http://127.0.0.1:9/\"\ngateway_url = \"ws://127.0.0.1:10\"\n[discord.users]\n\"80351110224678912\" = \"Priya.Nair\"\n";
        let c = Config::from_toml(toml, &env_of(&[("BOT", TOKEN)])).unwrap();
        let d = c.discord.as_ref().unwrap();
        assert_eq!(d.guilds[0].get(), 1_100_000_000_000_000_001);
        assert_eq!(d.api_url.as_deref(), Some("http://127.0.0.1:9"));
        assert_eq!(d.gateway_url.as_deref(), Some("ws://127.0.0.1:10"));
        let (id, user) = d.users.iter().next().unwrap();
        assert_eq!(
            (id.get(), user.as_str()),
            (80_351_110_224_678_912, "priya.nair")
        );
        let summary = c.summary();
        assert!(summary.contains("guilds 1100000000000000001"), "{summary}");
        assert!(summary.contains("through the proxy"), "{summary}");
    }

    #[test]
    fn mistakes_are_named() {
        for (toml, env, needle) in [
            ("[discord]\n", env_of(&[]), "DISCORD_TOKEN"),
            (
                "[discord]\n",
                env_of(&[("DISCORD_TOKEN", "xoxb-1")]),
                "bot token",
            ),
            (
                "[discord]\nguilds = [\"general\"]\n",
                env_of(&[("DISCORD_TOKEN", TOKEN)]),
                "discord.guilds",
            ),
            (
                "[discord.users]\n\"priya\" = \"priya.nair\"\n",
                env_of(&[("DISCORD_TOKEN", TOKEN)]),
                "discord.users.priya",
            ),
            (
                "[discord]\ngateway_url = \"https://gateway.discord.gg\"\n",
                env_of(&[("DISCORD_TOKEN", TOKEN)]),
                "discord.gateway_url",
            ),
            (
                "[discord]\napi_url = \"discord.com\"\n",
                env_of(&[("DISCORD_TOKEN", TOKEN)]),
                "discord.api_url",
            ),
            (
                "[discord]\ntoken = \"inline\"\n",
                env_of(&[("DISCORD_TOKEN", TOKEN)]),
                "token",
            ),
        ] {
            let err = Config::from_toml(toml, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{toml:?}: {err}");
        }
    }
}
