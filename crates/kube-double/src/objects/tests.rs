//! The object store's unit tests.

use serde_json::{Map, Value, json};

use super::meta::meta_str;
use super::patch::{PatchType, json_patch, merge_patch, strategic_merge};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, namespaces};
use super::store::{DeleteOptions, Store, Subresource, WriteOptions};
use super::table::{
    NameRule, RBAC, RESOURCES, ResourceType, group_versions, resource_for_kind, resource_for_path,
};
use super::validate::{
    LABEL_1123_MSG, label_value_errors, name_errors, qualified_name_errors, validate,
};
use super::writes::{apply_patch, pods};
fn res(kind: &str) -> &'static ResourceType {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind)
        .expect("kind in table")
}

fn opts() -> WriteOptions<'static> {
    WriteOptions {
        dry_run: false,
        field_manager: None,
        subresource: Subresource::Main,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "labels": { "app": name } },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "app", "image": image, "ports": [{ "containerPort": 8080 }] }] }
            }
        },
        "status": { "replicas": 2 }
    })
}

#[test]
fn table_is_consistent() {
    for r in RESOURCES {
        assert_eq!(
            resource_for_kind(&r.api_version(), r.kind).map(|x| x.plural),
            Some(r.plural)
        );
        assert_eq!(
            resource_for_path(r.group, r.version, r.plural).map(|x| x.kind),
            Some(r.kind)
        );
    }
    assert_eq!(namespaces().kind, "Namespace");
    assert_eq!(pods().kind, "Pod");
    assert_eq!(res("Deployment").group_resource(), "deployments.apps");
    assert_eq!(res("Namespace").group_kind(), "Namespace");
    assert_eq!(group_versions().first(), Some(&("", "v1")));
}

#[test]
fn label_selector_equality_and_sets() {
    let l = labels(&[("app", "cart"), ("tier", "web")]);
    let cases = [
        ("", true),
        ("app=cart", true),
        ("app==cart", true),
        ("app!=cart", false),
        ("app=cart,tier=web", true),
        ("app=cart,tier=db", false),
        ("app in (cart, search)", true),
        ("app notin (cart)", false),
        ("env notin (prod)", true),
        ("env!=prod", true),
        ("tier", true),
        ("!tier", false),
        ("!env", true),
        ("app in (a,b),tier", false),
    ];
    for (selector, expected) in cases {
        let parsed = LabelSelector::parse(selector).expect(selector);
        assert_eq!(parsed.matches(Some(&l)), expected, "{selector}");
    }
    assert!(!LabelSelector::parse("app").expect("exists").matches(None));
}

#[test]
fn label_selector_rejects_garbage() {
    for bad in [
        "app=a b",
        "app in ()",
        "app in (a",
        "a b c",
        "app=cart,",
        "app inn (x)",
        "bad key!=x",
    ] {
        let err = LabelSelector::parse(bad).expect_err(bad);
        assert_eq!((err.code(), err.reason()), (400, "BadRequest"), "{bad}");
        assert!(
            err.message().starts_with("unable to parse requirement"),
            "{}",
            err.message()
        );
    }
}

#[test]
fn field_selectors() {
    let pod = json!({ "metadata": { "name": "p1", "namespace": "ns" }, "spec": { "nodeName": "n1" }, "status": { "phase": "Running" } });
    let sel =
        FieldSelector::parse("metadata.name=p1,status.phase!=Pending", pods()).expect("valid");
    assert!(sel.matches(&pod));
    assert!(
        !FieldSelector::parse("spec.nodeName==n2", pods())
            .expect("valid")
            .matches(&pod)
    );
    let err = FieldSelector::parse("spec.nodeName=n1", res("Deployment")).expect_err("not indexed");
    assert_eq!(err.message(), "field label not supported: spec.nodeName");
    assert_eq!(
        FieldSelector::parse("nonsense", pods())
            .expect_err("no operator")
            .code(),
        400
    );
    let event = json!({ "involvedObject": { "kind": "Pod", "name": "p1" } });
    assert!(
        FieldSelector::parse(
            "involvedObject.kind=Pod,involvedObject.name=p1",
            res("Event")
        )
        .expect("ok")
        .matches(&event)
    );
}

