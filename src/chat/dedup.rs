//! Ids seen recently, so that a delivery a provider repeats (a Slack Events API retry with
//! `X-Slack-Retry-Num`, a Socket Mode redelivery, a Discord gateway replay after RESUME, a
//! replayed request) is handled once.
//!
//! In memory, per process, as the fast path ([`RecentIds`]); the surface then checks the
//! store's shared `seen_events` table ([`first_on_every_replica`]), so a repeat that reaches
//! another replica, or this one after a restart, is recognised there too.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::Surface;
use crate::store::Store;

/// Slack retries for about half an hour at most (immediately, after 1 and after 5 minutes,
/// plus Socket Mode redeliveries), and a Discord session can be resumed only for minutes; an
/// hour covers both with room.
pub const WINDOW: Duration = Duration::from_secs(60 * 60);
const DEFAULT_CAPACITY: usize = 50_000;

/// The check shared by every replica on the store: false when another replica, or this one
/// before a restart, already took `delivery` on `surface`. A store that cannot answer lets it
/// through: answering twice beats never, and a proposal still executes at most once.
pub async fn first_on_every_replica(store: &Store, surface: Surface, delivery: &str) -> bool {
    let now = jiff::Timestamp::now();
    let window =
        jiff::SignedDuration::try_from(WINDOW).unwrap_or(jiff::SignedDuration::from_hours(1));
    match store
        .first_delivery(surface.as_str(), delivery, now, now - window)
        .await
    {
        Ok(first) => {
            if !first {
                tracing::info!(surface = surface.as_str(), %delivery, "delivery already handled by another replica");
            }
            first
        }
        Err(e) => {
            tracing::warn!(error = %e, surface = surface.as_str(), %delivery, "shared delivery check failed; handling it here");
            true
        }
    }
}

pub struct RecentIds {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Default for RecentIds {
    fn default() -> Self {
        Self::new(WINDOW, DEFAULT_CAPACITY)
    }
}

impl RecentIds {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            inner: Mutex::new(Seen::default()),
        }
    }

    /// True the first time `id` is offered within the window; false for a repeat.
    pub fn first_time(&self, id: &str) -> bool {
        let mut seen = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        while let Some((at, _)) = seen.order.front() {
            if now.duration_since(*at) < self.ttl && seen.order.len() < self.capacity {
                break;
            }
            if let Some((_, old)) = seen.order.pop_front() {
                seen.ids.remove(&old);
            }
        }
        if seen.ids.contains(id) {
            return false;
        }
        seen.ids.insert(id.to_owned());
        seen.order.push_back((now, id.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_caught_until_they_age_out() {
        let ids = RecentIds::new(Duration::from_millis(50), 10);
        assert!(ids.first_time("Ev1"));
        assert!(!ids.first_time("Ev1"));
        assert!(ids.first_time("Ev2"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(ids.first_time("Ev1"));
    }

    #[test]
    fn capacity_bounds_memory() {
        let ids = RecentIds::new(Duration::from_secs(60), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(ids.first_time(id));
        }
        // "a" was pushed out by the fourth id.
        assert!(ids.first_time("a"));
        assert!(!ids.first_time("d"));
    }
}
