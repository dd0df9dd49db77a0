//! Packing: copying blocks of A and B into the contiguous, zero-padded slivers the
//! microkernel streams through.
//!
//! Every write goes into a `chunks_exact_mut` sliver of the scratch; reads use the views'
//! unchecked accessors, which the caller's block-inside-the-view contract makes sound.
//! Elements outside the views are never read: sliver padding is written as zero.
//!
//! Inlined into the SIMD loop nests (to run with their target features), but their own
//! functions where the portable kernel is the only one, to keep the nest's stack frame small
//! on a microcontroller (see `microkernel`).

use crate::element::Element;
use crate::matrix::MatRef;

/// Packs rows `i0..i0 + rows`, columns `p0..p0 + kc` of `m` as `R`-row slivers: sliver `s`
/// holds rows `s * R..`, column by column (`kc` groups of `R` values), rows past `rows`
/// zero. Fills the first `rows.div_ceil(R)` slivers that fit in `dst`.
///
/// A is packed so with `R = MR`; B, as BLIS packs it, as its transpose with `R = NR`: then
/// sliver `s` holds columns `s * NR..` of B, row by row.
///
/// # Safety
/// The block lies inside `m`: `i0 + rows <= m.rows`, `p0 + kc <= m.cols`.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    inline(never)
)]
pub(crate) unsafe fn pack<T: Element, const R: usize>(
    m: &MatRef<'_, T>,
    (i0, p0): (usize, usize),
    (rows, kc): (usize, usize),
    dst: &mut [T],
) {
    let sliver_len = R * kc;
    if sliver_len == 0 || rows == 0 {
        // An empty block packs nothing (and its view may be an empty slice: no column of it
        // may be sliced).
        return;
    }
    // The gathering path first: at opt-level 3 on the Cortex-M4F the other order costs the
    // GEMM 1-2% more instructions.
    if m.row_stride != 1 {
        let slivers = dst.chunks_exact_mut(sliver_len).take(rows.div_ceil(R));
        for (s, sliver) in slivers.enumerate() {
            let top = i0 + s * R;
            let live = R.min(rows - s * R);
            if m.col_stride == 1 && live == R {
                // Unit column stride (a row-major A), a whole sliver: the R rows are read in
                // step, one column of R values at a time, so the stores are contiguous.
                for (p, col) in sliver.chunks_exact_mut(R).enumerate() {
                    if let Ok(col) = <&mut [T; 4]>::try_from(&mut *col) {
                        // The portable tile (R = 4) written out: at opt-level s a loop over
                        // four rows stays a loop.
                        // SAFETY: `top + 3 < i0 + rows` (`live == R == 4`) and `p < kc`:
                        // inside the block.
                        *col = unsafe {
                            [
                                m.get_unchecked(top, p0 + p),
                                m.get_unchecked(top + 1, p0 + p),
                                m.get_unchecked(top + 2, p0 + p),
                                m.get_unchecked(top + 3, p0 + p),
                            ]
                        };
                        continue;
                    }
                    for (r, d) in col.iter_mut().enumerate() {
                        // SAFETY: `top + r < i0 + rows` and `p < kc`: inside the block.
                        *d = unsafe { m.get_unchecked(top + r, p0 + p) };
                    }
                }
            } else {
                // Any other strides (a column-major B), or the last, partial sliver.
                for (p, col) in sliver.chunks_exact_mut(R).enumerate() {
                    for (r, d) in col.iter_mut().enumerate() {
                        *d = if r < live {
                            // SAFETY: `top + r < i0 + rows` and `p < kc`: inside the block.
                            unsafe { m.get_unchecked(top + r, p0 + p) }
                        } else {
                            T::ZERO
                        };
                    }
                }
            }
        }
        return;
    }
    // Contiguous columns (a row-major B, packed as its transpose `m`): read each column
    // of the block in order (the hardware prefetcher follows it), dealing it out R
    // values to each sliver: column `p` of sliver `s` starts at `(s * kc + p) * R`.
    // (`dst` holds every sliver, so the `get_mut`s always succeed.)
    let whole = rows / R;
    // The whole slivers, checked once: `whole` slivers of `sliver_len` fit in `dst`.
    let fits = whole
        .checked_mul(sliver_len)
        .is_some_and(|len| len <= dst.len());
    let t = m.t();
    for p in 0..kc {
        // SAFETY: column `p0 + p` of the block, in a unit-row-stride view.
        let src = unsafe { t.row_unchecked(p0 + p, i0, rows) };
        let mut at = p * R;
        if fits && src.len() == rows {
            // Pointers bumped rather than indices (fewer registers: no reloads at
            // opt-level s); `wrapping_add` as the last bump may pass the end.
            let (mut from, mut to) = (src.as_ptr(), dst.as_mut_ptr().wrapping_add(at));
            for _ in 0..whole {
                // A sliver's share of the column is a fixed-size copy: a few moves, no
                // bounds check in the loop. (Copied as non-overlapping, so it cannot become
                // a call to `memmove`, which opt-level s makes of it once the firmware
                // links one for other code.)
                // SAFETY: in iteration `s`, `from` is `s * R` into the column and `s * R
                // + R <= whole * R <= rows`, its length; `to` is `at + s * sliver_len =
                // s * sliver_len + p * R` into `dst`, and that plus `R` is at most
                // `(s + 1) * sliver_len <= whole * sliver_len <= dst.len()` as `p < kc`.
                // The column and `dst` do not overlap (a shared and a unique borrow).
                unsafe { core::ptr::copy_nonoverlapping(from, to, R) };
                from = from.wrapping_add(R);
                to = to.wrapping_add(sliver_len);
            }
            at += whole * sliver_len;
        } else {
            for src in src.chunks_exact(R) {
                let row = dst.get_mut(at..at + R).map(<&mut [T; R]>::try_from);
                if let (Some(Ok(row)), Ok(src)) = (row, <&[T; R]>::try_from(src)) {
                    row.copy_from_slice(src);
                }
                at += sliver_len;
            }
        }
        let tail = src.chunks_exact(R).remainder();
        if let (false, Some(row)) = (tail.is_empty(), dst.get_mut(at..at + R)) {
            let (head, pad) = row.split_at_mut(tail.len().min(row.len()));
            copy(head, tail);
            pad.fill(T::ZERO);
        }
    }
}

