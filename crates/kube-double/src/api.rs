//! The HTTP face of the Kubernetes API double: path parsing, verbs, discovery, server-side
//! `Table` output for kubectl, and watches. One fallback handler parses the path itself, since
//! the Kubernetes URL space (`/api/v1/...`, `/apis/{group}/{version}/...`, optional
//! `/namespaces/{ns}`) is awkward to express as axum routes and must answer unknown paths with
//! a `Status` body anyway.

mod discovery;
mod printing;
mod watch;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::objects::{
    self, ApiError, DeleteOptions, FieldSelector, LabelSelector, PatchType, ResourceType, Store,
    Subresource, WriteOptions,
};
use super::proto;
use super::rbac::{self, Attributes, Identity};
use super::{KubeApiDouble, RecordedRequest};
use discovery::discovery;
use printing::table_reply;
use watch::{WatchSpec, watch};

pub(crate) fn router(double: KubeApiDouble) -> Router {
    Router::new().fallback(handle).with_state(double)
}

async fn handle(
    State(double): State<KubeApiDouble>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Incoming::new(method, &uri, &headers, body);
    double.record(request.recorded(&uri));
    let latency = double.write_latency();
    if !latency.is_zero()
        && !matches!(request.method, Method::GET | Method::HEAD)
        && !matches!(request.dry_run(), Ok(true))
    {
        tokio::time::sleep(latency).await;
    }
    let enforce = double.rbac_enforced();
    match double.with_store(|store| route(store, &request, enforce)) {
        Outcome::Reply(reply) => reply.into_response(),
        Outcome::Watch(spec) => watch(&double, spec),
    }
}

struct Incoming {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    body: Bytes,
    /// The `Impersonate-User` header.
    impersonate_user: Option<String>,
    /// Every `Impersonate-Group` header, in order.
    impersonate_groups: Vec<String>,
}

impl Incoming {
    fn new(method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Self {
        let query = Query::<HashMap<String, String>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
        let header_text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let values = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_string)
                .collect()
        };
        Self {
            method,
            path: uri.path().to_string(),
            query,
            accept: header_text(header::ACCEPT),
            content_type: header_text(header::CONTENT_TYPE),
            body,
            impersonate_user: values("impersonate-user").into_iter().next(),
            impersonate_groups: values("impersonate-group"),
        }
    }

    fn recorded(&self, uri: &Uri) -> RecordedRequest {
        let body_dry_run =
            self.method == Method::DELETE && delete_body(&self.body).is_ok_and(|o| o.dry_run);
        RecordedRequest {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: uri.query().map(str::to_string),
            content_type: (!self.content_type.is_empty()).then(|| self.content_type.clone()),
            impersonate_user: self.impersonate_user.clone(),
            impersonate_groups: self.impersonate_groups.clone(),
            dry_run: self.param("dryRun") == Some("All") || body_dry_run,
        }
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.param("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dry run value: dryRun: Unsupported value: \"{other}\": supported values: \"All\""
            ))),
        }
    }

    fn write_options(&self, subresource: Subresource) -> Result<WriteOptions<'_>, ApiError> {
        Ok(WriteOptions {
            dry_run: self.dry_run()?,
            field_manager: self.param("fieldManager"),
            subresource,
        })
    }

    fn wants_table(&self) -> bool {
        media_types(&self.accept).any(|m| m.contains("as=Table") && m.contains("g=meta.k8s.io"))
    }

    fn wants_aggregated_discovery(&self) -> bool {
        media_types(&self.accept).any(|m| {
            m.contains("g=apidiscovery.k8s.io")
                && m.contains("v=v2;")
                && m.contains("as=APIGroupDiscoveryList")
        })
    }

    fn selectors(&self, res: &ResourceType) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(self.param("labelSelector").unwrap_or_default())?;
        let fields = FieldSelector::parse(self.param("fieldSelector").unwrap_or_default(), res)?;
        Ok((labels, fields))
    }

    /// The body as an object: JSON, or YAML when the content type says so (apply bodies come
    /// as either).
    fn body_value(&self, what: &str) -> Result<Value, ApiError> {
        let json_error = match serde_json::from_slice::<Value>(&self.body) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        if self.content_type.contains("yaml") {
            return serde_norway::from_slice::<Value>(&self.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML {what}: {e}")));
        }
        if self.body.is_empty() {
            return Err(ApiError::bad_request(format!(
                "the request body is empty: expected a JSON {what}"
            )));
        }
        Err(ApiError::bad_request(format!(
            "couldn't decode the JSON {what}: json parse error: {json_error}"
        )))
    }
}

