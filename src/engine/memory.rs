//! Thread memory: what was said in a conversation, bounded by tokens (cl100k_base),
//! and the planner state (a pending clarification, the previous call).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

use super::intent::{Clarification, PlanContext, ToolCall};
use crate::chat::ConversationKey;
use crate::store::{Store, StoreError, Turn};

static BPE: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

/// Tokens in `text` as cl100k_base counts them (a char-based estimate if the table failed to load).
pub fn count_tokens(text: &str) -> usize {
    match BPE.as_ref() {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => text.len().div_ceil(4),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ThreadState {
    #[serde(default)]
    pending: Option<Clarification>,
    #[serde(default)]
    previous: Option<ToolCall>,
}

#[derive(Clone)]
pub struct Memory {
    store: Store,
    max_tokens: usize,
}

impl Memory {
    pub fn new(store: Store, max_tokens: usize) -> Self {
        Self { store, max_tokens }
    }

    pub async fn context(&self, conv: &ConversationKey) -> Result<PlanContext, StoreError> {
        let state: ThreadState = self
            .store
            .thread_state(conv)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(PlanContext {
            pending: state.pending,
            previous: state.previous,
        })
    }

    pub async fn save_context(
        &self,
        conv: &ConversationKey,
        ctx: &PlanContext,
    ) -> Result<(), StoreError> {
        let state = ThreadState {
            pending: ctx.pending.clone(),
            previous: ctx.previous.clone(),
        };
        let value = serde_json::to_value(state).unwrap_or_default();
        self.store.set_thread_state(conv, &value).await
    }

    pub async fn remember(
        &self,
        conv: &ConversationKey,
        role: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        self.store
            .append_turn(conv, role, text, count_tokens(text))
            .await
    }

    /// The newest turns that fit the token budget, oldest first.
    pub async fn history(&self, conv: &ConversationKey) -> Result<Vec<Turn>, StoreError> {
        self.store.recent_turns(conv, self.max_tokens).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tokens_with_cl100k() {
        assert_eq!(count_tokens("hello world"), 2);
        assert!(count_tokens(&"word ".repeat(100)) >= 100);
    }
}
