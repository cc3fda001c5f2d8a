//! Whether a surface's link to its provider is up, for readiness: a websocket transport
//! (Slack Socket Mode) counts its connections that completed the provider's handshake.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Live connections of one transport; cheap to clone, shared with the HTTP probes.
#[derive(Debug, Clone)]
pub struct Connection {
    name: &'static str,
    live: Arc<AtomicUsize>,
}

impl Connection {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            live: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One more connection completed its handshake.
    pub fn up(&self) {
        self.live.fetch_add(1, Ordering::SeqCst);
    }

    /// A connection that was up ended.
    pub fn down(&self) {
        let _ = self
            .live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    pub fn is_up(&self) -> bool {
        self.live.load(Ordering::SeqCst) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_while_any_connection_is() {
        let c = Connection::new("t");
        assert!(!c.is_up());
        c.up();
        c.up();
        c.down();
        assert!(
            c.clone().is_up(),
            "one of two still up; clones share the count"
        );
        c.down();
        c.down();
        assert!(!c.is_up(), "never below zero");
        c.up();
        assert!(c.is_up());
    }
}
