//! The strip kernels in AVX2: 8 outputs per vector, kept in the lane order the even/odd
//! split leaves them in (outputs 0, 1, 4, 5, 2, 3, 6, 7) until one permute before the store.

use core::arch::x86_64::*;

use super::Plan;
use crate::pool::Divisor;

/// Outputs per strip: the lanes of a 256-bit `f32` vector.
const LANES: usize = 8;

/// `_mm256_shuffle_ps` selectors of the even and the odd elements of two vectors (within
/// 128-bit lanes: outputs in the order 0, 1, 4, 5, 2, 3, 6, 7).
const EVEN: i32 = 0b10_00_10_00;
const ODD: i32 = 0b11_01_11_01;

/// The `_mm256_permute4x64_pd` selector between that order and the natural one (either way).
const ORDER: i32 = 0b11_01_10_00;

/// Which taps of a strip's outputs are padding or overhang: tap `t` of lane `l` where
/// `taps[t]` is all ones, in the kernels' lane order.
#[derive(Clone, Copy)]
struct Fix {
    taps: [__m256; 3],
}

/// The kernels' `FIX` parameter: which taps a strip replaces. [`LEFT`]: the first (an output
/// whose window starts in the left padding); [`RIGHT`]: the others (windows reaching into
/// the right padding or overhang).
const LEFT: u8 = 1;
const RIGHT: u8 = 2;

/// What a call computes.
#[derive(Clone, Copy)]
pub(super) enum Op {
    Max,
    /// The max and its in-plane index.
    Argmax,
    /// The average, divided by the divisor's counts.
    Avg(Divisor),
}

/// Pooling over all planes of `plan`: the max, the max with each maximum's flat `h * W + w`
/// index within its plane in `idx` (otherwise empty), or the average.
///
/// # Safety
/// The CPU supports AVX2; for the argmax, a plane has at most `2^32` elements.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn run(plan: &Plan, x: &[f32], y: &mut [f32], idx: &mut [u32], op: Op) {
    if plan.k == 2 {
        planes::<2>(plan, x, y, idx, op);
    } else {
        planes::<3>(plan, x, y, idx, op);
    }
}

/// Every plane, strip by strip. `idx` is empty unless the op is the argmax.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn planes<const K: usize>(plan: &Plan, x: &[f32], y: &mut [f32], idx: &mut [u32], op: Op) {
    // The outputs every store lands in: the indices' too for the argmax.
    let out_len = match op {
        Op::Argmax => y.len().min(idx.len()),
        _ => y.len(),
    };
    // The strips: from column 0 by 8, the last one ending at the row's end.
    let strips = plan.out_w.div_ceil(LANES);
    let last = plan.out_w.saturating_sub(LANES);
    // What a strip needs besides its position: its padding taps and divisors' column
    // factors. The first and last strips' are made once here (a small plane has one).
    let setup = |j0: usize| {
        let cols = match op {
            Op::Avg(d) => col_factors(plan, j0, d),
            _ => _mm256_setzero_ps(),
        };
        (fix::<K>(plan, j0), cols, col_index(plan, j0))
    };
    let (first, end) = (setup(0), setup(last));
    if strips == 1 {
        // Small planes: one call per run of planes, the loads and stores checked only in
        // those that could reach outside the buffers (the first and last, as a rule).
        let (lo, hi) = unchecked(plan, x.len(), out_len, 0, K);
        let runs = [(0..lo, true), (lo..hi, false), (hi..plan.planes, true)];
        for (run, check) in runs.into_iter().filter(|(r, _)| !r.is_empty()) {
            let job = Job {
                planes: run,
                j0: 0,
                fix: &first.0 .0,
                flags: first.0 .1,
                op,
                cols: first.1,
                index: first.2,
            };
            if check {
                // SAFETY: CHECK is true.
                unsafe { strip_op::<K, true>(plan, x, y, idx, &job) };
            } else {
                // SAFETY: `unchecked` says these planes' strips stay inside the buffers.
                unsafe { strip_op::<K, false>(plan, x, y, idx, &job) };
            }
        }
        return;
    }
    for p in 0..plan.planes {
        for s in 0..strips {
            let j0 = (s * LANES).min(last);
            let ((fix, flags), cols, index) = if s == 0 {
                first
            } else if s + 1 == strips {
                end
            } else {
                setup(j0)
            };
            let job = Job {
                planes: p..p + 1,
                j0,
                fix: &fix,
                flags,
                op,
                cols,
                index,
            };
            if fits(plan, x.len(), out_len, p, j0, K) {
                // SAFETY: just checked.
                unsafe { strip_op::<K, false>(plan, x, y, idx, &job) };
            } else {
                // SAFETY: CHECK is true.
                unsafe { strip_op::<K, true>(plan, x, y, idx, &job) };
            }
        }
    }
}

