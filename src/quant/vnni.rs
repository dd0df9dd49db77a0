//! int8 convolution tiles on AVX-512 VNNI.
//!
//! `vpdpbusd` multiplies the four unsigned bytes of each `i32` lane of one operand by the four
//! signed bytes of the same lane of the other and adds the four products to the lane: 64
//! exact multiply-adds per instruction. The inputs are made unsigned by flipping their sign
//! bit (`x + 128`); the accumulator's start takes it back (`- 128 * sum(w)`, beside the zero
//! point's `- zp * sum(w)`).
//!
//! A tile is up to [`TILE`] output positions. Their taps are unfolded as im2col unfolds
//! them (a row of positions per tap, copied from the input rows by segments) and
//! interleaved by byte unpacks into *quads*: for every four consecutive taps, one `i32` lane
//! per position holding its four bytes. A block of [`MR`] filters then runs over the tile
//! with each filter's four bytes broadcast straight from the weights (no packing) against
//! two vectors of 16 positions: 24 accumulators in the 32 `zmm` registers. The results are
//! vectors along the positions of one output channel, a
//! piece of an NCHW output row, requantized 16 at a time and stored.

use core::arch::x86_64::{
    __m256i, __m512i, __mmask16, __mmask32, _mm256_mask_loadu_epi8, _mm256_mask_storeu_epi8,
    _mm256_maskz_loadu_epi8, _mm256_permute2x128_si256, _mm256_set1_epi8, _mm256_setzero_si256,
    _mm256_storeu_si256, _mm256_unpackhi_epi16, _mm256_unpackhi_epi8, _mm256_unpacklo_epi16,
    _mm256_unpacklo_epi8, _mm256_xor_si256, _mm512_add_epi32, _mm512_add_epi64,
    _mm512_cvtepi32_epi8, _mm512_cvtepi32_ps, _mm512_cvtps_epi32, _mm512_dpbusd_epi32,
    _mm512_loadu_si512, _mm512_mask_blend_epi32, _mm512_max_epi32, _mm512_max_epi64, _mm512_max_ps,
    _mm512_min_epi32, _mm512_min_epi64, _mm512_min_ps, _mm512_mul_epi32, _mm512_mul_ps,
    _mm512_set1_epi32, _mm512_set1_epi64, _mm512_set1_ps, _mm512_setzero_si512, _mm512_slli_epi64,
    _mm512_sra_epi64, _mm512_srai_epi64, _mm512_srli_epi64, _mm512_storeu_si512, _mm_cvtsi32_si128,
    _mm_mask_storeu_epi8, _mm_storeu_si128,
};
use core::ops::Range;
use core::ptr::read_unaligned;

use super::requant::{Output, Scale};
use crate::im2col::Im2col;

/// Output positions per tile: two vectors of 16 `i32` lanes, the full tile
/// [`Conv2d::scratch_len_i8`](crate::Conv2d::scratch_len_i8) makes room for.
pub(super) const TILE: usize = 32;
const _: () = assert!(TILE == super::conv::FULL_TILE);
/// Filters per block.
pub(super) const MR: usize = 12;
/// `i32` lanes per vector.
const LANES: usize = 16;

/// Quads of a patch of `k` bytes.
pub(super) const fn quads(k: usize) -> usize {
    k.div_ceil(4)
}

/// Workspace bytes for a tile of `n` positions with patches of `k` bytes: the taps' rows,
/// and the quads (`TILE` lanes each); saturating, so that no patch is too long to ask about.
pub(super) const fn scratch_len(n: usize, k: usize) -> usize {
    n.saturating_mul(k)
        .saturating_add(quads(k).saturating_mul(TILE * 4))
}

/// `base + sum(w[t] * x[t])` for a block of filters over a tile: the accumulators of
/// [`block`], one row of [`TILE`] positions per filter.
pub(super) type Accumulators<const M: usize> = [[i32; TILE]; M];

