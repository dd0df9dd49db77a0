//! The network the firmware runs, shared word for word with the host test
//! `tests/firmware_checksum.rs`, so that both compute the same thing from the same inputs.
//!
//! Inputs are small multiples of 1/2, so every product and sum below is exact in `f32`
//! (magnitudes stay far below 2^24): any summation order, FMA or not, gives bit-identical
//! results, and the checksums of the host and of both MCUs must agree exactly.
//!
//! Every kernel call goes through [`Runner::kernel`] with its arguments passed through
//! [`opaque`], so the optimizer cannot specialise a kernel on the known shapes: the flash and
//! panic-freedom figures hold for any geometry.

use core::hint::black_box as opaque;

use nchw::{avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward};
use nchw::{conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter};
use nchw::{
    crop, max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, pad,
};
use nchw::{Accum, AvgPool2d, Clamp, Conv2d, Divisor, Error, Pad, Padding, Pool2d, Rounding};
use nchw::{Shape, Window};

/// Input: 2 images of 2 channels, 6 x 6.
pub const X: Shape = ok!(Shape::new(2, 2, 6, 6));
/// One ring of zero padding: 8 x 8.
pub const PAD: Pad = ok!(Pad::new(X, Padding::uniform(1)));
/// The padded input.
pub const XP: Shape = PAD.output();
/// 3 x 3 convolution, 2 -> 4 channels, over the padded input (so no padding of its own).
pub const CONV: Conv2d = ok!(Conv2d::new(XP, 4, Window::square(3), 1));
/// Its output: 2 x 4 x 6 x 6.
pub const Y: Shape = CONV.output();
/// The convolution's workspace: 8 im2col columns, so the 36 columns of an image run as
/// tiles of 8, 8, 8, 8 and 4 (the full-speed size would be [`Conv2d::scratch_len`]).
pub const SCRATCH: usize = 8 * CONV.min_scratch_len();
/// 2 x 2 max pooling, stride 2.
pub const POOL: Pool2d = ok!(Pool2d::new(
    Y,
    Window::square(2).with_stride(2, 2),
    Rounding::Floor
));
/// Its output: 2 x 4 x 3 x 3.
pub const P: Shape = POOL.output();
/// Depthwise 3 x 3 convolution with one ring of padding (`groups == channels`).
pub const DEPTHWISE: Conv2d = ok!(Conv2d::new(
    P,
    P.c(),
    Window::square(3).with_padding(Padding::uniform(1)),
    P.c()
));
/// Depthwise output: 2 x 4 x 3 x 3.
pub const Z: Shape = DEPTHWISE.output();
/// 2 x 2 average pooling, stride 1 (every divisor is 4, so the means are exact).
pub const AVG: AvgPool2d = ok!(AvgPool2d::new(
    ok!(Pool2d::new(Z, Window::square(2), Rounding::Floor)),
    Divisor::CountIncludePad
));
/// Its output: 2 x 4 x 2 x 2, averaged to one value per plane by global average pooling.
pub const A: Shape = AVG.pool().output();
/// Global average pooling output: one value per (image, channel).
pub const G: usize = A.n() * A.c();
/// Learning rate of the training step (a power of two, so the update is exact).
pub const LR: f32 = 0.125;

/// A window from plain numbers: `[h, w]` kernel, stride, dilation; padding `[top, bottom,
/// left, right]`. The feature checks' references read the same numbers, not the crate's.
const fn window(k: [usize; 2], s: [usize; 2], d: [usize; 2], p: [usize; 4]) -> Window {
    Window::new(k[0], k[1])
        .with_stride(s[0], s[1])
        .with_dilation(d[0], d[1])
        .with_padding(Padding {
            top: p[0],
            bottom: p[1],
            left: p[2],
            right: p[3],
        })
}

/// The feature checks' input: 1 x 2 x 5 x 5.
pub const FX: Shape = ok!(Shape::new(1, 2, 5, 5));
/// A convolution with what the network lacks, as `(kernel, stride, dilation, padding, out
/// channels, groups)`: stride 2, dilation 2, asymmetric padding, two groups.
pub const FC: ([usize; 2], [usize; 2], [usize; 2], [usize; 4], usize, usize) =
    ([3, 2], [2, 1], [1, 2], [1, 0, 2, 1], 4, 2);
