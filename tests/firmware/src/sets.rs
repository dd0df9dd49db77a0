//! The flash of the crate's sets, as the microcontroller and int8 issues define them. The
//! firmware of the `inference-set` feature calls the f32 forward kernels of inference:
//! `conv2d` (every forward family: direct 3 x 3, 1 x 1 and depthwise, and the im2col and
//! depthwise paths), `max_pool2d` and `avg_pool2d`. That of the `f32-set` feature calls every
//! public f32 function, forward and backward; that of `i8-set` the int8 inference kernels,
//! `conv2d_i8` (every requantization), `max_pool2d_i8` and `avg_pool2d_i8`. Built, never run: each call's geometry passes
//! through [`opaque`], so the optimizer can neither fold the choice of kernel nor specialise
//! on a shape, and the image holds every path any geometry can take. `.ci/firmware` builds
//! each with and without `without-kernels`; the difference is the set's share of the flash.

use core::hint::black_box as opaque;

#[cfg(feature = "inference-set")]
use nchw::{avg_pool2d, conv2d, max_pool2d};
#[cfg(feature = "f32-set")]
use nchw::{
    avg_pool2d_backward, col2im, col2im_columns, conv2d_backward_bias, conv2d_backward_data,
    conv2d_backward_filter, conv2d_pack_weight, conv2d_packed, crop, gemm, gemm_pack_a,
    gemm_packed, global_avg_pool2d, global_avg_pool2d_backward, im2col, im2col_columns,
    max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, pad, Accum, Gemm,
    Im2col, MatMut, MatRef, Pad, Padding,
};
#[cfg(feature = "i8-set")]
use nchw::{avg_pool2d_i8, conv2d_i8, max_pool2d_i8, Multiplier, QuantParams, Requant};
use nchw::{AvgPool2d, Clamp, Conv2d, Divisor, Error, Pool2d};
use nchw::{Rounding, Shape, Window};

use crate::kernel_call;

/// Any geometries: the calls read them through [`opaque`].
const X: Shape = ok!(Shape::new(1, 1, 2, 2));
const CONV: Conv2d = ok!(Conv2d::new(X, 1, Window::square(1), 1));
const POOL: Pool2d = ok!(Pool2d::new(X, Window::square(2), Rounding::Floor));
const AVG: AvgPool2d = ok!(AvgPool2d::new(POOL, Divisor::CountIncludePad));
#[cfg(feature = "f32-set")]
const PAD: Pad = ok!(Pad::new(X, Padding::uniform(1)));
#[cfg(feature = "f32-set")]
const COLS: Im2col = ok!(Im2col::new(X, Window::square(1)));
#[cfg(feature = "f32-set")]
const GEMM: Gemm = ok!(Gemm::new(2, 2, 2));

/// Every buffer; sizes do not matter (the calls are never run).
#[cfg(feature = "inference-set")]
static mut BUFFERS: [[f32; 4]; 4] = [[0.0; 4]; 4];
/// The int8 set's buffers, biases and per-channel multipliers.
#[cfg(feature = "i8-set")]
static mut BYTES: [[i8; 4]; 4] = [[0; 4]; 4];
#[cfg(feature = "i8-set")]
static BIAS: [i32; 4] = [0; 4];
#[cfg(feature = "i8-set")]
const MULTIPLIERS: [Multiplier; 1] = [ok!(Multiplier::from_scale(0.5))];
#[cfg(feature = "i8-set")]
const SCALES: [f32; 1] = [0.5];
/// Max pooling's indices.
#[cfg(feature = "f32-set")]
static mut INDICES: [u32; 4] = [0; 4];

/// Calls `$f` through `kernel_call` (so `without-kernels` stubs it) and counts a failure.
/// Each argument passes through [`opaque`] before the call, outside the closure: that
/// marshalling then sits in the stubbed build too and cancels out of the share.
macro_rules! call {
    ($failed:ident, $f:expr, $($arg:expr),* $(,)?) => {{
        call!(@args $failed, $f, (), $($arg,)*)
    }};
    (@args $failed:ident, $f:expr, ($($done:ident,)*), $arg:expr, $($rest:expr,)*) => {{
        let a = opaque($arg);
        call!(@args $failed, $f, ($($done,)* a,), $($rest,)*)
    }};
    (@args $failed:ident, $f:expr, ($($done:ident,)*),) => {{
        $failed += u32::from(kernel_call(move || $f($($done),*)).is_err());
    }};
}

