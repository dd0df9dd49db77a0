//! Whole-call kernels for the 2x2 and 3x3 stride-2 windows of CNNs (`f32`): one
//! call walks every plane in column strips of 8 outputs, down all its output rows, so that
//! the per-plane and per-row setup is a few instructions, not a pass per window row. This is
//! what small planes (14x14, 7x7: an output row narrower than a vector) need.
//!
//! Within a strip, each window row's taps come from two unaligned 16-element loads split
//! into even and odd columns (the third tap of a 3-wide window from a load two columns
//! further on); taps that fall in padding or ceil-mode overhang are replaced:
//!
//! - max: by a copy of a neighbouring tap *of the same window*, placed so that the scan
//!   order is unchanged (`[pad, a, b]` becomes `[a, a, b]`, `[a, b, pad]` becomes
//!   `[a, b, b]`). PyTorch's update `take v if v > m || isnan(v)` gives `f(a, a) = a` and
//!   is associative, so the duplicate changes nothing, NaN payloads and zero signs included.
//!   The same rule makes the max separable without reordering: each input row's horizontal
//!   max of three is computed once and shared by the two output rows that use it, then
//!   output rows take the vertical max of three, both in window order. With indices, each
//!   tap carries its in-plane index and a copy its source's; the rule, applied to (value,
//!   index) pairs, is associative all the same.
//! - sum: by `+0.0`, in tap order from zero; a running sum from `+0.0` is never `-0.0`, so
//!   adding `+0.0` is exact, and the result equals the textbook loop's bit for bit.
//!
//! Lanes past a row's last output compute garbage that is never kept: when a row has fewer
//! than 8 outputs, the strip's store spills into the next output rows, which are written
//! later (rows and planes go in order); a last strip that would pass the row's end starts
//! 8 outputs before it instead, recomputing some outputs with the same values. Loads and
//! stores near the ends of the buffers are masked or go through the stack, so nothing
//! outside `x` is read and nothing outside `y` written, whatever the lengths.
//!
//! Only x86_64 has them (AVX2, also run on AVX-512 CPUs): the module and its call sites
//! are compiled for no other target.

mod avx2;

use core::marker::PhantomData;

use super::rows::{Geo, Plan};
use super::Divisor;
use crate::arch::Isa;
use crate::element::Element;

impl Plan {
    /// The divisor factor of output row `oh` (or column, with `cols`), as
    /// [`Geo::counted`] counts it; the whole divisor for an override.
    pub(super) fn factor(&self, o: usize, cols: bool, divisor: Divisor) -> f32 {
        let extent = if cols {
            (self.left, self.w, self.padded_w)
        } else {
            (self.top, self.h, self.padded_h)
        };
        let n = match divisor {
            Divisor::Override(d) => return if cols { 1.0 } else { d as f32 },
            Divisor::CountIncludePad => super::rows::count(2 * o, self.k, extent, true),
            Divisor::CountExcludePad => super::rows::count(2 * o, self.k, extent, false),
        };
        n as f32
    }
}

/// Proof that the kernels serve an operation on `T`: made only by [`proof`].
#[derive(Clone, Copy, Debug)]
struct Proof;

/// The strip kernels for pooling `T` over a geometry, when they serve it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Strips<T> {
    plan: Plan,
    proof: Proof,
    element: PhantomData<T>,
}

impl<T: Element> Strips<T> {
    /// The kernels for `planes` planes of `geo` on `isa`, for a max (`max`, with or without
    /// indices) or an average, if they serve it: `T` is `f32`, the instruction set has AVX2
    /// and the window is 2x2 or 3x3 with stride 2.
    #[inline(always)]
    pub(super) fn new(isa: Isa, geo: &Geo, planes: usize, max: bool) -> Option<Self> {
        let plan = geo.strips(planes)?;
        let proof = proof(isa, &plan, max).filter(|_| super::stride2::is_f32::<T>())?;
        Some(Strips {
            plan,
            proof,
            element: PhantomData,
        })
    }

    /// Max pooling of `x` into `y` (all planes), PyTorch's rules, bit-identical to the
    /// passes.
    #[inline(always)]
    pub(super) fn max(self, x: &[T], y: &mut [T]) {
        debug_assert_eq!(x.len(), self.plan.planes * self.plan.h * self.plan.w);
        debug_assert_eq!(
            y.len(),
            self.plan.planes * self.plan.out_h * self.plan.out_w
        );
        self.run(x, y, &mut [], avx2::Op::Max);
    }

    /// Max pooling of `x` into `y` (all planes) with each maximum's in-plane index in `idx`,
    /// PyTorch's rules (ties to the first maximum, the last NaN), as the passes give them.
    /// The caller has checked that a plane has at most `2^32` elements.
    #[inline(always)]
    pub(super) fn argmax(self, x: &[T], y: &mut [T], idx: &mut [u32]) {
        debug_assert_eq!(x.len(), self.plan.planes * self.plan.h * self.plan.w);
        debug_assert_eq!(
            y.len(),
            self.plan.planes * self.plan.out_h * self.plan.out_w
        );
        debug_assert_eq!(idx.len(), y.len());
        self.run(x, y, idx, avx2::Op::Argmax);
    }

    /// Average pooling of `x` into `y` (all planes): the window sums from zero in row-major
    /// order, divided by `divisor`'s counts.
    #[inline(always)]
    pub(super) fn avg(self, x: &[T], y: &mut [T], divisor: Divisor) {
        debug_assert_eq!(x.len(), self.plan.planes * self.plan.h * self.plan.w);
        debug_assert_eq!(
            y.len(),
            self.plan.planes * self.plan.out_h * self.plan.out_w
        );
        self.run(x, y, &mut [], avx2::Op::Avg(divisor));
    }

    #[inline(always)]
    fn run(self, x: &[T], y: &mut [T], idx: &mut [u32], op: avx2::Op) {
        let Proof = self.proof;
        // SAFETY: `self` proves that T is f32 (same layout, same length) and that the CPU
        // runs AVX2 (Strips::new); the kernels bound every access by the slices' lengths;
        // planes have at most 2^32 elements when indices are kept (the caller's check).
        unsafe {
            let x = core::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len());
            let y = core::slice::from_raw_parts_mut(y.as_mut_ptr().cast::<f32>(), y.len());
            avx2::run(&self.plan, x, y, idx, op);
        }
    }
}

/// AVX2; on AVX-512 CPUs also for output rows narrower than one of their 16-lane vectors
/// (where the AVX-512 kernels of [`super::stride2`] leave most lanes idle) and for the 3x3
/// max (`max`: where the separable max takes half the updates of their direct 9-tap one).
/// Not measured: this machine has no AVX-512; the AVX2 tier runs the same code.
fn proof(isa: Isa, plan: &Plan, max: bool) -> Option<Proof> {
    let avx512 = isa == Isa::Avx512 && (plan.out_w < 16 || (max && plan.k == 3));
    (isa == Isa::Avx2 || avx512).then_some(Proof)
}