/// Media types of an Accept header, whitespace removed.
fn media_types(accept: &str) -> impl Iterator<Item = String> + '_ {
    accept
        .split(',')
        .map(|m| m.chars().filter(|c| !c.is_whitespace()).collect::<String>() + ";")
}

fn delete_body(body: &Bytes) -> Result<DeleteOptions, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeleteOptions::default());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode the DeleteOptions: {e}")))?;
    let dry_run = value
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|x| x == "All"));
    let precondition = |key: &str| {
        value
            .pointer(&format!("/preconditions/{key}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(DeleteOptions {
        dry_run,
        uid: precondition("uid"),
        resource_version: precondition("resourceVersion"),
    })
}

enum Outcome {
    Reply(Reply),
    Watch(WatchSpec),
}

struct Reply {
    code: u16,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn json(code: u16, value: &Value) -> Self {
        Self {
            code,
            content_type: "application/json",
            body: value.to_string(),
        }
    }

    fn error(error: &ApiError) -> Self {
        Self::json(error.code(), &error.to_status())
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, [(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

/// `enforce`: RBAC decides impersonated requests (see `rbac.rs`).
fn route(store: &mut Store, req: &Incoming, enforce: bool) -> Outcome {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let who = match Identity::from_headers(req.impersonate_user.as_deref(), &req.impersonate_groups)
    {
        Ok(who) => who,
        Err(e) => return Outcome::Reply(Reply::error(&e)),
    };
    let gate = who.as_ref().filter(|_| enforce);
    let result = match segments.as_slice() {
        ["apis", REVIEW_GROUP, "v1", "selfsubjectaccessreviews"] => {
            review(store, req, who.as_ref(), enforce).map(Outcome::Reply)
        }
        ["api", "v1", rest @ ..] if !rest.is_empty() => {
            resource_request(store, req, "", "v1", rest, gate)
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            resource_request(store, req, group, version, rest, gate)
        }
        _ => discovery(req, &segments).map(Outcome::Reply),
    };
    result.unwrap_or_else(|e| Outcome::Reply(Reply::error(&e)))
}

/// The API group of access reviews; the double serves `selfsubjectaccessreviews` in it.
const REVIEW_GROUP: &str = "authorization.k8s.io";

/// `POST .../selfsubjectaccessreviews`: may the caller do this?
fn review(
    store: &Store,
    req: &Incoming,
    who: Option<&Identity>,
    enforce: bool,
) -> Result<Reply, ApiError> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let body = if req.content_type.starts_with(proto::MEDIA_TYPE) {
        proto::self_subject_access_review(&req.body)?
    } else {
        req.body_value("object")?
    };
    let answer = rbac::self_subject_access_review(store, who, enforce, &body)?;
    Ok(Reply::json(201, &answer))
}

/// Refuses the request unless `who`'s roles allow it. A server-side apply that would create
/// the object needs `create` as well as `patch`, as on the API server.
fn authorize(
    store: &Store,
    who: &Identity,
    target: &Target,
    req: &Incoming,
) -> Result<(), ApiError> {
    let attrs = target.attributes(req);
    if rbac::allowed_by(store, who, &attrs).is_none() {
        return Err(rbac::forbidden(who, &attrs));
    }
    if let Some(why) = target.binding_escalation(store, who, req) {
        return Err(ApiError::forbidden(
            &attrs.group,
            &attrs.resource,
            attrs.name.as_deref(),
            &why,
        ));
    }
    let applies = req.method == Method::PATCH
        && target.sub.is_none()
        && PatchType::from_content_type(&req.content_type) == Some(PatchType::Apply);
    if let (true, Some(name)) = (applies, target.name.as_deref())
        && store
            .get(target.res, target.namespace.as_deref(), name)
            .is_err()
    {
        let create = Attributes {
            verb: "create".to_string(),
            ..attrs
        };
        if rbac::allowed_by(store, who, &create).is_none() {
            return Err(rbac::forbidden(who, &create));
        }
    }
    Ok(())
}

/// What a resource path names.
struct Target {
    res: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

impl Target {
    fn parse(group: &str, version: &str, rest: &[&str]) -> Result<Self, ApiError> {
        // `/namespaces/{ns}/status` is the namespace's own subresource, not a resource named status.
        let (namespace, rest) = match rest {
            ["namespaces", ns, tail @ ..]
                if tail
                    .first()
                    .is_some_and(|t| !matches!(*t, "status" | "finalize")) =>
            {
                (Some((*ns).to_string()), tail)
            }
            _ => (None, rest),
        };
        let (plural, name, sub) = match rest {
            [plural] => (*plural, None, None),
            [plural, name] => (*plural, Some((*name).to_string()), None),
            [plural, name, sub] => (*plural, Some((*name).to_string()), Some((*sub).to_string())),
            _ => return Err(ApiError::path_not_found()),
        };
        let res = objects::resource_for_path(group, version, plural)
            .ok_or_else(ApiError::path_not_found)?;
        let scoped_wrong = namespace.is_some() && !res.namespaced();
        let needs_namespace = namespace.is_none() && res.namespaced() && name.is_some();
        let sub_known = match sub.as_deref() {
            None => true,
            Some("status") => res.has_status(),
            Some("log") => res.kind == "Pod",
            Some("scale") => res.has_scale(),
            Some(_) => false,
        };
        if scoped_wrong || needs_namespace || !sub_known {
            return Err(ApiError::path_not_found());
        }
        Ok(Self {
            res,
            namespace,
            name,
            sub,
        })
    }

    /// The escalation check of a write to a RoleBinding or ClusterRoleBinding: the role it grants
    /// comes from the body, else (a patch that leaves `roleRef` alone) from the stored binding.
    fn binding_escalation(&self, store: &Store, who: &Identity, req: &Incoming) -> Option<String> {
        let writes = matches!(req.method, Method::POST | Method::PUT | Method::PATCH);
        let binding = matches!(self.res.kind, "RoleBinding" | "ClusterRoleBinding");
        if !writes || !binding || self.sub.is_some() {
            return None;
        }
        let body = req
            .body_value("object")
            .ok()
            .filter(|b| b.get("roleRef").is_some());
        let stored = || {
            let name = self.name.as_deref()?;
            store.get(self.res, self.namespace.as_deref(), name).ok()
        };
        let binding = body.or_else(stored)?;
        rbac::escalation(store, who, self.namespace.as_deref(), &binding)
    }

    /// The request in the authorizer's terms (verb from the method, as the API server's
    /// `RequestInfo` does).
    fn attributes(&self, req: &Incoming) -> Attributes {
        let verb = match (&req.method, &self.name) {
            (&Method::GET, None) if req.flag("watch") => "watch",
            (&Method::GET, None) => "list",
            (&Method::GET, Some(_)) => "get",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, None) => "deletecollection",
            (&Method::DELETE, Some(_)) => "delete",
            (other, _) => return self.attributes_with(other.as_str().to_ascii_lowercase()),
        };
        self.attributes_with(verb.to_string())
    }

    fn attributes_with(&self, verb: String) -> Attributes {
        // A Namespace is in its own namespace, so a RoleBinding there can grant reading it.
        let namespace = if self.res.kind == "Namespace" {
            self.name.clone()
        } else {
            self.namespace.clone()
        };
        Attributes {
            verb,
            group: self.res.group.to_string(),
            resource: self.res.plural.to_string(),
            subresource: self.sub.clone(),
            namespace,
            name: self.name.clone(),
        }
    }

    fn subresource(&self) -> Subresource {
        if self.sub.as_deref() == Some("status") {
            Subresource::Status
        } else {
            Subresource::Main
        }
    }
}

fn resource_request(
    store: &mut Store,
    req: &Incoming,
    group: &str,
    version: &str,
    rest: &[&str],
    gate: Option<&Identity>,
) -> Result<Outcome, ApiError> {
    let target = Target::parse(group, version, rest)?;
    if let Some(who) = gate {
        authorize(store, who, &target, req)?;
    }
    let (res, ns) = (target.res, target.namespace.as_deref());
    let reply = match (&req.method, target.name.as_deref(), target.sub.as_deref()) {
        (&Method::GET, None, None) if req.flag("watch") => {
            return WatchSpec::new(&target, req).map(Outcome::Watch);
        }
        (&Method::GET, None, None) => list(store, req, &target)?,
        (&Method::GET, Some(name), None | Some("status")) => {
            let obj = store.get(res, ns, name)?;
            if req.wants_table() {
                table_reply(store, res, &[obj], req)
            } else {
                Reply::json(200, &obj)
            }
        }
        (&Method::GET, Some(name), Some("log")) => {
            pod_log(store, req, ns.unwrap_or("default"), name)?
        }
        (&Method::GET, Some(name), Some("scale")) => Reply::json(200, &store.scale(res, ns, name)?),
        (&Method::PUT | &Method::PATCH, Some(name), Some("scale")) => {
            scale(store, req, &target, name)?
        }
        (&Method::POST, None, None) if ns.is_some() || !res.namespaced() => {
            let body = req.body_value("object")?;
            Reply::json(
                201,
                &store.create(res, ns, body, req.write_options(Subresource::Main)?)?,
            )
        }
        (&Method::PUT, Some(name), None | Some("status")) => {
            let body = req.body_value("object")?;
            Reply::json(
                200,
                &store.replace(
                    res,
                    ns,
                    name,
                    body,
                    req.write_options(target.subresource())?,
                )?,
            )
        }
        (&Method::PATCH, Some(name), None | Some("status")) => patch(store, req, &target, name)?,
        (&Method::DELETE, Some(name), None) => {
            let mut opts = delete_body(&req.body)?;
            opts.dry_run |= req.dry_run()?;
            Reply::json(200, &store.delete(res, ns, name, &opts)?)
        }
        (&Method::DELETE, None, None) if ns.is_some() || !res.namespaced() => {
            let mut opts = delete_body(&req.body)?;
            opts.dry_run |= req.dry_run()?;
            let (labels, fields) = req.selectors(res)?;
            Reply::json(
                200,
                &store.delete_collection(res, ns, &labels, &fields, &opts),
            )
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(Outcome::Reply(reply))
}

fn list(store: &Store, req: &Incoming, target: &Target) -> Result<Reply, ApiError> {
    let (labels, fields) = req.selectors(target.res)?;
    let list = store.list(target.res, target.namespace.as_deref(), &labels, &fields);
    if !req.wants_table() {
        return Ok(Reply::json(200, &list));
    }
    let items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    Ok(table_reply(store, target.res, &items, req))
}

fn patch(
    store: &mut Store,
    req: &Incoming,
    target: &Target,
    name: &str,
) -> Result<Reply, ApiError> {
    let patch_type = PatchType::from_content_type(&req.content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(&req.content_type))?;
    let body = req.body_value("patch")?;
    let opts = req.write_options(target.subresource())?;
    let (created, obj) = store.patch(
        target.res,
        target.namespace.as_deref(),
        name,
        patch_type,
        &body,
        opts,
    )?;
    Ok(Reply::json(if created { 201 } else { 200 }, &obj))
}

fn scale(
    store: &mut Store,
    req: &Incoming,
    target: &Target,
    name: &str,
) -> Result<Reply, ApiError> {
    let body = req.body_value(if req.method == Method::PUT {
        "object"
    } else {
        "patch"
    })?;
    let patch_type = match req.method {
        Method::PUT => None,
        _ => Some(
            PatchType::from_content_type(&req.content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(&req.content_type))?,
        ),
    };
    let change = |scale: &mut Value| match patch_type {
        None => {
            *scale = body;
            Ok(())
        }
        Some(patch_type) => objects::apply_patch(scale, patch_type, &body),
    };
    let scale = store.update_scale(
        target.res,
        target.namespace.as_deref(),
        name,
        change,
        req.dry_run()?,
    )?;
    Ok(Reply::json(200, &scale))
}

fn pod_log(store: &Store, req: &Incoming, namespace: &str, pod: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let tail_lines = match req.param("tailLines") {
        None => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!(
                "tailLines: Invalid value: \"{n}\": must be a non-negative integer"
            ))
        })?),
    };
    let text = store.pod_logs(
        namespace,
        pod,
        req.param("container"),
        req.flag("previous"),
        tail_lines,
    )?;
    Ok(Reply {
        code: 200,
        content_type: "text/plain",
        body: text,
    })
}

#[cfg(test)]
mod tests {
    use super::discovery::{group_list, resource_list};
    use super::printing::{cell, human_duration};
    use super::*;
    use serde_json::json;

