//! The flash of the crate's f32 sets, as the microcontroller issue defines them. The
//! firmware of the `inference-set` feature calls the f32 forward kernels of inference:
//! `conv2d` (every forward family: direct 3 x 3, 1 x 1 and depthwise, and the im2col and
//! depthwise paths), `max_pool2d` and `avg_pool2d`. That of the `f32-set` feature calls every
//! public f32 function, forward and backward. Built, never run: each call's geometry passes
//! through [`opaque`], so the optimizer can neither fold the choice of kernel nor specialise
//! on a shape, and the image holds every path any geometry can take. `.ci/firmware` builds
//! each with and without `without-kernels`; the difference is the set's share of the flash.

use core::hint::black_box as opaque;

use nchw::{avg_pool2d, conv2d, max_pool2d, AvgPool2d, Clamp, Conv2d, Divisor, Error, Pool2d};
#[cfg(feature = "f32-set")]
use nchw::{
    avg_pool2d_backward, col2im, col2im_columns, conv2d_backward_bias, conv2d_backward_data,
    conv2d_backward_filter, conv2d_pack_weight, conv2d_packed, crop, gemm, gemm_pack_a,
    gemm_packed, global_avg_pool2d, global_avg_pool2d_backward, im2col, im2col_columns,
    max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, pad, Accum, Gemm,
    Im2col, MatMut, MatRef, Pad, Padding,
};
use nchw::{Rounding, Shape, Window};

use crate::kernel_call;

/// Unwraps a geometry at compile time.
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(_) => panic!(concat!("bad geometry: ", stringify!($e))),
        }
    };
}

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
static mut BUFFERS: [[f32; 4]; 4] = [[0.0; 4]; 4];
/// Max pooling's indices.
#[cfg(feature = "f32-set")]
static mut INDICES: [u32; 4] = [0; 4];

/// Makes every call of the set through `kernel_call` (so `without-kernels` stubs each); the
/// number that failed.
pub fn run() -> u32 {
    // SAFETY: the only reference to BUFFERS, taken once; there are no interrupts or threads.
    let [x, w, y, s] = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    let mut failed = 0;
    let mut tally = |r: Result<(), Error>| failed += u32::from(r.is_err());
    tally(kernel_call(|| {
        conv2d(
            opaque(&CONV),
            opaque(&x[..]),
            opaque(&w[..]),
            opaque(Some(&w[..])),
            opaque(Some(Clamp::relu())),
            opaque(&mut y[..]),
            opaque(&mut s[..]),
        )
    }));
    tally(kernel_call(|| {
        max_pool2d(opaque(&POOL), opaque(&x[..]), opaque(&mut y[..]))
    }));
    tally(kernel_call(|| {
        avg_pool2d(opaque(&AVG), opaque(&x[..]), opaque(&mut y[..]))
    }));
    #[cfg(feature = "f32-set")]
    {
        // SAFETY: the only reference to INDICES, taken once.
        let idx = unsafe { &mut *core::ptr::addr_of_mut!(INDICES) };
        let accum = || opaque(Accum::Replace);
        tally(kernel_call(|| {
            let packed = conv2d_pack_weight(opaque(&CONV), opaque(&w[..]), opaque(&mut s[..]))?;
            conv2d_packed(
                opaque(&CONV),
                opaque(&x[..]),
                opaque(&packed),
                opaque(Some(&w[..])),
                opaque(Some(Clamp::relu())),
                opaque(&mut y[..]),
                opaque(&mut [][..]),
            )
        }));
        tally(kernel_call(|| {
            conv2d_backward_data(
                opaque(&CONV),
                opaque(&w[..]),
                opaque(&y[..]),
                opaque(&mut x[..]),
                accum(),
                opaque(&mut s[..]),
            )
        }));
        tally(kernel_call(|| {
            conv2d_backward_filter(
                opaque(&CONV),
                opaque(&x[..]),
                opaque(&y[..]),
                opaque(&mut w[..]),
                accum(),
                opaque(&mut s[..]),
            )
        }));
        tally(kernel_call(|| {
            conv2d_backward_bias(opaque(&CONV), opaque(&y[..]), opaque(&mut w[..]), accum())
        }));
        tally(kernel_call(|| {
            max_pool2d_with_indices(
                opaque(&POOL),
                opaque(&x[..]),
                opaque(&mut y[..]),
                opaque(&mut idx[..]),
            )
        }));
        tally(kernel_call(|| {
            max_pool2d_backward(
                opaque(&POOL),
                opaque(&y[..]),
                opaque(&idx[..]),
                opaque(&mut x[..]),
                accum(),
            )
        }));
        tally(kernel_call(|| {
            max_pool2d_backward_recompute(
                opaque(&POOL),
                opaque(&x[..]),
                opaque(&y[..]),
                opaque(&mut w[..]),
                accum(),
            )
        }));
        tally(kernel_call(|| {
            avg_pool2d_backward(opaque(&AVG), opaque(&y[..]), opaque(&mut x[..]), accum())
        }));
        tally(kernel_call(|| {
            global_avg_pool2d(opaque(X), opaque(&x[..]), opaque(&mut y[..]))
        }));
        tally(kernel_call(|| {
            global_avg_pool2d_backward(opaque(X), opaque(&y[..]), opaque(&mut x[..]), accum())
        }));
        tally(kernel_call(|| {
            pad(
                opaque(&PAD),
                opaque(0.0),
                opaque(&x[..]),
                opaque(&mut y[..]),
            )
        }));
        tally(kernel_call(|| {
            crop(opaque(&PAD), opaque(&y[..]), opaque(&mut x[..]))
        }));
        tally(kernel_call(|| {
            im2col(opaque(&COLS), opaque(&x[..]), opaque(&mut y[..]))
        }));
        tally(kernel_call(|| {
            im2col_columns(
                opaque(&COLS),
                opaque(&x[..]),
                opaque(0..2),
                opaque(&mut y[..]),
            )
        }));
        tally(kernel_call(|| {
            col2im(opaque(&COLS), opaque(&y[..]), opaque(&mut x[..]), accum())
        }));
        tally(kernel_call(|| {
            col2im_columns(
                opaque(&COLS),
                opaque(&y[..]),
                opaque(0..2),
                opaque(&mut x[..]),
                accum(),
            )
        }));
        tally(kernel_call(|| {
            let view = |d| opaque(MatRef::new(d, 2, 2, 2, 1));
            let c = MatMut::new(opaque(&mut y[..]), 2, 2, 2, 1)?;
            gemm(
                opaque(&GEMM),
                opaque(1.0),
                view(&x[..])?,
                view(&w[..])?,
                opaque(0.0),
                opaque(c),
                opaque(&mut [][..]),
            )
        }));
        tally(kernel_call(|| {
            let packed = gemm_pack_a(
                opaque(&GEMM),
                opaque(MatRef::new(&x[..], 2, 2, 2, 1))?,
                opaque(&mut s[..]),
            )?;
            let c = MatMut::new(opaque(&mut y[..]), 2, 2, 2, 1)?;
            gemm_packed(
                opaque(&GEMM),
                opaque(1.0),
                opaque(&packed),
                opaque(MatRef::new(&w[..], 2, 2, 2, 1))?,
                opaque(0.0),
                opaque(c),
                opaque(&mut [][..]),
            )
        }));
    }
    failed
}
