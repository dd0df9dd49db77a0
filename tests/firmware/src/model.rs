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

use nchw::{col2im, crop, gemm, im2col, Accum, Error, Im2col, MatMut, MatRef};
use nchw::{Pad, Padding, Shape, Window};

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
/// 3 x 3 convolution over the padded image: the columns of one image, `[18, 36]`.
pub const CONV: Im2col = ok!(Im2col::new(XP.c(), XP.h(), XP.w(), Window::square(3)));
/// Output channels of the convolution.
pub const OC: usize = 4;
/// Convolution weights `(OC, C, 3, 3)`.
pub const W_LEN: usize = OC * CONV.rows();
/// Convolution output (after bias and ReLU): 2 x 4 x 6 x 6.
pub const Y: Shape = ok!(Shape::new(X.n(), OC, CONV.out_h(), CONV.out_w()));
/// Depthwise 3 x 3 convolution with one ring of padding, one plane at a time: `[9, 36]`.
pub const DW: Im2col = ok!(Im2col::new(
    1,
    Y.h(),
    Y.w(),
    Window::square(3).with_padding(Padding::uniform(1))
));
/// Depthwise output: 2 x 4 x 6 x 6.
pub const Z: Shape = ok!(Shape::new(Y.n(), Y.c(), DW.out_h(), DW.out_w()));
/// Learning rate of the training step (a power of two, so the update is exact).
pub const LR: f32 = 0.125;

/// Every buffer of the network: `static` in the firmware, sized by the crate's `const fn`s.
pub struct Buffers {
    /// Input.
    pub x: [f32; X.len()],
    /// Padded input.
    pub x_pad: [f32; XP.len()],
    /// Convolution weights and bias.
    pub w: [f32; W_LEN],
    /// Convolution bias.
    pub b: [f32; OC],
    /// Column matrix of one image (the convolution's workspace).
    pub col: [f32; CONV.col_len()],
    /// Convolution output, after bias and ReLU.
    pub y: [f32; Y.len()],
    /// Depthwise weights `(OC, 1, 3, 3)` and bias.
    pub wd: [f32; OC * DW.rows()],
    /// Depthwise bias.
    pub bd: [f32; OC],
    /// Depthwise column matrix of one plane.
    pub col_dw: [f32; DW.col_len()],
    /// Depthwise output.
    pub z: [f32; Z.len()],
    /// Gradient arriving at the convolution's output; the ReLU mask is applied in place.
    pub dy: [f32; Y.len()],
    /// Gradient with respect to the padded input.
    pub dx_pad: [f32; XP.len()],
    /// Gradient with respect to the input.
    pub dx: [f32; X.len()],
    /// Weight gradient.
    pub dw: [f32; W_LEN],
    /// Bias gradient.
    pub db: [f32; OC],
}

