//! Retrieval quality of the docs index on a JSONL set (`shared/eval/README.md`):
//! results are collapsed to distinct files (a file takes the rank of its first
//! chunk), then recall@k and MRR@k for k = 1, 5, 10.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::knowledge::{DocsIndex, KnowledgeError};

#[derive(Debug, thiserror::Error)]
pub enum RetrievalEvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Parse {
        path: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Index(#[from] KnowledgeError),
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetrievalCase {
    pub id: String,
    pub question: String,
    /// Files (relative to the docs folder) that answer the question; the first is the main one.
    pub relevant: Vec<String>,
    #[serde(default)]
    pub section: Option<String>,
}

pub fn load_cases(path: &Path) -> Result<Vec<RetrievalCase>, RetrievalEvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| RetrievalEvalError::Read {
        path: path.display().to_string(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RetrievalEvalError::Parse {
                path: path.display().to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// One question's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    /// 1-based rank of the first relevant file among the distinct files; `None` past 10.
    pub rank: Option<usize>,
    pub top: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    #[serde(rename = "recall@1")]
    pub recall_at_1: f64,
    #[serde(rename = "recall@5")]
    pub recall_at_5: f64,
    #[serde(rename = "recall@10")]
    pub recall_at_10: f64,
    /// MRR@10.
    pub mrr: f64,
    #[serde(rename = "mrr@5")]
    pub mrr_at_5: f64,
    pub questions: usize,
    pub index_seconds: f64,
    pub query_ms_p50: f64,
    pub query_ms_p90: f64,
    pub files: usize,
    pub chunks: usize,
    pub cases: Vec<CaseResult>,
}

/// Ranks the distinct files in `ranked` (already collapsed) against one case.
pub fn first_relevant_rank(ranked: &[String], relevant: &[String]) -> Option<usize> {
    ranked
        .iter()
        .take(10)
        .position(|f| relevant.contains(f))
        .map(|p| p + 1)
}

/// The metrics from per-question ranks (1-based, `None` = not in the top 10).
pub fn metrics(ranks: &[Option<usize>]) -> (f64, f64, f64, f64, f64) {
    let n = ranks.len().max(1) as f64;
    let recall = |k: usize| ranks.iter().filter(|r| r.is_some_and(|r| r <= k)).count() as f64 / n;
    let mrr = |k: usize| {
        ranks
            .iter()
            .map(|r| match r {
                Some(r) if *r <= k => 1.0 / *r as f64,
                _ => 0.0,
            })
            .sum::<f64>()
            / n
    };
    (recall(1), recall(5), recall(10), mrr(5), mrr(10))
}

/// Runs every case against an index that was built in `index_seconds`.
pub async fn evaluate(
    index: &DocsIndex,
    cases: &[RetrievalCase],
    index_seconds: f64,
) -> Result<RetrievalReport, RetrievalEvalError> {
    let chunks = index.status().await?;
    let files = index.indexed_files().await.len();
    let mut times: Vec<Duration> = Vec::with_capacity(cases.len());
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let started = Instant::now();
        let found = index.search(&case.question, 10, None).await?;
        times.push(started.elapsed());
        let top: Vec<String> = found.passages.iter().map(|p| p.path.clone()).collect();
        results.push(CaseResult {
            id: case.id.clone(),
            rank: first_relevant_rank(&top, &case.relevant),
            top,
        });
    }
    times.sort();
    let pct = |q: f64| {
        times
            .get(((times.len().saturating_sub(1)) as f64 * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let ranks: Vec<Option<usize>> = results.iter().map(|r| r.rank).collect();
    let (r1, r5, r10, mrr5, mrr10) = metrics(&ranks);
    Ok(RetrievalReport {
        recall_at_1: r1,
        recall_at_5: r5,
        recall_at_10: r10,
        mrr: mrr10,
        mrr_at_5: mrr5,
        questions: cases.len(),
        index_seconds,
        query_ms_p50: pct(0.5),
        query_ms_p90: pct(0.9),
        files,
        chunks,
        cases: results,
    })
}

impl RetrievalReport {
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "questions {}  files {}  chunks {}\nrecall@1 {:.3}  recall@5 {:.3}  recall@10 {:.3}  MRR@5 {:.3}  MRR@10 {:.3}\nindex {:.2}s  query p50 {:.2} ms  p90 {:.2} ms\n",
            self.questions,
            self.files,
            self.chunks,
            self.recall_at_1,
            self.recall_at_5,
            self.recall_at_10,
            self.mrr_at_5,
            self.mrr,
            self.index_seconds,
            self.query_ms_p50,
            self.query_ms_p90,
        );
        let missed: Vec<String> = self
            .cases
            .iter()
            .filter(|c| c.rank.is_none_or(|r| r > 5))
            .map(|c| match c.rank {
                Some(r) => format!("{} (rank {r})", c.id),
                None => format!("{} (not in top 10)", c.id),
            })
            .collect();
        if !missed.is_empty() {
            out.push_str(&format!("outside the top 5: {}\n", missed.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoring_follows_the_shared_rule() {
        let ranked: Vec<String> = ["a.md", "b.md", "c.md"].map(String::from).to_vec();
        assert_eq!(
            first_relevant_rank(&ranked, &["c.md".into(), "b.md".into()]),
            Some(2)
        );
        assert_eq!(first_relevant_rank(&ranked, &["z.md".into()]), None);
        let (r1, r5, r10, mrr5, mrr10) = metrics(&[Some(1), Some(2), Some(7), None]);
        assert_eq!((r1, r5, r10), (0.25, 0.5, 0.75));
        assert!((mrr5 - (1.0 + 0.5) / 4.0).abs() < 1e-9);
        assert!((mrr10 - (1.0 + 0.5 + 1.0 / 7.0) / 4.0).abs() < 1e-9);
    }
}
