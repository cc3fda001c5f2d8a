//! The HTTP face of the Kubernetes API double: path parsing, verbs, discovery, server-side
//! `Table` output for kubectl, and watches. One fallback handler parses the path itself, since
//! the Kubernetes URL space (`/api/v1/...`, `/apis/{group}/{version}/...`, optional
//! `/namespaces/{ns}`) is awkward to express as axum routes and must answer unknown paths with
//! a `Status` body anyway.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::objects::{
    self, ApiError, DeleteOptions, FieldSelector, LabelSelector, PatchType, RESOURCES,
    ResourceType, Store, Subresource, WriteOptions, meta_str,
};
use super::proto;
use super::rbac::{self, Attributes, Identity};
use super::{Change, KubeApiDouble, RecordedRequest};

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

// ---------------------------------------------------------------------------------------------
// Requests and replies
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

const OBJECT_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
const AGGREGATED_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn discovery(req: &Incoming, segments: &[&str]) -> Result<Reply, ApiError> {
    let known = matches!(
        segments,
        ["version"] | ["api"] | ["apis"] | ["api", "v1"] | ["apis", _] | ["apis", _, _]
    );
    if !known {
        return Err(ApiError::path_not_found());
    }
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let body = match segments {
        ["version"] => version_info(),
        ["api"] if req.wants_aggregated_discovery() => return Ok(aggregated(|g| g.is_empty())),
        ["apis"] if req.wants_aggregated_discovery() => return Ok(aggregated(|g| !g.is_empty())),
        ["api"] => {
            json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [] })
        }
        ["apis"] => group_list(),
        ["api", "v1"] => resource_list("", "v1")?,
        ["apis", group] => api_group(group)?,
        ["apis", group, version] => resource_list(group, version)?,
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(Reply::json(200, &body))
}

fn version_info() -> Value {
    json!({
        "major": "1", "minor": "35",
        "emulationMajor": "1", "emulationMinor": "35",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "34",
        "gitVersion": "v1.35.0", "gitCommit": "platbot-sandbox", "gitTreeState": "clean",
        "buildDate": "2025-12-17T00:00:00Z", "goVersion": "go1.25.5", "compiler": "gc", "platform": "linux/amd64"
    })
}

fn group_version_entry(group: &str, version: &str) -> Value {
    json!({ "groupVersion": objects::group_version(group, version), "version": version })
}

fn named_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (group, version) in objects::group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
    {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(version),
            None => groups.push((group, vec![version])),
        }
    }
    groups.push((REVIEW_GROUP, vec!["v1"]));
    groups
}

/// The access-review resource: create only, nothing stored.
fn review_resource() -> Value {
    json!({ "name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"] })
}

fn group_body(group: &str, versions: &[&str]) -> Value {
    json!({
        "name": group,
        "versions": versions.iter().map(|v| group_version_entry(group, v)).collect::<Vec<_>>(),
        "preferredVersion": group_version_entry(group, versions.first().copied().unwrap_or("v1")),
    })
}

fn group_list() -> Value {
    let groups: Vec<Value> = named_groups()
        .iter()
        .map(|(g, vs)| group_body(g, vs))
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

fn api_group(group: &str) -> Result<Value, ApiError> {
    let (name, versions) = named_groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .ok_or_else(ApiError::path_not_found)?;
    let mut body = group_body(name, &versions);
    body["kind"] = json!("APIGroup");
    body["apiVersion"] = json!("v1");
    Ok(body)
}

fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceType> {
    let (group, version) = (group.to_string(), version.to_string());
    RESOURCES
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

fn categories(res: &ResourceType) -> Vec<&'static str> {
    if res.in_all_category() {
        vec!["all"]
    } else {
        Vec::new()
    }
}

fn resource_list(group: &str, version: &str) -> Result<Value, ApiError> {
    let mut resources = Vec::new();
    if (group, version) == (REVIEW_GROUP, "v1") {
        resources.push(review_resource());
    }
    for res in resources_of(group, version) {
        resources.push(json!({
            "name": res.plural, "singularName": res.singular(), "namespaced": res.namespaced(), "kind": res.kind,
            "verbs": OBJECT_VERBS, "shortNames": res.short_names, "categories": categories(res),
        }));
        if res.has_status() {
            resources.push(json!({ "name": format!("{}/status", res.plural), "singularName": "", "namespaced": res.namespaced(), "kind": res.kind, "verbs": STATUS_VERBS }));
        }
        if res.kind == "Pod" {
            resources.push(json!({ "name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"] }));
        }
        if res.has_scale() {
            resources.push(json!({ "name": format!("{}/scale", res.plural), "singularName": "", "namespaced": res.namespaced(), "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": STATUS_VERBS }));
        }
    }
    if resources.is_empty() {
        return Err(ApiError::path_not_found());
    }
    Ok(
        json!({ "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": objects::group_version(group, version), "resources": resources }),
    )
}

