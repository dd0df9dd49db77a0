//! Naive int8 references, written from the formulas of the issue and the TFLite, gemmlowp
//! and ONNX definitions, in wide integers (`i128`) and exact rationals, with no shared code
//! with the crate: floors by `div_euclid`, roundings spelled out.

use super::geom::Geom;

/// `floor(n / d)` for `d > 0`.
fn floor_div(n: i128, d: i128) -> i128 {
    n.div_euclid(d)
}

fn saturate(v: i128) -> i32 {
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// gemmlowp's saturating rounding doubling high multiply: `2ab / 2^32 = ab / 2^31` rounded
/// to nearest, ties toward +inf; `MIN * MIN` saturates.
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i128 * b as i128;
    floor_div(2 * ab + (1i128 << 31), 1i128 << 32) as i32
}

/// `x / 2^e` rounded to nearest, ties away from zero.
pub fn rdbpot(x: i32, e: u32) -> i32 {
    let n = (x as i128).abs();
    let q = floor_div(2 * n + (1i128 << e), 1i128 << (e + 1));
    (if x < 0 { -q } else { q }) as i32
}

/// TFLite's reference `MultiplyByQuantizedMultiplier` (double rounding), the left shift
/// saturating.
pub fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let xs = saturate((x as i128) << left);
    rdbpot(srdhm(xs, m), right)
}

/// `TFLITE_SINGLE_ROUNDING`: `x * m / 2^(31 - shift)` rounded to nearest, ties toward +inf,
/// saturated.
pub fn mbqm_single(x: i32, m: i32, shift: i32) -> i32 {
    let t = (31 - shift) as u32;
    let v = x as i128 * m as i128;
    saturate(floor_div(2 * v + (1i128 << t), 1i128 << (t + 1)))
}

/// TFLite's `QuantizeMultiplier`, with `frexp` done by repeated exact halving and doubling
/// and `std::round`; `None` where the crate must refuse (negative, NaN, infinite, shift > 30).
pub fn quantize_multiplier(x: f64) -> Option<(i32, i32)> {
    if x.is_nan() || x.is_infinite() || x < 0.0 {
        return None;
    }
    if x == 0.0 {
        return Some((0, 0));
    }
    let (mut q, mut e) = (x, 0i32);
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut fixed = (q * exp2(31)).round() as i64;
    if fixed == 1 << 31 {
        fixed /= 2;
        e += 1;
    }
    if e < -31 {
        return Some((0, 0));
    }
    if e > 30 {
        return None;
    }
    Some((fixed as i32, e))
}

/// A requantization mode with plain parameters.
#[derive(Clone, Debug)]
pub enum Mode {
    Double(Vec<(i32, i32)>),
    Single(Vec<(i32, i32)>),
    Float(Vec<f32>),
}

impl Mode {
    pub fn len(&self) -> usize {
        match self {
            Mode::Double(v) | Mode::Single(v) => v.len(),
            Mode::Float(v) => v.len(),
        }
    }

    /// `clamp(scale(acc) + zp, lo, hi)` (max then min), also clamped to `i8`.
    pub fn apply(&self, ch: usize, acc: i32, zp: i8, lo: i8, hi: i8) -> i8 {
        let pick = |n: usize| if n == 1 { 0 } else { ch };
        let scaled: i128 = match self {
            Mode::Double(v) => {
                let (m, s) = v[pick(v.len())];
                mbqm(acc, m, s) as i128
            }
            Mode::Single(v) => {
                let (m, s) = v[pick(v.len())];
                mbqm_single(acc, m, s) as i128
            }
            Mode::Float(v) => {
                let p = acc as f32 * v[pick(v.len())];
                let r = p.round_ties_even();
                if r > 1e6 {
                    1_000_000
                } else if r < -1e6 {
                    -1_000_000
                } else {
                    r as i128
                }
            }
        };
        let y = (scaled + zp as i128).max(lo as i128).min(hi as i128);
        y.clamp(-128, 127) as i8
    }
}

