//! From the store's candidate chunks to a ranking of files, in process and
//! deterministic: the store returns bare chunk ids and scores, a [`FileTable`]
//! built from the manifest names their files, and every ordering breaks ties
//! on the file's place in that table (the manifest's key order), so the same
//! index answers the same question the same way, run after run, whatever
//! order the store returned equal scores in.
//!
//! - a file is scored by its best chunk (max-passage): measured against adding a
//!   share of its other chunks, which favours long pages and lost on every set;
//! - several rankings (BM25, the latent semantic model's, the embeddings
//!   endpoint's) are fused by their scores: each ranking's file scores over
//!   its best one, weighted and summed. Reciprocal ranks threw the margins
//!   away: BM25's clear first lost to a file second in both rankings.

use std::cmp::Ordering;
use std::collections::HashMap;

/// The indexed files in a fixed order, and which file each chunk belongs to:
/// the store returns bare chunk ids and scores, and this names their files
/// without reading a payload per candidate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileTable {
    /// `(source, path)`, in the order the table was built from (its tie-break order).
    files: Vec<(String, String)>,
    by_chunk: HashMap<u64, u32>,
}

impl FileTable {
    /// From `(source, path, chunk ids)` per file, in a fixed order.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str, &'a [u64])>) -> Self {
        let mut table = Self::default();
        for (source, path, chunks) in files {
            let at = u32::try_from(table.files.len()).unwrap_or(u32::MAX);
            table.files.push((source.to_owned(), path.to_owned()));
            table.by_chunk.extend(chunks.iter().map(|c| (*c, at)));
        }
        table
    }

    /// The file a chunk belongs to.
    pub fn file_of(&self, chunk: u64) -> Option<u32> {
        self.by_chunk.get(&chunk).copied()
    }

    /// `(source, path)` of a file.
    pub fn name(&self, file: u32) -> Option<(&str, &str)> {
        self.files
            .get(file as usize)
            .map(|(s, p)| (s.as_str(), p.as_str()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// One chunk a store query returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

/// A file's place in one ranking: its best chunk and its aggregated score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankedFile {
    /// The file's place in the [`FileTable`].
    pub file: u32,
    /// The chunk to quote.
    pub chunk: u64,
    pub score: f32,
}

/// Best first; equal scores in file order.
fn by_score(a: &RankedFile, b: &RankedFile) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| (a.file, a.chunk).cmp(&(b.file, b.chunk)))
}

/// Chunks collapsed to files, each scored by its best chunk; chunks of files
/// the table does not know (none, unless the store and manifest disagree) are left out.
pub fn files(hits: &[Hit], table: &FileTable) -> Vec<RankedFile> {
    let mut ranked: Vec<RankedFile> = hits
        .iter()
        .filter_map(|h| {
            table.file_of(h.id).map(|file| RankedFile {
                file,
                chunk: h.id,
                score: h.score,
            })
        })
        .collect();
    ranked.sort_by(by_score);
    let mut seen = vec![false; table.len()];
    ranked.retain(|f| !std::mem::replace(&mut seen[f.file as usize], true));
    ranked
}