/// Whether every load and store of the strip at output column `j0` of plane `p` lies
/// inside buffers of `x_len` and `y_len` elements (`y_len` the shorter of `y` and the
/// indices for the argmax: the precondition of [`strip_op`] without `CHECK`), for a window
/// `k` wide.
fn fits(plan: &Plan, x_len: usize, y_len: usize, p: usize, j0: usize, k: usize) -> bool {
    let first = (p * plan.h * plan.w + 2 * j0) as isize - plan.left as isize;
    let last = first + ((plan.h - 1) * plan.w + if k == 3 { 18 } else { 16 }) as isize;
    let last_y = p * plan.out_h * plan.out_w + j0 + (plan.out_h - 1) * plan.out_w + LANES;
    first >= 0 && last <= x_len as isize && last_y <= y_len
}

/// The planes `lo..hi` whose strip at `j0` [`fits`]: those between planes that read before
/// `x` (only plane 0 can) and those that reach past the ends of `x` or `y` (the last ones).
fn unchecked(plan: &Plan, x_len: usize, y_len: usize, j0: usize, k: usize) -> (usize, usize) {
    let mut lo = 0;
    while lo < plan.planes && !fits(plan, x_len, y_len, lo, j0, k) {
        lo += 1;
        if lo > 1 {
            // Past plane 0, only the end can fail: no plane fits.
            return (lo - 1, lo - 1);
        }
    }
    let mut hi = plan.planes;
    while hi > lo && !fits(plan, x_len, y_len, hi - 1, j0, k) {
        hi -= 1;
    }
    (lo, hi)
}

/// A run of planes' strips at output column `j0`, with the strip's padding taps (`fix`,
/// `flags`), for an average its divisors' column factors, for the argmax its outputs' first
/// taps' columns (as [`col_index`]).
struct Job<'a> {
    planes: core::ops::Range<usize>,
    j0: usize,
    fix: &'a Fix,
    flags: u8,
    op: Op,
    cols: __m256,
    index: __m256i,
}

/// One strip of each plane of `job`.
///
/// # Safety
/// Unless `CHECK`, each strip [`fits`]; for the argmax, a plane has at most `2^32` elements.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn strip_op<const K: usize, const CHECK: bool>(
    plan: &Plan,
    x: &[f32],
    y: &mut [f32],
    idx: &mut [u32],
    job: &Job,
) {
    // SAFETY: the caller's precondition, passed on.
    unsafe {
        match job.flags {
            0 => strips::<K, 0, CHECK>(plan, x, y, idx, job),
            LEFT => strips::<K, LEFT, CHECK>(plan, x, y, idx, job),
            RIGHT => strips::<K, RIGHT, CHECK>(plan, x, y, idx, job),
            _ => strips::<K, { LEFT | RIGHT }, CHECK>(plan, x, y, idx, job),
        }
    }
}

/// [`Work::max_strip`] or [`Work::sum_strip`] over the job's planes, in order.
///
/// # Safety
/// As [`strip_op`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn strips<const K: usize, const FIX: u8, const CHECK: bool>(
    plan: &Plan,
    x: &[f32],
    y: &mut [f32],
    idx: &mut [u32],
    job: &Job,
) {
    let (plane_in, plane_out) = (plan.h * plan.w, plan.out_h * plan.out_w);
    let col = 2 * job.j0 as isize - plan.left as isize;
    for p in job.planes.clone() {
        let mut work = Work {
            plan,
            x,
            y: &mut *y,
            idx: &mut *idx,
            s: Strip {
                x: p * plane_in,
                y: p * plane_out + job.j0,
                col,
                index: job.index,
            },
            fix: *job.fix,
        };
        // SAFETY: the caller's precondition.
        unsafe {
            match job.op {
                Op::Max => work.max_strip::<K, FIX, CHECK, false>(),
                Op::Argmax => work.max_strip::<K, FIX, CHECK, true>(),
                Op::Avg(d) => work.sum_strip::<K, FIX, CHECK>(d, job.cols),
            }
        }
    }
}

