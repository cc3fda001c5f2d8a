//! Shared test setup: a platbot built through the production startup path,
//! against the sandbox's Kubernetes API double, with a fresh data dir.

use platbot::chat::{ConversationKey, Inbound, Reply, Surface, UserRef};
use platbot::config::Config;
use platbot::domain::UserId;
use platbot::startup::{App, StartOptions, build};

pub struct TestBot {
    pub app: App,
    /// Holds the bot's data directory for as long as the bot lives.
    pub _dir: tempfile::TempDir,
}

pub fn config_in(dir: &std::path::Path, extra_toml: &str) -> Config {
    let mut config = Config::from_toml(extra_toml, &|_| None).expect("config");
    config.data_dir = dir.to_path_buf();
    // The repository's tools/ folder, so the tests exercise the files a platform team edits.
    config.tools_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools");
    config
}

pub async fn sandbox_bot(extra_toml: &str) -> TestBot {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = build(config_in(dir.path(), extra_toml), &sandbox())
        .await
        .expect("startup");
    TestBot { app, _dir: dir }
}

/// [`sandbox_bot`] with RBAC on in the double, as `--sandbox` runs it.
pub async fn sandbox_bot_with_rbac(extra_toml: &str) -> TestBot {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = StartOptions {
        sandbox_rbac: true,
        ..sandbox()
    };
    let app = build(config_in(dir.path(), extra_toml), &opts)
        .await
        .expect("startup");
    TestBot { app, _dir: dir }
}

pub fn sandbox() -> StartOptions {
    StartOptions {
        sandbox: true,
        sandbox_listen: None,
        sandbox_rbac: false,
    }
}

pub fn user(id: &str) -> UserId {
    UserId::parse(id).expect("user id")
}

pub fn conversation(thread: &str) -> ConversationKey {
    ConversationKey::new(Surface::Terminal, "test", thread)
}

impl TestBot {
    pub async fn say(&self, thread: &str, who: &str, text: &str) -> Vec<Reply> {
        self.app
            .engine
            .handle(Inbound {
                conversation: conversation(thread),
                user: UserRef::direct(user(who)),
                text: text.to_owned(),
            })
            .await
    }

    pub async fn say_one(&self, thread: &str, who: &str, text: &str) -> Reply {
        let mut replies = self.say(thread, who, text).await;
        assert_eq!(
            replies.len(),
            1,
            "expected one reply to {text:?}: {replies:?}"
        );
        replies.remove(0)
    }

    pub fn double(&self) -> &platbot::sandbox::KubeApiDouble {
        &self.app.sandbox.as_ref().expect("sandbox").api
    }

    pub fn namespace_exists(&self, name: &str) -> bool {
        self.double().get("v1", "Namespace", None, name).is_some()
    }
}
