//! Persistence: proposals, the audit log, thread memory and the delivery ids chat surfaces
//! have handled. SQLite (a file under the data dir, the default) or Postgres (several
//! replicas on one database), through sqlx's `Any` driver: one set of queries, written with
//! `$n` placeholders that both dialects read, over integer milliseconds and text columns
//! only, so no value needs a dialect of its own. Each dialect has its migrations
//! (`migrations/sqlite`, `migrations/postgres`) with the same tables and columns.

mod audit;
mod proposals;
mod seen;

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor, Row};

pub use audit::{AuditEntry, AuditEvent, AuditFilter, AuditOutcome};

use crate::config::{PostgresSettings, StoreSettings};
use crate::domain::ConversationKey;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("stored record is corrupt ({0})")]
    Corrupt(String),
}

fn corrupt(what: impl ToString) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// One remembered message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: String,
    pub text: String,
    pub tokens: usize,
}

pub(crate) fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or_default()
}

impl Store {
    /// Opens the store the settings name (SQLite: under `data_dir`) and applies its migrations.
    pub async fn connect(settings: &StoreSettings, data_dir: &Path) -> Result<Store, StoreError> {
        match settings {
            StoreSettings::Sqlite => Self::open_in(data_dir).await,
            StoreSettings::Postgres(pg) => Self::open_postgres(pg).await,
        }
    }

    /// Opens (creating if needed) `platbot.db` under `data_dir` and applies migrations.
    pub async fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&data_dir.join("platbot.db")).await
    }

    /// Opens (creating if needed) the SQLite file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let url = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .to_url_lossy();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            // The `Any` options carry only the URL, so the pragmas are set per connection.
            // WAL + NORMAL survives a process crash (only power loss can drop the last commits).
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_url(&url)?)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store {
            pool,
            backend: Backend::Sqlite,
        })
    }

    /// Connects to Postgres (the password from its environment variable) and applies
    /// migrations; the migrator's advisory lock lets several replicas start at once.
    pub async fn open_postgres(pg: &PostgresSettings) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let mut url = pg.url.clone();
        if let Some(password) = &pg.password {
            url.set_password(Some(password.expose()))
                .map_err(|()| corrupt("the Postgres URL cannot carry a password"))?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(pg.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(AnyConnectOptions::from_url(&url)?)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            pool,
            backend: Backend::Postgres,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Applies the retention settings once; returns (turns, audit entries) deleted.
    pub async fn prune(
        &self,
        retention: &crate::config::RetentionSettings,
        now: Timestamp,
    ) -> Result<(u64, u64), StoreError> {
        let days = |d: u32| jiff::SignedDuration::from_hours(24 * (i64::from(d)));
        let turns = match retention.thread_days {
            Some(d) => self.prune_turns(now - days(d)).await?,
            None => 0,
        };
        let audit = match retention.audit_days {
            Some(d) => self.prune_audit(now - days(d)).await?,
            None => 0,
        };
        // Delivery ids only matter while a provider may still redeliver (an hour for Slack).
        self.prune_seen(now - jiff::SignedDuration::from_hours(24))
            .await?;
        Ok((turns, audit))
    }

    /// Forgets thread memory older than `before` (the `[retention] thread_days` setting).
    pub async fn prune_turns(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let turns = sqlx::query("DELETE FROM turns WHERE at < $1")
            .bind(millis(before))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM thread_state WHERE updated_at < $1")
            .bind(millis(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(turns.rows_affected())
    }

    // ---- thread memory ---------------------------------------------------

    /// Appends `(role, text, tokens)` turns and, when given, replaces the thread state, atomically.
    pub async fn commit_turn(
        &self,
        conversation: &ConversationKey,
        turns: &[(&str, &str, usize)],
        state: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let key = conversation.to_string();
        let now = millis(Timestamp::now());
        let mut tx = self.pool().begin().await?;
        for (role, text, tokens) in turns {
            sqlx::query(
                "INSERT INTO turns (conv_key, at, role, text, tokens) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key)
            .bind(now)
            .bind(role)
            .bind(text)
            .bind(i64::try_from(*tokens).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        if let Some(state) = state {
            sqlx::query(
                "INSERT INTO thread_state (conv_key, state, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (conv_key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(&key)
            .bind(state.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest turns of a conversation whose token counts fit in `max_tokens`, oldest first.
    pub async fn recent_turns(
        &self,
        conversation: &ConversationKey,
        max_tokens: usize,
    ) -> Result<Vec<Turn>, StoreError> {
        let rows = sqlx::query(
            "SELECT role, text, tokens FROM turns WHERE conv_key = $1 ORDER BY seq DESC LIMIT 200",
        )
        .bind(conversation.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut used = 0usize;
        let mut turns = Vec::new();
        for row in rows {
            let tokens = usize::try_from(row.try_get::<i64, _>("tokens")?).unwrap_or(usize::MAX);
            if used.saturating_add(tokens) > max_tokens {
                break;
            }
            used += tokens;
            turns.push(Turn {
                role: row.try_get("role")?,
                text: row.try_get("text")?,
                tokens,
            });
        }
        turns.reverse();
        Ok(turns)
    }

    pub async fn thread_state(
        &self,
        conversation: &ConversationKey,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row = sqlx::query("SELECT state FROM thread_state WHERE conv_key = $1")
            .bind(conversation.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let text: String = r.try_get("state")?;
            serde_json::from_str(&text).map_err(corrupt)
        })
        .transpose()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}
