//! The linear algebra the semantic model is learnt with: sparse × dense
//! products, dense products, Cholesky QR and the symmetric eigenproblem.
//!
//! Dense products go through matrixmultiply's sgemm/dgemm, which pick AVX2/FMA
//! kernels at run time (a plain loop gets SSE2 only). Large products are cut
//! into a fixed number of row blocks computed on scoped threads: every row is
//! computed the same way whatever the core count, so the same input gives the
//! same bits run after run on a machine (another CPU may pick another kernel).

/// Sparse rows: (column, value), columns ascending.
pub(super) type SparseRows<F> = [Vec<(usize, F)>];

/// The element types of the products: the semantic model runs its sparse ones
/// in `f32` (they read a dense row per stored value, so half the bytes is nearly
/// half the time) and its last dense one too (its input holds f32's precision
/// and its output is kept in f32), the Cholesky QR and the eigenproblem in `f64`.
pub(super) trait Float:
    Copy + Default + Send + Sync + std::ops::Mul<Output = Self> + std::ops::AddAssign
{
    /// matrixmultiply's kernel for the type: C = A·B with the given strides.
    ///
    /// # Safety
    /// As `matrixmultiply::sgemm`/`dgemm` (α = 1, β = 0; B's and C's column
    /// stride 1): every element the strides reach lies in its buffer, C's rows
    /// (`rsc >= n`) do not overlap each other, and C overlaps neither A nor B.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        c: *mut Self,
        rsc: isize,
    );
}

impl Float for f32 {
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        c: *mut f32,
        rsc: isize,
    ) {
        // SAFETY: the caller's contract is sgemm's.
        unsafe { matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, 1, 0.0, c, rsc, 1) }
    }
}

impl Float for f64 {
    unsafe fn kernel(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        c: *mut f64,
        rsc: isize,
    ) {
        // SAFETY: the caller's contract is dgemm's.
        unsafe { matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, 1, 0.0, c, rsc, 1) }
    }
}

/// Row blocks a large product is cut into (fixed, not the core count, so the
/// result never depends on the machine).
const BLOCKS: usize = 2;
/// Multiply-adds below which a product is not worth a thread.
const THREAD_WORK: usize = 1 << 21;

/// Runs `f(first_row, rows)` over `BLOCKS` contiguous blocks of `out` (rows of
/// `width` values each), on scoped threads when the work is large.
fn by_row_blocks<F: Send>(
    out: &mut [F],
    width: usize,
    work: usize,
    f: impl Fn(usize, &mut [F]) + Sync,
) {
    let rows = out.len().checked_div(width).unwrap_or(0);
    if work < THREAD_WORK || rows < BLOCKS {
        f(0, out);
        return;
    }
    let per = rows.div_ceil(BLOCKS);
    std::thread::scope(|scope| {
        for (b, block) in out.chunks_mut(per * width).enumerate() {
            let f = &f;
            scope.spawn(move || f(b * per, block));
        }
    });
}

/// X·M for sparse rows X and a dense row-major `M` with `l` columns.
pub(super) fn mul<F: Float>(x: &SparseRows<F>, m: &[F], l: usize) -> Vec<F> {
    let mut out = vec![F::default(); x.len() * l];
    let nnz: usize = x.iter().map(Vec::len).sum();
    by_row_blocks(&mut out, l, nnz * l, |first, block| {
        // Summed in a buffer, then written once: adding into the fresh output
        // read its zero pages before writing them, and each such page then
        // cost a copy-on-write fault with a TLB shootdown of the other cores.
        let mut acc = vec![F::default(); l];
        for (row, o) in x[first..].iter().zip(block.chunks_exact_mut(l)) {
            acc.fill(F::default());
            for (c, w) in row {
                axpy(&mut acc, *w, &m[c * l..(c + 1) * l]);
            }
            o.copy_from_slice(&acc);
        }
    });
    out
}

/// Xᵀ as sparse rows (`cols` of them), each in X's row order: `mul(&xt, m)`
/// sums every output row in the same order as a pass over X's rows would.
pub(super) fn transpose<F: Copy>(x: &SparseRows<F>, cols: usize) -> Vec<Vec<(usize, F)>> {
    let mut counts = vec![0usize; cols];
    for row in x {
        for (c, _) in row {
            counts[*c] += 1;
        }
    }
    let mut out: Vec<Vec<(usize, F)>> = counts.into_iter().map(Vec::with_capacity).collect();
    for (r, row) in x.iter().enumerate() {
        for (c, w) in row {
            out[*c].push((r, *w));
        }
    }
    out
}

