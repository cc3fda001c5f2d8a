//! An in-process Kubernetes API double at the HTTP level.
//!
//! [`KubeApiDouble`] keeps objects in memory and serves them over a loopback axum server that
//! speaks the Kubernetes REST API, so the production path (the real `kube` client) and the real
//! `kubectl` both work against it. Tests use it to prove what platbot sends to a cluster; the
//! platbot's `--sandbox` mode uses it, seeded with a fictional platform ([`Seed`]).
//!
//! # What is emulated
//! - The kinds in the resource table (`objects.rs`): core v1 Namespace, Pod, Service, Endpoints,
//!   ConfigMap, Secret, Event, ResourceQuota, LimitRange, ServiceAccount, PersistentVolumeClaim,
//!   Node; apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet; batch/v1 Job, CronJob;
//!   rbac.authorization.k8s.io/v1 Role, RoleBinding, ClusterRole, ClusterRoleBinding;
//!   networking.k8s.io/v1 NetworkPolicy, Ingress; autoscaling/v2 HorizontalPodAutoscaler.
//! - get, list (also across namespaces), create (with `generateName`), replace with optimistic
//!   concurrency (stale `resourceVersion` -> 409), delete and deletecollection, the `status`
//!   subresource (normal writes keep the stored status of kinds that have one; status writes
//!   change nothing else), the `scale` subresource of Deployments, ReplicaSets and
//!   StatefulSets, and pod logs from a per-container store ([`KubeApiDouble::set_logs`]).
//! - Patches: server-side apply (creates when absent, otherwise merges the applied fields: maps
//!   recursively, lists replaced; records the manager in `managedFields`), JSON merge patch,
//!   JSON patch (RFC 6902), and a strategic merge patch subset: the well-known lists of the
//!   built-in types (containers, env, volumes, ports, volumeMounts, conditions, ...) merge by
//!   their merge key, `$patch` and `$deleteFromPrimitiveList` are honoured, other lists are
//!   replaced as in a JSON merge patch.
//! - `dryRun=All` on every write: validated, answered, never persisted.
//! - `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and `fieldSelector`
//!   (`metadata.name`, `metadata.namespace`, plus the fields the real server indexes for Pods,
//!   Events, Namespaces, Secrets, Nodes).
//! - Server fields: a global `resourceVersion` counter, `uid`, `creationTimestamp`,
//!   `generation` bumped on spec changes; Namespaces get `kubernetes.io/metadata.name`.
//! - Validation and error bodies as the API server words them: names (RFC 1123 label for
//!   Namespaces, RFC 1035 label for Services, RBAC path segments, subdomains otherwise), label
//!   and annotation keys and values, and a few structural checks (workload selectors match the
//!   template, containers have a name and an image, roleRef).
//! - Discovery for kubectl and kube: `/version`, `/api`, `/apis`, the group/version resource
//!   lists, aggregated discovery (`apidiscovery.k8s.io/v2`), and server-side `Table` output for
//!   `kubectl get`.
//! - Watches: `?watch=true` streams the changes made after the request (and the current
//!   objects as `ADDED` when no `resourceVersion` is given); there is no history to resume from.
//! - Every request is recorded with its `Impersonate-User` / `Impersonate-Group` headers.
//! - RBAC, when switched on ([`KubeApiDouble::with_rbac`]; `--sandbox` does): a request with
//!   impersonation headers is decided from the Roles, ClusterRoles, RoleBindings and
//!   ClusterRoleBindings the double holds (verbs, resources and subresources, API groups,
//!   resourceNames, namespaces; subjects of kind User, Group and ServiceAccount; every
//!   impersonated identity is also in `system:authenticated`). A server-side apply that creates
//!   needs `create` as well as `patch`; writing a binding needs `bind` on the role it grants or
//!   every permission in it (escalation). Refusals are the API server's `Forbidden` Status.
//!   `SelfSubjectAccessReview` answers for the impersonated identity (`kubectl auth can-i`),
//!   sent as JSON or, as kubectl does, protobuf.
//!
//! # What is NOT emulated
//! - Authentication and admission: a request without impersonation headers is the double's
//!   admin and may do anything; nobody checks that the caller may impersonate. RBAC leaves out
//!   aggregated ClusterRoles (`aggregationRule`), non-resource URL rules (discovery is open to
//!   all) and the `escalate` check on writes to Roles and ClusterRoles themselves.
//!   No quota, limit range or pod security checks; no defaulting beyond the server fields above.
//! - Controllers: nothing reconciles. Creating a Deployment makes no ReplicaSet or Pod, status
//!   only changes when written, there is no garbage collection by owner reference.
//! - Deleting a Namespace removes everything in it at once; the real server first marks it
//!   `Terminating` (the DELETE response shows that state) and finalizes it asynchronously.
//!   Pods are likewise removed at once, without a grace period.
//! - Server-side apply field ownership: no conflicts between managers (`force` is accepted and
//!   ignored) and fields dropped from a later apply are not removed. Strategic merge patch
//!   beyond the subset above (`$retainKeys`, `$setElementOrder` ordering) is ignored.
//! - `limit`/`continue` pagination (everything comes in one page), watch history and periodic
//!   bookmarks (only the initial-events-end one of `sendInitialEvents`),
//!   `resourceVersionMatch`, most kind-specific validation, OpenAPI (`/openapi/v2` and
//!   `/openapi/v3` answer 404: use `kubectl apply --validate=false`; `kubectl explain` fails),
//!   protobuf (except the access reviews kubectl sends), other subresources (exec, attach,
//!   portforward, eviction, proxy), CRDs, and log options other than `container`, `previous`
//!   and `tailLines` (no `follow`).
//! - Allocation: Services get no cluster IP, Pods no node or IP, unless the object says so.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod api;
mod objects;
mod proto;
mod rbac;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

