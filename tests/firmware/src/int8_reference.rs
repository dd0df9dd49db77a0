//! The naive loops of the int8 checks (`int8`), written from the formulas: TFLite's
//! requantization in 64-bit arithmetic as gemmlowp states it, the convolution as a sum over
//! the window with padding reading the input zero point, pooling over the window.
// Index loops on purpose: each reads like the formula it checks.
#![allow(clippy::needless_range_loop)]

use crate::int8::{
    Int8, Step, AVG, AVG_2X2, CONV_RUNS, FC, FC_LONG, FLOAT_SCALES, MULTIPLIERS, POOL, TIES, X_ZP,
    Y_MAX, Y_ZP,
};
use crate::model::Runner;
use nchw::{Conv2d, Multiplier};

/// Compares the output of `step` with its naive loop.
pub fn check(r: &mut impl Runner, b: &Int8, step: Step) {
    match step {
        Step::Conv(i) => check_conv(r, b, i),
        Step::Gemm => check_gemm(r, b),
        Step::GemmLong => check_gemm_long(r, b),
        Step::MaxPool => check_max_pool(r, b),
        Step::AvgPool => check_avg_pool(r, b),
        Step::AvgPool2x2 => check_avg_pool_2x2(r, b),
    }
}

/// TFLite's reference `MultiplyByQuantizedMultiplier`, in 64-bit arithmetic as gemmlowp
/// writes it (a left shift that overflows saturates, as the crate documents).
fn tflite(acc: i32, m: Multiplier) -> i64 {
    let (mult, shift) = (i64::from(m.multiplier()), m.shift());
    let x = (i64::from(acc) << shift.max(0)).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    let ab = x * mult;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    let high = (ab + nudge) / (1i64 << 31);
    let e = (-shift).max(0);
    let mask = (1i64 << e) - 1;
    let (rem, threshold) = (high & mask, (mask >> 1) + i64::from(high < 0));
    (high >> e) + i64::from(rem > threshold)
}

/// `TFLITE_SINGLE_ROUNDING`: `(acc * m + 2^(30 - shift)) >> (31 - shift)`.
fn single(acc: i32, m: Multiplier) -> i64 {
    let total = 31 - m.shift();
    (i64::from(acc) * i64::from(m.multiplier()) + (1i64 << (total - 1))) >> total
}

/// `round_half_to_even(acc as f32 * scale)`.
fn float(acc: i32, scale: f32) -> i64 {
    let v = acc as f32 * scale;
    let f = v as i64; // toward zero
    let frac = v - f as f32;
    if frac > 0.5 || (frac == 0.5 && f % 2 != 0) {
        f + 1
    } else if frac < -0.5 || (frac == -0.5 && f % 2 != 0) {
        f - 1
    } else {
        f
    }
}

/// The output for accumulator `acc` of channel `oc` under requantization `mode`.
fn requant(mode: usize, oc: usize, acc: i32) -> i8 {
    let v = match mode {
        0 => tflite(acc, MULTIPLIERS[oc]),
        1 => single(acc, MULTIPLIERS[oc]),
        3 => tflite(acc, TIES[oc]),
        _ => float(acc, FLOAT_SCALES[oc]),
    };
    let (min, max) = if mode == 3 {
        (i8::MIN, i8::MAX)
    } else {
        (Y_ZP, Y_MAX)
    };
    (v + i64::from(Y_ZP)).clamp(i64::from(min), i64::from(max)) as i8
}

/// The naive convolution's output `(n, oc, oh, ow)`.
fn naive_conv(
    conv: &Conv2d,
    mode: usize,
    b: &Int8,
    n: usize,
    oc: usize,
    oh: usize,
    ow: usize,
) -> i8 {
    let (x, y, win) = (conv.input(), conv.output(), conv.window());
    let cg = x.c() / conv.groups();
    let g = oc / (y.c() / conv.groups());
    let mut acc = b.bias[oc];
    for c in 0..cg {
        for i in 0..win.kernel_h {
            for j in 0..win.kernel_w {
                let ih =
                    (oh * win.stride_h + i * win.dilation_h) as isize - win.padding.top as isize;
                let iw =
                    (ow * win.stride_w + j * win.dilation_w) as isize - win.padding.left as isize;
                let inside = ih >= 0 && iw >= 0 && (ih as usize) < x.h() && (iw as usize) < x.w();
                let v = if inside {
                    b.x[x.index(n, g * cg + c, ih as usize, iw as usize)]
                } else {
                    X_ZP
                };
                let wt = b.w[((oc * cg + c) * win.kernel_h + i) * win.kernel_w + j];
                acc += (i32::from(v) - i32::from(X_ZP)) * i32::from(wt);
            }
        }
    }
    requant(mode, oc, acc)
}

