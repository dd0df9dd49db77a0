//! int8 convolution tiles on AVX-512 VNNI.
//!
//! `vpdpbusd` multiplies the four unsigned bytes of each `i32` lane of one operand by the four
//! signed bytes of the same lane of the other and adds the four products to the lane: 64
//! exact multiply-adds per instruction. The inputs are made unsigned by flipping their sign
//! bit (`x + 128`); the accumulator's start takes it back (`- 128 * sum(w)`, beside the zero
//! point's `- zp * sum(w)`).
//!
//! A tile is up to [`TILE`] output positions. Their patches, gathered as the other paths
//! gather them (`k` bytes each, in the weights' order), are transposed into *quads*: for every
//! four consecutive taps, one `i32` lane per position holding its four bytes. A block of
//! [`MR`] filters then runs over the tile with each filter's four bytes broadcast straight
//! from the weights (no packing) against two vectors of 16 positions: 24 accumulators in the
//! 32 `zmm` registers. The results are vectors along the positions of one output channel, a
//! piece of an NCHW output row, requantized 16 at a time and stored.

use core::arch::x86_64::{
    __m512i, __mmask16, _mm512_add_epi32, _mm512_add_epi64, _mm512_cvtepi32_epi8,
    _mm512_cvtepi32_ps, _mm512_cvtps_epi32, _mm512_dpbusd_epi32, _mm512_loadu_si512,
    _mm512_mask_blend_epi32, _mm512_mask_i32gather_epi32, _mm512_mask_storeu_epi32,
    _mm512_max_epi32, _mm512_max_epi64, _mm512_max_ps, _mm512_min_epi32, _mm512_min_epi64,
    _mm512_min_ps, _mm512_mul_epi32, _mm512_mul_ps, _mm512_mullo_epi32, _mm512_set1_epi32,
    _mm512_set1_epi64, _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_si512, _mm512_slli_epi64,
    _mm512_sra_epi64, _mm512_srai_epi64, _mm512_srli_epi64, _mm512_storeu_si512, _mm512_xor_si512,
    _mm_cvtsi32_si128, _mm_mask_storeu_epi8,
};
use core::ptr::read_unaligned;

use super::requant::{Output, Scale};

/// Output positions per tile: two vectors of 16 `i32` lanes, the full tile
/// [`Conv2d::scratch_len_i8`](crate::Conv2d::scratch_len_i8) makes room for.
pub(super) const TILE: usize = 32;
const _: () = assert!(TILE == super::conv::FULL_TILE);
/// Filters per block.
pub(super) const MR: usize = 12;
/// `i32` lanes per vector.
const LANES: usize = 16;
/// The largest patch the gather's `i32` offsets reach: `(TILE - 1) * k + 4 * quads(k)`.
pub(super) const K_MAX: usize = (i32::MAX as usize) / (TILE + 1);

/// Quads of a patch of `k` bytes.
pub(super) const fn quads(k: usize) -> usize {
    k.div_ceil(4)
}

/// Workspace bytes for a tile of `n` positions with patches of `k` bytes: the patches, the 3
/// bytes the last quad's gather may read past them, and the quads (`TILE` lanes each).
pub(super) const fn scratch_len(n: usize, k: usize) -> usize {
    n * k + 3 + quads(k) * TILE * 4
}

/// `base + sum(w[t] * x[t])` for a block of filters over a tile: the accumulators of
/// [`block`], one row of [`TILE`] positions per filter.
pub(super) type Accumulators<const M: usize> = [[i32; TILE]; M];

