//! What the integration tests share: the sandbox bot (`common`), local doubles of the
//! providers platbot talks to (`fakes`, `fake_llm`, `fake_slack`, `fake_discord`) and staged cluster
//! states for the diagnosis tests (`stage`).

pub mod common;
pub mod fake_discord;
pub mod fake_llm;
pub mod fake_slack;
pub mod fakes;
pub mod postgres;
pub mod serve;
pub mod stage;
