//! RBAC in the Kubernetes API double: impersonated requests are decided from the seeded
//! roles and bindings, refusals are the API server's 403 `Status`, and SelfSubjectAccessReview
//! answers `kubectl auth can-i`. Driven by the real `kube` client and the real kubectl.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Pod, ResourceQuota, Secret};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use platbot::sandbox::{KubeApiDouble, RunningDouble};
use serde_json::json;

async fn serve(double: &KubeApiDouble) -> RunningDouble {
    double
        .serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the double binds a loopback port")
}

/// A client impersonating `user` in `groups`.
fn as_user(server: &RunningDouble, user: &str, groups: &[&str]) -> kube::Client {
    let mut config = server.kube_config();
    config.auth_info.impersonate = Some(user.into());
    config.auth_info.impersonate_groups =
        (!groups.is_empty()).then(|| groups.iter().map(|g| (*g).to_string()).collect());
    kube::Client::try_from(config).expect("client")
}

fn scale_patch(replicas: i32) -> Patch<serde_json::Value> {
    Patch::Merge(json!({ "spec": { "replicas": replicas } }))
}

/// (code, reason, message) of a `kube::Error::Api`.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason, status.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_team_changes_its_own_namespaces_only() {
    let double = platbot::sandbox::seeded().with_rbac(true);
    let server = serve(&double).await;
    let jonah = as_user(&server, "jonah.feld", &["checkout"]);
    let params = PatchParams::default();

    let payments: Api<Deployment> = Api::namespaced(jonah.clone(), "payments-prod");
    let writes = double.mutation_count();
    let (code, reason, message) = api_error(
        payments
            .patch("payments-api", &params, &scale_patch(5))
            .await,
    );
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        "deployments.apps \"payments-api\" is forbidden: User \"jonah.feld\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"payments-prod\""
    );
    // The scale subresource is a resource of its own, refused the same way.
    let (code, _, message) = api_error(
        payments
            .patch_scale("payments-api", &params, &scale_patch(5))
            .await,
    );
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot patch resource \"deployments/scale\""),
        "{message}"
    );
    assert_eq!(double.mutation_count(), writes, "nothing changed");

    // Their own team's namespace: `edit` through the golden path's team-edit RoleBinding.
    let checkout: Api<Deployment> = Api::namespaced(jonah.clone(), "checkout-prod");
    checkout
        .patch("cart", &params, &scale_patch(4))
        .await
        .expect("checkout may change checkout-prod");
    checkout
        .patch_scale("cart", &params, &scale_patch(3))
        .await
        .expect("and scale it");

    // Everyone reads what platbot reads as them, but not another team's Secrets.
    let pods: Api<Pod> = Api::namespaced(jonah.clone(), "payments-prod");
    let listed = pods.list(&ListParams::default()).await.expect("list pods");
    let first = listed.items[0].metadata.name.clone().expect("a pod name");
    pods.logs(&first, &LogParams::default())
        .await
        .expect("pods/log is readable");
    let secrets: Api<Secret> = Api::namespaced(jonah.clone(), "payments-prod");
    let (code, _, message) = api_error(secrets.list(&ListParams::default()).await);
    assert_eq!(code, 403);
    assert_eq!(
        message,
        "secrets is forbidden: User \"jonah.feld\" cannot list resource \"secrets\" in API group \"\" in the namespace \"payments-prod\""
    );

    // A user without the team's group is only an authenticated reader.
    let alone: Api<Deployment> =
        Api::namespaced(as_user(&server, "jonah.feld", &[]), "checkout-prod");
    assert_eq!(
        api_error(alone.patch("cart", &params, &scale_patch(2)).await).0,
        403
    );

    // The platform group administers everything; the double's own admin too.
    let platform: Api<Deployment> =
        Api::namespaced(as_user(&server, "olga.sre", &["platform"]), "payments-prod");
    platform
        .patch("payments-api", &params, &scale_patch(4))
        .await
        .expect("platform is cluster-admin");
    let admin: Api<Deployment> = Api::namespaced(server.kube_client(), "payments-prod");
    admin
        .patch("payments-api", &params, &scale_patch(3))
        .await
        .expect("no impersonation: the double's admin");
}

