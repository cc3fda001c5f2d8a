//! `deployment_status` in every rollout state and `rollout_history`, against the Kubernetes
//! API double driven by the real `kube` client.

use crate::support::common;

use std::collections::HashMap;
use std::sync::Arc;

use platbot::actions::{ActionContext, ActionOutput, Registry, RegistryEntry};
use platbot::approval::Actor;
use platbot::domain::Environment;
use platbot::platform::{Catalog, Cluster, ClusterSlot, OnCall, Platform};
use platbot::sandbox::KubeApiDouble;
use serde_json::{Value, json};

const CATALOG: &str = r#"
kind: Group
metadata: {name: shop}
---
kind: Component
metadata: {name: done}
spec: {owner: group:shop}
---
kind: Component
metadata: {name: rolling}
spec: {owner: group:shop}
---
kind: Component
metadata: {name: stuck}
spec: {owner: group:shop}
---
kind: Component
metadata: {name: held}
spec: {owner: group:shop}
---
kind: Component
metadata: {name: idle}
spec: {owner: group:shop}
---
kind: Component
metadata: {name: fresh}
spec: {owner: group:shop}
"#;

fn deployment(name: &str, replicas: i64, paused: bool, generation: i64, status: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop-prod", "generation": generation,
            "annotations": {"deployment.kubernetes.io/revision": "4"}},
        "spec": {
            "replicas": replicas, "paused": paused,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": format!("registry.example.com/shop/{name}:v4")}]}},
        },
        "status": status,
    })
}

fn progressing(status: &str, reason: &str, message: &str) -> Value {
    json!({"type": "Progressing", "status": status, "reason": reason, "message": message,
        "lastUpdateTime": "2026-03-04T10:00:00Z", "lastTransitionTime": "2026-03-04T09:50:00Z"})
}

fn seeded() -> KubeApiDouble {
    let api = KubeApiDouble::new();
    api.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop-prod"}}))
        .unwrap();
    let objects = [
        deployment(
            "done",
            3,
            false,
            4,
            json!({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [progressing("True", "NewReplicaSetAvailable", "ReplicaSet \"done-5d9\" has successfully progressed.")]}),
        ),
        deployment(
            "rolling",
            3,
            false,
            4,
            json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [progressing("True", "ReplicaSetUpdated", "ReplicaSet \"rolling-7f8\" is progressing.")]}),
        ),
        deployment(
            "stuck",
            3,
            false,
            4,
            json!({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [progressing("False", "ProgressDeadlineExceeded", "ReplicaSet \"stuck-6c4\" has timed out progressing.")]}),
        ),
        deployment(
            "held",
            3,
            true,
            5,
            json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 0, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [progressing("Unknown", "DeploymentPaused", "Deployment is paused")]}),
        ),
        deployment("idle", 0, false, 4, json!({"observedGeneration": 4})),
        // Just created: the controller has not observed the new generation yet.
        deployment("fresh", 2, false, 1, json!({})),
    ];
    for o in objects {
        api.insert(o).unwrap();
    }
    api
}

async fn platform(api: &KubeApiDouble) -> (Platform, platbot::sandbox::RunningDouble) {
    let running = api.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let prod = Environment::parse("prod").unwrap();
    let cluster = Cluster::from_url(&running.url, true).unwrap();
    let platform = Platform {
        catalog: Arc::new(Catalog::from_yaml_str(CATALOG, "test").unwrap()),
        environments: vec![prod.clone()],
        clusters: HashMap::from([(prod, ClusterSlot::Ready(cluster))]),
        golden_paths: platbot::actions::golden_path::GoldenPaths::builtin(),
        docs: None,
        oncall: Arc::new(OnCall::disabled()),
        argocd: None,
    };
    (platform, running)
}

async fn run(platform: &Platform, tool: &str, args: Value) -> ActionOutput {
    let actor = Actor {
        id: common::user("jonah.feld"),
        groups: vec!["shop".into()],
        via: None,
    };
    let ctx = ActionContext {
        platform,
        actor: &actor,
    };
    let registry = Registry::standard();
    let Some(RegistryEntry::Read(action)) = registry.get(tool.parse().expect("a tool name")) else {
        panic!("{tool} is a read action")
    };
    action.run(&ctx, args).await.expect(tool)
}

#[tokio::test]
async fn every_rollout_state_is_read_from_the_deployment() {
    let api = seeded();
    let (platform, _running) = platform(&api).await;
    for (service, state, text) in [
        (
            "done",
            "complete",
            "3/3 ready, 3 updated, 3 available; rollout complete",
        ),
        (
            "rolling",
            "progressing",
            "1 updated, 3 available; rollout in progress",
        ),
        (
            "stuck",
            "stalled",
            "rollout STALLED: ReplicaSet \"stuck-6c4\" has timed out progressing.",
        ),
        ("held", "paused", "rollout paused"),
        (
            "idle",
            "scaled_to_zero",
            "0/0 ready, 0 updated, 0 available; scaled to zero",
        ),
        (
            "fresh",
            "progressing",
            "0/2 ready, 0 updated, 0 available; rollout in progress",
        ),
    ] {
        let out = run(
            &platform,
            "deployment_status",
            json!({"service": service, "environment": "prod"}),
        )
        .await;
        assert!(out.text.contains(text), "{service}: {}", out.text);
        let rollout = &out.data["environments"][0]["deployment"]["rollout"];
        assert_eq!(rollout["state"], state, "{service}: {}", out.data);
        assert!(
            out.text
                .contains(&format!("image registry.example.com/shop/{service}:v4")),
            "{}",
            out.text
        );
        assert!(out.text.contains("revision 4"), "{}", out.text);
        // Argo CD is not configured here: the reply says nothing of it, the data says so.
        assert!(!out.text.contains("Argo CD"), "{}", out.text);
        assert_eq!(out.data["argocd"]["configured"], false);
    }
    let stuck = run(&platform, "deployment_status", json!({"service": "stuck"})).await;
    assert_eq!(
        stuck.data["environments"][0]["deployment"]["rollout"]["reason"],
        "ReplicaSet \"stuck-6c4\" has timed out progressing."
    );
}