/// One strip of one plane: its first input and output offsets in the buffers, the column
/// (relative to a row's start, possibly -1) of its first output's first tap, and those of
/// all its outputs (as [`col_index`]).
#[derive(Clone, Copy)]
struct Strip {
    x: usize,
    y: usize,
    col: isize,
    index: __m256i,
}

/// The padding taps of the strip starting at output column `j0` and the [`LEFT`] and
/// [`RIGHT`] flags of those it has; only lanes of outputs count (the others are never kept).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn fix<const K: usize>(plan: &Plan, j0: usize) -> (Fix, u8) {
    let mut flags = 0;
    let mut taps = [[0i32; LANES]; 3];
    for l in 0..LANES.min(plan.out_w - j0) {
        // Column of the lane's first tap.
        let c = 2 * (j0 + l) as isize - plan.left as isize;
        for (t, row) in taps.iter_mut().enumerate().take(K) {
            let c = c + t as isize;
            if c < 0 || c >= plan.w as isize {
                row[l] = -1;
                flags |= if t == 0 { LEFT } else { RIGHT };
            }
        }
    }
    let fix = Fix {
        taps: taps.map(|t| {
            // SAFETY: an unaligned load of 8 i32 from an array of 8.
            let v = unsafe { _mm256_loadu_si256(t.as_ptr().cast()) };
            reorder(_mm256_castsi256_ps(v))
        }),
    };
    (fix, flags)
}

/// The column factors of the divisors of the strip's outputs (1 for an override), in the
/// kernels' lane order. Lanes past the row's end repeat its last output's.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn col_factors(plan: &Plan, j0: usize, divisor: Divisor) -> __m256 {
    let mut f = [0f32; LANES];
    for (l, v) in f.iter_mut().enumerate() {
        *v = plan.factor((j0 + l).min(plan.out_w - 1), true, divisor);
    }
    // SAFETY: an unaligned load of 8 f32 from an array of 8.
    reorder(unsafe { _mm256_loadu_ps(f.as_ptr()) })
}

/// The columns of the first taps of the strip's outputs (`2 * j - left`, -1 for a first
/// tap in the left padding), in the kernels' lane order: with a row's `h * W` added, the
/// in-plane indices of the taps.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn col_index(plan: &Plan, j0: usize) -> __m256i {
    let c = ((2 * j0) as i32).wrapping_sub(plan.left as i32);
    let v = _mm256_add_epi32(
        _mm256_set1_epi32(c),
        _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14),
    );
    _mm256_castps_si256(reorder(_mm256_castsi256_ps(v)))
}

/// Between the natural lane order and the kernels' (the permutation is its own inverse).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn reorder(v: __m256) -> __m256 {
    _mm256_castpd_ps(_mm256_permute4x64_pd::<ORDER>(_mm256_castps_pd(v)))
}

/// PyTorch's max update: `v` if `v > m` or `v` is NaN, else `m`. `_mm256_max_ps(v, m)` is
/// `v > m ? v : m`, which keeps `m` on ties (the first maximum) and when `m` is NaN; only a
/// NaN `v` needs the blend.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn update(m: __m256, v: __m256) -> __m256 {
    _mm256_blendv_ps(_mm256_max_ps(v, m), v, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v))
}

/// Window maxima of a strip's 8 outputs and, for the argmax, their in-plane indices (else
/// unused, and dropped by the compiler).
#[derive(Clone, Copy)]
struct H {
    v: __m256,
    i: __m256i,
}

/// [`update`] on maxima with indices: the index follows the value.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn update_h<const IDX: bool>(m: H, v: H) -> H {
    if IDX {
        let take = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(v.v, m.v),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(v.v, v.v),
        );
        H {
            v: _mm256_blendv_ps(m.v, v.v, take),
            i: blend_i(m.i, v.i, take),
        }
    } else {
        H {
            v: update(m.v, v.v),
            i: m.i,
        }
    }
}

/// `b` where `mask` is all ones, else `a`: index lanes by a float mask.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn blend_i(a: __m256i, b: __m256i, mask: __m256) -> __m256i {
    _mm256_castps_si256(_mm256_blendv_ps(
        _mm256_castsi256_ps(a),
        _mm256_castsi256_ps(b),
        mask,
    ))
}

