//! The int8 family on the board: every int8 kernel against a naive loop written from the
//! formulas, run in the same firmware, with exact equality. On the Cortex-M4F the
//! convolutions take the DSP path (`SXTAB16`/`SMLAD` assembly; its minimum workspace is one
//! widened pair of patches), so the geometries cover its edges: an odd number of output
//! channels and of output positions (a pair split across two output rows, a last position
//! paired with itself), a patch length that is not a multiple of 4, windows reaching into
//! the padding on every side (the 3-tap rows' shifted loads), rows narrower than 5, one
//! pair at a time and more, depthwise, 1x1, stride and dilation (the tap-by-tap gather). On
//! the Cortex-M0 everything is portable.
//!
//! [`run`] calls the kernels (also in the panic-free build) and hands each output to a
//! check, which is `int8_reference`'s naive loops but in the panic-free build.
use core::hint::black_box as opaque;

use crate::model::Runner;
use nchw::{avg_pool2d_i8, conv2d_i8, gemm_i8, gemm_i8_requant, max_pool2d_i8};
use nchw::{AvgPool2d, Clamp, Conv2d, Divisor, Gemm, MatMut, MatRef, Multiplier, Padding};
use nchw::{Pool2d, QuantParams, Requant, Rounding, Shape, Window};

/// 3x3, padding 1, 5 -> 3 channels at 7 x 5: 35 positions and 3 channels (both odd), patches
/// of 45 (11 groups of four and one more).
pub const ODD: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 5, 7, 5)),
    3,
    Window::square(3).with_padding(Padding::uniform(1)),
    1
));
/// 3x3, padding 1, 8 -> 6 at 4 x 4, two images.
pub const WIDE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(2, 8, 4, 4)),
    6,
    Window::square(3).with_padding(Padding::uniform(1)),
    1
));
/// 1x1, 6 -> 6 at 5 x 5 (the M4F widens it four channels at a time, then two).
pub const POINTWISE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 6, 5, 5)),
    6,
    Window::square(1),
    1
));
/// Depthwise 3x3, padding 1, 8 channels at 4 x 5 (an odd row: the M4F's last output
/// pair is half used), channel multiplier 1.
pub const DEPTHWISE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 8, 4, 5)),
    8,
    Window::square(3).with_padding(Padding::uniform(1)),
    8
));
/// 3x3, stride 2, dilation 2, asymmetric padding, 2 groups of 2 -> 2 channels at 7 x 8.
pub const STRIDED: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 4, 7, 8)),
    4,
    Window::square(3)
        .with_stride(2, 2)
        .with_dilation(2, 2)
        .with_padding(ASYMMETRIC),
    2
));
const ASYMMETRIC: Padding = Padding {
    top: 2,
    bottom: 1,
    left: 1,
    right: 2,
};
/// 3x3 without padding, 3 -> 4 channels at 6 x 7: every window inside (the stepping row
/// pointer), 9 rows a patch (two groups of four and one more), rows of 5 outputs (pairs
/// across two output rows).
pub const VALID: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 3, 6, 7)),
    4,
    Window::square(3),
    1
));
/// 3x3, dilation 2 down, padding 2 above and left, 1 below, none right, 3 -> 4 channels at
/// 7 x 9: rows read two bytes into the left padding, rows in the padding between taps.
pub const EDGES: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 3, 7, 9)),
    4,
    Window::square(3).with_dilation(2, 1).with_padding(TWO_LEFT),
    1
));
const TWO_LEFT: Padding = Padding {
    top: 2,
    bottom: 1,
    left: 2,
    right: 0,
};
/// Depthwise 3x3, padding only below and left, 6 channels at 5 x 6.
pub const DEPTHWISE_EDGE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 6, 5, 6)),
    6,
    Window::square(3).with_padding(BELOW_LEFT),
    6
));
const BELOW_LEFT: Padding = Padding {
    top: 0,
    bottom: 1,
    left: 1,
    right: 0,
};
/// Depthwise 3x3, padding above and right, 2 channels at 4 x 12, two images: rows of 11
/// outputs (the M4F requantizes four at a time, then the last three).
pub const DEPTHWISE_WIDE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(2, 2, 4, 12)),
    2,
    Window::square(3).with_padding(ABOVE_RIGHT),
    2
));
const ABOVE_RIGHT: Padding = Padding {
    top: 1,
    bottom: 0,
    left: 0,
    right: 1,
};
/// Depthwise 3x3, padding below, left and right, 4 channels at 3 x 8: rows of 8 outputs (two
/// groups of four, none left), two rows, the second reading a row of padding.
pub const DEPTHWISE_EVEN: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 4, 3, 8)),
    4,
    Window::square(3).with_padding(BELOW_SIDES),
    4
));
const BELOW_SIDES: Padding = Padding {
    top: 0,
    bottom: 1,
    left: 1,
    right: 1,
};
/// 1x1, 4 -> 3 channels at 7 x 9: whole groups of four elements, so the M4F runs each tile's
/// pairs of positions in one assembly loop (a tile of 32 and one of 31, whose last position
/// is alone; the odd last filter paired with itself).
pub const POINTWISE_4: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 4, 7, 9)),
    3,
    Window::square(1),
    1
));
pub const CONVS: [Conv2d; 12] = [
    ODD,
    WIDE,
    POINTWISE,
    DEPTHWISE,
    STRIDED,
    VALID,
    EDGES,
    DEPTHWISE_EDGE,
    TWO_ROWS,
    DEPTHWISE_WIDE,
    DEPTHWISE_EVEN,
    POINTWISE_4,
];
/// The fully-connected layer: 5 outputs, 11 inputs, 3 samples.
pub const FC: Gemm = ok!(Gemm::new(5, 3, 11));
/// A fully-connected layer longer than the M4F's widened chunk (128 inputs): 3 outputs,
/// 130 inputs, one sample.
pub const FC_LONG: Gemm = ok!(Gemm::new(3, 1, 130));
/// 2 x 2 max pooling, stride 2, over 6 channels at 4 x 10 (five outputs a row: the M4F's
/// four at a time and one more), and 3 x 3 average pooling, stride 2, padding 1, over 8
/// channels at 4 x 6 (TFLite's divisor: the in-bounds taps).
pub const POOL: Pool2d = ok!(Pool2d::new(
    ok!(Shape::new(1, 6, 4, 10)),
    Window::pool(2),
    Rounding::Floor
));
/// The 2x2 stride-2 layer, which has its own loops: two words of four outputs per row and a
/// tail of one, clamped.
pub const AVG_2X2: AvgPool2d = ok!(AvgPool2d::new(
    ok!(Pool2d::new(
        ok!(Shape::new(1, 3, 4, 18)),
        Window::pool(2),
        Rounding::Floor
    )),
    Divisor::CountExcludePad
));