/// Aggregated discovery (`apidiscovery.k8s.io/v2`): every group, version and resource in one
/// answer, which is what recent kubectl and kube ask for first.
fn aggregated(include: impl Fn(&str) -> bool) -> Reply {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (group, version) in objects::group_versions()
        .into_iter()
        .filter(|(g, _)| include(g))
    {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) => versions.push(version),
            None => groups.push((group, vec![version])),
        }
    }
    let mut items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({ "version": v, "resources": resources_of(group, v).map(aggregated_resource).collect::<Vec<_>>(), "freshness": "Current" }))
                .collect();
            let metadata = if group.is_empty() { json!({ "creationTimestamp": null }) } else { json!({ "name": group, "creationTimestamp": null }) };
            json!({ "metadata": metadata, "versions": versions })
        })
        .collect();
    if include(REVIEW_GROUP) {
        let review = json!({
            "resource": "selfsubjectaccessreviews", "responseKind": { "group": REVIEW_GROUP, "version": "v1", "kind": "SelfSubjectAccessReview" },
            "scope": "Cluster", "singularResource": "selfsubjectaccessreview", "verbs": ["create"],
        });
        items.push(json!({ "metadata": { "name": REVIEW_GROUP, "creationTimestamp": null }, "versions": [{ "version": "v1", "resources": [review], "freshness": "Current" }] }));
    }
    let body = json!({ "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items });
    Reply {
        code: 200,
        content_type: AGGREGATED_TYPE,
        body: body.to_string(),
    }
}

fn aggregated_resource(res: &'static ResourceType) -> Value {
    let response_kind = json!({ "group": res.group, "version": res.version, "kind": res.kind });
    let mut subresources = Vec::new();
    if res.has_status() {
        subresources.push(json!({ "subresource": "status", "responseKind": response_kind, "verbs": STATUS_VERBS }));
    }
    if res.kind == "Pod" {
        subresources.push(json!({ "subresource": "log", "responseKind": { "group": "", "version": "", "kind": "" }, "verbs": ["get"] }));
    }
    if res.has_scale() {
        subresources.push(json!({ "subresource": "scale", "responseKind": { "group": "autoscaling", "version": "v1", "kind": "Scale" }, "verbs": STATUS_VERBS }));
    }
    json!({
        "resource": res.plural,
        "responseKind": response_kind,
        "scope": if res.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": res.singular(),
        "verbs": OBJECT_VERBS,
        "shortNames": res.short_names,
        "categories": categories(res),
        "subresources": subresources,
    })
}

// ---------------------------------------------------------------------------------------------
// Server-side printing (Table), so `kubectl get` shows the usual columns
// ---------------------------------------------------------------------------------------------

/// A column: header, and whether it only shows with `-o wide`.
type Column = (&'static str, bool);

fn columns(kind: &str) -> &'static [Column] {
    match kind {
        "Namespace" => &[("Name", false), ("Status", false), ("Age", false)],
        "Pod" => &[
            ("Name", false),
            ("Ready", false),
            ("Status", false),
            ("Restarts", false),
            ("Age", false),
            ("IP", true),
            ("Node", true),
        ],
        "Deployment" => &[
            ("Name", false),
            ("Ready", false),
            ("Up-to-date", false),
            ("Available", false),
            ("Age", false),
            ("Containers", true),
            ("Images", true),
        ],
        "ReplicaSet" => &[
            ("Name", false),
            ("Desired", false),
            ("Current", false),
            ("Ready", false),
            ("Age", false),
            ("Containers", true),
            ("Images", true),
        ],
        "Service" => &[
            ("Name", false),
            ("Type", false),
            ("Cluster-IP", false),
            ("External-IP", false),
            ("Port(s)", false),
            ("Age", false),
        ],
        "Event" => &[
            ("Last Seen", false),
            ("Type", false),
            ("Reason", false),
            ("Object", false),
            ("Message", false),
        ],
        "ConfigMap" => &[("Name", false), ("Data", false), ("Age", false)],
        "Secret" => &[
            ("Name", false),
            ("Type", false),
            ("Data", false),
            ("Age", false),
        ],
        "Node" => &[
            ("Name", false),
            ("Status", false),
            ("Roles", false),
            ("Age", false),
            ("Version", false),
        ],
        _ => &[("Name", false), ("Age", false)],
    }
}

fn table_reply(store: &Store, res: &ResourceType, items: &[Value], req: &Incoming) -> Reply {
    Reply::json(
        200,
        &table(
            res,
            items,
            store.resource_version(),
            req.param("includeObject"),
        ),
    )
}

fn table(
    res: &ResourceType,
    items: &[Value],
    resource_version: String,
    include: Option<&str>,
) -> Value {
    let definitions: Vec<Value> = columns(res.kind)
        .iter()
        .map(|(name, wide)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({ "name": name, "type": "string", "format": format, "description": "", "priority": i32::from(*wide) })
        })
        .collect();
    let now = jiff::Timestamp::now();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| table_row(res, obj, now, include))
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": { "resourceVersion": resource_version },
        "columnDefinitions": definitions, "rows": rows,
    })
}

