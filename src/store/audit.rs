//! The audit log: who did what, where, with which arguments, how it ended and how long it took.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError, corrupt, from_millis, millis};
use crate::domain::UserId;
use crate::domain::proposal::ProposalId;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub user: String,
    /// The integration that relayed the request for `user`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    pub conversation: String,
    pub action: String,
    /// read | propose | confirm | cancel | execute | refuse
    pub event: String,
    pub args: Value,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl AuditEntry {
    pub fn new(
        user: &UserId,
        conversation: &str,
        action: &str,
        event: &str,
        args: Value,
        outcome: &str,
    ) -> Self {
        Self {
            at: Timestamp::now(),
            user: user.to_string(),
            via: None,
            conversation: conversation.to_owned(),
            action: action.to_owned(),
            event: event.to_owned(),
            args,
            outcome: outcome.to_owned(),
            detail: None,
            proposal: None,
            duration_ms: None,
        }
    }
    pub fn via(mut self, via: Option<&str>) -> Self {
        self.via = via.map(str::to_owned);
        self
    }
    pub fn with_detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }
    pub fn with_proposal(mut self, id: ProposalId) -> Self {
        self.proposal = Some(id.to_string());
        self
    }
    pub fn with_duration(mut self, ms: u64) -> Self {
        self.duration_ms = Some(ms);
        self
    }
}

/// Which entries `platbot audit` lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: Option<u32>,
}

/// Writes one entry, on the pool or inside a caller's transaction.
pub(super) async fn insert<'e, E>(executor: E, e: &AuditEntry) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit (at, user_id, via, conversation, action, event, args, outcome, detail, proposal_id, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(millis(e.at))
    .bind(&e.user)
    .bind(&e.via)
    .bind(&e.conversation)
    .bind(&e.action)
    .bind(&e.event)
    .bind(e.args.to_string())
    .bind(&e.outcome)
    .bind(&e.detail)
    .bind(&e.proposal)
    .bind(e.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)))
    .execute(executor)
    .await?;
    Ok(())
}

impl Store {
    pub async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        insert(self.pool(), e).await
    }

    /// Deletes entries older than `before` (the `[retention] audit_days` setting).
    pub async fn prune_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit WHERE at < $1")
            .bind(millis(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Appends, and logs instead of failing the user's request when the write fails.
    pub async fn append_audit_logged(&self, e: &AuditEntry) {
        if let Err(err) = self.append_audit(e).await {
            tracing::error!(error = %err, action = %e.action, event = %e.event, user = %e.user, "audit write failed");
        }
    }

    /// Entries matching the filter, oldest first (the newest `limit` when a limit is set).
    pub async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, user_id, via, conversation, action, event, args, outcome, detail, proposal_id, duration_ms
             FROM audit
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR action = $2)
               AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at <= $4)
             ORDER BY seq DESC LIMIT $5",
        )
        .bind(&f.user)
        .bind(&f.action)
        .bind(f.since.map(millis))
        .bind(f.until.map(millis))
        .bind(i64::from(f.limit.unwrap_or(1000)))
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: from_millis(r.try_get("at")?),
                    user: r.try_get("user_id")?,
                    via: r.try_get("via")?,
                    conversation: r.try_get("conversation")?,
                    action: r.try_get("action")?,
                    event: r.try_get("event")?,
                    args: serde_json::from_str(&r.try_get::<String, _>("args")?)
                        .map_err(corrupt)?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    proposal: r.try_get("proposal_id")?,
                    duration_ms: r
                        .try_get::<Option<i64>, _>("duration_ms")?
                        .and_then(|d| u64::try_from(d).ok()),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.reverse();
        Ok(out)
    }
}