#[test]
fn merge_patch_is_rfc7386() {
    let mut doc = json!({ "a": { "b": 1, "c": [1, 2] }, "d": "x" });
    merge_patch(
        &mut doc,
        &json!({ "a": { "b": null, "c": [3], "e": { "f": true } }, "d": "y" }),
    );
    assert_eq!(
        doc,
        json!({ "a": { "c": [3], "e": { "f": true } }, "d": "y" })
    );
}

#[test]
fn strategic_merge_merges_known_lists_by_key() {
    let mut doc = deployment("cart", "img:v1");
    doc["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .expect("array")
        .push(json!({ "name": "sidecar", "image": "proxy:1" }));
    let patch = json!({ "spec": { "template": { "spec": {
        "$setElementOrder/containers": [{ "name": "app" }, { "name": "sidecar" }],
        "containers": [{ "name": "app", "image": "img:v2" }, { "name": "sidecar", "$patch": "delete" }]
    } } } });
    strategic_merge(&mut doc, &patch);
    let containers = &doc["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1));
    assert_eq!(containers[0]["image"], "img:v2");
    assert_eq!(
        containers[0]["ports"][0]["containerPort"], 8080,
        "unpatched fields kept"
    );
    assert!(
        doc["spec"]["template"]["spec"]
            .get("$setElementOrder/containers")
            .is_none()
    );

    let mut meta = json!({ "finalizers": ["a"], "args": ["x", "y"] });
    strategic_merge(
        &mut meta,
        &json!({ "finalizers": ["b"], "args": ["z"], "$deleteFromPrimitiveList/finalizers": ["a"] }),
    );
    assert_eq!(meta, json!({ "finalizers": ["b"], "args": ["z"] }));
}

#[test]
fn json_patch_ops() {
    let mut doc = json!({ "spec": { "replicas": 1, "list": ["a"] }, "metadata": { "labels": { "x/y": "1" } } });
    let ops = json!([
        { "op": "replace", "path": "/spec/replicas", "value": 3 },
        { "op": "add", "path": "/spec/list/-", "value": "b" },
        { "op": "add", "path": "/spec/list/0", "value": "z" },
        { "op": "remove", "path": "/metadata/labels/x~1y" },
        { "op": "copy", "from": "/spec/replicas", "path": "/spec/copied" },
        { "op": "move", "from": "/spec/copied", "path": "/spec/moved" },
        { "op": "test", "path": "/spec/moved", "value": 3 }
    ]);
    json_patch(&mut doc, &ops).expect("applies");
    assert_eq!(
        doc,
        json!({ "spec": { "replicas": 3, "list": ["z", "a", "b"], "moved": 3 }, "metadata": { "labels": {} } })
    );
    let err = json_patch(&mut doc, &json!([{ "op": "remove", "path": "/spec/nope" }]))
        .expect_err("missing");
    assert!(err.contains("doc is missing path"), "{err}");
    assert!(
        json_patch(
            &mut doc,
            &json!([{ "op": "test", "path": "/spec/replicas", "value": 9 }])
        )
        .is_err()
    );
    assert!(json_patch(&mut doc, &json!({ "op": "add" })).is_err());
}

#[test]
fn name_rules_match_the_api_server() {
    assert!(name_errors(NameRule::Rfc1123Label, "payments-dev").is_empty());
    assert_eq!(
        name_errors(NameRule::Rfc1123Label, "Bad_Name"),
        vec![LABEL_1123_MSG.to_string()]
    );
    assert_eq!(
        name_errors(NameRule::Rfc1123Label, &"a".repeat(64))[0],
        "must be no more than 63 characters"
    );
    assert!(name_errors(NameRule::Rfc1123Subdomain, "a.b-c.d").is_empty());
    assert!(!name_errors(NameRule::Rfc1123Subdomain, "a..b").is_empty());
    assert!(!name_errors(NameRule::Rfc1035Label, "1abc").is_empty());
    assert!(name_errors(NameRule::PathSegment, "system:auth-delegator").is_empty());
    assert_eq!(
        name_errors(NameRule::PathSegment, "a/b"),
        vec!["may not contain '/'"]
    );
    assert!(qualified_name_errors("platform.example.com/team").is_empty());
    assert!(!qualified_name_errors("Bad Prefix/x").is_empty());
    assert!(label_value_errors("").is_empty());
    assert!(!label_value_errors("-bad").is_empty());
}

#[test]
fn invalid_status_body_is_verbatim() {
    let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "Bad_Name" } });
    let status = validate(namespaces(), &ns)
        .expect_err("invalid")
        .to_status();
    let detail = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must \
        start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is \
        '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("Namespace \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {detail}"),
            "reason": "Invalid",
            "details": { "name": "Bad_Name", "kind": "Namespace", "causes": [
                { "reason": "FieldValueInvalid", "message": format!("Invalid value: \"Bad_Name\": {detail}"), "field": "metadata.name" }
            ] },
            "code": 422
        })
    );
}