/// That convolution (im2col + GEMM path).
pub const FCONV: Conv2d = ok!(Conv2d::new(FX, FC.4, window(FC.0, FC.1, FC.2, FC.3), FC.5));
/// A depthwise convolution with channel multiplier 2 and asymmetric padding.
pub const FD: ([usize; 2], [usize; 2], [usize; 2], [usize; 4], usize, usize) =
    ([3, 3], [1, 1], [1, 1], [0, 1, 1, 0], 4, 2);
/// That convolution (the direct depthwise kernel).
pub const FDW: Conv2d = ok!(Conv2d::new(FX, FD.4, window(FD.0, FD.1, FD.2, FD.3), FD.5));
/// Max pooling in ceil mode with dilation 2 along the width and asymmetric padding.
pub const FM: ([usize; 2], [usize; 2], [usize; 2], [usize; 4]) =
    ([3, 3], [2, 2], [1, 2], [1, 0, 0, 1]);
/// That pooling.
pub const FMAX: Pool2d = ok!(Pool2d::new(
    FX,
    window(FM.0, FM.1, FM.2, FM.3),
    Rounding::Ceil
));
/// Average pooling in ceil mode with asymmetric padding, for every divisor.
pub const FA: ([usize; 2], [usize; 2], [usize; 2], [usize; 4]) =
    ([3, 3], [2, 2], [1, 1], [1, 0, 0, 1]);
/// That pooling.
pub const FAVG: Pool2d = ok!(Pool2d::new(
    FX,
    window(FA.0, FA.1, FA.2, FA.3),
    Rounding::Ceil
));
/// The divisors, in the order the feature checks run them: `Override(4)` last (the one the
/// backward pass uses: a quarter of a multiple of 1/2 is exact).
pub const DIVISORS: [Divisor; 3] = [
    Divisor::CountIncludePad,
    Divisor::CountExcludePad,
    Divisor::Override(4),
];

/// The trainable parameters.
#[derive(Clone, Copy)]
pub struct Params {
    /// Convolution weights `(4, 2, 3, 3)`.
    pub w: [f32; CONV.weight_len()],
    /// Convolution bias.
    pub b: [f32; CONV.bias_len()],
    /// Depthwise weights `(4, 1, 3, 3)`.
    pub wd: [f32; DEPTHWISE.weight_len()],
    /// Depthwise bias.
    pub bd: [f32; DEPTHWISE.bias_len()],
}

/// Every buffer of the network: `static` in the firmware, sized by the crate's `const fn`s.
/// Gradients are named after what they are the gradient of (`dy` is dLoss/dy).
pub struct Buffers {
    /// Input.
    pub x: [f32; X.len()],
    /// Padded input.
    pub x_pad: [f32; XP.len()],
    /// Parameters.
    pub params: Params,
    /// The convolution's workspace.
    pub scratch: [f32; SCRATCH],
    /// Convolution output, after bias and ReLU.
    pub y: [f32; Y.len()],
    /// Max-pooled.
    pub p: [f32; POOL.output_len()],
    /// Where each maximum came from.
    pub idx: [u32; POOL.indices_len()],
    /// Depthwise output.
    pub z: [f32; Z.len()],
    /// Average-pooled.
    pub a: [f32; A.len()],
    /// Globally average-pooled: the network's output.
    pub g: [f32; G],
    /// Gradient arriving at the output (the loss is `sum(g * dg)`).
    pub dg: [f32; G],
    /// Backward through the average pools.
    pub da: [f32; A.len()],
    /// Backward through the average pool.
    pub dz: [f32; Z.len()],
    /// Backward through the depthwise convolution.
    pub dp: [f32; P.len()],
    /// Backward through max pooling, then ReLU.
    pub dy: [f32; Y.len()],
    /// Backward through the convolution, into the padded input.
    pub dx_pad: [f32; XP.len()],
    /// Backward through the padding.
    pub dx: [f32; X.len()],
    /// Parameter gradients.
    pub grads: Params,
}

