//! Average pooling, forward and backward, and global average pooling.

use core::num::NonZeroUsize;

use super::isa;
use super::rows::{pass, Along, Geo, Spread, Sum};
use super::stride2::{Kernels, SUM};
#[cfg(all(target_arch = "x86_64", not(miri)))]
use super::strips::Strips;
use super::{AvgPool2d, Divisor};
use crate::accum::Accum;
use crate::arch::Float;
use crate::arch::{self, Isa};
use crate::element::Element;
use crate::error::{check_len, Error};
use crate::shape::Shape;
use crate::walk::{chunks, nth_chunk};

/// Outputs per run when the backward pass computes `dy / divisor` into a stack buffer.
const RUN: usize = 32;

/// Independent partial sums of [`global_avg_pool2d`]: one 512-bit vector of `f32`.
const LANES: usize = 16;

/// Average pooling: `output[n, c, oh, ow]` is the sum of window `(oh, ow)` of plane `(n, c)`
/// divided by the window's [`Divisor`].
///
/// The sum starts from zero and adds the window's inputs in row-major order (padding adds
/// nothing), then is divided, so the result is exactly that of the textbook loop. Every
/// element of `output` is written and none is read.
///
/// # Errors
/// [`Error::BufferLength`] unless `input.len() == a.pool().input_len()` and
/// `output.len() == a.pool().output_len()`.
///
/// ```
/// use nchw::{avg_pool2d, AvgPool2d, Divisor, Padding, Pool2d, Rounding, Shape, Window};
/// // 1x1x1x4 input, 1x3 window, stride 2, one padding column each side.
/// let w = Window::new(1, 3).with_stride(1, 2).with_padding(Padding::symmetric(0, 1));
/// let g = Pool2d::new(Shape::new(1, 1, 1, 4)?, w, Rounding::Floor)?;
/// let x = [3.0f32, 6.0, 9.0, 12.0];
/// let mut y = [0.0f32; 2];
/// avg_pool2d(&AvgPool2d::new(g, Divisor::CountIncludePad)?, &x, &mut y)?;
/// assert_eq!(y, [3.0, 9.0]); // (0 + 3 + 6) / 3, (6 + 9 + 12) / 3
/// avg_pool2d(&AvgPool2d::new(g, Divisor::CountExcludePad)?, &x, &mut y)?;
/// assert_eq!(y, [4.5, 9.0]); // (3 + 6) / 2
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn avg_pool2d<T: Float>(a: &AvgPool2d, input: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("input", a.pool.input_len(), input.len())?;
    check_len("output", a.pool.output_len(), output.len())?;
    let geo = *a.pool.geo();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let Some(s) = Strips::<T>::new(
        a.pool.isa(),
        &geo,
        a.pool.input.n() * a.pool.input.c(),
        false,
    ) {
        s.avg(input, output, a.divisor);
        return Ok(());
    }
    let fast = Kernels::<T>::new::<SUM>(a.pool.isa(), &geo);
    isa::run(
        &a.pool,
        #[inline(always)]
        || forward(&geo, fast, a.divisor, input, output),
    );
    Ok(())
}

/// Average pooling backward: every output adds `grad_output / divisor` to each input position of its
/// window (padding takes nothing); overlapping windows accumulate.
///
/// With [`Accum::Replace`] `grad_input` is zeroed first and never read; with [`Accum::Add`] the
/// gradient is added to it.
///
/// # Errors
/// [`Error::BufferLength`] unless `grad_output.len() == a.pool().output_len()` and
/// `grad_input.len() == a.pool().input_len()`.
///
/// ```
/// use nchw::{avg_pool2d_backward, Accum, AvgPool2d, Divisor, Pool2d, Rounding, Shape, Window};
/// // [1, 2, 3, 4, 5], k = 2, s = 2, ceil mode: the last window holds input 4 alone.
/// let g = Pool2d::new(Shape::new(1, 1, 1, 5)?, Window::new(1, 2).with_stride(1, 2), Rounding::Ceil)?;
/// let mut dx = [f32::NAN; 5];
/// avg_pool2d_backward(&AvgPool2d::new(g, Divisor::CountIncludePad)?, &[2.0, 4.0, 8.0], &mut dx, Accum::Replace)?;
/// assert_eq!(dx, [1.0, 1.0, 2.0, 2.0, 8.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn avg_pool2d_backward<T: Float>(
    a: &AvgPool2d,
    grad_output: &[T],
    grad_input: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    check_len("grad_output", a.pool.output_len(), grad_output.len())?;
    check_len("grad_input", a.pool.input_len(), grad_input.len())?;
    let geo = *a.pool.geo();
    isa::run(
        &a.pool,
        #[inline(always)]
        || backward(&geo, a.divisor, grad_output, grad_input, accum),
    );
    Ok(())
}