fn table_row(
    res: &ResourceType,
    obj: &Value,
    now: jiff::Timestamp,
    include: Option<&str>,
) -> Value {
    let cells: Vec<Value> = columns(res.kind)
        .iter()
        .map(|(name, _)| json!(cell(res.kind, name, obj, now)))
        .collect();
    let object = match include {
        Some("None") => Value::Null,
        Some("Object") => {
            let mut full = obj.clone();
            full["kind"] = json!(res.kind);
            full["apiVersion"] = json!(res.api_version());
            full
        }
        _ => {
            json!({ "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({})) })
        }
    };
    json!({ "cells": cells, "object": object })
}

fn text(obj: &Value, pointer: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn number(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

fn cell(kind: &str, column: &str, obj: &Value, now: jiff::Timestamp) -> String {
    let age = |pointer: &str| age_since(&text(obj, pointer), now);
    match (kind, column) {
        (_, "Name") => meta_str(obj, "name").unwrap_or_default().to_string(),
        (_, "Age") => age("/metadata/creationTimestamp"),
        ("Namespace", "Status") => text(obj, "/status/phase"),
        ("Pod", _) => pod_cell(column, obj, now),
        ("Deployment", "Ready") => format!(
            "{}/{}",
            number(obj, "/status/readyReplicas"),
            number(obj, "/spec/replicas")
        ),
        ("Deployment", "Up-to-date") => number(obj, "/status/updatedReplicas").to_string(),
        ("Deployment", "Available") => number(obj, "/status/availableReplicas").to_string(),
        ("ReplicaSet", "Desired") => number(obj, "/spec/replicas").to_string(),
        ("ReplicaSet", "Current") => number(obj, "/status/replicas").to_string(),
        ("ReplicaSet", "Ready") => number(obj, "/status/readyReplicas").to_string(),
        (_, "Containers") => container_field(obj, "name"),
        (_, "Images") => container_field(obj, "image"),
        ("Service", "Type") => or_none(text(obj, "/spec/type")),
        ("Service", "Cluster-IP") => or_none(text(obj, "/spec/clusterIP")),
        ("Service", "External-IP") => "<none>".to_string(),
        ("Service", "Port(s)") => service_ports(obj),
        ("Event", "Last Seen") => age("/lastTimestamp"),
        ("Event", "Type") => text(obj, "/type"),
        ("Event", "Reason") => text(obj, "/reason"),
        ("Event", "Object") => format!(
            "{}/{}",
            text(obj, "/involvedObject/kind").to_lowercase(),
            text(obj, "/involvedObject/name")
        ),
        ("Event", "Message") => text(obj, "/message"),
        ("ConfigMap" | "Secret", "Data") => {
            let count = |k: &str| obj.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
            (count("data") + count("binaryData") + count("stringData")).to_string()
        }
        ("Secret", "Type") => text(obj, "/type"),
        ("Node", "Status") => node_status(obj),
        ("Node", "Roles") => node_roles(obj),
        ("Node", "Version") => text(obj, "/status/nodeInfo/kubeletVersion"),
        _ => String::new(),
    }
}

fn container_field(obj: &Value, field: &str) -> String {
    let containers = obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array);
    containers
        .map(|cs| {
            cs.iter()
                .map(|c| text(c, &format!("/{field}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn service_ports(obj: &Value) -> String {
    let ports = obj.pointer("/spec/ports").and_then(Value::as_array);
    let shown: Vec<String> = ports
        .map(|ps| {
            ps.iter()
                .map(|p| format!("{}/{}", text(p, "/port"), or_tcp(text(p, "/protocol"))))
                .collect()
        })
        .unwrap_or_default();
    or_none(shown.join(","))
}

fn or_tcp(s: String) -> String {
    if s.is_empty() { "TCP".to_string() } else { s }
}

fn pod_cell(column: &str, pod: &Value, now: jiff::Timestamp) -> String {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    match column {
        "Ready" => format!(
            "{}/{total}",
            statuses.iter().filter(|s| s["ready"] == true).count()
        ),
        "Status" => pod_status(pod, &statuses),
        "Restarts" => {
            let restarts: i64 = statuses.iter().map(|s| number(s, "/restartCount")).sum();
            let last = statuses
                .iter()
                .map(|s| text(s, "/lastState/terminated/finishedAt"))
                .filter(|t| !t.is_empty())
                .max();
            match last {
                Some(at) if restarts > 0 => format!("{restarts} ({} ago)", age_since(&at, now)),
                _ => restarts.to_string(),
            }
        }
        "IP" => or_none(text(pod, "/status/podIP")),
        "Node" => or_none(text(pod, "/spec/nodeName")),
        _ => String::new(),
    }
}

/// The STATUS column as kubectl shows it: a waiting or terminated reason beats the phase.
fn pod_status(pod: &Value, statuses: &[Value]) -> String {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_string();
    }
    for s in statuses {
        for pointer in ["/state/waiting/reason", "/state/terminated/reason"] {
            let reason = text(s, pointer);
            if !reason.is_empty() {
                return reason;
            }
        }
    }
    let reason = text(pod, "/status/reason");
    if reason.is_empty() {
        text(pod, "/status/phase")
    } else {
        reason
    }
}

fn node_status(node: &Value) -> String {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conditions
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"] == "True");
    let mut status = if ready == Some(true) {
        "Ready".to_string()
    } else {
        "NotReady".to_string()
    };
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object);
    let roles: Vec<&str> = labels
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .collect()
        })
        .unwrap_or_default();
    or_none(roles.join(","))
}

/// Ages as kubectl prints them (a port of `duration.HumanDuration`).
pub(crate) fn age_since(timestamp: &str, now: jiff::Timestamp) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return "<unknown>".to_string();
    };
    human_duration(now.duration_since(then).as_secs())
}

fn human_duration(seconds: i64) -> String {
    let with = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let days = hours / 24;
    match seconds {
        s if s < -1 => "<invalid>".to_string(),
        s if s < 0 => "0s".to_string(),
        s if s < 120 => format!("{s}s"),
        _ if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => with(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => with(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}

// ---------------------------------------------------------------------------------------------
// Watches
// ---------------------------------------------------------------------------------------------

/// What a `?watch=true` request selects.
struct WatchSpec {
    res: &'static ResourceType,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    /// Send the current objects as ADDED first (no resourceVersion, or sendInitialEvents).
    initial: bool,
    /// Close with an initial-events-end bookmark after the initial events.
    bookmark: bool,
    /// `Some(includeObject)` when kubectl asked for Table output: each event carries a one-row Table.
    table: Option<Option<String>>,
    timeout: std::time::Duration,
}

impl WatchSpec {
    fn new(target: &Target, req: &Incoming) -> Result<Self, ApiError> {
        let (labels, fields) = req.selectors(target.res)?;
        let send_initial = req.flag("sendInitialEvents");
        let seconds = req
            .param("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1800);
        Ok(Self {
            res: target.res,
            namespace: target.namespace.clone(),
            labels,
            fields,
            initial: send_initial || matches!(req.param("resourceVersion"), None | Some("0")),
            bookmark: send_initial,
            table: req
                .wants_table()
                .then(|| req.param("includeObject").map(str::to_string)),
            timeout: std::time::Duration::from_secs(seconds.min(3600)),
        })
    }

    fn selects(&self, obj: &Value) -> bool {
        self.labels
            .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && self.fields.matches(obj)
    }

    fn covers(&self, change: &Change) -> bool {
        let same_kind = change.group == self.res.group && change.plural == self.res.plural;
        let same_ns = self.namespace.is_none() || change.namespace == self.namespace;
        same_kind && same_ns && self.selects(&change.object)
    }

    fn event(&self, kind: &str, object: &Value) -> Value {
        let object = match &self.table {
            None => object.clone(),
            Some(include) => {
                let rv = meta_str(object, "resourceVersion")
                    .unwrap_or_default()
                    .to_string();
                table(
                    self.res,
                    std::slice::from_ref(object),
                    rv,
                    include.as_deref(),
                )
            }
        };
        json!({ "type": kind, "object": object })
    }

    fn initial_events(&self, store: &Store) -> VecDeque<Value> {
        let mut events: VecDeque<Value> = VecDeque::new();
        if self.initial {
            let objects = store
                .objects(self.res, self.namespace.as_deref())
                .filter(|o| self.selects(o));
            events.extend(objects.map(|o| self.event("ADDED", o)));
        }
        if self.bookmark {
            let metadata = json!({ "resourceVersion": store.resource_version(), "annotations": { "k8s.io/initial-events-end": "true" } });
            let object = json!({ "kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": metadata });
            events.push_back(json!({ "type": "BOOKMARK", "object": object }));
        }
        events
    }
}

struct WatchStream {
    spec: WatchSpec,
    pending: VecDeque<Value>,
    changes: broadcast::Receiver<Change>,
    deadline: tokio::time::Instant,
}

/// Streams newline-delimited watch events until the timeout, or until the watcher falls too
/// far behind (it then gets an end of stream and, like with a real server, relists).
fn watch(double: &KubeApiDouble, spec: WatchSpec) -> Response {
    // Subscribing under the store lock means no change falls between the snapshot and the stream.
    let (pending, changes) =
        double.with_store(|store| (spec.initial_events(store), double.subscribe()));
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let state = WatchStream {
        spec,
        pending,
        changes,
        deadline,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let event = next_event(&mut state).await?;
        let mut line = event.to_string();
        line.push('\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), state))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn next_event(state: &mut WatchStream) -> Option<Value> {
    if let Some(event) = state.pending.pop_front() {
        return Some(event);
    }
    loop {
        let change = tokio::time::timeout_at(state.deadline, state.changes.recv())
            .await
            .ok()?
            .ok()?;
        if state.spec.covers(&change) {
            return Some(state.spec.event(change.kind, &change.object));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
