//! The one SIMD abstraction: a vector of one element type on one instruction set.
//!
//! Each instruction set implements [`Simd`] with `#[inline(always)]` methods (`x86.rs`,
//! `aarch64.rs`, and the one-lane [`Scalar`](super::Scalar) for every target); kernels are
//! written once, generic over it, and compiled per instruction set by
//! [`Float::dispatch`](super::Float::dispatch).

use crate::element::Element;
use crate::matrix::{MatMut, MatRef};

/// A vector of `LANES` elements of one instruction set.
///
/// Every method is `unsafe` because it may execute instructions the CPU must support: the
/// caller guarantees it runs inside a function compiled with (and called on a CPU having)
/// the instruction set's target features.
pub trait Simd {
    /// The element type.
    type T: Element;
    /// The vector register type.
    type V: Copy;
    /// A `[T; LANES]` array, to spill one vector.
    type Lanes: Copy + AsRef<[Self::T]> + AsMut<[Self::T]>;
    /// Elements per vector.
    const LANES: usize;
    /// An all-zero [`Self::Lanes`].
    const LANES_ZERO: Self::Lanes;
    /// Whether a row-major A may be packed row by row (plain copies, a second tile shape
    /// in the loop nest) rather than only column by column.
    const PACK_A_ROWS: bool = true;

    /// All lanes zero.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn zero() -> Self::V;
    /// All lanes `x`.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn splat(x: Self::T) -> Self::V;
    /// Loads `LANES` elements from `p` (no alignment needed).
    ///
    /// # Safety
    /// The CPU supports the instruction set; `p..p + LANES` is readable.
    unsafe fn load(p: *const Self::T) -> Self::V;
    /// Stores `LANES` elements to `p` (no alignment needed).
    ///
    /// # Safety
    /// The CPU supports the instruction set; `p..p + LANES` is writable.
    unsafe fn store(p: *mut Self::T, v: Self::V);
    /// `a * b + c`, fused where the instruction set can.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn mul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a * b`.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// The sum of the lanes, in lane order.
    ///
    /// # Safety
    /// The CPU supports the instruction set.
    #[inline(always)]
    unsafe fn sum(v: Self::V) -> Self::T {
        let mut lanes = Self::LANES_ZERO;
        // SAFETY: the caller guarantees the instruction set; `lanes` holds `LANES` elements.
        unsafe { Self::store(lanes.as_mut().as_mut_ptr(), v) };
        lanes.as_ref().iter().fold(Self::T::ZERO, |s, &x| s + x)
    }
    /// Hints that the cache line holding `p` will be read soon. `p` may point anywhere: it
    /// is never dereferenced.
    #[inline(always)]
    fn prefetch(p: *const Self::T) {
        let _ = p;
    }

    /// The GEMM kernels this instruction set has written by hand (none unless it says).
    const HAND: Hand<Self::T> = Hand::NONE;
}

/// GEMM kernels an instruction set has written by hand, each run in place of the generic one
/// where it applies (the M-profile `f32` build's assembly: `cortex_m.rs`).
pub struct Hand<T> {
    /// The `4 x 4` register tile of column-packed slivers (`A_RS = 1`, `A_CS = 4`,
    /// `B_RS = 4`), in place of the [`microkernel`](super::microkernel::microkernel)
    /// of that shape.
    pub tile_4x4: Option<TileFn<T>>,
    /// The product without scratch (operands non-empty, dimensions agreeing), in place of
    /// the loop nest's one dot product per element of C.
    pub unpacked: Option<Unpacked<T>>,
}

/// The operands of one microkernel call: alpha, the A and B slivers, beta and the C tile.
pub(crate) type Args<T> = (T, *const T, *const T, T, *mut T);

/// A hand-written register tile, called as the
/// [`microkernel`](super::microkernel::microkernel) is.
pub type TileFn<T> = unsafe fn(usize, Args<T>, (usize, usize), (usize, usize));

/// A hand-written product without scratch: `(alpha, a, b, beta, c)`.
pub type Unpacked<T> = fn(T, MatRef<'_, T>, MatRef<'_, T>, T, MatMut<'_, T>);

impl<T> Hand<T> {
    /// No hand-written kernel.
    pub const NONE: Self = Hand {
        tile_4x4: None,
        unpacked: None,
    };
}

/// Implements [`Simd`] for a new type `$name`, vectors `$v` of `$lanes` elements `$t`, from
/// the instruction set's intrinsics: splat, load, store and mul, a closure for mul-add, and
/// a prefetch function if the set has one (zero is a splat of 0, which compilers emit as the
/// register clear). `x86.rs` and `aarch64.rs` write one line per intrinsic with it.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
macro_rules! vectors {
    ($name:ident, $t:ty, $v:ty, $lanes:literal, $splat:path, $load:path, $store:path,
     $mul:path, |$a:ident, $b:ident, $c:ident| $mul_add:expr $(, $prefetch:path)?) => {
        #[doc = concat!("`", stringify!($v), "` vectors of `", stringify!($t), "`.")]
        pub struct $name;

        impl $crate::arch::Simd for $name {
            type T = $t;
            type V = $v;
            type Lanes = [$t; $lanes];
            const LANES: usize = $lanes;
            const LANES_ZERO: [$t; $lanes] = [0.0; $lanes];

            #[inline(always)]
            unsafe fn zero() -> $v {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { $splat(0.0) }
            }
            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { $splat(x) }
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                // SAFETY: the caller guarantees the instruction set and `LANES` readable
                // elements at `p`.
                unsafe { $load(p) }
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                // SAFETY: the caller guarantees the instruction set and `LANES` writable
                // elements at `p`.
                unsafe { $store(p, v) }
            }
            #[inline(always)]
            unsafe fn mul_add($a: $v, $b: $v, $c: $v) -> $v {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { $mul_add }
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { $mul(a, b) }
            }
            $(
                #[inline(always)]
                fn prefetch(p: *const $t) {
                    $prefetch(p)
                }
            )?
        }
    };
}

#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) use vectors;
