//! A latent semantic model of the indexed docs (LSA), learnt from the corpus
//! itself when the index is built: no model download, no embeddings endpoint.
//!
//! Questions in chat rarely use the docs' words ("print the rendered yaml" for
//! `argocd app manifests`, "timestamps in UTC" for a timezone setting). Terms
//! that occur in the same passages end up close in a low-rank space, so a
//! question can reach a passage it shares few words with. Its ranking is fused
//! with BM25's by score, at half BM25's weight, which keeps exact identifiers
//! decisive.
//!
//! The space is a truncated SVD of the chunk × term matrix (log tf · idf, rows
//! unit length), found by a randomised range finder (oversampled, one power
//! iteration) and the exact SVD of the small projected matrix.
//! The model is one vector per term; a chunk or a question is the weighted sum
//! of its terms' vectors, so chunks indexed later are placed exactly like the
//! ones it was learnt from. `platbot index --rebuild` learns it again.

use rustc_hash::FxHashMap;
use std::path::Path;

use super::KnowledgeError;
use super::linalg::{gemm, gram, mul, orthonormal, symmetric_eigen, transpose};

/// Dimensions of the space (fewer for a small corpus).
pub const DIMS: usize = 200;
/// Bumped when training or weighting changes: the index is then rebuilt.
pub const VERSION: u32 = 5;
/// Chunks a model is learnt from at most (an evenly spread sample beyond).
const TRAIN_CHUNKS_MAX: usize = 4096;
/// Extra columns for the range finder, so the top `DIMS` directions are found well.
const OVERSAMPLE: usize = 16;
/// Terms in fewer chunks than this say nothing about co-occurrence.
const MIN_DF: u32 = 2;
const MAGIC: &[u8; 8] = b"PBLSA\0\0\x01";
/// Fixed, so the same corpus always gives the same model.
const SEED: u64 = 0x5eed_1a5a_2026_1127;

/// One vector per term, and the term's idf, for placing chunks and questions.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticModel {
    dims: usize,
    /// Term id -> row.
    rows: FxHashMap<u32, usize>,
    idf: Vec<f32>,
    /// `rows.len() * dims`, row-major.
    vectors: Vec<f32>,
}

impl SemanticModel {
    /// Learns the space from the chunks' term frequencies (term id, weighted count).
    /// `None` when the corpus is too small to have one.
    pub fn train(docs: &[&[(u32, f32)]], dims: usize) -> Option<Self> {
        Self::plan(docs, dims).map(Training::run)
    }

    /// The cheap first half of training: the vocabulary and the weighted
    /// chunk rows, which fix the model's dimensions before the heavy half
    /// ([`Training::run`]) runs, e.g. on another core while chunks are written.
    /// `None` when the corpus is too small to have a model. A large corpus is
    /// learnt from an evenly spread sample of its chunks, so training costs the
    /// same past that size (placing every chunk stays linear).
    pub fn plan(docs: &[&[(u32, f32)]], dims: usize) -> Option<Training> {
        let sample: Vec<&[(u32, f32)]> = if docs.len() > TRAIN_CHUNKS_MAX {
            (0..TRAIN_CHUNKS_MAX)
                .map(|i| docs[i * docs.len() / TRAIN_CHUNKS_MAX])
                .collect()
        } else {
            docs.to_vec()
        };
        let model = Self::vocabulary(&sample);
        let x: Vec<Vec<(usize, f32)>> = sample
            .iter()
            .map(|d| model.weights(d))
            .filter(|r| !r.is_empty())
            .map(|r| r.into_iter().map(|(c, w)| (c, w as f32)).collect())
            .collect();
        let v = model.idf.len();
        let k = dims.min(x.len()).min(v);
        (k > 0).then_some(Training { model, x, k })
    }
}

/// A model whose dimensions are known and whose space is still to be found.
#[derive(Debug)]
pub struct Training {
    model: SemanticModel,
    x: Vec<Vec<(usize, f32)>>,
    k: usize,
}

impl Training {
    /// The dimensions the model will have.
    pub fn dims(&self) -> usize {
        self.k
    }

