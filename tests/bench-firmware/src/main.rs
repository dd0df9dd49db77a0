//! Counts the instructions each of `nchw`'s kernels executes on an emulated Cortex-M4F.
//!
//! Every kernel runs once between two marker calls, [`bench_start`] and [`bench_stop`]: a
//! QEMU TCG plugin (`count.c`, built and loaded by `.ci/mcu-bench`) counts every instruction
//! executed and writes the count between the two markers' entries, one line per region. The
//! firmware prints, in the same order, one line per region over semihosting:
//!
//! ```text
//! bench <kernel> <workspace> <units> <unit> <workspace bytes>
//! ```
//!
//! The first region is empty (the cost of measuring), the script subtracts it; the second
//! calls a loop of known length, to check the counter. Counts are deterministic: the same
//! binary always executes the same instructions.
//!
//! ```text
//! cd tests/bench-firmware
//! cargo run --release      # runs every kernel once, without counting
//! ../../.ci/mcu-bench      # builds at opt-level s and 3, counts, compares to counts.txt
//! ```
#![no_std]
#![no_main]

#[path = "../../firmware/src/rt.rs"]
mod rt;
#[path = "../../firmware/src/semihosting.rs"]
mod semihosting;

use core::arch::global_asm;
use core::hint::black_box as opaque;

use nchw::{avg_pool2d, avg_pool2d_i8, conv2d, conv2d_i8, gemm, gemm_i8_requant, max_pool2d};
use nchw::{max_pool2d_i8, Multiplier, QuantParams, Requant};
use nchw::{AvgPool2d, Clamp, Conv2d, Divisor, Error, Gemm, MatMut, MatRef, Padding, Pool2d};
use nchw::{Rounding, Shape, Window};
use semihosting::{write_str, write_u32};

/// Unwraps a geometry at compile time (a bad one is a build error, not a runtime panic).
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => panic!(concat!("bad geometry: ", stringify!($e))),
        }
    };
}

// The markers: leaf functions in assembly, so that each has its own address (no merging of
// identical functions) and the compiler treats them as opaque calls. The plugin reads the
// instruction count when execution reaches their first instruction.
global_asm!(
    ".section .text.bench_start, \"ax\"",
    ".global bench_start",
    ".type bench_start, %function",
    ".thumb_func",
    "bench_start:",
    "    bx lr",
    ".section .text.bench_stop, \"ax\"",
    ".global bench_stop",
    ".type bench_stop, %function",
    ".thumb_func",
    "bench_stop:",
    "    bx lr",
    // 2003 instructions, the call included: checks that the counter counts every one.
    ".section .text.bench_calibrate, \"ax\"",
    ".global bench_calibrate",
    ".type bench_calibrate, %function",
    ".thumb_func",
    "bench_calibrate:",
    "    ldr r0, =1000", // one instruction on both cores (a literal load)
    "1:  subs r0, r0, #1",
    "    bne 1b",
    "    bx lr",
    ".ltorg",
);

extern "C" {
    /// Marks the start of a counted region.
    fn bench_start();
    /// Marks the end of a counted region.
    fn bench_stop();
    /// Executes a known number of instructions (see the assembly).
    fn bench_calibrate();
}

/// 3 x 3 convolution, one ring of zero padding, `cin -> cout` channels at `hw x hw`.
const fn conv3x3(cin: usize, cout: usize, hw: usize) -> Conv2d {
    let same = Window::square(3).with_padding(Padding::uniform(1));
    ok!(Conv2d::new(ok!(Shape::new(1, cin, hw, hw)), cout, same, 1))
}

