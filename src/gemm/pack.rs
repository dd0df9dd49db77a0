//! Packing: copying blocks of A and B into the contiguous, zero-padded slivers the
//! microkernel streams through.
//!
//! Safe code: every read is bounds checked against the validated view, every write goes
//! into a `chunks_exact_mut` sliver of the scratch.

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
    for (s, sliver) in dst
        .chunks_exact_mut(MR * kc)
        .take(rows.div_ceil(MR))
        .enumerate()
    {
        let top = i0 + s * MR;
        let live = MR.min(rows - s * MR);
        if cs == 1 {
            // Row-major A: each row is contiguous along k.
            for r in 0..MR {
                if r < live {
                    let start = (top + r) * rs + p0;
                    let src = &a.data[start..start + kc];
                    for (d, &x) in sliver[r..].iter_mut().step_by(MR).zip(src) {
                        *d = x;
                    }
                } else {
                    sliver[r..]
                        .iter_mut()
                        .step_by(MR)
                        .for_each(|d| *d = T::ZERO);
                }
            }
        } else {
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
    for (s, sliver) in dst
        .chunks_exact_mut(NR * kc)
        .take(cols.div_ceil(NR))
        .enumerate()
    {
        let left = j0 + s * NR;
        let live = NR.min(cols - s * NR);
        if cs == 1 {
            // Row-major B: each sliver row is one contiguous copy.
            for (p, row) in sliver.chunks_exact_mut(NR).enumerate() {
                let start = (p0 + p) * rs + left;
                let src = &b.data[start..start + live];
                // A whole sliver row is a fixed-size copy: a few vector moves, no memcpy call.
                if let (Ok(full), Ok(src)) = (
                    <&mut [T; NR]>::try_from(&mut *row),
                    <&[T; NR]>::try_from(src),
                ) {
                    *full = *src;
                } else {
                    let (head, tail) = row.split_at_mut(live);
                    head.copy_from_slice(src);
                    tail.fill(T::ZERO);
                }
            }
        } else {
            // Column-major (transposed) B: walk each column down k, contiguous when rs == 1.
            for c in 0..NR {
                if c < live {
                    let base = p0 * rs + (left + c) * cs;
                    for (p, d) in sliver[c..].iter_mut().step_by(NR).enumerate() {
                        *d = b.data[base + p * rs];
                    }
                } else {
                    sliver[c..]
                        .iter_mut()
                        .step_by(NR)
                        .for_each(|d| *d = T::ZERO);
                }
            }
        }
    }
}