    /// Finds the space: the randomised range finder and the SVD of the
    /// projected matrix. Directions the corpus does not fill (a tiny corpus)
    /// stay zero, so the model has exactly [`Training::dims`] dimensions.
    pub fn run(self) -> SemanticModel {
        let Training { mut model, x, k } = self;
        let v = model.idf.len();
        let l = (k + OVERSAMPLE).min(x.len()).min(v);

        // Range finder: Y = X·Xᵀ·X·Ω (one power iteration), orthonormal Q spanning
        // it. One iteration needs no orthonormalising between its products (as in
        // scikit-learn's randomised SVD for up to two): only Q is made orthonormal.
        let t0 = std::time::Instant::now();
        let xt = transpose(&x, v);
        let omega = random_signs(v, l);
        // The products with X and the last one in f32, the Cholesky QR and the
        // eigenproblem in f64 (see `linalg::Float`).
        let z = mul(&xt, &mul(&x, &omega, l), l);
        let wide = |v: &[f32]| -> Vec<f64> { v.iter().copied().map(f64::from).collect() };
        let y = wide(&mul(&x, &z, l));
        // One Cholesky QR pass: on the Argo CD docs Q comes out orthonormal to
        // 3e-6 (a second pass, 0.015 s more, reaches the ridge's 1e-9) before it
        // is rounded to f32, and every question ranks its files the same.
        let q: Vec<f32> = orthonormal(y, l, 1).into_iter().map(|v| v as f32).collect();
        // X ≈ Q·B with B = Qᵀ·X. B·Bᵀ = W·Λ·Wᵀ gives B's singular values (√Λ) and
        // right singular vectors Bᵀ·W·Λ^-½: the terms' coordinates in the space, in
        // which a chunk sits at X·Bᵀ·W·Λ^-½ (its row of U·Σ).
        let bt = mul(&xt, &q, l);
        let (values, w) = symmetric_eigen(gram(&wide(&bt), l), l);
        let mut order: Vec<usize> = (0..l).collect();
        order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
        let top = values[order[0]].max(0.0);
        // M (l × k): the top eigenvectors as columns, each scaled by Λ^-½ (a
        // direction with no weight stays a zero column); a term's vector is
        // its row of Bᵀ times M.
        let dims = k;
        let mut m = vec![0f32; l * dims];
        for (col, j) in order.iter().take(k).enumerate() {
            if values[*j] <= 1e-10 * top {
                continue;
            }
            let scale = 1.0 / values[*j].sqrt();
            for (i, x) in w[j * l..(j + 1) * l].iter().enumerate() {
                m[i * dims + col] = (x * scale) as f32;
            }
        }
        // Bᵀ holds f32's precision already, and the vectors are kept in f32.
        model.vectors = gemm(&bt, v, l, false, &m, dims);
        model.dims = dims;
        tracing::debug!(chunks = x.len(), terms = v, dims, elapsed = ?t0.elapsed(), "semantic model learnt");
        model
    }
}

impl SemanticModel {
    /// The terms found in at least [`MIN_DF`] chunks, with their idf; no vectors yet.
    fn vocabulary(docs: &[&[(u32, f32)]]) -> Self {
        let mut df: FxHashMap<u32, u32> = FxHashMap::default();
        for doc in docs {
            for (t, _) in *doc {
                *df.entry(*t).or_default() += 1;
            }
        }
        let n = docs.len() as f64;
        let mut terms: Vec<(u32, u32)> = df.into_iter().filter(|(_, d)| *d >= MIN_DF).collect();
        terms.sort_unstable();
        Self {
            dims: 0,
            rows: terms
                .iter()
                .enumerate()
                .map(|(i, (t, _))| (*t, i))
                .collect(),
            idf: terms
                .iter()
                .map(|(_, d)| {
                    let d = f64::from(*d);
                    (1.0 + (n - d + 0.5) / (d + 0.5)).ln() as f32
                })
                .collect(),
            vectors: Vec::new(),
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// A chunk's or question's place in the space; `None` when no term is known.
    pub fn embed(&self, tf: &[(u32, f32)]) -> Option<Vec<f32>> {
        let weights = self.weights(tf);
        if weights.is_empty() {
            return None;
        }
        let mut out = vec![0f32; self.dims];
        for (row, w) in weights {
            let v = &self.vectors[row * self.dims..(row + 1) * self.dims];
            for (o, x) in out.iter_mut().zip(v) {
                *o += w as f32 * x;
            }
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_normal() {
            return None;
        }
        out.iter_mut().for_each(|x| *x /= norm);
        Some(out)
    }

    /// Log tf · idf of the known terms, unit length; repeated ids add up.
    fn weights(&self, tf: &[(u32, f32)]) -> Vec<(usize, f64)> {
        let mut known: Vec<(usize, f64)> = tf
            .iter()
            .filter_map(|(t, f)| self.rows.get(t).map(|row| (*row, f64::from(*f))))
            .collect();
        // Stable: repeated ids add up in the order they came.
        known.sort_by_key(|(row, _)| *row);
        let mut acc: Vec<(usize, f64)> = Vec::with_capacity(known.len());
        for (row, f) in known {
            match acc.last_mut() {
                Some(last) if last.0 == row => last.1 += f,
                _ => acc.push((row, f)),
            }
        }
        let mut out: Vec<(usize, f64)> = acc
            .into_iter()
            .filter(|(_, f)| *f > 0.0)
            .map(|(row, f)| (row, (1.0 + f.max(1.0).ln()) * f64::from(self.idf[row])))
            .collect();
        let norm = out.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|(_, w)| *w /= norm);
        }
        out
    }

    pub fn save(&self, path: &Path) -> Result<(), KnowledgeError> {
        let mut ids: Vec<(u32, usize)> = self.rows.iter().map(|(t, r)| (*t, *r)).collect();
        ids.sort_unstable_by_key(|(_, r)| *r);
        let mut bytes = Vec::with_capacity(16 + ids.len() * (8 + 4 * self.dims));
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.dims as u32).to_le_bytes());
        bytes.extend_from_slice(&(ids.len() as u32).to_le_bytes());
        for (t, r) in &ids {
            bytes.extend_from_slice(&t.to_le_bytes());
            bytes.extend_from_slice(&self.idf[*r].to_le_bytes());
        }
        for x in &self.vectors {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        super::embed::write_atomically(path, &bytes)
    }

