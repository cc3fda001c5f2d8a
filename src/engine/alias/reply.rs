//! What the planner says itself: the question for missing arguments, and the short
//! answer to messages that are not platform requests.

use serde_json::{Map, Value};

use super::fill::Unsure;
use super::text::Message;

const ENVIRONMENTS: &str = "dev, staging or prod";

const CAPABILITIES: &str = "I'm platbot: I can check a service's status, list deployments, show pod logs \
and rollout history, diagnose what's wrong with a service, tell you who's on call, create namespaces, \
and restart, scale or roll back deployments once you confirm. Ask me \"how do I ...\" to search the platform docs.";

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
pub(crate) fn not_platform(msg: &Message) -> String {
    let lead = if msg.has_word(GRATITUDE) {
        "You're welcome!"
    } else if msg.words.len() <= 3 && msg.has_word(GREETINGS) {
        "Hi!"
    } else {
        "That's not something I can help with."
    };
    format!("{lead} {CAPABILITIES}")
}

/// The reply to a change no action makes ("delete the namespace").
pub(crate) fn unsupported_change(verb: &str) -> String {
    format!(
        "I can't {verb} anything: the changes I can propose are creating namespaces, restarting, \
scaling and rolling back deployments, and raising memory limits, each confirmed before it runs. \
Ask \"how do I {verb} ...\" to find the process in the platform docs."
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
    let phrase = match tool {
        "search_docs" => return "search the platform docs".to_owned(),
        "who_is_on_call" => return format!("tell you who's on call{}", for_target(&target)),
        "list_deployments" => return format!("list deployments{}{env}", for_target(&target)),
        "create_namespace" => return format!("create a namespace{}{env}", for_target(&target)),
        "set_memory_limit" => return format!("change the memory limit{}{env}", of_target(&target)),
        other => verb(other),
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
    match tool {
        "restart_deployment" => "restart",
        "scale_deployment" => "scale",
        "rollback_deployment" => "roll back",
        "deployment_status" => "check",
        "diagnose" => "diagnose",
        "pod_logs" => "get the logs of",
        "rollout_history" => "show the rollout history of",
        _ => "use",
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
    match (tool, arg) {
        ("create_namespace", "environment") => match arg_str(args, "team") {
            Some(team) => format!("Which environment is the {team} namespace for: {ENVIRONMENTS}?"),
            None => format!("Which environment is the namespace for: {ENVIRONMENTS}?"),
        },
        ("create_namespace", "team") => match env {
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
    if tool == "create_namespace" && missing == ["team", "environment"] {
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
        let r = not_platform(&Message::new("thanks platbot 🙌"));
        assert!(
            r.starts_with("You're welcome!") && r.contains("who's on call"),
            "{r}"
        );
        assert!(not_platform(&Message::new("hi")).starts_with("Hi!"));
    }
}
