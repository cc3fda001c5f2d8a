//! The audit log: who did what, where, with which arguments, how it ended and how long it took.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::Value;
use sqlx::Row;

use super::{Store, StoreError, corrupt, from_millis, millis};
use crate::domain::UserId;
use crate::domain::proposal::ProposalId;

/// A closed set of words stored as text: each variant's text is written to the audit
/// table and read back; a stored text that is not one of them is an error.
macro_rules! stored_words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$(Self::$variant,)+];

            /// The stored text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;

            fn from_str(s: &str) -> Result<Self, StoreError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| corrupt(format!("audit {} `{s}`", stringify!($name))))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_words! {
    /// What an audit entry records.
    AuditEvent {
        Read => "read",
        /// A mutation planned (dry run) that turned out to change nothing.
        Plan => "plan",
        Propose => "propose",
        Confirm => "confirm",
        Cancel => "cancel",
        Execute => "execute",
        Refuse => "refuse",
        /// One message's use of the LLM planner.
        Llm => "llm",
    }
}

stored_words! {
    /// How it ended.
    AuditOutcome {
        Ok => "ok",
        Error => "error",
        /// Refused: by the policy, the LLM guard, or a confirmation or cancellation turned down.
        Refused => "refused",
        NotAllowed => "not allowed",
        Invalid => "invalid",
        NoChange => "no change",
        Approved => "approved",
        FirstApproval => "first approval",
        Cancelled => "cancelled",
        Succeeded => "succeeded",
        Failed => "failed",
        /// LLM planner outcomes.
        Answer => "answer",
        RawAnswer => "answer (raw)",
        Proposal => "proposal",
        Clarify => "clarify",
        Fallback => "fallback",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub user: String,
    /// The integration that relayed the request for `user`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    pub conversation: String,
    pub action: String,
    pub event: AuditEvent,
    pub args: Value,
    pub outcome: AuditOutcome,
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
        event: AuditEvent,
        args: Value,
        outcome: AuditOutcome,
    ) -> Self {
        Self {
            at: Timestamp::now(),
            user: user.to_string(),
            via: None,
            conversation: conversation.to_owned(),
            action: action.to_owned(),
            event,
            args,
            outcome,
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
    .bind(e.event.as_str())
    .bind(e.args.to_string())
    .bind(e.outcome.as_str())
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
                    event: r.try_get::<String, _>("event")?.parse()?,
                    args: serde_json::from_str(&r.try_get::<String, _>("args")?)
                        .map_err(corrupt)?,
                    outcome: r.try_get::<String, _>("outcome")?.parse()?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_and_serialises_as_stored() {
        for e in AuditEvent::ALL {
            assert_eq!(e.as_str().parse::<AuditEvent>().unwrap(), *e);
            assert_eq!(serde_json::to_value(e).unwrap(), e.as_str());
        }
        for o in AuditOutcome::ALL {
            assert_eq!(o.as_str().parse::<AuditOutcome>().unwrap(), *o);
        }
        assert_eq!(format!("{:<10}|", AuditOutcome::Ok), "ok        |");
    }

    #[tokio::test]
    async fn an_unknown_stored_word_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let user = UserId::parse("priya.nair").unwrap();
        let entry = AuditEntry::new(
            &user,
            "c",
            "restart_deployment",
            AuditEvent::Read,
            Value::Null,
            AuditOutcome::Ok,
        );
        store.append_audit(&entry).await.unwrap();
        let read = store.audit(&AuditFilter::default()).await.unwrap();
        assert_eq!(
            (read[0].event, read[0].outcome),
            (AuditEvent::Read, AuditOutcome::Ok)
        );
        sqlx::query("UPDATE audit SET event = 'teleport'")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store.audit(&AuditFilter::default()).await.unwrap_err();
        assert!(err.to_string().contains("teleport"), "{err}");
        sqlx::query("UPDATE audit SET event = 'read', outcome = 'meh'")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store.audit(&AuditFilter::default()).await.unwrap_err();
        assert!(err.to_string().contains("meh"), "{err}");
    }
}