#[tokio::test]
async fn without_the_switch_everything_is_allowed_as_before() {
    let double = platbot::sandbox::seeded();
    assert!(!double.rbac_enforced());
    let server = serve(&double).await;
    let jonah = as_user(&server, "jonah.feld", &["checkout"]);
    let payments: Api<Deployment> = Api::namespaced(jonah, "payments-prod");
    payments
        .patch("payments-api", &PatchParams::default(), &scale_patch(5))
        .await
        .expect("RBAC off: allowed");
    // And it can be switched on for a running double.
    double.set_rbac(true);
    assert_eq!(
        api_error(
            payments
                .patch("payments-api", &PatchParams::default(), &scale_patch(6))
                .await
        )
        .0,
        403
    );
}

#[tokio::test]
async fn server_side_apply_that_creates_needs_create_too() {
    let double = platbot::sandbox::seeded().with_rbac(true);
    // A role with patch but not create on ResourceQuotas.
    double
        .insert(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": "quota-patcher" },
            "rules": [{ "apiGroups": [""], "resources": ["resourcequotas"], "verbs": ["get", "patch"] }] }))
        .expect("role");
    double
        .insert(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": { "name": "quota-patcher" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "quota-patcher" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "pat" }] }))
        .expect("binding");
    let server = serve(&double).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(as_user(&server, "pat", &[]), "checkout-dev");
    let quota: ResourceQuota = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": { "name": "extra", "namespace": "checkout-dev" },
        "spec": { "hard": { "pods": "5" } }
    }))
    .expect("quota");
    let apply = PatchParams::apply("test");
    let (code, _, message) = api_error(quotas.patch("extra", &apply, &Patch::Apply(&quota)).await);
    assert_eq!(code, 403);
    assert!(
        message.contains("cannot create resource \"resourcequotas\""),
        "{message}"
    );
    // Applying to an existing object is a patch, which the role allows.
    let mut existing = quota.clone();
    existing.metadata.name = Some("team-quota".into());
    quotas
        .patch("team-quota", &apply, &Patch::Apply(&existing))
        .await
        .expect("patching an existing quota");
}

