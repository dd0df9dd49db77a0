//! Packing: copying blocks of A and B into the contiguous, zero-padded slivers the
//! microkernel streams through.
//!
//! Safe code: every read is bounds checked against the validated view, every write goes
//! into a `chunks_exact_mut` sliver of the scratch. Elements outside the views are never
//! read: sliver padding is written as zero.

use super::view::MatRef;
use crate::element::Element;

/// Packs rows `i0..i0 + rows`, columns `p0..p0 + kc` of `a` as `MR`-row slivers: sliver `s`
/// holds rows `s * MR..`, column by column (`kc` groups of `MR` values), rows past `rows`
/// zero. `dst` must hold `rows.div_ceil(MR) * MR * kc` elements.
#[inline(always)]
pub(crate) fn pack_a<T: Element, const MR: usize>(
    a: &MatRef<'_, T>,
    (i0, p0): (usize, usize),
    (rows, kc): (usize, usize),
    dst: &mut [T],
) {
    let (rs, cs) = (a.row_stride, a.col_stride);
    let slivers = dst.chunks_exact_mut(MR * kc).take(rows.div_ceil(MR));
    for (s, sliver) in slivers.enumerate() {
        let top = i0 + s * MR;
        let live = MR.min(rows - s * MR);
        if cs == 1 && live == MR {
            // Row-major A, a whole sliver: the MR rows are read in step, one column of MR
            // values at a time, so the stores are contiguous.
            let start = top * rs + p0;
            let src = &a.data[start..start + (MR - 1) * rs + kc];
            for (p, col) in sliver.chunks_exact_mut(MR).enumerate() {
                for (r, d) in col.iter_mut().enumerate() {
                    *d = src[r * rs + p];
                }
            }
        } else {
            // Column-major A (contiguous columns), or the last, partial sliver.
            for (p, col) in sliver.chunks_exact_mut(MR).enumerate() {
                let base = (p0 + p) * cs + top * rs;
                for (r, d) in col.iter_mut().enumerate() {
                    *d = if r < live {
                        a.data[base + r * rs]
                    } else {
                        T::ZERO
                    };
                }
            }
        }
    }
}

/// Packs rows `i0..i0 + rows`, columns `p0..p0 + kc` of a row-major `a` as `MR`-row
/// slivers laid out row by row with row stride `RS >= kc`: sliver `s` starts at
/// `s * MR * RS`, its row `r` at `r * RS`; rows past `rows` are zero. A plain copy, much
/// cheaper than the transposing [`pack_a`]. `dst` must hold `rows.div_ceil(MR) * MR * RS`
/// elements.
#[inline(always)]
pub(crate) fn pack_a_rows<T: Element, const MR: usize, const RS: usize>(
    a: &MatRef<'_, T>,
    (i0, p0): (usize, usize),
    (rows, kc): (usize, usize),
    dst: &mut [T],
) {
    let slivers = dst.chunks_exact_mut(MR * RS).take(rows.div_ceil(MR));
    for (s, sliver) in slivers.enumerate() {
        for (r, run) in sliver.chunks_exact_mut(RS).enumerate() {
            let run = &mut run[..kc];
            let i = s * MR + r;
            if i < rows {
                let start = (i0 + i) * a.row_stride + p0 * a.col_stride;
                copy(run, &a.data[start..start + kc]);
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

/// Packs rows `p0..p0 + kc`, columns `j0..j0 + cols` of `b` as `NR`-column slivers: sliver
/// `s` holds columns `s * NR..`, row by row (`kc` groups of `NR` values), columns past
/// `cols` zero. `dst` must hold `cols.div_ceil(NR) * NR * kc` elements.
#[inline(always)]
pub(crate) fn pack_b<T: Element, const NR: usize>(
    b: &MatRef<'_, T>,
    (p0, j0): (usize, usize),
    (kc, cols): (usize, usize),
    dst: &mut [T],
) {
    let (rs, cs) = (b.row_stride, b.col_stride);
    let slivers = cols.div_ceil(NR);
    if cs == 1 {
        // Row-major B: read each row of the block in order (the hardware prefetcher follows
        // it), dealing it out NR values to each sliver.
        let Some(dst) = dst.get_mut(..slivers * NR * kc) else {
            return;
        };
        for p in 0..kc {
            let start = (p0 + p) * rs + j0;
            let mut src = b.data[start..start + cols].chunks_exact(NR);
            for (s, src) in (&mut src).enumerate() {
                let at = s * NR * kc + p * NR;
                // A whole sliver row is a fixed-size copy: a few vector moves, no memcpy call.
                if let (Ok(row), Ok(src)) = (
                    <&mut [T; NR]>::try_from(&mut dst[at..at + NR]),
                    <&[T; NR]>::try_from(src),
                ) {
                    *row = *src;
                }
            }
            let tail = src.remainder();
            if !tail.is_empty() {
                let at = (slivers - 1) * NR * kc + p * NR;
                let (head, pad) = dst[at..at + NR].split_at_mut(tail.len());
                copy(head, tail);
                pad.fill(T::ZERO);
            }
        }
        return;
    }
    // Column-major (transposed) B: walk each column down k, contiguous when rs == 1.
    let slivers = dst.chunks_exact_mut(NR * kc).take(slivers);
    for (s, sliver) in slivers.enumerate() {
        let left = j0 + s * NR;
        let live = NR.min(cols - s * NR);
        for c in 0..NR {
            let dsts = sliver[c..].iter_mut().step_by(NR);
            if c < live {
                let base = p0 * rs + (left + c) * cs;
                for (p, d) in dsts.enumerate() {
                    *d = b.data[base + p * rs];
                }
            } else {
                dsts.for_each(|d| *d = T::ZERO);
            }
        }
    }
}