#[test]
fn not_found_and_conflict_bodies() {
    let status = ApiError::namespace_not_found("payments-dev").to_status();
    assert_eq!(
        status,
        json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "namespaces \"payments-dev\" not found", "reason": "NotFound",
                "details": { "name": "payments-dev", "kind": "namespaces" }, "code": 404 })
    );
    let conflict = ApiError::conflict(
        res("Deployment"),
        "cart",
        "the object has been modified; please apply your changes to the latest version and try again",
    );
    assert_eq!(
        conflict.to_status()["details"],
        json!({ "name": "cart", "group": "apps", "kind": "deployments" })
    );
    assert!(
        conflict
            .message()
            .starts_with("Operation cannot be fulfilled on deployments.apps \"cart\"")
    );
    assert_eq!(ApiError::bad_request("x").to_status().get("details"), None);
}

#[test]
fn workload_validation() {
    let mut d = deployment("cart", "img");
    d["spec"]["template"]["metadata"]["labels"] = json!({ "app": "other" });
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    let err = validate(res("Deployment"), &d).expect_err("invalid");
    assert!(
        err.message()
            .starts_with("Deployment.apps \"cart\" is invalid: ["),
        "{}",
        err.message()
    );
    assert!(
        err.message()
            .contains("`selector` does not match template `labels`")
    );
    assert!(
        err.message()
            .contains("spec.template.spec.containers[0].image: Required value")
    );
    let rb = json!({ "metadata": { "name": "x" }, "roleRef": { "apiGroup": RBAC, "kind": "Pod", "name": "" } });
    assert_eq!(
        validate(res("RoleBinding"), &rb)
            .expect_err("invalid")
            .to_status()["details"]["causes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn create_fills_server_fields_and_checks_namespace() {
    let mut store = Store::with_default_namespaces();
    let err = store
        .create(
            res("ConfigMap"),
            Some("nope"),
            json!({ "metadata": { "name": "c" } }),
            opts(),
        )
        .expect_err("no ns");
    assert_eq!(err.message(), "namespaces \"nope\" not found");
    let cm = store
        .create(
            res("ConfigMap"),
            Some("default"),
            json!({ "metadata": { "name": "c" } }),
            opts(),
        )
        .expect("created");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "default");
    assert!(cm["metadata"]["uid"].is_string() && cm["metadata"]["creationTimestamp"].is_string());
    let again = store.create(
        res("ConfigMap"),
        Some("default"),
        json!({ "metadata": { "name": "c" } }),
        opts(),
    );
    assert_eq!(again.expect_err("exists").reason(), "AlreadyExists");
    let generated = store
        .create(
            res("ConfigMap"),
            Some("default"),
            json!({ "metadata": { "generateName": "job-" } }),
            opts(),
        )
        .expect("generated");
    assert_eq!(meta_str(&generated, "name").map(str::len), Some(9));
    assert_eq!(store.mutations(), 2);
}

#[test]
fn status_subresource_rules() {
    let mut store = Store::with_default_namespaces();
    let d = store
        .create(
            res("Deployment"),
            Some("default"),
            deployment("cart", "img:v1"),
            opts(),
        )
        .expect("created");
    assert_eq!(d["status"], json!({}), "status is not settable on create");
    assert_eq!(d["metadata"]["generation"], 1);

    let mut changed = d.clone();
    changed["status"] = json!({ "replicas": 9 });
    changed["spec"]["replicas"] = json!(3);
    let after = store
        .replace(res("Deployment"), Some("default"), "cart", changed, opts())
        .expect("replaced");
    assert_eq!(after["status"], json!({}), "main write ignores status");
    assert_eq!(after["metadata"]["generation"], 2);

    let status_opts = WriteOptions {
        subresource: Subresource::Status,
        ..opts()
    };
    let patch = json!({ "status": { "readyReplicas": 3 }, "spec": { "replicas": 7 } });
    let (_, after) = store
        .patch(
            res("Deployment"),
            Some("default"),
            "cart",
            PatchType::Merge,
            &patch,
            status_opts,
        )
        .expect("patched");
    assert_eq!(after["status"]["readyReplicas"], 3);
    assert_eq!(after["spec"]["replicas"], 3, "status write ignores spec");
    assert_eq!(after["metadata"]["generation"], 2);
}

#[test]
fn stale_resource_version_conflicts_and_noop_is_free() {
    let mut store = Store::with_default_namespaces();
    let cm = store
        .create(
            res("ConfigMap"),
            Some("default"),
            json!({ "metadata": { "name": "c" }, "data": { "a": "1" } }),
            opts(),
        )
        .expect("ok");
    let mut first = cm.clone();
    first["data"]["a"] = json!("2");
    store
        .replace(res("ConfigMap"), Some("default"), "c", first, opts())
        .expect("first write wins");
    let mut stale = cm.clone();
    stale["data"]["a"] = json!("3");
    let err = store
        .replace(res("ConfigMap"), Some("default"), "c", stale, opts())
        .expect_err("stale");
    assert_eq!((err.code(), err.reason()), (409, "Conflict"));
    let before = store.mutations();
    let current = store
        .get(res("ConfigMap"), Some("default"), "c")
        .expect("exists");
    store
        .replace(res("ConfigMap"), Some("default"), "c", current, opts())
        .expect("no-op");
    assert_eq!(store.mutations(), before);
}

#[test]
fn apply_creates_then_merges_and_dry_run_persists_nothing() {
    let mut store = Store::with_default_namespaces();
    let apply = WriteOptions {
        field_manager: Some("platbot"),
        ..opts()
    };
    let body = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "labels": { "a": "1" } }, "data": { "x": "1" } });
    let no_manager = store.patch(
        res("ConfigMap"),
        Some("default"),
        "c",
        PatchType::Apply,
        &body,
        opts(),
    );
    assert_eq!(no_manager.expect_err("manager required").code(), 422);

    let dry = WriteOptions {
        dry_run: true,
        ..apply
    };
    let (created, obj) = store
        .patch(
            res("ConfigMap"),
            Some("default"),
            "c",
            PatchType::Apply,
            &body,
            dry,
        )
        .expect("dry");
    assert!(created && obj["metadata"].get("resourceVersion").is_none());
    assert_eq!(store.mutations(), 0);
    assert!(store.get(res("ConfigMap"), Some("default"), "c").is_err());

    let (created, _) = store
        .patch(
            res("ConfigMap"),
            Some("default"),
            "c",
            PatchType::Apply,
            &body,
            apply,
        )
        .expect("create");
    assert!(created);
    let update = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" }, "data": { "y": "2" } });
    let (created, obj) = store
        .patch(
            res("ConfigMap"),
            Some("default"),
            "c",
            PatchType::Apply,
            &update,
            apply,
        )
        .expect("update");
    assert!(!created);
    assert_eq!(obj["data"], json!({ "x": "1", "y": "2" }));
    assert_eq!(obj["metadata"]["managedFields"][0]["manager"], "platbot");
    assert_eq!(obj["metadata"]["managedFields"][0]["operation"], "Apply");
    let wrong_name =
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "other" } });
    assert_eq!(
        store
            .patch(
                res("ConfigMap"),
                Some("default"),
                "c",
                PatchType::Apply,
                &wrong_name,
                apply
            )
            .expect_err("name")
            .code(),
        400
    );
}