/// Packs rows `i0..i0 + rows`, columns `p0..p0 + kc` of a row-major `a` as `MR`-row
/// slivers laid out row by row with row stride `RS >= kc`: sliver `s` starts at
/// `s * MR * RS`, its row `r` at `r * RS`; rows past `rows` are zero. A plain copy, much
/// cheaper than the transposing [`pack`]. Fills the first `rows.div_ceil(MR)` slivers
/// that fit in `dst`.
///
/// # Safety
/// `a.col_stride == 1` and the block lies inside `a`: `i0 + rows <= a.rows`,
/// `p0 + kc <= a.cols`.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), inline(always))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    inline(never)
)]
pub(crate) unsafe fn pack_a_rows<T: Element, const MR: usize, const RS: usize>(
    a: &MatRef<'_, T>,
    (i0, p0): (usize, usize),
    (rows, kc): (usize, usize),
    dst: &mut [T],
) {
    debug_assert!(kc <= RS);
    let slivers = dst.chunks_exact_mut(MR * RS).take(rows.div_ceil(MR));
    for (s, sliver) in slivers.enumerate() {
        for (r, run) in sliver.chunks_exact_mut(RS).enumerate() {
            let (run, _) = run.split_at_mut(kc.min(run.len()));
            let i = s * MR + r;
            if i < rows {
                // SAFETY: `i < rows` and `run.len() <= kc`: a row of the block, in a
                // unit-column-stride view (the caller's contract).
                copy(run, unsafe { a.row_unchecked(i0 + i, p0, run.len()) });
            } else {
                run.fill(T::ZERO);
            }
        }
    }
}

/// `dst.copy_from_slice(src)` in fixed 16-element blocks: short rows are copied with a few
/// vector moves instead of a `memcpy` call.
#[inline(always)]
fn copy<T: Copy>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        if let (Ok(d), Ok(s)) = (<&mut [T; 16]>::try_from(d), <&[T; 16]>::try_from(s)) {
            *d = *s;
        }
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}
