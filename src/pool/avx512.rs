//! AVX-512 kernels for the stride-2 windows of CNNs (2x2 stride 2, 3x3 stride 2), `f32`.
//!
//! One call computes a rectangle of interior outputs of a plane (all taps inside the input),
//! all the window's input rows at once, 16 outputs per step: each input row's 32 (or 33) columns are loaded and split
//! into even and odd columns with `vpermt2ps`. Taps are visited in row-major window order
//! and the max update is PyTorch's, `take = v > max || isnan(v)`, as a compare pair and a
//! masked move (not `vmaxps`, whose NaN and signed-zero behaviour differs), so results are
//! bit-identical to the portable loops.

use core::any::TypeId;
use core::arch::x86_64::*;

use crate::element::Element;

/// What a kernel computes.
pub(super) const MAX: u8 = 0;
/// The max and its flat index.
pub(super) const ARGMAX: u8 = 1;
/// The window sum, from zero, in row-major tap order.
pub(super) const SUM: u8 = 2;

/// Lanes of a 512-bit `f32` vector.
const LANES: usize = 16;

/// A rectangle of interior outputs (every tap inside the input) of one plane.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rect {
    /// Offset in the input plane of the first output's first tap.
    pub x: usize,
    /// Input offset step between output rows (`stride_h * W`).
    pub x_row: usize,
    /// Input offset step between tap rows (`dilation_h * W`).
    pub x_tap: usize,
    /// Tap rows (`kernel_h`).
    pub taps_h: usize,
    /// Output rows and columns.
    pub rows: usize,
    pub cols: usize,
    /// Offset in the output of the first output, and the step between output rows.
    pub y: usize,
    pub y_row: usize,
}

impl Rect {
    /// Input elements one tap row of one output row spans: `2 * (cols - 1) + KW`.
    const fn span<const KW: usize>(&self) -> usize {
        2 * (self.cols - 1) + KW
    }

    /// Whether the rectangle lies within an input of `x_len` and outputs of `y_len`.
    pub(super) fn fits<const KW: usize>(&self, x_len: usize, y_len: usize) -> bool {
        let (r, c) = (self.rows, self.cols);
        r >= 1
            && c >= 1
            && self.taps_h >= 1
            && self.x + (r - 1) * self.x_row + (self.taps_h - 1) * self.x_tap + self.span::<KW>()
                <= x_len
            && self.y + (r - 1) * self.y_row + c <= y_len
    }
}

/// The outputs of `rect`, taps `x[row + 2 * j + t]`, `t = 0..KW`, for every tap row, scanned
/// in row-major window order. `MAX`: the maximum into `y`; `ARGMAX`: also its in-plane offset
/// into `idx`; `SUM`: the sum (from zero) divided by `div` into `y`.
///
/// # Safety
/// The CPU supports AVX-512F; `rect.fits::<KW>(x.len(), y.len())`, and also
/// `rect.fits::<KW>(x.len(), idx.len())` when `OP == ARGMAX`; `x.len() <= 2^32`.
#[target_feature(enable = "avx512f")]
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
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    // Lane 15's index, 32, wraps to 0: that lane is loaded separately.
    let even2 = _mm512_add_epi32(even, _mm512_set1_epi32(2));
    let (one, two) = (_mm512_set1_epi32(1), _mm512_set1_epi32(2));
    let div = _mm512_set1_ps(div);
    let (xp, yp, ip) = (x.as_ptr(), y.as_mut_ptr(), idx.as_mut_ptr());
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

/// Whether `T` is `f32`, the element type of these kernels.
pub(super) fn is_f32<T: Element>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>()
}

/// `s` viewed as `f32`s.
///
/// # Safety
/// `T` is `f32` ([`is_f32`]).
#[inline(always)]
unsafe fn as_f32<T: Element>(s: &[T]) -> &[f32] {
    debug_assert!(is_f32::<T>());
    // SAFETY: T is f32 (the caller's precondition): same layout, same length.
    unsafe { core::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

/// `s` viewed as `f32`s, mutably.
///
/// # Safety
/// `T` is `f32` ([`is_f32`]).
#[inline(always)]
unsafe fn as_f32_mut<T: Element>(s: &mut [T]) -> &mut [f32] {
    debug_assert!(is_f32::<T>());
    // SAFETY: T is f32 (the caller's precondition): same layout, same length.
    unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

/// Runs [`stride2`] on `T` data over `rect`, for a window of `taps` (2 or 3) column taps.
///
/// # Safety
/// `T` is `f32`, the CPU supports AVX-512F, `taps` is 2 or 3, and `rect` satisfies
/// [`stride2`]'s bounds for that `KW` (it holds interior outputs of a validated geometry).
#[inline(always)]
pub(super) unsafe fn run<T: Element, const OP: u8>(
    taps: usize,
    x: &[T],
    rect: &Rect,
    div: f32,
    y: &mut [T],
    idx: &mut [u32],
) {
    // SAFETY: the caller's preconditions, passed on.
    unsafe {
        let (x, y) = (as_f32(x), as_f32_mut(y));
        if taps == 2 {
            stride2::<2, OP>(x, rect, div, y, idx);
        } else {
            stride2::<3, OP>(x, rect, div, y, idx);
        }
    }
}
