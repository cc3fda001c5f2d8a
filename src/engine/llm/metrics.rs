//! The planner's counters for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters for `/metrics`: requests, failures, tokens, fallbacks.
#[derive(Debug, Default)]
pub struct LlmMetrics {
    pub turns: AtomicU64,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub fallbacks: AtomicU64,
    pub circuit_open_skips: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LlmMetricsSnapshot {
    pub turns: u64,
    pub requests: u64,
    pub failures: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub fallbacks: u64,
    pub circuit_open_skips: u64,
}

impl LlmMetrics {
    pub(super) fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LlmMetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LlmMetricsSnapshot {
            turns: get(&self.turns),
            requests: get(&self.requests),
            failures: get(&self.failures),
            prompt_tokens: get(&self.prompt_tokens),
            completion_tokens: get(&self.completion_tokens),
            fallbacks: get(&self.fallbacks),
            circuit_open_skips: get(&self.circuit_open_skips),
        }
    }
}
