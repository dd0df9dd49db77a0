//! The BLIS loop nest, generic over the microkernel's instruction set and tile.
//!
//! ```text
//! LOOP 5  ic: m in MC-row panels     pack A[ic.., pc..] (MC x KC, L3)   <- inside LOOP 4
//! LOOP 4  pc: k in KC-deep blocks
//! LOOP 3  jc: n in NC-column blocks  pack B[pc.., jc..] (KC x NC, L2)
//! LOOP 2  ir: MC in MR-row slivers   A sliver (MR x KC) stays in L1
//! LOOP 1  jr: NC in NR-column slivers  microkernel: MR x NR tile of C
//! ```

use super::blocking::{self, Plan};
use super::pack::{pack_a, pack_a_rows, pack_b};
use super::simd::{microkernel, Simd};
use super::view::{MatMut, MatRef};
use crate::element::Element;

/// `C <- alpha * A * B + beta * C` with packing into `scratch`, for non-empty operands
/// whose dimensions agree. Falls back to [`unpacked`] when `scratch` cannot hold even a
/// depth-1 pair of slivers.
///
/// # Safety
/// The CPU supports `S`'s instruction set; `NR == NV * S::LANES`; `KC` is the blocking's
/// `kc` for `S::T`.
#[inline(always)]
pub(crate) unsafe fn gemm<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const NR: usize,
    const KC: usize,
