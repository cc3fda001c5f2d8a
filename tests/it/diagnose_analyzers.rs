//! Every analyzer against a workload broken in exactly one way, staged in the Kubernetes API
//! double with the object shapes (status, events, messages) a real API server returns.
//! The workload is `ledger` in `payments-dev`, which the sandbox leaves empty.

use crate::support::common;
use crate::support::stage;

use common::{TestBot, sandbox_bot};
use platbot::chat::Reply;
use serde_json::{Value, json};
use stage::{
    NS, ago, break_pod, deployment, event, evidence, finding, findings, ledger, node_name, pod,
    pod_name, put, replica_set,
};

async fn diagnose(bot: &TestBot) -> (Reply, Vec<Value>) {
    let reply = bot
        .say_one("t", "priya.nair", "diagnose ledger in dev")
        .await;
    let fs = findings(reply.data.as_ref().expect("data"));
    (reply, fs)
}

fn checks(fs: &[Value]) -> Vec<String> {
    fs.iter()
        .map(|f| f["check"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_staged_healthy_workload_is_healthy() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 2);
    let (reply, fs) = diagnose(&bot).await;
    assert!(fs.is_empty(), "{fs:?}");
    assert!(reply.text.contains("healthy: 2/2 ready"), "{}", reply.text);
}

// ---------------------------------------------------------------------------------------------
// Pods
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn image_pull_refused_credentials_names_the_missing_pull_secret_and_offers_a_rollback() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    put(bot.double(), deployment("ledger", 1, 0, 2, "v1.9.1"));
    let p = &mut pods[0];
    p["spec"]["imagePullSecrets"] = json!([{ "name": "regcred" }]);
    let image = "registry.example.com/payments/ledger:v1.9.1";
    break_pod(
        p,
        json!({ "waiting": { "reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized") } }),
        json!({}),
        0,
    );
    put(bot.double(), p.clone());
    put(
        bot.double(),
        event(
            "Pod",
            &pod_name("ledger", 2, 0),
            "Warning",
            "Failed",
            &format!("Failed to pull image \"{image}\": 401 Unauthorized"),
            5,
            10,
            1,
        ),
    );
    let (reply, fs) = diagnose(&bot).await;
    let pull = finding(&fs, "pod.image_pull");
    assert!(
        pull["problem"]
            .as_str()
            .unwrap()
            .contains("registry refused the credentials"),
        "{pull}"
    );
    assert!(
        evidence(pull).contains("imagePullSecret `regcred` does not exist"),
        "{pull}"
    );
    assert_eq!(pull["severity"], "critical");
    // The previous revision pulls from the same registry without trouble: rolling back is a fix.
    assert_eq!(pull["remediation"]["action"], "rollback_deployment");
    assert_eq!(pull["remediation"]["args"]["revision"], 1);
    let proposal = reply.proposal.expect("offered as a proposal");
    assert!(
        proposal.plan.changes[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("ledger:v1.9.1 -> registry.example.com/payments/ledger:v1.9.0")
    );
}

#[tokio::test]
async fn image_pull_from_an_unreachable_registry_is_not_blamed_on_the_tag() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    put(bot.double(), deployment("ledger", 1, 0, 2, "v1.9.1"));
    break_pod(
        &mut pods[0],
        json!({ "waiting": { "reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example.com/payments/ledger:v1.9.1\": ErrImagePull: dial tcp: lookup registry.example.com on 10.96.0.10:53: no such host" } }),
        json!({}),
        0,
    );
    put(bot.double(), pods[0].clone());
    let (reply, fs) = diagnose(&bot).await;
    let pull = finding(&fs, "pod.image_pull");
    assert!(
        pull["problem"]
            .as_str()
            .unwrap()
            .contains("registry unreachable"),
        "{pull}"
    );
    assert!(
        pull["likely_cause"]
            .as_str()
            .unwrap()
            .contains("cannot reach registry registry.example.com")
    );
    // A rollback would need the same registry: nothing is proposed.
    assert!(pull.get("remediation").is_none(), "{pull}");
    assert!(reply.proposal.is_none());
}

