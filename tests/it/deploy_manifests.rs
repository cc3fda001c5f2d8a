//! What ships in `deploy/` works as shipped: both kustomize overlays render (with the real
//! `kubectl`, skipped with a message where it is missing) into pods that keep their data,
//! pass Pod Security `restricted` and reference only what exists; the shipped configs pass
//! `platbot check-config` with no warnings in the image's layout; the Slack app manifest
//! parses and uses only keys of Slack's manifest schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The objects `kubectl kustomize` renders for an overlay; `None` without kubectl.
fn render(overlay: &str) -> Option<Vec<Value>> {
    let dir = repo().join("deploy/kubernetes/overlays").join(overlay);
    let out = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: kubectl is not installed ({e}); the overlays were not rendered");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    Some(
        serde_norway::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).expect("a YAML object"))
            .collect(),
    )
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

fn names_of(objects: &[Value], kind: &str) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// What both overlays must give the pod.
fn check_common(objects: &[Value]) -> &Value {
    let deployment = one(objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    let image = container["image"].as_str().expect("image");
    assert!(
        !image.ends_with(":latest") && image.contains(':'),
        "image {image} is pinned"
    );
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"][0],
        "ALL"
    );
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert!(container[probe].is_object(), "{probe} missing");
    }
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());

    // Every emptyDir is bounded; every ConfigMap and PVC a volume names exists.
    let configmaps = names_of(objects, "ConfigMap");
    let claims = names_of(objects, "PersistentVolumeClaim");
    for volume in pod["volumes"].as_array().expect("volumes") {
        if volume["emptyDir"].is_object() {
            assert!(volume["emptyDir"]["sizeLimit"].is_string(), "{volume}");
        }
        if let Some(cm) = volume["configMap"]["name"].as_str() {
            assert!(configmaps.contains(cm), "ConfigMap {cm} not rendered");
        }
        if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            assert!(claims.contains(claim), "PVC {claim} not rendered");
        }
    }
    // Secrets come by reference from the one Secret the README has you create.
    for env in container["env"].as_array().expect("env") {
        if let Some(secret) = env["valueFrom"]["secretKeyRef"]["name"].as_str() {
            assert_eq!(secret, "platbot-secrets", "{env}");
        }
    }

    let service = one(objects, "Service");
    let ports: BTreeSet<&str> = service["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(ports, BTreeSet::from(["http", "metrics"]));
    let policies = names_of(objects, "NetworkPolicy");
    assert!(policies.contains("platbot"), "{policies:?}");
    let namespace = one(objects, "Namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    deployment
}

fn env_names(deployment: &Value) -> BTreeSet<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_single_overlay_keeps_its_sqlite_file_on_a_volume() {
    let Some(objects) = render("single") else {
        return;
    };
    let deployment = check_common(&objects);
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let data = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "data")
        .expect("data volume");
    assert_eq!(data["persistentVolumeClaim"]["claimName"], "platbot-data");
    assert!(data.get("emptyDir").is_none(), "{data}");
    assert!(names_of(&objects, "PodDisruptionBudget").is_empty());
}

#[test]
fn the_ha_overlay_runs_replicas_on_postgres_spread_and_protected() {
    let Some(objects) = render("ha") else {
        return;
    };
    let deployment = check_common(&objects);
    assert!(
        deployment["spec"]["replicas"]
            .as_u64()
            .is_some_and(|n| n >= 2)
    );
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let spread = &deployment["spec"]["template"]["spec"]["topologySpreadConstraints"];
    assert!(spread.as_array().is_some_and(|s| !s.is_empty()), "{spread}");
    assert!(env_names(deployment).contains("PLATBOT_DB_PASSWORD"));
    let pdb = one(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let config = objects
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("platbot-config"))
        })
        .expect("config map");
    let toml = config["data"]["platbot.toml"]
        .as_str()
        .expect("platbot.toml");
    assert!(toml.contains("[store]") && toml.contains("password_env = \"PLATBOT_DB_PASSWORD\""));
}

/// The image's working directory: tools, prompts and docs from the repository, the
/// example catalog where the Deployment mounts it.
fn image_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, target) in [
        ("tools", repo().join("tools")),
        ("prompts", repo().join("prompts")),
        ("docs-index", repo().join("docs-index")),
        ("catalog", repo().join("deploy/kubernetes/base/catalog")),
    ] {
        std::os::unix::fs::symlink(target, dir.path().join(name)).expect("symlink");
    }
    dir
}

