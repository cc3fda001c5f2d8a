//! Chat surfaces and the types they share with the engine. A surface turns its
//! wire format into an [`Inbound`] and renders the [`Reply`]s; it knows nothing
//! about Kubernetes or the actions behind a reply.

pub mod slack;
pub mod terminal;

pub use crate::domain::{Citation, ConversationKey, Inbound, Reply, Surface, UserRef};