impl Buffers {
    /// All zero (in `.bss` when `static`).
    pub const fn new() -> Self {
        Buffers {
            x: [0.0; X.len()],
            x_pad: [0.0; XP.len()],
            w: [0.0; W_LEN],
            b: [0.0; OC],
            col: [0.0; CONV.col_len()],
            y: [0.0; Y.len()],
            wd: [0.0; OC * DW.rows()],
            bd: [0.0; OC],
            col_dw: [0.0; DW.col_len()],
            z: [0.0; Z.len()],
            dy: [0.0; Y.len()],
            dx_pad: [0.0; XP.len()],
            dx: [0.0; X.len()],
            dw: [0.0; W_LEN],
            db: [0.0; OC],
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
    /// Calls one kernel and records whether it returned `Ok`.
    fn kernel(&mut self, name: &'static str, call: impl FnOnce() -> Result<(), Error>) -> bool;
    /// Records one check.
    fn check(&mut self, name: &'static str, ok: bool);
}

/// The forward pass: pad, convolution with bias and ReLU, depthwise convolution.
pub fn forward(r: &mut impl Runner, b: &mut Buffers) {
    r.kernel("pad", || {
        nchw::pad(
            opaque(&PAD),
            0.0,
            opaque(&b.x[..]),
            opaque(&mut b.x_pad[..]),
        )
    });
    let images = b.x_pad.chunks_exact(XP.image_len());
    for (image, y) in images.zip(b.y.chunks_exact_mut(Y.image_len())) {
        // Convolution as im2col + GEMM: y[OC, OH*OW] = W[OC, C*9] x col[C*9, OH*OW].
        r.kernel("im2col", || {
            im2col(opaque(&CONV), opaque(image), opaque(&mut b.col[..]))
        });
        r.kernel("gemm", || {
            let w = MatRef::row_major(opaque(&b.w[..]), OC, CONV.rows())?;
            let col = MatRef::row_major(opaque(&b.col[..]), CONV.rows(), CONV.cols())?;
            let y = MatMut::row_major(opaque(&mut y[..]), OC, CONV.cols())?;
            gemm(1.0, w, col, 0.0, y, &mut [])
        });
        bias_relu(&b.b, y, Y.plane_len());
    }
    // Depthwise: each plane with its own 3 x 3 filter, as im2col + a 1 x 9 GEMM.
    let filters = b.wd.chunks_exact(DW.rows()).cycle();
    let planes = b.y.chunks_exact(Y.plane_len());
    let outputs = b.z.chunks_exact_mut(Z.plane_len());
    for ((plane, z), (filter, bias)) in planes.zip(outputs).zip(filters.zip(b.bd.iter().cycle())) {
        r.kernel("im2col", || {
            im2col(opaque(&DW), opaque(plane), opaque(&mut b.col_dw[..]))
        });
        r.kernel("gemm", || {
            let f = MatRef::row_major(opaque(filter), 1, DW.rows())?;
            let col = MatRef::row_major(opaque(&b.col_dw[..]), DW.rows(), DW.cols())?;
            let z = MatMut::row_major(opaque(&mut z[..]), 1, DW.cols())?;
            gemm(1.0, f, col, 0.0, z, &mut [])
        });
        z.iter_mut().for_each(|v| *v += *bias);
    }
}

/// Adds each channel's bias to its plane, then applies ReLU.
fn bias_relu(bias: &[f32], out: &mut [f32], plane: usize) {
    for (p, bias) in out.chunks_exact_mut(plane).zip(bias.iter().cycle()) {
        p.iter_mut().for_each(|v| *v = (*v + *bias).max(0.0));
    }
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
    let images = b.x_pad.chunks_exact(XP.image_len());
    let grads = b.dy.chunks_exact(Y.image_len());
    let dx_images = b.dx_pad.chunks_exact_mut(XP.image_len());
    for (n, ((image, dy), dx)) in images.zip(grads).zip(dx_images).enumerate() {
        // Backward-data: col = W^T dy, folded back onto the padded image.
        r.kernel("gemm", || {
            let w = MatRef::row_major(opaque(&b.w[..]), OC, CONV.rows())?;
            let dy = MatRef::row_major(opaque(dy), OC, CONV.cols())?;
            let col = MatMut::row_major(opaque(&mut b.col[..]), CONV.rows(), CONV.cols())?;
            gemm(1.0, w.t(), dy, 0.0, col, &mut [])
        });
        r.kernel("col2im", || {
            col2im(
                opaque(&CONV),
                opaque(&b.col[..]),
                opaque(dx),
                Accum::Replace,
            )
        });
        // Backward-filter: dW += dy col^T, summed over the batch.
        r.kernel("im2col", || {
            im2col(opaque(&CONV), opaque(image), opaque(&mut b.col[..]))
        });
        let beta = if n == 0 { 0.0 } else { 1.0 };
        r.kernel("gemm", || {
            let dy = MatRef::row_major(opaque(dy), OC, CONV.cols())?;
            let col = MatRef::row_major(opaque(&b.col[..]), CONV.rows(), CONV.cols())?;
            let dw = MatMut::row_major(opaque(&mut b.dw[..]), OC, CONV.rows())?;
            gemm(1.0, dy, col.t(), beta, dw, &mut [])
        });
    }
    r.kernel("crop", || {
        crop(opaque(&PAD), opaque(&b.dx_pad[..]), opaque(&mut b.dx[..]))
    });
    // Bias gradient: the sum of dy over the batch and the plane.
    for (oc, db) in b.db.iter_mut().enumerate() {
        let planes = b.dy.chunks_exact(Y.plane_len()).skip(oc).step_by(OC);
        *db = planes.flatten().sum();
    }
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
