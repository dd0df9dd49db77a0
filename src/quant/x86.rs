//! int8 dot products on AVX2: a block of filters by patches, each loaded and widened once.
//!
//! `vpmovsxbw` widens 16 bytes to 16 `i16` lanes, `vpmaddwd` multiplies lane pairs and adds
//! each pair into one `i32` lane (exact: `|x * w| <= 2^14`), and `vpaddd` accumulates. A block
//! of [`FILTERS`] filters by [`PATCHES`] patches keeps its 8 accumulators and the 6 widened
//! operands of one step in 14 of the 16 `ymm` registers, so each operand is widened once per
//! step for every product it enters, not once per product as in a lone dot product.
//!
//! The AVX2 build runs it, as the [`Dots`] kernel of the convolution's filter blocks, and so
//! does the AVX-512 build on a CPU without VNNI or with less workspace than
//! [`vnni`](super::vnni) needs.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16,
    _mm256_extracti128_si256, _mm256_madd_epi16, _mm256_setzero_si256, _mm_add_epi32,
    _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32, _mm_unpackhi_epi64,
};

use super::conv::{BlockSums, Dots, FilterPtrs, PatchPtrs, FILTERS, PATCHES};

/// The AVX2 block kernel.
pub(super) struct Avx2;

impl Dots for Avx2 {
    /// Needs AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn dots(w: FilterPtrs, x: PatchPtrs, k: usize) -> BlockSums {
        let mut acc = [[_mm256_setzero_si256(); PATCHES]; FILTERS];
        let steps = k / 16;
        // SAFETY: every load reads bytes `16 s .. 16 s + 16 <= k` of an operand, and the tail
        // bytes `16 * steps .. k`: all within the `k` the caller guarantees.
        unsafe {
            let widen = |p: *const i8, s: usize| {
                _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(16 * s).cast()))
            };
            for s in 0..steps {
                let xs = [widen(x[0], s), widen(x[1], s)];
                for (f, acc) in acc.iter_mut().enumerate() {
                    let wf = widen(w[f], s);
                    for (a, &xp) in acc.iter_mut().zip(&xs) {
                        *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wf, xp));
                    }
                }
            }
            let mut dots = [[0i32; PATCHES]; FILTERS];
            for (f, (dots, acc)) in dots.iter_mut().zip(&acc).enumerate() {
                for (p, (d, &a)) in dots.iter_mut().zip(acc).enumerate() {
                    let mut sum = horizontal_sum(a);
                    for i in 16 * steps..k {
                        let (wi, xi) = (*w[f].add(i), *x[p].add(i));
                        sum = sum.wrapping_add(i32::from(wi) * i32::from(xi));
                    }
                    *d = sum;
                }
            }
            dots
        }
    }
}

/// The sum of the eight `i32` lanes of `v` (wrapping, as the scalar sum).
#[inline]
#[target_feature(enable = "avx2")]
fn horizontal_sum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}
