//! The trained classifier: multinomial logistic regression over hashed sparse
//! features, with softmax probabilities. Only prediction lives here; [`super::train`]
//! makes one.

use std::collections::HashMap;

use super::features::{self, Utterance};

/// A linear model per label over the training vocabulary.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub(super) labels: Vec<String>,
    /// Feature hash -> row in `weights`.
    pub(super) vocab: HashMap<u64, u32>,
    /// Row-major: `weights[row * labels + label]`.
    pub(super) weights: Vec<f32>,
    pub(super) bias: Vec<f32>,
}

/// The probability of every label for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// In the classifier's label order; sums to 1.
    pub probs: Vec<f32>,
}

impl Prediction {
    /// Label indices from the most to the least likely (ties: label order).
    pub fn ranked(&self) -> Vec<(usize, f32)> {
        let mut r: Vec<(usize, f32)> = self.probs.iter().copied().enumerate().collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        r
    }

    /// The most likely label and its probability.
    pub fn top(&self) -> (usize, f32) {
        self.ranked().first().copied().unwrap_or((0, 0.0))
    }
}

impl Classifier {
    /// A model that knows nothing: every label equally likely.
    pub fn untrained(labels: Vec<String>) -> Self {
        let n = labels.len();
        Self {
            labels,
            vocab: HashMap::new(),
            weights: Vec::new(),
            bias: vec![0.0; n],
        }
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn label_index(&self, name: &str) -> Option<usize> {
        self.labels.iter().position(|l| l == name)
    }

    /// Features of the vocabulary present in `u`, with their value (each active
    /// feature weighs 1/sqrt(n), so long messages do not shout).
    pub(super) fn rows(&self, u: &Utterance) -> (Vec<u32>, f32) {
        let rows: Vec<u32> = features::extract(u)
            .into_iter()
            .filter_map(|h| self.vocab.get(&h).copied())
            .collect();
        let value = 1.0 / (rows.len().max(1) as f32).sqrt();
        (rows, value)
    }

    /// Raw scores per label for active `rows`, each worth `value`.
    pub(super) fn scores(&self, rows: &[u32], value: f32) -> Vec<f32> {
        let n = self.labels.len();
        let mut scores = self.bias.clone();
        for &row in rows {
            let w = &self.weights[row as usize * n..(row as usize + 1) * n];
            for (s, w) in scores.iter_mut().zip(w) {
                *s += w * value;
            }
        }
        scores
    }

    pub fn predict(&self, u: &Utterance) -> Prediction {
        let (rows, value) = self.rows(u);
        Prediction {
            probs: softmax(&self.scores(&rows, value)),
        }
    }
}

pub(super) fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        exp.iter().map(|e| e / sum).collect()
    } else {
        vec![1.0 / scores.len().max(1) as f32; scores.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let pred = Prediction { probs: p };
        let order: Vec<usize> = pred.ranked().iter().map(|r| r.0).collect();
        assert_eq!(order, [1, 2, 0]);
        assert_eq!(softmax(&[1000.0, 0.0])[0], 1.0);
    }
}
