//! platbot: a chat-ops bot for internal developer platforms.
//!
//! See `ARCHITECTURE.md` for the code map and the invariants.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

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
pub mod telemetry;
