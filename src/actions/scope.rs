//! Where a read about one service looks: the service in the catalog, the environments asked
//! (all of them when none is named) and its namespace in each. The prologue that status,
//! rollout history, logs and diagnose share.

use super::{ActionContext, ActionError};
use crate::domain::{Environment, NamespaceName, ServiceName};
use crate::platform::PlatformError;
use crate::platform::catalog::{Resolved, Service};

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