/// Global average pooling: `output[n * C + c]` is the mean of plane `(n, c)` of `input` (shaped `shape`), the
/// `N x C x 1 x 1` output of a classifier head.
///
/// The plane is summed in 16 interleaved partial sums, combined pairwise, then divided by
/// `H * W`: a different rounding order from a sequential loop (closer to the exact sum for
/// large planes), the same on every code path.
///
/// # Errors
/// [`Error::EmptyWindow`] if `H` or `W` is zero while there are planes to average;
/// [`Error::BufferLength`] unless `input.len() == shape.len()` and `output.len() == N * C`.
///
/// ```
/// use nchw::{global_avg_pool2d, Shape};
/// let x = [1.0f32, 2.0, 3.0, 4.0, /* plane 2 */ 10.0, 10.0, 10.0, 30.0];
/// let mut y = [0.0f32; 2];
/// global_avg_pool2d(Shape::new(1, 2, 2, 2)?, &x, &mut y)?;
/// assert_eq!(y, [2.5, 15.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn global_avg_pool2d<T: Float>(
    shape: Shape,
    input: &[T],
    output: &mut [T],
) -> Result<(), Error> {
    check_global(shape)?;
    check_len("input", shape.len(), input.len())?;
    check_len("output", shape.n() * shape.c(), output.len())?;
    // SAFETY: the detected instruction set is available.
    unsafe {
        arch::run(
            Isa::best(),
            #[inline(always)]
            || global_forward(shape.plane_len(), input, output),
        )
    };
    Ok(())
}

/// Global average pooling backward: every input of plane `p` gets `grad_output[p] / (H * W)`.
///
/// With [`Accum::Replace`] `grad_input` is overwritten and never read; with [`Accum::Add`] the
/// gradient is added to it.
///
/// # Errors
/// [`Error::EmptyWindow`] if `H` or `W` is zero while there are planes;
/// [`Error::BufferLength`] unless `grad_output.len() == N * C` and `grad_input.len() == shape.len()`.
///
/// ```
/// use nchw::{global_avg_pool2d_backward, Accum, Shape};
/// let mut dx = [f32::NAN; 4];
/// global_avg_pool2d_backward(Shape::new(1, 1, 2, 2)?, &[2.0], &mut dx, Accum::Replace)?;
/// assert_eq!(dx, [0.5; 4]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn global_avg_pool2d_backward<T: Float>(
    shape: Shape,
    grad_output: &[T],
    grad_input: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    check_global(shape)?;
    check_len("grad_output", shape.n() * shape.c(), grad_output.len())?;
    check_len("grad_input", shape.len(), grad_input.len())?;
    // SAFETY: the detected instruction set is available.
    unsafe {
        arch::run(
            Isa::best(),
            #[inline(always)]
            || global_backward(shape.plane_len(), grad_output, grad_input, accum),
        )
    };
    Ok(())
}

/// A plane must hold something to be averaged (unless there are no planes at all).
fn check_global(input: Shape) -> Result<(), Error> {
    if input.n() * input.c() == 0 {
        return Ok(());
    }
    let axis = match (input.h(), input.w()) {
        (0, _) => "height",
        (_, 0) => "width",
        _ => return Ok(()),
    };
    Err(Error::EmptyWindow { axis, output: 0 })
}