pub const AVG: AvgPool2d = ok!(AvgPool2d::new(
    ok!(Pool2d::new(
        ok!(Shape::new(1, 8, 4, 6)),
        Window::square(3)
            .with_stride(2, 2)
            .with_padding(Padding::uniform(1)),
        Rounding::Floor
    )),
    Divisor::CountExcludePad
));

/// The largest of `conv.$f()` over the convolutions.
macro_rules! most {
    ($f:ident) => {{
        let mut m = 0;
        let mut i = 0;
        while i < CONVS.len() {
            let v = CONVS[i].$f();
            if v > m {
                m = v;
            }
            i += 1;
        }
        m
    }};
}

pub const INPUT: usize = most!(input_len);
pub const WEIGHT: usize = most!(weight_len);
pub const OUTPUT: usize = most!(output_len);
/// Two widened pairs of `ODD`'s patches (45 bytes each: 180 bytes a pair, and 3 for the
/// alignment), one of `WIDE`'s (72 bytes each): less than their full-speed workspaces. (The
/// Cortex-M0 has 16 KiB of RAM.)
pub const SCRATCH: usize = 2 * 45 + 3 + 3 + 2 * 4 * 45;

/// The int8 buffers: `static` in the firmware.
pub struct Int8 {
    pub x: [i8; INPUT],
    pub w: [i8; WEIGHT],
    pub bias: [i32; 8],
    pub y: [i8; OUTPUT],
    pub scratch: [i8; SCRATCH],
    /// `gemm_i8`'s sums.
    pub acc: [i32; 15],
}

impl Int8 {
    pub const fn new() -> Self {
        Int8 {
            x: [0; INPUT],
            w: [0; WEIGHT],
            bias: [0; 8],
            y: [0; OUTPUT],
            scratch: [0; SCRATCH],
            acc: [0; 15],
        }
    }
}

