//! The store: all objects by key, the resourceVersion counter, pod logs, and the
//! create / get / list / replace / patch / scale / delete operations.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::logs::{pick_container, tail};
use super::meta::{
    check_url_name, initial_status, meta_str, namespace_defaults, now_rfc3339, prepare_body,
    remove_meta, same_content, set_field, set_meta,
};
use super::patch::{PatchType, merge_patch};
use super::selectors::{FieldSelector, LabelSelector};
use super::status::{ApiError, FieldError, namespaces};
use super::table::{ResourceType, resource_for_kind};
use super::validate::validate;
use super::writes::{
    SCALE_RESOURCE, apply_patch, check_delete_preconditions, check_resource_version,
    checked_apply_body, deletion_response, fill_if_missing, generate_name, merge_server_fields,
    pods, record_manager, require_field_manager, scale_of,
};
use crate::Change;

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    Main,
    Status,
}

/// Options common to writes (from the query string).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOptions<'a> {
    pub(crate) dry_run: bool,
    pub(crate) field_manager: Option<&'a str>,
    pub(crate) subresource: Subresource,
}

/// `DeleteOptions` the double honours.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) dry_run: bool,
    pub(crate) uid: Option<String>,
    pub(crate) resource_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    group: &'static str,
    plural: &'static str,
    namespace: String,
    name: String,
}

impl ObjectKey {
    fn new(res: &'static ResourceType, namespace: Option<&str>, name: &str) -> Self {
        let namespace = if res.namespaced() {
            namespace.unwrap_or("default").to_string()
        } else {
            String::new()
        };
        Self {
            group: res.group,
            plural: res.plural,
            namespace,
            name: name.to_string(),
        }
    }

