//! Matching the alias table's phrases against a message: each tool's score is the
//! sum of the weights of its phrases found in the message, each phrase counted once.

use std::collections::HashMap;

use super::table::{AliasTable, pattern_words};
use super::text::Word;

/// How many words a `*` in a phrase may stand for.
const MAX_GAP: usize = 3;

struct Pattern {
    words: Vec<String>,
    tool: usize,
    weight: f32,
}

pub(crate) struct PatternIndex {
    patterns: Vec<Pattern>,
    /// First word -> indices into `patterns`.
    by_first: HashMap<String, Vec<usize>>,
}

impl PatternIndex {
    /// `tools` fixes the order of the scores; aliases of tools not in it are ignored.
    pub fn new(tools: &[&str], table: &AliasTable) -> Self {
        let mut patterns = Vec::new();
        for (tool, name) in tools.iter().enumerate() {
            let Some(aliases) = table.get(name) else {
                tracing::warn!(tool = name, "no alias patterns for tool");
                continue;
            };
            for (phrase, &weight) in &aliases.patterns {
                let words = pattern_words(phrase);
                if !words.is_empty() {
                    patterns.push(Pattern {
                        words,
                        tool,
                        weight,
                    });
                }
            }
        }
        let mut by_first: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in patterns.iter().enumerate() {
            by_first.entry(p.words[0].clone()).or_default().push(i);
        }
        Self { patterns, by_first }
    }

    /// Every word the phrases use.
    pub fn vocabulary(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns
            .iter()
            .flat_map(|p| p.words.iter().filter(|w| *w != "*").cloned())
    }

    /// Score per tool, in the order given to [`PatternIndex::new`].
    pub fn scores(&self, words: &[Word], tool_count: usize) -> Vec<f32> {
        let mut scores = vec![0.0; tool_count];
        let mut counted = vec![false; self.patterns.len()];
        for start in 0..words.len() {
            let Some(candidates) = self.by_first.get(&words[start].text) else {
                continue;
            };
            for &i in candidates {
                let p = &self.patterns[i];
                if !counted[i] && matches_at(&p.words, words, start) {
                    counted[i] = true;
                    if let Some(s) = scores.get_mut(p.tool) {
                        *s += p.weight;
                    }
                }
            }
        }
        scores
    }
}

/// `pattern` matches the words starting at `start`; `*` skips 0 to [`MAX_GAP`] words.
fn matches_at(pattern: &[String], words: &[Word], start: usize) -> bool {
    match pattern.split_first() {
        None => true,
        Some((head, rest)) if head == "*" => (0..=MAX_GAP)
            .any(|gap| start + gap <= words.len() && matches_at(rest, words, start + gap)),
        Some((head, rest)) => {
            words.get(start).is_some_and(|w| w.text == *head) && matches_at(rest, words, start + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::alias::table::ToolAliases;
    use crate::engine::alias::text::Message;

    fn index() -> PatternIndex {
        let mut table = AliasTable::default();
        let tool = |name: &str, patterns: &[(&str, f32)]| ToolAliases {
            name: name.into(),
            description: String::new(),
            examples: vec![],
            patterns: patterns
                .iter()
                .map(|(p, w)| ((*p).to_owned(), *w))
                .collect(),
            policy: None,
        };
        table
            .insert(
                "a",
                tool(
                    "restart",
                    &[
                        ("restart", 4.0),
                        ("cycle * pods", 3.0),
                        ("dont restart", -8.0),
                    ],
                ),
            )
            .unwrap();
        table
            .insert("b", tool("status", &[("what's up", 2.0)]))
            .unwrap();
        PatternIndex::new(&["restart", "status"], &table)
    }

    fn scores(text: &str) -> Vec<f32> {
        index().scores(&Message::new(text).words, 2)
    }

    #[test]
    fn phrases_with_gaps_match_and_count_once() {
        assert_eq!(scores("cycle the event-ingest pods"), [3.0, 0.0]);
        assert_eq!(scores("cycle pods, restart, restart!"), [7.0, 0.0]);
        assert_eq!(scores("cycle a b c d pods"), [0.0, 0.0]);
        assert_eq!(scores("What's up?"), [0.0, 2.0]);
    }

    #[test]
    fn negative_phrases_argue_against_a_tool() {
        assert_eq!(scores("don't restart cart"), [-4.0, 0.0]);
    }
}
