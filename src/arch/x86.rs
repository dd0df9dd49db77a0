//! x86_64 vectors: AVX-512F, AVX2 + FMA and SSE2, a [`Simd`](super::Simd) implementation per
//! element type.

use core::arch::x86_64::*;

use super::simd::vectors;

/// Hints that the cache line holding `p` will be read soon (into L1).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    // SAFETY: a prefetch never faults and never dereferences `p` (SSE, baseline on x86_64).
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

vectors!(
    Avx512F32,
    f32,
    __m512,
    16,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_mul_ps,
    |a, b, c| _mm512_fmadd_ps(a, b, c),
    prefetch
);
vectors!(
    Avx512F64,
    f64,
    __m512d,
    8,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_mul_pd,
    |a, b, c| _mm512_fmadd_pd(a, b, c),
    prefetch
);
vectors!(
    Avx2F32,
    f32,
    __m256,
    8,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_mul_ps,
    |a, b, c| _mm256_fmadd_ps(a, b, c),
    prefetch
);
vectors!(
    Avx2F64,
    f64,
    __m256d,
    4,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_mul_pd,
    |a, b, c| _mm256_fmadd_pd(a, b, c),
    prefetch
);
vectors!(
    Sse2F32,
    f32,
    __m128,
    4,
    _mm_set1_ps,
    _mm_loadu_ps,
    _mm_storeu_ps,
    _mm_mul_ps,
    |a, b, c| _mm_add_ps(_mm_mul_ps(a, b), c),
    prefetch
);
vectors!(
    Sse2F64,
    f64,
    __m128d,
    2,
    _mm_set1_pd,
    _mm_loadu_pd,
    _mm_storeu_pd,
    _mm_mul_pd,
    |a, b, c| _mm_add_pd(_mm_mul_pd(a, b), c),
    prefetch
);
