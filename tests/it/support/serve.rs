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
    /// The sandbox's Kubernetes API (a real loopback listener), with `--sandbox`.
    pub kube_api: Option<String>,
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
    spawn(data, &["--sandbox"], envs)
}

/// Starts `platbot serve` on another process's sandbox cluster (as a second replica of one
/// deployment shares its cluster), with the sandbox's sample catalog, and `envs`.
pub fn start_on(kube_api: &str, envs: &[(&str, &str)]) -> Served {
    let data = tempfile::tempdir().expect("tempdir");
    let kubeconfig = data.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: sandbox, cluster: {{server: \"{kube_api}\"}}}}]\n\
             users: [{{name: platbot, user: {{}}}}]\n\
             contexts: [{{name: sandbox, context: {{cluster: sandbox, user: platbot}}}}]\ncurrent-context: sandbox\n"
        ),
    )
    .expect("kubeconfig");
    let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sandbox/catalog");
    let config = data.path().join("platbot.toml");
    std::fs::write(
        &config,
        format!(
            "[kubernetes]\nkubeconfig = \"{}\"\n[catalog]\npaths = [\"{}\", \"{}\"]\n",
            kubeconfig.display(),
            catalog.join("groups.yaml").display(),
            catalog.join("components.yaml").display()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path").to_owned();
    spawn(data, &["--config", &config], envs)
}

fn spawn(data: tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_platbot"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", data.path())
        .env("PLATBOT_LOG", "warn")
        .envs(envs.iter().copied())
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn platbot serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let (mut metrics, mut kube_api) = (None, None);
    let base = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("platbot serve exited before listening:\n{seen}");
        };
        if let Some(addr) = line.split("platbot metrics on ").nth(1) {
            metrics = Some(addr.trim().to_owned());
        }
        if let Some(rest) = line.split("in-process Kubernetes API at ").nth(1) {
            kube_api = rest.split_whitespace().next().map(str::to_owned);
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
        kube_api,
        _data: data,
    }
}