/// Transposes the patches of `n <= TILE` positions (`k <= K_MAX` bytes each, the first at
/// `raw`) into quads at `out`: lane `p` of quad `q` (`out[q * TILE + p]`) holds patch `p`'s bytes
/// `4q .. 4q + 4` with their sign bits flipped (`x + 128` as `u8`); past `k`, whatever
/// follows the patch ([`block`] multiplies it by zero). Lanes `n..TILE` are left as they
/// were.
///
/// # Safety
/// The CPU has AVX-512 F; `raw` is readable for `n * k + 3` bytes and `out` writable for
/// `quads(k) * TILE` `i32`s.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transpose(raw: *const i8, n: usize, k: usize, out: *mut i32) {
    let ki = k as i32;
    let first = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(ki),
    );
    let offsets = [first, _mm512_add_epi32(first, _mm512_set1_epi32(16 * ki))];
    let masks = [lanes(n), lanes(n.saturating_sub(LANES))];
    let flip = _mm512_set1_epi32(0x8080_8080_u32 as i32);
    for q in 0..quads(k) {
        for (v, (&offsets, &mask)) in offsets.iter().zip(&masks).enumerate() {
            // SAFETY: lane `p < n` reads bytes `p * k + 4q .. + 4 <= n * k + 3` of `raw`
            // (`4q <= k + 3 - 4`), offsets below `i32::MAX` as `k <= K_MAX`; lanes `>= n`
            // are masked off. The store writes lanes `< n` of quad `q`'s row.
            unsafe {
                let bytes =
                    _mm512_mask_i32gather_epi32::<1>(flip, mask, offsets, raw.add(4 * q).cast());
                let x = _mm512_xor_si512(bytes, flip);
                _mm512_mask_storeu_epi32(out.add(q * TILE + v * LANES), mask, x);
            }
        }
    }
}

/// The mask of the first `n` (at most 16) lanes.
fn lanes(n: usize) -> __mmask16 {
    if n >= LANES {
        !0
    } else {
        (1u16 << n) - 1
    }
}

/// `acc[m][p] = sum over t < k of w[m][t] * u(p, t)`, where `u(p, t)` is byte `t` of
/// position `p` in the quads [`transpose`] wrote (the input plus 128), for every lane `p <
/// TILE`.
///
/// # Safety
/// The CPU has AVX-512 F and VNNI; each `w[m]` is readable for `k` bytes, `quads` for
/// `quads(k) * TILE` `i32`s.
#[target_feature(enable = "avx512f,avx512vnni")]
pub(super) unsafe fn block<const M: usize>(
    w: [*const i8; M],
    k: usize,
    quads: *const i32,
    acc: &mut Accumulators<M>,
) {
    let mut sums = [[_mm512_setzero_si512(); 2]; M];
    let full = k / 4;
    // SAFETY: quads `q < quads(k)` are in bounds; the filters' words `4q .. 4q + 4 <= k` for
    // `q < full`, and the tail bytes `4 * full .. k`.
    unsafe {
        let step = |sums: &mut [[__m512i; 2]; M], q: usize, word: &dyn Fn(usize) -> i32| {
            let x0 = _mm512_loadu_si512(quads.add(q * TILE).cast());
            let x1 = _mm512_loadu_si512(quads.add(q * TILE + LANES).cast());
            for (m, s) in sums.iter_mut().enumerate() {
                let wq = _mm512_set1_epi32(word(m));
                s[0] = _mm512_dpbusd_epi32(s[0], x0, wq);
                s[1] = _mm512_dpbusd_epi32(s[1], x1, wq);
            }
        };
        for q in 0..full {
            step(&mut sums, q, &|m| {
                read_unaligned(w[m].add(4 * q).cast::<i32>())
            });
        }
        if !k.is_multiple_of(4) {
            // The filters' bytes past `k` as zero: the quads' bytes there are the next
            // patch's.
            step(&mut sums, full, &|m| {
                let mut b = [0u8; 4];
                for (i, b) in b.iter_mut().enumerate().take(k % 4) {
                    *b = *w[m].add(4 * full + i) as u8;
                }
                i32::from_le_bytes(b)
            });
        }
        for (row, s) in acc.iter_mut().zip(&sums) {
            _mm512_storeu_si512(row.as_mut_ptr().cast(), s[0]);
            _mm512_storeu_si512(row.as_mut_ptr().add(LANES).cast(), s[1]);
        }
    }
}