/// The 16 elements of `x` from offset `at` (which may be negative). `CHECK`: those outside
/// `x` read as zero, without touching memory.
///
/// # Safety
/// Unless `CHECK`, `at..at + 16` lies inside `x`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load16<const CHECK: bool>(x: &[f32], at: isize) -> (__m256, __m256) {
    let len = x.len() as isize;
    let p = x.as_ptr().wrapping_offset(at);
    if !CHECK || (at >= 0 && at + 2 * LANES as isize <= len) {
        debug_assert!(at >= 0 && at + 2 * LANES as isize <= len);
        // SAFETY: elements at..at + 16 are inside x (checked, or the caller's precondition).
        unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(LANES))) }
    } else {
        // The lanes from..to are inside x.
        let from = (-at).clamp(0, 16) as i32;
        let to = (len - at).clamp(0, 16) as i32;
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let hi_iota = _mm256_add_epi32(iota, _mm256_set1_epi32(LANES as i32));
        let (from, to) = (_mm256_set1_epi32(from), _mm256_set1_epi32(to));
        let lanes =
            |at| _mm256_andnot_si256(_mm256_cmpgt_epi32(from, at), _mm256_cmpgt_epi32(to, at));
        // SAFETY: the masks select only elements inside x; masked-off lanes are not read.
        unsafe {
            (
                _mm256_maskload_ps(p, lanes(iota)),
                _mm256_maskload_ps(p.wrapping_add(LANES), lanes(hi_iota)),
            )
        }
    }
}

/// The taps of one window row for the strip's 8 outputs, the row's first element at offset
/// `row` of `x` and the strip's first tap at column `col` of it: `K` vectors (the third
/// zero for `K == 2`), padding taps not yet replaced.
///
/// # Safety
/// As [`load16`], for `at..at + 16` and, if `K == 3`, `at + 2..at + 18`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn taps<const K: usize, const CHECK: bool>(x: &[f32], at: isize) -> [__m256; 3] {
    // SAFETY: the caller's precondition.
    let (lo, hi) = unsafe { load16::<CHECK>(x, at) };
    let t0 = _mm256_shuffle_ps::<EVEN>(lo, hi);
    let t1 = _mm256_shuffle_ps::<ODD>(lo, hi);
    let t2 = if K == 3 {
        // SAFETY: the caller's precondition.
        let (lo, hi) = unsafe { load16::<CHECK>(x, at + 2) };
        _mm256_shuffle_ps::<EVEN>(lo, hi)
    } else {
        _mm256_setzero_ps()
    };
    [t0, t1, t2]
}

/// The horizontal max of one window row (starting at offset `at` of `x`, the taps' first
/// at index `first` of the plane when `IDX`): padding taps replaced by the neighbouring tap
/// of their window (see the module), index and all.
///
/// # Safety
/// As [`taps`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn row_max<const K: usize, const FIX: u8, const CHECK: bool, const IDX: bool>(
    x: &[f32],
    at: isize,
    fix: &Fix,
    first: __m256i,
) -> H {
    // SAFETY: the caller's precondition.
    let [t0, t1, t2] = unsafe { taps::<K, CHECK>(x, at) };
    let one = _mm256_set1_epi32(1);
    let mut t0 = H { v: t0, i: first };
    let mut t1 = H {
        v: t1,
        i: _mm256_add_epi32(first, one),
    };
    let mut t2 = H {
        v: t2,
        i: _mm256_add_epi32(t1.i, one),
    };
    // In this order, each replacement copies a tap that is itself input: a window has at
    // least one, and only its first tap can lie before the row.
    let copy = |to: H, from: H, mask: __m256| H {
        v: _mm256_blendv_ps(to.v, from.v, mask),
        i: if IDX {
            blend_i(to.i, from.i, mask)
        } else {
            to.i
        },
    };
    if FIX & LEFT != 0 {
        t0 = copy(t0, t1, fix.taps[0]);
    }
    if FIX & RIGHT != 0 {
        t1 = copy(t1, t0, fix.taps[1]);
        if K == 3 {
            t2 = copy(t2, t1, fix.taps[2]);
        }
    }
    let m = update_h::<IDX>(t0, t1);
    if K == 3 {
        update_h::<IDX>(m, t2)
    } else {
        m
    }
}

