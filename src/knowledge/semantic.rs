//! A latent semantic model of the indexed docs (LSA), learnt from the corpus
//! itself when the index is built: no model download, no embeddings endpoint.
//!
//! Questions in chat rarely use the docs' words ("print the rendered yaml" for
//! `argocd app manifests`, "timestamps in UTC" for a timezone setting). Terms
//! that occur in the same passages end up close in a low-rank space, so a
//! question can reach a passage it shares few words with. Its ranking is fused
//! with BM25 (RRF), which keeps exact identifiers decisive.
//!
//! The space is a truncated SVD of the chunk × term matrix (log tf · idf, rows
//! unit length), found by a randomised range finder (oversampled, one power
//! iteration) and the exact SVD of the small projected matrix.
//! The model is one vector per term; a chunk or a question is the weighted sum
//! of its terms' vectors, so chunks indexed later are placed exactly like the
//! ones it was learnt from. `platbot index --rebuild` learns it again.

use std::collections::HashMap;
use std::path::Path;

use super::KnowledgeError;

/// Dimensions of the space (fewer for a small corpus).
pub const DIMS: usize = 200;
/// Bumped when training or weighting changes: the index is then rebuilt.
pub const VERSION: u32 = 1;
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
    rows: HashMap<u32, usize>,
    idf: Vec<f32>,
    /// `rows.len() * dims`, row-major.
    vectors: Vec<f32>,
}