fn check_config(config: &Path) -> (bool, String, String) {
    let workdir = image_layout();
    let out = Command::new(env!("CARGO_BIN_EXE_platbot"))
        .current_dir(workdir.path())
        .env_remove("PLATBOT_STORE_URL")
        .env("PLATBOT_DATA_DIR", workdir.path().join("data"))
        .env("SLACK_BOT_TOKEN", "xoxb-0000-0000-example")
        .env("SLACK_APP_TOKEN", "xapp-1-A000-0000-example")
        .env(
            "PLATBOT_TOKEN_BACKSTAGE",
            "0123456789abcdef0123456789abcdef",
        )
        .env("PLATBOT_DB_PASSWORD", "example-password")
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .output()
        .expect("run platbot");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shipped_configs_pass_check_config_without_warnings() {
    for config in [
        "deploy/kubernetes/base/platbot.toml",
        "deploy/kubernetes/overlays/ha/platbot.toml",
    ] {
        let (ok, out, err) = check_config(&repo().join(config));
        assert!(ok, "{config}: {err}");
        assert!(out.contains("OK"), "{config}: {out}");
        assert!(!out.contains("warning"), "{config}: {out}");
        assert!(out.contains("Socket Mode"), "{config}: Slack is on: {out}");
        assert!(!out.contains("catalog:       none"), "{config}: {out}");
    }
    let (_, ha, _) = check_config(&repo().join("deploy/kubernetes/overlays/ha/platbot.toml"));
    assert!(ha.contains("store:         Postgres"), "{ha}");
    assert!(!ha.contains("example-password"), "{ha}");
}

#[test]
fn the_ha_config_is_the_base_config_plus_its_store() {
    let base =
        std::fs::read_to_string(repo().join("deploy/kubernetes/base/platbot.toml")).expect("base");
    let ha = std::fs::read_to_string(repo().join("deploy/kubernetes/overlays/ha/platbot.toml"))
        .expect("ha");
    let base_lines: Vec<&str> = base.lines().collect();
    let missing: Vec<&&str> = base_lines.iter().filter(|l| !ha.contains(**l)).collect();
    assert!(
        missing.is_empty(),
        "the ha copy drifted from base: {missing:?}"
    );
}

/// Keys of Slack's app manifest schema, per section (api.slack.com/reference/manifests).
const MANIFEST_KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "_metadata",
            "display_information",
            "settings",
            "features",
            "oauth_config",
            "functions",
            "workflows",
            "outgoing_domains",
            "types",
            "datastores",
        ],
    ),
    (
        "display_information",
        &[
            "name",
            "description",
            "background_color",
            "long_description",
        ],
    ),
    (
        "features",
        &[
            "app_home",
            "assistant_view",
            "bot_user",
            "shortcuts",
            "slash_commands",
            "unfurl_domains",
            "workflow_steps",
            "rich_previews",
        ],
    ),
    (
        "features.app_home",
        &[
            "home_tab_enabled",
            "messages_tab_enabled",
            "messages_tab_read_only_enabled",
        ],
    ),
    ("features.bot_user", &["display_name", "always_online"]),
    (
        "features.slash_commands[]",
        &[
            "command",
            "url",
            "description",
            "usage_hint",
            "should_escape",
        ],
    ),
    (
        "oauth_config",
        &["redirect_urls", "scopes", "token_management_enabled"],
    ),
    ("oauth_config.scopes", &["bot", "user"]),
    (
        "settings",
        &[
            "allowed_ip_address_ranges",
            "event_subscriptions",
            "incoming_webhooks",
            "interactivity",
            "org_deploy_enabled",
            "socket_mode_enabled",
            "token_rotation_enabled",
            "function_runtime",
            "is_hosted",
            "siws_links",
        ],
    ),
    (
        "settings.event_subscriptions",
        &[
            "request_url",
            "bot_events",
            "user_events",
            "metadata_subscriptions",
        ],
    ),
    (
        "settings.interactivity",
        &["is_enabled", "request_url", "message_menu_options_url"],
    ),
];

fn check_keys(value: &Value, path: &str) {
    let Some(map) = value.as_object() else {
        return;
    };
    let allowed = MANIFEST_KEYS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, keys)| *keys);
    for (key, child) in map {
        if let Some(allowed) = allowed {
            assert!(
                allowed.contains(&key.as_str()),
                "`{key}` is not a manifest key under `{path}`"
            );
        }
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match child {
            Value::Array(items) => items
                .iter()
                .for_each(|i| check_keys(i, &format!("{child_path}[]"))),
            _ => check_keys(child, &child_path),
        }
    }
}

#[test]
fn the_slack_app_manifest_parses_and_uses_only_schema_keys() {
    let text =
        std::fs::read_to_string(repo().join("deploy/slack-app-manifest.yaml")).expect("manifest");
    let manifest: Value = serde_norway::from_str(&text).expect("the manifest is valid YAML");
    check_keys(&manifest, "");
    let name = manifest["display_information"]["name"]
        .as_str()
        .expect("name");
    assert!(!name.is_empty() && name.len() <= 35);
    let description = manifest["display_information"]["description"]
        .as_str()
        .expect("description");
    assert!(
        description.len() <= 140,
        "Slack caps the short description at 140"
    );
    // Each event platbot subscribes to comes with the scope Slack requires for it.
    let scopes: BTreeSet<&str> = manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .expect("bot scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (event, scope) in [
        ("app_mention", "app_mentions:read"),
        ("message.im", "im:history"),
    ] {
        let events = &manifest["settings"]["event_subscriptions"]["bot_events"];
        if events
            .as_array()
            .is_some_and(|e| e.iter().any(|v| v == event))
        {
            assert!(scopes.contains(scope), "{event} needs {scope}");
        }
    }
    assert!(manifest["settings"]["socket_mode_enabled"].is_boolean());
}