/// The in-plane index of row `r`'s strip taps (`index` as [`Strip::index`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn row_index(plan: &Plan, r: isize, index: __m256i) -> __m256i {
    // Indices are u32 (planes of at most 2^32 elements): wrapping i32 lanes hold them.
    _mm256_add_epi32(_mm256_set1_epi32((r as usize * plan.w) as i32), index)
}

/// Stores the maxima (and, if `IDX`, their indices) of `h` at offset `at` of `y` (and
/// `idx`); `CHECK`: those inside `y`.
///
/// # Safety
/// Unless `CHECK`, `at..at + 8` lies inside `y` (and `idx` when `IDX`).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_h<const CHECK: bool, const IDX: bool>(
    y: &mut [f32],
    idx: &mut [u32],
    at: usize,
    h: H,
) {
    // SAFETY: the caller's precondition.
    unsafe {
        store::<CHECK>(y, at, h.v);
        if IDX {
            let i: &mut [f32] =
                core::slice::from_raw_parts_mut(idx.as_mut_ptr().cast::<f32>(), idx.len());
            store::<CHECK>(i, at, _mm256_castsi256_ps(h.i));
        }
    }
}

/// Stores the 8 outputs `v` (kernels' lane order) at offset `at` of `y`; `CHECK`: those
/// inside `y`.
///
/// # Safety
/// Unless `CHECK`, `at..at + 8` lies inside `y`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store<const CHECK: bool>(y: &mut [f32], at: usize, v: __m256) {
    let v = reorder(v);
    if !CHECK || at + LANES <= y.len() {
        debug_assert!(at + LANES <= y.len());
        // SAFETY: elements at..at + 8 are inside y (checked, or the caller's precondition).
        unsafe { _mm256_storeu_ps(y.as_mut_ptr().add(at), v) };
    } else if let Some(tail) = y.get_mut(at..) {
        let mut all = [0f32; LANES];
        // SAFETY: an unaligned store of 8 f32 into an array of 8.
        unsafe { _mm256_storeu_ps(all.as_mut_ptr(), v) };
        for (d, &s) in tail.iter_mut().zip(&all) {
            *d = s;
        }
    }
}

/// The window rows of output row `oh`: input rows `2 * oh - top + t`, with those outside
/// the input replaced by the neighbouring window row (first row by the second, later rows
/// by the previous one), as for taps.
#[inline(always)]
fn window_rows<const K: usize>(plan: &Plan, oh: usize) -> [isize; 3] {
    let r0 = 2 * oh as isize - plan.top as isize;
    let h = plan.h as isize;
    let mut r = [r0, r0 + 1, r0 + 2];
    if r[0] < 0 {
        r[0] = r[1];
    }
    for t in 1..K {
        if r[t] >= h {
            r[t] = r[t - 1];
        }
    }
    r
}

/// The output rows `lo..hi` whose window rows all lie inside the input.
#[inline(always)]
fn interior_rows<const K: usize>(plan: &Plan) -> (usize, usize) {
    // 2 * oh >= top, and 2 * oh - top + K - 1 < h.
    let lo = plan.top.div_ceil(2).min(plan.out_h);
    let hi = match (plan.h + plan.top).checked_sub(K) {
        Some(d) => (d / 2 + 1).min(plan.out_h),
        None => 0,
    };
    (lo, hi.max(lo))
}

/// One strip of one plane at work: the plan, the buffers (`idx` empty unless the argmax is
/// kept), the strip and its padding taps.
struct Work<'a> {
    plan: &'a Plan,
    x: &'a [f32],
    y: &'a mut [f32],
    idx: &'a mut [u32],
    s: Strip,
    fix: Fix,
}