/// The taps of output positions `columns` (at most [`TILE`]) of one group's `image` as rows
/// of `n = columns.len()` bytes, `rows[t * n + p]` (the im2col tile layout, from the same
/// walk by segments), taps in the padding `zp`.
///
/// # Safety
/// The CPU has AVX-512 BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn unfold(
    g: &Im2col,
    image: &[i8],
    zp: i8,
    columns: Range<usize>,
    rows: &mut [i8],
) {
    let stride = g.window().stride_w;
    g.for_each_segment(columns, |s| {
        // As im2col's unfold splits them (the same code there compiles tighter for
        // Cortex-M than through a shared method).
        let Some(out) = rows.get_mut(s.dst..s.dst + s.zeros_before + s.len + s.zeros_after) else {
            return;
        };
        let Some((before, rest)) = out.split_at_mut_checked(s.zeros_before) else {
            return;
        };
        let Some((body, after)) = rest.split_at_mut_checked(s.len) else {
            return;
        };
        for b in before.iter_mut().chain(after) {
            *b = zp;
        }
        if s.len == 0 {
            return;
        }
        let Some(src) = image.get(s.src..s.src + (s.len - 1) * stride + 1) else {
            return;
        };
        if stride == 1 && s.len <= 32 {
            let m = bytes(s.len);
            // SAFETY: the masked load reads `s.len = src.len()` bytes, the store writes as
            // many into `body`.
            unsafe {
                _mm256_mask_storeu_epi8(
                    body.as_mut_ptr(),
                    m,
                    _mm256_maskz_loadu_epi8(m, src.as_ptr()),
                )
            };
        } else {
            for (b, &x) in body.iter_mut().zip(src.iter().step_by(stride)) {
                *b = x;
            }
        }
    });
}

/// The mask of the first `n` (at most 32) bytes.
fn bytes(n: usize) -> __mmask32 {
    if n >= 32 {
        !0
    } else {
        (1u32 << n) - 1
    }
}

/// Interleaves the rows of `n <= TILE` bytes that [`unfold`] wrote for patches of `k` taps
/// into quads at `out`: lane `p` of quad `q` (`out[q * TILE + p]`) holds taps `4q .. 4q +
/// 4` of position `p` with their sign bits flipped (`x + 128` as `u8`); taps past `k` are
/// zero, lanes past `n` anything (their outputs are not stored).
///
/// # Safety
/// The CPU has AVX-512 BW and VL; `rows` holds `k * n` bytes and `out` is writable for
/// `quads(k) * TILE` `i32`s.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
pub(super) unsafe fn interleave(rows: &[i8], n: usize, k: usize, out: *mut i32) {
    debug_assert!(n <= TILE && rows.len() >= k * n);
    let (m, flip) = (bytes(n), _mm256_set1_epi8(0x80_u8 as i8));
    // SAFETY: row `t < k` is bytes `t * n .. t * n + n` of `rows`, masked to them.
    let row = |t: usize| unsafe {
        if t < k {
            _mm256_xor_si256(_mm256_maskz_loadu_epi8(m, rows.as_ptr().add(t * n)), flip)
        } else {
            _mm256_setzero_si256()
        }
    };
    for q in 0..quads(k) {
        let taps = [row(4 * q), row(4 * q + 1), row(4 * q + 2), row(4 * q + 3)];
        // SAFETY: quad `q`'s 32 lanes are in `out`.
        unsafe { store_quad(taps, out.add(q * TILE)) };
    }
}