/// `row[p] = out.apply(scale, base + acc[p])` for `p < row.len() <= TILE`, 16 outputs at
/// a time for every scale but TFLite's with a left shift (a multiplier of at least 1), which
/// takes the scalar path.
///
/// # Safety
/// The CPU has AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn requantize(
    out: &Output,
    scale: Scale,
    base: i32,
    acc: &[i32; TILE],
    row: &mut [i8],
) {
    // `(x * multiplier + nudge) >> shift` in 64 bits, less 2^31 when negative if `signed`.
    let (multiplier, nudge, shift, signed) = match scale {
        Scale::Double(m) if m.shift() <= 0 => {
            let right = m.shift().unsigned_abs();
            if right == 0 {
                (m.multiplier(), 1i64 << 30, 31, false)
            } else {
                (
                    m.multiplier(),
                    (1 << 30) + (1 << (right + 30)),
                    31 + right,
                    true,
                )
            }
        }
        Scale::Single(m) => {
            let total = (31 - m.shift()) as u32;
            (m.multiplier(), 1 << (total - 1), total, false)
        }
        Scale::Float(_) => (0, 0, 0, false),
        Scale::Double(_) => {
            for (y, &a) in row.iter_mut().zip(acc) {
                *y = out.apply(scale, base.wrapping_add(a));
            }
            return;
        }
    };
    let (zp, min, max) = out.bounds();
    let (zp, min, max) = (
        _mm512_set1_epi32(zp),
        _mm512_set1_epi32(min),
        _mm512_set1_epi32(max),
    );
    // Far enough outside -256..256 that the clamp decides, near enough that `+ zp` fits.
    const BOUND: i32 = 1 << 16;
    let base = _mm512_set1_epi32(base);
    let m = _mm512_set1_epi64(i64::from(multiplier));
    let nudge = _mm512_set1_epi64(nudge);
    let count = _mm_cvtsi32_si128(shift as i32);
    let (lo, hi) = (
        _mm512_set1_epi64(-i64::from(BOUND)),
        _mm512_set1_epi64(i64::from(BOUND)),
    );
    // One half of the lanes, each in the low half of a 64-bit lane (the high half ignored).
    let half = |x: __m512i| {
        let v = _mm512_add_epi64(_mm512_mul_epi32(x, m), nudge);
        let v = if signed {
            // -1 in the lanes whose `x` is negative, then -2^31.
            let negative = _mm512_srai_epi64(_mm512_slli_epi64(x, 32), 63);
            _mm512_add_epi64(v, _mm512_slli_epi64(negative, 31))
        } else {
            v
        };
        _mm512_min_epi64(_mm512_max_epi64(_mm512_sra_epi64(v, count), lo), hi)
    };
    for (v, chunk) in row.chunks_mut(LANES).enumerate() {
        // SAFETY: `v * 16 + 16 <= TILE`: in `acc`.
        let x = unsafe { _mm512_loadu_si512(acc.as_ptr().add(v * LANES).cast()) };
        let x = _mm512_add_epi32(x, base);
        let y = if let Scale::Float(s) = scale {
            let f = _mm512_mul_ps(_mm512_cvtepi32_ps(x), _mm512_set1_ps(s));
            let b = BOUND as f32;
            // Rounded half to even by the default rounding mode.
            _mm512_cvtps_epi32(_mm512_min_ps(
                _mm512_max_ps(f, _mm512_set1_ps(-b)),
                _mm512_set1_ps(b),
            ))
        } else {
            let even = half(x);
            let odd = half(_mm512_srli_epi64(x, 32));
            _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32))
        };
        let y = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(y, zp), min), max);
        // SAFETY: lanes below `chunk.len()` are stored into `chunk`.
        unsafe {
            _mm_mask_storeu_epi8(
                chunk.as_mut_ptr(),
                lanes(chunk.len()),
                _mm512_cvtepi32_epi8(y),
            )
        };
    }
}
