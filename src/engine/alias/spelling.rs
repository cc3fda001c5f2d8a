//! Spelling correction against the planner's own vocabulary: pattern words and
//! catalog names ("namesapce", "deploymnets", "recomendations"). Only words the
//! vocabulary does not know are corrected, and only to a single closest target.

use std::collections::{BTreeMap, HashSet};

use crate::platform::catalog::typo_budget;

use super::text::Word;

/// Ordinary words that sit one edit away from a catalog name or a pattern word
/// ("identify" / identity, "sending" / pending) and must stay what they are.
const COMMON_WORDS: &[&str] = &[
    "identify",
    "identified",
    "sending",
    "spending",
    "lending",
    "bending",
    "ending",
    "tending",
    "score",
    "scores",
    "story",
    "stone",
    "stare",
    "storm",
    "starch",
    "worked",
    "indexes",
    "indexed",
    "invest",
    "storing",
    "scaring",
    "wealthy",
    "restate",
    "decently",
    "profess",
    "crushing",
    "clashing",
    "cunning",
    "hovering",
    "lodging",
    "jogging",
    "feathers",
    "prying",
    "broker",
    "brokers",
    "stale",
    "there",
    "where",
    "their",
    "these",
    "those",
    "which",
    "while",
    "would",
    "could",
    "should",
    "thanks",
    "please",
    "today",
    "tonight",
    "morning",
    "someone",
    "anyone",
    "nobody",
    "everyone",
    "weather",
    "meeting",
    "lunch",
    "coffee",
    "pricey",
];

/// Endings that make a known word into another known word ("restarts", "created").
const INFLECTIONS: &[&str] = &["s", "es", "ed", "d", "ing", "er", "ers", "ly"];

/// Words shorter than this are never corrected: too many real words are one edit apart.
const MIN_LEN: usize = 5;

/// Letter counts: `a`-`z`, `0`-`9` and one slot for anything else.
type Bag = [u8; 37];

fn bag(word: &str) -> Bag {
    let mut bag = [0u8; 37];
    for c in word.chars() {
        let slot = match c {
            'a'..='z' => c as usize - 'a' as usize,
            '0'..='9' => 26 + (c as usize - '0' as usize),
            _ => 36,
        };
        bag[slot] = bag[slot].saturating_add(1);
    }
    bag
}

/// A lower bound on twice the edit distance: each edit changes the counts by at most 2.
fn bag_distance(a: &Bag, b: &Bag) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| usize::from(x.abs_diff(*y)))
        .sum()
}

struct Target {
    text: String,
    bag: Bag,
}

pub(crate) struct Speller {
    known: HashSet<String>,
    /// Targets by length in characters: a word is only compared with targets whose
    /// length is within its typo budget, which keeps correction to a few dozen comparisons.
    targets: BTreeMap<usize, Vec<Target>>,
}

impl Speller {
    /// `known` words are left alone; `targets` are what unknown words may be corrected to.
    pub fn new(
        known: impl IntoIterator<Item = String>,
        targets: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut known: HashSet<String> = known.into_iter().collect();
        known.extend(COMMON_WORDS.iter().map(|w| (*w).to_owned()));
        let mut targets: Vec<String> = targets
            .into_iter()
            .filter(|t| t.chars().count() >= MIN_LEN)
            .collect();
        targets.sort();
        targets.dedup();
        let mut by_len: BTreeMap<usize, Vec<Target>> = BTreeMap::new();
        for text in targets {
            known.insert(text.clone());
            let target = Target {
                bag: bag(&text),
                text,
            };
            by_len
                .entry(target.text.chars().count())
                .or_default()
                .push(target);
        }
        Self {
            known,
            targets: by_len,
        }
    }

    pub fn correct_all(&self, words: &mut [Word]) {
        for word in words.iter_mut() {
            if let Some(fixed) = self.correct(&word.text) {
                word.text = fixed.to_owned();
                word.corrected = true;
            }
        }
    }

    fn is_known(&self, word: &str) -> bool {
        if self.known.contains(word) {
            return true;
        }
        INFLECTIONS.iter().any(|suffix| {
            word.strip_suffix(suffix).is_some_and(|stem| {
                self.known.contains(stem) || self.known.contains(&format!("{stem}e"))
            })
        })
    }

    /// The single closest target within the typo budget of the shorter of the two words.
    fn correct(&self, word: &str) -> Option<&str> {
        let len = word.chars().count();
        if len < MIN_LEN || word.bytes().any(|b| b.is_ascii_digit()) || self.is_known(word) {
            return None;
        }
        let mut best: Option<(usize, &str)> = None;
        let mut tie = false;
        let word_bag = bag(word);
        let widest = typo_budget(len);
        let candidates = self
            .targets
            .range(len.saturating_sub(widest)..=len + widest);
        for (&target_len, target) in candidates.flat_map(|(l, ts)| ts.iter().map(move |t| (l, t))) {
            let budget = typo_budget(len.min(target_len));
            if len.abs_diff(target_len) > budget
                || bag_distance(&word_bag, &target.bag) > 2 * budget
            {
                continue;
            }
            let target = target.text.as_str();
            let d = strsim::osa_distance(word, target);
            if d > budget {
                continue;
            }
            match best {
                Some((bd, _)) if d > bd => {}
                Some((bd, _)) if d == bd => tie = true,
                _ => {
                    best = Some((d, target));
                    tie = false;
                }
            }
        }
        best.filter(|_| !tie).map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speller() -> Speller {
        let known = ["restart", "logs", "create"].map(String::from);
        let targets = [
            "namespace",
            "deployments",
            "recommendations",
            "checkout-api",
            "identity",
            "restart",
        ]
        .map(String::from);
        Speller::new(known, targets)
    }

    #[test]
    fn typos_are_corrected_to_the_closest_target() {
        let s = speller();
        assert_eq!(s.correct("namesapce"), Some("namespace"));
        assert_eq!(s.correct("deploymnets"), Some("deployments"));
        assert_eq!(s.correct("recomendations"), Some("recommendations"));
        assert_eq!(s.correct("checkout-apy"), Some("checkout-api"));
        assert_eq!(s.correct("restrat"), Some("restart"));
    }

    #[test]
    fn known_words_inflections_and_common_words_stay() {
        let s = speller();
        for w in [
            "restart",
            "restarts",
            "restarted",
            "created",
            "creating",
            "identify",
            "logs",
            "cart",
        ] {
            assert_eq!(s.correct(w), None, "{w}");
        }
    }
}