/// The ledger template and its pods read `DB_PASSWORD` from Secret `ledger-db`.
fn with_secret_env(v: &mut Value, pointer: &str, optional: bool) {
    v.pointer_mut(pointer).unwrap()["env"] = json!([{ "name": "DB_PASSWORD", "valueFrom": { "secretKeyRef": { "name": "ledger-db", "key": "password", "optional": optional } } }]);
}

#[tokio::test]
async fn create_container_config_error_names_the_missing_secret() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    let mut d = deployment("ledger", 1, 0, 2, "v1.9.1");
    with_secret_env(&mut d, "/spec/template/spec/containers/0", false);
    put(bot.double(), d);
    with_secret_env(&mut pods[0], "/spec/containers/0", false);
    break_pod(
        &mut pods[0],
        json!({ "waiting": { "reason": "CreateContainerConfigError", "message": "secret \"ledger-db\" not found" } }),
        json!({}),
        0,
    );
    put(bot.double(), pods[0].clone());
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.config_error");
    assert_eq!(f["severity"], "critical");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("CreateContainerConfigError (Secret ledger-db)"),
        "{f}"
    );
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("env DB_PASSWORD reads Secret ledger-db, which does not exist"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("Create Secret ledger-db"),
        "{f}"
    );
}

#[tokio::test]
async fn a_missing_secret_key_suggests_the_key_that_exists_and_never_shows_values() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    let mut d = deployment("ledger", 1, 0, 2, "v1.9.1");
    with_secret_env(&mut d, "/spec/template/spec/containers/0", false);
    put(bot.double(), d);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "ledger-db", "namespace": NS }, "type": "Opaque", "data": { "passwd": "c3VwZXJzZWNyZXQ=" } }),
    );
    with_secret_env(&mut pods[0], "/spec/containers/0", false);
    break_pod(
        &mut pods[0],
        json!({ "waiting": { "reason": "CreateContainerConfigError", "message": format!("couldn't find key password in Secret {NS}/ledger-db") } }),
        json!({}),
        0,
    );
    put(bot.double(), pods[0].clone());
    let (reply, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.config_error");
    let cause = f["likely_cause"].as_str().unwrap();
    assert!(
        cause.contains("key `password` of Secret ledger-db"),
        "{cause}"
    );
    assert!(cause.contains("did you mean `passwd`"), "{cause}");
    let all = format!("{}{}", reply.text, reply.data.unwrap());
    assert!(!all.contains("c3VwZXJzZWNyZXQ="), "a Secret value leaked");
    assert!(!all.contains("supersecret"), "a Secret value leaked");
}

#[tokio::test]
async fn pending_on_a_taint_shows_the_taint_and_the_pods_tolerations() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 2);
    put(bot.double(), deployment("ledger", 2, 1, 2, "v1.9.1"));
    let p = &mut pods[1];
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    p["status"] = json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/6 nodes are available: 6 node(s) had untolerated taint {dedicated: ml}. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling." }] });
    put(bot.double(), p.clone());
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.pending");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("a taint {dedicated: ml} the pod does not tolerate"),
        "{f}"
    );
    assert!(evidence(f).contains("pod tolerations: none"), "{f}");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("add a toleration for {dedicated: ml}"),
        "{f}"
    );
}