#[test]
fn scale_subresource_changes_only_replicas() {
    let mut store = Store::with_default_namespaces();
    store
        .create(
            res("Deployment"),
            Some("default"),
            deployment("cart", "img"),
            opts(),
        )
        .expect("created");
    let scale = store
        .scale(res("Deployment"), Some("default"), "cart")
        .expect("scale");
    assert_eq!(
        (
            scale["spec"]["replicas"].clone(),
            scale["status"]["selector"].clone()
        ),
        (json!(2), json!("app=cart"))
    );
    let scaled = store
        .update_scale(
            res("Deployment"),
            Some("default"),
            "cart",
            |s| apply_patch(s, PatchType::Merge, &json!({ "spec": { "replicas": 5 } })),
            false,
        )
        .expect("scaled");
    assert_eq!(scaled["spec"]["replicas"], 5);
    let d = store
        .get(res("Deployment"), Some("default"), "cart")
        .expect("deployment");
    assert_eq!(
        (
            d["spec"]["replicas"].clone(),
            d["metadata"]["generation"].clone()
        ),
        (json!(5), json!(2))
    );
    let negative = store.update_scale(
        res("Deployment"),
        Some("default"),
        "cart",
        |s| apply_patch(s, PatchType::Merge, &json!({ "spec": { "replicas": -1 } })),
        false,
    );
    assert!(
        negative
            .expect_err("invalid")
            .message()
            .starts_with("Scale.autoscaling \"cart\" is invalid: spec.replicas")
    );
}

