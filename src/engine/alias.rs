//! The planner without an LLM: a chat message to an [`Intent`], from an intent
//! classifier trained at start on the team's example phrasings (`tools/examples/`,
//! [`crate::engine::nlu`]) and the names in the service catalog. Synchronous, pure
//! and fast (tens of microseconds per message), so it also serves as the LLM's fallback.
//!
//! One message goes through: [`text`] (mentions, emoji, punctuation out; words in)
//! -> [`spelling`] (typos of known words fixed) -> [`mentions`] (catalog names,
//! environments) and [`numbers`] -> [`understand`] (names masked, class
//! probabilities) -> [`choose`] (which tool, or a question, or none) -> [`fill`] (its
//! arguments; call or ask back). [`followup`] reads a message against the thread
//! first: the answer to a pending question, "and in staging?", "restart it". [`change`]
//! tells the LLM planner whether a message asks for a change at all, from the hand
//! patterns of `tools/*.yaml` as well as the planner's reading.

mod change;
mod choose;
mod fill;
mod followup;
mod mentions;
mod numbers;
mod patterns;
mod reply;
mod spelling;
mod table;
mod text;
mod understand;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::actions::spec::{ActionKind, ToolSpec};
use crate::engine::intent::{Intent, PlanContext};
use crate::engine::nlu;
use crate::engine::words::{nothing_pending, proposal_reply};
use crate::platform::catalog::Catalog;

use choose::Choice;
use mentions::{EntityIndex, Mention};
use numbers::Number;
use patterns::PatternIndex;
use spelling::Speller;
use text::Message;

pub(crate) use numbers::small_or_tens as number_word;
pub use table::{AliasError, AliasTable, ToolAliases};
pub use understand::TrainingSet;

/// The question for a tool's missing arguments, worded as the alias planner words it
/// (the LLM planner asks the same way).
pub(crate) fn missing_args_question(
    tool: &str,
    args: &Map<String, Value>,
    missing: &[String],
) -> String {
    reply::question(tool, args, missing, &[])
}

/// The question whether one of `tools` (one or two) was meant, worded as the planner
/// words it when it is unsure.
pub(crate) fn which_question(tools: &[&str], args: &Map<String, Value>) -> String {
    reply::which(tools, args)
}

/// Messages are cut here before planning: nobody asks for a restart in a novel, and
/// the planner must stay fast whatever arrives.
const MAX_MESSAGE_CHARS: usize = 2_000;
/// Pattern words at least this long are spelling targets ("namesapce" -> namespace);
/// shorter ones have too many real English neighbours ("stale" / scale).
const MIN_PATTERN_TARGET_LEN: usize = 7;
/// Environment words are spelling targets too ("prodcution", "stagging").
const ENVIRONMENT_WORDS: &[&str] = &["production", "staging", "development", "develop"];

/// How the planner read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A change no action makes ("delete ..."): refused.
    Unsupported,
    /// From the thread: the answer to a pending question, a follow-up ("and in staging?"),
    /// a "yes" with nothing waiting.
    Thread,
    /// From the intent classifier's probabilities.
    Classifier,
}

/// The planner's intent for a message and the classifier's view of it.
#[derive(Debug, Clone)]
pub struct Reading {
    pub intent: Intent,
    pub source: Source,
    /// Tools from the most to the least likely (`None`: not a platform request), for
    /// [`Source::Classifier`] readings; empty otherwise.
    pub ranked: Vec<(Option<&'static str>, f32)>,
}

impl Reading {
    /// The classifier's probability for `tool` (`None`: not a platform request).
    pub fn probability(&self, tool: Option<&str>) -> f32 {
        self.ranked
            .iter()
            .find(|(t, _)| *t == tool)
            .map_or(0.0, |(_, p)| *p)
    }
}

/// A tool as the planner sees it.
pub(crate) struct ToolInfo {
    spec: ToolSpec,
    /// Integer arguments (`replicas`, `lines`, `revision`), from the schema.
    numeric: Vec<String>,
}

impl ToolInfo {
    fn new(spec: ToolSpec) -> Self {
        let numeric = integer_properties(&spec.schema);
        Self { spec, numeric }
    }
    fn takes(&self, arg: &str) -> bool {
        self.requires(arg) || self.spec.optional.iter().any(|a| a == arg)
    }
    fn requires(&self, arg: &str) -> bool {
        self.spec.required.iter().any(|a| a == arg)
    }
    fn is_mutation(&self) -> bool {
        self.spec.kind == ActionKind::Mutate
    }
    /// The docs search: the tool that takes the user's words as its query.
    fn is_docs(&self) -> bool {
        self.requires("query")
    }
}

/// Property names whose JSON Schema type is integer (`"integer"` or `["integer", "null"]`).
pub(crate) fn integer_properties(schema: &Value) -> Vec<String> {
    let is_integer = |p: &Value| match p.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    };
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| is_integer(p))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// What the planner reads from one message.
pub(crate) struct Features {
    msg: Message,
    mentions: Vec<Mention>,
    envs: Vec<&'static str>,
    numbers: Vec<Number>,
}

