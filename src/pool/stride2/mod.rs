//! Kernels for the stride-2 windows of CNNs (2x2 and 3x3, column stride 2, `f32`): one call
//! computes a rectangle of outputs from all the window's input rows at once.
//!
//! Two targets have them: x86_64 with AVX-512 (`avx512.rs`, 16 outputs per step) or AVX2
//! (`avx2.rs`, 8 per step, 2x2 windows only, rows that may start in padding), and M-profile
//! cores with a single-precision FPU (`cortex_m.rs`, the taps in registers). On every other
//! target [`Kernels`] cannot be built, so the code that calls them compiles everywhere and
//! is dropped by the compiler where it cannot run. Taps are visited in row-major window
//! order with the passes' rules, so results are bit-identical to theirs.
//!
//! On x86_64, the forward passes go to the strip kernels (`pool::strips`) first (AVX2,
//! and AVX-512 CPUs on narrow rows and the 3x3 max); these serve the rest (the recomputing
//! backward pass, the other windows on AVX-512 with wide rows).

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod avx2;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod avx512;
#[cfg(all(target_arch = "x86_64", not(miri)))]
use x86 as backend;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
use cortex_m as backend;

/// No kernels on this target: [`Kernels`] cannot be made.
#[cfg(not(any(
    all(target_arch = "x86_64", not(miri)),
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
)))]
mod backend {
    use super::Operands;
    use crate::arch::Isa;

    pub(super) const INDICES: bool = false;
    pub(super) const BORDERS: bool = false;

    /// Uninhabited: no proof that kernels run.
    #[derive(Clone, Copy, Debug)]
    pub(super) enum Proof {}

    pub(super) fn proof(_: Isa, _: usize) -> Option<Proof> {
        None
    }

    pub(super) fn padded(proof: Proof) -> bool {
        match proof {}
    }

    /// # Safety
    /// None: it cannot be called.
    pub(super) unsafe fn stride2<const KW: usize, const OP: u8>(proof: Proof, _: Operands) {
        match proof {}
    }
}

use core::marker::PhantomData;

use super::rows::{Geo, Rect};
use crate::arch::Isa;
use crate::element::Element;

/// What a kernel computes: the maximum.
pub(super) const MAX: u8 = 0;
/// The max and its flat index.
pub(super) const ARGMAX: u8 = 1;
/// The window sum, from zero, in row-major tap order, divided by the divisor.
pub(super) const SUM: u8 = 2;

impl Rect {
    /// Input elements one tap row of one output row spans: `2 * (cols - 1) + KW`.
    pub(super) const fn span<const KW: usize>(&self) -> usize {
        2 * (self.cols - 1) + KW
    }

    /// Whether every tap is readable: no padding to skip.
    pub(super) const fn is_interior<const KW: usize>(&self) -> bool {
        self.lead == 0 && self.width >= self.span::<KW>()
    }

    /// Whether the rectangle lies within an input of `x_len` and outputs of `y_len`.
    pub(super) fn fits<const KW: usize>(&self, x_len: usize, y_len: usize) -> bool {
        let (r, c) = (self.rows, self.cols);
        // The readable columns of a tap row from `x` on.
        let reach = self.width.min(self.span::<KW>().saturating_sub(self.lead));
        r >= 1
            && c >= 1
            && self.taps_h >= 1
            && self.x + (r - 1) * self.x_row + (self.taps_h - 1) * self.x_tap + reach <= x_len
            && self.y + (r - 1) * self.y_row + c <= y_len
    }
}

/// The operands of one kernel call: the input plane `x`, the rectangle of outputs, the
/// divisor of a sum, the outputs `y` and, for the argmax, their indices `idx`.
pub(super) struct Operands<'a> {
    pub x: &'a [f32],
    pub rect: &'a Rect,
    pub div: f32,
    pub y: &'a mut [f32],
    pub idx: &'a mut [u32],
}

