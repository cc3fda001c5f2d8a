//! `[store]`: where proposals, the audit log and thread memory live. SQLite under the data
//! dir by default (one replica); a Postgres URL for several replicas sharing one database.
//! The password is never in the URL: `password_env` names the variable that holds it.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, Env, Secret, invalid, secret};

const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// `[store]` as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    url: Option<String>,
    password_env: Option<String>,
    max_connections: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// `platbot.db` under the data dir (which `--data-dir` may still change after parsing).
    Sqlite,
    Postgres(PostgresSettings),
}

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/db?sslmode=...`, without a password.
    pub url: url::Url,
    pub password: Option<Secret>,
    pub max_connections: u32,
}

impl StoreSettings {
    /// For `check-config` and the start log: never the password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            Self::Sqlite => {
                format!("SQLite {}", data_dir.join("platbot.db").display())
            }
            Self::Postgres(pg) => format!(
                "Postgres {} (password {}, {} connections)",
                pg.url,
                if pg.password.is_some() {
                    "from the environment"
                } else {
                    "none"
                },
                pg.max_connections
            ),
        }
    }
}

/// `PLATBOT_STORE_URL` overrides `[store] url`, like `PLATBOT_DATA_DIR` overrides `data_dir`.
pub(super) fn store_settings(raw: RawStore, env: Env<'_>) -> Result<StoreSettings, ConfigError> {
    let Some(text) = env("PLATBOT_STORE_URL")
        .filter(|u| !u.trim().is_empty())
        .or(raw.url)
    else {
        if raw.password_env.is_some() {
            return Err(invalid(
                "store.password_env",
                "is set without store.url (the SQLite default has no password)",
            ));
        }
        return Ok(StoreSettings::Sqlite);
    };
    let url = url::Url::parse(text.trim()).map_err(|e| invalid("store.url", e))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(invalid(
            "store.url",
            format!(
                "scheme {:?} is not supported: use postgres://user@host:port/database, or leave store.url out for SQLite under data_dir",
                url.scheme()
            ),
        ));
    }
    if url.password().is_some() {
        return Err(invalid(
            "store.url",
            "holds a password: remove it and name the variable that holds it in store.password_env",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("store.url", "names no host"));
    }
    let password = raw
        .password_env
        .map(|var| secret("store.password_env", &var, env))
        .transpose()?;
    let max_connections = raw.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if !(1..=100).contains(&max_connections) {
        return Err(invalid(
            "store.max_connections",
            "must be between 1 and 100",
        ));
    }
    Ok(StoreSettings::Postgres(PostgresSettings {
        url,
        password,
        max_connections,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str, vars: &[(&str, &str)]) -> Result<StoreSettings, ConfigError> {
        let raw: RawStore = toml::from_str(toml_text).expect("toml");
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        store_settings(raw, &env)
    }

    #[test]
    fn sqlite_under_the_data_dir_by_default() {
        let s = settings("", &[]).expect("default");
        assert!(matches!(s, StoreSettings::Sqlite));
        assert_eq!(s.describe(Path::new("/data")), "SQLite /data/platbot.db");
    }

    #[test]
    fn postgres_takes_its_password_from_the_named_variable() {
        let s = settings(
            "url = \"postgres://platbot@db:5432/platbot\"\npassword_env = \"PB_DB\"",
            &[("PB_DB", "s3cret")],
        )
        .expect("postgres");
        let StoreSettings::Postgres(pg) = &s else {
            panic!("expected postgres, got {s:?}");
        };
        assert_eq!(pg.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert!(!s.describe(Path::new("/data")).contains("s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn bad_store_settings_say_what_to_change() {
        let missing = settings(
            "url = \"postgres://platbot@db/platbot\"\npassword_env = \"PB_DB\"",
            &[],
        );
        assert!(matches!(missing, Err(ConfigError::MissingSecret { .. })));
        for (text, says) in [
            ("url = \"postgres://u:pw@db/platbot\"", "password_env"),
            ("url = \"mysql://u@db/platbot\"", "not supported"),
            ("url = \"not a url\"", "store.url"),
            ("password_env = \"X\"", "without store.url"),
            (
                "url = \"postgres://u@db/p\"\nmax_connections = 0",
                "between 1 and 100",
            ),
        ] {
            let err = settings(text, &[("X", "x")]).expect_err(text).to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_environment_overrides_the_url() {
        let s =
            settings("", &[("PLATBOT_STORE_URL", "postgres://u@elsewhere/p")]).expect("override");
        assert!(
            matches!(s, StoreSettings::Postgres(ref pg) if pg.url.host_str() == Some("elsewhere"))
        );
    }
}
