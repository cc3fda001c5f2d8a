//! Where a read about one service looks: the service in the catalog, the environments asked
//! (all of them when none is named) and its namespace in each. The prologue that status,
//! rollout history, logs and diagnose share.

use std::future::Future;

use futures::future::join_all;
use serde_json::{Value, json};

use super::{ActionContext, ActionError};
use crate::domain::{Actor, Environment, NamespaceName, ServiceName};
use crate::platform::PlatformError;
use crate::platform::catalog::{Resolved, Service};
use crate::platform::kube::Cluster;

/// A service and the environments to read it in.
pub(crate) struct ServiceScope<'a> {
    pub service: &'a Service,
    pub envs: Vec<&'a Environment>,
}

/// The service and environments a read asks about; refuses unknown names (with a "did you
/// mean") and a platbot without a cluster before anything is read.
pub(crate) fn service_scope<'a>(
    ctx: &'a ActionContext<'_>,
    service: &ServiceName,
    asked: Option<&'a Environment>,
) -> Result<ServiceScope<'a>, ActionError> {
    let service = find_service(&ctx.platform.catalog, service.as_str())?;
    let envs = environments(ctx, asked)?;
    if !ctx.platform.has_cluster() {
        return Err(PlatformError::NoCluster.into());
    }
    Ok(ServiceScope { service, envs })
}

/// One environment as a read sees it: the service's namespace there and a client of the
/// environment's cluster that acts as the asking user.
pub(crate) struct EnvRead<'a> {
    pub ns: NamespaceName,
    pub client: kube::Client,
    cluster: &'a Cluster,
    actor: &'a Actor,
}

impl EnvRead<'_> {
    /// The namespaced API of `K` in the service's namespace.
    pub fn api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        kube::Api::namespaced(self.client.clone(), self.ns.as_str())
    }

    /// A Kubernetes error in the user's terms (who was refused what).
    pub fn explain(&self, e: kube::Error) -> PlatformError {
        PlatformError::from(self.cluster.explain(self.actor, e))
    }
}

/// What a read found in one environment.
pub(crate) struct Found<'a, T> {
    pub env: &'a Environment,
    pub ns: NamespaceName,
    pub found: Result<T, PlatformError>,
}

/// Runs `read` in every environment of the scope at once, in the scope's order. A namespace
/// the catalog cannot name refuses the whole read; a cluster that cannot be reached or
/// refuses is that environment's error.
pub(crate) async fn in_each_env<'a, T, F, Fut>(
    ctx: &'a ActionContext<'_>,
    scope: &ServiceScope<'a>,
    read: F,
) -> Result<Vec<Found<'a, T>>, ActionError>
where
    F: Fn(EnvRead<'a>) -> Fut,
    Fut: Future<Output = Result<T, PlatformError>>,
{
    let read = &read;
    let reads = scope.envs.iter().map(|&env| async move {
        let ns = namespace_in(ctx, scope.service, env)?;
        let client = ctx
            .platform
            .cluster_for(env)
            .and_then(|cluster| Ok((cluster, cluster.client_for(ctx.actor)?)));
        let found = match client {
            Ok((cluster, client)) => {
                let ns = ns.clone();
                read(EnvRead {
                    ns,
                    client,
                    cluster,
                    actor: ctx.actor,
                })
                .await
            }
            Err(e) => Err(e),
        };
        Ok(Found { env, ns, found })
    });
    join_all(reads).await.into_iter().collect()
}

/// The line and data of an environment where the service has no Deployment (`error` is
/// `None`) or could not be read; the data names the missing value `key`.
pub(crate) fn not_read(
    env: &Environment,
    ns: &NamespaceName,
    service: &Service,
    error: Option<&PlatformError>,
    key: &str,
) -> (String, Value) {
    match error {
        None => (
            format!(
                "- {env} ({ns}): not deployed (no Deployment `{}`)",
                service.kubernetes_id
            ),
            json!({"environment": env, "namespace": ns, key: null}),
        ),
        Some(e) => (
            format!("- {env} ({ns}): could not read: {e}"),
            json!({"environment": env, "namespace": ns, "error": e.to_string()}),
        ),
    }
}

/// The service's namespace in `env`, by the catalog's namespace pattern.
pub(crate) fn namespace_in(
    ctx: &ActionContext<'_>,
    service: &Service,
    env: &Environment,
) -> Result<NamespaceName, ActionError> {
    ctx.platform
        .catalog
        .namespace_of(service, env)
        .map_err(|e| ActionError::InvalidArgs(e.to_string()))
}

pub(crate) fn find_service<'c>(
    catalog: &'c crate::platform::Catalog,
    name: &str,
) -> Result<&'c Service, ActionError> {
    if let Some(s) = catalog.service(name) {
        return Ok(s);
    }
    let hint = match catalog.resolve_service(name) {
        Resolved::Exact(s) | Resolved::Fuzzy(s) => format!("; did you mean `{}`?", s.name),
        Resolved::Ambiguous(list) => {
            let names: Vec<String> = list.iter().map(|s| format!("`{}`", s.name)).collect();
            format!("; did you mean one of {}?", names.join(", "))
        }
        Resolved::NotFound => String::new(),
    };
    Err(ActionError::Unknown(format!(
        "there is no service `{name}` in the catalog{hint}"
    )))
}

pub(crate) fn environments<'a>(
    ctx: &'a ActionContext<'_>,
    asked: Option<&'a Environment>,
) -> Result<Vec<&'a Environment>, ActionError> {
    match asked {
        Some(env) => {
            ctx.platform
                .environment(env)
                .map_err(ActionError::Unknown)?;
            Ok(vec![env])
        }
        None => Ok(ctx.platform.environments.iter().collect()),
    }
}