impl Operands<'_> {
    /// Whether the rectangle lies within `x` and `y` (and `idx` for the argmax), for
    /// windows of `KW` column taps, and a sum has a positive divisor: the kernels'
    /// precondition.
    pub(super) fn fit<const KW: usize, const OP: u8>(&self) -> bool {
        let (x, rect) = (self.x.len(), self.rect);
        rect.fits::<KW>(x, self.y.len())
            && (OP != ARGMAX || rect.fits::<KW>(x, self.idx.len()))
            && (OP != SUM || self.div > 0.0)
    }
}

/// Proof that the stride-2 kernels serve an operation on `T`: made by [`Kernels::new`] only
/// when `T` is `f32`, the instruction set has them and the window is one they handle.
#[derive(Debug)]
pub(super) struct Kernels<T> {
    proof: backend::Proof,
    element: PhantomData<T>,
}

impl<T> Clone for Kernels<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Kernels<T> {}

impl<T: Element> Kernels<T> {
    /// The kernels for pooling `T` over `geo` on `isa` with operation `OP`, if they serve it.
    ///
    /// A target whose kernels skip the argmax or the border rows and columns (to keep a
    /// microcontroller's flash small) says so in constants, so the code that would call them
    /// there is dropped at compile time.
    #[inline(always)]
    pub(super) fn new<const OP: u8>(isa: Isa, geo: &Geo) -> Option<Self> {
        let taps = geo.stride2_taps()?;
        let serves = (OP != ARGMAX || backend::INDICES)
            && (backend::BORDERS || geo.is_interior())
            && is_f32::<T>();
        let proof = backend::proof(isa, taps).filter(|_| serves)?;
        Some(Kernels {
            proof,
            element: PhantomData,
        })
    }

    /// Whether the kernels take rectangles with padding columns (see [`Rect`]), so that a
    /// row's border outputs need no passes.
    #[inline(always)]
    pub(super) fn padded(self) -> bool {
        backend::padded(self.proof)
    }

    /// Whether the kernels are also used beside border rows and columns (else the
    /// geometry has none: [`Kernels::new`] checked it).
    #[inline(always)]
    pub(super) fn borders(self) -> bool {
        backend::BORDERS
    }

    /// The outputs of `rect`, for a window of `taps` (2 or 3) column taps: taps
    /// `x[row + 2 * j + t]`, `t < taps`, for each of the rectangle's tap rows, scanned in
    /// row-major window order. `MAX`: the maximum into `y`, by PyTorch's rule; `ARGMAX`: also
    /// its in-plane offset into `idx`; `SUM`: the sum from zero divided by `div`, into `y`.
    ///
    /// # Safety
    /// `taps` is the geometry's (2 or 3); `rect.fits::<taps>(x.len(), y.len())`, and also
    /// `rect.fits::<taps>(x.len(), idx.len())` when `OP == ARGMAX`; `x.len() <= 2^32`; the
    /// rectangle is interior unless [`Kernels::padded`].
    #[inline(always)]
    pub(super) unsafe fn run<const OP: u8>(
        self,
        taps: usize,
        x: &[T],
        rect: &Rect,
        div: f32,
        y: &mut [T],
        idx: &mut [u32],
    ) {
        // SAFETY: `self` proves T is f32 (Kernels::new).
        let (x, y) = unsafe { (as_f32(x), as_f32_mut(y)) };
        let o = Operands {
            x,
            rect,
            div,
            y,
            idx,
        };
        debug_assert!(if taps == 2 {
            o.fit::<2, OP>() && (rect.is_interior::<2>() || self.padded())
        } else {
            taps == 3 && o.fit::<3, OP>() && (rect.is_interior::<3>() || self.padded())
        });
        // SAFETY: `self` proves the CPU runs the kernels (Kernels::new); the rest is the
        // caller's precondition, passed on.
        unsafe {
            if taps == 2 {
                backend::stride2::<2, OP>(self.proof, o);
            } else {
                backend::stride2::<3, OP>(self.proof, o);
            }
        }
    }
}

/// Output rows per kernel call when the border columns reuse the band's input rows from
/// cache (without border columns, one call does every interior row).
const BAND: usize = 8;

