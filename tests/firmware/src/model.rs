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

use nchw::{conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, crop};
use nchw::{Accum, Clamp, Conv2d, Error, Pad, Padding, Shape, Window};

/// Unwraps a geometry at compile time (a bad one is a build error, not a runtime panic).
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => panic!(concat!("bad geometry: ", stringify!($e))),
        }
    };
}

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
/// Depthwise 3 x 3 convolution with one ring of padding (`groups == channels`).
pub const DEPTHWISE: Conv2d = ok!(Conv2d::new(
    Y,
    Y.c(),
    Window::square(3).with_padding(Padding::uniform(1)),
    Y.c()
));
/// Depthwise output: 2 x 4 x 6 x 6.
pub const Z: Shape = DEPTHWISE.output();
/// Learning rate of the training step (a power of two, so the update is exact).
pub const LR: f32 = 0.125;

/// Every buffer of the network: `static` in the firmware, sized by the crate's `const fn`s.
pub struct Buffers {
    /// Input.
    pub x: [f32; X.len()],
    /// Padded input.
    pub x_pad: [f32; XP.len()],
    /// Convolution weights `(OC, C, 3, 3)`.
    pub w: [f32; CONV.weight_len()],
    /// Convolution bias.
    pub b: [f32; CONV.bias_len()],
    /// The convolutions' workspace.
    pub scratch: [f32; SCRATCH],
    /// Convolution output, after bias and ReLU.
    pub y: [f32; CONV.output_len()],
    /// Depthwise weights `(C, 1, 3, 3)`.
    pub wd: [f32; DEPTHWISE.weight_len()],
    /// Depthwise bias.
    pub bd: [f32; DEPTHWISE.bias_len()],
    /// Depthwise output.
    pub z: [f32; Z.len()],
    /// Gradient arriving at the convolution's output; the ReLU mask is applied in place.
    pub dy: [f32; CONV.output_len()],
    /// Gradient with respect to the padded input.
    pub dx_pad: [f32; CONV.input_len()],
    /// Gradient with respect to the input.
    pub dx: [f32; X.len()],
    /// Weight gradient.
    pub dw: [f32; CONV.weight_len()],
    /// Bias gradient.
    pub db: [f32; CONV.bias_len()],
}

impl Buffers {
    /// All zero (in `.bss` when `static`).
    pub const fn new() -> Self {
        Buffers {
            x: [0.0; X.len()],
            x_pad: [0.0; XP.len()],
            w: [0.0; CONV.weight_len()],
            b: [0.0; CONV.bias_len()],
            scratch: [0.0; SCRATCH],
            y: [0.0; CONV.output_len()],
            wd: [0.0; DEPTHWISE.weight_len()],
            bd: [0.0; DEPTHWISE.bias_len()],
            z: [0.0; Z.len()],
            dy: [0.0; CONV.output_len()],
            dx_pad: [0.0; CONV.input_len()],
            dx: [0.0; X.len()],
            dw: [0.0; CONV.weight_len()],
            db: [0.0; CONV.bias_len()],
        }
    }

    /// Fills the inputs, parameters and incoming gradient from fixed seeds.
    pub fn init(&mut self) {
        fill(1, &mut self.x);
        fill(2, &mut self.w);
        fill(3, &mut self.b);
        fill(4, &mut self.wd);
        fill(5, &mut self.bd);
        fill(6, &mut self.dy);
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
    /// Runs one kernel of the network through [`call`](Self::call) and checks it succeeds.
    fn kernel(&mut self, name: &'static str, call: impl FnOnce() -> Result<(), Error>) {
        let ok = self.call(call).is_ok();
        self.check(name, ok);
    }
}

/// The forward pass: pad, convolution with bias and fused ReLU, depthwise convolution.
pub fn forward(r: &mut impl Runner, b: &mut Buffers) {
    r.kernel("pad", || {
        nchw::pad(
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
            opaque(&b.w[..]),
            opaque(Some(&b.b[..])),
            opaque(Some(Clamp::relu())),
            opaque(&mut b.y[..]),
            opaque(&mut b.scratch[..]),
        )
    });
    r.kernel("conv2d depthwise", || {
        conv2d(
            opaque(&DEPTHWISE),
            opaque(&b.y[..]),
            opaque(&b.wd[..]),
            opaque(Some(&b.bd[..])),
            opaque(None),
            opaque(&mut b.z[..]),
            opaque(&mut []),
        )
    });
}

/// One training step of the convolution: ReLU backward, then the gradients with respect to
/// the input (backward-data, then crop), the weights (backward-filter) and the bias, and an
/// SGD update of the weights and bias.
pub fn backward(r: &mut impl Runner, b: &mut Buffers) {
    // ReLU backward: the gradient passes where the output was positive.
    for (g, y) in b.dy.iter_mut().zip(&b.y) {
        if *y <= 0.0 {
            *g = 0.0;
        }
    }
    r.kernel("conv2d_backward_data", || {
        conv2d_backward_data(
            opaque(&CONV),
            opaque(&b.dy[..]),
            opaque(&b.w[..]),
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
            opaque(&mut b.dw[..]),
            opaque(Accum::Replace),
            opaque(&mut b.scratch[..]),
        )
    });
    r.kernel("conv2d_backward_bias", || {
        conv2d_backward_bias(
            opaque(&CONV),
            opaque(&b.dy[..]),
            opaque(&mut b.db[..]),
            opaque(Accum::Replace),
        )
    });
    for (w, g) in b.w.iter_mut().zip(&b.dw).chain(b.b.iter_mut().zip(&b.db)) {
        *w -= LR * *g;
    }
}

/// The checksum of each result, in the order [`EXPECTED`] lists them.
pub fn checksums(b: &Buffers) -> [(&'static str, u32); 8] {
    [
        ("checksum x_pad", checksum(&b.x_pad)),
        ("checksum y", checksum(&b.y)),
        ("checksum z", checksum(&b.z)),
        ("checksum dy", checksum(&b.dy)),
        ("checksum dx", checksum(&b.dx)),
        ("checksum dw", checksum(&b.dw)),
        ("checksum db", checksum(&b.db)),
        (
            "checksum w_b",
            checksum(&b.w) ^ checksum(&b.b).rotate_left(16),
        ),
    ]
}

/// The checksums the host computes (`cargo test --test firmware_checksum`).
pub const EXPECTED: [(&str, u32); 8] = [
    ("checksum x_pad", 0x7ad2c098),
    ("checksum y", 0x615bd8fd),
    ("checksum z", 0x9434b6ff),
    ("checksum dy", 0xd9d6ecf8),
    ("checksum dx", 0x1eed69c4),
    ("checksum dw", 0xfacda670),
    ("checksum db", 0x70179478),
    ("checksum w_b", 0x9c0c3aca),
];

/// Compares the checksums with [`EXPECTED`].
pub fn check_checksums(r: &mut impl Runner, b: &Buffers) {
    for ((name, got), (_, want)) in checksums(b).iter().zip(EXPECTED.iter()) {
        r.check(name, got == want);
    }
}
