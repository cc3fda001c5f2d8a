//! Thread memory: what was said in a conversation, bounded by tokens (cl100k_base),
//! and the planner state (a pending clarification, the previous call).

use serde::{Deserialize, Serialize};

use super::intent::{Clarification, PlanContext, ToolCall};
use crate::domain::ConversationKey;
use crate::store::{Store, StoreError, Turn};

/// The one cl100k counter (and table) of the process: the docs index's.
pub use crate::knowledge::chunk::count_tokens;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ThreadState {
    #[serde(default)]
    pending: Option<Clarification>,
    #[serde(default)]
    previous: Option<ToolCall>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    topic: serde_json::Map<String, serde_json::Value>,
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
            topic: state.topic,
        })
    }

    /// Records one turn (the user's message and the replies) and, when given, the new
    /// planner state, in one transaction.
    pub async fn commit_turn(
        &self,
        conv: &ConversationKey,
        user_text: &str,
        replies: &[&str],
        ctx: Option<&PlanContext>,
    ) -> Result<(), StoreError> {
        let mut turns = Vec::with_capacity(replies.len() + 1);
        if !user_text.is_empty() {
            turns.push(("user", user_text, count_tokens(user_text)));
        }
        turns.extend(replies.iter().map(|r| ("bot", *r, count_tokens(r))));
        let state = ctx.map(|c| {
            serde_json::to_value(ThreadState {
                pending: c.pending.clone(),
                previous: c.previous.clone(),
                topic: c.topic.clone(),
            })
            .unwrap_or_default()
        });
        self.store.commit_turn(conv, &turns, state.as_ref()).await
    }

    /// The newest turns that fit the token budget, oldest first.
    pub async fn history(&self, conv: &ConversationKey) -> Result<Vec<Turn>, StoreError> {
        self.store.recent_turns(conv, self.max_tokens).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_is_bounded_by_tokens_and_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).await.unwrap();
        let memory = Memory::new(store, 12);
        let conv = ConversationKey::new(crate::chat::Surface::Terminal, "c", "t");
        let ctx = PlanContext {
            previous: Some(ToolCall {
                tool: crate::domain::ToolName::DeploymentStatus,
                args: serde_json::Map::new(),
            }),
            ..PlanContext::default()
        };
        memory
            .commit_turn(
                &conv,
                "how is cart doing in prod",
                &["cart is fine"],
                Some(&ctx),
            )
            .await
            .unwrap();
        memory
            .commit_turn(&conv, "and in staging", &["also fine"], None)
            .await
            .unwrap();
        let history = memory.history(&conv).await.unwrap();
        let total: usize = history.iter().map(|t| t.tokens).sum();
        assert!(total <= 12, "{history:?}");
        // Oldest turns are dropped first; the newest is always last.
        assert_eq!(history.last().unwrap().text, "also fine");
        assert!(
            history
                .iter()
                .all(|t| t.text != "how is cart doing in prod")
        );
        let back = memory.context(&conv).await.unwrap();
        assert_eq!(back.previous.unwrap().tool, "deployment_status");
        let other = ConversationKey::new(crate::chat::Surface::Terminal, "c", "other");
        assert!(memory.history(&other).await.unwrap().is_empty());
    }

    #[test]
    fn counts_tokens_with_cl100k() {
        assert_eq!(count_tokens("hello world"), 2);
        assert!(count_tokens(&"word ".repeat(100)) >= 100);
    }
}
