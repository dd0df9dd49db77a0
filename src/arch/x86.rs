//! x86_64 vectors: AVX-512F, AVX2 + FMA and SSE2, a [`Simd`] implementation per element type.

use core::arch::x86_64::*;

use super::simd::Simd;

macro_rules! simd {
    ($name:ident, $t:ty, $v:ty, $lanes:expr, $zero:ident, $splat:ident, $load:ident,
     $store:ident, $mul:ident, |$a:ident, $b:ident, $c:ident| $mul_add:expr) => {
        #[doc = concat!("`", stringify!($v), "` vectors of `", stringify!($t), "`.")]
        pub struct $name;

        impl Simd for $name {
            type T = $t;
            type V = $v;
            type Lanes = [$t; $lanes];
            const LANES: usize = $lanes;
            const LANES_ZERO: [$t; $lanes] = [0.0; $lanes];

            #[inline(always)]
            unsafe fn zero() -> $v {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { $zero() }
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
            #[inline(always)]
            fn prefetch(p: *const $t) {
                // SAFETY: a prefetch never faults and never dereferences `p` (SSE, baseline
                // on x86_64).
                unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
            }
        }
    };
}

simd!(
    Avx512F32,
    f32,
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_mul_ps,
    |a, b, c| _mm512_fmadd_ps(a, b, c)
);
simd!(
    Avx512F64,
    f64,
    __m512d,
    8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_mul_pd,
    |a, b, c| _mm512_fmadd_pd(a, b, c)
);
simd!(
    Avx2F32,
    f32,
    __m256,
    8,
    _mm256_setzero_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_mul_ps,
    |a, b, c| _mm256_fmadd_ps(a, b, c)
);
simd!(
    Avx2F64,
    f64,
    __m256d,
    4,
    _mm256_setzero_pd,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_mul_pd,
    |a, b, c| _mm256_fmadd_pd(a, b, c)
);
simd!(
    Sse2F32,
    f32,
    __m128,
    4,
    _mm_setzero_ps,
    _mm_set1_ps,
    _mm_loadu_ps,
    _mm_storeu_ps,
    _mm_mul_ps,
    |a, b, c| _mm_add_ps(_mm_mul_ps(a, b), c)
);
simd!(
    Sse2F64,
    f64,
    __m128d,
    2,
    _mm_setzero_pd,
    _mm_set1_pd,
    _mm_loadu_pd,
    _mm_storeu_pd,
    _mm_mul_pd,
    |a, b, c| _mm_add_pd(_mm_mul_pd(a, b), c)
);