#[tokio::test]
async fn pending_on_a_node_selector_compares_it_with_the_nodes_labels() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 2);
    put(bot.double(), deployment("ledger", 2, 1, 2, "v1.9.1"));
    let p = &mut pods[1];
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    p["spec"]["nodeSelector"] = json!({ "node.kubernetes.io/instance-type": "m7g.large" });
    p["status"] = json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "" }] });
    put(bot.double(), p.clone());
    put(
        bot.double(),
        event(
            "Pod",
            &pod_name("ledger", 2, 1),
            "Warning",
            "FailedScheduling",
            "0/6 nodes are available: 6 node(s) didn't match Pod's node affinity/selector. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.",
            4,
            30,
            2,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.pending");
    let ev = evidence(f);
    assert!(ev.contains("node.kubernetes.io/instance-type=m6i.xlarge; the pod wants node.kubernetes.io/instance-type=m7g.large"), "{ev}");
    assert!(
        f["likely_cause"].as_str().unwrap().contains("nodeSelector"),
        "{f}"
    );
}

#[tokio::test]
async fn pending_on_an_unbound_claim_points_at_the_claim_without_a_storage_class() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    let mut d = deployment("ledger", 1, 0, 2, "v1.9.1");
    d["spec"]["template"]["spec"]["volumes"] =
        json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "ledger-data" } }]);
    put(bot.double(), d);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": { "name": "ledger-data", "namespace": NS, "creationTimestamp": ago(40) },
        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "20Gi" } } }, "status": { "phase": "Pending" } }),
    );
    put(
        bot.double(),
        event(
            "PersistentVolumeClaim",
            "ledger-data",
            "Normal",
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
            160,
            40,
            0,
        ),
    );
    let p = &mut pods[0];
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    p["spec"]["volumes"] =
        json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "ledger-data" } }]);
    p["status"] = json!({ "phase": "Pending", "conditions": [{ "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling." }] });
    put(bot.double(), p.clone());
    let (_, fs) = diagnose(&bot).await;
    let pending = finding(&fs, "pod.pending");
    assert_eq!(pending["severity"], "critical");
    assert!(
        evidence(pending).contains("pod claims: ledger-data (Pending)"),
        "{pending}"
    );
    let pvc = finding(&fs, "pvc.no_storage_class");
    assert!(
        evidence(pvc).contains("storageClassName (none), 20Gi, ReadWriteOnce"),
        "{pvc}"
    );
    assert!(
        pvc["likely_cause"]
            .as_str()
            .unwrap()
            .contains("no default one"),
        "{pvc}"
    );
}

#[tokio::test]
async fn a_claim_naming_a_storage_class_that_does_not_exist() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    let mut d = deployment("ledger", 1, 1, 2, "v1.9.1");
    d["spec"]["template"]["spec"]["volumes"] =
        json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "ledger-data" } }]);
    put(bot.double(), d);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": { "name": "ledger-data", "namespace": NS },
        "spec": { "storageClassName": "fast-ssd", "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "20Gi" } } }, "status": { "phase": "Pending" } }),
    );
    put(
        bot.double(),
        event(
            "PersistentVolumeClaim",
            "ledger-data",
            "Warning",
            "ProvisioningFailed",
            "storageclass.storage.k8s.io \"fast-ssd\" not found",
            12,
            30,
            1,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let pvc = finding(&fs, "pvc.no_storage_class");
    assert!(
        pvc["likely_cause"]
            .as_str()
            .unwrap()
            .contains("Storage class `fast-ssd` does not exist"),
        "{pvc}"
    );
}

#[tokio::test]
async fn a_failing_liveness_probe_and_the_restarts_it_causes() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    let p = &mut pods[0];
    p["status"]["containerStatuses"][0]["restartCount"] = json!(5);
    p["status"]["containerStatuses"][0]["lastState"] = json!({ "terminated": { "exitCode": 137, "reason": "Error", "startedAt": ago(25), "finishedAt": ago(5) } });
    put(bot.double(), p.clone());
    let name = pod_name("ledger", 2, 0);
    put(
        bot.double(),
        event(
            "Pod",
            &name,
            "Warning",
            "Unhealthy",
            "Liveness probe failed: Get \"http://10.244.1.5:8080/healthz\": dial tcp 10.244.1.5:8080: connect: connection refused",
            15,
            80,
            5,
        ),
    );
    put(
        bot.double(),
        event(
            "Pod",
            &name,
            "Normal",
            "Killing",
            "Container ledger failed liveness probe, will be restarted",
            5,
            80,
            5,
        ),
    );
    bot.double().set_logs(
        NS,
        &name,
        "ledger",
        true,
        "starting\nERROR: listener bound to :9090, not :8080\n",
    );
    let (_, fs) = diagnose(&bot).await;
    let probe = finding(&fs, "pod.liveness_probe");
    assert!(
        probe["problem"]
            .as_str()
            .unwrap()
            .contains("kills and restarts"),
        "{probe}"
    );
    assert!(
        probe["likely_cause"]
            .as_str()
            .unwrap()
            .contains("Nothing listens on the probed port"),
        "{probe}"
    );
    assert!(
        evidence(probe).contains("livenessProbe: httpGet /healthz on port http (8080)"),
        "{probe}"
    );
    let restarts = finding(&fs, "pod.restarting");
    assert!(
        restarts["likely_cause"]
            .as_str()
            .unwrap()
            .contains("liveness probe fails"),
        "{restarts}"
    );
    assert!(
        evidence(restarts).contains("listener bound to :9090"),
        "{restarts}"
    );
}