const CONV_8: Conv2d = conv3x3(8, 8, 16);
const CONV_16: Conv2d = conv3x3(16, 16, 8);
const CONV_3: Conv2d = conv3x3(3, 16, 32);
/// 1 x 1 convolution, 16 -> 16 channels at 16 x 16.
const POINTWISE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 16, 16, 16)),
    16,
    Window::square(1),
    1
));
/// Depthwise 3 x 3, 16 channels at 16 x 16, one ring of padding.
const DEPTHWISE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 16, 16, 16)),
    16,
    Window::square(3).with_padding(Padding::uniform(1)),
    16
));
/// GEMM `M x K` by `K x N`.
const M: usize = 32;
const N: usize = 64;
const K: usize = 64;
const GEMM: Gemm = ok!(Gemm::new(M, N, K));
/// 2 x 2 pooling with stride 2 over 16 channels at 16 x 16.
const POOL: Pool2d = ok!(Pool2d::new(
    ok!(Shape::new(1, 16, 16, 16)),
    Window::pool(2),
    Rounding::Floor
));
const AVG: AvgPool2d = ok!(AvgPool2d::new(POOL, Divisor::CountIncludePad));
/// TFLite's int8 average pooling divides by the in-bounds taps.
const AVG_I8: AvgPool2d = ok!(AvgPool2d::new(POOL, Divisor::CountExcludePad));

/// The int8 layers of issue 13: the float convolutions but the 3 -> 16 one.
const CONVS_I8: [(&str, Conv2d); 4] = [
    ("i8_conv3x3_8to8_16x16", CONV_8),
    ("i8_conv3x3_16to16_8x8", CONV_16),
    ("i8_conv1x1_16to16_16x16", POINTWISE),
    ("i8_depthwise3x3_16ch_16x16", DEPTHWISE),
];

/// Per-channel TFLite multipliers, as a converter derives them (scales near 1/256 and
/// 1/128, so that the outputs spread over the int8 range).
const MULTIPLIERS: [Multiplier; 16] = {
    let mut m = [ok!(Multiplier::new(0, 0)); 16];
    let mut i = 0;
    while i < 16 {
        m[i] = ok!(Multiplier::from_scale(0.0029 + 0.0007 * i as f64));
        i += 1;
    }
    m
};
/// Input zero point -3, output zero point 5, ReLU: every part of the requantization runs;
/// one multiplier per output channel.
fn quant(channels: usize) -> QuantParams<'static> {
    QuantParams::new(-3, Requant::TfLite(&MULTIPLIERS[..channels]), 5)
        .with_clamp(Clamp::quantized_relu(5))
}
/// The same with one multiplier (the GEMM's 32 rows, per-tensor).
const QUANT_TENSOR: QuantParams<'static> =
    QuantParams::new(-3, Requant::TfLite(MULTIPLIERS.split_at(1).0), 5)
        .with_clamp(Clamp::quantized_relu(5));

/// 5 x 5, padding 2, 8 -> 8 channels at 16 x 16: the im2col path.
const WIDE: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 8, 16, 16)),
    8,
    Window::square(5).with_padding(Padding::uniform(2)),
    1
));
/// 3 x 3 with stride 2, padding 1, 8 -> 16 channels at 16 x 16: the im2col path.
const STRIDED: Conv2d = ok!(Conv2d::new(
    ok!(Shape::new(1, 8, 16, 16)),
    16,
    Window::square(3)
        .with_padding(Padding::uniform(1))
        .with_stride(2, 2),
    1
));

const CONVS: [(&str, Conv2d); 7] = [
    ("conv3x3_8to8_16x16", CONV_8),
    ("conv3x3_16to16_8x8", CONV_16),
    ("conv3x3_3to16_32x32", CONV_3),
    ("conv1x1_16to16_16x16", POINTWISE),
    ("depthwise3x3_16ch_16x16", DEPTHWISE),
    ("conv5x5_8to8_16x16", WIDE),
    ("conv3x3s2_8to16_16x16", STRIDED),
];

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The largest of `conv.$f()` over the convolutions.
macro_rules! most {
    ($($f:tt)*) => {{
        let mut m = 0;
        let mut i = 0;
        while i < CONVS.len() {
            m = max(m, CONVS[i].1.$($f)*());
            i += 1;
        }
        m
    }};
}

