//! `platbot serve` as PID 1 of a container: the kernel gives PID 1 no default action for
//! SIGTERM, so without its own handler every rollout and node drain would wait out the
//! grace period and kill it. Here it is PID 1 of a fresh PID namespace (`unshare`), and a
//! SIGTERM stops it with status 0 well within Kubernetes' default 30 s (skipped with a
//! message where `unshare` cannot make a PID namespace).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first child of `pid`, as /proc lists it.
fn child_of(pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

#[test]
fn sigterm_stops_serve_running_as_pid_1() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: `unshare --pid --fork` is not available here");
        return;
    }
    let data = tempfile::tempdir().expect("tempdir");
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--"])
        .arg(env!("CARGO_BIN_EXE_platbot"))
        .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", data.path())
        .env("PLATBOT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let mut lines = BufReader::new(unshare.stderr.take().expect("stderr")).lines();
    let mut seen = String::new();
    loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited before listening:\n{seen}");
        };
        if line.contains("platbot serving on") {
            break;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    std::thread::spawn(move || lines.for_each(drop));
    let platbot = child_of(unshare.id()).expect("platbot under unshare");

    let sent = Command::new("kill")
        .args(["-TERM", &platbot.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = unshare.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = unshare.kill();
            panic!("platbot as PID 1 ignored SIGTERM for 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}