#[test]
fn deleting_a_namespace_removes_its_contents() {
    let mut store = Store::with_default_namespaces();
    let ns = json!({ "metadata": { "name": "team-dev" } });
    store.create(namespaces(), None, ns, opts()).expect("ns");
    store
        .create(
            res("ConfigMap"),
            Some("team-dev"),
            json!({ "metadata": { "name": "c" } }),
            opts(),
        )
        .expect("cm");
    let dry = DeleteOptions {
        dry_run: true,
        ..DeleteOptions::default()
    };
    store
        .delete(namespaces(), None, "team-dev", &dry)
        .expect("dry");
    assert_eq!(store.objects(res("ConfigMap"), Some("team-dev")).count(), 1);
    let resp = store
        .delete(namespaces(), None, "team-dev", &DeleteOptions::default())
        .expect("deleted");
    assert_eq!(resp["status"]["phase"], "Terminating");
    assert_eq!(store.objects(res("ConfigMap"), Some("team-dev")).count(), 0);
    let status = store
        .delete(
            res("ConfigMap"),
            Some("default"),
            "nope",
            &DeleteOptions::default(),
        )
        .expect_err("gone");
    assert_eq!(status.code(), 404);
}

#[test]
fn pod_logs_pick_containers_like_the_kubelet() {
    let mut store = Store::with_default_namespaces();
    let pod = json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p", "namespace": "default" },
        "spec": { "containers": [{ "name": "a", "image": "i" }, { "name": "b", "image": "i" }] } });
    store.insert(pod).expect("pod");
    store.set_logs("default", "p", "a", false, "1\n2\n3\n".into());
    assert_eq!(
        store
            .pod_logs("default", "p", Some("a"), false, Some(2))
            .expect("logs"),
        "2\n3\n"
    );
    let err = store
        .pod_logs("default", "p", None, false, None)
        .expect_err("ambiguous");
    assert_eq!(
        err.message(),
        "a container name must be specified for pod p, choose one of: [a b]"
    );
    assert_eq!(
        store
            .pod_logs("default", "p", Some("c"), false, None)
            .expect_err("unknown")
            .code(),
        400
    );
    assert_eq!(
        store
            .pod_logs("default", "p", Some("b"), false, None)
            .expect("empty"),
        ""
    );
    assert!(
        store
            .pod_logs("default", "p", Some("b"), true, None)
            .is_err()
    );
}
