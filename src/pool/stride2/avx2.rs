//! AVX2 kernels for the stride-2 windows (2x2 stride 2, 3x3 stride 2), `f32`.
//!
//! As `avx512.rs`, eight outputs per step: each input row's 16 (or 18) columns are loaded and
//! split into even and odd columns with a shuffle and a cross-lane permute; the max update is
//! PyTorch's, `take = v > max || isnan(v)`, as a compare pair and a blend, so results are
//! bit-identical to the portable loops. Small planes (7 or 14 outputs per row) are where this
//! pays: a row costs a step or two, not a pass per window row.

use core::arch::x86_64::*;

use super::{Rect, ARGMAX, SUM};

/// Lanes of a 256-bit `f32` vector.
const LANES: usize = 8;

/// The outputs of `rect`, as [`super::Kernels::run`] says; padding columns (see
/// [`Rect`]) are skipped.
///
/// # Safety
/// The CPU supports AVX2; `rect.fits::<KW>(x.len(), y.len())`, and also
/// `rect.fits::<KW>(x.len(), idx.len())` when `OP == ARGMAX`; `x.len() <= 2^32`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn stride2<const KW: usize, const OP: u8>(
    x: &[f32],
    rect: &Rect,
    div: f32,
    y: &mut [f32],
    idx: &mut [u32],
) {
    debug_assert!(rect.fits::<KW>(x.len(), y.len()));
    debug_assert!(OP != ARGMAX || rect.fits::<KW>(x.len(), idx.len()));
    // SAFETY: the caller's preconditions, passed on.
    unsafe {
        if rect.is_interior::<KW>() {
            rows::<KW, OP, false>(x, rect, div, y, idx);
        } else {
            rows::<KW, OP, true>(x, rect, div, y, idx);
        }
    }
}

/// [`stride2`]'s loops; `PAD`: some taps are padding (masked loads, and the max takes only
/// readable taps, the first of them unconditionally).
///
/// # Safety
/// As [`stride2`].
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn rows<const KW: usize, const OP: u8, const PAD: bool>(
    x: &[f32],
    rect: &Rect,
    div: f32,
    y: &mut [f32],
    idx: &mut [u32],
) {
    let span = rect.span::<KW>();
    // Readable elements from a row's first loaded one (`lead` before `x`) on, and the first.
    let (first_ok, end_ok) = (rect.lead, rect.lead + rect.width.min(span));
    let even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    let div = _mm256_set1_ps(div);
    let (xp, yp, ip) = (x.as_ptr(), y.as_mut_ptr(), idx.as_mut_ptr());
    for o in 0..rect.rows {
        let (row, out) = (rect.x + o * rect.x_row, rect.y + o * rect.y_row);
        let mut j = 0;
        while j < rect.cols {
            let lanes = (rect.cols - j).min(LANES);
            let mut m = _mm256_setzero_ps();
            let mut i = _mm256_setzero_si256();
            // PAD: the lanes that have taken a tap.
            let mut seen = _mm256_setzero_ps();
            for r in 0..rect.taps_h {
                // The 16 (or 18) elements from `at`, the first output's first tap, `lead`
                // of them padding before `row`; only those in `first_ok..end_ok` (counted
                // from the row's first loaded element) are read.
                let at = (row + r * rect.x_tap + 2 * j).wrapping_sub(rect.lead);
                let p = xp.wrapping_add(at);
                let from = first_ok.saturating_sub(2 * j);
                let to = end_ok.saturating_sub(2 * j);
                // SAFETY: `fits` bounds every readable element by x.len(); the masks (or,
                // without padding, `load16`'s count) read no others.
                let (lo, hi, ok) = unsafe {
                    if PAD {
                        load16_between(p, from, to)
                    } else {
                        let (lo, hi) = load16(p, span - 2 * j);
                        (lo, hi, (_mm256_setzero_ps(), _mm256_setzero_ps()))
                    }
                };
                let first = _mm256_add_epi32(_mm256_set1_epi32(at as i32), even);
                let mut taps = [
                    (evens(lo, hi), first, evens(ok.0, ok.1)),
                    (
                        odds(lo, hi),
                        _mm256_add_epi32(first, _mm256_set1_epi32(1)),
                        odds(ok.0, ok.1),
                    ),
                    (m, first, m),
                ];
                if KW == 3 {
                    // Columns 2j + 2: the even columns of the 16 starting two further on.
                    // SAFETY: as above (KW = 3: span - 2j >= 3).
                    let (lo, hi, ok) = unsafe {
                        if PAD {
                            load16_between(
                                p.wrapping_add(2),
                                from.saturating_sub(2),
                                to.saturating_sub(2),
                            )
                        } else {
                            let (lo, hi) = load16(p.wrapping_add(2), span - 2 * j - 2);
                            (lo, hi, (_mm256_setzero_ps(), _mm256_setzero_ps()))
                        }
                    };
                    let iv = _mm256_add_epi32(first, _mm256_set1_epi32(2));
                    taps[2] = (evens(lo, hi), iv, evens(ok.0, ok.1));
                }
                for (t, &(v, iv, ok)) in taps[..KW].iter().enumerate() {
                    if OP == SUM {
                        // Padding loads as zero: it adds nothing.
                        m = _mm256_add_ps(m, v);
                    } else if PAD {
                        // The first readable tap, then PyTorch's update, readable taps only.
                        let update = _mm256_or_ps(
                            _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
                            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
                        );
                        let take = _mm256_and_ps(ok, _mm256_or_ps(update, _mm256_xor_ps(seen, ok)));
                        seen = _mm256_or_ps(seen, ok);
                        m = _mm256_blendv_ps(m, v, take);
                        if OP == ARGMAX {
                            i = _mm256_blendv_epi8(i, iv, _mm256_castps_si256(take));
                        }
                    } else if r == 0 && t == 0 {
                        (m, i) = (v, iv);
                    } else {
                        // PyTorch's update: v > max (ordered) or v is NaN.
                        let take = _mm256_or_ps(
                            _mm256_cmp_ps::<_CMP_GT_OQ>(v, m),
                            _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v),
                        );
                        m = _mm256_blendv_ps(m, v, take);
                        if OP == ARGMAX {
                            i = _mm256_blendv_epi8(i, iv, _mm256_castps_si256(take));
                        }
                    }
                }
            }
            if OP == SUM {
                m = _mm256_div_ps(m, div);
            }
            let k = mask(lanes);
            // SAFETY: `fits` bounds out + cols by y.len() (and idx.len()); the mask covers
            // lanes j..j + lanes < cols only.
            unsafe {
                _mm256_maskstore_ps(yp.add(out + j), k, m);
                if OP == ARGMAX {
                    _mm256_maskstore_epi32(ip.add(out + j).cast(), k, i);
                }
            }
            j += LANES;
        }
    }
}

