//! platbot: a chat-ops bot for internal developer platforms.
//!
//! See `ARCHITECTURE.md` for the code map and the invariants.

pub mod actions;
pub mod approval;
pub mod chat;
pub mod config;
pub mod domain;
pub mod engine;
pub mod eval;
pub mod knowledge;
pub mod platform;
pub mod sandbox;
pub mod server;
pub mod startup;
pub mod store;