/// Makes every call of the set; the number that failed.
pub fn run() -> u32 {
    let mut failed = 0;
    #[cfg(feature = "i8-set")]
    {
        // SAFETY: the only reference to BYTES, taken once; there are no interrupts or threads.
        let [x, w, y, s] = unsafe { &mut *core::ptr::addr_of_mut!(BYTES) };
        // Each requantization once, so the image holds every one.
        let requants = [
            Requant::TfLite(&MULTIPLIERS),
            Requant::TfLiteSingleRounding(&MULTIPLIERS),
            Requant::Float(&SCALES),
        ];
        for requant in requants {
            let quant = QuantParams::new(-3, requant, 5).with_clamp(Clamp::quantized_relu(5));
            call!(
                failed,
                conv2d_i8,
                &CONV,
                &x[..],
                &w[..],
                Some(&BIAS[..]),
                &quant,
                &mut y[..],
                &mut s[..]
            );
        }
        let clamp = Some(Clamp::quantized_relu(0));
        call!(failed, max_pool2d_i8, &POOL, &x[..], clamp, &mut y[..]);
        call!(failed, avg_pool2d_i8, &AVG, &x[..], clamp, &mut y[..]);
    }
    #[cfg(feature = "inference-set")]
    {
        // SAFETY: the only reference to BUFFERS, taken once; there are no interrupts or threads.
        let [x, w, y, s] = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
        let relu = Some(Clamp::relu());
        call!(
            failed,
            conv2d,
            &CONV,
            &x[..],
            &w[..],
            Some(&w[..]),
            relu,
            &mut y[..],
            &mut s[..]
        );
        call!(failed, max_pool2d, &POOL, &x[..], &mut y[..]);
        call!(failed, avg_pool2d, &AVG, &x[..], &mut y[..]);
        #[cfg(feature = "f32-set")]
        {
            // SAFETY: the only reference to INDICES, taken once.
            let idx = unsafe { &mut *core::ptr::addr_of_mut!(INDICES) };
            let accum = Accum::Replace;
            let packed = |g, w, buffer, x, bias, clamp, y, scratch| {
                let packed = conv2d_pack_weight(g, w, buffer)?;
                conv2d_packed(g, x, &packed, bias, clamp, y, scratch)
            };
            call!(
                failed,
                packed,
                &CONV,
                &w[..],
                &mut s[..],
                &x[..],
                Some(&w[..]),
                relu,
                &mut y[..],
                &mut [][..]
            );
            call!(
                failed,
                conv2d_backward_data,
                &CONV,
                &w[..],
                &y[..],
                &mut x[..],
                accum,
                &mut s[..]
            );
            call!(
                failed,
                conv2d_backward_filter,
                &CONV,
                &x[..],
                &y[..],
                &mut w[..],
                accum,
                &mut s[..]
            );
            call!(
                failed,
                conv2d_backward_bias,
                &CONV,
                &y[..],
                &mut w[..],
                accum
            );
            call!(
                failed,
                max_pool2d_with_indices,
                &POOL,
                &x[..],
                &mut y[..],
                &mut idx[..]
            );
            call!(
                failed,
                max_pool2d_backward,
                &POOL,
                &y[..],
                &idx[..],
                &mut x[..],
                accum
            );
            call!(
                failed,
                max_pool2d_backward_recompute,
                &POOL,
                &x[..],
                &y[..],
                &mut w[..],
                accum
            );
            call!(failed, avg_pool2d_backward, &AVG, &y[..], &mut x[..], accum);
            call!(failed, global_avg_pool2d, X, &x[..], &mut y[..]);
            call!(
                failed,
                global_avg_pool2d_backward,
                X,
                &y[..],
                &mut x[..],
                accum
            );
            call!(failed, pad, &PAD, 0.0, &x[..], &mut y[..]);
            call!(failed, crop, &PAD, &y[..], &mut x[..]);
            call!(failed, im2col, &COLS, &x[..], &mut y[..]);
            call!(failed, im2col_columns, &COLS, &x[..], 0..2, &mut y[..]);
            call!(failed, col2im, &COLS, &y[..], &mut x[..], accum);
            call!(
                failed,
                col2im_columns,
                &COLS,
                &y[..],
                0..2,
                &mut x[..],
                accum
            );
            // A 2 x 2 view of `d` at any strides (the views' checks are the crate's).
            let view = |d, rs, cs| MatRef::new(d, 2, 2, rs, cs);
            let product = |g, a, b, c: &mut [f32], rs, cs, scratch| {
                let c = MatMut::new(c, 2, 2, rs, cs)?;
                gemm(g, 1.0, view(a, rs, cs)?, view(b, rs, cs)?, 0.0, c, scratch)
            };
            call!(
                failed,
                product,
                &GEMM,
                &x[..],
                &w[..],
                &mut y[..],
                2,
                1,
                &mut [][..]
            );
            let packed = |g, a, buffer, b, c: &mut [f32], rs, cs, scratch| {
                let a = gemm_pack_a(g, view(a, rs, cs)?, buffer)?;
                let c = MatMut::new(c, 2, 2, rs, cs)?;
                gemm_packed(g, 1.0, &a, view(b, rs, cs)?, 0.0, c, scratch)
            };
            call!(
                failed,
                packed,
                &GEMM,
                &x[..],
                &mut s[..],
                &w[..],
                &mut y[..],
                2,
                1,
                &mut [][..]
            );
        }
    }
    failed
}
