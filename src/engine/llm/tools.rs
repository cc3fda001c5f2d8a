//! The tools as the model sees them (names, descriptions from `tools/*.yaml`, JSON
//! Schemas from the argument types, compacted for small models), and what a call the
//! model makes is taken to mean: unknown, unreadable, a question back, or ready.

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Map, Value};

use crate::actions::spec::{ActionKind, ToolSpec};
use crate::domain::ToolName;
use crate::engine::alias::{AliasTable, missing_args_question};
use crate::engine::intent::{Clarification, ToolCall};
use crate::platform::catalog::{Catalog, Resolved};

use super::grounding::Grounding;
use super::schema::compact_schema;
use crate::engine::alias::integer_properties;

/// Examples per tool in its description: enough to anchor the phrasing, cheap in tokens.
const EXAMPLES: usize = 2;

struct Tool {
    spec: ToolSpec,
    definition: ChatCompletionTools,
    /// Integer arguments: small models often send them as strings.
    integers: Vec<String>,
    /// How a user asks for it, from `tools/*.yaml`.
    example: Option<String>,
}

pub struct ToolBox {
    tools: Vec<Tool>,
    definitions_json: String,
}

/// What a tool call from the model comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpreted {
    /// No such tool: refused.
    Unknown { name: String },
    /// The arguments are not a JSON object.
    Unreadable { tool: ToolName, error: String },
    /// Required arguments missing or unsettled: ask the user.
    Ask(Clarification),
    /// A required name the user never gave, or one the catalog does not know: the
    /// model made it up or misread the request.
    Ungrounded(Ungrounded),
    /// Arguments cleaned and in canonical catalog names; typed parsing is still to come.
    Ready { call: ToolCall, kind: ActionKind },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ungrounded {
    pub tool: ToolName,
    pub arg: String,
    pub value: String,
    /// Whether the catalog knows the name (then the user just never said it).
    pub in_catalog: bool,
    /// The arguments without it, for the question if the repair fails too.
    pub args: Map<String, Value>,
}