impl Default for Int8 {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-channel multipliers as a converter derives them (scales from about 1/200 to 1/60,
/// shifts differing between neighbours, and channel 6 above 1 for a left shift: runs of 8
/// channels take the M4F's requantization for any multiplier, runs of up to 6 its table of
/// right shifts).
pub const MULTIPLIERS: [Multiplier; 8] = {
    let scales = [0.005, 0.0071, 0.0123, 0.0166, 0.009, 0.004, 1.75, 0.011];
    let mut m = [ok!(Multiplier::new(0, 0)); 8];
    let mut i = 0;
    while i < 8 {
        m[i] = ok!(Multiplier::from_scale(scales[i]));
        i += 1;
    }
    m
};
/// Powers of two, `2^-7` to `2^-10`: multiplier `2^30`, so every odd product is a tie of
/// the first rounding, and the second rounds a quarter of them (TFLite rounds both half
/// away from zero: the nudges that depend on the sign).
pub const TIES: [Multiplier; 8] = {
    let mut m = [ok!(Multiplier::new(0, 0)); 8];
    let mut i = 0;
    while i < 8 {
        m[i] = ok!(Multiplier::from_scale(1.0 / (128 << (i % 4)) as f64));
        i += 1;
    }
    m
};
pub const FLOAT_SCALES: [f32; 8] = [0.005, 0.0071, 0.0123, 0.0166, 0.009, 0.004, 1.75, 0.011];
pub const X_ZP: i8 = -7;
pub const Y_ZP: i8 = 3;
/// The cap of the convolutions' and GEMMs' fused ReLU.
pub const Y_MAX: i8 = 90;

/// The requantization of run `mode` (0: TFLite, 1: single rounding, 2: float, 3: TFLite
/// with [`TIES`] and no clamp) for
/// `channels` output channels, a ReLU capped at [`Y_MAX`] fused (both bounds of the clamp reached).
pub fn quant(mode: usize, channels: usize) -> QuantParams<'static> {
    let m = MULTIPLIERS.get(..channels).unwrap_or_default();
    let requant = match mode {
        0 => Requant::TfLite(m),
        1 => Requant::TfLiteSingleRounding(m),
        3 => Requant::TfLite(TIES.get(..channels).unwrap_or_default()),
        _ => Requant::Float(FLOAT_SCALES.get(..channels).unwrap_or_default()),
    };
    let q = QuantParams::new(X_ZP, requant, Y_ZP);
    if mode == 3 {
        // Negative outputs too: a ReLU would hide how negative ties round.
        return q;
    }
    let relu = Clamp::quantized_relu(Y_ZP);
    q.with_clamp(Clamp { max: Y_MAX, ..relu })
}

/// Every int8 value, from a xorshift32 stream.
pub fn fill_i8(seed: u32, out: &mut [i8]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for v in out {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = (s >> 24) as u8 as i8;
    }
}

/// 2x3, padding 1, 5 -> 3 channels at 6 x 7: kernels of 2 rows (the M4F loads the rows of
/// four channels inside the image at once, the fifth channel's and the edges' one by one).
pub const TWO_ROWS: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 5, 6, 7)),
    3,
    Window::new(2, 3).with_padding(Padding::uniform(1)),
    1
));

/// The convolution runs: (geometry, requantization mode, workspace bytes).
pub const CONV_RUNS: [(Conv2d, usize, usize); 24] = [
    (ODD, 0, ODD.min_scratch_len_i8()),
    // One widened pair and a half: still one pair at a time (on the M0, 6 patches).
    (ODD, 0, 2 * 45 + 3 + 4 * 45 + 3),
    (ODD, 0, SCRATCH),
    (ODD, 1, SCRATCH),
    (ODD, 2, SCRATCH),
    (WIDE, 0, SCRATCH),
    (POINTWISE, 0, SCRATCH),
    (DEPTHWISE, 0, SCRATCH),
    (STRIDED, 0, SCRATCH),
    (VALID, 0, VALID.min_scratch_len_i8()),
    (VALID, 0, SCRATCH),
    (EDGES, 1, SCRATCH),
    (DEPTHWISE_EDGE, 2, SCRATCH),
    (TWO_ROWS, 0, SCRATCH),
    (POINTWISE, 3, SCRATCH),
    (ODD, 3, ODD.min_scratch_len_i8()),
    (DEPTHWISE_EDGE, 0, SCRATCH),
    (DEPTHWISE_WIDE, 0, SCRATCH),
    (DEPTHWISE_WIDE, 3, SCRATCH),
    (DEPTHWISE_EVEN, 3, DEPTHWISE_EVEN.min_scratch_len_i8()),
    (POINTWISE_4, 0, SCRATCH),
    (POINTWISE_4, 3, SCRATCH),
    (POINTWISE_4, 0, POINTWISE_4.min_scratch_len_i8()),
    (WIDE, 3, WIDE.min_scratch_len_i8()),
];

/// Which output `run` hands to its check, in `Int8::y` (and `Int8::acc`).
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Convolution run `CONV_RUNS[i]`.
    Conv(usize),
    /// `gemm_i8_requant` (in `y`) and `gemm_i8` (in `acc`).
    Gemm,
    /// `gemm_i8_requant` of `FC_LONG` (in `y`).
    GemmLong,
    MaxPool,
    AvgPool,
    /// `AVG_2X2`, clamped to `[-60, 50]`.
    AvgPool2x2,
}

