//! From the store's candidate chunks to a ranking of files, in process and
//! deterministic: every ordering breaks ties on the file's key, so the same
//! index answers the same question the same way, run after run, whatever
//! order the store returned equal scores in.
//!
//! - a file is scored by its best chunk (max-passage): measured against adding a
//!   share of its other chunks, which favours long pages and lost on every set;
//! - several rankings (BM25, the latent semantic model's, the embeddings
//!   endpoint's) are fused by weighted reciprocal rank over files.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// One chunk a store query returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: u64,
    pub score: f32,
    pub source: String,
    pub path: String,
}

/// A file's place in one ranking: its best chunk and its aggregated score.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedFile {
    pub source: String,
    pub path: String,
    /// The chunk to quote.
    pub chunk: u64,
    pub score: f32,
}

impl RankedFile {
    fn key_cmp(&self, other: &Self) -> Ordering {
        (&self.source, &self.path, self.chunk).cmp(&(&other.source, &other.path, other.chunk))
    }
}

/// Best first; equal scores in key order.
fn by_score(a: &RankedFile, b: &RankedFile) -> Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.key_cmp(b))
}

/// Chunks collapsed to files, each scored by its best chunk.
pub fn files(candidates: &[Candidate]) -> Vec<RankedFile> {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| (&a.source, &a.path, a.id).cmp(&(&b.source, &b.path, b.id)))
    });
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut out: Vec<RankedFile> = Vec::new();
    for c in sorted {
        if seen.insert((c.source.as_str(), c.path.as_str())) {
            out.push(RankedFile {
                source: c.source.clone(),
                path: c.path.clone(),
                chunk: c.id,
                score: c.score,
            });
        }
    }
    out
}

/// Weighted reciprocal-rank fusion of file rankings (each best first); the first
/// ranking's best chunk of a file is the one quoted when it has one. Files that
/// score the same share a rank, so a tie stays a tie.
pub fn fuse(rankings: &[(f32, Vec<RankedFile>)], k: f32) -> Vec<RankedFile> {
    let mut fused: Vec<RankedFile> = Vec::new();
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    for (weight, ranking) in rankings {
        let mut rank = 0;
        for (i, f) in ranking.iter().enumerate() {
            if i > 0 && ranking[i - 1].score != f.score {
                rank = i;
            }
            let add = weight / (k + rank as f32 + 1.0);
            match at.get(&(f.source.clone(), f.path.clone())) {
                Some(i) => fused[*i].score += add,
                None => {
                    at.insert((f.source.clone(), f.path.clone()), fused.len());
                    fused.push(RankedFile {
                        score: add,
                        ..f.clone()
                    });
                }
            }
        }
    }
    fused.sort_by(by_score);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: u64, path: &str, score: f32) -> Candidate {
        Candidate {
            id,
            score,
            source: "s".into(),
            path: path.into(),
        }
    }

    #[test]
    fn files_take_their_best_chunk_and_ties_go_by_path() {
        let c = [
            cand(1, "b.md", 2.0),
            cand(2, "a.md", 2.0),
            cand(3, "b.md", 1.0),
            cand(4, "c.md", 3.0),
        ];
        let f = files(&c);
        let order: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(order, ["c.md", "a.md", "b.md"]);
        assert_eq!((f[2].chunk, f[2].score), (1, 2.0));
        // The store's order does not matter.
        let mut reversed = c.to_vec();
        reversed.reverse();
        assert_eq!(files(&reversed), f);
    }

    #[test]
    fn fusion_rewards_agreement() {
        let r = |paths: &[&str]| -> Vec<RankedFile> {
            paths
                .iter()
                .enumerate()
                .map(|(i, p)| RankedFile {
                    source: "s".into(),
                    path: (*p).into(),
                    chunk: i as u64,
                    score: 10.0 - i as f32,
                })
                .collect()
        };
        let fused = fuse(
            &[(1.0, r(&["a", "b", "c"])), (1.0, r(&["c", "b", "d"]))],
            20.0,
        );
        let order: Vec<&str> = fused.iter().map(|f| f.path.as_str()).collect();
        // Found by both beats found by one, however high.
        assert_eq!(order, ["c", "b", "a", "d"]);
        // Mirror rankings tie; the path decides.
        let fused = fuse(&[(1.0, r(&["y", "x"])), (1.0, r(&["x", "y"]))], 20.0);
        assert_eq!(fused[0].path, "x");
        assert_eq!(fused[0].score, fused[1].score);
        // Files that tie within a ranking share its rank.
        let mut tied = r(&["p", "q", "z"]);
        tied[2].score = tied[1].score;
        let fused = fuse(&[(1.0, tied)], 20.0);
        assert_eq!(fused[1].score, fused[2].score);
        assert!(fused[0].score > fused[1].score);
    }
}