/// The convolution's accumulators `bias[oc] + sum((x - zp) * w)`, padding skipped (it
/// contributes `(zp - zp) * w = 0`), in `i64`.
pub fn conv_acc(g: &Geom, x: &[i8], zp: i8, w: &[i8], bias: Option<&[i32]>) -> Vec<i64> {
    let mut acc = vec![0i64; g.y_len()];
    g.for_each_mac(|xi, wi, yi| acc[yi] += (x[xi] as i64 - zp as i64) * w[wi] as i64);
    if let Some(b) = bias {
        let plane = g.y_len() / g.n.max(1) / g.oc;
        for (i, a) in acc.iter_mut().enumerate() {
            *a += b[(i / plane) % g.oc] as i64;
        }
    }
    acc
}

/// `c[i][j] = sum_k (a[i][k] - za) * (b[k][j] - zb)` for row-major `a` (`m x k`), `b`
/// (`k x n`).
pub fn gemm(m: usize, n: usize, k: usize, a: &[i8], za: i8, b: &[i8], zb: i8) -> Vec<i64> {
    let mut c = vec![0i64; m * n];
    for i in 0..m {
        for j in 0..n {
            for p in 0..k {
                c[i * n + j] +=
                    (a[i * k + p] as i64 - za as i64) * (b[p * n + j] as i64 - zb as i64);
            }
        }
    }
    c
}

/// The in-bounds taps of every window, row-major, as flat in-plane positions.
fn windows(s: &Geom) -> Vec<Vec<usize>> {
    let (oh, ow) = s.out_hw();
    let mut all = Vec::new();
    for y in 0..oh {
        for x in 0..ow {
            let mut taps = Vec::new();
            for i in 0..s.kernel[0] {
                for j in 0..s.kernel[1] {
                    let (r, c) = (s.tap(0, y, i), s.tap(1, x, j));
                    if s.inside(0, r) && s.inside(1, c) {
                        taps.push(r as usize * s.w + c as usize);
                    }
                }
            }
            all.push(taps);
        }
    }
    all
}

/// int8 max pooling, clamped to `[lo, hi]` (max then min).
pub fn max_pool(s: &Geom, x: &[i8], lo: i8, hi: i8) -> Vec<i8> {
    let plane = s.h * s.w;
    let wins = windows(s);
    let mut y = Vec::new();
    for p in 0..s.n * s.c {
        for taps in &wins {
            let m = taps.iter().map(|&t| x[p * plane + t]).max().unwrap();
            y.push(m.max(lo).min(hi));
        }
    }
    y
}

/// int8 average pooling: the sum divided by `divisor(oh, ow)`, rounded half away from zero
/// (as an exact rational), clamped to `[lo, hi]`.
pub fn avg_pool(
    s: &Geom,
    x: &[i8],
    divisor: impl Fn(usize, usize) -> usize,
    lo: i8,
    hi: i8,
) -> Vec<i8> {
    let plane = s.h * s.w;
    let (_, ow) = s.out_hw();
    let wins = windows(s);
    let mut y = Vec::new();
    for p in 0..s.n * s.c {
        for (o, taps) in wins.iter().enumerate() {
            let sum: i128 = taps.iter().map(|&t| x[p * plane + t] as i128).sum();
            let d = divisor(o / ow, o % ow) as i128;
            // round(sum / d), ties away: sign * floor((2|sum| + d) / 2d).
            let q = floor_div(2 * sum.abs() + d, 2 * d) * sum.signum();
            y.push(q.max(lo as i128).min(hi as i128).clamp(-128, 127) as i8);
        }
    }
    y
}

/// ONNX `QuantizeLinear`: `saturate(round_half_even(x / scale) + zp)`, NaN to `zp`.
pub fn quantize(x: f32, scale: f32, zp: i8) -> i8 {
    let r = (x / scale).round_ties_even();
    let v = if r.is_nan() {
        0.0
    } else {
        r.clamp(-1000.0, 1000.0)
    };
    (v as i32 + zp as i32).clamp(-128, 127) as i8
}

/// `(q - zp) * scale`.
pub fn dequantize(q: i8, scale: f32, zp: i8) -> f32 {
    (q as i32 - zp as i32) as f32 * scale
}

/// 2^e exactly, built from its bits: `powi` is not guaranteed exact, and Miri perturbs it.
pub fn exp2(e: i32) -> f64 {
    assert!((-1022..=1023).contains(&e));
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// `x * 2^e`, rounded once (ldexp), for any `e`.
pub fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e < -1000 {
        x *= exp2(-1000);
        e += 1000;
    }
    x * exp2(e)
}
