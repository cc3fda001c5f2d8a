//! The planner's reading of a message as the intent classifier sees it: catalog
//! names, environments and numbers masked to slots, and the training set built the
//! same way from the example templates (`tools/examples/*.txt`) and the `examples`
//! of `tools/*.yaml`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{ToolName, canonical_environment};
use crate::engine::nlu::{
    Classifier, Corpus, Example, NONE_LABEL, Nearest, Part, Phrasing, Prediction, Slot, Token,
    Utterance,
};

use super::mentions::{Kind, Mention};
use super::table::AliasTable;
use super::text::Message;
use super::{AliasPlanner, Features, ToolInfo};

/// The trained classifier with its labels: the planner's tools, then [`NONE_LABEL`].
pub(crate) struct Understanding {
    pub model: Arc<Classifier>,
    /// The examples by nearness to a message, for the LLM planner's few-shot hint.
    pub nearest: Arc<Nearest>,
    /// How long training took (zero when the process had already trained on the same set).
    pub trained_in: Duration,
    pub examples: usize,
}

/// The training set: the examples, their labels and the template line each came from.
pub struct TrainingSet {
    pub labels: Vec<String>,
    pub examples: Vec<Example>,
    /// Examples from the same template line share a group (for grouped cross-validation).
    pub groups: Vec<usize>,
}

/// Words that stand for a value in a template while it is read (never typed by users).
fn sentinel(i: usize) -> String {
    format!("zzslot{i}zz")
}

impl AliasPlanner {
    /// The message masked for the classifier; a name that may be a service or a team
    /// and has no hint around it is read as `ambiguous`.
    pub(crate) fn utterance(&self, f: &Features, ambiguous: Slot) -> Utterance {
        let words = &f.msg.words;
        let mut tokens = Vec::with_capacity(words.len());
        let mut i = 0;
        while i < words.len() {
            if let Some(m) = f.mentions.iter().find(|m| m.start == i) {
                tokens.push(Token::Slot(mention_slot(m, ambiguous)));
                // `checkout-staging`: the name and the environment in one word.
                let shorthand = m.end == i + 1
                    && words[i]
                        .text
                        .rsplit_once('-')
                        .is_some_and(|(_, env)| canonical_environment(env).is_some());
                if shorthand {
                    tokens.push(Token::Slot(Slot::Environment));
                }
                i = m.end.max(i + 1);
            } else if let Some(n) = f
                .numbers
                .iter()
                .find(|n| n.start == i && (n.digits || n.value >= 2))
            {
                tokens.push(Token::Slot(Slot::Number));
                i = n.end.max(i + 1);
            } else if canonical_environment(&words[i].text).is_some() {
                tokens.push(Token::Slot(Slot::Environment));
                i += 1;
            } else {
                tokens.push(Token::word(words[i].text.clone()));
                i += 1;
            }
        }
        Utterance {
            tokens,
            question: f.msg.question,
        }
    }

    /// The class probabilities of a message. A name that may be a service or a team
    /// is read both ways; the more confident reading wins.
    pub(crate) fn predict(&self, f: &Features) -> Prediction {
        let model = &self.understanding.model;
        let as_service = model.predict(&self.utterance(f, Slot::Service));
        let ambiguous = f
            .mentions
            .iter()
            .any(|m| m.service && m.team && m.hint.is_none());
        if !ambiguous {
            return as_service;
        }
        let as_team = model.predict(&self.utterance(f, Slot::Team));
        if as_team.top().1 > as_service.top().1 {
            as_team
        } else {
            as_service
        }
    }

    /// Up to `k` training examples nearest to `text`, one per label, best first: the
    /// masked words and their tool (`None`: not a platform request).
    pub fn similar_examples(&self, text: &str, k: usize) -> Vec<(String, Option<ToolName>)> {
        let f = self.read(text);
        self.understanding
            .nearest
            .find(&self.utterance(&f, Slot::Service), k)
            .into_iter()
            .map(|n| {
                let tool = self.label_tool(n.label).map(|t| self.tools[t].spec.name);
                (n.text, tool)
            })
            .collect()
    }