/// Divides output row `oh`'s window sums `y` (outputs `c0..`) by their divisors (the
/// interior outputs' only if `interior`).
// Out of line on M-profile cores with an FPU (flash); inside the ISA wrapper elsewhere.
#[cfg_attr(
    not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")),
    inline(always)
)]
#[cfg_attr(
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none"),
    inline(never)
)]
fn divide<T: Element>(
    geo: &Geo,
    divisor: Divisor,
    oh: usize,
    c0: usize,
    y: &mut [T],
    interior: bool,
) {
    let [head, body, tail] = geo.split_mut(c0, y);
    let include_pad = match divisor {
        Divisor::Override(d) => {
            let d = T::from_usize(d);
            head.iter_mut().chain(tail).for_each(|v| *v = *v / d);
            if interior {
                body.iter_mut().for_each(|v| *v = *v / d);
            }
            return;
        }
        Divisor::CountIncludePad => true,
        Divisor::CountExcludePad => false,
    };
    let rows = geo.counted(Along::Rows, oh, include_pad);
    let c1 = c0 + head.len() + body.len(); // the first output of the tail
    if interior {
        // Interior windows lie inside the input: they count the whole kernel width.
        let d = T::from_usize(rows * geo.kernel_w());
        body.iter_mut().for_each(|v| *v = *v / d);
    }
    for (j, v) in head.iter_mut().enumerate() {
        *v = *v / T::from_usize(rows * geo.counted(Along::Cols, c0 + j, include_pad));
    }
    for (j, v) in tail.iter_mut().enumerate() {
        *v = *v / T::from_usize(rows * geo.counted(Along::Cols, c1 + j, include_pad));
    }
}

/// The forward pass over all planes. `fast`: the stride-2 kernels, if they serve it.
#[inline(always)]
fn forward<T: Element>(
    geo: &Geo,
    fast: Option<Kernels<T>>,
    divisor: Divisor,
    x: &[T],
    y: &mut [T],
) {
    match fast {
        Some(k) => forward_stride2(k, geo, divisor, x, y),
        None => forward_passes(geo, divisor, x, y),
    }
}

/// [`forward`] by the stride-2 kernels `k`: all planes stacked into one where they stack,
/// else plane by plane.
// The two paths out of line on bare-metal targets, where no instruction set is enabled per
// function: each call's stack then holds only its own path's values.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline(never))]
fn forward_stride2<T: Element>(k: Kernels<T>, geo: &Geo, divisor: Divisor, x: &[T], y: &mut [T]) {
    if let Some(tall) = geo.stacked(x.len() / geo.plane_in()) {
        // SAFETY: as below, over all planes stacked into one.
        unsafe { plane_stride2(k, &tall, divisor, x, y) };
        return;
    }
    let planes = chunks(x, geo.plane_in().get()).zip(chunks(y, geo.plane_out().get()));
    for (xp, yp) in planes {
        // SAFETY: one plane.
        unsafe { plane_stride2(k, geo, divisor, xp, yp) };
    }
}

/// [`forward`] by passes over the window's rows, plane by plane.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline(never))]
fn forward_passes<T: Element>(geo: &Geo, divisor: Divisor, x: &[T], y: &mut [T]) {
    let planes = chunks(x, geo.plane_in().get()).zip(chunks(y, geo.plane_out().get()));
    for (xp, yp) in planes {
        for (oh, y_row) in chunks(yp, geo.out_w().get()).enumerate() {
            y_row.fill(T::ZERO);
            for (_, x_row) in geo.window_rows(xp, oh) {
                // SAFETY: the rows of Geo::window_rows are W long.
                pass(geo, 0, unsafe { Sum::new(y_row, x_row) }, true);
            }
            divide(geo, divisor, oh, 0, y_row, true);
        }
    }
}

