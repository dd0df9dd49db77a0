//! Cache blocking: the plan that fits the target's blocking ([`crate::arch::blocking`]) into
//! the caller's scratch.
//!
//! The loop nest (see [`nest`](super::nest)) keeps one `MR x KC` sliver of packed A in L1
//! while the microkernel streams `KC x NR` slivers of packed B out of an L2-resident
//! `KC x NC` block; the `MC x KC` panel of packed A lives in L3.

use core::num::NonZeroUsize;

use crate::arch::blocking::{Blocking, F32, F64};

/// Bytes the packed B block is aligned to inside the scratch (one cache line, one AVX-512
/// vector).
pub(crate) const ALIGN_BYTES: usize = 64;

/// The blocking for an element of `size` bytes.
pub(crate) const fn for_size(size: usize) -> Blocking {
    if size == 4 {
        F32
    } else {
        F64
    }
}

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

/// `x` rounded up to a multiple of `to` (saturating).
pub(crate) const fn round_up(x: usize, to: usize) -> usize {
    match x.checked_next_multiple_of(to) {
        Some(r) => r,
        None => usize::MAX / to * to,
    }
}

/// Scratch elements for full-speed blocking of an `m x k` by `k x n` product with elements
/// of `size` bytes: the A panel and the B block at their largest, plus alignment slack.
pub(crate) const fn full_scratch(size: usize, m: usize, n: usize, k: usize) -> usize {
    if m == 0 || n == 0 || k == 0 {
        return 0;
    }
    let b = for_size(size);
    let kc = min(b.kc, k);
    let mc = min(b.mc, round_up(m, b.mr_max));
    let nc = min(b.nc, round_up(n, b.nr_max));
    // The A panel is laid out with row stride KC (see `Plan::a_rows`).
    b.kc * mc + kc * nc + ALIGN_BYTES / size
}

/// Elements of `groups` pre-packed `m x k` A operands, one after the other, for every
/// kernel this target builds: `m` rounded up to the largest `MR` (every kernel's `MR`
/// divides it), times `k`, per group, plus alignment slack for the first and room for one
/// vector read past the end of the last (saturating). Zero if `groups`, `m` or `k` is.
pub(crate) const fn packed_a(size: usize, groups: usize, m: usize, k: usize) -> usize {
    if groups == 0 || m == 0 || k == 0 {
        return 0;
    }
    round_up(m, for_size(size).mr_max)
        .saturating_mul(k)
        .saturating_mul(groups)
        .saturating_add(2 * ALIGN_BYTES / size)
}

/// Scratch elements for full speed of a product whose A is pre-packed: the B block alone,
/// at its largest, plus alignment slack.
pub(crate) const fn packed_scratch(size: usize, m: usize, n: usize, k: usize) -> usize {
    if m == 0 || n == 0 || k == 0 {
        return 0;
    }
    let b = for_size(size);
    min(b.kc, k) * min(b.nc, round_up(n, b.nr_max)) + ALIGN_BYTES / size
}

/// The `(kc, nc)` blocking of a product whose A is pre-packed: the largest B block that
/// fits in `space` for an `nr`-column tile, with the same depth split as [`Plan::new`] when
/// the scratch is ample (so both give the same sums); `None` if not even one depth-1
/// sliver of B fits. `n` and `k` must be non-zero.
#[inline(always)]
pub(crate) fn packed_plan(
    blocking: &Blocking,
    space: usize,
    nr: usize,
    (n, k): (usize, usize),
) -> Option<(NonZeroUsize, NonZeroUsize)> {
    let kc = balanced(k, min(min(blocking.kc, k), space / nr), 1)?;
    let nc_fit = space / kc / nr * nr;
    let nc = balanced(n, min(min(blocking.nc, round_up(n, nr)), nc_fit), nr)?;
    Some((kc, nc))
}

/// Block sizes chosen for one call; they fit the scratch they were planned for (the B
/// block, `kc * nc`, followed by the A panel: `mc` rows of stride `KC` if `a_rows`, of `kc`
/// otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Depth of the k blocks.
    pub kc: NonZeroUsize,
    /// Rows of the A panels, a multiple of `mr`.
    pub mc: NonZeroUsize,
    /// Columns of the B blocks, a multiple of `nr`.
    pub nc: NonZeroUsize,
    /// Whether the A panel fits row by row with the blocking's full `KC` as row stride
    /// (`mc * KC` elements): a row-major A is then packed by plain copies.
    pub a_rows: bool,
}

/// `len` split into the fewest blocks of at most `max`, evened out and rounded up to `unit`
/// (so the last block is not a sliver); `None` if `max` is zero.
#[inline(always)]
const fn balanced(len: usize, max: usize, unit: usize) -> Option<NonZeroUsize> {
    if max == 0 {
        return None;
    }
    if len <= max {
        // One block (the common case): no division.
        return NonZeroUsize::new(min(max, round_up(len, unit)));
    }
    let blocks = NonZeroUsize::MIN.saturating_add((len - 1) / max);
    NonZeroUsize::new(min(max, round_up(len.div_ceil(blocks.get()), unit)))
}

impl Plan {
    /// The largest blocking that fits in `space` scratch elements for a kernel with an
    /// `mr x nr` tile, or `None` if not even a depth-1 sliver pair fits.
    ///
    /// `m`, `n` and `k` must be non-zero. Inlined, so that the divisions by the tile and
    /// blocking constants become multiplications.
    #[inline(always)]
    pub(crate) fn new(
        blocking: &Blocking,
        space: usize,
        (mr, nr): (usize, usize),
        (m, n, k): (usize, usize, usize),
    ) -> Option<Plan> {
        let kc = balanced(k, min(min(blocking.kc, k), space / (mr + nr)), 1)?;
        let per_depth = space / kc;
        // B block first: it is reused across every row of A.
        let nc_fit = per_depth.saturating_sub(mr) / nr * nr;
        let nc = balanced(n, min(min(blocking.nc, round_up(n, nr)), nc_fit), nr)?;
        let mc_max = min(blocking.mc, round_up(m, mr));
        let left = space.checked_sub(kc.get() * nc.get())?;
        // Row by row with stride KC if at least one sliver fits, else column by column.
        let (mc_fit, a_rows) = if left >= mr * blocking.kc {
            (left / blocking.kc / mr * mr, true)
        } else {
            (left / kc / mr * mr, false)
        };
        let mc = balanced(m, min(mc_max, mc_fit), mr)?;
        Some(Plan { kc, mc, nc, a_rows })
    }
}