    fn change(&self, kind: &'static str, object: Value) -> Change {
        let namespace = (!self.namespace.is_empty()).then(|| self.namespace.clone());
        Change {
            group: self.group,
            plural: self.plural,
            namespace,
            kind,
            object,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LogKey {
    namespace: String,
    pod: String,
    container: String,
    previous: bool,
}

/// All objects, the global resourceVersion counter, pod logs and the mutation counter.
#[derive(Debug, Default)]
pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    revision: u64,
    mutations: u64,
    logs: BTreeMap<LogKey, String>,
    changes: Vec<Change>,
}

impl Store {
    /// An empty cluster with the namespaces every cluster has.
    pub(crate) fn with_default_namespaces() -> Self {
        let mut store = Self::default();
        for name in ["default", "kube-system"] {
            // Cannot fail: the names are valid and the namespace kind is in the table.
            let _ = store.insert(
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } }),
            );
        }
        store
    }

    pub(crate) fn mutations(&self) -> u64 {
        self.mutations
    }

    pub(crate) fn resource_version(&self) -> String {
        self.revision.to_string()
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// Seeds an object as is (status included), filling the server fields it lacks. Replaces
    /// an existing object of the same name. Does not count as a mutation.
    pub(crate) fn insert(&mut self, mut obj: Value) -> Result<(), ApiError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let res = resource_for_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no kind {kind:?} is registered for version {api_version:?}"
            ))
        })?;
        let namespace = meta_str(&obj, "namespace").map(str::to_string);
        prepare_body(res, namespace.as_deref(), &mut obj)?;
        if res.kind == "Namespace" {
            namespace_defaults(&mut obj);
        }
        validate(res, &obj)?;
        self.require_namespace(res, namespace.as_deref())?;
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        fill_if_missing(&mut obj, "uid", || json!(uuid::Uuid::new_v4().to_string()));
        fill_if_missing(&mut obj, "creationTimestamp", || json!(now_rfc3339()));
        if res.tracks_generation() {
            fill_if_missing(&mut obj, "generation", || json!(1));
        }
        if obj.get("status").is_none() {
            set_field(&mut obj, "status", initial_status(res));
        }
        let rv = self.next_revision();
        set_meta(&mut obj, "resourceVersion", json!(rv));
        self.store_object(ObjectKey::new(res, namespace.as_deref(), &name), obj);
        Ok(())
    }

    pub(crate) fn get(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        if res.namespaced() && namespace.is_none() {
            return Err(ApiError::not_found(res, name));
        }
        self.objects
            .get(&ObjectKey::new(res, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    /// Stored objects of a kind (all namespaces when `namespace` is None), with kind/apiVersion.
    pub(crate) fn objects<'a>(
        &'a self,
        res: &'static ResourceType,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.group == res.group && k.plural == res.plural)
            .filter(move |(k, _)| namespace.is_none_or(|ns| !res.namespaced() || k.namespace == ns))
            .map(|(_, v)| v)
    }

    /// The `<Kind>List` the API server returns (items without kind/apiVersion, as it sends them).
    pub(crate) fn list(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Value {
        let items: Vec<Value> = self
            .objects(res, namespace)
            .filter(|o| labels.matches(o.pointer("/metadata/labels").and_then(Value::as_object)))
            .filter(|o| fields.matches(o))
            .map(|o| {
                let mut item = o.clone();
                set_field(&mut item, "apiVersion", None);
                set_field(&mut item, "kind", None);
                item
            })
            .collect();
        json!({
            "kind": format!("{}List", res.kind),
            "apiVersion": res.api_version(),
            "metadata": { "resourceVersion": self.resource_version() },
            "items": items,
        })
    }

    fn require_namespace(
        &self,
        res: &ResourceType,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if !res.namespaced() {
            return Ok(());
        }
        let ns = namespace.unwrap_or("default");
        let key = ObjectKey::new(namespaces(), None, ns);
        if self.objects.contains_key(&key) {
            Ok(())
        } else {
            Err(ApiError::namespace_not_found(ns))
        }
    }

    /// POST: creates an object (generateName honoured). Returns the stored object.
    pub(crate) fn create(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        self.create_with(res, namespace, &mut obj, opts, "Update")?;
        Ok(obj)
    }

    fn create_with(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        obj: &mut Value,
        opts: WriteOptions<'_>,
        operation: &str,
    ) -> Result<(), ApiError> {
        prepare_body(res, namespace, obj)?;
        generate_name(obj);
        self.require_namespace(res, namespace)?;
        validate(res, obj)?;
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let key = ObjectKey::new(res, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        let body = obj.clone();
        for server_field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ] {
            remove_meta(obj, server_field);
        }
        set_meta(obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
        set_meta(obj, "creationTimestamp", json!(now_rfc3339()));
        if res.tracks_generation() {
            set_meta(obj, "generation", json!(1));
        }
        if res.kind == "Namespace" {
            namespace_defaults(obj);
        }
        set_field(obj, "status", initial_status(res));
        record_manager(obj, opts, operation, &body);
        if !opts.dry_run {
            self.persist(key, obj);
        }
        Ok(())
    }

    fn persist(&mut self, key: ObjectKey, obj: &mut Value) {
        let rv = self.next_revision();
        set_meta(obj, "resourceVersion", json!(rv));
        self.mutations += 1;
        self.store_object(key, obj.clone());
    }

    /// Stores an object and queues the matching watch event.
    fn store_object(&mut self, key: ObjectKey, obj: Value) {
        let kind = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.changes.push(key.change(kind, obj.clone()));
        self.objects.insert(key, obj);
    }

    /// The watch events queued since the last call.
    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// PUT: replaces an object (or only its status), with optimistic concurrency.
    pub(crate) fn replace(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        prepare_body(res, namespace, &mut obj)?;
        check_url_name(&mut obj, name)?;
        let existing = self.get(res, namespace, name)?;
        let body = obj.clone();
        self.update(res, &existing, obj, &body, opts, "Update")
    }

    /// PATCH: all four patch types; server-side apply creates the object when it is absent.
    /// Returns whether the object was created, and the result.
    pub(crate) fn patch(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &Value,
        opts: WriteOptions<'_>,
    ) -> Result<(bool, Value), ApiError> {
        if patch_type == PatchType::Apply {
            require_field_manager(opts)?;
        }
        let existing = match self.get(res, namespace, name) {
            Ok(existing) => existing,
            Err(e)
                if patch_type == PatchType::Apply
                    && opts.subresource == Subresource::Main
                    && e.code() == 404 =>
            {
                let mut obj = checked_apply_body(res, namespace, name, patch)?;
                self.create_with(res, namespace, &mut obj, opts, "Apply")?;
                return Ok((true, obj));
            }
            Err(e) => return Err(e),
        };
        let mut patched = existing.clone();
        if patch_type == PatchType::Apply {
            merge_patch(
                &mut patched,
                &checked_apply_body(res, namespace, name, patch)?,
            );
        } else {
            apply_patch(&mut patched, patch_type, patch)?;
        }
        prepare_body(res, namespace, &mut patched)?;
        check_url_name(&mut patched, name)?;
        let operation = if patch_type == PatchType::Apply {
            "Apply"
        } else {
            "Update"
        };
        self.update(res, &existing, patched, patch, opts, operation)
            .map(|obj| (false, obj))
    }

    /// The `autoscaling/v1` Scale of a workload, as `GET .../{name}/scale` answers.
    pub(crate) fn scale(
        &self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        Ok(scale_of(&self.get(res, namespace, name)?))
    }

    /// PUT/PATCH on `.../{name}/scale`: `change` edits the current Scale; only its
    /// `spec.replicas` reaches the workload.
    pub(crate) fn update_scale(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let existing = self.get(res, namespace, name)?;
        let mut scale = scale_of(&existing);
        change(&mut scale)?;
        let replicas = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        if replicas < 0 {
            let shown = scale
                .pointer("/spec/replicas")
                .map_or_else(|| "null".to_string(), Value::to_string);
            let error = FieldError::invalid(
                "spec.replicas",
                &shown,
                "must be greater than or equal to 0",
            );
            return Err(ApiError::invalid(&SCALE_RESOURCE, name, &[error]));
        }
        let mut next = existing.clone();
        let mut body = json!({ "spec": { "replicas": replicas } });
        if let Some(rv) = meta_str(&scale, "resourceVersion") {
            body["metadata"] = json!({ "resourceVersion": rv });
        }
        merge_patch(&mut next, &body);
        let opts = WriteOptions {
            dry_run,
            field_manager: None,
            subresource: Subresource::Main,
        };
        let updated = self.update(res, &existing, next, &body, opts, "Update")?;
        Ok(scale_of(&updated))
    }

    /// The shared tail of PUT and PATCH: precondition, status rules, validation, generation,
    /// managedFields, no-op detection, persistence.
    fn update(
        &mut self,
        res: &'static ResourceType,
        existing: &Value,
        incoming: Value,
        body: &Value,
        opts: WriteOptions<'_>,
        operation: &str,
    ) -> Result<Value, ApiError> {
        let name = meta_str(existing, "name").unwrap_or_default().to_string();
        check_resource_version(res, &name, &incoming, existing)?;
        let mut next = merge_server_fields(res, existing, incoming, opts.subresource);
        if res.kind == "Namespace" {
            namespace_defaults(&mut next);
        }
        validate(res, &next)?;
        if res.tracks_generation()
            && opts.subresource == Subresource::Main
            && next.get("spec") != existing.get("spec")
        {
            let generation = existing
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut next, "generation", json!(generation + 1));
        }
        if same_content(&next, existing) {
            return Ok(existing.clone());
        }
        record_manager(&mut next, opts, operation, body);
        if !opts.dry_run {
            let namespace = meta_str(existing, "namespace").map(str::to_string);
            self.persist(ObjectKey::new(res, namespace.as_deref(), &name), &mut next);
        }
        Ok(next)
    }

    /// DELETE of one object. Deleting a Namespace removes everything in it at once.
    pub(crate) fn delete(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let existing = self.get(res, namespace, name)?;
        check_delete_preconditions(res, name, &existing, opts)?;
        let response = deletion_response(res, &existing);
        if !opts.dry_run {
            self.remove(res, namespace, name);
            self.next_revision();
            self.mutations += 1;
        }
        Ok(response)
    }

    /// DELETE on a collection: deletes the selected objects, returns them as a list.
    pub(crate) fn delete_collection(
        &mut self,
        res: &'static ResourceType,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Value {
        let list = self.list(res, namespace, labels, fields);
        let doomed: Vec<(Option<String>, String)> = list["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|o| {
                        (
                            meta_str(o, "namespace").map(str::to_string),
                            meta_str(o, "name").unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !opts.dry_run && !doomed.is_empty() {
            for (ns, name) in &doomed {
                self.remove(res, ns.as_deref(), name);
            }
            self.next_revision();
            self.mutations += 1;
        }
        list
    }

    fn remove(&mut self, res: &'static ResourceType, namespace: Option<&str>, name: &str) {
        let key = ObjectKey::new(res, namespace, name);
        let mut doomed = vec![key];
        if res.kind == "Namespace" {
            doomed.extend(self.objects.keys().filter(|k| k.namespace == name).cloned());
            self.logs.retain(|k, _| k.namespace != name);
        }
        for key in doomed {
            if let Some(obj) = self.objects.remove(&key) {
                self.changes.push(key.change("DELETED", obj));
            }
        }
    }

    pub(crate) fn set_logs(
        &mut self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: String,
    ) {
        let key = LogKey {
            namespace: namespace.into(),
            pod: pod.into(),
            container: container.into(),
            previous,
        };
        self.logs.insert(key, text);
    }

    /// `GET .../pods/{name}/log`: the container's current or previous log, optionally tailed.
    pub(crate) fn pod_logs(
        &self,
        namespace: &str,
        pod_name: &str,
        container: Option<&str>,
        previous: bool,
        tail_lines: Option<usize>,
    ) -> Result<String, ApiError> {
        let pod = self.get(pods(), Some(namespace), pod_name)?;
        let container = pick_container(&pod, pod_name, container)?;
        let key = LogKey {
            namespace: namespace.into(),
            pod: pod_name.into(),
            container: container.clone(),
            previous,
        };
        let text = match self.logs.get(&key) {
            Some(text) => text.as_str(),
            None if previous => {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
                )));
            }
            None => "",
        };
        Ok(tail(text, tail_lines))
    }
}
