//! What the firmware prints first: the network of [`model`] trained for a few steps, the loss
//! after each step, and what it predicts at the end.
//!
//! The task is made up: each of the two input images gets a label among the network's four
//! outputs (its channels after global average pooling), and the loss is the squared error to
//! the one-hot target, `0.5 * sum((g - t)^2)`, whose gradient `g - t` is what
//! [`model::backward`] propagates before its SGD update (learning rate [`model::LR`]). The
//! parameters start from [`Buffers::init`]'s values scaled by 1/8 (still exact in `f32`), a
//! range in which that learning rate converges.

use nchw::Error;

use crate::model::{self, Buffers, Runner, G};
use crate::semihosting::{write_byte, write_str, write_u32};

/// Training steps.
pub const STEPS: u32 = 12;
/// The label of each image: which of the four outputs should be 1 (the others 0).
const LABELS: [usize; 2] = [1, 3];
/// Outputs per image.
const CLASSES: usize = G / LABELS.len();

/// Runs the kernels through the firmware's `kernel_call` and remembers the first that fails.
struct Trainer {
    failed: Option<&'static str>,
}

impl Runner for Trainer {
    fn call<T>(&mut self, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        crate::kernel_call(call)
    }

    fn check(&mut self, name: &'static str, ok: bool) {
        if !ok && self.failed.is_none() {
            self.failed = Some(name);
        }
    }
}

/// The target of output `i` (image `i / CLASSES`, class `i % CLASSES`).
fn target(i: usize) -> f32 {
    match LABELS.get(i / CLASSES) {
        Some(&label) if label == i % CLASSES => 1.0,
        _ => 0.0,
    }
}

/// Sets `b.dg` to the loss's gradient and returns the loss.
fn loss(b: &mut Buffers) -> f32 {
    let mut loss = 0.0;
    for (i, (g, dg)) in b.g.iter().zip(b.dg.iter_mut()).enumerate() {
        let e = *g - target(i);
        loss += 0.5 * e * e;
        *dg = e;
    }
    loss
}

/// Writes `v` with four decimals, right-aligned in `width` columns (magnitudes up to 10^5).
pub fn write_f32(v: f32, width: usize) {
    let scaled = (if v < 0.0 { -v } else { v }).min(99_999.0) * 10_000.0 + 0.5;
    let fixed = scaled as u32; // saturating, and NaN becomes 0
    let (int, frac) = (fixed / 10_000, fixed % 10_000);
    let mut len = 6 + usize::from(v < 0.0);
    let mut i = int;
    while i >= 10 {
        len += 1;
        i /= 10;
    }
    for _ in len..width {
        write_byte(b' ');
    }
    if v < 0.0 {
        write_byte(b'-');
    }
    write_u32(int, 0);
    write_byte(b'.');
    for div in [1000, 100, 10, 1] {
        write_byte(b'0' + (frac / div % 10) as u8);
    }
}

/// Trains for [`STEPS`] steps from fresh parameters, printing the loss at each step and the
/// predictions at the end. Returns the loss before the first and after the last step, or the
/// name of the kernel that failed.
pub fn train(b: &mut Buffers) -> Result<(f32, f32), &'static str> {
    b.init();
    let p = &mut b.params;
    for v in [&mut p.w[..], &mut p.b[..], &mut p.wd[..], &mut p.bd[..]]
        .into_iter()
        .flatten()
    {
        *v *= 0.125;
    }
    let mut t = Trainer { failed: None };
    write_str("training: conv 3x3 + bias + ReLU, max pool, depthwise conv, average pools;\n");
    write_str("  2 labelled images of 2x6x6, squared error, SGD with learning rate 0.125\n");
    write_str("  step 0 is before training\n");
    let mut first = 0.0;
    let mut last = 0.0;
    for step in 0..=STEPS {
        model::forward(&mut t, b);
        if let Some(name) = t.failed {
            return Err(name);
        }
        last = loss(b);
        if step == 0 {
            first = last;
        }
        write_str("  step ");
        write_u32(step, 2);
        write_str("  loss");
        write_f32(last, 7);
        write_str("\n");
        if step < STEPS {
            model::backward(&mut t, b);
        }
    }
    write_str("predictions (network outputs; the label's target is 1, the others' 0):\n");
    for (image, (outputs, label)) in b.g.chunks(CLASSES).zip(LABELS).enumerate() {
        write_str("  image ");
        write_u32(image as u32, 0);
        write_str(":");
        let mut best = 0;
        for (class, &v) in outputs.iter().enumerate() {
            write_f32(v, 8);
            if outputs.get(best).is_some_and(|&top| v > top) {
                best = class;
            }
        }
        write_str("   predicted class ");
        write_u32(best as u32, 0);
        write_str(", label ");
        write_u32(label as u32, 0);
        write_str(if best == label { "\n" } else { " (wrong)\n" });
    }
    Ok((first, last))
}