#[tokio::test]
async fn a_probe_on_a_port_the_container_does_not_declare_is_a_misconfiguration() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    put(bot.double(), deployment("ledger", 1, 0, 2, "v1.9.1"));
    let p = &mut pods[0];
    p["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = json!("admin");
    p["status"]["containerStatuses"][0]["ready"] = json!(false);
    p["status"]["conditions"][1]["status"] = json!("False");
    put(bot.double(), p.clone());
    put(
        bot.double(),
        event(
            "Pod",
            &pod_name("ledger", 2, 0),
            "Warning",
            "Unhealthy",
            "Readiness probe failed: Get \"http://10.244.1.5:admin/readyz\": invalid port",
            40,
            60,
            0,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let probe = finding(&fs, "pod.readiness_probe");
    assert_eq!(probe["severity"], "critical", "no pod is ready");
    let cause = probe["likely_cause"].as_str().unwrap();
    assert!(
        cause.contains(
            "port `admin`, which container `ledger` does not declare (its ports: http=8080)"
        ),
        "{cause}"
    );
}

#[tokio::test]
async fn evicted_pods_are_reported_with_the_kubelets_reason() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 2);
    let p = &mut pods[1];
    p["status"] = json!({ "phase": "Failed", "reason": "Evicted",
        "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 52Mi. Container ledger was using 1.1Gi, request is 512Mi, has larger consumption of memory." });
    put(bot.double(), p.clone());
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.evicted");
    assert_eq!(f["severity"], "warning");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("node low on memory"),
        "{f}"
    );
    assert!(
        evidence(f).contains("Container ledger was using 1.1Gi, request is 512Mi"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("memory request close to"),
        "{f}"
    );
}

#[tokio::test]
async fn a_failing_init_container_shows_its_own_logs() {
    let bot = sandbox_bot("").await;
    let mut pods = ledger(bot.double(), 1);
    put(bot.double(), deployment("ledger", 1, 0, 2, "v1.9.1"));
    let p = &mut pods[0];
    p["spec"]["initContainers"] = json!([{ "name": "migrate", "image": "registry.example.com/payments/ledger-migrate:v1.9.1" }]);
    p["status"] = json!({
        "phase": "Pending",
        "conditions": [{ "type": "Initialized", "status": "False" }, { "type": "Ready", "status": "False" }, { "type": "PodScheduled", "status": "True" }],
        "initContainerStatuses": [{ "name": "migrate", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container=migrate" } },
            "lastState": { "terminated": { "exitCode": 1, "reason": "Error", "startedAt": ago(2), "finishedAt": ago(2) } } }],
        "containerStatuses": [{ "name": "ledger", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": { "waiting": { "reason": "PodInitializing" } } }],
    });
    put(bot.double(), p.clone());
    bot.double().set_logs(NS, &pod_name("ledger", 2, 0), "migrate", true, "applying 0042_journal_partitions.sql\nERROR: relation \"journal_2026_11\" already exists\n");
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.init_failed");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("init container `migrate` fails"),
        "{f}"
    );
    assert!(
        f["problem"].as_str().unwrap().contains("exit code 1"),
        "{f}"
    );
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("relation \\\"journal_2026_11\\\" already exists")
            || f["likely_cause"]
                .as_str()
                .unwrap()
                .contains("relation \"journal_2026_11\" already exists"),
        "{f}"
    );
    assert!(evidence(f).contains("\"container\":\"migrate\""), "{f}");
}

