//! The `f32` vectors of M-profile cores with a single-precision FPU (Cortex-M4F, M7, M33,
//! ...; targets `thumbv7em-none-eabihf`, `thumbv8m.main-none-eabihf`): one lane, as
//! [`Scalar<f32>`], but the GEMM's `4 x 4` tile of column-packed slivers runs the assembly
//! kernel of `gemm/cortex_m.rs`. Chosen at compile time: the portable instruction set of
//! these targets is this one.

use super::portable::Scalar;
use super::simd::Simd;

/// One-lane `f32` "vectors" whose GEMM tile is hand-written.
pub struct M4f;

impl Simd for M4f {
    type T = f32;
    type V = f32;
    type Lanes = [f32; 1];
    const LANES: usize = 1;
    const LANES_ZERO: [f32; 1] = [0.0];
    const PACK_A_ROWS: bool = <Scalar<f32> as Simd>::PACK_A_ROWS;

    #[inline(always)]
    unsafe fn zero() -> f32 {
        0.0
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        // SAFETY: the caller guarantees `p` is readable.
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        // SAFETY: the caller guarantees `p` is writable.
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }

    #[inline(always)]
    unsafe fn tile<
        const MR: usize,
        const NV: usize,
        const A_RS: usize,
        const A_CS: usize,
        const B_RS: usize,
    >(
        k: usize,
        (alpha, a, b, beta, c): (f32, *const f32, *const f32, f32, *mut f32),
        c_strides: (usize, usize),
        edge: (usize, usize),
    ) {
        // SAFETY (both): the caller upholds the microkernel's contract, which for this
        // tile shape is `tile_4x4`'s.
        unsafe {
            if MR == 4 && NV == 4 && A_RS == 1 && A_CS == 4 && B_RS == 4 {
                crate::gemm::cortex_m::tile_4x4(k, alpha, a, b, beta, c, c_strides, edge);
            } else {
                crate::gemm::microkernel::microkernel::<Self, MR, NV, A_RS, A_CS, B_RS>(
                    k, alpha, a, b, beta, c, c_strides, edge,
                );
            }
        }
    }

    #[inline(always)]
    fn unpacked(
        alpha: f32,
        a: crate::gemm::MatRef<'_, f32>,
        b: crate::gemm::MatRef<'_, f32>,
        beta: f32,
        c: crate::gemm::MatMut<'_, f32>,
    ) {
        crate::gemm::cortex_m::unpacked(alpha, a, b, beta, c);
    }
}