async fn review(client: kube::Client, verb: &str, resource: &str, group: &str, ns: &str) -> bool {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                group: Some(group.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .expect("review");
    answer.status.expect("status").allowed
}

#[tokio::test]
async fn self_subject_access_reviews_answer_for_the_impersonated_identity() {
    let double = platbot::sandbox::seeded().with_rbac(true);
    let server = serve(&double).await;
    let jonah = as_user(&server, "jonah.feld", &["checkout"]);
    assert!(
        !review(
            jonah.clone(),
            "patch",
            "deployments",
            "apps",
            "payments-prod"
        )
        .await
    );
    assert!(
        review(
            jonah.clone(),
            "patch",
            "deployments",
            "apps",
            "checkout-prod"
        )
        .await
    );
    assert!(review(jonah, "get", "pods", "", "payments-prod").await);
    // The provisioner may create the golden path's kinds, and nothing else.
    let provisioner = as_user(&server, "platbot-provisioner", &[]);
    assert!(
        review(
            provisioner.clone(),
            "create",
            "resourcequotas",
            "",
            "payments-dev"
        )
        .await
    );
    assert!(
        review(
            provisioner.clone(),
            "create",
            "rolebindings",
            "rbac.authorization.k8s.io",
            "payments-dev"
        )
        .await
    );
    assert!(
        !review(
            provisioner.clone(),
            "create",
            "deployments",
            "apps",
            "payments-dev"
        )
        .await
    );
    assert!(!review(provisioner, "delete", "namespaces", "", "payments-prod").await);
    // The double's admin may do anything.
    assert!(
        review(
            server.kube_client(),
            "delete",
            "namespaces",
            "",
            "payments-prod"
        )
        .await
    );

    // Discovery lists the group, so clients find the resource.
    let groups: serde_json::Value = reqwest::get(format!("{}/apis", server.url))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert!(
        groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .any(|g| g["name"] == "authorization.k8s.io"),
        "{groups}"
    );
    let resources: serde_json::Value =
        reqwest::get(format!("{}/apis/authorization.k8s.io/v1", server.url))
            .await
            .expect("resources")
            .json()
            .await
            .expect("json");
    assert_eq!(
        resources["resources"][0]["name"],
        "selfsubjectaccessreviews"
    );
}

const KUBECTL: &str = "/usr/bin/kubectl";

/// `kubectl auth can-i` against the double: (exit status, stdout); stderr is logged.
async fn can_i(server: &RunningDouble, home: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(KUBECTL)
        .args([
            "--server",
            &server.url,
            "--request-timeout=5s",
            "--cache-dir",
        ])
        .arg(home.join("cache"))
        .args([
            "--as",
            "jonah.feld",
            "--as-group",
            "checkout",
            "auth",
            "can-i",
        ])
        .args(args)
        .env("KUBECONFIG", home.join("no-kubeconfig"))
        .env("HOME", home)
        .output()
        .await
        .expect("kubectl runs");
    eprintln!(
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_answers_from_the_seeded_roles() {
    if !std::path::Path::new(KUBECTL).exists() {
        println!("skipped: {KUBECTL} is not installed");
        return;
    }
    let double = platbot::sandbox::seeded().with_rbac(true);
    let server = serve(&double).await;
    let home = tempfile::tempdir().expect("home");
    let other = can_i(
        &server,
        home.path(),
        &["patch", "deployments", "-n", "payments-prod"],
    )
    .await;
    assert_eq!(other, (false, "no".to_owned()));
    let own = can_i(
        &server,
        home.path(),
        &["patch", "deployments", "-n", "checkout-prod"],
    )
    .await;
    assert_eq!(own, (true, "yes".to_owned()));
    let logs = can_i(
        &server,
        home.path(),
        &["get", "pods", "--subresource=log", "-n", "payments-prod"],
    )
    .await;
    assert_eq!(logs, (true, "yes".to_owned()));
}

#[tokio::test]
async fn granting_a_role_needs_bind_on_it_or_every_permission_in_it() {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    let double = platbot::sandbox::seeded().with_rbac(true);
    // jonah.feld is admin in checkout-dev: he holds everything `edit` has, not cluster-admin.
    double
        .insert(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": "jonah-admin", "namespace": "checkout-dev" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jonah.feld" }] }))
        .expect("binding");
    let server = serve(&double).await;
    let binding = |name: &str, role: &str| -> RoleBinding {
        serde_json::from_value(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": { "name": name, "namespace": "checkout-dev" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
            "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "contractors" }]
        }))
        .expect("binding")
    };
    let apply = PatchParams::apply("test");
    let jonah: Api<RoleBinding> = Api::namespaced(
        as_user(&server, "jonah.feld", &["checkout"]),
        "checkout-dev",
    );
    jonah
        .create(&PostParams::default(), &binding("contractors-edit", "edit"))
        .await
        .expect("an admin may grant edit: he holds all of it");
    let (code, _, message) = api_error(
        jonah
            .create(
                &PostParams::default(),
                &binding("contractors-root", "cluster-admin"),
            )
            .await,
    );
    assert_eq!(code, 403);
    assert!(
        message.starts_with(
            "rolebindings.rbac.authorization.k8s.io is forbidden: user \"jonah.feld\""
        ) && message.contains("is attempting to grant RBAC permissions not currently held"),
        "{message}"
    );

    // The provisioner holds no permission of `edit`, only `bind` on it: enough for the golden
    // path's RoleBinding, and for nothing else.
    let provisioner: Api<RoleBinding> =
        Api::namespaced(as_user(&server, "platbot-provisioner", &[]), "checkout-dev");
    provisioner
        .patch(
            "golden-edit",
            &apply,
            &Patch::Apply(&binding("golden-edit", "edit")),
        )
        .await
        .expect("bind on edit");
    let (code, _, message) = api_error(
        provisioner
            .patch(
                "golden-admin",
                &apply,
                &Patch::Apply(&binding("golden-admin", "admin")),
            )
            .await,
    );
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("not currently held"), "{message}");
}