// ---------------------------------------------------------------------------------------------
// Deployments and ReplicaSets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_paused_rollout_halfway() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 2);
    let mut d = deployment("ledger", 2, 2, 2, "v1.9.1");
    d["spec"]["paused"] = json!(true);
    d["status"]["updatedReplicas"] = json!(1);
    d["status"]["conditions"][1] = json!({ "type": "Progressing", "status": "Unknown", "reason": "DeploymentPaused", "message": "Deployment is paused", "lastUpdateTime": ago(45), "lastTransitionTime": ago(45) });
    put(bot.double(), d);
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "deployment.paused");
    assert_eq!(f["severity"], "warning");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("halfway: 1 of 2 pods updated"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("kubectl -n payments-dev rollout resume deployment/ledger"),
        "{f}"
    );
}

#[tokio::test]
async fn failed_create_from_an_exceeded_quota_shows_the_quota_figures() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 2);
    put(bot.double(), deployment("ledger", 2, 2, 3, "v1.9.2"));
    let mut rs = replica_set("ledger", 3, "v1.9.2", 1, 0);
    rs["status"] = json!({ "replicas": 0, "conditions": [{ "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": "pods \"ledger-rev3hash-k2x8p\" is forbidden: exceeded quota: team-quota, requested: limits.memory=512Mi, used: limits.memory=32Gi, limited: limits.memory=32Gi" }] });
    put(bot.double(), rs);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "ResourceQuota", "metadata": { "name": "team-quota", "namespace": NS },
        "spec": { "hard": { "limits.memory": "32Gi", "pods": "50" } }, "status": { "hard": { "limits.memory": "32Gi", "pods": "50" }, "used": { "limits.memory": "32Gi", "pods": "12" } } }),
    );
    put(
        bot.double(),
        event(
            "ReplicaSet",
            "ledger-rev3hash",
            "Warning",
            "FailedCreate",
            "Error creating: pods \"ledger-rev3hash-k2x8p\" is forbidden: exceeded quota: team-quota, requested: limits.memory=512Mi, used: limits.memory=32Gi, limited: limits.memory=32Gi",
            17,
            30,
            1,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "replicaset.failed_create");
    assert_eq!(f["severity"], "critical", "the new ReplicaSet has no pods");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("revision 3 cannot create pods (0 of 1): quota refused"),
        "{f}"
    );
    assert!(
        evidence(f).contains("ResourceQuota team-quota: limits.memory: used 32Gi of 32Gi"),
        "{f}"
    );
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("ResourceQuota"),
        "{f}"
    );
}

#[tokio::test]
async fn failed_create_denied_by_an_admission_webhook_names_the_webhook() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    put(bot.double(), deployment("ledger", 1, 1, 3, "v1.9.2"));
    put(bot.double(), replica_set("ledger", 3, "v1.9.2", 1, 0));
    put(
        bot.double(),
        event(
            "ReplicaSet",
            "ledger-rev3hash",
            "Warning",
            "FailedCreate",
            "Error creating: admission webhook \"validate.kyverno.svc-fail\" denied the request: policy Deployment/payments-dev/ledger for resource violation: require-run-as-nonroot: autogen-run-as-non-root: validation error: Running as root is not allowed.",
            9,
            20,
            1,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "replicaset.failed_create");
    assert!(
        f["problem"].as_str().unwrap().contains("admission refused"),
        "{f}"
    );
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("`validate.kyverno.svc-fail`"),
        "{f}"
    );
}

// ---------------------------------------------------------------------------------------------
// Services and Ingress
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_service_selector_that_matches_no_pod_names_the_label_difference() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger-api", "namespace": NS },
        "spec": { "selector": { "app": "ledger" }, "ports": [{ "port": 80, "targetPort": "http" }] } }),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "service.selector_no_pods");
    assert_eq!(f["severity"], "critical");
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("`app=ledger` (pods have no `app` label)"),
        "{f}"
    );
}

#[tokio::test]
async fn a_service_target_port_the_pods_do_not_expose() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger", "namespace": NS },
        "spec": { "selector": { "app.kubernetes.io/name": "ledger" }, "ports": [{ "name": "grpc", "port": 9000, "targetPort": "grpc" }] } }),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "service.port_mismatch");
    assert!(
        f["problem"].as_str().unwrap().contains("named port `grpc`"),
        "{f}"
    );
    assert!(evidence(f).contains("container ports: http=8080"), "{f}");
}