/// Runs every int8 kernel, calling `check` after each with what it wrote.
pub fn run<R: Runner>(r: &mut R, b: &mut Int8, mut check: impl FnMut(&mut R, &Int8, Step)) {
    fill_i8(21, &mut b.x);
    fill_i8(22, &mut b.w);
    for (i, v) in b.bias.iter_mut().enumerate() {
        *v = (i as i32 * 7919) % 4001 - 2000;
    }
    for (i, &(conv, mode, scratch)) in CONV_RUNS.iter().enumerate() {
        let q = quant(mode, conv.output().c());
        // Checked slicing: a length the geometry gets wrong is the kernel's error to report.
        let x = b.x.get(..conv.input_len()).unwrap_or_default();
        let w = b.w.get(..conv.weight_len()).unwrap_or_default();
        let bias = b.bias.get(..conv.bias_len()).unwrap_or_default();
        let y = b.y.get_mut(..conv.output_len()).unwrap_or_default();
        let s = b.scratch.get_mut(..scratch).unwrap_or_default();
        r.kernel("int8 conv2d_i8", || {
            conv2d_i8(opaque(&conv), x, w, Some(bias), opaque(&q), opaque(y), s)
        });
        check(r, b, Step::Conv(i));
    }
    const SIZES: (usize, usize, usize) = (FC.m(), FC.n(), FC.k());
    let (m, n, k) = SIZES;
    let q = quant(0, m);
    let (w, x) = (&b.w[..m * k], &b.x[..k * n]);
    let bias = &b.bias[..m];
    let y = &mut b.y[..m * n];
    r.kernel("int8 gemm_i8_requant", || {
        let w = MatRef::row_major(opaque(w), m, k)?;
        // The inputs as TFLite holds them, one sample per row: `x` transposed.
        let x = MatRef::new(opaque(x), k, n, 1, k)?;
        gemm_i8_requant(
            &FC,
            w,
            x,
            Some(bias),
            &q,
            MatMut::row_major(opaque(y), m, n)?,
        )
    });
    let acc = &mut b.acc[..];
    r.kernel("int8 gemm_i8", || {
        let a = MatRef::row_major(opaque(b.w.get(..m * k).unwrap_or_default()), m, k)?;
        let x = MatRef::row_major(opaque(b.x.get(..k * n).unwrap_or_default()), k, n)?;
        gemm_i8(&FC, a, 5, x, -100, MatMut::row_major(opaque(acc), m, n)?)
    });
    check(r, b, Step::Gemm);
    const LONG: (usize, usize, usize) = (FC_LONG.m(), FC_LONG.n(), FC_LONG.k());
    let (m, n, k) = LONG;
    let q = quant(0, m);
    let (w, x) = (&b.w[..m * k], &b.x[..k * n]);
    let bias = &b.bias[..m];
    let y = &mut b.y[..m * n];
    r.kernel("int8 gemm_i8_requant, long", || {
        let w = MatRef::row_major(opaque(w), m, k)?;
        let x = MatRef::new(opaque(x), k, n, 1, k)?;
        gemm_i8_requant(
            &FC_LONG,
            w,
            x,
            Some(bias),
            &q,
            MatMut::row_major(opaque(y), m, n)?,
        )
    });
    check(r, b, Step::GemmLong);
    let y = &mut b.y[..POOL.output_len()];
    let clamp = Some(Clamp { min: -100, max: 90 });
    r.kernel("int8 max_pool2d_i8", || {
        max_pool2d_i8(opaque(&POOL), &b.x[..POOL.input_len()], clamp, opaque(y))
    });
    check(r, b, Step::MaxPool);
    let y = &mut b.y[..AVG.pool().output_len()];
    r.kernel("int8 avg_pool2d_i8", || {
        avg_pool2d_i8(
            opaque(&AVG),
            &b.x[..AVG.pool().input_len()],
            None,
            opaque(y),
        )
    });
    check(r, b, Step::AvgPool);
    let y = &mut b.y[..AVG_2X2.pool().output_len()];
    let clamp = Some(Clamp { min: -60, max: 50 });
    r.kernel("int8 avg_pool2d_i8 2x2", || {
        avg_pool2d_i8(
            opaque(&AVG_2X2),
            &b.x[..AVG_2X2.pool().input_len()],
            clamp,
            opaque(y),
        )
    });
    check(r, b, Step::AvgPool2x2);
}
