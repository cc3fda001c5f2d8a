//! Persistence: proposals, the audit log and thread memory, in SQLite through sqlx.
//!
//! Proposal state changes are single `UPDATE ... WHERE state = ?` statements
//! (compare-and-set): SQLite serialises writers, so exactly one caller wins a
//! transition, within one process or across processes sharing the file.

mod audit;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

pub use audit::{AuditEntry, AuditFilter};

use crate::domain::ConversationKey;
use crate::domain::UserId;
use crate::domain::proposal::{Proposal, ProposalId, ProposalState};

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

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// One remembered message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: String,
    pub text: String,
    pub tokens: usize,
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

const PROPOSAL_COLUMNS: &str = "id, action, args, plan, environment, requester, conversation, state, approvals, created_at, expires_at, updated_at, outcome";

impl Store {
    /// Opens (creating if needed) `platbot.db` under `data_dir` and applies migrations.
    pub async fn open_in(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&data_dir.join("platbot.db")).await
    }

    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL survives a process crash (only power loss can drop the last commits).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- proposals -------------------------------------------------------

    pub async fn insert_proposal(&self, p: &Proposal) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO proposals (id, action, args, plan, environment, requester, conversation, conv_key, state, approvals, created_at, expires_at, updated_at, outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.id.to_string())
        .bind(&p.action)
        .bind(p.args.to_string())
        .bind(serde_json::to_string(&p.plan).map_err(corrupt)?)
        .bind(p.environment.as_ref().map(|e| e.as_str().to_owned()))
        .bind(p.requester.as_str())
        .bind(serde_json::to_string(&p.conversation).map_err(corrupt)?)
        .bind(p.conversation.to_string())
        .bind(p.state.as_str())
        .bind(serde_json::to_string(&p.approvals).map_err(corrupt)?)
        .bind(millis(p.created_at))
        .bind(millis(p.expires_at))
        .bind(millis(p.updated_at))
        .bind(&p.outcome)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError> {
        let sql = format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = ?");
        sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    pub async fn latest_proposal_in(
        &self,
        conversation: &ConversationKey,
        state: ProposalState,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE conv_key = ? AND state = ? ORDER BY created_at DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(conversation.to_string())
            .bind(state.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// Replaces the approvals list if it is still `old` and the proposal is still
    /// pending and unexpired. Returns the updated proposal when this call won.
    pub async fn cas_approvals(
        &self,
        id: ProposalId,
        old: &[UserId],
        new: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET approvals = ?, updated_at = ?
             WHERE id = ? AND state = 'proposed' AND approvals = ? AND expires_at > ?
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(serde_json::to_string(new).map_err(corrupt)?)
            .bind(millis(now))
            .bind(id.to_string())
            .bind(serde_json::to_string(old).map_err(corrupt)?)
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// Moves a proposal from `from` to `to` if it is still in `from` (and, leaving
    /// `proposed` for `approved`, still unexpired and with the approvals seen).
    /// Returns the updated proposal when this call won the transition.
    pub async fn cas_state(
        &self,
        id: ProposalId,
        from: ProposalState,
        to: ProposalState,
        approvals: Option<(&[UserId], &[UserId])>,
        now: DateTime<Utc>,
    ) -> Result<Option<Proposal>, StoreError> {
        let guard_expiry = from == ProposalState::Proposed && to == ProposalState::Approved;
        let (old, new) = match approvals {
            Some((o, n)) => (
                Some(serde_json::to_string(o).map_err(corrupt)?),
                Some(serde_json::to_string(n).map_err(corrupt)?),
            ),
            None => (None, None),
        };
        let sql = format!(
            "UPDATE proposals SET state = ?, updated_at = ?, approvals = COALESCE(?, approvals)
             WHERE id = ? AND state = ? AND (? IS NULL OR approvals = ?) AND (? = 0 OR expires_at > ?)
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(to.as_str())
            .bind(millis(now))
            .bind(&new)
            .bind(id.to_string())
            .bind(from.as_str())
            .bind(&old)
            .bind(&old)
            .bind(i64::from(guard_expiry))
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// `approved -> executing`, taking the execution lease for `owner` until `until`.
    pub async fn take_execution(
        &self,
        id: ProposalId,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET state = 'executing', lease_owner = ?, lease_until = ?, updated_at = ?
             WHERE id = ? AND state = 'approved'
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(owner)
            .bind(millis(until))
            .bind(millis(now))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// Extends `owner`'s lease on an executing proposal; `false` when it is no longer theirs.
    pub async fn renew_lease(
        &self,
        id: ProposalId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE proposals SET lease_until = ? WHERE id = ? AND state = 'executing' AND lease_owner = ?",
        )
        .bind(millis(until))
        .bind(id.to_string())
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `executing -> succeeded | failed` by the lease owner, with the outcome text, and the
    /// audit entry of the execution in the same transaction (a change is never recorded
    /// without its audit row, nor audited without its state). A proposal that recovery marked
    /// failed while its owner was still working gets the real outcome.
    pub async fn finish_proposal(
        &self,
        id: ProposalId,
        owner: &str,
        state: ProposalState,
        outcome: &str,
        audit: &AuditEntry,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET state = ?, outcome = ?, updated_at = ?, lease_until = NULL
             WHERE id = ? AND lease_owner = ? AND state IN ('executing', 'failed')
             RETURNING {PROPOSAL_COLUMNS}"
        );
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(outcome)
            .bind(millis(audit.at))
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        audit::insert(&mut *tx, audit).await?;
        tx.commit().await?;
        proposal_from_row(&row).map(Some)
    }

    /// Marks failed the proposals whose executor is gone: `executing` with an expired lease,
    /// or `approved` for longer than `grace` (the step between winning the approval and
    /// taking the lease is immediate). A live replica's execution is left alone.
    pub async fn fail_interrupted(
        &self,
        outcome: &str,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE proposals SET state = 'failed', outcome = ?, updated_at = ?
             WHERE (state = 'executing' AND (lease_until IS NULL OR lease_until < ?))
                OR (state = 'approved' AND updated_at < ?)",
        )
        .bind(outcome)
        .bind(millis(now))
        .bind(millis(now))
        .bind(millis(now - grace))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every proposal of a conversation in `state`, newest first.
    pub async fn proposals_in(
        &self,
        conversation: &ConversationKey,
        state: ProposalState,
    ) -> Result<Vec<Proposal>, StoreError> {
        let sql = format!(
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE conv_key = ? AND state = ? ORDER BY created_at DESC LIMIT 20"
        );
        sqlx::query(&sql)
            .bind(conversation.to_string())
            .bind(state.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(proposal_from_row)
            .collect()
    }

    /// Applies the retention settings once; returns (turns, audit entries) deleted.
    pub async fn prune(
        &self,
        retention: &crate::config::RetentionSettings,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let days = |d: u32| chrono::Duration::days(i64::from(d));
        let turns = match retention.thread_days {
            Some(d) => self.prune_turns(now - days(d)).await?,
            None => 0,
        };
        let audit = match retention.audit_days {
            Some(d) => self.prune_audit(now - days(d)).await?,
            None => 0,
        };
        Ok((turns, audit))
    }

    /// Forgets thread memory older than `before` (the `[retention] thread_days` setting).
    pub async fn prune_turns(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let turns = sqlx::query("DELETE FROM turns WHERE at < ?")
            .bind(millis(before))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM thread_state WHERE updated_at < ?")
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
        let now = millis(Utc::now());
        let mut tx = self.pool.begin().await?;
        for (role, text, tokens) in turns {
            sqlx::query(
                "INSERT INTO turns (conv_key, at, role, text, tokens) VALUES (?, ?, ?, ?, ?)",
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
                "INSERT INTO thread_state (conv_key, state, updated_at) VALUES (?, ?, ?)
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
            "SELECT role, text, tokens FROM turns WHERE conv_key = ? ORDER BY seq DESC LIMIT 200",
        )
        .bind(conversation.to_string())
        .fetch_all(&self.pool)
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
        let row = sqlx::query("SELECT state FROM thread_state WHERE conv_key = ?")
            .bind(conversation.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let text: String = r.try_get("state")?;
            serde_json::from_str(&text).map_err(corrupt)
        })
        .transpose()
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn proposal_from_row(r: &SqliteRow) -> Result<Proposal, StoreError> {
    let id: String = r.try_get("id")?;
    let state: String = r.try_get("state")?;
    let env: Option<String> = r.try_get("environment")?;
    let requester: String = r.try_get("requester")?;
    Ok(Proposal {
        id: id
            .parse()
            .map_err(|_| corrupt(format!("proposal id {id}")))?,
        action: r.try_get("action")?,
        args: serde_json::from_str(&r.try_get::<String, _>("args")?).map_err(corrupt)?,
        plan: serde_json::from_str(&r.try_get::<String, _>("plan")?).map_err(corrupt)?,
        environment: env
            .map(|e| crate::domain::Environment::parse(&e))
            .transpose()
            .map_err(corrupt)?,
        requester: UserId::parse(&requester).map_err(corrupt)?,
        conversation: serde_json::from_str(&r.try_get::<String, _>("conversation")?)
            .map_err(corrupt)?,
        state: ProposalState::parse(&state).ok_or_else(|| corrupt(format!("state {state}")))?,
        approvals: serde_json::from_str(&r.try_get::<String, _>("approvals")?).map_err(corrupt)?,
        created_at: from_millis(r.try_get("created_at")?),
        expires_at: from_millis(r.try_get("expires_at")?),
        updated_at: from_millis(r.try_get("updated_at")?),
        outcome: r.try_get("outcome")?,
    })
}
