//! Delivery ids a chat surface has handled, shared by every replica on the database, so a
//! provider's redelivery is recognised on whichever replica it reaches.

use jiff::Timestamp;

use super::{Store, StoreError, millis};

impl Store {
    /// Records `id` for `surface`; true when it was not seen since `window_start` (a first
    /// delivery, or one so old that the provider cannot be repeating it). One statement, so
    /// of two replicas offered the same id at once exactly one gets true.
    pub async fn first_delivery(
        &self,
        surface: &str,
        id: &str,
        now: Timestamp,
        window_start: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO seen_events (surface, event_id, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (surface, event_id) DO UPDATE SET seen_at = excluded.seen_at
             WHERE seen_events.seen_at < $4",
        )
        .bind(surface)
        .bind(id)
        .bind(millis(now))
        .bind(millis(window_start))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets delivery ids seen before `before`.
    pub async fn prune_seen(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM seen_events WHERE seen_at < $1")
            .bind(millis(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
