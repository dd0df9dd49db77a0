//! AVX-512 kernels for the stride-2 windows of CNNs (2x2 stride 2, 3x3 stride 2), `f32`.
//!
//! One call computes a rectangle of interior outputs of a plane (all taps inside the input),
//! all the window's input rows at once, 16 outputs per step: each input row's 32 (or 33) columns are loaded and split
//! into even and odd columns with `vpermt2ps`. Taps are visited in row-major window order
//! and the max update is PyTorch's, `take = v > max || isnan(v)`, as a compare pair and a
//! masked move (not `vmaxps`, whose NaN and signed-zero behaviour differs), so results are
//! bit-identical to the portable loops.

use core::arch::x86_64::*;

use super::{Operands, ARGMAX, SUM};

/// Lanes of a 512-bit `f32` vector.
const LANES: usize = 16;

/// The outputs of the rectangle, taps `x[row + 2 * j + t]`, `t = 0..KW`, for every tap row,
/// scanned in row-major window order. `MAX`: the maximum into `y`; `ARGMAX`: also its
/// in-plane offset into `idx`; `SUM`: the sum (from zero) divided by `div` into `y`.
///
/// # Safety
/// The CPU supports AVX-512F; `o.fit::<KW, OP>()`; `x.len() <= 2^32`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn stride2<const KW: usize, const OP: u8>(o: Operands) {
    debug_assert!(o.fit::<KW, OP>() && o.rect.is_interior::<KW>());
    let rect = o.rect;
    let span = rect.span::<KW>();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    // Lane 15's index, 32, wraps to 0: that lane is loaded separately.
    let even2 = _mm512_add_epi32(even, _mm512_set1_epi32(2));
    let (one, two) = (_mm512_set1_epi32(1), _mm512_set1_epi32(2));
    let div = _mm512_set1_ps(o.div);
    let (xp, yp, ip) = (o.x.as_ptr(), o.y.as_mut_ptr(), o.idx.as_mut_ptr());
    for o in 0..rect.rows {
        let (row, out) = (rect.x + o * rect.x_row, rect.y + o * rect.y_row);
        let mut j = 0;
        while j < rect.cols {
            let lanes = (rect.cols - j).min(LANES);
            let avail = span - 2 * j;
            let mut m = _mm512_setzero_ps();
            let mut i = _mm512_setzero_si512();
            for r in 0..rect.taps_h {
                let at = row + r * rect.x_tap + 2 * j;
                // SAFETY: `fits` bounds at + avail by x.len(); load32 reads no more.
                let (lo, hi) = unsafe { load32(xp.add(at), avail) };
                let first = _mm512_add_epi32(_mm512_set1_epi32(at as i32), even);
                let mut taps = [
                    (_mm512_permutex2var_ps(lo, even, hi), first),
                    (
                        _mm512_permutex2var_ps(lo, odd, hi),
                        _mm512_add_epi32(first, one),
                    ),
                    (_mm512_setzero_ps(), _mm512_add_epi32(first, two)),
                ];
                if KW == 3 {
                    // Columns 2j + 2: lanes 0..15 from the loaded 32, lane 15 (column 32)
                    // read alone, when it is an output lane.
                    let third = _mm512_permutex2var_ps(lo, even2, hi);
                    let k = if avail > 2 * LANES { 1 << 15 } else { 0 };
                    // SAFETY: the mask enables lane 15 only, which reads element at + 32,
                    // and only when avail > 32 puts it inside x.
                    taps[2].0 = unsafe { _mm512_mask_loadu_ps(third, k, xp.wrapping_add(at + 17)) };
                }
                for (t, &(v, iv)) in taps[..KW].iter().enumerate() {
                    if OP == SUM {
                        m = _mm512_add_ps(m, v);
                    } else if r == 0 && t == 0 {
                        (m, i) = (v, iv);
                    } else {
                        // PyTorch's update: v > max (ordered) or v is NaN.
                        let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, m)
                            | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
                        m = _mm512_mask_mov_ps(m, take, v);
                        if OP == ARGMAX {
                            i = _mm512_mask_mov_epi32(i, take, iv);
                        }
                    }
                }
            }
            if OP == SUM {
                m = _mm512_div_ps(m, div);
            }
            let k = mask(lanes);
            // SAFETY: `fits` bounds out + cols by y.len() (and idx.len()); the mask covers
            // lanes j..j + lanes < cols only.
            unsafe {
                _mm512_mask_storeu_ps(yp.add(out + j), k, m);
                if OP == ARGMAX {
                    _mm512_mask_storeu_epi32(ip.add(out + j).cast(), k, i);
                }
            }
            j += LANES;
        }
    }
}

/// The 32 elements from `p`, as two vectors; those past `avail` read as zero (masked loads,
/// which never touch memory outside the mask).
///
/// # Safety
/// The CPU supports AVX-512F; `p..p + min(avail, 32)` is readable.
#[inline(always)]
unsafe fn load32(p: *const f32, avail: usize) -> (__m512, __m512) {
    // SAFETY: the caller's precondition; the masks select only the readable elements.
    unsafe {
        if avail >= 2 * LANES {
            (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(LANES)))
        } else {
            let lo = _mm512_maskz_loadu_ps(mask(avail.min(LANES)), p);
            let hi =
                _mm512_maskz_loadu_ps(mask(avail.saturating_sub(LANES)), p.wrapping_add(LANES));
            (lo, hi)
        }
    }
}

/// A mask of the low `lanes` (at most 16) lanes.
#[inline(always)]
fn mask(lanes: usize) -> __mmask16 {
    ((1u32 << lanes) - 1) as __mmask16
}