pub use objects::ApiError;
use objects::Store;

/// A pod log to seed with [`KubeApiDouble::set_logs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLog {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
    pub text: String,
}

/// Objects to hold from the start (in insertion order: namespaces before what is in them)
/// and pod logs, for [`KubeApiDouble::seeded_with`].
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub objects: Vec<Value>,
    pub logs: Vec<SeedLog>,
}

/// Errors of the sandbox's Rust API (HTTP failures are answered as Kubernetes `Status` bodies).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot bind the Kubernetes API double to {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build a kube client for the Kubernetes API double at {url}: {message}")]
    Client { url: String, message: String },
    #[error("the Kubernetes API double rejected the object: {0}")]
    Rejected(#[from] ApiError),
}

/// One request the double received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, if any (`dryRun=All&fieldManager=platbot`).
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The `Impersonate-User` header.
    pub impersonate_user: Option<String>,
    /// Every `Impersonate-Group` header, in order.
    pub impersonate_groups: Vec<String>,
    /// Whether the request asked for `dryRun=All` (query string or DeleteOptions body).
    pub dry_run: bool,
}

/// A change to an object, as a watch reports it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) group: &'static str,
    pub(crate) plural: &'static str,
    pub(crate) namespace: Option<String>,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub(crate) kind: &'static str,
    pub(crate) object: Value,
}

struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    changes: broadcast::Sender<Change>,
    /// Whether RBAC decides impersonated requests.
    rbac: AtomicBool,
    /// Milliseconds every write (not dry-run) waits before it is applied: a slow API server.
    write_latency_ms: std::sync::atomic::AtomicU64,
}

/// The in-memory Kubernetes API. Cheap to clone: clones share one cluster.
#[derive(Clone)]
pub struct KubeApiDouble {
    shared: Arc<Shared>,
}

