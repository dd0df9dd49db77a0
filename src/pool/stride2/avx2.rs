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

/// The outputs of `rect`, as [`super::Kernels::run`] says.
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
    let span = rect.span::<KW>();
    let even = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    let div = _mm256_set1_ps(div);
    let (xp, yp, ip) = (x.as_ptr(), y.as_mut_ptr(), idx.as_mut_ptr());
    for o in 0..rect.rows {
        let (row, out) = (rect.x + o * rect.x_row, rect.y + o * rect.y_row);
        let mut j = 0;
        while j < rect.cols {
            let lanes = (rect.cols - j).min(LANES);
            let avail = span - 2 * j;
            let mut m = _mm256_setzero_ps();
            let mut i = _mm256_setzero_si256();
            for r in 0..rect.taps_h {
                let at = row + r * rect.x_tap + 2 * j;
                // SAFETY: `fits` bounds at + avail by x.len(); load16 reads no more.
                let (lo, hi) = unsafe { load16(xp.add(at), avail) };
                let first = _mm256_add_epi32(_mm256_set1_epi32(at as i32), even);
                let mut taps = [(evens(lo, hi), first), (odds(lo, hi), first), (m, first)];
                taps[1].1 = _mm256_add_epi32(first, _mm256_set1_epi32(1));
                if KW == 3 {
                    // Columns 2j + 2: the even columns of the 16 starting two further on.
                    // SAFETY: as above, avail - 2 of them readable (KW = 3: avail >= 3).
                    let (lo, hi) = unsafe { load16(xp.add(at + 2), avail - 2) };
                    taps[2] = (evens(lo, hi), _mm256_add_epi32(first, _mm256_set1_epi32(2)));
                }
                for (t, &(v, iv)) in taps[..KW].iter().enumerate() {
                    if OP == SUM {
                        m = _mm256_add_ps(m, v);
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