>(
    alpha: S::T,
    a: MatRef<'_, S::T>,
    b: MatRef<'_, S::T>,
    beta: S::T,
    c: MatMut<'_, S::T>,
    scratch: &mut [S::T],
) {
    debug_assert_eq!(NR, NV * S::LANES);
    let (m, n, k) = (a.rows, b.cols, a.cols);
    // Align the B block to a cache line: its slivers then start on vector boundaries.
    // (`align_offset` may decline, as under Miri: alignment is only a speed hint.)
    let skip = scratch.as_ptr().align_offset(blocking::ALIGN_BYTES);
    let skip = if skip <= scratch.len() { skip } else { 0 };
    let scratch = &mut scratch[skip..];
    let blocks = blocking::for_size(core::mem::size_of::<S::T>());
    debug_assert_eq!(KC, blocks.kc);
    let Some(Plan { kc, mc, nc, a_rows }) = Plan::new(&blocks, scratch.len(), (MR, NR), (m, n, k))
    else {
        return unpacked(alpha, a, b, beta, c);
    };
    let (b_block, a_panel) = scratch.split_at_mut(kc * nc);
    let (rsc, csc) = (c.row_stride, c.col_stride);
    let c_ptr = c.data.as_mut_ptr();
    // A row-major A is packed row by row (plain copies), anything else column by column.
    let a_rows = a_rows && a.col_stride == 1;
    let a_sliver_len = MR * if a_rows { KC } else { kc };

    // LOOP 5: split m into MC-row panels of A.
    for ic in (0..m).step_by(mc) {
        let mcb = mc.min(m - ic);
        // LOOP 4: split k into KC-deep blocks; the first applies beta, the rest add.
        for pc in (0..k).step_by(kc) {
            let kcb = kc.min(k - pc);
            let beta = if pc == 0 { beta } else { S::T::ONE };
            if a_rows {
                pack_a_rows::<S::T, MR, KC>(&a, (ic, pc), (mcb, kcb), a_panel);
            } else {
                pack_a::<S::T, MR>(&a, (ic, pc), (mcb, kcb), a_panel);
            }
            // LOOP 3: split n into NC-column blocks of B.
            for jc in (0..n).step_by(nc) {
                let ncb = nc.min(n - jc);
                pack_b::<S::T, NR>(&b, (pc, jc), (kcb, ncb), b_block);
                // LOOP 2: MR-row slivers of the A panel.
                for ir in (0..mcb).step_by(MR) {
                    let rows = MR.min(mcb - ir);
                    let a_sliver = if a_rows {
                        a_panel[ir / MR * a_sliver_len..].as_ptr()
                    } else {
                        a_panel[ir * kcb..].as_ptr()
                    };
                    // LOOP 1: NR-column slivers of the B block, one microkernel call each.
                    for jr in (0..ncb).step_by(NR) {
                        let cols = NR.min(ncb - jr);
                        let b_sliver = b_block[jr * kcb..].as_ptr();
                        let c_at = (ic + ir) * rsc + (jc + jr) * csc;
                        // SAFETY: a packed A sliver holds `kcb` columns of `MR` values (or
                        // `MR` rows of `kcb` values, `KC` apart), a packed B sliver `kcb`
                        // rows of `NR`. `ic + ir + i < m` and `jc + jr + j < n` for
                        // `i < rows`, `j < cols`, so every C element written is inside the
                        // validated, non-aliasing view `c`; the caller guarantees the
                        // instruction set.
                        unsafe {
                            let c_tile = c_ptr.add(c_at);
                            let args = (alpha, a_sliver, b_sliver, beta, c_tile);
                            let (c_strides, edge) = ((rsc, csc), (rows, cols));
                            if a_rows {
                                tile::<S, MR, NV, NR, KC>(kcb, args, c_strides, edge);
                            } else {
                                kernel::<S, MR, NV, 1, MR, NR>(kcb, args, c_strides, edge);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The operands of one microkernel call: alpha, the A and B slivers, beta and the C tile.
type Args<T> = (T, *const T, *const T, T, *mut T);

/// One `MR x NR` tile from a row-by-row A sliver (row stride `KC`): edge tiles with at most
/// 4 or 8 live rows, or one vector of live columns, run a smaller register tile instead of
/// computing padding.
///
/// # Safety
/// As for [`microkernel`] with `A_RS = KC`, `A_CS = 1`, `B_RS = NR`.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize, const NR: usize, const KC: usize>(
    k: usize,
    args: Args<S::T>,
    c_strides: (usize, usize),
    (rows, cols): (usize, usize),
) {
    let edge = (rows, cols);
    let narrow = NV == 2 && cols <= S::LANES;
    // SAFETY: every variant reads a subset of the sliver rows and vectors the full tile
    // reads, and writes the same `rows x cols` corner of C (`rows` and `cols` fit it).
    unsafe {
        match (rows, narrow) {
            (..=4, false) if MR > 4 => kernel::<S, 4, NV, KC, 1, NR>(k, args, c_strides, edge),
            (..=4, true) if MR > 4 => kernel::<S, 4, 1, KC, 1, NR>(k, args, c_strides, edge),
            (..=8, false) if MR > 8 => kernel::<S, 8, NV, KC, 1, NR>(k, args, c_strides, edge),
            (..=8, true) if MR > 8 => kernel::<S, 8, 1, KC, 1, NR>(k, args, c_strides, edge),
            (_, true) => kernel::<S, MR, 1, KC, 1, NR>(k, args, c_strides, edge),
            (_, false) => kernel::<S, MR, NV, KC, 1, NR>(k, args, c_strides, edge),
        }
    }
}

/// [`microkernel`] with its operands bundled.
///
/// # Safety
/// As for [`microkernel`].
#[inline(always)]
unsafe fn kernel<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const A_RS: usize,
    const A_CS: usize,
    const B_RS: usize,
>(
    k: usize,
    (alpha, a, b, beta, c): Args<S::T>,
    c_strides: (usize, usize),
    edge: (usize, usize),
) {
    // SAFETY: the caller upholds `microkernel`'s contract.
    unsafe { microkernel::<S, MR, NV, A_RS, A_CS, B_RS>(k, alpha, a, b, beta, c, c_strides, edge) }
}

/// The no-scratch path: one dot product per element of C, straight from the views.
#[inline(always)]
pub(crate) fn unpacked<T: Element>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            let mut acc = T::ZERO;
            for p in 0..a.cols {
                acc += a.data[i * a.row_stride + p * a.col_stride]
                    * b.data[p * b.row_stride + j * b.col_stride];
            }
            let dst = &mut c.data[i * c.row_stride + j * c.col_stride];
            *dst = if beta == T::ZERO {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
}
