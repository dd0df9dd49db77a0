//! One-lane "vectors" of plain scalar code, for every target (Cortex-M, RISC-V, wasm, Miri).

use core::marker::PhantomData;

use super::simd::{Hand, Simd};
use crate::element::Element;

/// Scalar "vectors" of one lane; `K` names the GEMM kernels the target has written by hand
/// for them, if any.
pub struct Scalar<T, K = Generic>(PhantomData<(T, K)>);

/// A target's hand-written GEMM kernels for one-lane vectors of `T`.
pub trait HandWritten<T> {
    /// The kernels.
    const HAND: Hand<T>;
}

/// No hand-written kernel: the generic ones throughout.
pub struct Generic;

impl<T> HandWritten<T> for Generic {
    const HAND: Hand<T> = Hand::NONE;
}

impl<T: Element, K: HandWritten<T>> Simd for Scalar<T, K> {
    type T = T;
    type V = T;
    type Lanes = [T; 1];
    const LANES: usize = 1;
    const LANES_ZERO: [T; 1] = [T::ZERO];
    // Where it is the only kernel (microcontrollers), one tile shape: the second would
    // double the kernel's flash for a packing saving that scalar arithmetic dwarfs. Elsewhere
    // it packs as the SIMD kernels do, so that Miri checks that packing too.
    const PACK_A_ROWS: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

    #[inline(always)]
    unsafe fn zero() -> T {
        T::ZERO
    }
    #[inline(always)]
    unsafe fn splat(x: T) -> T {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const T) -> T {
        // SAFETY: the caller guarantees `p` is readable.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut T, v: T) {
        // SAFETY: the caller guarantees `p` is writable.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn mul_add(a: T, b: T, c: T) -> T {
        a * b + c
    }
    #[inline(always)]
    unsafe fn mul(a: T, b: T) -> T {
        a * b
    }
    const HAND: Hand<T> = K::HAND;
}
