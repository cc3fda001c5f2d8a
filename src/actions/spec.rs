//! The tool table: every tool's name, kind and argument schema, generated from
//! the argument types in [`super::args`].

use schemars::{JsonSchema, schema_for};
use serde::Serialize;
use serde_json::Value;

use super::args::*;

/// Whether running a tool can change the platform. A mutation only ever becomes a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Read,
    Mutate,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    pub name: &'static str,
    pub kind: ActionKind,
    /// Required argument names, in declaration order.
    pub required: Vec<String>,
    /// Optional argument names, in declaration order.
    pub optional: Vec<String>,
    /// The JSON Schema of the arguments.
    pub schema: Value,
}

impl ToolSpec {
    fn of<A: JsonSchema>(name: &'static str, kind: ActionKind) -> Self {
        let schema = schema_for!(A).to_value();
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let optional = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.keys()
                    .filter(|k| !required.contains(k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name,
            kind,
            required,
            optional,
            schema,
        }
    }
}

/// Every tool the planners know about, whether or not this build can run it.
pub fn all_tools() -> Vec<ToolSpec> {
    use ActionKind::{Mutate, Read};
    vec![
        ToolSpec::of::<SearchDocsArgs>("search_docs", Read),
        ToolSpec::of::<CreateNamespaceArgs>("create_namespace", Mutate),
        ToolSpec::of::<ServiceEnvArgs>("deployment_status", Read),
        ToolSpec::of::<ListDeploymentsArgs>("list_deployments", Read),
        ToolSpec::of::<WhoIsOnCallArgs>("who_is_on_call", Read),
        ToolSpec::of::<ServiceEnvArgs>("diagnose", Read),
        ToolSpec::of::<PodLogsArgs>("pod_logs", Read),
        ToolSpec::of::<ServiceEnvArgs>("rollout_history", Read),
        ToolSpec::of::<ServiceInEnvArgs>("restart_deployment", Mutate),
        ToolSpec::of::<ScaleDeploymentArgs>("scale_deployment", Mutate),
        ToolSpec::of::<RollbackDeploymentArgs>("rollback_deployment", Mutate),
        ToolSpec::of::<SetMemoryLimitArgs>("set_memory_limit", Mutate),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_come_from_the_types() {
        let tools = all_tools();
        assert_eq!(tools.len(), 12);
        let scale = tools.iter().find(|t| t.name == "scale_deployment").unwrap();
        assert_eq!(scale.required, ["service", "environment", "replicas"]);
        let status = tools
            .iter()
            .find(|t| t.name == "deployment_status")
            .unwrap();
        assert_eq!(status.required, ["service"]);
        assert_eq!(status.optional, ["environment"]);
    }
}
