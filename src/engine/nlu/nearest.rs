//! The training examples nearest to a message, for the LLM planner's few-shot hint: a
//! small model chooses better when it sees how similar requests were labelled. Nearness
//! is the cosine of the classifier's own features weighted by inverse document frequency,
//! so rare words ("bounce", "stdout") count and `<service>` hardly does.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::features::{self, Token, Utterance};
use super::train::Example;

/// Below this cosine an example says little about the message and is left out.
const MIN_SIMILARITY: f32 = 0.2;

/// The examples, indexed on the first question: the index is only needed when the LLM
/// planner shows examples (`[llm] few_shot`, off by default), so a start does not pay for it.
#[derive(Debug, Clone, Default)]
pub struct Nearest {
    examples: Vec<Example>,
    index: OnceLock<Index>,
}

/// An inverted index over the examples' features.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Feature hash -> (example, weight) for every example that has the feature.
    postings: HashMap<u64, Vec<(u32, f32)>>,
    idf: HashMap<u64, f32>,
    /// Each example's masked words and label, for display.
    shown: Vec<(String, usize)>,
}

/// One example as the model is shown it.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Masked words: `restart <service> in <env>`.
    pub text: String,
    /// Index into the classifier's labels.
    pub label: usize,
    pub similarity: f32,
}

impl Nearest {
    pub fn new(examples: &[Example]) -> Self {
        Self {
            examples: examples.to_vec(),
            index: OnceLock::new(),
        }
    }

    /// Up to `k` examples nearest to `u`, one per label (the contrast between tools is
    /// what helps), best first; ties go to the earlier example.
    pub fn find(&self, u: &Utterance, k: usize) -> Vec<Neighbour> {
        if k == 0 {
            return Vec::new();
        }
        self.index
            .get_or_init(|| Index::new(&self.examples))
            .find(u, k)
    }
}

impl Index {
    fn new(examples: &[Example]) -> Self {
        let feats: Vec<Vec<u64>> = examples
            .iter()
            .map(|e| features::extract(&e.utterance))
            .collect();
        let mut df: HashMap<u64, u32> = HashMap::new();
        for f in feats.iter().flatten() {
            *df.entry(*f).or_default() += 1;
        }
        let n = examples.len().max(1) as f32;
        let idf: HashMap<u64, f32> = df
            .into_iter()
            .map(|(f, d)| (f, (n / d as f32).ln() + 1.0))
            .collect();
        let mut postings: HashMap<u64, Vec<(u32, f32)>> = HashMap::new();
        let mut shown = Vec::with_capacity(examples.len());
        // Examples are numbered in order, so posting lists are sorted and results stable.
        for (i, (f, e)) in (0u32..).zip(feats.iter().zip(examples)) {
            let norm = f.iter().map(|h| idf[h].powi(2)).sum::<f32>().sqrt();
            for h in f {
                postings.entry(*h).or_default().push((i, idf[h] / norm));
            }
            shown.push((display(&e.utterance), e.label));
        }
        Self {
            postings,
            idf,
            shown,
        }
    }

    fn find(&self, u: &Utterance, k: usize) -> Vec<Neighbour> {
        if self.shown.is_empty() {
            return Vec::new();
        }
        let query: Vec<(u64, f32)> = features::extract(u)
            .into_iter()
            .filter_map(|h| self.idf.get(&h).map(|w| (h, *w)))
            .collect();
        let norm = query.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm == 0.0 {
            return Vec::new();
        }
        let mut scores = vec![0.0f32; self.shown.len()];
        for (h, w) in &query {
            for (doc, dw) in self.postings.get(h).into_iter().flatten() {
                scores[*doc as usize] += w / norm * dw;
            }
        }
        let mut order: Vec<usize> = (0..scores.len())
            .filter(|i| scores[*i] >= MIN_SIMILARITY)
            .collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        let mut out: Vec<Neighbour> = Vec::with_capacity(k);
        for i in order {
            let (text, label) = &self.shown[i];
            if out.iter().any(|n| n.label == *label) {
                continue;
            }
            out.push(Neighbour {
                text: text.clone(),
                label: *label,
                similarity: scores[i],
            });
            if out.len() == k {
                break;
            }
        }
        out
    }
}

fn display(u: &Utterance) -> String {
    let words: Vec<&str> = u.tokens.iter().map(Token::text).collect();
    let mut s = words.join(" ");
    if u.question && !s.ends_with('?') {
        s.push('?');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::nlu::features::utt;

    fn examples() -> Vec<Example> {
        [
            ("restart <service> in <env>", 0),
            ("bounce <service> in <env> please", 0),
            ("how is <service> doing in <env>", 1),
            ("status of <service> in <env>", 1),
            ("tell me a joke", 2),
        ]
        .into_iter()
        .map(|(t, label)| Example {
            utterance: utt(t),
            label,
        })
        .collect()
    }

    #[test]
    fn the_nearest_example_of_each_label_comes_first_by_similarity() {
        let index = Nearest::new(&examples());
        let found = index.find(&utt("could you bounce <service> in <env>"), 3);
        assert_eq!(found[0].text, "bounce <service> in <env> please");
        assert_eq!(found[0].label, 0);
        // One per label, then the next label's best.
        assert!(found.iter().skip(1).all(|n| n.label != 0));
        assert!(found.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    }

    #[test]
    fn unrelated_words_find_nothing_and_k_bounds_the_answer() {
        let index = Nearest::new(&examples());
        assert!(index.find(&utt("zebra quantum"), 3).is_empty());
        assert_eq!(index.find(&utt("restart <service>"), 1).len(), 1);
        assert!(index.find(&utt("restart <service>"), 0).is_empty());
        assert!(Nearest::new(&[]).find(&utt("restart"), 3).is_empty());
    }

    #[test]
    fn the_same_examples_give_the_same_neighbours() {
        let a = Nearest::new(&examples()).find(&utt("how is <service>"), 3);
        let b = Nearest::new(&examples()).find(&utt("how is <service>"), 3);
        assert_eq!(a, b);
    }
}
