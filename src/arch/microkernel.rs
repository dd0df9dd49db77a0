//! The one microkernel body, generic over an instruction set's vector type ([`Simd`]):
//! [`crate::arch::Float::dispatch`] instantiates it (through the loop nest) inside the
//! `#[target_feature]` wrapper of the chosen instruction set.

use super::simd::{Args, Simd};
use crate::element::Element;

/// How many rows ahead the microkernel prefetches the packed B sliver into L1: enough to
/// hide an L2 hit (about 14 cycles) and most of an L3 hit, at one row per 12 cycles.
const PREFETCH_ROWS: usize = 12;

/// `C[0..rows, 0..cols] <- alpha * A_sliver * B_sliver + beta * C[..]` for one
/// `MR x (NV * LANES)` register tile.
///
/// A element `(r, p)` of the packed sliver is at `a + r * A_RS + p * A_CS` (column by column:
/// `A_RS == 1`; row by row, a plain copy of a row-major A: `A_CS == 1`), B element `(p, j)`
/// at `b + p * B_RS + j`: every load is a constant offset from one pointer. A tile may be
/// narrower than the slivers it reads (an edge kernel with fewer rows or vectors). Rows and columns past the matrix edge are zero in packed
/// slivers. The full tile is accumulated in registers; only the `rows x cols` corner is
/// written, straight from registers when it is a whole tile with unit column stride,
/// through a stack copy otherwise. With `beta == 0` C is never read. The `4 x 4` tile of
/// column-packed slivers runs the instruction set's hand-written kernel if it has one
/// ([`Hand::tile_4x4`](super::simd::Hand::tile_4x4)).
///
/// # Safety
/// - the CPU supports `S`'s instruction set;
/// - A element `(r, p)` (as above) is readable for `r < MR`, `p < k`, and `b + p * NV * LANES + j` (packed) for
///   `p < k`, `j < NV * S::LANES`;
/// - `rows <= MR`, `cols <= NV * S::LANES`, and `c + i * rsc + j * csc` is a valid, unaliased
///   element for every `i < rows`, `j < cols`.
///
/// Where the only kernel is the portable one (microcontrollers), each tile shape is its own
/// function, called once per tile: the loop nest's stack frame then holds neither tile's
/// accumulators and spills (a third of the stack a convolution needs on a Cortex-M). The
/// SIMD kernels are inlined: they must be, to inherit their wrapper's target features.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    inline(never)
)]
#[allow(clippy::needless_range_loop)]
pub(crate) unsafe fn microkernel<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const A_RS: usize,
    const A_CS: usize,
    const B_RS: usize,
>(
    k: usize,
    (alpha, a, b, beta, c): Args<S::T>,
    (rsc, csc): (usize, usize),
    (rows, cols): (usize, usize),
) {
    if let (4, 4, 1, 4, 4, Some(hand)) = (MR, NV, A_RS, A_CS, B_RS, S::HAND.tile_4x4) {
        // SAFETY: the caller upholds this function's contract, which for this tile shape
        // is the hand-written kernel's.
        return unsafe { hand(k, (alpha, a, b, beta, c), (rsc, csc), (rows, cols)) };
    }
    let nr = NV * S::LANES;
    debug_assert!(rows <= MR && cols <= nr);
    // SAFETY (whole body): the caller guarantees the instruction set, the `k` columns and
    // rows behind `a` and `b`, and a valid `rows x cols` window of C at `c`; every pointer
    // below stays inside one of those.
    unsafe {
        let mut acc = [[S::zero(); NV]; MR];
        // One rank-1 update: row `p` of the B sliver times column `p` of the A sliver.
        // (A macro, not a closure: a closure may be outlined, and would then lose the
        // instruction set's target features.)
        macro_rules! step {
            ($p:expr) => {{
                let p = $p;
                let b = b.add(p * B_RS);
                let mut bv = [S::zero(); NV];
                for v in 0..NV {
                    bv[v] = S::load(b.add(v * S::LANES));
                    S::prefetch(b.wrapping_add(PREFETCH_ROWS * B_RS + v * S::LANES));
                }
                for i in 0..MR {
                    let ai = S::splat(*a.add(i * A_RS + p * A_CS));
                    for v in 0..NV {
                        acc[i][v] = S::mul_add(ai, bv[v], acc[i][v]);
                    }
                }
            }};
        }
        // Unrolled by 4: fewer loop and address updates per FMA.
        let mut p = 0;
        while p + 4 <= k {
            step!(p);
            step!(p + 1);
            step!(p + 2);
            step!(p + 3);
            p += 4;
        }
        while p < k {
            step!(p);
            p += 1;
        }

        let alpha_v = S::splat(alpha);
        if rows == MR && cols == nr && csc == 1 {
            if beta == S::T::ZERO {
                for i in 0..MR {
                    for v in 0..NV {
                        S::store(c.add(i * rsc + v * S::LANES), S::mul(alpha_v, acc[i][v]));
                    }
                }
            } else {
                let beta_v = S::splat(beta);
                for i in 0..MR {
                    for v in 0..NV {
                        let p = c.add(i * rsc + v * S::LANES);
                        S::store(
                            p,
                            S::mul_add(beta_v, S::load(p), S::mul(alpha_v, acc[i][v])),
                        );
                    }
                }
            }
        } else {
            let mut tile = [[S::LANES_ZERO; NV]; MR];
            for i in 0..MR {
                for v in 0..NV {
                    S::store(tile[i][v].as_mut().as_mut_ptr(), S::mul(alpha_v, acc[i][v]));
                }
            }
            for (i, row) in tile.iter().enumerate().take(rows) {
                let lanes = row.iter().flat_map(|l| l.as_ref().iter()).take(cols);
                for (j, &x) in lanes.enumerate() {
                    let p = c.add(i * rsc + j * csc);
                    *p = if beta == S::T::ZERO { x } else { x + beta * *p };
                }
            }
        }
    }
}