impl SemanticModel {
    /// Learns the space from the chunks' term frequencies (term id, weighted count).
    /// `None` when the corpus is too small to have one.
    pub fn train(docs: &[&[(u32, f32)]], dims: usize) -> Option<Self> {
        let mut df: HashMap<u32, u32> = HashMap::new();
        for doc in docs {
            for (t, _) in *doc {
                *df.entry(*t).or_default() += 1;
            }
        }
        let n = docs.len() as f64;
        let mut terms: Vec<u32> = df
            .iter()
            .filter(|(_, d)| **d >= MIN_DF)
            .map(|(t, _)| *t)
            .collect();
        terms.sort_unstable();
        let rows: HashMap<u32, usize> = terms.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        let idf: Vec<f32> = terms
            .iter()
            .map(|t| {
                let d = f64::from(df[t]);
                (1.0 + (n - d + 0.5) / (d + 0.5)).ln() as f32
            })
            .collect();
        let mut model = Self {
            dims: 0,
            rows,
            idf,
            vectors: Vec::new(),
        };
        let x: Vec<Vec<(usize, f64)>> = docs
            .iter()
            .map(|d| model.weights(d))
            .filter(|r| !r.is_empty())
            .collect();
        let v = terms.len();
        let k = dims.min(x.len()).min(v);
        if k == 0 {
            return None;
        }
        let l = (k + OVERSAMPLE).min(x.len()).min(v);

        // Range finder: Y = X·Ω, one power iteration, orthonormal Q spanning it.
        let t0 = std::time::Instant::now();
        let omega = random_signs(v, l);
        let q = orthonormal(mul(&x, &omega, l), l, 1);
        let z = mul_t(&x, &q, v, l);
        let q = orthonormal(mul(&x, &z, l), l, 2);
        // X ≈ Q·B with B = Qᵀ·X. B·Bᵀ = W·Λ·Wᵀ gives B's singular values (√Λ) and
        // right singular vectors Bᵀ·W·Λ^-½: the terms' coordinates in the space, in
        // which a chunk sits at X·Bᵀ·W·Λ^-½ (its row of U·Σ).
        let bt = mul_t(&x, &q, v, l);
        let g = gram(&bt, l);
        let (values, w) = symmetric_eigen(g, l);
        let mut order: Vec<usize> = (0..l).collect();
        order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
        let top = values[order[0]].max(0.0);
        let keep: Vec<(usize, f64)> = order
            .into_iter()
            .take(k)
            .filter(|j| values[*j] > 1e-10 * top)
            .map(|j| (j, 1.0 / values[j].sqrt()))
            .collect();
        if keep.is_empty() {
            return None;
        }
        // The kept eigenvectors, each scaled by Λ^-½, as contiguous rows.
        let basis: Vec<Vec<f64>> = keep
            .iter()
            .map(|(j, scale)| w[j * l..(j + 1) * l].iter().map(|x| x * scale).collect())
            .collect();
        let mut vectors = Vec::with_capacity(v * keep.len());
        for row in bt.chunks_exact(l) {
            for b in &basis {
                let dot: f64 = row.iter().zip(b).map(|(x, y)| x * y).sum();
                vectors.push(dot as f32);
            }
        }
        let l = keep.len();
        tracing::debug!(chunks = x.len(), terms = v, dims = l, elapsed = ?t0.elapsed(), "semantic model learnt");
        model.dims = l;
        model.vectors = vectors;
        Some(model)
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
        let mut acc: HashMap<usize, f64> = HashMap::new();
        for (t, f) in tf {
            if let Some(row) = self.rows.get(t) {
                *acc.entry(*row).or_default() += f64::from(*f);
            }
        }
        let mut out: Vec<(usize, f64)> = acc
            .into_iter()
            .filter(|(_, f)| *f > 0.0)
            .map(|(row, f)| (row, (1.0 + f.max(1.0).ln()) * f64::from(self.idf[row])))
            .collect();
        out.sort_unstable_by_key(|(row, _)| *row);
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
        let mut rows = HashMap::with_capacity(n);
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
fn random_signs(v: usize, l: usize) -> Vec<f64> {
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

/// X·M for sparse rows X and a dense row-major `M` with `l` columns.
fn mul(x: &[Vec<(usize, f64)>], m: &[f64], l: usize) -> Vec<f64> {
    let mut out = vec![0.0; x.len() * l];
    for (row, o) in x.iter().zip(out.chunks_exact_mut(l)) {
        for (c, w) in row {
            axpy(o, *w, &m[c * l..(c + 1) * l]);
        }
    }
    out
}

/// Xᵀ·M (`v × l`) for sparse rows X and a dense row-major `M` (one row per X row).
fn mul_t(x: &[Vec<(usize, f64)>], m: &[f64], v: usize, l: usize) -> Vec<f64> {
    let mut out = vec![0.0; v * l];
    for (row, mr) in x.iter().zip(m.chunks_exact(l)) {
        for (c, w) in row {
            axpy(&mut out[c * l..(c + 1) * l], *w, mr);
        }
    }
    out
}

fn axpy(y: &mut [f64], a: f64, x: &[f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// MᵀM (`l × l`) of a row-major matrix with `l` columns.
fn gram(m: &[f64], l: usize) -> Vec<f64> {
    let mut g = vec![0.0; l * l];
    for row in m.chunks_exact(l) {
        for (i, a) in row.iter().enumerate() {
            if *a != 0.0 {
                axpy(&mut g[i * l + i..(i + 1) * l], *a, &row[i..]);
            }
        }
    }
    // Mirror the upper triangle.
    for i in 0..l {
        for j in 0..i {
            g[i * l + j] = g[j * l + i];
        }
    }
    g
}

/// Lower-triangular C with C·Cᵀ = G (plus a tiny ridge: a corpus can be rank-deficient).
fn cholesky(mut g: Vec<f64>, l: usize) -> Vec<f64> {
    let trace: f64 = (0..l).map(|i| g[i * l + i]).sum();
    let ridge = 1e-9 * trace.max(f64::MIN_POSITIVE) / l as f64;
    for i in 0..l {
        g[i * l + i] += ridge;
    }
    let mut c = vec![0.0; l * l];
    for i in 0..l {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| c[i * l + k] * c[j * l + k]).sum();
            let s = g[i * l + j] - dot;
            c[i * l + j] = if i == j {
                s.max(ridge).sqrt()
            } else {
                s / c[j * l + j]
            };
        }
    }
    c
}

/// Eigenvalues and eigenvectors (the rows of the result) of a symmetric `n × n`
/// matrix, by cyclic Jacobi rotations. Only rows are touched in the inner loops
/// (the matrix stays symmetric), so they run over contiguous memory.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..60 {
        let diag: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if total - diag <= 1e-24 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                rotate_rows(&mut a, n, p, q, c, s);
                a[p * n + p] = app - t * apq;
                a[q * n + q] = aqq + t * apq;
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                // Mirror the two rows into their columns.
                for k in 0..n {
                    if k != p && k != q {
                        a[k * n + p] = a[p * n + k];
                        a[k * n + q] = a[q * n + k];
                    }
                }
                rotate_rows(&mut v, n, p, q, c, s);
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Rows p and q (p < q) become c·p − s·q and s·p + c·q.
fn rotate_rows(m: &mut [f64], n: usize, p: usize, q: usize, c: f64, s: f64) {
    let (head, tail) = m.split_at_mut(q * n);
    let rp = &mut head[p * n..(p + 1) * n];
    let rq = &mut tail[..n];
    for (x, y) in rp.iter_mut().zip(rq.iter_mut()) {
        let (xp, xq) = (*x, *y);
        *x = c * xp - s * xq;
        *y = s * xp + c * xq;
    }
}

/// y with C·y = b, C lower-triangular.
fn forward_solve(c: &[f64], b: &[f64], l: usize) -> Vec<f64> {
    let mut y = vec![0.0; l];
    for i in 0..l {
        let dot: f64 = (0..i).map(|k| c[i * l + k] * y[k]).sum();
        y[i] = (b[i] - dot) / c[i * l + i];
    }
    y
}

/// Orthonormal columns spanning those of `y` (Cholesky QR; a second pass makes
/// them orthonormal to working precision).
fn orthonormal(mut y: Vec<f64>, l: usize, passes: usize) -> Vec<f64> {
    for _ in 0..passes {
        let c = cholesky(gram(&y, l), l);
        // Q = Y·R⁻¹ with R = Cᵀ: each row q solves C·qᵀ = yᵀ.
        for row in y.chunks_exact_mut(l) {
            let q = forward_solve(&c, row, l);
            row.copy_from_slice(&q);
        }
    }
    y
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
    fn jacobi_finds_the_eigenpairs() {
        let a = vec![4.0, 1.0, 2.0, 1.0, 3.0, 0.5, 2.0, 0.5, 5.0];
        let (values, v) = symmetric_eigen(a.clone(), 3);
        for j in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|k| a[i * 3 + k] * v[j * 3 + k]).sum();
                assert!((av - values[j] * v[j * 3 + i]).abs() < 1e-9);
            }
        }
        let trace: f64 = values.iter().sum();
        assert!((trace - 12.0).abs() < 1e-9);
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
