//! Proposals in the store. Every state change is one `UPDATE ... WHERE state = $n`
//! (compare-and-set): SQLite serialises writers, and Postgres re-checks the `WHERE` of a
//! row another transaction just changed, so exactly one caller wins a transition on either.

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, audit, corrupt, from_millis, millis};
use crate::domain::proposal::{Proposal, ProposalId, ProposalState};
use crate::domain::{ConversationKey, UserId};
use crate::store::AuditEntry;

const PROPOSAL_COLUMNS: &str = "id, action, args, plan, environment, requester, conversation, state, approvals, created_at, expires_at, updated_at, outcome";

impl Store {
    pub async fn insert_proposal(&self, p: &Proposal) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO proposals (id, action, args, plan, environment, requester, conversation, conv_key, state, approvals, created_at, expires_at, updated_at, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(p.id.to_string())
        .bind(p.action.as_str())
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
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError> {
        let sql = format!("SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.pool())
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
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE conv_key = $1 AND state = $2 ORDER BY created_at DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(conversation.to_string())
            .bind(state.as_str())
            .fetch_optional(self.pool())
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
        now: Timestamp,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET approvals = $1, updated_at = $2
             WHERE id = $3 AND state = 'proposed' AND approvals = $4 AND expires_at > $2
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(serde_json::to_string(new).map_err(corrupt)?)
            .bind(millis(now))
            .bind(id.to_string())
            .bind(serde_json::to_string(old).map_err(corrupt)?)
            .fetch_optional(self.pool())
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
        now: Timestamp,
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
            "UPDATE proposals SET state = $1, updated_at = $2, approvals = COALESCE($3, approvals)
             WHERE id = $4 AND state = $5 AND ($6 IS NULL OR approvals = $6) AND ($7 = 0 OR expires_at > $2)
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(to.as_str())
            .bind(millis(now))
            .bind(&new)
            .bind(id.to_string())
            .bind(from.as_str())
            .bind(&old)
            .bind(i64::from(guard_expiry))
            .fetch_optional(self.pool())
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// `approved -> executing`, taking the execution lease for `owner` until `until`.
    pub async fn take_execution(
        &self,
        id: ProposalId,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET state = 'executing', lease_owner = $1, lease_until = $2, updated_at = $3
             WHERE id = $4 AND state = 'approved'
             RETURNING {PROPOSAL_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(owner)
            .bind(millis(until))
            .bind(millis(now))
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?
            .map(|r| proposal_from_row(&r))
            .transpose()
    }

    /// Extends `owner`'s lease on an executing proposal; `false` when it is no longer theirs.
    pub async fn renew_lease(
        &self,
        id: ProposalId,
        owner: &str,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE proposals SET lease_until = $1 WHERE id = $2 AND state = 'executing' AND lease_owner = $3",
        )
        .bind(millis(until))
        .bind(id.to_string())
        .bind(owner)
        .execute(self.pool())
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
        entry: &AuditEntry,
    ) -> Result<Option<Proposal>, StoreError> {
        let sql = format!(
            "UPDATE proposals SET state = $1, outcome = $2, updated_at = $3, lease_until = NULL
             WHERE id = $4 AND lease_owner = $5 AND state IN ('executing', 'failed')
             RETURNING {PROPOSAL_COLUMNS}"
        );
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(&sql)
            .bind(state.as_str())
            .bind(outcome)
            .bind(millis(entry.at))
            .bind(id.to_string())
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        audit::insert(&mut *tx, entry).await?;
        tx.commit().await?;
        proposal_from_row(&row).map(Some)
    }

    /// Marks failed the proposals whose executor is gone: `executing` with an expired lease,
    /// or `approved` for longer than `grace` (the step between winning the approval and
    /// taking the lease is immediate). A live replica's execution is left alone.
    pub async fn fail_interrupted(
        &self,
        outcome: &str,
        now: Timestamp,
        grace: jiff::SignedDuration,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE proposals SET state = 'failed', outcome = $1, updated_at = $2
             WHERE (state = 'executing' AND (lease_until IS NULL OR lease_until < $2))
                OR (state = 'approved' AND updated_at < $3)",
        )
        .bind(outcome)
        .bind(millis(now))
        .bind(millis(now - grace))
        .execute(self.pool())
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
            "SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE conv_key = $1 AND state = $2 ORDER BY created_at DESC LIMIT 20"
        );
        sqlx::query(&sql)
            .bind(conversation.to_string())
            .bind(state.as_str())
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(proposal_from_row)
            .collect()
    }

    /// How many proposals are in each state (for the `platbot_proposals` gauge).
    pub async fn proposal_counts(&self) -> Result<Vec<(ProposalState, i64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM proposals GROUP BY state")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                let state = ProposalState::parse(&state)
                    .ok_or_else(|| corrupt(format!("state {state}")))?;
                Ok((state, r.try_get::<i64, _>("n")?))
            })
            .collect()
    }
}

fn proposal_from_row(r: &AnyRow) -> Result<Proposal, StoreError> {
    let id: String = r.try_get("id")?;
    let state: String = r.try_get("state")?;
    let env: Option<String> = r.try_get("environment")?;
    let requester: String = r.try_get("requester")?;
    Ok(Proposal {
        id: id
            .parse()
            .map_err(|_| corrupt(format!("proposal id {id}")))?,
        action: r.try_get::<String, _>("action")?.parse().map_err(corrupt)?,
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