/// Compares convolution run `i` with its naive loop.
fn check_conv(r: &mut impl Runner, b: &Int8, i: usize) {
    const NAMES: [&str; 24] = [
        "int8 conv2d 3x3 5->3, minimum workspace",
        "int8 conv2d 3x3 5->3, one pair",
        "int8 conv2d 3x3 5->3",
        "int8 conv2d 3x3 5->3, single rounding",
        "int8 conv2d 3x3 5->3, float requantization",
        "int8 conv2d 3x3 8->6, two images",
        "int8 conv2d 1x1 6->6",
        "int8 conv2d depthwise 3x3",
        "int8 conv2d stride 2, dilation 2, groups 2",
        "int8 conv2d 3x3 unpadded, minimum workspace",
        "int8 conv2d 3x3 unpadded",
        "int8 conv2d 3x3 dilated, padded two left, single rounding",
        "int8 conv2d depthwise 3x3 padded below and left, float requantization",
        "int8 conv2d 2x3 padded, rows of four channels at once",
        "int8 conv2d 1x1 6->6, rounding ties",
        "int8 conv2d 3x3 5->3, minimum workspace, rounding ties",
        "int8 conv2d depthwise 3x3 padded below and left",
        "int8 conv2d depthwise 3x3 padded above and right, rows of 11, two images",
        "int8 conv2d depthwise 3x3 rows of 11, rounding ties",
        "int8 conv2d depthwise 3x3 rows of 8, minimum workspace, rounding ties",
        "int8 conv2d 1x1 4->3, two tiles",
        "int8 conv2d 1x1 4->3, two tiles, rounding ties",
        "int8 conv2d 1x1 4->3, minimum workspace",
        "int8 conv2d 3x3 8->6, two images, minimum workspace, rounding ties",
    ];
    let (conv, mode, _) = CONV_RUNS[i];
    let y = conv.output();
    let mut ok = true;
    for n in 0..y.n() {
        for oc in 0..y.c() {
            for oh in 0..y.h() {
                for ow in 0..y.w() {
                    let want = naive_conv(&conv, mode, b, n, oc, oh, ow);
                    ok &= b.y[y.index(n, oc, oh, ow)] == want;
                }
            }
        }
    }
    r.check(NAMES[i], ok);
}

/// Compares the two GEMMs with their naive loops (`b.y` holds `gemm_i8_requant`'s output).
fn check_gemm(r: &mut impl Runner, b: &Int8) {
    let (m, n, k) = (FC.m(), FC.n(), FC.k());
    let mut ok = true;
    let mut raw = true;
    for i in 0..m {
        for j in 0..n {
            let (mut acc, mut sum) = (b.bias[i], 0i32);
            for t in 0..k {
                let w = i32::from(b.w[i * k + t]);
                acc += w * (i32::from(b.x[j * k + t]) - i32::from(X_ZP));
                sum += (w - 5) * (i32::from(b.x[t * n + j]) + 100);
            }
            ok &= b.y[i * n + j] == requant(0, i, acc);
            raw &= b.acc[i * n + j] == sum;
        }
    }
    r.check("int8 gemm_i8_requant", ok);
    r.check("int8 gemm_i8", raw);
}

/// Compares the long fully-connected layer with its naive loop.
fn check_gemm_long(r: &mut impl Runner, b: &Int8) {
    let (m, n, k) = (FC_LONG.m(), FC_LONG.n(), FC_LONG.k());
    let mut ok = true;
    for i in 0..m {
        for j in 0..n {
            let mut acc = b.bias[i];
            for t in 0..k {
                acc += i32::from(b.w[i * k + t]) * (i32::from(b.x[j * k + t]) - i32::from(X_ZP));
            }
            ok &= b.y[i * n + j] == requant(0, i, acc);
        }
    }
    r.check("int8 gemm_i8_requant, 130 inputs", ok);
}

/// Compares max pooling with its naive loop.
fn check_max_pool(r: &mut impl Runner, b: &Int8) {
    let (x, p) = (POOL.input(), POOL.output());
    let mut ok = true;
    for c in 0..p.c() {
        for oh in 0..p.h() {
            for ow in 0..p.w() {
                let mut best = i8::MIN;
                for (dh, dw) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    best = best.max(b.x[x.index(0, c, 2 * oh + dh, 2 * ow + dw)]);
                }
                ok &= b.y[p.index(0, c, oh, ow)] == best.clamp(-100, 90);
            }
        }
    }
    r.check("int8 max_pool2d", ok);
}

/// Compares average pooling with its naive loop.
fn check_avg_pool(r: &mut impl Runner, b: &Int8) {
    let (x, p) = (AVG.pool().input(), AVG.pool().output());
    let mut ok = true;
    for c in 0..p.c() {
        for oh in 0..p.h() {
            for ow in 0..p.w() {
                let (mut sum, mut count) = (0i32, 0i32);
                for i in 0..3 {
                    for j in 0..3 {
                        let (ih, iw) = (2 * oh + i, 2 * ow + j);
                        // Padding 1: input row ih - 1, column iw - 1.
                        if (1..=x.h()).contains(&ih) && (1..=x.w()).contains(&iw) {
                            sum += i32::from(b.x[x.index(0, c, ih - 1, iw - 1)]);
                            count += 1;
                        }
                    }
                }
                // Half away from zero.
                let q = if sum >= 0 {
                    (sum + count / 2) / count
                } else {
                    (sum - count / 2) / count
                };
                ok &= b.y[p.index(0, c, oh, ow)] == q as i8;
            }
        }
    }
    r.check("int8 avg_pool2d", ok);
}

/// Compares 2x2 stride-2 average pooling with its naive loop.
fn check_avg_pool_2x2(r: &mut impl Runner, b: &Int8) {
    let (x, p) = (AVG_2X2.pool().input(), AVG_2X2.pool().output());
    let mut ok = true;
    for c in 0..p.c() {
        for oh in 0..p.h() {
            for ow in 0..p.w() {
                let mut sum = 0i32;
                for (dh, dw) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    sum += i32::from(b.x[x.index(0, c, 2 * oh + dh, 2 * ow + dw)]);
                }
                // Half away from zero.
                let q = if sum >= 0 {
                    (sum + 2) / 4
                } else {
                    (sum - 2) / 4
                };
                ok &= b.y[p.index(0, c, oh, ow)] == q.clamp(-60, 50) as i8;
            }
        }
    }
    r.check("int8 avg_pool2d 2x2", ok);
}
