//! Offline evaluations of the bot's parts against the shared eval sets.

pub mod cv;
pub mod intents;
pub mod retrieval;
