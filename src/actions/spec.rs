//! A tool's spec: its name, kind, what it does and its argument schema, generated from
//! the action's own `NAME`, `DOES` and `Args` when the registry takes the action in.

use schemars::{JsonSchema, schema_for};
use serde::Serialize;
use serde_json::Value;

use super::Registry;
use crate::domain::ToolName;

/// Whether running a tool can change the platform. A mutation only ever becomes a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Read,
    Mutate,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    pub name: ToolName,
    pub kind: ActionKind,
    /// What the tool does, as a phrase after "I can".
    #[serde(skip)]
    pub does: &'static str,
    /// Required argument names, in declaration order.
    pub required: Vec<String>,
    /// Optional argument names, in declaration order.
    pub optional: Vec<String>,
    /// The JSON Schema of the arguments.
    pub schema: Value,
}

impl ToolSpec {
    pub(super) fn of<A: JsonSchema>(name: ToolName, kind: ActionKind, does: &'static str) -> Self {
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
            does,
            required,
            optional,
            schema,
        }
    }
}

/// Every tool the planners know about: the specs of the standard registry.
pub fn all_tools() -> Vec<ToolSpec> {
    Registry::standard().specs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_come_from_the_types() {
        let tools = all_tools();
        let names: Vec<ToolName> = tools.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            ToolName::ALL,
            "one spec per tool, in the enum's order"
        );
        let scale = tools
            .iter()
            .find(|t| t.name == ToolName::ScaleDeployment)
            .unwrap();
        assert_eq!(scale.required, ["service", "environment", "replicas"]);
        let status = tools
            .iter()
            .find(|t| t.name == ToolName::DeploymentStatus)
            .unwrap();
        assert_eq!(status.required, ["service"]);
        assert_eq!(status.optional, ["environment"]);
    }
}