const INPUT: usize = max(max(most!(input_len), M * K), POOL.input_len());
const WEIGHT: usize = max(most!(weight_len), K * N);
const BIAS: usize = most!(bias_len);
/// Twice the largest output: the kernel's and the naive loops' side by side.
const OUTPUT: usize = 2 * max(max(most!(output_len), M * N), POOL.output_len());
const SCRATCH: usize = max(most!(scratch_len::<f32>), GEMM.scratch_len::<f32>());

/// Every buffer, shared by the kernels, in `.bss`.
struct Buffers {
    input: [f32; INPUT],
    weight: [f32; WEIGHT],
    bias: [f32; BIAS],
    output: [f32; OUTPUT],
    scratch: [f32; SCRATCH],
}

static mut BUFFERS: Buffers = Buffers {
    input: [0.0; INPUT],
    weight: [0.0; WEIGHT],
    bias: [0.0; BIAS],
    output: [0.0; OUTPUT],
    scratch: [0.0; SCRATCH],
};

const SCRATCH_I8: usize = {
    let mut m = 0;
    let mut i = 0;
    while i < CONVS_I8.len() {
        m = max(m, CONVS_I8[i].1.scratch_len_i8());
        i += 1;
    }
    m
};

/// The int8 kernels' buffers, in `.bss`.
struct BuffersI8 {
    input: [i8; INPUT],
    weight: [i8; WEIGHT],
    bias: [i32; max(BIAS, M)],
    output: [i8; OUTPUT],
    scratch: [i8; SCRATCH_I8],
}

static mut BUFFERS_I8: BuffersI8 = BuffersI8 {
    input: [0; INPUT],
    weight: [0; WEIGHT],
    bias: [0; max(BIAS, M)],
    output: [0; OUTPUT],
    scratch: [0; SCRATCH_I8],
};

/// Fills `out` with every int8 value, from a xorshift32 stream seeded `seed`.
fn fill_i8(seed: u32, out: &mut [i8]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for v in out {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = (s >> 24) as u8 as i8;
    }
}

/// FNV-1a over bytes.
fn checksum_i8(values: &[i8]) -> u32 {
    values.iter().fold(0x811C_9DC5, |h: u32, &v| {
        (h ^ u32::from(v as u8)).wrapping_mul(0x0100_0193)
    })
}

/// Fills `out` with multiples of 1/2 in `-2.0..=2.0` from a xorshift32 stream seeded `seed`.
fn fill(seed: u32, out: &mut [f32]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for v in out {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = ((s >> 8) % 9) as f32 * 0.5 - 2.0;
    }
}