/// op(A)·B: A is `m × k` row-major, or `k × m` row-major read transposed when
/// `a_transposed`; B is `k × n` row-major; the result is `m × n` row-major.
pub(super) fn gemm<F: Float>(
    a: &[F],
    m: usize,
    k: usize,
    a_transposed: bool,
    b: &[F],
    n: usize,
) -> Vec<F> {
    // The checks that keep every pointer below in bounds.
    assert_eq!(a.len(), m * k, "gemm: A is not {m} × {k}");
    assert_eq!(b.len(), k * n, "gemm: B is not {k} × {n}");
    let mut c = vec![F::default(); m * n];
    if m == 0 || n == 0 || k == 0 {
        return c;
    }
    // Strides of op(A): row i, column p at a[i·rsa + p·csa].
    let (rsa, csa) = if a_transposed { (1, m) } else { (k, 1) };
    by_row_blocks(&mut c, n, m * k * n, |first, block| {
        let rows = block.len() / n;
        // SAFETY: op(A) rows first..first+rows and columns 0..k lie in `a`
        // (len m·k, checked above: the largest index read is
        // (first+rows-1)·rsa + (k-1)·csa < m·k); B is k × n dense row-major
        // (len checked); `block` is rows × n and written only here. The kernel
        // reads A and B and writes C within those extents.
        unsafe {
            F::kernel(
                rows,
                k,
                n,
                a.as_ptr().add(first * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                n as isize,
                block.as_mut_ptr(),
                n as isize,
            );
        }
    });
    c
}

/// MᵀM (`l × l`, exactly symmetric) of a row-major matrix with `l` columns.
pub(super) fn gram(m: &[f64], l: usize) -> Vec<f64> {
    let rows = m.len().checked_div(l).unwrap_or(0);
    let mut g = gemm(m, l, rows, true, m, l);
    for i in 0..l {
        for j in 0..i {
            g[i * l + j] = g[j * l + i];
        }
    }
    g
}

/// Orthonormal columns spanning those of `y` (`l` columns; Cholesky QR, a
/// second pass makes them orthonormal to working precision).
pub(super) fn orthonormal(mut y: Vec<f64>, l: usize, passes: usize) -> Vec<f64> {
    let rows = y.len().checked_div(l).unwrap_or(0);
    for _ in 0..passes {
        let c = cholesky(gram(&y, l), l);
        // Q = Y·R⁻¹ with R = Cᵀ upper triangular.
        y = gemm(&y, rows, l, false, &upper_inverse_of_transpose(&c, l), l);
    }
    y
}

/// (Cᵀ)⁻¹ for lower-triangular C with a positive diagonal: upper triangular,
/// found column by column by back substitution.
fn upper_inverse_of_transpose(c: &[f64], l: usize) -> Vec<f64> {
    // R = Cᵀ: R[i][j] = C[j][i].
    let r = |i: usize, j: usize| c[j * l + i];
    let mut inv = vec![0.0; l * l];
    for j in 0..l {
        inv[j * l + j] = 1.0 / r(j, j);
        for i in (0..j).rev() {
            let s: f64 = (i + 1..=j).map(|p| r(i, p) * inv[p * l + j]).sum();
            inv[i * l + j] = -s / r(i, i);
        }
    }
    inv
}

fn axpy<F: Float>(y: &mut [F], a: F, x: &[F]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * *x;
    }
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
pub(super) fn symmetric_eigen(a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) (a linear congruential generator).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    fn naive(a: &[f64], m: usize, k: usize, at: bool, b: &[f64], n: usize) -> Vec<f64> {
        let op = |i: usize, p: usize| if at { a[p * m + i] } else { a[i * k + p] };
        (0..m * n)
            .map(|ij| (0..k).map(|p| op(ij / n, p) * b[p * n + ij % n]).sum())
            .collect()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
        }
    }

    #[test]
    fn products_match_the_definition_small_and_split_over_threads() {
        // The second size is past THREAD_WORK, so it runs in row blocks.
        for (m, k, n) in [(3, 5, 4), (7, 1, 2), (301, 97, 83)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            close(
                &gemm(&a, m, k, false, &b, n),
                &naive(&a, m, k, false, &b, n),
                1e-12,
            );
            close(
                &gemm(&a, k, m, true, &a, k),
                &naive(&a, k, m, true, &a, k),
                1e-12,
            );
            // The f32 kernel, to f32's precision.
            let narrow = |v: &[f64]| v.iter().map(|x| *x as f32).collect::<Vec<f32>>();
            let single: Vec<f64> = gemm(&narrow(&a), m, k, false, &narrow(&b), n)
                .into_iter()
                .map(f64::from)
                .collect();
            close(&single, &naive(&a, m, k, false, &b, n), 1e-5);
            let single: Vec<f64> = gemm(&narrow(&a), k, m, true, &narrow(&a), k)
                .into_iter()
                .map(f64::from)
                .collect();
            close(&single, &naive(&a, k, m, true, &a, k), 1e-5);
        }
        const { assert!(301 * 97 * 83 > THREAD_WORK) };
        assert_eq!(gemm(&[], 0, 3, false, &[0.0; 6], 2), Vec::<f64>::new());
    }

    #[test]
    fn the_same_input_gives_the_same_bits() {
        let (m, k, n) = (257, 300, 64);
        let a = values(m * k, 3);
        let b = values(k * n, 4);
        let first = gemm(&a, m, k, false, &b, n);
        for _ in 0..3 {
            assert_eq!(gemm(&a, m, k, false, &b, n), first);
        }
    }

    #[test]
    fn sparse_products_through_the_transpose_match_dense_ones() {
        // 40 × 30 sparse X with about one entry in four.
        let (rows, cols, l) = (40, 30, 5);
        let dense: Vec<f64> = values(rows * cols, 5)
            .into_iter()
            .map(|v| if v > 0.5 { v } else { 0.0 })
            .collect();
        let x: Vec<Vec<(usize, f64)>> = dense
            .chunks_exact(cols)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(c, v)| (c, *v))
                    .collect()
            })
            .collect();
        let m = values(cols * l, 6);
        close(
            &mul(&x, &m, l),
            &naive(&dense, rows, cols, false, &m, l),
            1e-12,
        );
        let y = values(rows * l, 7);
        let xt = transpose(&x, cols);
        close(
            &mul(&xt, &y, l),
            &naive(&dense, cols, rows, true, &y, l),
            1e-12,
        );
    }

    #[test]
    fn cholesky_qr_gives_orthonormal_columns_spanning_the_input() {
        let (rows, l) = (500, 24);
        let y = values(rows * l, 8);
        let q = orthonormal(y.clone(), l, 2);
        let g = gram(&q, l);
        for i in 0..l {
            for j in 0..l {
                let want = if i == j { 1.0 } else { 0.0 };
                // Within the Cholesky ridge (1e-9 of the mean diagonal).
                assert!(
                    (g[i * l + j] - want).abs() < 1e-8,
                    "{i} {j}: {}",
                    g[i * l + j]
                );
            }
        }
        // Y = Q·(QᵀY): nothing of Y is lost.
        let back = gemm(&q, rows, l, false, &gemm(&q, l, rows, true, &y, l), l);
        close(&back, &y, 1e-8);
    }

    #[test]
    fn one_pass_is_orthonormal_but_for_the_ridge_on_weak_columns() {
        // Column scales falling from 1 to 1e-3: Y's Gram matrix spans six decades.
        let (rows, l) = (500, 24);
        let mut y = values(rows * l, 9);
        for row in y.chunks_exact_mut(l) {
            for (j, v) in row.iter_mut().enumerate() {
                *v *= 10f64.powf(-3.0 * j as f64 / (l - 1) as f64);
            }
        }
        let q = orthonormal(y.clone(), l, 1);
        let g = gram(&q, l);
        let off = |i: usize, j: usize| (g[i * l + j] - if i == j { 1.0 } else { 0.0 }).abs();
        // The ridge shortens a column by about ridge / its squared scale: nothing
        // among the strong half, at most 1e-3 on the weakest.
        for i in 0..l {
            for j in 0..l {
                let tol = if i.max(j) < l / 2 { 1e-6 } else { 1e-3 };
                assert!(off(i, j) < tol, "{i} {j}: {}", g[i * l + j]);
            }
        }
        // A second pass gets the rest.
        let g = gram(&orthonormal(y, l, 2), l);
        for i in 0..l {
            for j in 0..l {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[i * l + j] - want).abs() < 1e-6, "{i} {j}");
            }
        }
    }

    #[test]
    fn eigenpairs_of_a_larger_matrix_with_repeated_values() {
        // Random symmetric 40 × 40, plus a block with a repeated eigenvalue.
        let n = 40;
        let r: Vec<f64> = values(n * n, 9).into_iter().map(f64::signum).collect();
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
}
