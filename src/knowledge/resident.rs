//! The ranking vectors of the embedded store, held in process: BM25 as posting
//! lists and the latent semantic vectors as one matrix, read from the
//! qdrant-edge shard when the index is opened or updated; after a full build,
//! taken from the points it wrote (in the form the shard keeps them).
//!
//! The shard stays the index (what is on disk, what a restart reads); this is
//! an exact, single-threaded copy that ranks a question without the hop to the
//! blocking pool and without depending on how the shard happens to have laid
//! out its segments: rows are in chunk id order, every score is summed in one
//! fixed order and equal scores go by chunk id, so the same points give the
//! same candidate lists bit for bit.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::rank::{FileTable, Hit};
use super::sparse::SparseVec;

/// One stored point: its id and ranking vectors.
#[derive(Debug, Clone)]
pub struct ResidentPoint {
    pub id: u64,
    pub sparse: SparseVec,
    pub semantic: Option<Vec<f32>>,
}

/// The BM25 postings and the semantic matrix of every stored chunk.
#[derive(Debug, Default)]
pub struct Resident {
    /// Chunk ids, ascending; a chunk's place here is its row.
    ids: Vec<u64>,
    /// The [`FileTable`] file of each row (`u32::MAX`: not in the table).
    files: Vec<u32>,
    /// Term id -> `(row, BM25 weight)`, rows ascending.
    postings: HashMap<u32, Vec<(u32, f32)>>,
    /// Semantic vector size (0: no semantic vectors).
    dims: usize,
    /// `rows × dims`, row-major; a row without a vector is zero and left out.
    semantic: Vec<f32>,
    has_semantic: Vec<bool>,
    /// The semantic matrix as 8-bit codes, a quarter of its size: a first
    /// pass reads this and rules rows out, the rest are scored exactly.
    codes: Vec<i8>,
    /// Each row's step: its largest component is [`STEPS`] steps, so a row
    /// uses the codes' whole range (a 200-dimensional unit vector's components
    /// are mostly far below 1, and a fixed step of 1/127 left most rows a few
    /// codes wide and the first pass too loose to rule much out).
    step: Vec<f32>,
    /// Each row's L1 norm as coded (codes × step), for the bound on its first-pass error.
    l1: Vec<f32>,
}

/// The largest code.
const STEPS: f32 = 127.0;

/// `v` in steps of its largest component / [`STEPS`]: the codes and the step.
fn quantise(v: &[f32]) -> (Vec<i8>, f32) {
    let top = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let step = if top.is_normal() { top / STEPS } else { 1.0 };
    let codes = v
        .iter()
        .map(|x| (x / step).round().clamp(-STEPS, STEPS) as i8)
        .collect();
    (codes, step)
}

/// The L1 norm of coded values.
fn coded_l1(codes: &[i8], step: f32) -> f32 {
    codes
        .iter()
        .map(|c| f32::from(c.unsigned_abs()))
        .sum::<f32>()
        * step
}

