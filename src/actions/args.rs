//! The typed arguments of every tool the planners know. The JSON Schemas the
//! planners see are generated from these types; nothing hand-writes a schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{Environment, OnCallSubject, ServiceName, TeamName};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchDocsArgs {
    /// What to look up in the platform docs, in the user's words.
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNamespaceArgs {
    /// The team that will own the namespace (a catalog Group name).
    pub team: TeamName,
    /// The environment the namespace is for.
    pub environment: Environment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceEnvArgs {
    /// The service (a catalog Component name).
    pub service: ServiceName,
    /// The environment; every environment when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDeploymentsArgs {
    /// Only this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Only this team's deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoIsOnCallArgs {
    /// A team or a service, as the user named it; a service resolves to its owning team.
    pub subject: OnCallSubject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PodLogsArgs {
    pub service: ServiceName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// How many of the last lines to show per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub lines: Option<u32>,
    /// Show the previous (crashed) instance of each container; by default it is shown when
    /// a container has restarted and its current instance has nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInEnvArgs {
    pub service: ServiceName,
    /// Required for changes: platbot never guesses where to change something.
    pub environment: Environment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleDeploymentArgs {
    pub service: ServiceName,
    pub environment: Environment,
    /// The desired number of replicas.
    #[schemars(range(max = 500))]
    pub replicas: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackDeploymentArgs {
    pub service: ServiceName,
    pub environment: Environment,
    /// The revision to roll back to; the previous one when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMemoryLimitArgs {
    pub service: ServiceName,
    pub environment: Environment,
    /// The container; the Deployment's only (or main) container when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The new memory limit in MiB (1024 = 1Gi).
    #[schemars(range(min = 16, max = 262144))]
    pub memory_mib: u32,
}
