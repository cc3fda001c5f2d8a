//! What the planner says itself: the question for missing arguments, and the short
//! answer to messages that are not platform requests.

use serde_json::{Map, Value};

use super::fill::Unsure;
use super::text::Message;
use crate::actions::spec::{ActionKind, ToolSpec};
use crate::domain::ToolName;

const ENVIRONMENTS: &str = "dev, staging or prod";

/// What platbot says it can do, made from the specs of the tools it has.
pub(crate) struct Capabilities {
    /// Every tool: "I'm platbot: I can ...".
    all: String,
    /// The changes only: "create namespaces, restart deployments, ...".
    changes: String,
}

impl Capabilities {
    pub(crate) fn of(specs: &[ToolSpec]) -> Self {
        let phrases = |kind: ActionKind| -> Vec<&str> {
            specs
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| s.does)
                .collect()
        };
        let (reads, changes) = (phrases(ActionKind::Read), phrases(ActionKind::Mutate));
        let mut all = format!("I'm platbot: I can {}.", and_phrases(&reads));
        if !changes.is_empty() {
            all.push_str(&format!(
                " Once you confirm, I can also {}.",
                and_phrases(&changes)
            ));
        }
        Self {
            all,
            changes: and_phrases(&changes),
        }
    }
}

/// "a", "a and b", "a, b and c".
fn and_phrases(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

const GRATITUDE: &[&str] = &[
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
    "appreciated",
    "kudos",
];
const GREETINGS: &[&str] = &["hi", "hello", "hey", "yo", "morning", "hiya", "howdy"];

/// The reply to chit-chat and out-of-scope requests.
pub(crate) fn not_platform(msg: &Message, can: &Capabilities) -> String {
    let lead = if msg.has_word(GRATITUDE) {
        "You're welcome!"
    } else if msg.words.len() <= 3 && msg.has_word(GREETINGS) {
        "Hi!"
    } else {
        "That's not something I can help with."
    };
    format!("{lead} {}", can.all)
}

/// The reply to a change no action makes ("delete the namespace").
pub(crate) fn unsupported_change(verb: &str, can: &Capabilities) -> String {
    format!(
        "I can't {verb} anything: the changes I can make are to {}, each confirmed before it \
runs. Ask \"how do I {verb} ...\" to find the process in the platform docs.",
        can.changes
    )
}

/// What a tool would do, as a phrase after "Do you want me to" ("restart cart in prod").
fn action_phrase(tool: &str, args: &Map<String, Value>) -> String {
    let target = match (arg_str(args, "service"), arg_str(args, "team")) {
        (Some(s), _) => s.to_owned(),
        (None, Some(t)) => format!("the {t} team"),
        _ => String::new(),
    };
    let env = arg_str(args, "environment")
        .map(|e| format!(" in {e}"))
        .unwrap_or_default();
    let phrase = match tool.parse() {
        Ok(ToolName::SearchDocs) => return "search the platform docs".to_owned(),
        Ok(ToolName::WhoIsOnCall) => {
            return format!("tell you who's on call{}", for_target(&target));
        }
        Ok(ToolName::ListDeployments) => {
            return format!("list deployments{}{env}", for_target(&target));
        }
        Ok(ToolName::CreateNamespace) => {
            return format!("create a namespace{}{env}", for_target(&target));
        }
        Ok(ToolName::SetMemoryLimit) => {
            return format!("change the memory limit{}{env}", of_target(&target));
        }
        _ => verb(tool),
    };
    let target = if target.is_empty() {
        "a service".to_owned()
    } else {
        target
    };
    format!("{phrase} {target}{env}")
}

fn for_target(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" for {target}")
    }
}

fn of_target(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" of {target}")
    }
}