impl Resident {
    /// From the stored points (any order) and the manifest's file table.
    pub fn new(mut points: Vec<ResidentPoint>, table: &FileTable) -> Self {
        points.sort_unstable_by_key(|p| p.id);
        points.dedup_by_key(|p| p.id);
        let dims = points
            .iter()
            .find_map(|p| p.semantic.as_ref().map(Vec::len))
            .unwrap_or(0);
        let mut r = Self {
            ids: Vec::with_capacity(points.len()),
            files: Vec::with_capacity(points.len()),
            postings: HashMap::new(),
            dims,
            semantic: Vec::with_capacity(points.len() * dims),
            has_semantic: Vec::with_capacity(points.len()),
            codes: Vec::with_capacity(points.len() * dims),
            step: Vec::with_capacity(points.len()),
            l1: Vec::with_capacity(points.len()),
        };
        for (row, p) in points.into_iter().enumerate() {
            let row = u32::try_from(row).unwrap_or(u32::MAX);
            r.ids.push(p.id);
            r.files.push(table.file_of(p.id).unwrap_or(u32::MAX));
            for (t, w) in p.sparse.indices.iter().zip(&p.sparse.values) {
                r.postings.entry(*t).or_default().push((row, *w));
            }
            let v = p.semantic.filter(|v| v.len() == dims && dims > 0);
            r.has_semantic.push(v.is_some());
            let v = v.unwrap_or_else(|| vec![0.0; dims]);
            let (codes, step) = quantise(&v);
            r.l1.push(coded_l1(&codes, step));
            r.codes.extend(codes);
            r.step.push(step);
            r.semantic.extend_from_slice(&v);
        }
        r
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// BM25 with the IDF of the stored chunks (`ln(1 + (n - df + 0.5) / (df + 0.5))`,
    /// the store's own modifier): the best `limit` chunks sharing a term with
    /// `query`, of the files `allowed` admits (all when `None`).
    pub fn sparse(&self, query: &SparseVec, allowed: Option<&[bool]>, limit: usize) -> Vec<Hit> {
        let n = self.ids.len() as f32;
        let mut scores = vec![0f32; self.ids.len()];
        let mut touched = vec![false; self.ids.len()];
        // Terms in id order, as the query vector holds them: one fixed summing order.
        for (t, qw) in query.indices.iter().zip(&query.values) {
            let Some(list) = self.postings.get(t) else {
                continue;
            };
            let df = list.len() as f32;
            let w = qw * ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for (row, dw) in list {
                scores[*row as usize] += w * dw;
                touched[*row as usize] = true;
            }
        }
        let candidates = (0..self.ids.len())
            .filter(|r| touched[*r] && self.admits(*r, allowed))
            .map(|r| (scores[r], r));
        self.top(candidates, limit)
    }

    /// Cosine against the semantic vectors (stored at unit length): the best
    /// `limit` chunks that have one, of the files `allowed` admits.
    pub fn semantic(&self, query: &[f32], allowed: Option<&[bool]>, limit: usize) -> Vec<Hit> {
        if self.dims == 0 || query.len() != self.dims {
            return Vec::new();
        }
        let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_normal() {
            return Vec::new();
        }
        let q: Vec<f32> = query.iter().map(|x| x / norm).collect();
        let exact = |r: usize| {
            (
                dot(&q, &self.semantic[r * self.dims..(r + 1) * self.dims]),
                r,
            )
        };
        // First pass: every admitted row's estimate from the codes.
        let (q8, q_step) = quantise(&q);
        let dots = idots(&q8, &self.codes);
        let mut estimates: Vec<(f32, usize)> = (0..self.ids.len())
            .filter(|r| self.has_semantic[*r] && self.admits(*r, allowed))
            .map(|r| (dots[r] as f32 * q_step * self.step[r], r))
            .collect();
        if limit == 0 || estimates.len() <= limit {
            return self.top(estimates.into_iter().map(|(_, r)| exact(r)), limit);
        }
        // With q = q̂ + e and v = v̂ + f (coded plus rounding, |eᵢ| ≤ half q's step,
        // |fᵢ| ≤ half v's), q·v − q̂·v̂ = q̂·f + e·v̂ + e·f, so an estimate is off by at
        // most ½s_v·|q̂|₁ + ½s_q·|v̂|₁ + dims·¼·s_q·s_v; the margin covers f32 rounding.
        let q_l1 = coded_l1(&q8, q_step);
        let dims = self.dims as f32;
        let slack = |r: usize| {
            let v_step = self.step[r];
            0.5 * (v_step * q_l1 + q_step * self.l1[r]) + 0.25 * dims * q_step * v_step + 1e-4
        };
        // The exact scores of the best `limit` estimates: the `limit`-th best exact
        // score overall is at least their lowest, so a row whose estimate plus
        // slack is below that cannot be in the result.
        let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        estimates.select_nth_unstable_by(limit - 1, order);
        let floor = estimates[..limit]
            .iter()
            .map(|(_, r)| exact(*r).0)
            .fold(f32::INFINITY, f32::min);
        let survivors = estimates
            .into_iter()
            .filter(|(e, r)| e + slack(*r) >= floor)
            .map(|(_, r)| exact(r));
        self.top(survivors, limit)
    }

    /// The sorted, distinct ids of `wanted` that chunk `id` contains (for coverage).
    pub fn terms_of(&self, id: u64, wanted: &[u32]) -> Option<Vec<u32>> {
        let row = u32::try_from(self.ids.binary_search(&id).ok()?).ok()?;
        let mut found: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|t| {
                self.postings
                    .get(t)
                    .is_some_and(|l| l.binary_search_by_key(&row, |p| p.0).is_ok())
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        Some(found)
    }

    fn admits(&self, row: usize, allowed: Option<&[bool]>) -> bool {
        allowed.is_none_or(|a| a.get(self.files[row] as usize).copied().unwrap_or(false))
    }

    /// The best `limit` of `(score, row)`, best first, equal scores by chunk id.
    fn top(&self, candidates: impl Iterator<Item = (f32, usize)>, limit: usize) -> Vec<Hit> {
        let order = |a: &(f32, usize), b: &(f32, usize)| -> Ordering {
            b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
        };
        let mut all: Vec<(f32, usize)> = candidates.collect();
        if limit == 0 {
            return Vec::new();
        }
        if all.len() > limit {
            all.select_nth_unstable_by(limit - 1, order);
            all.truncate(limit);
        }
        all.sort_unstable_by(order);
        all.into_iter()
            .map(|(score, r)| Hit {
                id: self.ids[r],
                score,
            })
            .collect()
    }
}

/// The integer dot product of `q` with every row of `codes` (`q.len()` wide),
/// with AVX-512 VNNI or AVX2 where the CPU has them: integer sums, so the
/// result is the same on every path.
fn idots(q: &[i8], codes: &[i8]) -> Vec<i32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw")
    {
        // SAFETY: the CPU supports AVX-512 F/BW and VNNI, checked just above
        // (BW implies F).
        return unsafe { idots_vnni(q, codes) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { idots_avx2(q, codes) };
    }
    idots_portable(q, codes)
}

/// Sixteen codes a step, widened to i16 and multiplied pairwise into i32 sums
/// (`vpmaddwd`): a third of the instructions of widening to i32 and `vpmulld`,
/// which is what the compiler makes of the portable loop. No step can
/// overflow: a pair sums to at most 2·128².
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn idots_avx2(q: &[i8], codes: &[i8]) -> Vec<i32> {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
        _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256,
        _mm256_madd_epi16, _mm256_setzero_si256,
    };
    let widen = |c: &[i8]| -> __m256i {
        // SAFETY: every `c` is a chunk of exactly 16 bytes; the load is unaligned.
        _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(c.as_ptr().cast::<__m128i>()) })
    };
    let q_steps = q.chunks_exact(16);
    let q_tail = q_steps.remainder();
    let qv: Vec<__m256i> = q_steps.map(widen).collect();
    codes
        .chunks_exact(q.len().max(1))
        .map(|row| {
            let row_steps = row.chunks_exact(16);
            let tail: i32 = q_tail
                .iter()
                .zip(row_steps.remainder())
                .map(|(x, y)| i32::from(*x) * i32::from(*y))
                .sum();
            let mut acc = _mm256_setzero_si256();
            for (qk, c) in qv.iter().zip(row_steps) {
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(*qk, widen(c)));
            }
            let half = _mm_add_epi32(
                _mm256_castsi256_si128(acc),
                _mm256_extracti128_si256::<1>(acc),
            );
            let pairs = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
            let one = _mm_add_epi32(pairs, _mm_shuffle_epi32::<0b10_11_00_01>(pairs));
            _mm_cvtsi128_si32(one) + tail
        })
        .collect()
}