    #[test]
    fn human_durations_match_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 7200, "3d2h"),
            (40 * 86400, "40d"),
            (-5, "<invalid>"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn pod_table_cells_read_like_kubectl() {
        let now = jiff::Timestamp::now();
        let finished = (now - jiff::SignedDuration::from_secs(150)).to_string();
        let pod = json!({
            "metadata": { "name": "p" },
            "spec": { "containers": [{ "name": "a" }] },
            "status": { "phase": "Running", "containerStatuses": [{
                "ready": false, "restartCount": 7,
                "state": { "waiting": { "reason": "CrashLoopBackOff" } },
                "lastState": { "terminated": { "finishedAt": finished } }
            }] }
        });
        assert_eq!(cell("Pod", "Ready", &pod, now), "0/1");
        assert_eq!(cell("Pod", "Status", &pod, now), "CrashLoopBackOff");
        assert_eq!(cell("Pod", "Restarts", &pod, now), "7 (2m30s ago)");
        assert_eq!(cell("Pod", "Node", &pod, now), "<none>");
    }

    #[test]
    fn target_parsing() {
        let t = Target::parse("", "v1", &["namespaces", "a", "pods", "p", "log"]).expect("pod log");
        assert_eq!(
            (
                t.res.kind,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.sub.as_deref()
            ),
            ("Pod", Some("a"), Some("p"), Some("log"))
        );
        let t = Target::parse("", "v1", &["namespaces", "a", "status"]).expect("namespace status");
        assert_eq!(
            (t.res.kind, t.name.as_deref(), t.sub.as_deref()),
            ("Namespace", Some("a"), Some("status"))
        );
        let t = Target::parse("apps", "v1", &["deployments"]).expect("all namespaces");
        assert_eq!((t.res.kind, t.namespace), ("Deployment", None));
        for bad in [
            &["namespaces", "a", "nodes"][..],
            &["deployments", "x"],
            &["namespaces", "a", "configmaps", "c", "status"],
            &["widgets"],
        ] {
            assert_eq!(
                Target::parse("", "v1", bad)
                    .map(|_| ())
                    .map_err(|e| e.code()),
                Err(404),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn accept_header_negotiation() {
        let req = |accept: &str| {
            Incoming::new(
                Method::GET,
                &Uri::from_static("/api"),
                &{
                    let mut h = HeaderMap::new();
                    h.insert(header::ACCEPT, accept.parse().expect("header"));
                    h
                },
                Bytes::new(),
            )
        };
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert!(req(kubectl).wants_aggregated_discovery());
        assert!(!req("application/json").wants_aggregated_discovery());
        assert!(req("application/json;as=Table;v=v1;g=meta.k8s.io,application/json").wants_table());
    }

    #[test]
    fn discovery_lists_every_resource() {
        let core = resource_list("", "v1").expect("core");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"namespaces")
                && names.contains(&"pods/log")
                && names.contains(&"pods/status")
        );
        assert!(resource_list("apps", "v2").is_err());
        let groups = group_list();
        assert!(
            groups["groups"]
                .as_array()
                .expect("groups")
                .iter()
                .any(|g| g["name"] == "rbac.authorization.k8s.io")
        );
    }
}
