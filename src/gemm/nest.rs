//! The BLIS loop nest, generic over the microkernel's instruction set and tile.
//!
//! ```text
//! LOOP 5  ic: m in MC-row panels     pack A[ic.., pc..] (MC x KC, L3)   <- inside LOOP 4
//! LOOP 4  pc: k in KC-deep blocks
//! LOOP 3  jc: n in NC-column blocks  pack B[pc.., jc..] (KC x NC, L2)
//! LOOP 2  ir: MC in MR-row slivers   A sliver (MR x KC) stays in L1
//! LOOP 1  jr: NC in NR-column slivers  microkernel: MR x NR tile of C
//! ```

use core::num::NonZeroUsize;

use super::blocking::{self, Plan};
use super::pack::{pack, pack_a_rows};
use crate::arch::microkernel::microkernel;
use crate::arch::{Args, Float, Simd, TileKernel};
use crate::element::Element;
use crate::matrix::{MatMut, MatRef};

/// The loop nest's operands: `C <- alpha * A * B + beta * C`, `scratch` for the packing.
pub struct Nest<'a, T> {
    pub alpha: T,
    pub a: MatRef<'a, T>,
    pub b: MatRef<'a, T>,
    pub beta: T,
    pub c: MatMut<'a, T>,
    pub scratch: &'a mut [T],
}

/// The packed loop nest's operands: [`Nest`] with A packed by [`pack`] over the whole
/// matrix (`scratch` for B alone).
pub struct NestPacked<'a, T> {
    pub alpha: T,
    pub a: &'a [T],
    pub b: MatRef<'a, T>,
    pub beta: T,
    pub c: MatMut<'a, T>,
    pub scratch: &'a mut [T],
}

/// Packs the whole of `a` into `dst` as [`gemm_packed`] reads it: `MR`-row slivers column by
/// column ([`pack`]), as many as fit in `dst`.
pub struct PackA<'a, 'b, T> {
    pub a: MatRef<'a, T>,
    pub dst: &'b mut [T],
}

/// Implements [`TileKernel`] for each operation `$ty`: `$body` runs with the operation as
/// `$op` and the register tile as `V` (its vectors), `MR`, `NV`, `NR` and `KC`.
macro_rules! on_tile {
    ($($(#[$doc:meta])* $ty:ty => |$op:ident| $body:block)*) => {$(
        $(#[$doc])*
        impl<T: Float> TileKernel<T> for $ty {
            type Output = ();

            #[inline(always)]
            unsafe fn run<V, const MR: usize, const NV: usize, const NR: usize, const KC: usize>(
                self,
            ) where
                V: Simd<T = T>,
            {
                let $op = self;
                $body
            }
        }
    )*};
}

on_tile! {
    /// The loop nest ([`gemm`]).
    Nest<'_, T> => |nest| {
        // SAFETY: the caller guarantees `V`'s instruction set and the tile's constants; the
        // operands' contract is the dispatching caller's (non-empty, agreeing). (The fields
        // go separately: a struct argument costs the Cortex-M4F's frame 24 bytes.)
        let Nest { alpha, a, b, beta, c, scratch } = nest;
        unsafe { gemm::<V, MR, NV, NR, KC>(alpha, a, b, beta, c, scratch) }
    }
    /// The packed loop nest ([`gemm_packed`]).
    NestPacked<'_, T> => |nest| {
        let tile = nest.c.rows.div_ceil(MR).saturating_mul(MR);
        if nest.a.len() < tile.saturating_mul(nest.b.rows) {
            debug_assert!(false, "packed for another register tile");
            return;
        }
        // SAFETY: as for `Nest`; `a` holds every sliver for this `MR` (checked above).
        unsafe { gemm_packed::<V, MR, NV, NR>(nest) }
    }
    /// The packing of A for [`gemm_packed`].
    PackA<'_, '_, T> => |op| {
        let a = op.a;
        // SAFETY: the block is the whole of `a`. (`pack` fills only the slivers that fit
        // in `dst`.)
        unsafe { pack::<T, MR>(&a, (0, 0), (a.rows(), a.cols()), op.dst) }
    }
}

