//! Pooling over the windows that have their own kernels on this core (2x2 and 3x3 with column
//! stride 2), and the edges around them, against naive loops written from the definitions:
//! full rows and a column tail, planes that cannot be stacked, padding rows and columns, ceil
//! mode, row stride 1, and NaN anywhere in a window. Values are multiples of 1/8, so sums are
//! exact and equality (bit for bit, NaN with NaN) is the test.

use crate::model::Runner;
use nchw::{
    avg_pool2d, max_pool2d, max_pool2d_with_indices, AvgPool2d, Divisor, Padding, Pool2d, Rounding,
    Shape, Window,
};

/// Largest input and output of the cases.
const MAX_IN: usize = 198;
const MAX_OUT: usize = 60;

/// One case: `(c, h, w)`, kernel, `(stride_h, stride_w)`, padding, ceil mode, NaN positions.
struct Case {
    name: [&'static str; 3],
    chw: (usize, usize, usize),
    kernel: usize,
    stride: (usize, usize),
    padding: Padding,
    ceil: bool,
    nans: &'static [usize],
}

const fn pad(top: usize, bottom: usize, left: usize, right: usize) -> Padding {
    Padding {
        top,
        bottom,
        left,
        right,
    }
}

const CASES: [Case; 7] = [
    Case {
        name: [
            "max 2x2/2 stacked, tail",
            "argmax 2x2/2 stacked, tail",
            "avg 2x2/2 stacked, tail",
        ],
        chw: (3, 6, 10),
        kernel: 2,
        stride: (2, 2),
        padding: Padding::ZERO,
        ceil: false,
        nans: &[],
    },
    Case {
        name: [
            "max 2x2/2 odd plane",
            "argmax 2x2/2 odd plane",
            "avg 2x2/2 odd plane",
        ],
        chw: (2, 7, 9),
        kernel: 2,
        stride: (2, 2),
        padding: Padding::ZERO,
        ceil: false,
        nans: &[],
    },
    Case {
        name: [
            "max 2x2/2 padded",
            "argmax 2x2/2 padded",
            "avg 2x2/2 padded",
        ],
        chw: (2, 7, 9),
        kernel: 2,
        stride: (2, 2),
        padding: pad(1, 0, 1, 0),
        ceil: false,
        nans: &[],
    },
    Case {
        name: ["max 2x2/2 ceil", "argmax 2x2/2 ceil", "avg 2x2/2 ceil"],
        chw: (3, 5, 11),
        kernel: 2,
        stride: (2, 2),
        padding: Padding::ZERO,
        ceil: true,
        nans: &[],
    },
    Case {
        name: ["max 3x3/2 pad 1", "argmax 3x3/2 pad 1", "avg 3x3/2 pad 1"],
        chw: (2, 9, 11),
        kernel: 3,
        stride: (2, 2),
        padding: Padding::uniform(1),
        ceil: false,
        nans: &[],
    },
    Case {
        name: [
            "max 2x2 stride 1x2",
            "argmax 2x2 stride 1x2",
            "avg 2x2 stride 1x2",
        ],
        chw: (2, 5, 8),
        kernel: 2,
        stride: (1, 2),
        padding: Padding::ZERO,
        ceil: false,
        nans: &[],
    },
    Case {
        name: ["max 2x2/2 NaN", "argmax 2x2/2 NaN", "avg 2x2/2 NaN"],
        chw: (3, 6, 10),
        kernel: 2,
        stride: (2, 2),
        padding: Padding::ZERO,
        ceil: false,
        // First tap, later taps, two in one window, both signs, in one plane and another.
        nans: &[0, 13, 22, 23, 32, 33, 61, 150, 161, 178],
    },
];

/// The pooling of `case`, or `None` if the crate refuses it (a failed check).
fn geometry(case: &Case) -> Option<Pool2d> {
    let (c, h, w) = case.chw;
    let window = Window::square(case.kernel)
        .with_stride(case.stride.0, case.stride.1)
        .with_padding(case.padding);
    let rounding = if case.ceil {
        Rounding::Ceil
    } else {
        Rounding::Floor
    };
    Pool2d::new(Shape::new(1, c, h, w).ok()?, window, rounding).ok()
}

/// Inputs: multiples of 1/8 in `-4..4` from a fixed sequence, NaN (alternately negative) at
/// `nans`.
fn input(len: usize, nans: &[usize]) -> [f32; MAX_IN] {
    let mut x = [0.0f32; MAX_IN];
    let mut s = 0x2545_f491u32;
    for v in x.iter_mut().take(len) {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        *v = ((s >> 24) as i32 - 128) as f32 / 32.0;
    }
    for (k, &i) in nans.iter().enumerate() {
        x[i] = if k % 2 == 0 { f32::NAN } else { -f32::NAN };
    }
    x
}

/// The input positions `ih * W + iw` of window `(oh, ow)` inside the input, in row-major
/// order, and their number.
fn taps(case: &Case, oh: usize, ow: usize) -> ([usize; 9], usize) {
    let (_, h, w) = case.chw;
    let (mut at, mut n) = ([0; 9], 0);
    for kh in 0..case.kernel {
        for kw in 0..case.kernel {
            let ih = (oh * case.stride.0 + kh).checked_sub(case.padding.top);
            let iw = (ow * case.stride.1 + kw).checked_sub(case.padding.left);
            if let (Some(ih), Some(iw)) = (ih.filter(|&i| i < h), iw.filter(|&i| i < w)) {
                at[n] = ih * w + iw;
                n += 1;
            }
        }
    }
    (at, n)
}

/// Equal bit for bit, or both NaN.
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Checks max pooling, max pooling with indices and average pooling (excluding padding) of
/// every case. Not inlined: its buffers leave the stack before the next checks run.
#[inline(never)]
pub fn check(r: &mut impl Runner) {
    for case in &CASES {
        let Some(g) = geometry(case) else {
            for name in case.name {
                r.check(name, false);
            }
            continue;
        };
        let (c, h, w) = case.chw;
        let (out_h, out_w) = (g.output().h(), g.output().w());
        let (len, out) = (g.input_len(), g.output_len());
        if len > MAX_IN || out > MAX_OUT {
            for name in case.name {
                r.check(name, false);
            }
            continue;
        }
        let x = input(len, case.nans);
        // Each operation in turn into one buffer, checked against the naive window.
        let (mut y, mut idx) = ([0.0f32; MAX_OUT], [0u32; MAX_OUT]);
        let avg = AvgPool2d::new(g, Divisor::CountExcludePad);
        let mut ok = [true; 3];
        for (op, ok) in ok.iter_mut().enumerate() {
            let (y, idx) = (&mut y[..out], &mut idx[..out]);
            *ok = match op {
                0 => r.call(|| max_pool2d(&g, &x[..len], y)),
                1 => r.call(|| max_pool2d_with_indices(&g, &x[..len], y, idx)),
                _ => r.call(|| avg_pool2d(&avg?, &x[..len], y)),
            }
            .is_ok();
            for ch in 0..c {
                let plane = &x[ch * h * w..(ch + 1) * h * w];
                for oh in 0..out_h {
                    for ow in 0..out_w {
                        let o = (ch * out_h + oh) * out_w + ow;
                        let (at, n) = taps(case, oh, ow);
                        // PyTorch's rule: the first tap, then any larger or NaN one.
                        let (mut best, mut arg, mut sum) = (plane[at[0]], at[0], 0.0f32);
                        for &t in &at[..n] {
                            let v = plane[t];
                            if v > best || v.is_nan() {
                                (best, arg) = (v, t);
                            }
                            sum += v;
                        }
                        *ok &= match op {
                            0 => same(y[o], best),
                            1 => same(y[o], best) && idx[o] as usize == arg,
                            _ => same(y[o], sum / n as f32),
                        };
                    }
                }
            }
        }
        for (name, ok) in case.name.iter().zip(ok) {
            r.check(name, ok);
        }
    }
}