/// Sixty-four codes a step with `vpdpbusd`, which multiplies unsigned bytes
/// by signed ones and sums them in fours: each row's codes are shifted to
/// unsigned (`c + 128`, a flip of the sign bit), so a step yields
/// `Σ(c + 128)·q` and the row's product is that minus `128·Σq`, one constant
/// per query. A row's last partial step is a masked load, so no read passes
/// the row's end. No step can overflow: a lane gains at most 4·255·128 a step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn idots_vnni(q: &[i8], codes: &[i8]) -> Vec<i32> {
    use std::arch::x86_64::{
        __m512i, _mm512_dpbusd_epi32, _mm512_maskz_loadu_epi8, _mm512_reduce_add_epi32,
        _mm512_set1_epi8, _mm512_setzero_si512, _mm512_xor_si512,
    };
    let width = q.len().max(1);
    let flip = _mm512_set1_epi8(i8::MIN);
    let offset = 128 * q.iter().map(|c| i32::from(*c)).sum::<i32>();
    // Each step's start and mask (all 64 lanes but the last partial step's).
    let steps: Vec<(usize, u64)> = (0..q.len())
        .step_by(64)
        .map(|at| {
            let n = (q.len() - at).min(64);
            (at, if n == 64 { u64::MAX } else { (1u64 << n) - 1 })
        })
        .collect();
    // SAFETY (every load below): a masked load reads only the lanes its mask
    // sets, and each mask covers exactly the bytes from `at` to the slice's end
    // or 64 of them, whichever is fewer.
    let qv: Vec<__m512i> = steps
        .iter()
        .map(|(at, mask)| unsafe { _mm512_maskz_loadu_epi8(*mask, q.as_ptr().add(*at)) })
        .collect();
    codes
        .chunks_exact(width)
        .map(|row| {
            let mut acc = _mm512_setzero_si512();
            for ((at, mask), qk) in steps.iter().zip(&qv) {
                let c = unsafe { _mm512_maskz_loadu_epi8(*mask, row.as_ptr().add(*at)) };
                // Masked-off lanes become 128 here, against a zero in `q`.
                acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(c, flip), *qk);
            }
            _mm512_reduce_add_epi32(acc) - offset
        })
        .collect()
}

