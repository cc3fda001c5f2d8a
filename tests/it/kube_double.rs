//! The Kubernetes API double driven by the real clients: `kube::Client` (typed and dynamic
//! APIs), plain HTTP for the error bodies, and the real `kubectl` when it is installed.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use platbot::sandbox::{KubeApiDouble, RunningDouble};
use serde_json::{Value, json};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn serve(double: &KubeApiDouble) -> RunningDouble {
    double
        .serve(loopback())
        .await
        .expect("the double binds a loopback port")
}

/// (code, reason, message) of a `kube::Error::Api`.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String, String) {
    match result {
        Err(kube::Error::Api(status)) => {
            (status.code, status.reason.clone(), status.message.clone())
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn namespace(name: &str, labels: Value) -> Namespace {
    serde_json::from_value(json!({ "metadata": { "name": name, "labels": labels } }))
        .expect("namespace")
}

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": name } },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app.kubernetes.io/name": name } },
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": name } },
                "spec": { "containers": [{ "name": name, "image": image }] }
            }
        }
    }))
    .expect("deployment")
}

#[tokio::test]
async fn typed_create_get_list_and_errors() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let namespaces: Api<Namespace> = Api::all(server.kube_client());

    let labels = json!({ "platform.example.com/team": "payments", "platform.example.com/environment": "dev" });
    let created = namespaces
        .create(&PostParams::default(), &namespace("payments-dev", labels))
        .await
        .expect("created");
    let meta = &created.metadata;
    assert!(
        meta.uid.is_some() && meta.resource_version.is_some() && meta.creation_timestamp.is_some()
    );
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );

    let fetched = namespaces.get("payments-dev").await.expect("get");
    assert_eq!(fetched.metadata.uid, meta.uid);
    let selected = namespaces
        .list(&ListParams::default().labels("platform.example.com/team=payments"))
        .await
        .expect("list");
    assert_eq!(selected.items.len(), 1);
    assert!(selected.metadata.resource_version.is_some());
    assert_eq!(
        namespaces
            .list(&ListParams::default())
            .await
            .expect("all")
            .items
            .len(),
        3,
        "default, kube-system, payments-dev"
    );

    let (code, reason, message) = api_error(
        namespaces
            .create(
                &PostParams::default(),
                &namespace("payments-dev", json!({})),
            )
            .await,
    );
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (
            409,
            "AlreadyExists",
            "namespaces \"payments-dev\" already exists"
        )
    );
    let (code, reason, message) = api_error(namespaces.get("search-dev").await);
    assert_eq!(
        (code, reason.as_str(), message.as_str()),
        (404, "NotFound", "namespaces \"search-dev\" not found")
    );
    let (code, reason, message) = api_error(
        namespaces
            .create(&PostParams::default(), &namespace("Bad_Name", json!({})))
            .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(message.starts_with("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"), "{message}");

    let deployments: Api<Deployment> = Api::namespaced(server.kube_client(), "nowhere");
    let (code, _, message) = api_error(
        deployments
            .create(&PostParams::default(), &deployment("cart", "img:1"))
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
    let (code, reason, _) = api_error(
        namespaces
            .list(&ListParams::default().labels("a in ("))
            .await,
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
}

#[tokio::test]
async fn replace_with_a_stale_resource_version_conflicts() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let deployments: Api<Deployment> = Api::namespaced(server.kube_client(), "default");
    let created = deployments
        .create(&PostParams::default(), &deployment("cart", "img:1"))
        .await
        .expect("created");
    assert_eq!(created.metadata.generation, Some(1));

    let mut first = created.clone();
    first.spec.as_mut().expect("spec").replicas = Some(3);
    let updated = deployments
        .replace("cart", &PostParams::default(), &first)
        .await
        .expect("first writer wins");
    assert_eq!(
        updated.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );

    let mut stale = created;
    stale.spec.as_mut().expect("spec").replicas = Some(5);
    let (code, reason, message) = api_error(
        deployments
            .replace("cart", &PostParams::default(), &stale)
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.starts_with("Operation cannot be fulfilled on deployments.apps \"cart\": the object has been modified"), "{message}");
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_dry_runs() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let namespaces: Api<Namespace> = Api::all(server.kube_client());
    let body = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": "payments-dev", "labels": { "platform.example.com/team": "payments" } }
    });

    let before = double.mutation_count();
    let dry = namespaces
        .patch(
            "payments-dev",
            &PatchParams::apply("platbot").dry_run(),
            &Patch::Apply(&body),
        )
        .await
        .expect("dry run");
    assert_eq!(dry.metadata.name.as_deref(), Some("payments-dev"));
    assert_eq!(
        double.mutation_count(),
        before,
        "a dry run persists nothing"
    );
    assert_eq!(api_error(namespaces.get("payments-dev").await).0, 404);
    let recorded = double
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("patch recorded");
    assert!(recorded.dry_run);
    assert_eq!(
        recorded.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );

    namespaces
        .patch(
            "payments-dev",
            &PatchParams::apply("platbot"),
            &Patch::Apply(&body),
        )
        .await
        .expect("apply creates");
    assert_eq!(double.mutation_count(), before + 1);
    let more = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": { "name": "payments-dev", "labels": { "platform.example.com/environment": "dev" } }
    });
    let merged = namespaces
        .patch(
            "payments-dev",
            &PatchParams::apply("platbot").force(),
            &Patch::Apply(&more),
        )
        .await
        .expect("apply updates");
    let labels = merged.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("platform.example.com/team").map(String::as_str),
        Some("payments")
    );
    assert_eq!(
        labels
            .get("platform.example.com/environment")
            .map(String::as_str),
        Some("dev")
    );
    let managers = merged.metadata.managed_fields.unwrap_or_default();
    assert!(managers.iter().any(
        |m| m.manager.as_deref() == Some("platbot") && m.operation.as_deref() == Some("Apply")
    ));

    let unchanged = double.mutation_count();
    namespaces
        .patch(
            "payments-dev",
            &PatchParams::apply("platbot"),
            &Patch::Apply(&more),
        )
        .await
        .expect("re-apply");
    assert_eq!(
        double.mutation_count(),
        unchanged,
        "re-applying the same fields is a no-op"
    );

    let configmaps: Api<ConfigMap> = Api::namespaced(server.kube_client(), "payments-dev");
    let cm: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "c" }, "data": { "a": "1" } }))
            .expect("cm");
    configmaps
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &cm,
        )
        .await
        .expect("dry create");
    assert_eq!(double.mutation_count(), unchanged);
    assert_eq!(api_error(configmaps.get("c").await).0, 404);

    let deleted = namespaces
        .delete("payments-dev", &DeleteParams::default().dry_run())
        .await
        .expect("dry delete");
    assert!(
        deleted.is_left(),
        "a Namespace delete answers with the namespace"
    );
    assert!(namespaces.get("payments-dev").await.is_ok());
    assert_eq!(double.mutation_count(), unchanged);
}