/// The question when the planner cannot tell which of `tools` (one or two) was meant.
pub(crate) fn which(tools: &[&str], args: &Map<String, Value>) -> String {
    match tools {
        [a, b] if a != b => format!(
            "I'm not sure what you'd like: should I {}, or {}? Say which (nothing changes until you confirm a proposal).",
            action_phrase(a, args),
            action_phrase(b, args)
        ),
        [a, ..] => format!(
            "I'm not sure I understood: do you want me to {}? Say yes to get a proposal, or rephrase.",
            action_phrase(a, args)
        ),
        [] => "I'm not sure what you'd like; could you rephrase?".to_owned(),
    }
}

/// What a tool does to a service, for questions ("Which service should I restart?").
fn verb(tool: &str) -> &'static str {
    match tool.parse() {
        Ok(ToolName::RestartDeployment) => "restart",
        Ok(ToolName::ScaleDeployment) => "scale",
        Ok(ToolName::RollbackDeployment) => "roll back",
        Ok(ToolName::DeploymentStatus) => "check",
        Ok(ToolName::Diagnose) => "diagnose",
        Ok(ToolName::PodLogs) => "get the logs of",
        Ok(ToolName::RolloutHistory) => "show the rollout history of",
        Ok(
            ToolName::SearchDocs
            | ToolName::CreateNamespace
            | ToolName::ListDeployments
            | ToolName::WhoIsOnCall
            | ToolName::SetMemoryLimit,
        )
        | Err(_) => "use",
    }
}

fn arg_str<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// The question for `missing` (in schema order); `unsure` arguments name their candidates.
pub(crate) fn question(
    tool: &str,
    args: &Map<String, Value>,
    missing: &[String],
    unsure: &[Unsure],
) -> String {
    let mut parts: Vec<String> = unsure.iter().map(candidates_question).collect();
    let rest: Vec<&str> = missing
        .iter()
        .map(String::as_str)
        .filter(|m| !unsure.iter().any(|u| u.arg == *m))
        .collect();
    match rest.as_slice() {
        [] => {}
        [one] => parts.push(single_question(tool, args, one)),
        many => parts.push(combined_question(tool, many)),
    }
    parts.join(" ")
}

fn what(arg: &str) -> &str {
    match arg {
        "subject" => "team or service",
        other => other,
    }
}

fn candidates_question(u: &Unsure) -> String {
    match u.candidates.as_slice() {
        [one] => format!(
            "Did you mean {one}? Reply with the {} name to go ahead.",
            what(&u.arg)
        ),
        many => format!("Which {} do you mean: {}?", what(&u.arg), or_list(many)),
    }
}

fn single_question(tool: &str, args: &Map<String, Value>, arg: &str) -> String {
    let service = arg_str(args, "service");
    let env = arg_str(args, "environment");
    let namespace = tool == ToolName::CreateNamespace;
    match (namespace, arg) {
        (true, "environment") => match arg_str(args, "team") {
            Some(team) => format!("Which environment is the {team} namespace for: {ENVIRONMENTS}?"),
            None => format!("Which environment is the namespace for: {ENVIRONMENTS}?"),
        },
        (true, "team") => match env {
            Some(env) => format!("Which team is the {env} namespace for?"),
            None => "Which team is the namespace for?".to_owned(),
        },
        (_, "environment") => match service {
            Some(s) => format!(
                "Which environment should I {} {s} in: {ENVIRONMENTS}?",
                verb(tool)
            ),
            None => format!("Which environment: {ENVIRONMENTS}?"),
        },
        (_, "service") => format!("Which service should I {}?", verb(tool)),
        (_, "replicas") => match (service, env) {
            (Some(s), Some(e)) => format!("How many replicas should {s} run in {e}?"),
            (Some(s), None) => format!("How many replicas should {s} run?"),
            _ => "How many replicas?".to_owned(),
        },
        (_, "subject") => "On call for which team or service?".to_owned(),
        (_, other) => format!("What {other} should I use?"),
    }
}