/// Stores four taps' rows of 32 positions as one quad: lane `p` of `dst` gets byte `p` of
/// each of `taps`, in order.
///
/// # Safety
/// The CPU has AVX2; `dst` is writable for 32 `i32`s.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_quad([a, b, c, d]: [__m256i; 4], dst: *mut i32) {
    // Byte pairs, then quads, within each 128-bit half: positions 0-3 and 16-19 in `p[0]`,
    // 4-7 and 20-23 in `p[1]`, 8-11 and 24-27, 12-15 and 28-31.
    let (ab, cd) = (
        [_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b)],
        [_mm256_unpacklo_epi8(c, d), _mm256_unpackhi_epi8(c, d)],
    );
    let p = [
        _mm256_unpacklo_epi16(ab[0], cd[0]),
        _mm256_unpackhi_epi16(ab[0], cd[0]),
        _mm256_unpacklo_epi16(ab[1], cd[1]),
        _mm256_unpackhi_epi16(ab[1], cd[1]),
    ];
    // SAFETY: 128 bytes from `dst`, the caller's.
    unsafe {
        let dst = dst.cast::<__m256i>();
        _mm256_storeu_si256(dst, _mm256_permute2x128_si256::<0x20>(p[0], p[1]));
        _mm256_storeu_si256(dst.add(1), _mm256_permute2x128_si256::<0x20>(p[2], p[3]));
        _mm256_storeu_si256(dst.add(2), _mm256_permute2x128_si256::<0x31>(p[0], p[1]));
        _mm256_storeu_si256(dst.add(3), _mm256_permute2x128_si256::<0x31>(p[2], p[3]));
    }
}

/// The most taps per channel (`KH * KW`) [`quads_shifted`] takes.
const MAX_TAPS: usize = 32;

/// Whether [`quads_shifted`] takes a group's geometry: stride 1 and `OW == W` (the width
/// padded "same"), so that every tap's row of positions is its input plane shifted, and at
/// most [`MAX_TAPS`] taps per channel.
pub(super) fn shifted(g: &Im2col) -> bool {
    let win = g.window();
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    win.stride_h == 1
        && win.stride_w == 1
        && g.out_w() == g.width()
        && kh <= MAX_TAPS
        && kw <= MAX_TAPS
        && kh * kw <= MAX_TAPS
}

/// Per kernel row (column), the positions of a tile whose input row (column) lies inside
/// the image, as bits: what [`quads_shifted`] loads. The same for every group and channel,
/// so made once per tile.
pub(super) struct Inside {
    rows: [u32; MAX_TAPS],
    cols: [u32; MAX_TAPS],
}

impl Inside {
    /// The masks of positions `columns` (at most [`TILE`]) of a geometry [`shifted`] takes,
    /// one output row's run of positions at a time.
    pub(super) fn new(g: &Im2col, columns: Range<usize>) -> Inside {
        let win = g.window();
        let (h, w) = (g.height(), g.width());
        let (top, left) = (win.padding.top, win.padding.left);
        let mut inside = Inside {
            rows: [0; MAX_TAPS],
            cols: [0; MAX_TAPS],
        };
        let end = columns.end.min(columns.start + TILE);
        let mut p = columns.start;
        while p < end && w > 0 {
            let (oh, ow) = (p / w, p % w);
            let len = (w - ow).min(end - p);
            // Bits `from..to` of this run, `ow + from .. ow + to` of output row `oh`.
            let i = p - columns.start;
            let run = |from: usize, to: usize| ((1u64 << (i + to)) - (1u64 << (i + from))) as u32;
            for (r, m) in inside.rows.iter_mut().enumerate().take(win.kernel_h) {
                if (oh + r * win.dilation_h).wrapping_sub(top) < h {
                    *m |= run(0, len);
                }
            }
            for (s, m) in inside.cols.iter_mut().enumerate().take(win.kernel_w) {
                // Input column `ow' + s * dw - left` is inside for `ow'` in `lo..hi`.
                let reach = s * win.dilation_w;
                let lo = left.saturating_sub(reach).max(ow);
                let hi = (w + left).saturating_sub(reach).min(ow + len);
                if lo < hi {
                    *m |= run(lo - ow, hi - ow);
                }
            }
            p += len;
        }
        inside
    }
}