#[tokio::test]
async fn an_ingress_to_a_missing_service_and_to_a_missing_port() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    let rule = |svc: &str, port: i64| json!([{ "host": "ledger.example.com", "http": { "paths": [{ "path": "/", "pathType": "Prefix", "backend": { "service": { "name": svc, "port": { "number": port } } } }] } }]);
    put(
        bot.double(),
        json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "ledger", "namespace": NS }, "spec": { "rules": rule("ledger-svc", 80) } }),
    );
    put(
        bot.double(),
        json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": { "name": "ledger-admin", "namespace": NS }, "spec": { "rules": rule("ledger", 8443) } }),
    );
    let (_, fs) = diagnose(&bot).await;
    let missing = finding(&fs, "ingress.backend_missing");
    assert!(
        missing["problem"]
            .as_str()
            .unwrap()
            .contains("routes ledger.example.com/ to Service `ledger-svc`, which does not exist"),
        "{missing}"
    );
    let port = finding(&fs, "ingress.backend_port");
    assert!(
        port["problem"]
            .as_str()
            .unwrap()
            .contains("port 8443 of Service ledger"),
        "{port}"
    );
    assert!(evidence(port).contains("http=80"), "{port}");
}

#[tokio::test]
async fn a_deployment_scaled_to_zero_behind_a_service_offers_scaling_back_up() {
    let bot = sandbox_bot("").await;
    stage::namespace(bot.double());
    put(bot.double(), deployment("ledger", 0, 0, 2, "v1.9.1"));
    put(bot.double(), replica_set("ledger", 1, "v1.9.0", 3, 0));
    let mut rs = replica_set("ledger", 2, "v1.9.1", 0, 0);
    rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = json!("0");
    put(bot.double(), rs);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": "ledger", "namespace": NS },
        "spec": { "selector": { "app.kubernetes.io/name": "ledger" }, "ports": [{ "port": 80, "targetPort": "http" }] } }),
    );
    let (reply, fs) = diagnose(&bot).await;
    let f = finding(&fs, "service.selector_no_pods");
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("scaled to 0 replicas"),
        "{f}"
    );
    assert_eq!(f["remediation"]["action"], "scale_deployment");
    assert_eq!(f["remediation"]["args"]["replicas"], 3);
    let proposal = reply.proposal.expect("scaling up is proposed");
    assert_eq!(proposal.action, "scale_deployment");
    assert_eq!(proposal.args["replicas"], 3);
    assert!(
        proposal.plan.changes[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("replicas 0 -> 3")
    );
}

// ---------------------------------------------------------------------------------------------
// Autoscaling, jobs, nodes
// ---------------------------------------------------------------------------------------------

fn hpa(status: Value) -> Value {
    json!({ "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": { "name": "ledger", "namespace": NS },
        "spec": { "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "ledger" }, "minReplicas": 2, "maxReplicas": 4,
            "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }] },
        "status": status })
}

#[tokio::test]
async fn an_autoscaler_pinned_at_its_maximum() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 4);
    put(
        bot.double(),
        hpa(json!({ "currentReplicas": 4, "desiredReplicas": 4,
        "currentMetrics": [{ "type": "Resource", "resource": { "name": "cpu", "current": { "averageUtilization": 183, "averageValue": "457m" } } }],
        "conditions": [
            { "type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale" },
            { "type": "ScalingActive", "status": "True", "reason": "ValidMetricFound" },
            { "type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas", "message": "the desired replica count is more than the maximum replica count", "lastTransitionTime": ago(95) }] })),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "hpa.at_max");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("pinned at its maximum of 4 replicas for 1h"),
        "{f}"
    );
    let ev = evidence(f);
    assert!(ev.contains("cpu 70% of request"), "{ev}");
    assert!(ev.contains("cpu at 183% of request"), "{ev}");
}