impl ToolBox {
    pub fn new(specs: Vec<ToolSpec>, aliases: &AliasTable) -> Self {
        let tools: Vec<Tool> = specs
            .into_iter()
            .map(|spec| {
                let description = describe(&spec, aliases);
                let parameters = compact_schema(&spec.schema);
                let integers = integer_properties(&parameters);
                let example = aliases
                    .get(spec.name.as_str())
                    .and_then(|a| a.examples.first().cloned());
                let definition = ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: spec.name.as_str().to_owned(),
                        description: Some(description),
                        parameters: Some(parameters),
                        strict: None,
                    },
                });
                Tool {
                    spec,
                    definition,
                    integers,
                    example,
                }
            })
            .collect();
        let definitions_json =
            serde_json::to_string(&tools.iter().map(|t| &t.definition).collect::<Vec<_>>())
                .unwrap_or_default();
        Self {
            tools,
            definitions_json,
        }
    }

    pub fn definitions(&self) -> Vec<ChatCompletionTools> {
        self.tools.iter().map(|t| t.definition.clone()).collect()
    }

    /// The definitions' size in the prompt.
    pub fn tokens(&self) -> usize {
        super::budget::estimate(&self.definitions_json)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|t| t.spec.name.as_str()).collect()
    }

    pub fn mutations(&self) -> Vec<&'static str> {
        self.tools
            .iter()
            .filter(|t| t.spec.kind == ActionKind::Mutate)
            .map(|t| t.spec.name.as_str())
            .collect()
    }

    fn find(&self, name: &str) -> Option<&Tool> {
        // Some servers prefix the namespace ("functions.status"); models vary the case.
        let name = name.trim();
        let name = name.strip_prefix("functions.").unwrap_or(name);
        self.tools
            .iter()
            .find(|t| t.spec.name.as_str().eq_ignore_ascii_case(name))
    }

    pub fn is_known(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The tool a wire name means and what kind of action it is.
    pub fn kind(&self, name: &str) -> Option<(ToolName, ActionKind)> {
        self.find(name).map(|t| (t.spec.name, t.spec.kind))
    }

    /// How a user would ask for the tool, for replies that say how.
    pub fn example(&self, name: ToolName) -> Option<&str> {
        self.tools
            .iter()
            .find(|t| t.spec.name == name)
            .and_then(|t| t.example.as_deref())
    }

    /// What the model's call `name(raw_args)` comes to. `grounded` knows what the user
    /// has named in this thread: a service, team or subject they never named is not
    /// taken (a required one goes back for repair, an optional one is dropped), and an
    /// environment they never named is dropped, so a change never goes to an
    /// environment only the model came up with (or read in some tool output).
    pub fn interpret(
        &self,
        name: &str,
        raw_args: &str,
        catalog: &Catalog,
        grounded: &Grounding,
    ) -> Interpreted {
        let Some(tool) = self.find(name) else {
            return Interpreted::Unknown {
                name: name.to_owned(),
            };
        };
        let spec = &tool.spec;
        let mut args = match parse_object(raw_args) {
            Ok(a) => a,
            Err(error) => {
                return Interpreted::Unreadable {
                    tool: spec.name,
                    error,
                };
            }
        };
        clean(&mut args, spec, &tool.integers);
        let mutation = spec.kind == ActionKind::Mutate;
        let mut unsure: Vec<(String, Vec<String>)> = Vec::new();
        for key in ["service", "team", "subject"] {
            let Some(Value::String(raw)) = args.get(key).cloned() else {
                continue;
            };
            let settled = settle_name(catalog, key, &raw, mutation);
            let in_catalog = !matches!(settled, Settled::Keep);
            match settled {
                Settled::Known(name) => {
                    args.insert(key.to_owned(), Value::String(name));
                }
                Settled::Unsure(candidates) => {
                    args.remove(key);
                    unsure.push((key.to_owned(), candidates));
                }
                Settled::Keep => {}
            }
            if let Some(Value::String(value)) = args.get(key).cloned()
                && (!in_catalog || !grounded.names(catalog, key, &value))
            {
                args.remove(key);
                if spec.required.iter().any(|r| r == key) {
                    return Interpreted::Ungrounded(Ungrounded {
                        tool: spec.name,
                        arg: key.to_owned(),
                        value,
                        in_catalog,
                        args,
                    });
                }
                tracing::debug!(tool = spec.name.as_str(), arg = key, %value, "dropped a name the user did not give");
            }
        }
        // Numbers too: "scale ledger in prod" has no replica count to take.
        for key in &tool.integers {
            if let Some(n) = args.get(key).and_then(Value::as_u64)
                && !grounded.has_integer(key, n)
            {
                tracing::debug!(tool = spec.name.as_str(), arg = %key, n, "dropped a number the user did not give");
                args.remove(key);
            }
        }
        // A read may look anywhere, but not somewhere nobody asked about; a change's
        // environment, required, becomes a question when it was not named.
        if let Some(Value::String(env)) = args.get("environment")
            && !grounded.has(env)
            && (mutation || !spec.required.iter().any(|r| r == "environment"))
        {
            tracing::info!(tool = spec.name.as_str(), environment = %env, "dropped an environment the user did not name");
            args.remove("environment");
        }
        let missing: Vec<String> = spec
            .required
            .iter()
            .filter(|a| !args.contains_key(a.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Interpreted::Ready {
                call: ToolCall {
                    tool: spec.name,
                    args,
                },
                kind: spec.kind,
            };
        }
        let question = match unsure.first() {
            Some((arg, candidates)) => candidates_question(arg, candidates),
            None => missing_args_question(spec.name.as_str(), &args, &missing),
        };
        Interpreted::Ask(Clarification {
            tool: spec.name,
            args,
            missing,
            question,
            choices: Vec::new(),
        })
    }
}

enum Settled {
    Known(String),
    Unsure(Vec<String>),
    /// Not in the catalog: left as written, for the action to report.
    Keep,
}

/// A service or team name as the catalog spells it. A typo is fine for a read and a
/// question for a change; several matches are always a question.
fn settle_name(catalog: &Catalog, key: &str, raw: &str, mutation: bool) -> Settled {
    let resolved = match key {
        "service" => catalog.resolve_service(raw).map(|s| s.name.to_string()),
        "team" => catalog.resolve_team(raw).map(|t| t.name.to_string()),
        // The subject stays what the user named (a team or a service), spelled as the catalog does.
        _ => match catalog.resolve_team(raw).map(|t| t.name.to_string()) {
            Resolved::Exact(t) => Resolved::Exact(t),
            _ => match catalog.resolve_service(raw).map(|s| s.name.to_string()) {
                Resolved::Exact(s) => Resolved::Exact(s),
                _ => Resolved::NotFound,
            },
        },
    };
    match resolved {
        Resolved::Exact(name) => Settled::Known(name),
        Resolved::Fuzzy(name) if !mutation => Settled::Known(name),
        Resolved::Fuzzy(name) => Settled::Unsure(vec![name]),
        Resolved::Ambiguous(names) => Settled::Unsure(names),
        Resolved::NotFound => Settled::Keep,
    }
}

fn candidates_question(arg: &str, candidates: &[String]) -> String {
    let what = if arg == "subject" {
        "team or service"
    } else {
        arg
    };
    match candidates {
        [one] => format!("Did you mean {one}? Reply with the {what} name to go ahead."),
        many => format!("Which {what} do you mean: {}?", many.join(", ")),
    }
}

/// The arguments as a JSON object. Models send `""` for no arguments, and some wrap
/// the object in a string once more.
fn parse_object(raw: &str) -> Result<Map<String, Value>, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "null" {
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("not valid JSON ({e})"))?;
    let value = match value {
        Value::String(inner) => {
            serde_json::from_str(&inner).map_err(|e| format!("not valid JSON ({e})"))?
        }
        v => v,
    };
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "expected a JSON object of arguments, got `{other}`"
        )),
    }
}