/// [`unfold`] and [`interleave`] in one pass where [`shifted`] holds: tap `(c, i, j)` of
/// position `p` is element `p + shift(i, j)` of plane `c`, so each tap's row of the tile is
/// one masked load (the positions whose input lies in the padding masked off, reading `zp`),
/// and four of them make a quad in registers.
///
/// # Safety
/// The CPU has AVX-512 BW and VL; [`shifted`] holds for `g`, and `image` holds its
/// `image_len()` bytes; `columns` holds at
/// most [`TILE`] positions and `inside` is its [`Inside`]; `out` is writable for `quads(k) * TILE` `i32`s, `k` being `g`'s
/// patch length.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
pub(super) unsafe fn quads_shifted(
    g: &Im2col,
    image: &[i8],
    zp: i8,
    columns: Range<usize>,
    inside: &Inside,
    out: *mut i32,
) {
    let win = g.window();
    let (h, w) = (g.height(), g.width());
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let (rows_in, cols_in) = (&inside.rows, &inside.cols);
    let (zp, flip) = (_mm256_set1_epi8(zp), _mm256_set1_epi8(0x80_u8 as i8));
    let k = g.rows();
    let (channels, plane) = (g.channels(), h * w);
    let (mut c, mut i, mut j) = (0, 0, 0);
    for q in 0..quads(k) {
        // Taps `4q .. 4q + 4` in `(c, i, j)` order; past the last channel, zeros.
        let mut taps = [_mm256_setzero_si256(); 4];
        for t in &mut taps {
            if c == channels {
                break;
            }
            let mask = rows_in[i] & cols_in[j];
            let shift = ((i * win.dilation_h) as isize - win.padding.top as isize) * w as isize
                + (j * win.dilation_w) as isize
                - win.padding.left as isize;
            let at = ((c * plane + columns.start) as isize).wrapping_add(shift);
            // SAFETY: a lane `p` left in the mask reads element `(oh + i * dh - top) * w + ow
            // + j * dw - left` of plane `c`, inside it (the masks), and the image holds every
            // plane (the caller's); masked-off lanes are not read.
            let v = unsafe { _mm256_mask_loadu_epi8(zp, mask, image.as_ptr().wrapping_offset(at)) };
            *t = _mm256_xor_si256(v, flip);
            j += 1;
            if j == kw {
                (i, j) = (i + 1, 0);
                if i == kh {
                    (c, i) = (c + 1, 0);
                }
            }
        }
        // SAFETY: quad `q`'s 32 lanes are in `out`.
        unsafe { store_quad(taps, out.add(q * TILE)) };
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
/// position `p` in the quads [`interleave`] or [`quads_shifted`] wrote (the input plus
/// 128), for every lane `p < TILE`.
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
        // Quad `q` against each filter's four bytes of it.
        let step = |sums: &mut [[__m512i; 2]; M], q: usize, words: &[i32; M]| {
            let x0 = _mm512_loadu_si512(quads.add(q * TILE).cast());
            let x1 = _mm512_loadu_si512(quads.add(q * TILE + LANES).cast());
            for (s, &word) in sums.iter_mut().zip(words) {
                let wq = _mm512_set1_epi32(word);
                s[0] = _mm512_dpbusd_epi32(s[0], x0, wq);
                s[1] = _mm512_dpbusd_epi32(s[1], x1, wq);
            }
        };
        let mut words = [0i32; M];
        for q in 0..full {
            for (word, f) in words.iter_mut().zip(w) {
                *word = read_unaligned(f.add(4 * q).cast::<i32>());
            }
            step(&mut sums, q, &words);
        }
        if !k.is_multiple_of(4) {
            // The last quad's bytes within `k`: the last filter ends there (the quads' taps
            // past `k` are zero, so the filters' bytes there never count).
            for (word, f) in words.iter_mut().zip(w) {
                *word = (0..k % 4).fold(0, |v, i| {
                    v | i32::from(*f.add(4 * full + i) as u8) << (8 * i)
                });
            }
            step(&mut sums, full, &words);
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
        let bytes = _mm512_cvtepi32_epi8(y);
        // SAFETY: lanes below `chunk.len()` are stored into `chunk`. A whole chunk takes a
        // plain store: fused with the narrowing, the masked one is a slow `vpmovdb` to
        // memory (a third of a 1x1 layer's time on Zen 4).
        unsafe {
            if chunk.len() == LANES {
                _mm_storeu_si128(chunk.as_mut_ptr().cast(), bytes);
            } else {
                _mm_mask_storeu_epi8(chunk.as_mut_ptr(), lanes(chunk.len()), bytes);
            }
        };
    }
}