#[tokio::test]
async fn an_autoscaler_without_metrics() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 2);
    put(
        bot.double(),
        hpa(json!({ "currentReplicas": 2, "desiredReplicas": 2,
        "conditions": [{ "type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
            "message": "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)" }] })),
    );
    put(
        bot.double(),
        event(
            "HorizontalPodAutoscaler",
            "ledger",
            "Warning",
            "FailedGetResourceMetric",
            "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API",
            120,
            600,
            1,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "hpa.missing_metrics");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("autoscaling is off"),
        "{f}"
    );
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("metrics-server"),
        "{f}"
    );
}

#[tokio::test]
async fn a_cronjob_run_that_reached_its_backoff_limit() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    put(
        bot.double(),
        json!({ "apiVersion": "batch/v1", "kind": "CronJob", "metadata": { "name": "ledger-reconcile", "namespace": NS },
        "spec": { "schedule": "0 * * * *", "jobTemplate": { "spec": { "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "reconcile", "image": "r/ledger:v1.9.1" }] } } } } },
        "status": { "lastSuccessfulTime": ago(60 * 26) } }),
    );
    put(
        bot.double(),
        json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": "ledger-reconcile-29412345", "namespace": NS, "creationTimestamp": ago(50),
            "ownerReferences": [{ "apiVersion": "batch/v1", "kind": "CronJob", "name": "ledger-reconcile", "uid": "u", "controller": true }] },
        "spec": { "backoffLimit": 3, "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "reconcile", "image": "r/ledger:v1.9.1" }] } } },
        "status": { "failed": 4, "conditions": [{ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastTransitionTime": ago(20) }] } }),
    );
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "ledger-reconcile-29412345-x7k2p", "namespace": NS, "creationTimestamp": ago(22),
            "labels": { "batch.kubernetes.io/job-name": "ledger-reconcile-29412345", "job-name": "ledger-reconcile-29412345" },
            "ownerReferences": [{ "apiVersion": "batch/v1", "kind": "Job", "name": "ledger-reconcile-29412345", "uid": "u", "controller": true }] },
        "spec": { "restartPolicy": "Never", "containers": [{ "name": "reconcile", "image": "r/ledger:v1.9.1" }] },
        "status": { "phase": "Failed", "containerStatuses": [{ "name": "reconcile", "image": "r/ledger:v1.9.1", "imageID": "", "ready": false, "restartCount": 0,
            "state": { "terminated": { "exitCode": 2, "reason": "Error", "startedAt": ago(22), "finishedAt": ago(21) } } }] } }),
    );
    put(
        bot.double(),
        event(
            "Job",
            "ledger-reconcile-29412345",
            "Warning",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            1,
            20,
            20,
        ),
    );
    bot.double().set_logs(NS, "ledger-reconcile-29412345-x7k2p", "reconcile", false, "reconciling 2026-11-26\nFATAL: account 4411 is off by 12.50 EUR; refusing to close the day\n");
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "job.failed");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("run of CronJob ledger-reconcile"),
        "{f}"
    );
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("BackoffLimitExceeded (4 failed pod(s), backoffLimit 3)"),
        "{f}"
    );
    let ev = evidence(f);
    assert!(ev.contains("exit code 2"), "{ev}");
    assert!(ev.contains("last successful run 1 day ago"), "{ev}");
    assert!(
        f["likely_cause"]
            .as_str()
            .unwrap()
            .contains("FATAL: account 4411 is off by 12.50 EUR"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("--from=cronjob/ledger-reconcile"),
        "{f}"
    );
    // The job's pod is not one of the Deployment's.
    assert!(!checks(&fs).contains(&"deployment.unavailable".to_owned()));
}

