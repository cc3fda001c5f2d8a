//! The names of the tools, one closed set. On the wire (LLM tool calls, tool YAML, the
//! audit log, eval reports) a tool is its snake_case name; inside, it is a [`ToolName`].

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tool platbot has. Declaration order is the order tools are listed in (specs, the
/// LLM's tool list, the capability text).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    SearchDocs,
    CreateNamespace,
    DeploymentStatus,
    ListDeployments,
    WhoIsOnCall,
    Diagnose,
    PodLogs,
    RolloutHistory,
    RestartDeployment,
    ScaleDeployment,
    RollbackDeployment,
    SetMemoryLimit,
}

impl ToolName {
    pub const ALL: [ToolName; 12] = [
        Self::SearchDocs,
        Self::CreateNamespace,
        Self::DeploymentStatus,
        Self::ListDeployments,
        Self::WhoIsOnCall,
        Self::Diagnose,
        Self::PodLogs,
        Self::RolloutHistory,
        Self::RestartDeployment,
        Self::ScaleDeployment,
        Self::RollbackDeployment,
        Self::SetMemoryLimit,
    ];

    /// The wire name (the same as serde's).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SearchDocs => "search_docs",
            Self::CreateNamespace => "create_namespace",
            Self::DeploymentStatus => "deployment_status",
            Self::ListDeployments => "list_deployments",
            Self::WhoIsOnCall => "who_is_on_call",
            Self::Diagnose => "diagnose",
            Self::PodLogs => "pod_logs",
            Self::RolloutHistory => "rollout_history",
            Self::RestartDeployment => "restart_deployment",
            Self::ScaleDeployment => "scale_deployment",
            Self::RollbackDeployment => "rollback_deployment",
            Self::SetMemoryLimit => "set_memory_limit",
        }
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ToolName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ToolName> for str {
    fn eq(&self, other: &ToolName) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<&str> for ToolName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<ToolName> for &str {
    fn eq(&self, other: &ToolName) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<String> for ToolName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ToolName> for String {
    fn eq(&self, other: &ToolName) -> bool {
        self.as_str() == other.as_str()
    }
}

/// A name that is not one of platbot's tools.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tool `{name}`; the tools are: {}", known_tools())]
pub struct UnknownTool {
    pub name: String,
}

fn known_tools() -> String {
    ToolName::ALL.map(ToolName::as_str).join(", ")
}

impl FromStr for ToolName {
    type Err = UnknownTool;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTool { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_name_is_serdes_and_parses_back() {
        for t in ToolName::ALL {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
            assert_eq!(t.as_str().parse::<ToolName>(), Ok(t));
        }
    }

    #[test]
    fn an_unknown_name_is_refused_naming_the_tools() {
        let e = "delete_namespace".parse::<ToolName>().unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("unknown tool `delete_namespace`"),
            "{text}"
        );
        assert!(text.contains("restart_deployment") && text.contains("search_docs"));
        assert!("Restart_Deployment".parse::<ToolName>().is_err());
    }
}
