//! AVX2 kernels for the 2x2 stride-2 window, `f32` (the 3x3 one runs faster as the passes the
//! compiler vectorizes).
//!
//! As `avx512.rs`, eight outputs per step: each input row's 16 columns are loaded and split
//! into even and odd columns with a shuffle and a cross-lane permute; the max update is
//! PyTorch's, `take = v > max || isnan(v)`, as a compare pair and a blend, so results are
//! bit-identical to the portable loops. Small planes (7 or 14 outputs per row) are where this
//! pays: a row costs a step or two, not a pass per window row. Rows may start in padding
//! ([`Rect`]): those chunks load only the readable columns.

use core::arch::x86_64::*;

use super::{Operands, Rect, ARGMAX, SUM};

/// Lanes of a 256-bit `f32` vector.
const LANES: usize = 8;

/// Column taps of the window.
const KW: usize = 2;

/// The outputs of `rect`, as [`super::Kernels::run`] says; padding columns (see
/// [`Rect`]) are skipped.
///
/// # Safety
/// The CPU supports AVX2; `o.fit::<KW, OP>()`; `x.len() <= 2^32`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn stride2<const OP: u8>(o: Operands) {
    debug_assert!(o.fit::<KW, OP>());
    // SAFETY: the caller's preconditions, passed on.
    unsafe {
        if o.rect.is_interior::<KW>() {
            rows::<OP, false>(o);
        } else {
            rows::<OP, true>(o);
        }
    }
}

/// [`stride2`]'s loops; `PAD`: some taps are padding, and the chunks of outputs that have
/// any take masked loads and the masked update of [`chunk`].
///
/// # Safety
/// As [`stride2`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn rows<const OP: u8, const PAD: bool>(o: Operands) {
    let (x, rect) = (o.x, o.rect);
    let span = rect.span::<KW>();
    // The readable elements of a tap row, counted from its first loaded one (`lead` before
    // `x`): `first_ok..end_ok`.
    let ok = (
        rect.lead,
        rect.lead + rect.width.min(span.saturating_sub(rect.lead)),
    );
    let div = _mm256_set1_ps(o.div);
    let (yp, ip) = (o.y.as_mut_ptr(), o.idx.as_mut_ptr());
    for o in 0..rect.rows {
        let (row, out) = (rect.x + o * rect.x_row, rect.y + o * rect.y_row);
        let mut j = 0;
        while j < rect.cols {
            let lanes = (rect.cols - j).min(LANES);
            // The chunk's windows reach elements 2j .. 2j + 2 lanes + KW - 2.
            let masked = PAD && (2 * j < ok.0 || 2 * (j + lanes) + KW - 2 > ok.1);
            // SAFETY: the caller's preconditions.
            let (mut m, i) = unsafe {
                if masked {
                    chunk::<OP, true>(x, rect, row, j, ok)
                } else {
                    chunk::<OP, false>(x, rect, row, j, ok)
                }
            };
            if OP == SUM {
                m = _mm256_div_ps(m, div);
            }
            // SAFETY: `fits` bounds out + cols by y.len() (and idx.len()); a partial chunk's
            // mask covers lanes j..j + lanes < cols only.
            unsafe {
                if lanes == LANES {
                    _mm256_storeu_ps(yp.add(out + j), m);
                    if OP == ARGMAX {
                        _mm256_storeu_si256(ip.add(out + j).cast(), i);
                    }
                } else {
                    let k = mask(lanes);
                    _mm256_maskstore_ps(yp.add(out + j), k, m);
                    if OP == ARGMAX {
                        _mm256_maskstore_epi32(ip.add(out + j).cast(), k, i);
                    }
                }
            }
            j += LANES;
        }
    }
}