/// A poisoned lock only means another thread panicked mid-request; the data is still usable
/// for a test double, so recover it rather than propagate the panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl KubeApiDouble {
    /// An empty cluster with the namespaces `default` and `kube-system`.
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(1024);
        let shared = Shared {
            store: Mutex::new(Store::with_default_namespaces()),
            requests: Mutex::new(Vec::new()),
            changes,
            rbac: AtomicBool::new(false),
            write_latency_ms: std::sync::atomic::AtomicU64::new(0),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// [`KubeApiDouble::new`] holding `seed`'s objects and pod logs.
    pub fn seeded_with(seed: Seed) -> Self {
        let double = Self::new();
        for obj in seed.objects {
            // A seed is validated by its own tests; a bad row is skipped, not fatal.
            if let Err(error) = double.insert(obj) {
                tracing::warn!(%error, "skipping an invalid seed object");
            }
        }
        for log in seed.logs {
            double.set_logs(
                &log.namespace,
                &log.pod,
                &log.container,
                log.previous,
                log.text,
            );
        }
        double
    }

    /// The double with RBAC on (or off): impersonated requests are then decided from the
    /// roles and bindings it holds. Off by default, so that tests set up what they need.
    pub fn with_rbac(self, enforce: bool) -> Self {
        self.set_rbac(enforce);
        self
    }

    /// Switches RBAC on or off for every clone of this double, from the next request on.
    pub fn set_rbac(&self, enforce: bool) {
        self.shared.rbac.store(enforce, Ordering::SeqCst);
    }

    /// Whether RBAC decides impersonated requests.
    pub fn rbac_enforced(&self) -> bool {
        self.shared.rbac.load(Ordering::SeqCst)
    }

    /// Makes every write that is not a dry run wait this long before it is applied, like a slow
    /// or distant API server (tests of what happens while a change is in flight).
    pub fn set_write_latency(&self, latency: std::time::Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.shared.write_latency_ms.store(ms, Ordering::SeqCst);
    }

    pub(crate) fn write_latency(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.shared.write_latency_ms.load(Ordering::SeqCst))
    }

    /// Binds `addr` (port 0 picks a free port) and serves the API on it until the returned
    /// handle is dropped or shut down.
    pub async fn serve(&self, addr: SocketAddr) -> Result<RunningDouble, SandboxError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SandboxError::Bind { addr, source })?;
        let url = format!("http://{local}");
        let client_error = |message: String| SandboxError::Client {
            url: url.clone(),
            message,
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| client_error(e.to_string()))?;
        let client = kube::Client::try_from(kube::Config::new(uri.clone()))
            .map_err(|e| client_error(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server =
            axum::serve(listener, api::router(self.clone())).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            if let Err(error) = server.await {
                tracing::warn!(%error, "the Kubernetes API double stopped with an error");
            }
        });
        Ok(RunningDouble {
            url,
            addr: local,
            uri,
            client,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Seeds an object as is (its `status` included). `apiVersion` + `kind` pick the resource;
    /// `uid`, `creationTimestamp` and `generation` are filled when missing, `resourceVersion`
    /// always. Replaces an object of the same name. Does not count as a mutation.
    pub fn insert(&self, obj: Value) -> Result<(), SandboxError> {
        self.with_store(|store| store.insert(obj))
            .map_err(SandboxError::from)
    }

    /// The stored object, with kind and apiVersion. `namespace` is ignored for cluster-scoped
    /// kinds and required for namespaced ones.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let res = objects::resource_for_kind(api_version, kind)?;
        lock(&self.shared.store).get(res, namespace, name).ok()
    }

    /// Stored objects of a kind, in one namespace or (None) all, sorted by namespace and name.
    pub fn list(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(res) = objects::resource_for_kind(api_version, kind) else {
            return Vec::new();
        };
        lock(&self.shared.store)
            .objects(res, namespace)
            .cloned()
            .collect()
    }

    /// Sets what `GET .../pods/{pod}/log?container={container}[&previous=true]` returns.
    pub fn set_logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        text: impl Into<String>,
    ) {
        lock(&self.shared.store).set_logs(namespace, pod, container, previous, text.into());
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// How many writes were persisted through the HTTP API (dry runs and no-op writes excluded;
    /// [`KubeApiDouble::insert`] is not counted). Compare before and after to prove nothing changed.
    pub fn mutation_count(&self) -> u64 {
        lock(&self.shared.store).mutations()
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.shared.requests).push(request);
    }

    /// Runs `f` on the store under the lock (never across an await) and publishes the changes
    /// it made to watchers before unlocking, so a watch that subscribes under the lock sees
    /// every change after its snapshot exactly once.
    pub(crate) fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        let mut store = lock(&self.shared.store);
        let result = f(&mut store);
        for change in store.take_changes() {
            // An error only means nobody is watching.
            let _ = self.shared.changes.send(change);
        }
        result
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.shared.changes.subscribe()
    }
}

impl Default for KubeApiDouble {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for KubeApiDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApiDouble")
            .field("mutations", &self.mutation_count())
            .field("requests", &lock(&self.shared.requests).len())
            .finish()
    }
}

/// A served double. Dropping it stops the server.
pub struct RunningDouble {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    uri: http::Uri,
    client: kube::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningDouble {
    /// A `kube::Client` for this server (plain HTTP, no credentials).
    pub fn kube_client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A `kube::Config` for this server, to add impersonation or timeouts before building a client.
    pub fn kube_config(&self) -> kube::Config {
        kube::Config::new(self.uri.clone())
    }

    /// Stops accepting connections and waits (up to 5 s) for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(std::time::Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl std::fmt::Debug for RunningDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDouble")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for RunningDouble {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Open keep-alive and watch connections would keep a graceful shutdown waiting.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_double_is_shareable_across_tasks() {
        fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
        assert_shareable::<KubeApiDouble>();
        assert_shareable::<RecordedRequest>();
    }

    #[test]
    fn clones_share_one_cluster_and_insert_is_not_a_mutation() {
        let double = KubeApiDouble::new();
        let clone = double.clone();
        let cm = serde_json::json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "namespace": "default" } });
        clone.insert(cm).expect("insert");
        assert!(
            double
                .get("v1", "ConfigMap", Some("default"), "c")
                .is_some()
        );
        assert_eq!(double.list("v1", "Namespace", None).len(), 2);
        assert_eq!(double.mutation_count(), 0);
        let unknown = serde_json::json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" } });
        assert!(matches!(
            double.insert(unknown),
            Err(SandboxError::Rejected(_))
        ));
        let homeless = serde_json::json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c", "namespace": "nope" } });
        assert!(double.insert(homeless).is_err());
    }
}