pub struct AliasPlanner {
    tools: Vec<ToolInfo>,
    patterns: PatternIndex,
    speller: Speller,
    entities: EntityIndex,
    catalog: Arc<Catalog>,
    understanding: understand::Understanding,
    /// What it says it can do, from the specs of its tools.
    can: reply::Capabilities,
}

impl AliasPlanner {
    /// `tools` is what the planner may choose from; aliases of other tools are ignored.
    /// Trains the intent classifier on the table's examples (once per process for the
    /// same tools and examples).
    pub fn new(tools: Vec<ToolSpec>, aliases: AliasTable, catalog: Arc<Catalog>) -> Self {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        let can = reply::Capabilities::of(&tools);
        let patterns = PatternIndex::new(&names, &aliases);
        let entities = EntityIndex::new(&catalog);
        let pattern_words: Vec<String> = patterns.vocabulary().collect();
        // Words of the example templates are known words too: never "corrected" away.
        let known: Vec<String> = pattern_words
            .iter()
            .cloned()
            .chain(
                aliases
                    .corpus()
                    .texts()
                    .into_iter()
                    .flat_map(text::tokenize),
            )
            .collect();
        let targets: Vec<String> = pattern_words
            .iter()
            .filter(|w| w.chars().count() >= MIN_PATTERN_TARGET_LEN)
            .cloned()
            .chain(entities.vocabulary())
            .chain(ENVIRONMENT_WORDS.iter().map(|w| (*w).to_owned()))
            .collect();
        let speller = Speller::new(known, targets);
        let tools: Vec<ToolInfo> = tools.into_iter().map(ToolInfo::new).collect();
        let untrained = nlu::Classifier::untrained(understand::labels(&tools));
        let mut planner = Self {
            tools,
            patterns,
            speller,
            entities,
            catalog,
            understanding: understand::Understanding {
                model: Arc::new(untrained),
                nearest: Arc::default(),
                trained_in: std::time::Duration::ZERO,
                examples: 0,
            },
            can,
        };
        let set = planner.training_set(&aliases);
        planner.understanding = understand::understand(&set);
        planner
    }

    /// What `text` asks for, read in the light of the thread (`ctx`).
    pub fn plan(&self, text: &str, ctx: &PlanContext) -> Intent {
        self.reading(text, ctx).intent
    }

    /// What `text` asks for, with how the planner came to it: the LLM planner's second
    /// opinion.
    pub fn reading(&self, text: &str, ctx: &PlanContext) -> Reading {
        let f = self.read(text);
        let settled = |intent: Intent, source: Source| Reading {
            intent,
            source,
            ranked: Vec::new(),
        };
        if let Some(verb) = choose::unsupported_change(&f) {
            let reply = reply::unsupported_change(verb, &self.can);
            return settled(Intent::NotPlatform { reply }, Source::Unsupported);
        }
        if let Some(intent) = ctx
            .pending
            .as_ref()
            .and_then(|p| followup::answer_pending(self, &f, p))
        {
            return settled(intent, Source::Thread);
        }
        if let Some(intent) = followup::continue_previous(self, &f, ctx) {
            return settled(intent, Source::Thread);
        }
        // A bare "yes" / "cancel" that no proposal or question of the thread was waiting
        // for (those were answered before the planner) is about nothing: say so.
        if let Some(decision) = proposal_reply(text) {
            let reply = nothing_pending(decision).to_owned();
            return settled(Intent::NotPlatform { reply }, Source::Thread);
        }
        let ranked = self.predict(&f).ranked();
        let intent = match choose::choose(self, &ranked) {
            Choice::Tool(idx) => {
                let tool = &self.tools[idx];
                fill::finish(tool, Map::new(), fill::extract(self, tool, &f))
            }
            Choice::Ask(first, second) => fill::ask_which(self, &f, first, second),
            Choice::NotPlatform => Intent::NotPlatform {
                reply: reply::not_platform(&f.msg, &self.can),
            },
        };
        let ranked = ranked
            .into_iter()
            .map(|(label, p)| {
                (
                    self.label_tool(label)
                        .map(|t| self.tools[t].spec.name.as_str()),
                    p,
                )
            })
            .collect();
        Reading {
            intent,
            source: Source::Classifier,
            ranked,
        }
    }

    /// The reply when `text` asks for a change no action makes.
    pub fn refusal(&self, text: &str) -> Option<String> {
        choose::unsupported_change(&self.read(text))
            .map(|verb| reply::unsupported_change(verb, &self.can))
    }

    fn read(&self, text: &str) -> Features {
        let text = match text.char_indices().nth(MAX_MESSAGE_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let mut msg = Message::new(text);
        self.speller.correct_all(&mut msg.words);
        let (mentions, envs) = self.entities.scan(&msg.words);
        let numbers = numbers::find(&msg.words);
        Features {
            msg,
            mentions,
            envs,
            numbers,
        }
    }

    fn tool_index(&self, name: &str) -> Option<usize> {
        self.tools.iter().position(|t| t.spec.name == *name)
    }
}

#[cfg(test)]
mod tests;
