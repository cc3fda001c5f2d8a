//! K-fold cross-validation of the intent classifier over its own training set: train on
//! K-1 folds, predict the held-out fold, and report per-label precision and recall, a
//! confusion table and the calibration of the probabilities. Two ways to fold: by
//! example (the usual K-fold; variants of one template line may sit on both sides) and
//! by template line (every variant of a line in one fold: a fold is tested only on
//! phrasings it never saw, the stricter figure).

use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::alias::TrainingSet;
use crate::engine::nlu::{self, TrainConfig};

/// Bins of the expected calibration error.
const CALIBRATION_BINS: usize = 10;
/// Fixed seed of the fold assignment.
const FOLD_SEED: u64 = 42;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelScore {
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// One calibration bin: predictions whose top probability fell in `[low, high)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CalibrationBin {
    pub low: f64,
    pub high: f64,
    pub count: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// How examples are assigned to folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Folding {
    ByExample,
    ByTemplate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvReport {
    pub folds: usize,
    pub folding: Folding,
    pub examples: usize,
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub labels: Vec<String>,
    pub per_label: Vec<LabelScore>,
    /// `confusion[expected][predicted]`, in label order.
    pub confusion: Vec<Vec<usize>>,
    /// Expected calibration error of the top probability (0 = perfectly calibrated).
    pub ece: f64,
    pub calibration: Vec<CalibrationBin>,
}

/// Cross-validates over `set` with `k` folds (at least 2).
pub fn cross_validate(set: &TrainingSet, k: usize, folding: Folding) -> CvReport {
    let k = k.max(2);
    let n = set.labels.len();
    let groups: Vec<usize> = match folding {
        Folding::ByExample => (0..set.examples.len()).collect(),
        Folding::ByTemplate => set.groups.clone(),
    };
    let fold_of = nlu::folds(&groups, k, FOLD_SEED);
    let mut confusion = vec![vec![0usize; n]; n];
    let mut outcomes: Vec<(f64, bool)> = Vec::with_capacity(set.examples.len());
    for fold in 0..k {
        let train: Vec<nlu::Example> = set
            .examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, f)| **f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let model = nlu::train(&set.labels, &train, &TrainConfig::default());
        for (e, _) in set
            .examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, f)| **f == fold)
        {
            let (predicted, p) = model.predict(&e.utterance).top();
            if e.label < n && predicted < n {
                confusion[e.label][predicted] += 1;
                outcomes.push((f64::from(p), predicted == e.label));
            }
        }
    }
    let per_label: Vec<LabelScore> = (0..n).map(|l| label_score(&confusion, l)).collect();
    let present: Vec<&LabelScore> = per_label.iter().filter(|s| s.support > 0).collect();
    let mean = |f: fn(&LabelScore) -> f64| {
        present.iter().map(|s| f(s)).sum::<f64>() / present.len().max(1) as f64
    };
    let correct: usize = (0..n).map(|l| confusion[l][l]).sum();
    let (ece, calibration) = calibration(&outcomes);
    CvReport {
        folds: k,
        folding,
        examples: outcomes.len(),
        accuracy: ratio(correct, outcomes.len()),
        macro_precision: mean(|s| s.precision),
        macro_recall: mean(|s| s.recall),
        macro_f1: mean(|s| s.f1),
        labels: set.labels.clone(),
        per_label,
        confusion,
        ece,
        calibration,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn label_score(confusion: &[Vec<usize>], l: usize) -> LabelScore {
    let tp = confusion[l][l];
    let support: usize = confusion[l].iter().sum();
    let predicted: usize = confusion.iter().map(|row| row[l]).sum();
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, support);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    LabelScore {
        support,
        precision,
        recall,
        f1,
    }
}

