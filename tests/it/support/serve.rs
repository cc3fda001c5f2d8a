//! `platbot serve --sandbox` as a separate process, the way an operator runs it: the
//! addresses it prints on stderr, killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT` of the API.
    pub base: String,
    /// `http://127.0.0.1:PORT/metrics` when `PLATBOT_METRICS_LISTEN` was given.
    pub metrics: Option<String>,
    _data: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `platbot serve --sandbox --listen 127.0.0.1:0` with a fresh data dir and `envs`.
pub fn start(envs: &[(&str, &str)]) -> Served {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_platbot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", data.path())
        .env("PLATBOT_LOG", "warn")
        .envs(envs.iter().copied())
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn platbot serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let mut metrics = None;
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("platbot serve exited before listening:\n{seen}");
        };
        if let Some(addr) = line.split("platbot metrics on ").nth(1) {
            metrics = Some(addr.trim().to_owned());
        }
        if let Some(addr) = line.split("platbot serving on ").nth(1) {
            break addr.trim().to_owned();
        }
        seen.push_str(&line);
        seen.push('\n');
    };
    // Keep draining stderr so the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served {
        child,
        base,
        metrics,
        _data: data,
    }
}