/// `scratch` from its first element on a cache line, or all of it if `align_offset` declines
/// (as under Miri: alignment is only a speed hint).
#[inline(always)]
fn aligned<T>(scratch: &mut [T]) -> &mut [T] {
    let skip = scratch.as_ptr().align_offset(blocking::ALIGN_BYTES);
    let skip = if skip <= scratch.len() { skip } else { 0 };
    scratch.get_mut(skip..).unwrap_or_default()
}

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
    let scratch = aligned(scratch);
    let blocks = blocking::for_size(core::mem::size_of::<S::T>());
    debug_assert_eq!(KC, blocks.kc);
    let plan = Plan::new(&blocks, scratch.len(), (MR, NR), (m, n, k));
    // A plan fits the scratch, so the split always succeeds.
    let panels =
        plan.and_then(|p| Some((p, scratch.split_at_mut_checked(p.kc.get() * p.nc.get())?)));
    match panels {
        // SAFETY: the caller's contract; the B block and the A panel are the plan's.
        Some((plan, (b_block, a_panel))) => unsafe {
            blocked::<S, MR, NV, NR, KC>(plan, alpha, a, b, beta, c, b_block, a_panel)
        },
        None => unpacked::<S>(alpha, a, b, beta, c),
    }
}

/// The loop nest of [`gemm`] for a `plan` whose B block and A panel are `b_block` and
/// `a_panel`. Not inlined on targets without run-time instruction sets, so a product that
/// falls back to [`unpacked`] does not carry the nest's frame (on the Cortex-M4F, the
/// backward passes' deepest path with the least workspace). Inlined on x86_64 and aarch64:
/// out of line it would be compiled without its instruction set's target features, its
/// intrinsics calls instead of instructions (20 times slower).
///
/// # Safety
/// As for [`gemm`]; `b_block` holds `kc * nc` elements and `a_panel` the plan's A panel.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    inline(never)
)]
#[allow(clippy::too_many_arguments)]
unsafe fn blocked<S: Simd, const MR: usize, const NV: usize, const NR: usize, const KC: usize>(
    plan: Plan,
    alpha: S::T,
    a: MatRef<'_, S::T>,
    b: MatRef<'_, S::T>,
    beta: S::T,
    c: MatMut<'_, S::T>,
    b_block: &mut [S::T],
    a_panel: &mut [S::T],
) {
    let (m, n, k) = (a.rows, b.cols, a.cols);
    let Plan { kc, mc, nc, a_rows } = plan;
    let (rsc, csc) = (c.row_stride, c.col_stride);
    let c_ptr = c.data.as_mut_ptr();
    // A row-major A is packed row by row (plain copies), anything else column by column.
    let a_rows = S::PACK_A_ROWS && a_rows && a.col_stride == 1;
    let a_sliver_len = MR * if a_rows { KC } else { kc.get() };

    // LOOP 5: split m into MC-row panels of A.
    for ic in (0..m).step_by(mc.get()) {
        let mcb = mc.get().min(m - ic);
        // LOOP 4: split k into KC-deep blocks; the first applies beta, the rest add.
        for pc in (0..k).step_by(kc.get()) {
            let kcb = kc.get().min(k - pc);
            let beta = if pc == 0 { beta } else { S::T::ONE };
            // SAFETY: rows `ic..ic + mcb < m`, columns `pc..pc + kcb <= k` of A (and
            // `col_stride == 1` for the row-by-row packing).
            unsafe {
                if a_rows {
                    pack_a_rows::<S::T, MR, KC>(&a, (ic, pc), (mcb, kcb), a_panel);
                } else {
                    pack::<S::T, MR>(&a, (ic, pc), (mcb, kcb), a_panel);
                }
            }
            // LOOP 3: split n into NC-column blocks of B.
            for jc in (0..n).step_by(nc.get()) {
                let ncb = nc.get().min(n - jc);
                // SAFETY: rows `pc..pc + kcb <= k`, columns `jc..jc + ncb <= n` of B: rows
                // `jc..` and columns `pc..` of its transpose, packed as `NR`-row slivers.
                unsafe { pack::<S::T, NR>(&b.t(), (jc, pc), (ncb, kcb), b_block) };
                // LOOP 2: MR-row slivers of the A panel.
                for ir in (0..mcb).step_by(MR) {
                    let rows = MR.min(mcb - ir);
                    // The plan sized the panel for `mc` rows: these offsets stay inside it.
                    let a_sliver = a_panel.as_ptr().wrapping_add(if a_rows {
                        ir / MR * a_sliver_len
                    } else {
                        ir * kcb
                    });
                    // LOOP 1: NR-column slivers of the B block, one microkernel call each.
                    for jr in (0..ncb).step_by(NR) {
                        let cols = NR.min(ncb - jr);
                        let b_sliver = b_block.as_ptr().wrapping_add(jr * kcb);
                        let c_at = (ic + ir) * rsc + (jc + jr) * csc;
                        // SAFETY: the plan fits the B block (`kc * nc`) and the A panel (`mc`
                        // rows of `KC` or `kc`) in the scratch, so a packed A sliver holds
                        // `kcb` columns of `MR` values (or `MR` rows of `kcb` values, `KC`
                        // apart) and a packed B sliver `kcb` rows of `NR`, all written by
                        // the packing above. `ic + ir + i < m` and `jc + jr + j < n` for
                        // `i < rows`, `j < cols`, so every C element written is inside the
                        // validated, non-aliasing view `c`; the caller guarantees the
                        // instruction set.
                        unsafe {
                            let c_tile = c_ptr.add(c_at);
                            let args = (alpha, a_sliver, b_sliver, beta, c_tile);
                            let (c_strides, edge) = ((rsc, csc), (rows, cols));
                            if a_rows {
                                tile::<S, MR, NV, KC, 1, NR>(kcb, args, c_strides, edge);
                            } else {
                                microkernel::<S, MR, NV, 1, MR, NR>(kcb, args, c_strides, edge);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `C <- alpha * A * B + beta * C` with A pre-packed and only B packed into `scratch`, for
/// non-empty operands whose dimensions agree.
///
/// `a` holds the `m x k` A as `m.div_ceil(MR)` slivers of the full depth, sliver `s` at `s *
/// MR * k`, its element `(i, p)` at `p * MR + i` (rows past `m` zero): a KC block `pc..pc +
/// kcb` of a sliver is the contiguous run from `pc * MR`, read in place by the microkernel.
/// The loops are LOOP 3 (`jc`), LOOP 4 (`pc`, packing the B block) and LOOPs 2 and 1 over
/// every sliver and B sliver: no A panel, so no LOOP 5. Falls back to [`unpacked_packed`]
/// when `scratch` cannot hold even a depth-1 B sliver.
///
/// # Safety
/// The CPU supports `S`'s instruction set; `NR == NV * S::LANES`;
/// `a.len() >= m.div_ceil(MR) * MR * k` with `m == c.rows`,
/// `k == b.rows >= 1`, and `b.cols == c.cols`. (Elements of `a` past the slivers, if any,
/// may be read, never used.)
#[inline(always)]
pub(crate) unsafe fn gemm_packed<S: Simd, const MR: usize, const NV: usize, const NR: usize>(
    nest: NestPacked<'_, S::T>,
) {
    debug_assert_eq!(NR, NV * S::LANES);
    let (alpha, a, b, beta, c) = (nest.alpha, nest.a, nest.b, nest.beta, nest.c);
    let (m, n, k) = (c.rows, b.cols, b.rows);
    debug_assert!(a.len() >= m.div_ceil(MR) * MR * k && c.cols == n);
    let scratch = aligned(nest.scratch);
    let blocks = blocking::for_size(core::mem::size_of::<S::T>());
    let Some((kc, nc)) = blocking::packed_plan(&blocks, scratch.len(), NR, (n, k)) else {
        return unpacked_packed::<S::T, MR>(alpha, a, b, beta, c);
    };
    // The plan fits the scratch, so this always succeeds.
    let Some(b_block) = scratch.get_mut(..kc.get() * nc.get()) else {
        return unpacked_packed::<S::T, MR>(alpha, a, b, beta, c);
    };
    let (rsc, csc) = (c.row_stride, c.col_stride);
    let c_ptr = c.data.as_mut_ptr();
    // A narrow last column sliver runs transposed ([`tail`]) where one vector holds an A
    // sliver's `MR` values per depth and `a` has room for that vector's reads past the end
    // of the last sliver. (Never on one-lane vectors: `MR > 1 == LANES`.)
    let used = m.div_ceil(MR).saturating_mul(MR).saturating_mul(k);
    let transposed_tail =
        MR <= S::LANES && NV > 1 && a.len() >= used.saturating_add(S::LANES - MR.min(S::LANES));
    // Up to 4 columns, or 8 with a taller tile: fewer FMAs than the register tile's rows.
    #[allow(non_snake_case)]
    let TAIL_COLS = if MR > 8 { 8 } else { 4 };

    // LOOP 3: split n into NC-column blocks of B.
    for jc in (0..n).step_by(nc.get()) {
        let ncb = nc.get().min(n - jc);
        // LOOP 4: split k into KC-deep blocks; the first applies beta, the rest add.
        for pc in (0..k).step_by(kc.get()) {
            let kcb = kc.get().min(k - pc);
            let beta = if pc == 0 { beta } else { S::T::ONE };
            // SAFETY: rows `pc..pc + kcb <= k`, columns `jc..jc + ncb <= n` of B, packed as
            // its transpose's `NR`-row slivers.
            unsafe { pack::<S::T, NR>(&b.t(), (jc, pc), (ncb, kcb), b_block) };
            // LOOP 2: every MR-row sliver of the packed A, its KC block in place.
            for ir in (0..m).step_by(MR) {
                let rows = MR.min(m - ir);
                let a_sliver = a.as_ptr().wrapping_add(ir * k + pc * MR);
                // LOOP 1: NR-column slivers of the B block, one microkernel call each.
                for jr in (0..ncb).step_by(NR) {
                    let cols = NR.min(ncb - jr);
                    let b_sliver = b_block.as_ptr().wrapping_add(jr * kcb);
                    let c_at = ir * rsc + (jc + jr) * csc;
                    // SAFETY: sliver `ir / MR` of A starts at `ir * k` (`ir` a multiple of
                    // `MR`) and holds `k` columns of `MR` values, so from `pc * MR` it holds
                    // the `kcb` columns `pc..pc + kcb <= k` (the caller's length); the B
                    // block holds `kcb` rows of `NR` per sliver, written by the packing
                    // above (the plan fits `kc * nc` in the scratch). `ir + i < m` and `jc +
                    // jr + j < n` for `i < rows`, `j < cols`, so every C element written is
                    // inside the validated, non-aliasing view `c`; the caller guarantees the
                    // instruction set.
                    unsafe {
                        let c_tile = c_ptr.add(c_at);
                        if transposed_tail && cols <= TAIL_COLS {
                            // `C^T = B^T A^T` on this tile: the A sliver's `MR` values per
                            // depth fit one vector (`MR <= LANES`), read past the sliver's
                            // end by at most `LANES - MR` (the tail room checked above).
                            let args = (alpha, b_sliver, a_sliver, beta, c_tile);
                            tail::<S, MR, NR>(kcb, args, (csc, rsc), (cols, rows));
                        } else {
                            let args = (alpha, a_sliver, b_sliver, beta, c_tile);
                            tile::<S, MR, NV, 1, MR, NR>(kcb, args, (rsc, csc), (rows, cols));
                        }
                    }
                }
            }
        }
    }
}

/// The last, narrow column sliver of a packed product, transposed: `C^T[0..cols, 0..rows]`
/// from the B sliver (as A, `A_RS = 1`, `A_CS = NR`) and the A sliver (as B, one vector of
/// its `MR` values per depth, `B_RS = MR`). One FMA per live column and depth, where the
/// register tile would run one per row of A. Each element of C is the same sum in the same
/// order as in [`tile`] (the products commute exactly), stored the same way.
///
/// # Safety
/// As for [`microkernel`] with the operands swapped: `cols
/// <= 8 <= NR`, `rows <= MR <= S::LANES`, the B sliver holds `k` rows of `NR` values, and
/// `S::LANES` values from the A sliver's `p * MR` are readable for every `p < k`.
#[inline(always)]
unsafe fn tail<S: Simd, const MR: usize, const NR: usize>(
    k: usize,
    args: Args<S::T>,
    c_strides: (usize, usize),
    (cols, rows): (usize, usize),
) {
    let edge = (cols, rows);
    // SAFETY: every variant's rows are the B sliver's first `cols` columns (`cols` at most
    // the variant's tile height), its vector the A sliver's `MR` rows and the tail room
    // (`rows <= LANES`), as the caller guarantees.
    unsafe {
        match cols {
            1 => microkernel::<S, 1, 1, 1, NR, MR>(k, args, c_strides, edge),
            2 => microkernel::<S, 2, 1, 1, NR, MR>(k, args, c_strides, edge),
            3 | 4 => microkernel::<S, 4, 1, 1, NR, MR>(k, args, c_strides, edge),
            _ => microkernel::<S, 8, 1, 1, NR, MR>(k, args, c_strides, edge),
        }
    }
}

/// The no-scratch path of [`gemm_packed`]: one dot product per element of C, reading A from
/// its packed slivers.
fn unpacked_packed<T: Element, const MR: usize>(
    alpha: T,
    a: &[T],
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
) {
    let (m, n, k) = (c.rows, c.cols.min(b.cols), b.rows);
    let Some(sliver_len) = NonZeroUsize::new(MR * k) else {
        return; // `k >= 1` (the caller's contract)
    };
    for (s, sliver) in a.chunks_exact(sliver_len.get()).enumerate() {
        for r in 0..MR {
            let i = s * MR + r;
            if i >= m {
                return;
            }
            for j in 0..n {
                let mut acc = T::ZERO;
                for (p, column) in sliver.chunks_exact(MR).enumerate() {
                    if let Some(&x) = column.get(r) {
                        // SAFETY: `p < k == b.rows` (the sliver holds `k` columns) and
                        // `j < b.cols`.
                        acc += x * unsafe { b.get_unchecked(p, j) };
                    }
                }
                // SAFETY: `i < m == c.rows`, `j < c.cols`.
                let dst = unsafe { c.get_unchecked_mut(i, j) };
                *dst = if beta == T::ZERO {
                    alpha * acc
                } else {
                    alpha * acc + beta * *dst
                };
            }
        }
    }
}

/// One `MR x NR` tile from an A sliver packed row by row (`A_RS = KC`, `A_CS = 1`) or column
/// by column (`A_RS = 1`, `A_CS = MR`): edge tiles with at most 4 or 8 live rows, or one
/// vector of live columns, run a smaller register tile instead of computing padding.
///
/// # Safety
/// As for [`microkernel`] with `B_RS = NR`.
#[inline(always)]
unsafe fn tile<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const A_RS: usize,
    const A_CS: usize,
    const NR: usize,
>(
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
            (..=4, false) if MR > 4 => {
                microkernel::<S, 4, NV, A_RS, A_CS, NR>(k, args, c_strides, edge)
            }
            (..=4, true) if MR > 4 => {
                microkernel::<S, 4, 1, A_RS, A_CS, NR>(k, args, c_strides, edge)
            }
            (..=8, false) if MR > 8 => {
                microkernel::<S, 8, NV, A_RS, A_CS, NR>(k, args, c_strides, edge)
            }
            (..=8, true) if MR > 8 => {
                microkernel::<S, 8, 1, A_RS, A_CS, NR>(k, args, c_strides, edge)
            }
            (_, true) => microkernel::<S, MR, 1, A_RS, A_CS, NR>(k, args, c_strides, edge),
            (_, false) => microkernel::<S, MR, NV, A_RS, A_CS, NR>(k, args, c_strides, edge),
        }
    }
}

/// The no-scratch path: one dot product per element of C, straight from the views; or the
/// instruction set's own (`Hand::unpacked` in the arch layer).
#[inline(always)]
fn unpacked<S: Simd>(
    alpha: S::T,
    a: MatRef<'_, S::T>,
    b: MatRef<'_, S::T>,
    beta: S::T,
    mut c: MatMut<'_, S::T>,
) {
    if let Some(hand) = S::HAND.unpacked {
        return hand(alpha, a, b, beta, c);
    }
    debug_assert!(a.rows == c.rows && b.cols == c.cols && a.cols == b.rows);
    for i in 0..c.rows.min(a.rows) {
        for j in 0..c.cols.min(b.cols) {
            let mut acc = S::T::ZERO;
            for p in 0..a.cols.min(b.rows) {
                // SAFETY: `i < a.rows`, `p < a.cols`; `p < b.rows`, `j < b.cols`.
                acc += unsafe { a.get_unchecked(i, p) * b.get_unchecked(p, j) };
            }
            // SAFETY: `i < c.rows`, `j < c.cols`.
            let dst = unsafe { c.get_unchecked_mut(i, j) };
            *dst = if beta == S::T::ZERO {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
}