#[tokio::test]
async fn dynamic_objects_selectors_and_patch_types() {
    let double = platbot::sandbox::seeded();
    let server = serve(&double).await;
    let gvk = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let resource = ApiResource::from_gvk(&gvk);
    let all: Api<DynamicObject> = Api::all_with(server.kube_client(), &resource);

    let search_team = all
        .list(&ListParams::default().labels("platform.example.com/team=search"))
        .await
        .expect("list");
    assert_eq!(
        search_team.items.len(),
        9,
        "search, search-indexer, recommendations in dev, staging, prod"
    );
    let by_set = all
        .list(&ListParams::default().labels(
            "app.kubernetes.io/name in (cart, search),platform.example.com/environment!=dev",
        ))
        .await
        .expect("set");
    assert_eq!(by_set.items.len(), 4);
    let by_field = all
        .list(&ListParams::default().fields("metadata.namespace=checkout-prod"))
        .await
        .expect("field");
    assert_eq!(by_field.items.len(), 3);

    let in_ns: Api<DynamicObject> =
        Api::namespaced_with(server.kube_client(), "checkout-prod", &resource);
    let merge = json!({ "metadata": { "labels": { "tier": "web" } } });
    let patched = in_ns
        .patch("cart", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .expect("merge patch");
    assert_eq!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .get("tier")
            .map(String::as_str),
        Some("web")
    );
    // kube's `Patch::Json` needs its `jsonpatch` feature; send the RFC 6902 patch by hand.
    let ops = json!([{ "op": "replace", "path": "/spec/replicas", "value": 5 }, { "op": "test", "path": "/spec/replicas", "value": 5 }]);
    let request = http::Request::patch("/apis/apps/v1/namespaces/checkout-prod/deployments/cart")
        .header("content-type", "application/json-patch+json")
        .body(ops.to_string().into_bytes())
        .expect("request");
    let patched: DynamicObject = server
        .kube_client()
        .request(request)
        .await
        .expect("json patch");
    assert_eq!(patched.data["spec"]["replicas"], 5);
    let smp = json!({ "spec": { "template": { "spec": { "containers": [{ "name": "cart", "image": "registry.example.com/checkout/cart:v3.5.0" }] } } } });
    let patched = in_ns
        .patch("cart", &PatchParams::default(), &Patch::Strategic(&smp))
        .await
        .expect("strategic");
    let container = &patched.data["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.example.com/checkout/cart:v3.5.0"
    );
    assert!(
        container["readinessProbe"].is_object(),
        "strategic merge keeps the container's other fields"
    );
}

