//! Builders for staging workloads in the Kubernetes API double, in the shapes a real API
//! server returns (status included), so a test can break exactly one thing and ask
//! platbot to diagnose it. Stage in `payments-dev`: the sandbox has no such namespace, so
//! nothing seeded gets in the way.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use platbot::sandbox::KubeApiDouble;

pub const NS: &str = "payments-dev";
pub const IMAGE: &str = "registry.example.com/payments/ledger";

pub fn ago(minutes: i64) -> String {
    (Timestamp::now() - SignedDuration::from_mins(minutes))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn put(double: &KubeApiDouble, obj: Value) {
    double
        .insert(obj.clone())
        .unwrap_or_else(|e| panic!("{e}: {obj}"));
}

pub fn namespace(double: &KubeApiDouble) {
    put(
        double,
        json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": NS, "labels": { "platform.example.com/team": "payments" } } }),
    );
}

pub fn labels(app: &str) -> Value {
    json!({ "app.kubernetes.io/name": app })
}

/// A pod template like the golden path's: one container with a named http port, probes and
/// resources.
pub fn template(app: &str, tag: &str) -> Value {
    json!({
        "metadata": { "labels": labels(app) },
        "spec": {
            "containers": [{
                "name": app,
                "image": format!("{IMAGE}:{tag}"),
                "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
                "resources": { "requests": { "cpu": "250m", "memory": "512Mi" }, "limits": { "cpu": "1", "memory": "512Mi" } },
                "readinessProbe": { "httpGet": { "path": "/readyz", "port": "http" }, "periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3 },
                "livenessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 20, "timeoutSeconds": 1, "failureThreshold": 3 }
            }],
            "restartPolicy": "Always"
        }
    })
}

/// A Deployment at `revision` running `tag`, its status saying `ready` of `replicas`.
pub fn deployment(app: &str, replicas: i64, ready: i64, revision: u64, tag: &str) -> Value {
    let available = if ready >= replicas {
        json!({ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastUpdateTime": ago(60), "lastTransitionTime": ago(60) })
    } else {
        json!({ "type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability.", "lastUpdateTime": ago(20), "lastTransitionTime": ago(20) })
    };
    let mut status = json!({
        "observedGeneration": revision, "replicas": replicas, "updatedReplicas": replicas,
        "readyReplicas": ready, "availableReplicas": ready,
        "conditions": [available, { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "ReplicaSet has successfully progressed.", "lastUpdateTime": ago(60), "lastTransitionTime": ago(120) }],
    });
    if ready < replicas {
        status["unavailableReplicas"] = json!(replicas - ready);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": app, "namespace": NS, "uid": format!("uid-deploy-{app}"), "generation": revision, "labels": labels(app),
            "annotations": { "deployment.kubernetes.io/revision": revision.to_string() } },
        "spec": { "replicas": replicas, "selector": { "matchLabels": labels(app) }, "template": template(app, tag),
            "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": "25%" } }, "progressDeadlineSeconds": 600 },
        "status": status,
    })
}

pub fn hash(revision: u64) -> String {
    format!("rev{revision}hash")
}

/// The ReplicaSet of one revision.
pub fn replica_set(app: &str, revision: u64, tag: &str, replicas: i64, ready: i64) -> Value {
    let mut t = template(app, tag);
    t["metadata"]["labels"]["pod-template-hash"] = json!(hash(revision));
    let mut l = labels(app);
    l["pod-template-hash"] = json!(hash(revision));
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": { "name": format!("{app}-{}", hash(revision)), "namespace": NS, "labels": l,
            "annotations": { "deployment.kubernetes.io/revision": revision.to_string(), "deployment.kubernetes.io/desired-replicas": replicas.to_string(), "kubernetes.io/change-cause": format!("release {tag}") },
            "creationTimestamp": ago(60 * 24 * (10 - revision as i64).max(1)),
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": format!("uid-deploy-{app}"), "controller": true }] },
        "spec": { "replicas": replicas, "selector": { "matchLabels": l }, "template": t },
        "status": { "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready },
    })
}

