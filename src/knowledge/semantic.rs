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
pub const VERSION: u32 = 2;
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
    rows: HashMap<u32, usize>,
    idf: Vec<f32>,
    /// `rows.len() * dims`, row-major.
    vectors: Vec<f32>,
}

impl SemanticModel {
    /// Learns the space from the chunks' term frequencies (term id, weighted count).
    /// `None` when the corpus is too small to have one. A large corpus is
    /// learnt from an evenly spread sample of its chunks, so training costs the
    /// same past that size (placing every chunk stays linear).
    pub fn train(docs: &[&[(u32, f32)]], dims: usize) -> Option<Self> {
        let sample: Vec<&[(u32, f32)]> = if docs.len() > TRAIN_CHUNKS_MAX {
            (0..TRAIN_CHUNKS_MAX)
                .map(|i| docs[i * docs.len() / TRAIN_CHUNKS_MAX])
                .collect()
        } else {
            docs.to_vec()
        };
        let mut model = Self::vocabulary(&sample);
        let x: Vec<Vec<(usize, f64)>> = sample
            .iter()
            .map(|d| model.weights(d))
            .filter(|r| !r.is_empty())
            .collect();
        let v = model.idf.len();
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
        let (values, w) = symmetric_eigen(gram(&bt, l), l);
        let mut order: Vec<usize> = (0..l).collect();
        order.sort_by(|a, b| values[*b].total_cmp(&values[*a]));
        let top = values[order[0]].max(0.0);
        let keep: Vec<usize> = order
            .into_iter()
            .take(k)
            .filter(|j| values[*j] > 1e-10 * top)
            .collect();
        if keep.is_empty() {
            return None;
        }
        // M (l × kept): the kept eigenvectors as columns, each scaled by Λ^-½;
        // a term's vector is its row of Bᵀ times M.
        let dims = keep.len();
        let mut m = vec![0.0; l * dims];
        for (col, j) in keep.iter().enumerate() {
            let scale = 1.0 / values[*j].sqrt();
            for (i, x) in w[j * l..(j + 1) * l].iter().enumerate() {
                m[i * dims + col] = x * scale;
            }
        }
        model.vectors = mul_dense(&bt, l, &m, dims)
            .into_iter()
            .map(|x| x as f32)
            .collect();
        model.dims = dims;
        tracing::debug!(chunks = x.len(), terms = v, dims, elapsed = ?t0.elapsed(), "semantic model learnt");
        Some(model)
    }

    /// The terms found in at least [`MIN_DF`] chunks, with their idf; no vectors yet.
    fn vocabulary(docs: &[&[(u32, f32)]]) -> Self {
        let mut df: HashMap<u32, u32> = HashMap::new();
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
/// matrix: Householder reduction to tridiagonal form, then the implicit QL
/// method (EISPACK's tred2/tql2), O(n³) with a small constant where cyclic
/// Jacobi needs several O(n³) sweeps.
fn symmetric_eigen(a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let (d, e, v) = tridiagonalize(a, n);
    // The rotations below combine columns of V; as rows of Vᵀ they run over
    // contiguous memory, and the eigenvectors come out as rows.
    let mut vt = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            vt[j * n + i] = v[i * n + j];
        }
    }
    let d = tridiagonal_ql(d, e, &mut vt, n);
    (d, vt)
}

/// Householder reduction of a symmetric row-major matrix to tridiagonal form:
/// the diagonal, the subdiagonal (`e[i]` joins `i - 1` and `i`) and the
/// orthogonal transformation (row-major `V`, the matrix being `V·T·Vᵀ`).
fn tridiagonalize(mut v: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let at = |i: usize, j: usize| i * n + j;
    let mut d: Vec<f64> = (0..n).map(|j| v[at(n - 1, j)]).collect();
    let mut e = vec![0.0; n];
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    accumulate(&mut v, &mut d, n);
    e[0] = 0.0;
    (d, e, v)
}