impl Work<'_> {
    /// Max pooling of one strip of one plane: each window row's horizontal max once, the last
    /// one kept for the next output row (its first window row, for a 3-tall window). Rows go in
    /// order (a row's store may spill into the next ones).
    ///
    /// # Safety
    /// As [`strip_op`].
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn max_strip<const K: usize, const FIX: u8, const CHECK: bool, const IDX: bool>(
        &mut self,
    ) {
        let (plan, x, s, fix) = (self.plan, self.x, self.s, &{ self.fix });
        let w = plan.w as isize;
        let base = s.x as isize + s.col;
        let (lo, hi) = interior_rows::<K>(plan);
        let zero = H {
            v: _mm256_setzero_ps(),
            i: _mm256_setzero_si256(),
        };
        let mut kept = (-1isize, zero);
        // SAFETY (every call): the rows are input rows (0..h) and the outputs those of the
        // strip, so the caller's precondition covers them.
        unsafe {
            let row = |r: isize| {
                row_max::<K, FIX, CHECK, IDX>(x, base + r * w, fix, row_index(plan, r, s.index))
            };
            let mut head = 0..lo;
            if K == 3 && plan.top == 1 && plan.h >= 2 {
                // The usual first row (3x3 pad 1): window rows 0 and 1, as max(0, 0, 1).
                let (h0, h1) = (row(0), row(1));
                store_h::<CHECK, IDX>(self.y, self.idx, s.y, update_h::<IDX>(h0, h1));
                kept = (1, h1);
                head = 1..lo;
            }
            for oh in head {
                self.max_row::<K, FIX, CHECK, IDX>(oh, &mut kept);
            }
            if lo < hi {
                let first = 2 * lo as isize - plan.top as isize;
                if K == 3 {
                    if kept.0 != first {
                        kept = (first, row(first));
                    }
                    self.interior_max::<FIX, CHECK, IDX>((lo, hi), kept);
                } else {
                    for oh in lo..hi {
                        let r = first + 2 * (oh - lo) as isize;
                        let m = update_h::<IDX>(row(r), row(r + 1));
                        store_h::<CHECK, IDX>(self.y, self.idx, s.y + oh * plan.out_w, m);
                    }
                }
            }
            for oh in hi..plan.out_h {
                self.max_row::<K, FIX, CHECK, IDX>(oh, &mut kept);
            }
        }
    }

    /// Output row `oh` of a strip of a max, any row: its window rows outside the input replaced
    /// as [`window_rows`] says, a row equal to `kept`'s taken from it, its last one kept.
    ///
    /// # Safety
    /// As [`strip_op`].
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn max_row<const K: usize, const FIX: u8, const CHECK: bool, const IDX: bool>(
        &mut self,
        oh: usize,
        kept: &mut (isize, H),
    ) {
        let (plan, x, s, fix) = (self.plan, self.x, &self.s, &self.fix);
        let base = s.x as isize + s.col;
        let [r0, r1, r2] = window_rows::<K>(plan, oh);
        // SAFETY (row_max): the rows are input rows: the caller's precondition covers them.
        let row = |r: isize| unsafe {
            let first = row_index(plan, r, s.index);
            row_max::<K, FIX, CHECK, IDX>(x, base + r * plan.w as isize, fix, first)
        };
        let h0 = if r0 == kept.0 { kept.1 } else { row(r0) };
        let h1 = if r1 == r0 { h0 } else { row(r1) };
        let mut m = update_h::<IDX>(h0, h1);
        *kept = (r1, h1);
        if K == 3 {
            let h2 = if r2 == r1 { h1 } else { row(r2) };
            m = update_h::<IDX>(m, h2);
            *kept = (r2, h2);
        }
        // SAFETY: an output row of the strip.
        unsafe { store_h::<CHECK, IDX>(self.y, self.idx, s.y + oh * plan.out_w, m) };
    }

    /// The interior rows `lo..hi` of a strip of a 3x3 max: each output row's first window row
    /// is the previous one's last, `kept` (its row number and horizontal max).
    ///
    /// # Safety
    /// As [`strip_op`].
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn interior_max<const FIX: u8, const CHECK: bool, const IDX: bool>(
        &mut self,
        (lo, hi): (usize, usize),
        kept: (isize, H),
    ) {
        let (plan, x, s, fix) = (self.plan, self.x, &self.s, &self.fix);
        let w = plan.w as isize;
        let first = 2 * lo as isize - plan.top as isize;
        debug_assert_eq!(kept.0, first);
        let mut h0 = kept.1;
        let mut at = s.x as isize + s.col + first * w;
        // Indices of row `first + 1`'s taps, and the step between output rows.
        let mut index = row_index(plan, first + 1, s.index);
        let step = _mm256_set1_epi32((2 * plan.w) as i32);
        let row_step = _mm256_set1_epi32(plan.w as i32);
        // SAFETY: rows first..first + 2 * (hi - lo) + 1 are input rows and the outputs those of
        // the strip: the caller's precondition covers them.
        unsafe {
            for oh in lo..hi {
                let h1 = row_max::<3, FIX, CHECK, IDX>(x, at + w, fix, index);
                let next = _mm256_add_epi32(index, row_step);
                let h2 = row_max::<3, FIX, CHECK, IDX>(x, at + 2 * w, fix, next);
                let m = update_h::<IDX>(update_h::<IDX>(h0, h1), h2);
                store_h::<CHECK, IDX>(self.y, self.idx, s.y + oh * plan.out_w, m);
                h0 = h2;
                at += 2 * w;
                index = _mm256_add_epi32(index, step);
            }
        }
    }

    /// Average pooling of one strip of one plane: each window's taps summed from zero in
    /// row-major order (padding rows skipped, padding taps as `+0.0`), divided by its count.
    ///
    /// # Safety
    /// As [`strip_op`].
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sum_strip<const K: usize, const FIX: u8, const CHECK: bool>(
        &mut self,
        divisor: Divisor,
        cols: __m256,
    ) {
        let (plan, x, s, fix) = (self.plan, self.x, self.s, &{ self.fix });
        let (w, top) = (plan.w as isize, plan.top as isize);
        let base = s.x as isize + s.col;
        let (lo, hi) = interior_rows::<K>(plan);
        // SAFETY (every call): the rows are input rows (0..h) and the outputs those of the
        // strip, so the caller's precondition covers them. Rows go in order (a row's store may
        // spill into the next ones).
        unsafe {
            for oh in 0..lo {
                self.sum_row_out::<K, FIX, CHECK>(oh, divisor, cols);
            }
            if lo < hi {
                // Interior rows count K window rows (or the override).
                let div = _mm256_mul_ps(_mm256_set1_ps(plan.factor(lo, false, divisor)), cols);
                let mut at = base + (2 * lo as isize - top) * w;
                for oh in lo..hi {
                    let mut acc = _mm256_setzero_ps();
                    for t in 0..K as isize {
                        acc = sum_row::<K, FIX, CHECK>(acc, x, at + t * w, fix);
                    }
                    store::<CHECK>(self.y, s.y + oh * plan.out_w, _mm256_div_ps(acc, div));
                    at += 2 * w;
                }
            }
            for oh in hi..plan.out_h {
                self.sum_row_out::<K, FIX, CHECK>(oh, divisor, cols);
            }
        }
    }

    /// Output row `oh` of a strip of an average, any row: its window rows inside the input.
    ///
    /// # Safety
    /// As [`strip_op`].
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sum_row_out<const K: usize, const FIX: u8, const CHECK: bool>(
        &mut self,
        oh: usize,
        divisor: Divisor,
        cols: __m256,
    ) {
        let (plan, x, s, fix) = (self.plan, self.x, &self.s, &self.fix);
        let (w, h) = (plan.w as isize, plan.h as isize);
        let base = s.x as isize + s.col;
        let r0 = 2 * oh as isize - plan.top as isize;
        let mut acc = _mm256_setzero_ps();
        for r in (r0..r0 + K as isize).filter(|r| (0..h).contains(r)) {
            // SAFETY: r is an input row: the caller's precondition covers it.
            acc = unsafe { sum_row::<K, FIX, CHECK>(acc, x, base + r * w, fix) };
        }
        let div = _mm256_mul_ps(_mm256_set1_ps(plan.factor(oh, false, divisor)), cols);
        // SAFETY: an output row of the strip.
        unsafe { store::<CHECK>(self.y, s.y + oh * plan.out_w, _mm256_div_ps(acc, div)) };
    }
}

/// `acc` plus the taps of one window row, in order, padding taps as `+0.0`.
///
/// # Safety
/// As [`taps`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn sum_row<const K: usize, const FIX: u8, const CHECK: bool>(
    mut acc: __m256,
    x: &[f32],
    at: isize,
    fix: &Fix,
) -> __m256 {
    // SAFETY: the caller's precondition.
    let t = unsafe { taps::<K, CHECK>(x, at) };
    for (i, &v) in t.iter().enumerate().take(K) {
        let v = if FIX & (if i == 0 { LEFT } else { RIGHT }) != 0 {
            _mm256_andnot_ps(fix.taps[i], v)
        } else {
            v
        };
        acc = _mm256_add_ps(acc, v);
    }
    acc
}
