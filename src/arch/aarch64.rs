//! aarch64 vectors: NEON (baseline on aarch64, so no detection is needed), a
//! [`Simd`](super::Simd) implementation per element type.

use core::arch::aarch64::*;

use super::simd::vectors;

vectors!(
    NeonF32,
    f32,
    float32x4_t,
    4,
    vdupq_n_f32,
    vld1q_f32,
    vst1q_f32,
    vmulq_f32,
    |a, b, c| vfmaq_f32(c, a, b)
);
vectors!(
    NeonF64,
    f64,
    float64x2_t,
    2,
    vdupq_n_f64,
    vld1q_f64,
    vst1q_f64,
    vmulq_f64,
    |a, b, c| vfmaq_f64(c, a, b)
);