#[tokio::test]
async fn status_subresource_is_separate_from_the_object() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let deployments: Api<Deployment> = Api::namespaced(server.kube_client(), "default");
    deployments
        .create(&PostParams::default(), &deployment("cart", "img:1"))
        .await
        .expect("created");

    let sneaky = json!({ "spec": { "replicas": 4 }, "status": { "readyReplicas": 4 } });
    let after = deployments
        .patch("cart", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await
        .expect("patch");
    assert_eq!(
        after.status.and_then(|s| s.ready_replicas),
        None,
        "a main write ignores status"
    );

    let status =
        json!({ "status": { "readyReplicas": 2, "replicas": 2 }, "spec": { "replicas": 9 } });
    let after = deployments
        .patch_status("cart", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(2)
    );
    assert_eq!(
        after.spec.and_then(|s| s.replicas),
        Some(4),
        "a status write ignores spec"
    );
}

#[tokio::test]
async fn pod_logs_current_previous_and_ambiguous() {
    let double = platbot::sandbox::seeded();
    let server = serve(&double).await;
    let pods: Api<Pod> = Api::namespaced(server.kube_client(), "search-staging");
    let crashing = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=search"))
        .await
        .expect("pods");
    let name = crashing.items[0].metadata.name.clone().expect("name");
    let previous = pods
        .logs(
            &name,
            &LogParams {
                previous: true,
                ..LogParams::default()
            },
        )
        .await
        .expect("previous logs");
    assert!(
        previous.contains("required environment variable SEARCH_OPENSEARCH_URL is not set"),
        "{previous}"
    );
    let tail = pods
        .logs(
            &name,
            &LogParams {
                previous: true,
                tail_lines: Some(2),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail.lines().count(), 2);

    double
        .insert(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "two", "namespace": "search-staging" },
            "spec": { "containers": [{ "name": "app", "image": "a" }, { "name": "proxy", "image": "p" }] }
        }))
        .expect("insert");
    double.set_logs("search-staging", "two", "proxy", false, "proxy up\n");
    let (code, _, message) = api_error(pods.logs("two", &LogParams::default()).await);
    assert_eq!(
        (code, message.as_str()),
        (
            400,
            "a container name must be specified for pod two, choose one of: [app proxy]"
        )
    );
    let proxy = pods
        .logs(
            "two",
            &LogParams {
                container: Some("proxy".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("proxy");
    assert_eq!(proxy, "proxy up\n");
}

#[tokio::test]
async fn deleting_a_namespace_removes_everything_in_it() {
    let double = platbot::sandbox::seeded();
    let server = serve(&double).await;
    let namespaces: Api<Namespace> = Api::all(server.kube_client());
    let before = double.mutation_count();
    namespaces
        .delete("checkout-dev", &DeleteParams::default())
        .await
        .expect("deleted");
    assert_eq!(double.mutation_count(), before + 1);
    assert!(
        double
            .list("apps/v1", "Deployment", Some("checkout-dev"))
            .is_empty()
    );
    assert!(double.list("v1", "Pod", Some("checkout-dev")).is_empty());
    assert!(
        !double
            .list("apps/v1", "Deployment", Some("checkout-prod"))
            .is_empty()
    );

    let configmaps: Api<ConfigMap> = Api::namespaced(server.kube_client(), "search-prod");
    let gone = configmaps
        .delete("search-config", &DeleteParams::default())
        .await
        .expect("deleted");
    let status = gone.right().expect("other kinds answer with a Status");
    assert_eq!(
        status.details.map(|d| d.name),
        Some("search-config".to_string())
    );
    assert_eq!(
        api_error(
            configmaps
                .delete("search-config", &DeleteParams::default())
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn impersonation_headers_are_recorded() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let mut config = server.kube_config();
    config.auth_info.impersonate = Some("alice@example.com".into());
    config.auth_info.impersonate_groups =
        Some(vec!["team-payments".into(), "system:authenticated".into()]);
    let client = kube::Client::try_from(config).expect("client");
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces.get("default").await.expect("get");

    let request = double
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/namespaces/default")
        .expect("recorded");
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.impersonate_user.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        request.impersonate_groups,
        vec!["team-payments", "system:authenticated"]
    );
    assert!(!request.dry_run);
}

#[tokio::test]
async fn watch_streams_changes() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let configmaps: Api<ConfigMap> = Api::namespaced(server.kube_client(), "default");
    let list = configmaps.list(&ListParams::default()).await.expect("list");
    let version = list
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut events = configmaps
        .watch(&WatchParams::default().timeout(10), &version)
        .await
        .expect("watch")
        .boxed();

    let cm: ConfigMap =
        serde_json::from_value(json!({ "metadata": { "name": "watched" } })).expect("cm");
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    configmaps
        .delete("watched", &DeleteParams::default())
        .await
        .expect("delete");

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .expect("event in time");
        match event.expect("stream ok").expect("not closed") {
            WatchEvent::Added(o) => seen.push(("ADDED", o.metadata.name)),
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.metadata.name)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let watched = Some("watched".to_string());
    assert_eq!(seen, vec![("ADDED", watched.clone()), ("DELETED", watched)]);
}

#[tokio::test]
async fn http_errors_are_status_bodies() {
    let double = KubeApiDouble::new();
    let server = serve(&double).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);

    let response = http
        .post(url("/api/v1/namespaces"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.expect("status body");
    assert_eq!(
        (
            body["kind"].as_str(),
            body["reason"].as_str(),
            body["code"].as_u64()
        ),
        (Some("Status"), Some("BadRequest"), Some(400))
    );

    let response = http
        .get(url("/apis/apps/v1/widgets"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<Value>().await.expect("body")["reason"],
        "NotFound"
    );

    let response = http
        .post(url("/api/v1/namespaces/default"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.json::<Value>().await.expect("body")["reason"],
        "MethodNotAllowed"
    );

    let wrong_kind =
        json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": "x" } });
    let response = http
        .post(url("/api/v1/namespaces"))
        .json(&wrong_kind)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);

    let response = http
        .patch(url("/api/v1/namespaces/default"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 415);
    let apply = |body: &'static str, query: &str| {
        http.patch(url(&format!(
            "/api/v1/namespaces/default/configmaps/from-yaml{query}"
        )))
        .header("content-type", "application/apply-patch+yaml")
        .body(body)
        .send()
    };
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: \"1\"\n";
    assert_eq!(
        apply(yaml, "").await.expect("send").status().as_u16(),
        422,
        "apply needs a fieldManager"
    );
    assert_eq!(
        apply(yaml, "?fieldManager=test")
            .await
            .expect("send")
            .status()
            .as_u16(),
        201,
        "YAML apply creates"
    );
    assert_eq!(
        apply(yaml, "?fieldManager=test")
            .await
            .expect("send")
            .status()
            .as_u16(),
        200,
        "then updates"
    );
    let broken = apply("kind: [unclosed", "?fieldManager=test")
        .await
        .expect("send");
    assert_eq!(broken.status().as_u16(), 400);
    assert_eq!(
        broken.json::<Value>().await.expect("body")["kind"],
        "Status"
    );

    let version: Value = http
        .get(url("/version"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("version");
    assert_eq!(version["gitVersion"], "v1.35.0");
}

// ---------------------------------------------------------------------------------------------
// The real kubectl
// ---------------------------------------------------------------------------------------------

const KUBECTL: &str = "/usr/bin/kubectl";

struct Kubectl {
    server: String,
    home: tempfile::TempDir,
}

impl Kubectl {
    /// Runs kubectl against the double, with no kubeconfig and a private discovery cache.
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let home = self.home.path();
        let output = tokio::process::Command::new(KUBECTL)
            .args([
                "--server",
                &self.server,
                "--request-timeout=5s",
                "--cache-dir",
            ])
            .arg(home.join("cache"))
            .args(args)
            .env("KUBECONFIG", home.join("no-kubeconfig"))
            .env("HOME", home)
            .output()
            .await
            .expect("kubectl runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), stdout, stderr)
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    fn write(&self, name: &str, yaml: &str) -> String {
        let path = self.home.path().join(name);
        std::fs::write(&path, yaml).expect("manifest written");
        path.to_string_lossy().into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kubectl_works_against_the_double() {
    if !std::path::Path::new(KUBECTL).exists() {
        println!("skipped: {KUBECTL} is not installed");
        return;
    }
    let double = platbot::sandbox::seeded();
    let server = serve(&double).await;
    let kubectl = Kubectl {
        server: server.url.clone(),
        home: tempfile::tempdir().expect("tempdir"),
    };

    let namespaces = kubectl.ok(&["get", "ns"]).await;
    assert!(
        namespaces.contains("checkout-prod") && namespaces.contains("Active"),
        "{namespaces}"
    );
    assert!(!namespaces.contains("payments-dev"));
    let deployments = kubectl.ok(&["get", "deploy", "-n", "checkout-prod"]).await;
    assert!(
        deployments.contains("cart") && deployments.contains("3/3"),
        "{deployments}"
    );
    let pods = kubectl
        .ok(&[
            "get",
            "pods",
            "-n",
            "search-staging",
            "-l",
            "app.kubernetes.io/name=search",
        ])
        .await;
    assert!(pods.contains("CrashLoopBackOff"), "{pods}");
    let logs = kubectl
        .ok(&[
            "logs",
            "-n",
            "search-staging",
            "deploy/search",
            "--previous",
        ])
        .await;
    assert!(logs.contains("SEARCH_OPENSEARCH_URL"), "{logs}");

    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: default\ndata:\n  hello: world\n";
    let file = kubectl.write("cm.yaml", manifest);
    kubectl
        .ok(&["apply", "--validate=false", "-f", &file])
        .await;
    let changed = kubectl.write("cm2.yaml", &manifest.replace("world", "there"));
    kubectl
        .ok(&["apply", "--validate=false", "-f", &changed])
        .await;
    let cm = double
        .get("v1", "ConfigMap", Some("default"), "greeting")
        .expect("applied");
    assert_eq!(cm["data"]["hello"], "there");
    assert!(
        cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let ssa = kubectl.write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments-dev\n  labels:\n    platform.example.com/team: payments\n");
    kubectl
        .ok(&["apply", "--server-side", "--validate=false", "-f", &ssa])
        .await;
    let ns = double
        .get("v1", "Namespace", None, "payments-dev")
        .expect("server-side applied");
    assert_eq!(ns["metadata"]["managedFields"][0]["manager"], "kubectl");

    let before = double.mutation_count();
    kubectl
        .ok(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=false",
            "-f",
            &file.replace("cm.yaml", "ns.yaml"),
        ])
        .await;
    assert_eq!(double.mutation_count(), before);

    let patch = r#"{"status":{"readyReplicas":1,"availableReplicas":1}}"#;
    kubectl
        .ok(&[
            "patch",
            "deploy",
            "cart",
            "-n",
            "checkout-prod",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ])
        .await;
    let cart = double
        .get("apps/v1", "Deployment", Some("checkout-prod"), "cart")
        .expect("cart");
    assert_eq!(cart["status"]["readyReplicas"], 1);

    kubectl
        .ok(&[
            "scale",
            "deploy/cart",
            "-n",
            "checkout-prod",
            "--replicas=5",
        ])
        .await;
    let cart = double
        .get("apps/v1", "Deployment", Some("checkout-prod"), "cart")
        .expect("cart");
    assert_eq!(cart["spec"]["replicas"], 5);

    kubectl
        .ok(&["delete", "configmap", "greeting", "-n", "default"])
        .await;
    assert!(
        double
            .get("v1", "ConfigMap", Some("default"), "greeting")
            .is_none()
    );
    let (ok, _, stderr) = kubectl.run(&["get", "ns", "nowhere"]).await;
    assert!(
        !ok && stderr.contains("namespaces \"nowhere\" not found"),
        "{stderr}"
    );
}