/// Weighted score fusion of file rankings (each best first): a file scores
/// the sum over rankings of `weight * score / best score` (nothing from a
/// ranking that did not find it), so a ranking's margins count and none of
/// its scales does. The first ranking's best chunk of a file is the one quoted
/// when it has one. Equal scores stay equal; sums run in ranking order.
pub fn fuse(rankings: &[(f32, Vec<RankedFile>)]) -> Vec<RankedFile> {
    let mut fused: Vec<RankedFile> = Vec::new();
    let mut at: HashMap<u32, usize> = HashMap::new();
    for (weight, ranking) in rankings {
        // A negative score (a cosine can be) adds nothing, so no ranking
        // subtracts; a ranking without a positive best says nothing.
        let Some(best) = ranking.first().map(|f| f.score).filter(|b| *b > 0.0) else {
            continue;
        };
        for f in ranking {
            let add = weight * f.score.max(0.0) / best;
            match at.get(&f.file) {
                Some(i) => fused[*i].score += add,
                None => {
                    at.insert(f.file, fused.len());
                    fused.push(RankedFile { score: add, ..*f });
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

    fn table(paths: &[&str], chunks_each: u64) -> FileTable {
        let ids: Vec<Vec<u64>> = (0..paths.len() as u64)
            .map(|f| (0..chunks_each).map(|c| f * 100 + c).collect())
            .collect();
        FileTable::new(paths.iter().zip(&ids).map(|(p, c)| ("s", *p, c.as_slice())))
    }

    fn hit(id: u64, score: f32) -> Hit {
        Hit { id, score }
    }

    #[test]
    fn files_take_their_best_chunk_and_ties_go_by_file_order() {
        let t = table(&["a.md", "b.md", "c.md"], 3);
        let h = [
            hit(100, 2.0),
            hit(1, 2.0),
            hit(101, 1.0),
            hit(200, 3.0),
            hit(999, 9.0),
        ];
        let f = files(&h, &t);
        let order: Vec<&str> = f
            .iter()
            .filter_map(|f| t.name(f.file))
            .map(|n| n.1)
            .collect();
        // The unknown chunk 999 is left out.
        assert_eq!(order, ["c.md", "a.md", "b.md"]);
        assert_eq!((f[2].chunk, f[2].score), (100, 2.0));
        // The store's order does not matter.
        let mut reversed = h.to_vec();
        reversed.reverse();
        assert_eq!(files(&reversed, &t), f);
    }

    fn ranked(files: &[(u32, f32)]) -> Vec<RankedFile> {
        files
            .iter()
            .map(|&(file, score)| RankedFile {
                file,
                chunk: u64::from(file) * 100,
                score,
            })
            .collect()
    }

    fn order(fused: &[RankedFile]) -> Vec<u32> {
        fused.iter().map(|f| f.file).collect()
    }

    #[test]
    fn fusion_keeps_a_clear_lead_and_rewards_agreement() {
        let (a, b, c, d) = (0, 1, 2, 3);
        // BM25 is sure of a; the semantic ranking barely prefers b and c.
        // Reciprocal ranks would put b (second and first) above a (first and third).
        let bm25 = ranked(&[(a, 12.0), (b, 6.0), (c, 5.0)]);
        let semantic = ranked(&[(b, 0.62), (c, 0.61), (a, 0.60), (d, 0.5)]);
        let fused = fuse(&[(1.0, bm25), (0.5, semantic)]);
        assert_eq!(order(&fused), [a, b, c, d]);
        // Scores are the weighted shares of each ranking's best.
        let want = 1.0 + 0.5 * 0.60 / 0.62;
        assert!((fused[0].score - want).abs() < 1e-6, "{}", fused[0].score);
        // Close in BM25, agreement decides: found by both beats found by one.
        let bm25 = ranked(&[(a, 10.0), (b, 9.9), (c, 9.8)]);
        let semantic = ranked(&[(c, 0.7), (b, 0.69)]);
        let fused = fuse(&[(1.0, bm25), (1.0, semantic)]);
        assert_eq!(order(&fused), [c, b, a]);
        // A ranking's scale does not matter, only its shares.
        let scaled = ranked(&[(b, 62.0), (c, 61.0), (a, 60.0), (d, 50.0)]);
        let again = fuse(&[
            (1.0, ranked(&[(a, 1.2), (b, 0.6), (c, 0.5)])),
            (0.5, scaled),
        ]);
        assert_eq!(order(&again), [a, b, c, d]);
        // The quoted chunk is the first ranking's.
        assert_eq!(again[0].chunk, u64::from(a) * 100);
    }

    #[test]
    fn fusion_keeps_ties_and_skips_empty_rankings() {
        let (a, b) = (0, 1);
        // Mirror rankings tie; the file order decides.
        let fused = fuse(&[
            (1.0, ranked(&[(b, 2.0), (a, 1.0)])),
            (1.0, ranked(&[(a, 2.0), (b, 1.0)])),
        ]);
        assert_eq!(order(&fused), [a, b]);
        assert_eq!(fused[0].score, fused[1].score);
        // An empty ranking, or one whose best is zero, adds nothing.
        let fused = fuse(&[
            (1.0, Vec::new()),
            (1.0, ranked(&[(b, 0.0), (a, 0.0)])),
            (1.0, ranked(&[(a, 3.0), (b, 3.0)])),
        ]);
        assert_eq!(order(&fused), [a, b]);
        assert_eq!(fused[0].score, 1.0);
        assert_eq!(fused[1].score, 1.0);
    }
}
