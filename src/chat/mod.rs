//! Chat surfaces and the types they share with the engine. A surface turns its
//! wire format into an [`Inbound`] and renders the [`Reply`]s; it knows nothing
//! about Kubernetes or the actions behind a reply.

pub mod click;
pub mod connection;
pub mod dedup;
pub mod discord;
pub mod queue;
pub mod slack;
pub mod terminal;

pub use crate::domain::{Citation, ConversationKey, Inbound, Reply, Surface, UserRef};
pub use connection::Connection;

/// What became of a delivery a surface accepted; the transports log it and tests assert on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    Queued,
    Duplicate,
    Ignored(String),
}
