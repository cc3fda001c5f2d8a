//! What an analyzer reports: a [`Finding`] with its evidence and, where the fix is an action
//! platbot can take, a [`Remediation`] that the engine can offer as a proposal.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::actions::args::{
    RollbackDeploymentArgs, ScaleDeploymentArgs, ServiceInEnvArgs, SetMemoryLimitArgs,
};
use crate::actions::status::ago;
use crate::actions::{Offer, Suggested};
use crate::domain::{Environment, ServiceName, ToolName};

/// How bad a finding is. Ordered most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The service (or part of it) is down or cannot run.
    Critical,
    /// Degraded, or will break: restarts, a stuck rollout, a pinned autoscaler.
    Warning,
    /// Worth knowing; not a fault by itself.
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Self::Critical => "CRITICAL",
            Self::Warning => "WARNING",
            Self::Info => "INFO",
        }
    }
}

/// The API object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ObjectRef {
    pub fn new(kind: &str, name: &str, namespace: Option<&str>) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// An event as evidence: the exact reason and message, how often and over how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEvidence {
    /// `Pod/search-7c9f-abcde`
    pub object: String,
    /// `Warning` or `Normal`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

/// The last log lines of a container, redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvidence {
    pub pod: String,
    pub container: String,
    /// From the previous (crashed) instance of the container.
    pub previous: bool,
    pub lines: Vec<String>,
    /// The line that most likely says what went wrong (a panic, an exception, "error").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_line: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Evidence {
    /// A status field, spec field or related fact, as the API states it.
    Fact {
        text: String,
    },
    Event(EventEvidence),
    Logs(LogEvidence),
}

impl Evidence {
    pub fn fact(text: impl Into<String>) -> Self {
        Self::Fact { text: text.into() }
    }

    /// One line (logs: a header line plus indented lines) for chat.
    pub fn render(&self, now: Timestamp, max_log_lines: usize) -> String {
        match self {
            Self::Fact { text } => text.clone(),
            Self::Event(e) => {
                let mut s = format!("event {} {} on {}", e.type_, e.reason, e.object);
                if e.count > 1 {
                    s.push_str(&format!(" x{}", e.count));
                    if let Some(first) = e.first_seen {
                        s.push_str(&format!(" over {}", span(now.duration_since(first))));
                    }
                }
                if let Some(last) = e.last_seen {
                    s.push_str(&format!(" (last {})", ago(now.duration_since(last))));
                }
                s.push_str(&format!(": {}", e.message));
                s
            }
            Self::Logs(l) => {
                let which = if l.previous {
                    "previous instance"
                } else {
                    "current instance"
                };
                let shown = l.lines.len().min(max_log_lines);
                let mut s = format!(
                    "logs of {}/{} ({which}), last {shown} lines:",
                    l.pod, l.container
                );
                if l.lines.is_empty() {
                    s.push_str(" (empty)");
                }
                for line in &l.lines[l.lines.len() - shown..] {
                    s.push_str(&format!("\n      | {line}"));
                }
                s
            }
        }
    }
}

/// "34m", "2h", "3d": a length of time, short.
pub fn span(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A fix platbot can carry out: a mutation with its exact arguments. Offered as a proposal,
/// so it still needs a confirmation like any other change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// The tool: `rollback_deployment`, `restart_deployment`, `scale_deployment`, `set_memory_limit`.
    pub action: ToolName,
    /// Its canonical arguments.
    pub args: Map<String, Value>,
    /// What it does, in a line: "Roll search back to revision 2 (search:v2.8.0)".
    pub title: String,
    /// Why this is the fix, with the figures it is based on.
    pub reasoning: String,
    /// What has to happen first (a person fixing a ConfigMap); `None` when it can be proposed now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition: Option<String>,
    /// What to say in the thread to get it proposed.
    pub say: String,
}