/// The 16 elements from `p` whose positions lie in `from..to`, as two vectors (the others
/// zero, never read), and the lanes read, as all-ones masks.
///
/// # Safety
/// The CPU supports AVX2; `p + e` is readable for every `e` in `from..to` below 16.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load16_between(
    p: *const f32,
    from: usize,
    to: usize,
) -> (__m256, __m256, (__m256, __m256)) {
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let (from, to) = (
        _mm256_set1_epi32(from.min(32) as i32),
        _mm256_set1_epi32(to.min(32) as i32),
    );
    let hi_iota = _mm256_add_epi32(iota, _mm256_set1_epi32(LANES as i32));
    let ok_lo = _mm256_andnot_si256(_mm256_cmpgt_epi32(from, iota), _mm256_cmpgt_epi32(to, iota));
    let ok_hi = _mm256_andnot_si256(
        _mm256_cmpgt_epi32(from, hi_iota),
        _mm256_cmpgt_epi32(to, hi_iota),
    );
    // SAFETY: the caller's precondition; the masks select only the readable elements.
    unsafe {
        let lo = _mm256_maskload_ps(p, ok_lo);
        let hi = _mm256_maskload_ps(p.wrapping_add(LANES), ok_hi);
        (
            lo,
            hi,
            (_mm256_castsi256_ps(ok_lo), _mm256_castsi256_ps(ok_hi)),
        )
    }
}

/// The even elements of the 16 in `lo`, `hi`, in order.
#[inline(always)]
fn evens(lo: __m256, hi: __m256) -> __m256 {
    // SAFETY: AVX2 (the caller's target features): register operations only.
    unsafe {
        let mixed = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
            mixed,
        )))
    }
}

/// The odd elements of the 16 in `lo`, `hi`, in order.
#[inline(always)]
fn odds(lo: __m256, hi: __m256) -> __m256 {
    // SAFETY: AVX2 (the caller's target features): register operations only.
    unsafe {
        let mixed = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
            mixed,
        )))
    }
}

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