/// FNV-1a over the bit patterns, with -0.0 counted as +0.0.
fn checksum(values: &[f32]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for v in values {
        for byte in (v + 0.0).to_bits().to_le_bytes() {
            h = (h ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// False, with a message, unless the minimum-workspace run wrote what the full one did.
/// The inputs are small multiples of 1/2, so every sum is exact in any order: both runs
/// (different kernels: the assembly GEMM tile whole or through its edge path, the GEMM
/// without scratch, the depthwise kernels) must agree bit for bit.
fn agree(kernel: &str, full: u32, min: u32) -> bool {
    if full != min {
        write_str("FAIL: ");
        write_str(kernel);
        write_str(": the full and the minimum workspace give different outputs\n");
    }
    full == min
}

/// The forward convolution straight from its definition (any groups, stride, dilation,
/// padding): `clamp(bias + sum of w * x)`, padding read as zero.
fn naive(
    conv: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    clamp: Option<Clamp<f32>>,
    y: &mut [f32],
) {
    let (i, o, win) = (conv.input(), conv.output(), conv.window());
    let p = win.padding;
    let (cg, ocg) = (i.c() / conv.groups(), o.c() / conv.groups());
    for n in 0..o.n() {
        for oc in 0..o.c() {
            let g = oc / ocg;
            for oh in 0..o.h() {
                for ow in 0..o.w() {
                    let mut acc = 0.0f32;
                    for c in 0..cg {
                        for kh in 0..win.kernel_h {
                            for kw in 0..win.kernel_w {
                                let ih = (oh * win.stride_h + kh * win.dilation_h) as isize
                                    - p.top as isize;
                                let iw = (ow * win.stride_w + kw * win.dilation_w) as isize
                                    - p.left as isize;
                                let inside = ih >= 0
                                    && iw >= 0
                                    && (ih as usize) < i.h()
                                    && (iw as usize) < i.w();
                                let v = if inside {
                                    x[i.index(n, g * cg + c, ih as usize, iw as usize)]
                                } else {
                                    0.0
                                };
                                acc +=
                                    w[((oc * cg + c) * win.kernel_h + kh) * win.kernel_w + kw] * v;
                            }
                        }
                    }
                    if let Some(b) = bias {
                        acc += b[oc];
                    }
                    if let Some(c) = clamp {
                        acc = c.apply(acc);
                    }
                    y[o.index(n, oc, oh, ow)] = acc;
                }
            }
        }
    }
}

/// False, with a message, unless `got` equals the naive loops' result (computed into
/// `want`). The inputs are small multiples of 1/2, so every sum is exact.
fn matches(kernel: &str, got: &[f32], want: &[f32]) -> bool {
    let ok = got.iter().zip(want).all(|(a, b)| a == b);
    if !ok {
        write_str("FAIL: ");
        write_str(kernel);
        write_str(": differs from the naive loops\n");
    }
    ok
}

/// Geometries checked against the naive loops but not counted: the edges of the direct
/// kernels (3 x 3 and 1 x 1; widths and channel counts not multiples of 4, one-sided and no padding, one
/// input row, groups, depthwise with multipliers, a batch) and every clamp and bias
/// combination.
const fn checked(
    k: usize,
    n: usize,
    c: usize,
    hw: (usize, usize),
    oc: usize,
    pad: (usize, usize, usize, usize),
    groups: usize,
) -> Conv2d {
    let p = Padding {
        top: pad.0,
        bottom: pad.1,
        left: pad.2,
        right: pad.3,
    };
    let win = Window::square(k).with_padding(p);
    ok!(Conv2d::new(
        ok!(Shape::new(n, c, hw.0, hw.1)),
        oc,
        win,
        groups
    ))
}

const CHECKED: [Conv2d; 19] = [
    checked(3, 1, 2, (5, 7), 5, (1, 1, 1, 1), 1),
    checked(3, 2, 3, (4, 6), 4, (0, 1, 1, 0), 1),
    checked(3, 1, 4, (1, 4), 6, (1, 1, 1, 1), 1),
    checked(3, 1, 4, (3, 9), 8, (1, 0, 0, 1), 2),
    checked(3, 1, 5, (6, 6), 7, (0, 0, 0, 0), 1),
    checked(3, 1, 2, (2, 5), 4, (1, 1, 0, 0), 1),
    checked(3, 1, 3, (7, 13), 9, (1, 1, 1, 1), 1),
    checked(3, 2, 6, (3, 5), 12, (0, 1, 1, 1), 3),
    checked(3, 1, 4, (5, 8), 4, (1, 1, 1, 1), 4),
    checked(3, 2, 3, (1, 4), 6, (1, 1, 1, 1), 3),
    checked(3, 1, 3, (4, 9), 3, (1, 0, 0, 1), 3),
    checked(3, 1, 2, (6, 6), 4, (0, 0, 0, 0), 2),
    checked(3, 1, 2, (3, 12), 16, (0, 1, 1, 0), 2),
    checked(3, 1, 3, (7, 14), 3, (1, 1, 1, 1), 3),
    checked(3, 2, 2, (2, 7), 4, (1, 1, 0, 1), 2),
    checked(1, 1, 3, (3, 5), 5, (0, 0, 0, 0), 1),
    checked(1, 2, 4, (2, 2), 4, (0, 0, 0, 0), 1),
    checked(1, 1, 6, (3, 3), 8, (0, 0, 0, 0), 2),
    checked(1, 1, 1, (4, 3), 7, (0, 0, 0, 0), 1),
];

/// Products checked against the naive loops without scratch (the Cortex-M4F's in-place
/// `4 x 4` tiles, their edges, and the layouts they leave to the dot products):
/// `(m, n, k, row padding of every operand, alpha, beta, layout)`, the layout 0 (every
/// operand row-major), 1 (C column-major) or 2 (B column-major).
type Product = (usize, usize, usize, usize, f32, f32, u8);
const PRODUCTS: [Product; 13] = [
    (4, 4, 1, 0, 1.0, 0.0, 0),
    (4, 8, 7, 0, 1.0, 0.0, 0),
    (8, 12, 9, 3, 0.5, 0.0, 0),
    (5, 7, 3, 0, 1.0, -1.5, 0),
    (13, 6, 17, 1, 2.0, 1.0, 0),
    (12, 16, 16, 0, -0.5, 2.0, 0),
    (9, 10, 8, 2, 1.0, 0.5, 1),
    (3, 3, 5, 0, 1.0, 0.0, 0),
    (7, 4, 2, 5, 1.0, 0.0, 1),
    (M, N, K, 0, 1.0, 0.0, 0),
    (8, 1, 13, 0, 1.0, 0.0, 0),
    (9, 6, 11, 1, 1.0, 0.5, 2),
    (4, 3, 5, 0, 2.0, 0.0, 2),
];

/// Runs `gemm` on `product` without scratch and compares C to the naive loops (C starts as
/// NaN when `beta == 0`, which must never read it).
fn check_product(b: &mut Buffers, seed: u32, product: Product) -> bool {
    let (m, n, k, pad, alpha, beta, layout) = product;
    let (col_c, col_b) = (layout == 1, layout == 2);
    // B column-major: column `j` at `j * ldb`.
    let (lda, ldb) = (k + pad, if col_b { k + pad } else { n + pad });
    let b_len = if col_b { n * ldb } else { k * ldb };
    let (ldc, c_len) = if col_c {
        (m + pad, n * (m + pad))
    } else {
        (n + pad, m * (n + pad))
    };
    let (a, w) = (&b.input[..m * lda], &b.weight[..b_len]);
    let (got, rest) = b.output.split_at_mut(OUTPUT / 2);
    let (got, want) = (&mut got[..c_len], &mut rest[..c_len]);
    if beta == 0.0 {
        got.fill(f32::NAN);
    } else {
        fill(seed, got);
    }
    want.copy_from_slice(got);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                acc += a[i * lda + p] * w[if col_b { j * ldb + p } else { p * ldb + j }];
            }
            let at = if col_c { j * ldc + i } else { i * ldc + j };
            want[at] = if beta == 0.0 {
                alpha * acc
            } else {
                alpha * acc + beta * want[at]
            };
        }
    }
    let run = (|| {
        let av = MatRef::new(a, m, k, lda, 1)?;
        let wv = if col_b {
            MatRef::new(w, k, n, 1, ldb)?
        } else {
            MatRef::new(w, k, n, ldb, 1)?
        };
        let cv = if col_c {
            MatMut::new(&mut got[..], m, n, 1, ldc)?
        } else {
            MatMut::new(&mut got[..], m, n, ldc, 1)?
        };
        gemm(&Gemm::new(m, n, k)?, alpha, av, wv, beta, cv, &mut [])
    })();
    // The padding between rows stays NaN on both sides: compare NaN as equal to NaN.
    let same = got
        .iter()
        .zip(want.iter())
        .all(|(g, w)| g == w || g.is_nan() && w.is_nan());
    if !same {
        write_str("FAIL: gemm without scratch: differs from the naive loops\n");
    }
    run.is_ok() && same
}

/// Runs `call` between the markers and prints its line; false if the kernel failed.
#[inline(never)]
fn region(
    kernel: &str,
    workspace: &str,
    units: usize,
    unit: &str,
    workspace_bytes: usize,
    call: impl FnOnce() -> Result<(), Error>,
) -> bool {
    // SAFETY: the markers are leaf functions that only return.
    unsafe { bench_start() };
    let result = call();
    // SAFETY: as above.
    unsafe { bench_stop() };
    write_str("bench ");
    write_str(kernel);
    write_str(" ");
    write_str(workspace);
    write_str(" ");
    write_u32(units as u32, 0);
    write_str(" ");
    write_str(unit);
    write_str(" ");
    write_u32(workspace_bytes as u32, 0);
    write_str("\n");
    if result.is_err() {
        write_str("FAIL: the kernel returned an error\n");
    }
    result.is_ok()
}

fn main() -> u32 {
    // SAFETY: the only reference to BUFFERS, taken once; there are no interrupts or threads.
    let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    fill(1, &mut b.input);
    fill(2, &mut b.weight);
    fill(3, &mut b.bias);
    let mut failed = 0;
    let mut count = |ok: bool| failed += u32::from(!ok);

    count(region("empty", "none", 1, "call", 0, || Ok(())));
    count(region("calibration", "none", 1, "call", 0, || {
        // SAFETY: a leaf that only clobbers r0 and the flags, which the C ABI allows.
        unsafe { bench_calibrate() };
        Ok(())
    }));
    for (name, conv) in CONVS {
        let mut sums = [0u32; 2];
        for (run, (workspace, len)) in [
            ("full", conv.scratch_len::<f32>()),
            ("min", conv.min_scratch_len()),
        ]
        .into_iter()
        .enumerate()
        {
            let (input, weight, bias) = (
                &b.input[..conv.input_len()],
                &b.weight[..conv.weight_len()],
                &b.bias[..conv.bias_len()],
            );
            let output = &mut b.output[..conv.output_len()];
            let scratch = &mut b.scratch[..len];
            count(region(name, workspace, conv.macs(), "mac", len * 4, || {
                conv2d(
                    opaque(&conv),
                    opaque(input),
                    opaque(weight),
                    opaque(Some(bias)),
                    opaque(Some(Clamp::relu())),
                    opaque(output),
                    opaque(scratch),
                )
            }));
            sums[run] = checksum(&b.output[..conv.output_len()]);
        }
        count(agree(name, sums[0], sums[1]));
        let (got, rest) = b.output.split_at_mut(conv.output_len());
        let want = &mut rest[..conv.output_len()];
        naive(
            &conv,
            &b.input[..conv.input_len()],
            &b.weight[..conv.weight_len()],
            Some(&b.bias[..conv.bias_len()]),
            Some(Clamp::relu()),
            want,
        );
        count(matches(name, got, want));
    }
    for (i, conv) in CHECKED.iter().enumerate() {
        let (input, weight, bias) = (
            &b.input[..conv.input_len()],
            &b.weight[..conv.weight_len()],
            &b.bias[..conv.bias_len()],
        );
        let bias = [None, Some(bias)][i % 2];
        let clamp = [None, Some(Clamp::relu()), Some(Clamp::new(-1.0, 1.5))][i % 3];
        let (got, rest) = b.output.split_at_mut(conv.output_len());
        let want = &mut rest[..conv.output_len()];
        got.fill(f32::NAN);
        let run = conv2d(
            conv,
            input,
            weight,
            bias,
            clamp,
            got,
            &mut b.scratch[..conv.min_scratch_len()],
        );
        naive(conv, input, weight, bias, clamp, want);
        count(run.is_ok() && matches("checked", got, want));
    }
    let mut sums = [0u32; 2];
    for (run, (workspace, len)) in [("full", GEMM.scratch_len::<f32>()), ("min", 0)]
        .into_iter()
        .enumerate()
    {
        let (a, w) = (&b.input[..M * K], &b.weight[..K * N]);
        let c = &mut b.output[..M * N];
        let scratch = &mut b.scratch[..len];
        count(region(
            "gemm_32x64x64",
            workspace,
            M * N * K,
            "mac",
            len * 4,
            || {
                let a = MatRef::row_major(opaque(a), M, K)?;
                let w = MatRef::row_major(opaque(w), K, N)?;
                let c = MatMut::row_major(opaque(c), M, N)?;
                gemm(opaque(&GEMM), 1.0, a, w, 0.0, c, opaque(scratch))
            },
        ));
        sums[run] = checksum(&b.output[..M * N]);
    }
    count(agree("gemm_32x64x64", sums[0], sums[1]));
    for (i, &product) in PRODUCTS.iter().enumerate() {
        let ok = check_product(b, 20 + i as u32, product);
        if !ok {
            write_str("  (product ");
            write_u32(i as u32, 0);
            write_str(")\n");
        }
        count(ok);
    }
    let (input, output) = (
        &b.input[..POOL.input_len()],
        &mut b.output[..POOL.output_len()],
    );
    count(region(
        "maxpool2x2s2_16ch_16x16",
        "none",
        POOL.output_len(),
        "output",
        0,
        || max_pool2d(opaque(&POOL), opaque(input), opaque(&mut output[..])),
    ));
    count(region(
        "avgpool2x2s2_16ch_16x16",
        "none",
        POOL.output_len(),
        "output",
        0,
        || avg_pool2d(opaque(&AVG), opaque(input), opaque(&mut output[..])),
    ));
    int8(&mut count);
    write_str("done\n");
    failed
}

/// The int8 kernels (issue 13), TFLite requantization: convolutions with the full and the
/// minimum workspace (which must agree byte for byte), the fully-connected GEMM with the
/// input given transposed (`arm_nn_mat_mult_nt_t_s8`'s layout), max and average pooling.
/// `count` takes every check's result.
fn int8(count: &mut impl FnMut(bool)) {
    // SAFETY: the only reference to BUFFERS_I8, taken once; no interrupts or threads.
    let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS_I8) };
    fill_i8(4, &mut b.input);
    fill_i8(5, &mut b.weight);
    for (i, v) in b.bias.iter_mut().enumerate() {
        *v = (i as i32 * 337) % 2001 - 1000;
    }
    for (name, conv) in CONVS_I8 {
        let mut sums = [0u32; 2];
        for (run, (workspace, len)) in [
            ("full", conv.scratch_len_i8()),
            ("min", conv.min_scratch_len_i8()),
        ]
        .into_iter()
        .enumerate()
        {
            let (input, weight, bias) = (
                &b.input[..conv.input_len()],
                &b.weight[..conv.weight_len()],
                &b.bias[..conv.bias_len()],
            );
            let output = &mut b.output[..conv.output_len()];
            let scratch = &mut b.scratch[..len];
            count(region(name, workspace, conv.macs(), "mac", len, || {
                conv2d_i8(
                    opaque(&conv),
                    opaque(input),
                    opaque(weight),
                    opaque(Some(bias)),
                    opaque(&quant(conv.output().c())),
                    opaque(output),
                    opaque(scratch),
                )
            }));
            sums[run] = checksum_i8(&b.output[..conv.output_len()]);
        }
        count(agree(name, sums[0], sums[1]));
    }
    let (w, x) = (&b.weight[..M * K], &b.input[..K * N]);
    let c = &mut b.output[..M * N];
    count(region(
        "i8_gemm_32x64x64",
        "none",
        M * N * K,
        "mac",
        0,
        || {
            let w = MatRef::row_major(opaque(w), M, K)?;
            // The inputs as `arm_nn_mat_mult_nt_t_s8` takes them: one sample per row.
            let x = MatRef::new(opaque(x), K, N, 1, K)?;
            let c = MatMut::row_major(opaque(c), M, N)?;
            gemm_i8_requant(
                opaque(&GEMM),
                w,
                x,
                opaque(Some(&b.bias[..M])),
                opaque(&QUANT_TENSOR),
                c,
            )
        },
    ));
    let (input, output) = (
        &b.input[..POOL.input_len()],
        &mut b.output[..POOL.output_len()],
    );
    count(region(
        "i8_maxpool2x2s2_16ch_16x16",
        "none",
        POOL.output_len(),
        "output",
        0,
        || max_pool2d_i8(opaque(&POOL), opaque(input), None, opaque(&mut output[..])),
    ));
    count(region(
        "i8_avgpool2x2s2_16ch_16x16",
        "none",
        POOL.output_len(),
        "output",
        0,
        || {
            avg_pool2d_i8(
                opaque(&AVG_I8),
                opaque(input),
                None,
                opaque(&mut output[..]),
            )
        },
    ));
}