#[tokio::test]
async fn rollout_history_lists_revisions_newest_first_with_image_cause_and_time() {
    let bot = common::sandbox_bot("").await;
    let reply = bot
        .say_one("t", "jonah.feld", "rollout history for cart in prod")
        .await;
    let text = &reply.text;
    assert!(
        text.contains("*cart* rollout history (team checkout)"),
        "{text}"
    );
    assert!(text.contains("- prod (checkout-prod):"), "{text}");
    let rev2 = text.find("rev 2 (current)").expect(text);
    let rev1 = text.find("rev 1 ").expect(text);
    assert!(rev2 < rev1, "newest first: {text}");
    assert!(
        text.contains(":v3.4.1 \u{2014} Redis pipeline for cart reads"),
        "{text}"
    );
    assert!(
        text.contains(":v3.4.0 \u{2014} Guest carts survive sign-in"),
        "{text}"
    );
    assert!(text.contains("UTC ("), "{text}");
    assert!(!text.contains("staging"), "{text}");
    let revs = &reply.data.unwrap()["environments"][0]["revisions"];
    assert_eq!(revs[0]["revision"], 2);
    assert_eq!(revs[0]["current"], true);
    assert_eq!(revs[0]["change_cause"], "Redis pipeline for cart reads");
    assert!(
        revs[0]["images"][0]
            .as_str()
            .unwrap()
            .ends_with("/checkout/cart:v3.4.1")
    );
    assert!(revs[1]["created"].as_str().is_some());
    // Every environment when none is named; staging runs one release ahead.
    let reply = bot.say_one("t2", "x", "show deploy history for cart").await;
    for env in [
        "dev (checkout-dev)",
        "staging (checkout-staging)",
        "prod (checkout-prod)",
    ] {
        assert!(reply.text.contains(env), "{}", reply.text);
    }
    assert!(reply.text.contains("rev 3 (current)"), "{}", reply.text);
    assert!(
        reply.text.contains("Saved-for-later list"),
        "{}",
        reply.text
    );
    // Read as the asking user.
    assert!(
        bot.double()
            .requests()
            .iter()
            .any(|r| r.path.contains("/replicasets") && r.impersonate_user.as_deref() == Some("x"))
    );
}

#[tokio::test]
async fn rollout_history_of_a_deployment_without_replica_sets_and_of_a_missing_one() {
    let api = seeded();
    let (platform, _running) = platform(&api).await;
    let out = run(&platform, "rollout_history", json!({"service": "done"})).await;
    assert!(out.text.contains("no revisions recorded"), "{}", out.text);
    // A ReplicaSet owned by another Deployment of the same labels is not history.
    api.insert(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "done-abc", "namespace": "shop-prod", "labels": {"app": "done"},
            "annotations": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "kubectl set image"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "done", "uid": "", "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "done"}},
            "template": {"metadata": {"labels": {"app": "done"}}, "spec": {"containers": [{"name": "done", "image": "registry.example.com/shop/done:v3"}]}}},
    })).unwrap();
    api.insert(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "other-abc", "namespace": "shop-prod", "labels": {"app": "done"},
            "annotations": {"deployment.kubernetes.io/revision": "9"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "other", "uid": "x", "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "done"}},
            "template": {"metadata": {"labels": {"app": "done"}}, "spec": {"containers": [{"name": "done", "image": "other:v9"}]}}},
    })).unwrap();
    let out = run(&platform, "rollout_history", json!({"service": "done"})).await;
    assert!(out.text.contains("rev 3"), "{}", out.text);
    assert!(
        out.text.contains("done:v3 \u{2014} kubectl set image"),
        "{}",
        out.text
    );
    assert!(!out.text.contains("rev 9"), "{}", out.text);
    // Named in the catalog but not deployed.
    let none = Catalog::from_yaml_str(&format!("{CATALOG}---\nkind: Component\nmetadata: {{name: ghost}}\nspec: {{owner: group:shop}}\n"), "t").unwrap();
    let platform = Platform {
        catalog: Arc::new(none),
        ..platform
    };
    let out = run(
        &platform,
        "rollout_history",
        json!({"service": "ghost", "environment": "prod"}),
    )
    .await;
    assert!(
        out.text.contains("not deployed (no Deployment `ghost`)"),
        "{}",
        out.text
    );
}
