//! The binary as a user runs it: `chat --sandbox` over stdin, `ask`, `audit`, `check-config`, `rbac`, `eval intents`.

use std::io::Write;
use std::process::{Command, Stdio};

fn platbot(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_platbot"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PLATBOT_CONFIG")
        .env("PLATBOT_DATA_DIR", data_dir)
        .env("PLATBOT_LOG", "error");
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run platbot");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chat_in_the_sandbox_proposes_confirms_and_audits() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = platbot(dir.path())
        .args(["chat", "--sandbox", "--as", "priya.nair"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"can I get a namespace for payments in dev?\nconfirm\nhow is cart doing in prod?\n/quit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("SANDBOX"),
        "the sandbox is announced: {stderr}"
    );
    assert!(stdout.contains("PROPOSAL"), "{stdout}");
    assert!(stdout.contains("Dry run: PASSED"), "{stdout}");
    assert!(
        stdout.contains("Created namespace `payments-dev`"),
        "{stdout}"
    );
    assert!(stdout.contains("checkout-prod"), "{stdout}");

    let (ok, audit, err) = run(platbot(dir.path()).args(["audit", "--user", "priya.nair"]));
    assert!(ok, "{err}");
    for event in ["propose", "confirm", "execute", "read"] {
        assert!(audit.contains(event), "{event} missing from:\n{audit}");
    }
    let (ok, json, _) =
        run(platbot(dir.path()).args(["audit", "--action", "create_namespace", "--json"]));
    assert!(ok);
    let entries: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3, "{json}");
}

#[test]
fn ask_prints_one_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) =
        run(platbot(dir.path()).args(["ask", "--sandbox", "how is cart doing in prod?"]));
    assert!(ok, "{err}");
    assert!(out.contains("checkout-prod"), "{out}");
}

#[test]
fn check_config_reports_what_is_enabled_and_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(platbot(dir.path()).arg("check-config"));
    assert!(ok, "{err}");
    assert!(out.contains("OK") && out.contains("approval"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[approval]\nttl_minutes = \"soon\"\n").unwrap();
    let (ok, _, err) =
        run(platbot(dir.path()).args(["--config", bad.to_str().unwrap(), "check-config"]));
    assert!(!ok);
    assert!(err.contains("ttl_minutes"), "{err}");
}

#[test]
fn rbac_prints_cluster_roles_that_impersonate_only_the_catalog_and_configured_groups() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("platbot.toml");
    std::fs::write(
        &config,
        "[kubernetes]\ngroup_prefix = \"platbot:team:\"\n[kubernetes.provisioner]\nuser = \"platbot-provisioner\"\n[groups]\nplatform = [\"olga.sre\"]\n",
    )
    .unwrap();
    let (ok, out, err) =
        run(platbot(dir.path()).args(["--config", config.to_str().unwrap(), "rbac", "--sandbox"]));
    assert!(ok, "{err}");
    let docs: Vec<serde_json::Value> = serde_norway::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).expect("a YAML document"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["platbot", "platbot-provisioner", "platbot-provisioner"]
    );
    let groups = docs[0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resources"] == serde_json::json!(["groups"]))
        .expect("a group rule");
    let allowed: Vec<&str> = groups["resourceNames"]
        .as_array()
        .expect("resourceNames")
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert_eq!(
        allowed,
        [
            "platbot:team:checkout",
            "platbot:team:data-platform",
            "platbot:team:identity",
            "platbot:team:mobile-backend",
            "platbot:team:payments",
            "platbot:team:search",
            "platform"
        ]
    );
    assert!(!out.contains("system:"), "{out}");
    // Every request impersonates: platbot's own role reads nothing as itself.
    for r in docs[0]["rules"].as_array().unwrap() {
        assert_eq!(r["verbs"], serde_json::json!(["impersonate"]), "{r}");
    }
    assert_eq!(docs[2]["subjects"][0]["name"], "platbot-provisioner");

    // With impersonation off platbot reads as itself: its role is the read rules.
    std::fs::write(&config, "[kubernetes]\nimpersonate = false\n").unwrap();
    let (ok, out, err) =
        run(platbot(dir.path()).args(["--config", config.to_str().unwrap(), "rbac", "--sandbox"]));
    assert!(ok, "{err}");
    let role: serde_json::Value = serde_norway::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).expect("a YAML document"))
        .next()
        .expect("platbot's role");
    let rules = role["rules"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .all(|r| r["verbs"] == serde_json::json!(["get", "list", "watch"])),
        "{out}"
    );
    assert!(!out.contains("impersonate"), "{out}");

    // A system group in the config is refused before anything is printed.
    std::fs::write(&config, "[groups]\n\"system:masters\" = [\"mallory\"]\n").unwrap();
    let (ok, out, err) =
        run(platbot(dir.path()).args(["--config", config.to_str().unwrap(), "rbac"]));
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("system:masters"), "{err}");
}

#[test]
fn eval_intents_scores_the_alias_planner() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(platbot(dir.path()).args([
        "eval",
        "intents",
        "tests/fixtures/intents_sample.jsonl",
        "--catalog",
        "sandbox/catalog",
        "--json",
    ]));
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["total"].as_u64().unwrap() >= 20, "{out}");
    assert!(report["accuracy"].as_f64().unwrap() >= 0.85, "{out}");
    assert!(report["per_tool"].is_object());
}

#[test]
fn serve_refuses_a_public_address_without_caller_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _out, err) =
        run(platbot(dir.path()).args(["serve", "--sandbox", "--listen", "0.0.0.0:0"]));
    assert!(!ok, "serve started on 0.0.0.0 without authentication");
    assert!(
        err.contains("[[http.clients]]") && err.contains("[http.oidc]"),
        "the message names the config keys: {err}"
    );
}

#[test]
fn check_config_refuses_an_empty_token_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("platbot.toml");
    std::fs::write(
        &config,
        "[http]\ntoken_env = \"PLATBOT_TEST_EMPTY_TOKEN\"\n",
    )
    .unwrap();
    let (ok, _out, err) = run(platbot(dir.path())
        .args(["--config", config.to_str().unwrap(), "check-config"])
        .env("PLATBOT_TEST_EMPTY_TOKEN", ""));
    assert!(!ok, "an empty token was accepted");
    assert!(err.contains("PLATBOT_TEST_EMPTY_TOKEN"), "{err}");
}