    /// The tool of a label index; `None` for [`NONE_LABEL`].
    pub(crate) fn label_tool(&self, label: usize) -> Option<usize> {
        (label < self.tools.len()).then_some(label)
    }

    /// The training set this planner learns from.
    pub fn training_set(&self, table: &AliasTable) -> TrainingSet {
        training_set(self, &self.tools, table)
    }

    /// How many examples the classifier learnt from, and how long training took.
    pub fn training_summary(&self) -> (usize, Duration) {
        (self.understanding.examples, self.understanding.trained_in)
    }
}

fn mention_slot(m: &Mention, ambiguous: Slot) -> Slot {
    match (m.can_be(Kind::Service), m.can_be(Kind::Team)) {
        (true, false) => Slot::Service,
        (false, true) => Slot::Team,
        _ => ambiguous,
    }
}

/// Labels in the planner's tool order, then `none`.
pub(crate) fn labels(tools: &[ToolInfo]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t.spec.name.as_str().to_owned())
        .chain(std::iter::once(NONE_LABEL.to_owned()))
        .collect()
}

pub(crate) fn training_set(
    p: &AliasPlanner,
    tools: &[ToolInfo],
    table: &AliasTable,
) -> TrainingSet {
    let labels = labels(tools);
    let mut set = TrainingSet {
        labels,
        examples: Vec::new(),
        groups: Vec::new(),
    };
    let corpus: &Corpus = table.corpus();
    let phrasings = corpus.phrasings();
    let mut next_group = phrasings.iter().map(|ph| ph.group + 1).max().unwrap_or(0);
    for ph in &phrasings {
        let Some(label) = set.labels.iter().position(|l| *l == ph.label) else {
            continue;
        };
        set.examples.push(Example {
            utterance: p.template_utterance(ph),
            label,
        });
        set.groups.push(ph.group);
    }
    // The tools' own examples are read like any message, catalog names included.
    for t in table.iter() {
        let Some(label) = set.labels.iter().position(|l| *l == t.name) else {
            continue;
        };
        for text in &t.examples {
            let f = p.read(text);
            set.examples.push(Example {
                utterance: p.utterance(&f, Slot::Service),
                label,
            });
            set.groups.push(next_group);
            next_group += 1;
        }
    }
    set
}

impl AliasPlanner {
    /// A template variant read like a message (spelling included), its slots masked.
    fn template_utterance(&self, ph: &Phrasing) -> Utterance {
        let mut text = String::new();
        let mut slots = Vec::new();
        for part in &ph.parts {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::Value(arg) => {
                    text.push_str(&format!(" {} ", sentinel(slots.len())));
                    slots.push(arg.slot(ph.variant));
                }
            }
        }
        let mut msg = Message::new(&text);
        self.speller.correct_all(&mut msg.words);
        let masked = Features {
            numbers: super::numbers::find(&msg.words),
            mentions: Vec::new(),
            envs: Vec::new(),
            msg,
        };
        let mut u = self.utterance(&masked, Slot::Service);
        for t in &mut u.tokens {
            let slot = match t {
                Token::Word(w) => (0..slots.len()).find(|i| *w == sentinel(*i)),
                Token::Slot(_) => None,
            };
            if let Some(i) = slot {
                *t = Token::Slot(slots[i]);
            }
        }
        u
    }
}

/// Trains the classifier for `set`, timing it.
pub(crate) fn understand(set: &TrainingSet) -> Understanding {
    let started = Instant::now();
    let (done, fresh) = crate::engine::nlu::trained(&set.labels, &set.examples);
    Understanding {
        model: done.model,
        nearest: done.nearest,
        trained_in: if fresh {
            started.elapsed()
        } else {
            Duration::ZERO
        },
        examples: set.examples.len(),
    }
}