/// The window maxima (and argmax) or sums of the outputs `j..j + 8` of the output row whose
/// first tap row starts at `row`. `MASKED`: only elements `ok.0..ok.1` of a tap row (counted
/// from its first loaded one) are read and taken, the first unconditionally; else every
/// element up to `ok.1` is a tap.
///
/// # Safety
/// As [`stride2`]; `row`, `j` of the rectangle.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn chunk<const OP: u8, const MASKED: bool>(
    x: &[f32],
    rect: &Rect,
    row: usize,
    j: usize,
    ok: (usize, usize),
) -> (__m256, __m256i) {
    let even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    let (from, to) = (ok.0.saturating_sub(2 * j), ok.1.saturating_sub(2 * j));
    let mut m = _mm256_setzero_ps();
    let mut i = _mm256_setzero_si256();
    // MASKED: the lanes that have taken a tap.
    let mut seen = _mm256_setzero_ps();
    // The readable lanes of the loads.
    let readable = if MASKED {
        between(from, to)
    } else {
        (_mm256_setzero_si256(), _mm256_setzero_si256())
    };
    for r in 0..rect.taps_h {
        // The 16 elements from the first output's first tap (`lead` of them padding before
        // the row's first readable one).
        let at = (row + r * rect.x_tap + 2 * j).wrapping_sub(rect.lead);
        let p = x.as_ptr().wrapping_add(at);
        // SAFETY: `fits` bounds every readable element by x.len(); the masks (or
        // `load16`'s count) read no others.
        let (lo, hi, live) = unsafe { load::<MASKED>(p, readable, to) };
        let first = _mm256_add_epi32(_mm256_set1_epi32(at as i32), even);
        let taps = [
            (half::<EVEN>(lo, hi), first, half::<EVEN>(live.0, live.1)),
            (
                half::<ODD>(lo, hi),
                _mm256_add_epi32(first, _mm256_set1_epi32(1)),
                half::<ODD>(live.0, live.1),
            ),
        ];
        for (t, &(v, iv, live)) in taps.iter().enumerate() {
            if OP == SUM {
                // Padding loads as zero: it adds nothing.
                m = _mm256_add_ps(m, v);
                continue;
            }
            // PyTorch's update: v > max (ordered) or v is NaN.
            let update = _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
                _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
            );
            let take = if MASKED {
                // Readable taps only; a lane's first one unconditionally.
                let take = _mm256_and_ps(live, _mm256_or_ps(update, _mm256_xor_ps(seen, live)));
                seen = _mm256_or_ps(seen, live);
                take
            } else if r == 0 && t == 0 {
                _mm256_castsi256_ps(_mm256_set1_epi32(-1))
            } else {
                update
            };
            m = _mm256_blendv_ps(m, v, take);
            if OP == ARGMAX {
                i = _mm256_blendv_epi8(i, iv, _mm256_castps_si256(take));
            }
        }
    }
    (m, i)
}

/// The 16 elements from `p`: `MASKED`, those in the lanes `live` (the others zero, never
/// read) and `live` as float masks; else the first `to` ([`load16`]).
///
/// # Safety
/// The CPU supports AVX2; `p + e` is readable for every such `e` below 16.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load<const MASKED: bool>(
    p: *const f32,
    live: (__m256i, __m256i),
    to: usize,
) -> (__m256, __m256, (__m256, __m256)) {
    // SAFETY: the caller's precondition; the masks select only the readable elements.
    unsafe {
        if MASKED {
            let lo = _mm256_maskload_ps(p, live.0);
            let hi = _mm256_maskload_ps(p.wrapping_add(LANES), live.1);
            (
                lo,
                hi,
                (_mm256_castsi256_ps(live.0), _mm256_castsi256_ps(live.1)),
            )
        } else {
            let (lo, hi) = load16(p, to);
            (lo, hi, (lo, hi)) // `live` is not used unmasked
        }
    }
}

/// The lanes of 16 elements at positions `from..to`, as two all-ones masks.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn between(from: usize, to: usize) -> (__m256i, __m256i) {
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let hi_iota = _mm256_add_epi32(iota, _mm256_set1_epi32(LANES as i32));
    let (from, to) = (
        _mm256_set1_epi32(from.min(32) as i32),
        _mm256_set1_epi32(to.min(32) as i32),
    );
    let lanes = |at| _mm256_andnot_si256(_mm256_cmpgt_epi32(from, at), _mm256_cmpgt_epi32(to, at));
    (lanes(iota), lanes(hi_iota))
}

/// The even (`EVEN`) or odd (`ODD`) elements of the 16 in `lo`, `hi`, in order: a shuffle
/// within 128-bit lanes, then a permute across them.
#[inline(always)]
fn half<const SHUFFLE: i32>(lo: __m256, hi: __m256) -> __m256 {
    // SAFETY: AVX2 (the caller's target features): register operations only.
    unsafe {
        let mixed = _mm256_shuffle_ps::<SHUFFLE>(lo, hi);
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
            mixed,
        )))
    }
}

/// [`half`]'s shuffles.
const EVEN: i32 = 0b10_00_10_00;
const ODD: i32 = 0b11_01_11_01;

/// The 16 elements from `p`, as two vectors; those past `avail` read as zero (masked loads,
/// which never touch memory outside the mask).
///
/// # Safety
/// The CPU supports AVX2; `p..p + min(avail, 16)` is readable.
#[inline(always)]
unsafe fn load16(p: *const f32, avail: usize) -> (__m256, __m256) {
    // SAFETY: the caller's precondition; the masks select only the readable elements.
    unsafe {
        if avail >= 2 * LANES {
            (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(LANES)))
        } else {
            let lo = _mm256_maskload_ps(p, mask(avail.min(LANES)));
            let hi = _mm256_maskload_ps(p.wrapping_add(LANES), mask(avail.saturating_sub(LANES)));
            (lo, hi)
        }
    }
}

/// A mask of the low `lanes` (at most 8) lanes.
#[inline(always)]
fn mask(lanes: usize) -> __m256i {
    // SAFETY: AVX2 (the caller's target features): register operations only.
    unsafe {
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), iota)
    }
}