/// Tridiagonalisation's second half: the Householder transformations kept in
/// `v` multiplied out into `V`, and the diagonal read out into `d`.
fn accumulate(v: &mut [f64], d: &mut [f64], n: usize) {
    let at = |i: usize, j: usize| i * n + j;
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
}

/// Eigenvalues of the symmetric tridiagonal matrix (`d`, `e`) by the implicit
/// QL method; the rotations are applied to the rows of `vt`.
fn tridiagonal_ql(mut d: Vec<f64>, mut e: Vec<f64>, vt: &mut [f64], n: usize) -> Vec<f64> {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            // At most a few iterations per eigenvalue; the cap only guards against NaN input.
            for _ in 0..64 {
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for x in &mut d[l + 2..n] {
                    *x -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    // Columns i and i+1 of V are rows i and i+1 of Vᵀ.
                    rotate_rows(vt, n, i, i + 1, c, s);
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    d
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

/// A·M for row-major dense A (`l` columns) and M (`l × k`), row by row as
/// sums of M's rows (contiguous, so the inner loop vectorises).
fn mul_dense(a: &[f64], l: usize, m: &[f64], k: usize) -> Vec<f64> {
    let mut out = vec![0.0; (a.len() / l.max(1)) * k];
    for (row, o) in a.chunks_exact(l).zip(out.chunks_exact_mut(k)) {
        for (x, mr) in row.iter().zip(m.chunks_exact(k)) {
            if *x != 0.0 {
                axpy(o, *x, mr);
            }
        }
    }
    out
}

/// Orthonormal columns spanning those of `y` (Cholesky QR; a second pass makes
/// them orthonormal to working precision).
fn orthonormal(mut y: Vec<f64>, l: usize, passes: usize) -> Vec<f64> {
    for _ in 0..passes {
        let c = cholesky(gram(&y, l), l);
        // Cᵀ's rows are C's columns, for the column-oriented solve below.
        let mut ct = vec![0.0; l * l];
        for i in 0..l {
            for j in 0..=i {
                ct[j * l + i] = c[i * l + j];
            }
        }
        // Q = Y·R⁻¹ with R = Cᵀ: each row q solves C·qᵀ = yᵀ, one unknown at a
        // time, subtracting its column from the rest.
        for row in y.chunks_exact_mut(l) {
            for k in 0..l {
                row[k] /= ct[k * l + k];
                let (done, rest) = row.split_at_mut(k + 1);
                axpy(rest, -done[k], &ct[k * l + k + 1..(k + 1) * l]);
            }
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
    fn eigenpairs_of_a_larger_matrix_with_repeated_values() {
        // Random symmetric 40 × 40, plus a block with a repeated eigenvalue.
        let n = 40;
        let r = random_signs(n, n);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = r[i * n + j] + r[j * n + i] + if i == j { 3.0 } else { 0.0 };
            }
        }
        for i in 30..n {
            for j in 0..n {
                a[i * n + j] = if i == j { 2.0 } else { 0.0 };
                a[j * n + i] = a[i * n + j];
            }
        }
        let (values, v) = symmetric_eigen(a.clone(), n);
        for j in 0..n {
            let row = &v[j * n..(j + 1) * n];
            let norm: f64 = row.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-9);
            for i in 0..n {
                let av: f64 = (0..n).map(|k| a[i * n + k] * row[k]).sum();
                assert!((av - values[j] * row[i]).abs() < 1e-8, "{j} {i}");
            }
            for k in 0..j {
                let dot: f64 = row
                    .iter()
                    .zip(&v[k * n..(k + 1) * n])
                    .map(|(x, y)| x * y)
                    .sum();
                assert!(dot.abs() < 1e-9);
            }
        }
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((values.iter().sum::<f64>() - trace).abs() < 1e-8);
    }

    #[test]
    fn eigenpairs_of_a_small_matrix() {
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