fn combined_question(tool: &str, missing: &[&str]) -> String {
    if tool == ToolName::CreateNamespace && missing == ["team", "environment"] {
        return format!("Which team is the namespace for, and which environment ({ENVIRONMENTS})?");
    }
    let phrases: Vec<String> = missing
        .iter()
        .map(|arg| match *arg {
            "environment" => format!("which environment ({ENVIRONMENTS})"),
            "replicas" => "how many replicas".to_owned(),
            other => format!("which {}", what(other)),
        })
        .collect();
    let mut q = and_list(&phrases);
    if let Some(first) = q.get(..1) {
        q = first.to_uppercase() + &q[1..];
    }
    format!("{q}?")
}

fn joined(items: &[String], last_sep: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}{last_sep}{last}", init.join(", ")),
    }
}

fn or_list(items: &[String]) -> String {
    joined(items, " or ")
}

fn and_list(items: &[String]) -> String {
    joined(items, " and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn questions_name_what_is_missing() {
        let q = question(
            "create_namespace",
            &Map::new(),
            &["team".into(), "environment".into()],
            &[],
        );
        assert_eq!(
            q,
            "Which team is the namespace for, and which environment (dev, staging or prod)?"
        );
        let q = question(
            "restart_deployment",
            &map(json!({"service": "cart"})),
            &["environment".into()],
            &[],
        );
        assert_eq!(
            q,
            "Which environment should I restart cart in: dev, staging or prod?"
        );
        let q = question(
            "scale_deployment",
            &map(json!({"service": "cart"})),
            &["environment".into(), "replicas".into()],
            &[],
        );
        assert_eq!(
            q,
            "Which environment (dev, staging or prod) and how many replicas?"
        );
    }

    #[test]
    fn unsure_arguments_list_their_candidates() {
        let unsure = [Unsure {
            arg: "service".into(),
            candidates: vec!["auth-gateway".into(), "user-profile".into()],
        }];
        let q = question(
            "restart_deployment",
            &Map::new(),
            &["service".into()],
            &unsure,
        );
        assert_eq!(
            q,
            "Which service do you mean: auth-gateway or user-profile?"
        );
        let unsure = [Unsure {
            arg: "service".into(),
            candidates: vec!["checkout-api".into()],
        }];
        let q = question(
            "restart_deployment",
            &Map::new(),
            &["service".into(), "environment".into()],
            &unsure,
        );
        assert!(q.starts_with("Did you mean checkout-api?"), "{q}");
        assert!(
            q.ends_with("Which environment: dev, staging or prod?"),
            "{q}"
        );
    }

    #[test]
    fn chit_chat_gets_a_short_list_of_what_platbot_does() {
        let can = Capabilities::of(&crate::actions::all_tools());
        let r = not_platform(&Message::new("thanks platbot 🙌"), &can);
        assert!(
            r.starts_with("You're welcome!") && r.contains("who's on call"),
            "{r}"
        );
        assert!(not_platform(&Message::new("hi"), &can).starts_with("Hi!"));
    }

    #[test]
    fn the_capability_text_names_every_tool_it_is_made_from() {
        let specs = crate::actions::all_tools();
        let can = Capabilities::of(&specs);
        for spec in &specs {
            assert!(
                can.all.contains(spec.does),
                "{} missing: {}",
                spec.name,
                can.all
            );
        }
        assert!(
            can.all.ends_with(
                "Once you confirm, I can also create namespaces, restart deployments, scale \
deployments, roll back deployments and change memory limits."
            ),
            "{}",
            can.all
        );
        let reads_only: Vec<ToolSpec> = specs
            .into_iter()
            .filter(|s| s.kind == ActionKind::Read)
            .collect();
        let can = Capabilities::of(&reads_only);
        assert!(!can.all.contains("confirm"), "{}", can.all);
        let refusal = unsupported_change("delete", &Capabilities::of(&crate::actions::all_tools()));
        assert!(refusal.starts_with("I can't delete anything"), "{refusal}");
    }
}