#[inline(always)]
fn idots_portable(q: &[i8], codes: &[i8]) -> Vec<i32> {
    codes
        .chunks_exact(q.len().max(1))
        .map(|row| idot(q, row))
        .collect()
}

/// The integer dot product of two code rows, in sixteen lanes (vectorised).
#[inline(always)]
fn idot(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..16 {
            lanes[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    lanes.iter().sum::<i32>() + tail
}

/// A dot product in eight lanes (the compiler vectorises it), summed in a fixed order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sv(pairs: &[(u32, f32)]) -> SparseVec {
        SparseVec {
            indices: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| p.1).collect(),
        }
    }

    fn point(id: u64, sparse: &[(u32, f32)], semantic: Option<Vec<f32>>) -> ResidentPoint {
        ResidentPoint {
            id,
            sparse: sv(sparse),
            semantic,
        }
    }

    /// Files a (chunks 1, 2), b (chunk 3), c (chunk 4).
    fn table() -> FileTable {
        FileTable::new([
            ("docs", "a.md", &[1u64, 2][..]),
            ("docs", "b.md", &[3u64][..]),
            ("other", "c.md", &[4u64][..]),
        ])
    }

    #[test]
    fn integer_dot_products_match_the_definition_on_every_path() {
        // 37 rows of 203 codes (not a multiple of the lanes), extremes included.
        let mut seed = 11u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 56) as u8 as i8
        };
        let q: Vec<i8> = (0..203)
            .map(|i| if i == 0 { i8::MIN } else { next() })
            .collect();
        let codes: Vec<i8> = (0..37 * 203)
            .map(|i| if i == 5 { i8::MIN } else { next() })
            .collect();
        let want: Vec<i32> = codes
            .chunks_exact(203)
            .map(|row| {
                q.iter()
                    .zip(row)
                    .map(|(a, b)| i32::from(*a) * i32::from(*b))
                    .sum()
            })
            .collect();
        // The dispatching entry (AVX-512 VNNI or AVX2 on this machine if it has
        // them), each x86 kernel the CPU can run, and the portable loop.
        assert_eq!(idots(&q, &codes), want);
        assert_eq!(idots_portable(&q, &codes), want);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: checked just above.
                assert_eq!(unsafe { idots_avx2(&q, &codes) }, want);
            }
            if std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                // SAFETY: checked just above.
                assert_eq!(unsafe { idots_vnni(&q, &codes) }, want);
                // Widths on and around the 64-lane steps, the extremes in every lane.
                for width in [1, 63, 64, 65, 128, 200] {
                    let q: Vec<i8> = (0..width).map(|i| [127, -127, 5][i % 3]).collect();
                    let rows: Vec<i8> = (0..width * 3).map(|i| [-127, 127, -3, 0][i % 4]).collect();
                    let want: Vec<i32> = rows
                        .chunks_exact(width)
                        .map(|r| {
                            q.iter()
                                .zip(r)
                                .map(|(a, b)| i32::from(*a) * i32::from(*b))
                                .sum()
                        })
                        .collect();
                    // SAFETY: checked above.
                    assert_eq!(unsafe { idots_vnni(&q, &rows) }, want, "width {width}");
                }
            }
        }
    }

    fn resident() -> Resident {
        // Given out of order: rows follow the ids.
        Resident::new(
            vec![
                point(4, &[(7, 1.0)], Some(vec![0.0, 1.0])),
                point(2, &[(7, 0.5), (9, 1.0)], Some(vec![0.6, 0.8])),
                point(3, &[(7, 1.0)], None),
                point(1, &[(9, 2.0)], Some(vec![1.0, 0.0])),
            ],
            &table(),
        )
    }

    #[test]
    fn bm25_weighs_rare_terms_up_and_ties_go_by_chunk_id() {
        let r = resident();
        let idf = |df: f32| ((4.0 - df + 0.5) / (df + 0.5) + 1.0f32).ln();
        let hits = r.sparse(&sv(&[(7, 1.0), (9, 1.0)]), None, 10);
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        // 1: 2·idf(2); 2: 0.5·idf(3) + idf(2); 3 and 4: idf(3), a tie that 3 wins.
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(hits[0].score, 2.0 * idf(2.0));
        assert_eq!(hits[2].score, hits[3].score);
        // A term no chunk has adds nothing; limit cuts after the order is fixed.
        let two = r.sparse(&sv(&[(5, 1.0), (7, 1.0)]), None, 2);
        assert_eq!(two.iter().map(|h| h.id).collect::<Vec<_>>(), [3, 4]);
        assert!(r.sparse(&sv(&[(5, 1.0)]), None, 10).is_empty());
    }

    #[test]
    fn semantic_ranks_by_cosine_and_skips_chunks_without_a_vector() {
        let r = resident();
        let hits = r.semantic(&[2.0, 0.0], None, 10);
        let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, [1, 2, 4]);
        assert!((hits[1].score - 0.6).abs() < 1e-6);
        assert!(r.semantic(&[1.0, 0.0, 0.0], None, 10).is_empty());
        assert!(r.semantic(&[0.0, 0.0], None, 10).is_empty());
    }

    #[test]
    fn the_file_filter_and_coverage_terms() {
        let r = resident();
        // Only file 2 (c.md) admitted.
        let only_c = [false, false, true];
        let hits = r.sparse(&sv(&[(7, 1.0)]), Some(&only_c), 10);
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [4]);
        let sem = r.semantic(&[1.0, 1.0], Some(&only_c), 10);
        assert_eq!(sem.iter().map(|h| h.id).collect::<Vec<_>>(), [4]);
        assert_eq!(r.terms_of(2, &[9, 7, 5, 7]), Some(vec![7, 9]));
        assert_eq!(r.terms_of(99, &[7]), None);
    }

    /// The first pass only rules rows out: on a few thousand pseudo-random
    /// unit vectors, with and without a filter, every limit gives exactly the
    /// ranking of an exact scan of every row.
    #[test]
    fn the_quantised_first_pass_keeps_the_exact_ranking() {
        let dims = 24;
        let mut seed: u64 = 3;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let unit = |v: Vec<f32>| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        // Near-duplicates too, so that estimates crowd the cut.
        let mut points = Vec::new();
        for id in 0..3000u64 {
            let mut v: Vec<f32> = (0..dims).map(|_| next()).collect();
            if id % 3 == 0 {
                v[0] += 4.0;
            }
            points.push(point(id, &[(1, 1.0)], Some(unit(v))));
        }
        let table = FileTable::new([
            ("docs", "a.md", &(0..1500).collect::<Vec<u64>>()[..]),
            ("docs", "b.md", &(1500..3000).collect::<Vec<u64>>()[..]),
        ]);
        let r = Resident::new(points, &table);
        let only_b = [false, true];
        for round in 0..8 {
            let q: Vec<f32> = (0..dims).map(|_| next()).collect();
            // As `semantic` scales it.
            let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
            let qn: Vec<f32> = q.iter().map(|x| x / norm).collect();
            for allowed in [None, Some(&only_b[..])] {
                for limit in [1, 7, 60, 500] {
                    let all = (0..r.len())
                        .filter(|row| r.admits(*row, allowed))
                        .map(|row| (dot(&qn, &r.semantic[row * dims..(row + 1) * dims]), row));
                    let want = r.top(all, limit);
                    assert_eq!(
                        r.semantic(&q, allowed, limit),
                        want,
                        "round {round} limit {limit}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_dot_product_matches_a_plain_sum() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..21).map(|i| 1.0 - i as f32 * 0.125).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
