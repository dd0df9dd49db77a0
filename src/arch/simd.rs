//! The one SIMD abstraction: a vector of one element type on one instruction set.
//!
//! Each instruction set implements [`Simd`] with `#[inline(always)]` methods (`x86.rs`,
//! `aarch64.rs`, and the one-lane [`Scalar`](super::Scalar) for every target); kernels are
//! written once, generic over it, and compiled per instruction set by
//! [`Float::dispatch`](super::Float::dispatch).

use crate::element::Element;

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

    /// One `MR x (NV * LANES)` GEMM tile: the generic
    /// [`microkernel`](crate::gemm::microkernel::microkernel), unless the instruction set has
    /// a kernel of its own for this tile shape (`cortex_m.rs`).
    ///
    /// # Safety
    /// As for the microkernel, its operands bundled as alpha, A, B, beta, C.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    unsafe fn tile<
        const MR: usize,
        const NV: usize,
        const A_RS: usize,
        const A_CS: usize,
        const B_RS: usize,
    >(
        k: usize,
        (alpha, a, b, beta, c): (
            Self::T,
            *const Self::T,
            *const Self::T,
            Self::T,
            *mut Self::T,
        ),
        c_strides: (usize, usize),
        edge: (usize, usize),
    ) where
        Self: Sized,
    {
        // SAFETY: the caller upholds the microkernel's contract.
        unsafe {
            crate::gemm::microkernel::microkernel::<Self, MR, NV, A_RS, A_CS, B_RS>(
                k, alpha, a, b, beta, c, c_strides, edge,
            )
        }
    }

    /// The GEMM without scratch (operands non-empty, dimensions agreeing): one dot product
    /// per element of C, [`unpacked`](crate::gemm::nest::unpacked), unless the instruction
    /// set has a kernel of its own that reads the views in place (`cortex_m.rs`).
    #[inline(always)]
    fn unpacked(
        alpha: Self::T,
        a: crate::gemm::MatRef<'_, Self::T>,
        b: crate::gemm::MatRef<'_, Self::T>,
        beta: Self::T,
        c: crate::gemm::MatMut<'_, Self::T>,
    ) where
        Self: Sized,
    {
        crate::gemm::nest::unpacked(alpha, a, b, beta, c)
    }
}