fn to_map<T: Serialize>(args: &T) -> Map<String, Value> {
    match serde_json::to_value(args) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl Remediation {
    /// The fix as a read result offers or suggests it.
    pub fn suggestion(&self) -> Suggested {
        Suggested {
            offer: Offer {
                tool: self.action,
                args: self.args.clone(),
            },
            title: self.title.clone(),
            say: self.say.clone(),
        }
    }

    pub fn rollback(
        service: &ServiceName,
        env: &Environment,
        revision: u64,
        title: String,
        reasoning: String,
    ) -> Self {
        let args = RollbackDeploymentArgs {
            service: service.clone(),
            environment: env.clone(),
            revision: Some(revision),
        };
        Self {
            action: ToolName::RollbackDeployment,
            args: to_map(&args),
            title,
            reasoning,
            precondition: None,
            say: format!("roll back {service} in {env} to revision {revision}"),
        }
    }

    pub fn restart(
        service: &ServiceName,
        env: &Environment,
        reasoning: String,
        precondition: Option<String>,
    ) -> Self {
        let args = ServiceInEnvArgs {
            service: service.clone(),
            environment: env.clone(),
        };
        Self {
            action: ToolName::RestartDeployment,
            args: to_map(&args),
            title: format!("Rolling restart of {service} in {env}"),
            reasoning,
            precondition,
            say: format!("restart {service} in {env}"),
        }
    }

    pub fn scale(
        service: &ServiceName,
        env: &Environment,
        replicas: u32,
        reasoning: String,
        precondition: Option<String>,
    ) -> Self {
        let args = ScaleDeploymentArgs {
            service: service.clone(),
            environment: env.clone(),
            replicas,
        };
        Self {
            action: ToolName::ScaleDeployment,
            args: to_map(&args),
            title: format!("Scale {service} in {env} to {replicas} replicas"),
            reasoning,
            precondition,
            say: format!("scale {service} in {env} to {replicas} replicas"),
        }
    }

    pub fn memory_limit(
        service: &ServiceName,
        env: &Environment,
        container: &str,
        memory_mib: u32,
        reasoning: String,
    ) -> Self {
        let args = SetMemoryLimitArgs {
            service: service.clone(),
            environment: env.clone(),
            container: Some(container.to_owned()),
            memory_mib,
        };
        let quantity = crate::actions::quantity::mib_quantity(memory_mib);
        Self {
            action: ToolName::SetMemoryLimit,
            args: to_map(&args),
            title: format!(
                "Raise the memory limit of container {container} of {service} in {env} to {quantity}"
            ),
            reasoning,
            precondition: None,
            say: format!("set the memory limit of {service} in {env} to {memory_mib} MiB"),
        }
    }
}

/// One thing wrong (or worth knowing), with what shows it and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Which check found it: `pod.crash_loop`, `deployment.progress_deadline`, ...
    pub check: String,
    pub severity: Severity,
    pub object: ObjectRef,
    /// What is wrong, in a line.
    pub problem: String,
    /// What shows it: status fields, events with counts and ages, log lines.
    pub evidence: Vec<Evidence>,
    /// Why it likely happens.
    pub likely_cause: String,
    /// What to do about it.
    pub fix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// Where the docs explain this failure: a page of the shipped docs index with its
    /// section anchor (`troubleshooting-pods.md#oomkilled`) when one covers it, else a topic
    /// to search for (`troubleshooting/hpa`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_hint: Option<String>,
    /// Every object with this same problem (the pods of a ReplicaSet that all crash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<String>,
}

impl Finding {
    pub fn new(
        check: &str,
        severity: Severity,
        object: ObjectRef,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            check: check.to_owned(),
            severity,
            object,
            problem: problem.into(),
            evidence: Vec::new(),
            likely_cause: String::new(),
            fix: String::new(),
            remediation: None,
            doc_hint: None,
            affected: Vec::new(),
        }
    }

    pub fn cause(mut self, text: impl Into<String>) -> Self {
        self.likely_cause = text.into();
        self
    }

    pub fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = text.into();
        self
    }

    pub fn doc(mut self, slug: &str) -> Self {
        self.doc_hint = Some(slug.to_owned());
        self
    }

    pub fn with(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub fn with_all(mut self, evidence: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }

    pub fn remedy(mut self, remediation: Option<Remediation>) -> Self {
        self.remediation = remediation;
        self
    }
}