impl Params {
    /// All zero.
    pub const fn new() -> Self {
        Params {
            w: [0.0; CONV.weight_len()],
            b: [0.0; CONV.bias_len()],
            wd: [0.0; DEPTHWISE.weight_len()],
            bd: [0.0; DEPTHWISE.bias_len()],
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Self::new()
    }
}

impl Buffers {
    /// All zero (in `.bss` when `static`).
    pub const fn new() -> Self {
        Buffers {
            x: [0.0; X.len()],
            x_pad: [0.0; XP.len()],
            params: Params::new(),
            scratch: [0.0; SCRATCH],
            y: [0.0; Y.len()],
            p: [0.0; POOL.output_len()],
            idx: [0; POOL.indices_len()],
            z: [0.0; Z.len()],
            a: [0.0; A.len()],
            g: [0.0; G],
            dg: [0.0; G],
            da: [0.0; A.len()],
            dz: [0.0; Z.len()],
            dp: [0.0; P.len()],
            dy: [0.0; Y.len()],
            dx_pad: [0.0; XP.len()],
            dx: [0.0; X.len()],
            grads: Params::new(),
        }
    }

    /// Fills the input, the parameters and the output gradient from fixed seeds.
    pub fn init(&mut self) {
        fill(1, &mut self.x);
        fill(2, &mut self.params.w);
        fill(3, &mut self.params.b);
        fill(4, &mut self.params.wd);
        fill(5, &mut self.params.bd);
        fill(6, &mut self.dg);
    }
}

impl Default for Buffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills `out` with multiples of 1/2 in `-2.0..=2.0` from a xorshift32 stream seeded `seed`.
pub fn fill(seed: u32, out: &mut [f32]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for v in out {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = ((s >> 8) % 9) as f32 * 0.5 - 2.0;
    }
}

/// FNV-1a over the bit patterns, with -0.0 counted as +0.0.
pub fn checksum(values: &[f32]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for v in values {
        for byte in (v + 0.0).to_bits().to_le_bytes() {
            h = (h ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// What runs the kernels and records the outcome: the firmware (measuring stack, printing
/// over semihosting) or the host test.
pub trait Runner {
    /// Calls into the crate.
    fn call<T>(&mut self, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error>;
    /// Records one check.
    fn check(&mut self, name: &'static str, ok: bool);
    /// Runs one kernel of the network through [`call`](Self::call); an error is a failed
    /// check. Success is not a check: the reference checks compare what it computed.
    fn kernel(&mut self, name: &'static str, call: impl FnOnce() -> Result<(), Error>) {
        if self.call(call).is_err() {
            self.check(name, false);
        }
    }
}

/// The forward pass: pad, convolution with bias and fused ReLU, max pooling with indices,
/// depthwise convolution with bias, average pooling, global average pooling.
pub fn forward(r: &mut impl Runner, b: &mut Buffers) {
    let w = &b.params;
    r.kernel("pad", || {
        pad(
            opaque(&PAD),
            0.0,
            opaque(&b.x[..]),
            opaque(&mut b.x_pad[..]),
        )
    });
    r.kernel("conv2d", || {
        conv2d(
            opaque(&CONV),
            opaque(&b.x_pad[..]),
            opaque(&w.w[..]),
            opaque(Some(&w.b[..])),
            opaque(Some(Clamp::relu())),
            opaque(&mut b.y[..]),
            opaque(&mut b.scratch[..]),
        )
    });
    r.kernel("max_pool2d_with_indices", || {
        max_pool2d_with_indices(
            opaque(&POOL),
            opaque(&b.y[..]),
            opaque(&mut b.p[..]),
            opaque(&mut b.idx[..]),
        )
    });
    r.kernel("conv2d depthwise", || {
        conv2d(
            opaque(&DEPTHWISE),
            opaque(&b.p[..]),
            opaque(&w.wd[..]),
            opaque(Some(&w.bd[..])),
            opaque(None),
            opaque(&mut b.z[..]),
            opaque(&mut []),
        )
    });
    r.kernel("avg_pool2d", || {
        avg_pool2d(opaque(&AVG), opaque(&b.z[..]), opaque(&mut b.a[..]))
    });
    r.kernel("global_avg_pool2d", || {
        global_avg_pool2d(opaque(A), opaque(&b.a[..]), opaque(&mut b.g[..]))
    });
}

/// One training step: backward through the whole network from `dg`, then an SGD update of
/// every parameter.
pub fn backward(r: &mut impl Runner, b: &mut Buffers) {
    let (w, dw) = (&b.params, &mut b.grads);
    r.kernel("global_avg_pool2d_backward", || {
        global_avg_pool2d_backward(
            opaque(A),
            opaque(&b.dg[..]),
            opaque(&mut b.da[..]),
            opaque(Accum::Replace),
        )
    });
    r.kernel("avg_pool2d_backward", || {
        avg_pool2d_backward(
            opaque(&AVG),
            opaque(&b.da[..]),
            opaque(&mut b.dz[..]),
            opaque(Accum::Replace),
        )
    });
    r.kernel("conv2d_backward_data depthwise", || {
        conv2d_backward_data(
            opaque(&DEPTHWISE),
            opaque(&w.wd[..]),
            opaque(&b.dz[..]),
            opaque(&mut b.dp[..]),
            opaque(Accum::Replace),
            opaque(&mut []),
        )
    });
    r.kernel("conv2d_backward_filter depthwise", || {
        conv2d_backward_filter(
            opaque(&DEPTHWISE),
            opaque(&b.p[..]),
            opaque(&b.dz[..]),
            opaque(&mut dw.wd[..]),
            opaque(Accum::Replace),
            opaque(&mut []),
        )
    });
    r.kernel("conv2d_backward_bias depthwise", || {
        conv2d_backward_bias(
            opaque(&DEPTHWISE),
            opaque(&b.dz[..]),
            opaque(&mut dw.bd[..]),
            opaque(Accum::Replace),
        )
    });
    r.kernel("max_pool2d_backward", || {
        max_pool2d_backward(
            opaque(&POOL),
            opaque(&b.dp[..]),
            opaque(&b.idx[..]),
            opaque(&mut b.dy[..]),
            opaque(Accum::Replace),
        )
    });
    // ReLU backward (not a kernel of the crate): the gradient passes where the output was
    // positive.
    for (g, y) in b.dy.iter_mut().zip(&b.y) {
        if *y <= 0.0 {
            *g = 0.0;
        }
    }
    r.kernel("conv2d_backward_data", || {
        conv2d_backward_data(
            opaque(&CONV),
            opaque(&w.w[..]),
            opaque(&b.dy[..]),
            opaque(&mut b.dx_pad[..]),
            opaque(Accum::Replace),
            opaque(&mut b.scratch[..]),
        )
    });
    r.kernel("crop", || {
        crop(opaque(&PAD), opaque(&b.dx_pad[..]), opaque(&mut b.dx[..]))
    });
    r.kernel("conv2d_backward_filter", || {
        conv2d_backward_filter(
            opaque(&CONV),
            opaque(&b.x_pad[..]),
            opaque(&b.dy[..]),
            opaque(&mut dw.w[..]),
            opaque(Accum::Replace),
            opaque(&mut b.scratch[..]),
        )
    });
    r.kernel("conv2d_backward_bias", || {
        conv2d_backward_bias(
            opaque(&CONV),
            opaque(&b.dy[..]),
            opaque(&mut dw.b[..]),
            opaque(Accum::Replace),
        )
    });
    sgd(&mut b.params, &b.grads);
}

/// The feature checks' buffers, carved out of the network's once its checksums are taken
/// (the Cortex-M0 has no RAM for more).
pub struct Features<'a> {
    /// Input (`FX`) and the gradient every backward pass starts from (`fill` 8).
    pub x: &'a mut [f32],
    /// `FCONV` weights and output, its output gradient, and its backward passes with
    /// `Accum::Add` onto `fill` 9 and 10.
    pub w: &'a mut [f32],
    pub y: &'a mut [f32],
    pub dy: &'a mut [f32],
    pub dx: &'a mut [f32],
    pub dw: &'a mut [f32],
    /// `FDW` weights and output.
    pub wd: &'a mut [f32],
    pub z: &'a mut [f32],
    /// `FMAX` output, indices, output gradient, and recompute backward with `Accum::Add`
    /// onto `fill` 11.
    pub m: &'a mut [f32],
    pub idx: &'a mut [u32],
    pub dm: &'a mut [f32],
    pub dxm: &'a mut [f32],
    /// `FAVG` output for each divisor, its output gradient, and backward with
    /// `Override(4)` and `Accum::Add` onto `fill` 12.
    pub a: [&'a mut [f32]; 3],
    pub da: &'a mut [f32],
    pub dxa: &'a mut [f32],
}

/// Runs every feature kernel: what the network lacks (ceil mode, dilation, stride 2, groups,
/// depthwise multiplier 2, asymmetric padding, `Accum::Add`, each divisor, recompute
/// backward). Reuses the network's buffers: call it after [`check_checksums`].
pub fn features<'a>(r: &mut impl Runner, b: &'a mut Buffers) -> Features<'a> {
    let (x, rest) = b.y.split_at_mut(FX.len());
    let (w, rest) = rest.split_at_mut(FCONV.weight_len());
    let (y, rest) = rest.split_at_mut(FCONV.output_len());
    let (dy, rest) = rest.split_at_mut(FCONV.output_len());
    let (dx, rest) = rest.split_at_mut(FX.len());
    let (dw, _) = rest.split_at_mut(FCONV.weight_len());
    let (wd, rest) = b.dy.split_at_mut(FDW.weight_len());
    let (z, rest) = rest.split_at_mut(FDW.output_len());
    let (m, rest) = rest.split_at_mut(FMAX.output_len());
    let (dm, rest) = rest.split_at_mut(FMAX.output_len());
    let (dxm, rest) = rest.split_at_mut(FX.len());
    let (da, rest) = rest.split_at_mut(FAVG.output_len());
    let (dxa, _) = rest.split_at_mut(FX.len());
    let (a0, rest) = b.x_pad.split_at_mut(FAVG.output_len());
    let (a1, rest) = rest.split_at_mut(FAVG.output_len());
    let (a2, _) = rest.split_at_mut(FAVG.output_len());
    let (idx, _) = b.idx.split_at_mut(FMAX.indices_len());
    let mut f = Features {
        x,
        w,
        y,
        dy,
        dx,
        dw,
        wd,
        z,
        m,
        idx,
        dm,
        dxm,
        a: [a0, a1, a2],
        da,
        dxa,
    };
    fill(7, f.x);
    fill(13, f.w);
    fill(14, f.wd);
    fill(8, f.dy);
    fill(8, f.dm);
    fill(8, f.da);
    fill(9, f.dx);
    fill(10, f.dw);
    fill(11, f.dxm);
    fill(12, f.dxa);
    let scratch = &mut b.scratch[..];
    r.kernel("features conv2d", || {
        let (x, w) = (opaque(&f.x[..]), opaque(&f.w[..]));
        conv2d(
            opaque(&FCONV),
            x,
            w,
            None,
            None,
            opaque(&mut f.y[..]),
            scratch,
        )
    });
    r.kernel("features conv2d_backward_data add", || {
        let (w, dy) = (opaque(&f.w[..]), opaque(&f.dy[..]));
        conv2d_backward_data(&FCONV, w, dy, opaque(&mut f.dx[..]), Accum::Add, scratch)
    });
    r.kernel("features conv2d_backward_filter add", || {
        let (x, dy) = (opaque(&f.x[..]), opaque(&f.dy[..]));
        conv2d_backward_filter(&FCONV, x, dy, opaque(&mut f.dw[..]), Accum::Add, scratch)
    });
    r.kernel("features conv2d depthwise x2", || {
        let (x, w) = (opaque(&f.x[..]), opaque(&f.wd[..]));
        conv2d(
            opaque(&FDW),
            x,
            w,
            None,
            None,
            opaque(&mut f.z[..]),
            &mut [],
        )
    });
    r.kernel("features max_pool2d_with_indices", || {
        let (m, idx) = (opaque(&mut f.m[..]), opaque(&mut f.idx[..]));
        max_pool2d_with_indices(opaque(&FMAX), opaque(&f.x[..]), m, idx)
    });
    r.kernel("features max_pool2d_backward_recompute add", || {
        let (x, dm) = (opaque(&f.x[..]), opaque(&f.dm[..]));
        max_pool2d_backward_recompute(&FMAX, x, dm, opaque(&mut f.dxm[..]), Accum::Add)
    });
    for (d, out) in DIVISORS.iter().zip(&mut f.a) {
        r.kernel("features avg_pool2d", || {
            let a = AvgPool2d::new(opaque(FAVG), *d)?;
            avg_pool2d(&a, opaque(&f.x[..]), opaque(&mut out[..]))
        });
    }
    r.kernel("features avg_pool2d_backward add", || {
        let a = AvgPool2d::new(opaque(FAVG), DIVISORS[2])?;
        avg_pool2d_backward(&a, opaque(&f.da[..]), opaque(&mut f.dxa[..]), Accum::Add)
    });
    f
}

/// `param -= LR * grad` for every parameter.
fn sgd(params: &mut Params, grads: &Params) {
    let pairs = [
        (&mut params.w[..], &grads.w[..]),
        (&mut params.b[..], &grads.b[..]),
        (&mut params.wd[..], &grads.wd[..]),
        (&mut params.bd[..], &grads.bd[..]),
    ];
    for (p, g) in pairs {
        for (p, g) in p.iter_mut().zip(g) {
            *p -= LR * *g;
        }
    }
}

/// Checksums of the indices.
pub fn checksum_u32(values: &[u32]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for v in values {
        for byte in v.to_le_bytes() {
            h = (h ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// The checksum of each result, in the order [`EXPECTED`] lists them.
pub fn checksums(b: &Buffers) -> [(&'static str, u32); CHECKSUMS] {
    let (w, d) = (&b.params, &b.grads);
    [
        ("checksum x_pad", checksum(&b.x_pad)),
        ("checksum y", checksum(&b.y)),
        ("checksum p", checksum(&b.p)),
        ("checksum idx", checksum_u32(&b.idx)),
        ("checksum z", checksum(&b.z)),
        ("checksum a", checksum(&b.a)),
        ("checksum g", checksum(&b.g)),
        ("checksum da", checksum(&b.da)),
        ("checksum dz", checksum(&b.dz)),
        ("checksum dp", checksum(&b.dp)),
        ("checksum dy", checksum(&b.dy)),
        ("checksum dx_pad", checksum(&b.dx_pad)),
        ("checksum dx", checksum(&b.dx)),
        ("checksum grad w", checksum(&d.w)),
        ("checksum grad b", checksum(&d.b)),
        ("checksum grad wd", checksum(&d.wd)),
        ("checksum grad bd", checksum(&d.bd)),
        ("checksum new w", checksum(&w.w)),
        ("checksum new b", checksum(&w.b)),
        ("checksum new wd", checksum(&w.wd)),
        ("checksum new bd", checksum(&w.bd)),
    ]
}

/// How many results are checksummed.
pub const CHECKSUMS: usize = 21;

/// The checksums of the naive reference network, computed on the host from the naive loops
/// of `tests/common` (`cargo test --test firmware_checksum` prints them); the panic-free
/// build, which has no room for `reference.rs`, checks its results against these.
pub const EXPECTED: [(&str, u32); CHECKSUMS] = [
    ("checksum x_pad", 0x7ad2c098),
    ("checksum y", 0x615bd8fd),
    ("checksum p", 0x9fb85366),
    ("checksum idx", 0x6f0c5696),
    ("checksum z", 0x82de1ab2),
    ("checksum a", 0x1c9d70a5),
    ("checksum g", 0xf7098ff7),
    ("checksum da", 0xc73e11c5),
    ("checksum dz", 0x03b150fb),
    ("checksum dp", 0xc71b90d3),
    ("checksum dy", 0xd16b0863),
    ("checksum dx_pad", 0x357c2e93),
    ("checksum dx", 0xb0d0feb2),
    ("checksum grad w", 0x570c20b8),
    ("checksum grad b", 0x865831c1),
    ("checksum grad wd", 0x3dae70ea),
    ("checksum grad bd", 0x429c4f78),
    ("checksum new w", 0xf1959994),
    ("checksum new b", 0x56d830bf),
    ("checksum new wd", 0xf6bc4fbb),
    ("checksum new bd", 0x4ab8c257),
];

/// Compares the checksums with [`EXPECTED`].
pub fn check_checksums(r: &mut impl Runner, b: &Buffers) {
    for ((name, got), (_, want)) in checksums(b).iter().zip(EXPECTED.iter()) {
        r.check(name, got == want);
    }
}