    pub fn load(path: &Path) -> Result<Self, KnowledgeError> {
        let bytes = std::fs::read(path).map_err(|e| {
            KnowledgeError::Corrupt(format!(
                "cannot read the semantic model {}: {e}",
                path.display()
            ))
        })?;
        let bad =
            || KnowledgeError::Corrupt(format!("the semantic model {} is damaged", path.display()));
        let (magic, rest) = bytes.split_at_checked(MAGIC.len()).ok_or_else(bad)?;
        if magic != MAGIC {
            return Err(bad());
        }
        let mut words = rest
            .chunks_exact(4)
            .map(|w| <[u8; 4]>::try_from(w).unwrap_or_default());
        let mut next = || words.next().ok_or_else(bad);
        let dims = u32::from_le_bytes(next()?) as usize;
        let n = u32::from_le_bytes(next()?) as usize;
        if rest.len() != 8 + n * 8 + n * dims * 4 {
            return Err(bad());
        }
        let mut rows = FxHashMap::with_capacity_and_hasher(n, Default::default());
        let mut idf = Vec::with_capacity(n);
        for r in 0..n {
            rows.insert(u32::from_le_bytes(next()?), r);
            idf.push(f32::from_le_bytes(next()?));
        }
        let mut vectors = Vec::with_capacity(n * dims);
        for _ in 0..n * dims {
            vectors.push(f32::from_le_bytes(next()?));
        }
        Ok(Self {
            dims,
            rows,
            idf,
            vectors,
        })
    }
}