/// A running, ready pod of a revision.
pub fn pod(app: &str, revision: u64, tag: &str, n: usize) -> Value {
    let name = format!("{app}-{}-p{n}", hash(revision));
    let mut l = labels(app);
    l["pod-template-hash"] = json!(hash(revision));
    let mut spec = template(app, tag)["spec"].clone();
    spec["nodeName"] = json!(node_name(n));
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": NS, "labels": l, "creationTimestamp": ago(90),
            "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-{}", hash(revision)), "uid": "x", "controller": true }] },
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [
                { "type": "Initialized", "status": "True" },
                { "type": "Ready", "status": "True" },
                { "type": "ContainersReady", "status": "True" },
                { "type": "PodScheduled", "status": "True" },
            ],
            "containerStatuses": [{ "name": app, "image": format!("{IMAGE}:{tag}"), "imageID": "", "ready": true, "started": true, "restartCount": 0,
                "state": { "running": { "startedAt": ago(89) } }, "lastState": {} }],
        },
    })
}

pub fn node_name(n: usize) -> String {
    // The sandbox's seeded nodes.
    let i = n % 6;
    format!(
        "ip-10-42-{}-{}.eu-west-1.compute.internal",
        i / 2 + 1,
        10 + i * 7
    )
}

pub fn pod_name(app: &str, revision: u64, n: usize) -> String {
    format!("{app}-{}-p{n}", hash(revision))
}

/// Marks a pod not ready, with a container state.
pub fn break_pod(pod: &mut Value, state: Value, last_state: Value, restarts: i64) {
    pod["status"]["containerStatuses"][0]["ready"] = json!(false);
    pod["status"]["containerStatuses"][0]["started"] = json!(false);
    pod["status"]["containerStatuses"][0]["state"] = state;
    pod["status"]["containerStatuses"][0]["lastState"] = last_state;
    pod["status"]["containerStatuses"][0]["restartCount"] = json!(restarts);
    pod["status"]["conditions"][1]["status"] = json!("False");
    pod["status"]["conditions"][2]["status"] = json!("False");
}

#[allow(clippy::too_many_arguments)]
pub fn event(
    kind: &str,
    name: &str,
    type_: &str,
    reason: &str,
    message: &str,
    count: i64,
    first_minutes: i64,
    last_minutes: i64,
) -> Value {
    let mut involved = json!({ "kind": kind, "name": name, "namespace": NS });
    if kind == "Pod" {
        involved["fieldPath"] = json!("spec.containers{ledger}");
    }
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": format!("{name}.{}", reason.to_lowercase()), "namespace": NS },
        "involvedObject": involved, "reason": reason, "message": message, "type": type_,
        "count": count, "firstTimestamp": ago(first_minutes), "lastTimestamp": ago(last_minutes),
        "source": { "component": "kubelet" },
    })
}

/// The `ledger` Deployment in payments-dev at revision 2 (v1.9.1) with revision 1 (v1.9.0)
/// before it, `replicas` ready pods, and a Service in front. Returns the pods to break.
pub fn ledger(double: &KubeApiDouble, replicas: i64) -> Vec<Value> {
    namespace(double);
    put(
        double,
        deployment("ledger", replicas, replicas, 2, "v1.9.1"),
    );
    put(double, replica_set("ledger", 1, "v1.9.0", 0, 0));
    put(
        double,
        replica_set("ledger", 2, "v1.9.1", replicas, replicas),
    );
    put(
        double,
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger", "namespace": NS },
            "spec": { "selector": labels("ledger"), "ports": [{ "name": "http", "port": 80, "targetPort": "http" }] } }),
    );
    let pods: Vec<Value> = (0..replicas as usize)
        .map(|n| pod("ledger", 2, "v1.9.1", n))
        .collect();
    for p in &pods {
        put(double, p.clone());
    }
    pods
}

/// The findings of the first diagnosis in a reply's data.
pub fn findings(data: &Value) -> Vec<Value> {
    data["diagnoses"][0]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The first finding of a check, or a panic that shows what was found.
pub fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| {
            let checks: Vec<&Value> = findings.iter().map(|f| &f["check"]).collect();
            panic!("no {check} finding; found {checks:?}")
        })
}

/// All evidence of a finding as one string (facts, events, logs).
pub fn evidence(f: &Value) -> String {
    f["evidence"].to_string()
}
