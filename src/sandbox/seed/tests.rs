//! The seed's own checks: every object is accepted, troubled workloads look the part.

use super::*;
use crate::sandbox::{KubeApiDouble, seeded};

fn kinds(seed: &Seed, kind: &str) -> Vec<Value> {
    seed.objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .cloned()
        .collect()
}

#[test]
fn namespaces_follow_the_team_rules() {
    let seed = sandbox();
    let names: Vec<String> = kinds(&seed, "Namespace")
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        names.len(),
        6 * 2 + 3 + 2,
        "team namespaces plus default and kube-system"
    );
    for present in [
        "payments-staging",
        "payments-prod",
        "checkout-dev",
        "search-dev",
        "identity-dev",
        "mobile-backend-prod",
    ] {
        assert!(names.iter().any(|n| n == present), "{present}");
    }
    for absent in ["payments-dev", "data-platform-dev", "mobile-backend-dev"] {
        assert!(!names.iter().any(|n| n == absent), "{absent}");
    }
}

#[test]
fn every_seed_object_is_accepted_and_owner_references_resolve() {
    let seed = sandbox();
    let double = KubeApiDouble::new();
    for obj in &seed.objects {
        double
            .insert(obj.clone())
            .unwrap_or_else(|e| panic!("{e}: {obj}"));
    }
    let deployments = double.list("apps/v1", "Deployment", None);
    assert_eq!(
        deployments.len(),
        15 * 2 + 3 + 3 + 2,
        "15 services in staging+prod, plus dev for checkout/search/identity"
    );
    for rs in double.list("apps/v1", "ReplicaSet", None) {
        let owner = &rs["metadata"]["ownerReferences"][0];
        let ns = rs["metadata"]["namespace"].as_str();
        let deploy = double
            .get(
                "apps/v1",
                "Deployment",
                ns,
                owner["name"].as_str().unwrap_or_default(),
            )
            .expect("owner exists");
        assert_eq!(deploy["metadata"]["uid"], owner["uid"]);
    }
    for pod in double.list("v1", "Pod", None) {
        let owner = &pod["metadata"]["ownerReferences"][0];
        let rs = double
            .get(
                "apps/v1",
                "ReplicaSet",
                pod["metadata"]["namespace"].as_str(),
                owner["name"].as_str().unwrap_or_default(),
            )
            .expect("rs exists");
        assert_eq!(rs["metadata"]["uid"], owner["uid"]);
    }
}

#[test]
fn troubled_workloads_look_the_part() {
    let double = seeded();
    let pods = |ns: &str, app: &str| -> Vec<Value> {
        double
            .list("v1", "Pod", Some(ns))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == app)
            .collect()
    };
    let search = pods("search-staging", "search");
    assert!(search.iter().all(
        |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    ));
    assert_eq!(
        search[0]["status"]["containerStatuses"][0]["restartCount"],
        7
    );
    let pod = search[0]["metadata"]["name"].as_str().expect("name");
    assert!(
        sandbox()
            .logs
            .iter()
            .any(|l| l.namespace == "search-staging"
                && l.pod == pod
                && l.previous
                && l.text.contains("SEARCH_OPENSEARCH_URL"))
    );

    let feature = pods("data-platform-staging", "feature-store");
    assert!(feature.iter().any(
        |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    ));
    let events = double.list("v1", "Event", Some("data-platform-staging"));
    assert!(events.iter().any(|e| {
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("manifest unknown"))
    }));

    let ledger = pods("payments-prod", "ledger");
    assert_eq!(
        ledger
            .iter()
            .filter(|p| p["status"]["phase"] == "Pending")
            .count(),
        1
    );
    let events = double.list("v1", "Event", Some("payments-prod"));
    assert!(events.iter().any(|e| e["reason"] == "FailedScheduling"
        && e["message"].as_str().is_some_and(|m| {
            m.starts_with("0/6 nodes are available: 6 Insufficient memory.")
        })));

    let notifications = pods("mobile-backend-staging", "notifications");
    assert!(notifications.iter().all(
        |p| p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled"
    ));
    assert_eq!(
        notifications[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        137
    );

    let recs = double
        .get(
            "apps/v1",
            "Deployment",
            Some("search-prod"),
            "recommendations",
        )
        .expect("deployment");
    assert_eq!(recs["status"]["updatedReplicas"], 1);
    assert_eq!(recs["spec"]["replicas"], 3);
    assert_eq!(
        recs["status"]["conditions"][1]["reason"],
        "ProgressDeadlineExceeded"
    );

    let healthy = double
        .get("apps/v1", "Deployment", Some("checkout-prod"), "cart")
        .expect("cart");
    assert_eq!(healthy["status"]["readyReplicas"], 3);
    assert_eq!(
        healthy["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/checkout/cart:v3.4.1"
    );
    let staging = double
        .get("apps/v1", "Deployment", Some("checkout-staging"), "cart")
        .expect("cart");
    assert_eq!(
        staging["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/checkout/cart:v3.5.0"
    );
}

#[test]
fn names_are_stable() {
    let a = sandbox();
    let b = sandbox();
    let names = |s: &Seed| {
        s.objects
            .iter()
            .map(|o| o["metadata"]["name"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a), names(&b));
    assert_eq!(uid("x").len(), 36);
}