#[tokio::test]
async fn nodes_hosting_the_pods_not_ready_or_under_pressure() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 2);
    let double = bot.double();
    let set_condition = |node: &str, kind: &str, status: &str, reason: &str, message: &str| {
        let mut n = double.get("v1", "Node", None, node).expect("seeded node");
        for c in n["status"]["conditions"].as_array_mut().unwrap() {
            if c["type"] == kind {
                c["status"] = json!(status);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
                c["lastTransitionTime"] = json!(ago(12));
                c["lastHeartbeatTime"] = json!(ago(12));
            }
        }
        put(double, n);
    };
    set_condition(
        &node_name(0),
        "Ready",
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    );
    set_condition(
        &node_name(1),
        "MemoryPressure",
        "True",
        "KubeletHasInsufficientMemory",
        "kubelet has insufficient memory available",
    );
    let (_, fs) = diagnose(&bot).await;
    let down = finding(&fs, "node.not_ready");
    assert_eq!(down["severity"], "critical");
    assert!(
        down["problem"]
            .as_str()
            .unwrap()
            .contains("(hosts 1 of its pods)"),
        "{down}"
    );
    assert!(
        evidence(down).contains("Kubelet stopped posting node status"),
        "{down}"
    );
    let pressure = finding(&fs, "node.memorypressure");
    assert_eq!(pressure["severity"], "warning");
}

#[tokio::test]
async fn a_deleted_configmap_the_running_pods_still_use_will_break_the_next_restart() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    let mut d = deployment("ledger", 1, 1, 2, "v1.9.1");
    d["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
        json!([{ "configMapRef": { "name": "ledger-settings" } }]);
    put(bot.double(), d);
    put(
        bot.double(),
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "ledger-setting", "namespace": NS }, "data": { "a": "b" } }),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "pod.missing_config_ref");
    assert_eq!(f["severity"], "info");
    assert!(
        f["likely_cause"].as_str().unwrap().contains("next restart"),
        "{f}"
    );
    assert!(evidence(f).contains("did you mean `ledger-setting`"), "{f}");
}

#[tokio::test]
async fn warning_events_no_check_covers_are_still_shown() {
    let bot = sandbox_bot("").await;
    ledger(bot.double(), 1);
    put(
        bot.double(),
        event(
            "Pod",
            &pod_name("ledger", 2, 0),
            "Warning",
            "FailedCreatePodSandBox",
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox: plugin type=\"aws-cni\" failed: add cmd: failed to assign an IP address to container",
            6,
            20,
            3,
        ),
    );
    let (_, fs) = diagnose(&bot).await;
    let f = finding(&fs, "events.other_warnings");
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("FailedCreatePodSandBox"),
        "{f}"
    );
    assert!(
        evidence(f).contains("failed to assign an IP address"),
        "{f}"
    );
}

#[tokio::test]
async fn the_pod_shapes_match_what_the_double_serves_back() {
    // The staged pod round-trips through the API unchanged in the fields the analyzers read.
    let bot = sandbox_bot("").await;
    let pods = ledger(bot.double(), 1);
    let served = bot
        .double()
        .get("v1", "Pod", Some(NS), &pod_name("ledger", 2, 0))
        .expect("pod");
    assert_eq!(served["status"], pods[0]["status"]);
    let _ = pod("ledger", 1, "v1.9.0", 0);
}

#[tokio::test]
async fn a_pod_status_patched_by_hand_through_the_status_subresource_is_diagnosed() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::Api;
    use kube::api::{ListParams, Patch, PatchParams};

    // What `kubectl patch pod --subresource=status` does, with the real client.
    let bot = sandbox_bot("").await;
    let client = bot
        .app
        .sandbox
        .as_ref()
        .expect("sandbox")
        .running
        .kube_client();
    let pods: Api<Pod> = Api::namespaced(client, "checkout-prod");
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=cart"))
        .await
        .expect("pods");
    let name = list.items[0].metadata.name.clone().expect("name");
    let status = json!({ "status": { "containerStatuses": [{ "name": "cart", "image": "registry.example.com/checkout/cart:v3.4.1", "imageID": "",
        "ready": true, "restartCount": 4, "state": { "running": {} }, "lastState": { "terminated": { "exitCode": 137, "reason": "OOMKilled" } } }] } });
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("status patch");
    let reply = bot
        .say_one("t", "jonah.feld", "why does cart keep restarting in prod?")
        .await;
    let fs = findings(reply.data.as_ref().unwrap());
    let oom = finding(&fs, "pod.oom_killed");
    assert_eq!(oom["affected"], json!([name]));
    assert_eq!(oom["remediation"]["args"]["memory_mib"], 768, "1.5 x 512Mi");
    assert!(reply.proposal.is_some());
}