/// The averages of one plane: the interior columns by the stride-2 kernels `k`, the border
/// columns by passes ([`Kernels::plane`]).
///
/// # Safety
/// `xp` and `yp` are one plane of `geo` (or all planes, stacked).
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline(never))]
unsafe fn plane_stride2<T: Element>(
    k: Kernels<T>,
    geo: &Geo,
    divisor: Divisor,
    xp: &[T],
    yp: &mut [T],
) {
    let out_w = geo.out_w().get();
    let taps = geo.stride2_taps().unwrap_or(2);
    // The interior columns' divisor: interior windows lie inside the input, where every
    // rule counts the whole kernel; a row whose window reaches into the top or bottom
    // padding (`Some(oh)`) counts its rows as the rule says.
    let div = |row: Option<usize>| match (divisor, row) {
        (Divisor::Override(d), _) => d,
        (_, None) => geo.kernel_h() * geo.kernel_w(),
        (Divisor::CountIncludePad, Some(oh)) => geo.counted(Along::Rows, oh, true) * geo.kernel_w(),
        (Divisor::CountExcludePad, Some(oh)) => {
            geo.counted(Along::Rows, oh, false) * geo.kernel_w()
        }
    };
    k.plane(
        geo,
        false,
        yp,
        // SAFETY: the caller's preconditions; Kernels::plane's rectangles hold interior
        // columns and read only taps inside the plane.
        |yp, rect, row| unsafe { k.run::<SUM>(taps, xp, rect, div(row) as f32, yp, &mut []) },
        // The border columns of output row `oh`, by passes.
        |yp, oh| {
            let y_row = nth_chunk(yp, oh, out_w);
            let [head, _, tail] = geo.split_mut(0, &mut *y_row);
            head.fill(T::ZERO);
            tail.fill(T::ZERO);
            for (_, x_row) in geo.window_rows(xp, oh) {
                // SAFETY: the rows of Geo::window_rows are W long.
                pass(geo, 0, unsafe { Sum::new(&mut *y_row, x_row) }, false);
            }
            divide(geo, divisor, oh, 0, y_row, false);
        },
    );
}

#[inline(always)]
fn backward<T: Element>(geo: &Geo, divisor: Divisor, dy: &[T], dx: &mut [T], accum: Accum) {
    let planes = chunks(dx, geo.plane_in().get()).zip(chunks(dy, geo.plane_out().get()));
    for (dxp, dyp) in planes {
        if accum == Accum::Replace {
            dxp.fill(T::ZERO);
        }
        for (oh, dy_row) in chunks(dyp, geo.out_w().get()).enumerate() {
            for (r, dy_run) in dy_row.chunks(RUN).enumerate() {
                let mut g = [T::ZERO; RUN];
                debug_assert!(dy_run.len() <= RUN);
                // SAFETY: dy_run is a chunk of chunks(RUN), at most RUN long.
                let g = unsafe { g.get_unchecked_mut(..dy_run.len()) };
                for (g, &d) in g.iter_mut().zip(dy_run) {
                    *g = d;
                }
                divide(geo, divisor, oh, r * RUN, g, true);
                for dx_row in geo.window_rows_mut(dxp, oh) {
                    // SAFETY: the rows of Geo::window_rows_mut are W long.
                    pass(geo, r * RUN, unsafe { Spread::new(g, dx_row) }, true);
                }
            }
        }
    }
}

#[inline(always)]
fn global_forward<T: Element>(plane: usize, x: &[T], y: &mut [T]) {
    // An empty plane means no planes at all (check_global): nothing to do.
    let Some(plane) = NonZeroUsize::new(plane) else {
        return;
    };
    let hw = T::from_usize(plane.get());
    for (xp, out) in chunks(x, plane.get()).zip(y.iter_mut()) {
        let mut acc = [T::ZERO; LANES];
        let mut chunks = xp.chunks_exact(LANES);
        for c in &mut chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
            *a += v;
        }
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            let (lo, hi) = acc.split_at_mut(width);
            for (a, &b) in lo.iter_mut().zip(&*hi) {
                *a += b;
            }
        }
        *out = acc[0] / hw;
    }
}

#[inline(always)]
fn global_backward<T: Element>(plane: usize, dy: &[T], dx: &mut [T], accum: Accum) {
    // As in global_forward.
    let Some(plane) = NonZeroUsize::new(plane) else {
        return;
    };
    let hw = T::from_usize(plane.get());
    for (dxp, &d) in dx.chunks_exact_mut(plane.get()).zip(dy) {
        let g = d / hw;
        match accum {
            Accum::Replace => dxp.fill(g),
            Accum::Add => dxp.iter_mut().for_each(|v| *v += g),
        }
    }
}