/// `v × l` random ±1 (splitmix64): a test matrix for the range finder.
fn random_signs(v: usize, l: usize) -> Vec<f32> {
    let mut state = SEED;
    (0..v * l)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            if (z ^ (z >> 31)) & 1 == 0 { 1.0 } else { -1.0 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Two topics; terms 1/2 and 3/4 co-occur within a topic, never across.
    fn corpus() -> Vec<Vec<(u32, f32)>> {
        let mut docs = Vec::new();
        for i in 0..20u32 {
            // In one chunk only: not part of the model.
            let (a, b) = (100 + 2 * i, 101 + 2 * i);
            docs.push(vec![(1, 2.0), (2, 1.0), (a, 1.0)]);
            docs.push(vec![(1, 1.0), (5, 1.0), (b, 1.0)]);
            docs.push(vec![(2, 1.0), (5, 2.0)]);
            docs.push(vec![(3, 2.0), (4, 1.0), (6, 1.0)]);
            docs.push(vec![(4, 1.0), (6, 2.0)]);
        }
        docs
    }

    #[test]
    fn terms_that_share_passages_are_close_and_topics_apart() {
        let docs = corpus();
        let refs: Vec<&[(u32, f32)]> = docs.iter().map(Vec::as_slice).collect();
        // One dimension per topic.
        let m = SemanticModel::train(&refs, 2).unwrap();
        assert_eq!(m.dims(), 2);
        let t = |id| m.embed(&[(id, 1.0)]).unwrap();
        // 1 and 2 never meet 3 or 4; 1 and 5 share passages.
        assert!(cos(&t(1), &t(5)) > 0.5, "{}", cos(&t(1), &t(5)));
        assert!(cos(&t(1), &t(3)).abs() < 0.1, "{}", cos(&t(1), &t(3)));
        // A question with term 2 only still lands nearer the first topic's passages.
        let q = t(2);
        let first = m.embed(&[(1, 1.0), (5, 1.0)]).unwrap();
        let second = m.embed(&[(4, 1.0), (6, 1.0)]).unwrap();
        assert!(cos(&q, &first) > cos(&q, &second) + 0.5);
        // Unknown or one-off terms have no place.
        assert_eq!(m.embed(&[(999, 1.0)]), None);
        assert_eq!(m.embed(&[(100, 1.0)]), None);
    }

    #[test]
    fn training_is_deterministic_and_survives_a_round_trip() {
        let docs = corpus();
        let refs: Vec<&[(u32, f32)]> = docs.iter().map(Vec::as_slice).collect();
        let a = SemanticModel::train(&refs, 4).unwrap();
        let b = SemanticModel::train(&refs, 4).unwrap();
        assert_eq!(a, b);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("semantic.bin");
        a.save(&path).unwrap();
        assert_eq!(SemanticModel::load(&path).unwrap(), a);
        std::fs::write(&path, b"PBLSA\0\0\x01garbage").unwrap();
        assert!(matches!(
            SemanticModel::load(&path),
            Err(KnowledgeError::Corrupt(_))
        ));
    }

    #[test]
    fn a_large_corpus_is_learnt_from_an_even_sample() {
        // Past TRAIN_CHUNKS_MAX chunks some are left out: a term found only in those has no place.
        let n = TRAIN_CHUNKS_MAX + TRAIN_CHUNKS_MAX / 4;
        let sampled: std::collections::HashSet<usize> = (0..TRAIN_CHUNKS_MAX)
            .map(|i| i * n / TRAIN_CHUNKS_MAX)
            .collect();
        let left_out: Vec<usize> = (0..n).filter(|i| !sampled.contains(i)).take(2).collect();
        let docs: Vec<Vec<(u32, f32)>> = (0..n)
            .map(|i| {
                let topic = (i % 2) as u32;
                let mut d = vec![(1 + topic, 1.0), (3 + topic, 1.0)];
                if left_out.contains(&i) {
                    d.push((777, 1.0));
                }
                d
            })
            .collect();
        let refs: Vec<&[(u32, f32)]> = docs.iter().map(Vec::as_slice).collect();
        let m = SemanticModel::train(&refs, 2).unwrap();
        assert_eq!(m.embed(&[(777, 1.0)]), None);
        assert!(m.embed(&[(1, 1.0)]).is_some());
        // Every chunk, sampled or not, is still placed.
        assert!(refs.iter().all(|d| m.embed(d).is_some()));
        assert_eq!(SemanticModel::train(&refs, 2), Some(m));
    }

    #[test]
    fn the_plan_fixes_the_dimensions_the_model_then_has() {
        // Indexing creates the store's vector with the planned dimensions
        // before the model is learnt; a direction the corpus leaves empty
        // stays a zero column rather than shrinking the model.
        let docs = corpus();
        let refs: Vec<&[(u32, f32)]> = docs.iter().map(Vec::as_slice).collect();
        for dims in [2, 4, DIMS] {
            let plan = SemanticModel::plan(&refs, dims).unwrap();
            let planned = plan.dims();
            let model = plan.run();
            assert_eq!(model.dims(), planned);
            assert_eq!(Some(model), SemanticModel::train(&refs, dims));
        }
        // Six terms are in two chunks or more: six dimensions at most.
        assert_eq!(SemanticModel::plan(&refs, DIMS).unwrap().dims(), 6);
        assert!(SemanticModel::plan(&[], DIMS).is_none());
    }

    #[test]
    fn tiny_or_empty_corpora_have_no_model_or_a_small_one() {
        assert_eq!(SemanticModel::train(&[], DIMS), None);
        let one: &[(u32, f32)] = &[(1, 1.0)];
        assert_eq!(
            SemanticModel::train(&[one], DIMS),
            None,
            "no term in two chunks"
        );
        let two: Vec<&[(u32, f32)]> = vec![&[(1, 1.0), (2, 1.0)], &[(1, 1.0)], &[(2, 1.0)]];
        let m = SemanticModel::train(&two, DIMS).unwrap();
        assert!(m.dims() <= 2);
        assert!(m.embed(&[(1, 1.0)]).is_some());
    }
}