/// Drops what cannot be meant (nulls, empty strings, arguments the tool does not take)
/// and turns numeric strings into numbers where the schema wants integers.
fn clean(args: &mut Map<String, Value>, spec: &ToolSpec, integers: &[String]) {
    args.retain(|k, v| {
        let takes = spec.required.contains(k) || spec.optional.contains(k);
        if !takes {
            tracing::debug!(tool = spec.name.as_str(), arg = %k, "dropped an argument the tool does not take");
        }
        let empty = v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
        takes && !empty
    });
    for key in integers {
        if let Some(Value::String(s)) = args.get(key)
            && let Ok(n) = s.trim().parse::<u64>()
        {
            args.insert(key.clone(), Value::from(n));
        }
    }
}

/// The tool's description for the model: the platform team's words and a few examples.
fn describe(spec: &ToolSpec, aliases: &AliasTable) -> String {
    let Some(a) = aliases.get(spec.name.as_str()) else {
        return spec.name.as_str().replace('_', " ");
    };
    let mut text = a.description.trim().to_owned();
    if spec.kind == ActionKind::Mutate && !text.contains("confirm") {
        text.push_str(" Only proposes the change; a person confirms it.");
    }
    let examples: Vec<String> = a
        .examples
        .iter()
        .take(EXAMPLES)
        .map(|e| format!("\"{e}\""))
        .collect();
    if !examples.is_empty() {
        text.push_str(&format!(" E.g. {}.", examples.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::spec::all_tools;

    fn toolbox() -> ToolBox {
        ToolBox::new(all_tools(), &AliasTable::builtin())
    }

    fn ready(i: Interpreted) -> ToolCall {
        match i {
            Interpreted::Ready { call, .. } => call,
            other => panic!("not ready: {other:?}"),
        }
    }

    #[test]
    fn schemas_are_compact_and_self_contained() {
        let tb = toolbox();
        let json = &tb.definitions_json;
        for absent in ["$ref", "$defs", "$schema", "\"null\"", "uint"] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
        let defs = serde_json::to_value(tb.definitions()).unwrap();
        let scale = defs
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["function"]["name"] == "scale_deployment")
            .unwrap();
        let params = &scale["function"]["parameters"];
        assert_eq!(params["type"], "object");
        assert_eq!(params["properties"]["replicas"]["type"], "integer");
        assert_eq!(params["properties"]["environment"]["type"], "string");
        assert_eq!(
            params["required"],
            serde_json::json!(["service", "environment", "replicas"])
        );
        assert!(
            scale["function"]["description"]
                .as_str()
                .unwrap()
                .contains("E.g.")
        );
        // Eleven tools fit comfortably in a small model's context.
        assert!(tb.tokens() < 2500, "{} tokens", tb.tokens());
    }

    #[test]
    fn names_are_settled_against_the_catalog() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["status of payments api in production"]);
        let call = ready(tb.interpret(
            "deployment_status",
            r#"{"service": "Payments API", "environment": "production", "extra": 1}"#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["service"], "payments-api");
        assert_eq!(call.args["environment"], "production");
        assert!(!call.args.contains_key("extra"));
    }

    #[test]
    fn numbers_in_strings_and_wrapped_objects_are_read() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["scale cart to 5 in prod"]);
        let call = ready(tb.interpret(
            "Scale_Deployment",
            r#""{\"service\":\"cart\",\"environment\":\"prod\",\"replicas\":\"5\"}""#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["replicas"], 5);
    }

    #[test]
    fn a_change_never_goes_to_an_environment_the_user_did_not_name() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["restart cart"]);
        match tb.interpret(
            "restart_deployment",
            r#"{"service":"cart","environment":"prod"}"#,
            &catalog,
            &g,
        ) {
            Interpreted::Ask(c) => {
                assert_eq!(c.missing, ["environment"]);
                assert!(c.question.contains("environment"), "{}", c.question);
                assert_eq!(c.args["service"], "cart");
            }
            other => panic!("{other:?}"),
        }
        let g = Grounding::from_texts(["restart cart in prd"]);
        ready(tb.interpret(
            "restart_deployment",
            r#"{"service":"cart","environment":"prod"}"#,
            &catalog,
            &g,
        ));
        // A read goes to every environment rather than one nobody named.
        let call = ready(tb.interpret(
            "deployment_status",
            r#"{"service":"cart","environment":"prod"}"#,
            &catalog,
            &Grounding::from_texts(["how is cart"]),
        ));
        assert!(!call.args.contains_key("environment"));
    }

    #[test]
    fn names_the_user_never_gave_are_not_taken() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["how do I add a readiness probe?"]);
        match tb.interpret(
            "diagnose",
            r#"{"service":"payments-api","environment":"dev"}"#,
            &catalog,
            &g,
        ) {
            Interpreted::Ungrounded(Ungrounded { arg, value, .. }) => {
                assert_eq!((arg.as_str(), value.as_str()), ("service", "payments-api"));
            }
            other => panic!("{other:?}"),
        }
        // Optional ones are dropped: every team, every environment.
        let g = Grounding::from_texts(["what runs in staging?"]);
        let call = ready(tb.interpret(
            "list_deployments",
            r#"{"team":"payments","environment":"prod"}"#,
            &catalog,
            &g,
        ));
        assert!(call.args.is_empty(), "{:?}", call.args);
        // Titles, parts, typos and earlier calls count as named.
        for (text, service) in [
            ("is the payments api up", "payments-api"),
            ("how is payments doing", "payments-api"),
            ("status of the mobile bff", "mobile-bff"),
            ("status of chekout-api", "checkout-api"),
        ] {
            let g = Grounding::from_texts([text]);
            let args = format!(r#"{{"service":"{service}"}}"#);
            ready(tb.interpret("deployment_status", &args, &catalog, &g));
        }
        let mut g = Grounding::from_texts(["and the logs?"]);
        g.add_name("cart");
        ready(tb.interpret("pod_logs", r#"{"service":"cart"}"#, &catalog, &g));
    }

    #[test]
    fn a_revision_is_only_one_the_user_gave_as_a_revision() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        // "one" and "50" are numbers the user wrote, but not revisions.
        let mut g = Grounding::from_texts([
            "show me the last 50 lines of search logs in staging",
            "roll back search in staging, the one that is crashing",
        ]);
        for revision in [1, 50] {
            let args =
                format!(r#"{{"service":"search","environment":"staging","revision":{revision}}}"#);
            let call = ready(tb.interpret("rollback_deployment", &args, &catalog, &g));
            assert!(!call.args.contains_key("revision"), "{revision}");
        }
        g.add_revision(2);
        let call = ready(tb.interpret(
            "rollback_deployment",
            r#"{"service":"search","environment":"staging","revision":2}"#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["revision"], 2);
        // Other numbers are still read from the user's words.
        let call = ready(tb.interpret(
            "pod_logs",
            r#"{"service":"search","lines":50}"#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["lines"], 50);
    }

    #[test]
    fn environments_inside_names_count() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["provision namespace data-platform-stage"]);
        let call = ready(tb.interpret(
            "create_namespace",
            r#"{"team":"data-platform","environment":"staging"}"#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["environment"], "staging");
    }

    #[test]
    fn unknown_tools_and_unreadable_arguments_are_reported() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::default();
        assert_eq!(
            tb.interpret("delete_namespace", "{}", &catalog, &g),
            Interpreted::Unknown {
                name: "delete_namespace".into()
            }
        );
        assert!(matches!(
            tb.interpret("create_namespace", "{team: payments", &catalog, &g),
            Interpreted::Unreadable { .. }
        ));
        assert!(matches!(
            tb.interpret("create_namespace", "[1, 2]", &catalog, &g),
            Interpreted::Unreadable { .. }
        ));
        assert!(tb.is_known("functions.deployment_status"));
    }

    #[test]
    fn a_typo_is_fine_for_a_read_and_a_question_for_a_change() {
        let tb = toolbox();
        let catalog = Catalog::sandbox();
        let g = Grounding::from_texts(["is checkout-apy ok in prod"]);
        let call = ready(tb.interpret(
            "deployment_status",
            r#"{"service":"checkout-apy"}"#,
            &catalog,
            &g,
        ));
        assert_eq!(call.args["service"], "checkout-api");
        match tb.interpret(
            "restart_deployment",
            r#"{"service":"checkout-apy","environment":"prod"}"#,
            &catalog,
            &g,
        ) {
            Interpreted::Ask(c) => assert!(c.question.contains("checkout-api"), "{}", c.question),
            other => panic!("{other:?}"),
        }
    }
}