/// Reliability bins of the top probability and the expected calibration error.
fn calibration(outcomes: &[(f64, bool)]) -> (f64, Vec<CalibrationBin>) {
    let mut bins: Vec<CalibrationBin> = (0..CALIBRATION_BINS)
        .map(|i| CalibrationBin {
            low: i as f64 / CALIBRATION_BINS as f64,
            high: (i + 1) as f64 / CALIBRATION_BINS as f64,
            ..CalibrationBin::default()
        })
        .collect();
    let mut sums = vec![(0.0f64, 0usize); CALIBRATION_BINS];
    for &(p, ok) in outcomes {
        let i = ((p * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[i].count += 1;
        sums[i].0 += p;
        sums[i].1 += usize::from(ok);
    }
    let mut ece = 0.0;
    for (bin, (conf, hits)) in bins.iter_mut().zip(sums) {
        if bin.count > 0 {
            bin.mean_confidence = conf / bin.count as f64;
            bin.accuracy = ratio(hits, bin.count);
            ece += (bin.count as f64 / outcomes.len().max(1) as f64)
                * (bin.accuracy - bin.mean_confidence).abs();
        }
    }
    (ece, bins)
}

impl CvReport {
    /// Summary, per-label precision/recall, the confusion table and the calibration bins.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "{}-fold cross-validation over {} training examples, {}\n\
             accuracy {:.1}%  macro precision {:.1}%  macro recall {:.1}%  macro F1 {:.1}%  ECE {:.3}\n\n{:<20} {:>7} {:>9} {:>7} {:>6}\n",
            self.folds,
            self.examples,
            match self.folding {
                Folding::ByExample => "folded by example",
                Folding::ByTemplate =>
                    "folded by template line (never tested on a variant of a line it trained on)",
            },
            self.accuracy * 100.0,
            self.macro_precision * 100.0,
            self.macro_recall * 100.0,
            self.macro_f1 * 100.0,
            self.ece,
            "label",
            "support",
            "precision",
            "recall",
            "F1"
        );
        for (label, s) in self.labels.iter().zip(&self.per_label) {
            let _ = writeln!(
                out,
                "{label:<20} {:>7} {:>8.1}% {:>6.1}% {:>5.1}%",
                s.support,
                s.precision * 100.0,
                s.recall * 100.0,
                s.f1 * 100.0
            );
        }
        let _ = writeln!(out, "\nconfusion (rows: expected, columns: predicted)");
        let short: Vec<String> = (0..self.labels.len()).map(|i| format!("{i:>4}")).collect();
        let _ = writeln!(out, "{:<24}{}", "", short.join(""));
        for (i, (label, row)) in self.labels.iter().zip(&self.confusion).enumerate() {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>4}")).collect();
            let _ = writeln!(out, "{i:>2} {label:<21}{}", cells.join(""));
        }
        let _ = writeln!(
            out,
            "\ncalibration (top probability: count, mean confidence, accuracy)"
        );
        for b in self.calibration.iter().filter(|b| b.count > 0) {
            let _ = writeln!(
                out,
                "  [{:.1}, {:.1})  {:>5}  {:>5.2}  {:>5.2}",
                b.low, b.high, b.count, b.mean_confidence, b.accuracy
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::nlu::{Example, Token, Utterance};

    fn toy_set() -> TrainingSet {
        let mut set = TrainingSet {
            labels: vec!["restart".into(), "logs".into()],
            examples: Vec::new(),
            groups: Vec::new(),
        };
        let lines: [(&str, usize); 8] = [
            ("restart the service now", 0),
            ("please restart it", 0),
            ("restart everything", 0),
            ("bounce and restart", 0),
            ("show the logs now", 1),
            ("logs please", 1),
            ("tail the logs", 1),
            ("logs of everything", 1),
        ];
        for (group, (text, label)) in lines.iter().enumerate() {
            for variant in ["", " ok"] {
                let text = format!("{text}{variant}");
                set.examples.push(Example {
                    utterance: Utterance {
                        tokens: text.split_whitespace().map(Token::word).collect(),
                        question: false,
                    },
                    label: *label,
                });
                set.groups.push(group);
            }
        }
        set
    }

    #[test]
    fn cross_validation_scores_every_example_once_and_separates_a_toy_set() {
        for folding in [Folding::ByExample, Folding::ByTemplate] {
            let r = cross_validate(&toy_set(), 4, folding);
            assert_eq!(r.examples, 16);
            let counted: usize = r.confusion.iter().flatten().sum();
            assert_eq!(counted, 16);
            assert!(r.macro_f1 > 0.9, "{folding:?}: {}", r.render_text());
            assert!(r.render_text().contains("confusion"));
        }
    }

    #[test]
    fn calibration_of_perfect_confidence_is_zero_error() {
        let (ece, bins) = calibration(&[(0.95, true), (0.95, true), (0.55, true), (0.55, false)]);
        assert!(ece < 0.06, "{ece}");
        assert_eq!(bins[9].count, 2);
        assert_eq!(bins[5].accuracy, 0.5);
    }

    #[test]
    fn precision_and_recall_come_from_the_confusion_table() {
        let confusion = vec![vec![3, 1], vec![0, 4]];
        let a = label_score(&confusion, 0);
        assert_eq!((a.support, a.precision, a.recall), (4, 1.0, 0.75));
        let b = label_score(&confusion, 1);
        assert_eq!((b.precision, b.recall), (0.8, 1.0));
    }
}
