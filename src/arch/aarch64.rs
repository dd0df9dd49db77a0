//! aarch64 vectors: NEON (baseline on aarch64, so no detection is needed), a [`Simd`]
//! implementation per element type.

use core::arch::aarch64::*;

use super::simd::Simd;

macro_rules! neon {
    ($name:ident, $t:ty, $v:ty, $lanes:expr, $dup:ident, $load:ident, $store:ident,
     $mul:ident, $fma:ident) => {
        #[doc = concat!("NEON `", stringify!($v), "` vectors.")]
        pub struct $name;

        impl Simd for $name {
            type T = $t;
            type V = $v;
            type Lanes = [$t; $lanes];
            const LANES: usize = $lanes;
            const LANES_ZERO: [$t; $lanes] = [0.0; $lanes];

            #[inline(always)]
            unsafe fn zero() -> $v {
                // SAFETY: the caller guarantees NEON.
                unsafe { $dup(0.0) }
            }
            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                // SAFETY: the caller guarantees NEON.
                unsafe { $dup(x) }
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                // SAFETY: the caller guarantees NEON and `LANES` readable elements at `p`.
                unsafe { $load(p) }
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                // SAFETY: the caller guarantees NEON and `LANES` writable elements at `p`.
                unsafe { $store(p, v) }
            }
            #[inline(always)]
            unsafe fn mul_add(a: $v, b: $v, c: $v) -> $v {
                // SAFETY: the caller guarantees NEON.
                unsafe { $fma(c, a, b) }
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees NEON.
                unsafe { $mul(a, b) }
            }
        }
    };
}

neon!(
    NeonF32,
    f32,
    float32x4_t,
    4,
    vdupq_n_f32,
    vld1q_f32,
    vst1q_f32,
    vmulq_f32,
    vfmaq_f32
);
neon!(
    NeonF64,
    f64,
    float64x2_t,
    2,
    vdupq_n_f64,
    vld1q_f64,
    vst1q_f64,
    vmulq_f64,
    vfmaq_f64
);