impl<T: Element> Kernels<T> {
    /// Walks every output of one plane of `geo` (or all planes, stacked): the interior
    /// columns by `kernel(outs, rect, row)` (bands of interior rows at a time, `row` `None`;
    /// or one row `oh` whose window reaches into the top or bottom padding, `Some(oh)`, its
    /// rectangle holding only the window rows inside the input), the border columns of
    /// output row `oh` by `border(outs, oh)`. `whole`: the kernels take whole rows, padding
    /// columns and all (only if [`Kernels::padded`]).
    ///
    /// Each rectangle holds outputs of the plane whose taps, but for padding columns when
    /// `whole`, lie inside it: what [`Kernels::run`] requires of the rectangle.
    #[inline(always)]
    pub(super) fn plane<O: ?Sized>(
        self,
        geo: &Geo,
        whole: bool,
        outs: &mut O,
        mut kernel: impl FnMut(&mut O, &Rect, Option<usize>),
        mut border: impl FnMut(&mut O, usize),
    ) {
        debug_assert!(!whole || self.padded());
        let (rl, rh) = geo.interior_rows();
        let out_w = geo.out_w().get();
        let (a, b) = if whole {
            (0, out_w)
        } else {
            geo.split(0, out_w)
        };
        let border_cols = (a > 0 || b < out_w) && self.borders();
        // Rows whose windows reach into the top or bottom padding: one row at a time, fewer
        // window rows.
        for oh in (0..rl)
            .chain(rh.max(rl)..geo.out_h())
            .filter(|_| self.borders())
        {
            if a < b {
                kernel(outs, &geo.row_rect(oh, (a, b), oh * out_w + a), Some(oh));
            }
            if border_cols {
                border(outs, oh);
            }
        }
        // Bands of interior rows: the kernel streams the band's input rows, then the border
        // columns (if any) reuse them from cache.
        let mut lo = rl;
        while lo < rh {
            let hi = if border_cols { (lo + BAND).min(rh) } else { rh };
            if a < b {
                kernel(
                    outs,
                    &geo.rect((lo, hi), (a, b), lo * out_w + a, out_w),
                    None,
                );
            }
            if border_cols {
                (lo..hi).for_each(|oh| border(outs, oh));
            }
            lo = hi;
        }
    }
}

/// x86_64: the AVX-512 or the AVX2 kernels, by the geometry's instruction set.
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86 {
    use super::{avx2, avx512, Operands};
    use crate::arch::Isa;

    /// The argmax, and windows beside border rows and columns, run here too.
    pub(super) const INDICES: bool = true;
    pub(super) const BORDERS: bool = true;

    /// The instruction set the kernels run on.
    pub(super) type Proof = Isa;

    /// `isa`, if it has kernels for windows of `taps` columns: AVX-512 for 2 and 3, AVX2 for
    /// 2 (its 3-tap kernel measured slower than the passes the compiler vectorizes: 2.14 s
    /// against 1.76 s for 3000 calls of 3x3 stride 2 pad 1 over 64x112x112, Zen 3).
    pub(super) fn proof(isa: Isa, taps: usize) -> Option<Isa> {
        (isa == Isa::Avx512 || (isa == Isa::Avx2 && taps == 2)).then_some(isa)
    }

    /// Whether `isa`'s kernels take padded rectangles: the AVX2 ones.
    pub(super) fn padded(isa: Isa) -> bool {
        isa == Isa::Avx2
    }

    /// The kernels of `isa` on `rect`.
    ///
    /// # Safety
    /// `isa` came from [`proof`] and the CPU runs it; the rest as [`super::Kernels::run`].
    #[inline(always)]
    pub(super) unsafe fn stride2<const KW: usize, const OP: u8>(isa: Isa, o: Operands) {
        // SAFETY: the caller's preconditions, on the instruction set the CPU runs.
        unsafe {
            if isa == Isa::Avx512 {
                avx512::stride2::<KW, OP>(o);
            } else {
                // `proof`: AVX2 kernels are made for 2-tap windows only.
                debug_assert_eq!(KW, 2);
                avx2::stride2::<OP>(o);
            }
        }
    }
}

/// Whether `T` is `f32`, the element type of the kernels.
pub(super) fn is_f32<T: Element>() -> bool {
    core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>()
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
