//! Max pooling: forward with or without indices, backward from indices or by recomputing.

use super::isa;
use super::rows::Rect;
use super::rows::{pass, Geo, Max};
use super::stride2::{Kernels, ARGMAX, MAX};
#[cfg(all(target_arch = "x86_64", not(miri)))]
use super::strips::Strips;
use crate::walk::{chunks, nth_chunk};
use core::num::NonZeroUsize;
use core::{iter, mem};

use super::Pool2d;
use crate::accum::Accum;
use crate::arch::Float;
use crate::element::Element;
use crate::error::{check_len, Error};

/// Outputs per run when the backward pass recomputes the argmax into stack buffers.
const RUN: usize = 32;

/// Max pooling: `output[n, c, oh, ow]` is the largest input in window `(oh, ow)` of plane
/// `(n, c)`.
///
/// Padding and ceil-mode overhang are never selected; a window holding NaN yields NaN. Every
/// element of `output` is written and none is read.
///
/// # Errors
/// [`Error::BufferLength`] unless `input.len() == g.input_len()` and `output.len() == g.output_len()`.
///
/// ```
/// use nchw::{max_pool2d, Padding, Pool2d, Rounding, Shape, Window};
/// // 1x1x3x3 input, 2x2 window, stride 1, one padding row on top: padding is never selected.
/// let w = Window::square(2).with_padding(Padding { top: 1, ..Padding::ZERO });
/// let g = Pool2d::new(Shape::new(1, 1, 3, 3)?, w, Rounding::Floor)?;
/// let x = [-1.0f32, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, f32::NAN, -9.0];
/// let mut y = [0.0f32; 6];
/// max_pool2d(&g, &x, &mut y)?;
/// assert_eq!(&y[..4], &[-1.0, -2.0, -1.0, -2.0]);
/// assert!(y[4].is_nan() && y[5].is_nan());
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn max_pool2d<T: Float>(g: &Pool2d, input: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("input", g.input_len(), input.len())?;
    check_len("output", g.output_len(), output.len())?;
    let geo = *g.geo();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let Some(s) = Strips::<T>::new(g.isa(), &geo, g.input.n() * g.input.c(), true) {
        s.max(input, output);
        return Ok(());
    }
    let fast = Kernels::<T>::new::<MAX>(g.isa(), &geo);
    isa::run(
        g,
        #[inline(always)]
        || forward::<T, false>(&geo, fast, input, output, &mut []),
    );
    Ok(())
}

/// Max pooling that also records where each maximum came from: `indices[i]` is the flat
/// `h * W + w` position, within its `(n, c)` plane, of the input that `output[i]` was taken from.
///
/// Ties go to the first maximum in row-major window order; in a window holding NaN, the index
/// is that of the last NaN. These are the indices `max_unpool2d` and
/// [`max_pool2d_backward`] consume.
///
/// # Errors
/// [`Error::Unsupported`] if a plane has more than `2^32` elements (indices are `u32`);
/// [`Error::BufferLength`] unless `input.len() == g.input_len()`, `output.len() == g.output_len()` and
/// `indices.len() == g.indices_len()`.
///
/// ```
/// use nchw::{max_pool2d_with_indices, Pool2d, Rounding, Shape, Window};
/// let g = Pool2d::new(Shape::new(1, 1, 2, 4)?, Window::square(2).with_stride(2, 2), Rounding::Floor)?;
/// let x = [1.0f32, 3.0, 5.0, 0.5,
///          3.0, 2.0, 5.0, 5.0]; // ties: the first 3 and the first 5 win
/// let (mut y, mut idx) = ([0.0f32; 2], [0u32; 2]);
/// max_pool2d_with_indices(&g, &x, &mut y, &mut idx)?;
/// assert_eq!((y, idx), ([3.0, 5.0], [1, 2]));
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn max_pool2d_with_indices<T: Float>(
    g: &Pool2d,
    input: &[T],
    output: &mut [T],
    indices: &mut [u32],
) -> Result<(), Error> {
    check_indexable(g)?;
    check_len("input", g.input_len(), input.len())?;
    check_len("output", g.output_len(), output.len())?;
    check_len("indices", g.indices_len(), indices.len())?;
    let geo = *g.geo();
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if let Some(s) = Strips::<T>::new(g.isa(), &geo, g.input.n() * g.input.c(), true) {
        // Planes of at most 2^32 elements: check_indexable.
        s.argmax(input, output, indices);
        return Ok(());
    }
    let fast = Kernels::<T>::new::<ARGMAX>(g.isa(), &geo);
    isa::run(
        g,
        #[inline(always)]
        || forward::<T, true>(&geo, fast, input, output, indices),
    );
    Ok(())
}

/// Max pooling backward from saved indices: `grad_input[plane][indices[i]] += grad_output[i]` for every output
/// `i`, so overlapping windows accumulate.
///
/// With [`Accum::Replace`] `grad_input` is zeroed first and never read; with [`Accum::Add`] the
/// gradient is added to it. An index need not lie in its output's window (as for
/// `max_unpool2d`), only in its plane; all are checked before anything is written.
///
/// # Errors
/// [`Error::BufferLength`] unless `grad_output.len() == g.output_len()`,
/// `indices.len() == g.indices_len()` and `grad_input.len() == g.input_len()`;
/// [`Error::IndexOutOfRange`] if an index is not below `H * W`.
///
/// ```
/// use nchw::{max_pool2d_backward, Accum, Pool2d, Rounding, Shape, Window};
/// // Two overlapping 1x2 windows that both picked input 1.
/// let g = Pool2d::new(Shape::new(1, 1, 1, 3)?, Window::new(1, 2), Rounding::Floor)?;
/// let mut dx = [f64::NAN; 3];
/// max_pool2d_backward(&g, &[1.0, 10.0], &[1, 1], &mut dx, Accum::Replace)?;
/// assert_eq!(dx, [0.0, 11.0, 0.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn max_pool2d_backward<T: Float>(
    g: &Pool2d,
    grad_output: &[T],
    indices: &[u32],
    grad_input: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    check_len("grad_output", g.output_len(), grad_output.len())?;
    check_len("indices", g.indices_len(), indices.len())?;
    check_len("grad_input", g.input_len(), grad_input.len())?;
    let geo = *g.geo();
    let plane_in = geo.plane_in().get();
    let bad = indices
        .iter()
        .enumerate()
        .find(|&(_, &i)| i as usize >= plane_in);
    if let Some((position, &index)) = bad {
        return Err(Error::IndexOutOfRange {
            buffer: "indices",
            position,
            index: index as usize,
            len: plane_in,
        });
    }
    let planes = chunks(grad_input, geo.plane_in().get()).zip(
        chunks(grad_output, geo.plane_out().get()).zip(chunks(indices, geo.plane_out().get())),
    );
    for (dxp, (dyp, ip)) in planes {
        if accum == Accum::Replace {
            dxp.fill(T::ZERO);
        }
        for (&d, &i) in dyp.iter().zip(ip) {
            // Every index was checked to be below H * W == dxp.len() above: this `get_mut`
            // always succeeds and only spares a bounds-check panic the optimizer cannot
            // rule out.
            if let Some(v) = dxp.get_mut(i as usize) {
                *v += d;
            }
        }
    }
    Ok(())
}

/// Max pooling backward without saved indices: recomputes each window's argmax from `input`
/// (same tie and NaN rules as [`max_pool2d_with_indices`]) and adds `grad_output` there. Gives the
/// same `grad_input` as [`max_pool2d_backward`] with the forward pass's indices.
///
/// With [`Accum::Replace`] `grad_input` is zeroed first and never read; with [`Accum::Add`] the
/// gradient is added to it.
///
/// # Errors
/// [`Error::Unsupported`] if a plane has more than `2^32` elements;
/// [`Error::BufferLength`] unless `input.len() == grad_input.len() == g.input_len()` and
/// `grad_output.len() == g.output_len()`.
///
/// ```
/// use nchw::{max_pool2d_backward_recompute, Accum, Pool2d, Rounding, Shape, Window};
/// let g = Pool2d::new(Shape::new(1, 1, 1, 3)?, Window::new(1, 2), Rounding::Floor)?;
/// let x = [1.0f32, 2.0, 2.0]; // window 1's tie goes to its first 2
/// let mut dx = [1.0f32; 3];
/// max_pool2d_backward_recompute(&g, &x, &[1.0, 10.0], &mut dx, Accum::Add)?;
/// assert_eq!(dx, [1.0, 12.0, 1.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn max_pool2d_backward_recompute<T: Float>(
    g: &Pool2d,
    input: &[T],
    grad_output: &[T],
    grad_input: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    check_indexable(g)?;
    check_len("input", g.input_len(), input.len())?;
    check_len("grad_output", g.output_len(), grad_output.len())?;
    check_len("grad_input", g.input_len(), grad_input.len())?;
    let geo = *g.geo();
    let fast = Kernels::<T>::new::<ARGMAX>(g.isa(), &geo);
    isa::run(
        g,
        #[inline(always)]
        || backward_recompute(&geo, fast, input, grad_output, grad_input, accum),
    );
    Ok(())
}

/// Indices are `u32`: every plane position must fit.
fn check_indexable(g: &Pool2d) -> Result<(), Error> {
    let plane = g.input.plane_len();
    if plane as u64 > u32::MAX as u64 + 1 {
        return Err(Error::Unsupported {
            operation: "max pooling with u32 indices",
            parameter: "plane_len",
            value: plane,
        });
    }
    Ok(())
}

/// The forward pass over all planes; `idx` is empty unless `IDX`. `fast`: the stride-2
/// kernels for the interior outputs, if they serve this pooling.
#[inline(always)]
fn forward<T: Element, const IDX: bool>(
    geo: &Geo,
    fast: Option<Kernels<T>>,
    x: &[T],
    y: &mut [T],
    idx: &mut [u32],
) {
    let (plane_in, plane_out) = (geo.plane_in(), geo.plane_out());
    if let (Some(k), false) = (fast, IDX) {
        if let Some(tall) = geo.stacked(x.len() / plane_in) {
            // SAFETY: as below, over all planes stacked into one (no indices to compute).
            unsafe { plane_stride2::<T, false>(k, &tall, x, y, &mut []) };
            return;
        }
    }
    let planes = chunks(x, plane_in.get())
        .zip(chunks(y, plane_out.get()))
        .zip(index_runs(idx, plane_out));
    for ((xp, yp), ip) in planes {
        if let Some(k) = fast {
            // SAFETY: one plane; when indices are kept, `idx` holds one per output (checked
            // by max_pool2d_with_indices), so its runs are as long as the planes.
            unsafe { plane_stride2::<T, IDX>(k, geo, xp, yp, ip) };
            continue;
        }
        let rows = chunks(yp, geo.out_w().get()).zip(index_runs(ip, geo.out_w()));
        for (oh, (y_row, idx_row)) in rows.enumerate() {
            // SAFETY: when indices are kept, `idx` holds one per output (checked by
            // max_pool2d_with_indices), so its runs are OW long, as the output rows.
            unsafe { passes::<T, IDX>(geo, xp, oh, 0, y_row, idx_row, true) };
        }
    }
}

/// `idx` in runs of `len`, one per plane or output row, when indices are kept; when they
/// are not, `idx` is empty and this is an endless supply of empty runs (zipped with the
/// outputs, which end first).
#[inline(always)]
fn index_runs(idx: &mut [u32], len: NonZeroUsize) -> impl Iterator<Item = &mut [u32]> {
    chunks(idx, len.get()).chain(iter::repeat_with(<&mut [u32]>::default))
}

/// Max (and argmax if `IDX`) of the windows `c0..c0 + y.len()` of output row `oh` of the
/// input plane `xp`, one pass per input row; `interior`: also the interior outputs.
///
/// On M-profile cores with an FPU the argmax passes are one function, out of line (flash:
/// they serve `max_pool2d_with_indices` and both backward passes, where each inlined copy
/// would hold two reducers' loops); the max's stay inline (`max_pool2d`'s code as it was).
///
/// # Safety
/// When `IDX`, `idx.len() == y.len()`.
#[inline(always)]
unsafe fn passes<T: Element, const IDX: bool>(
    geo: &Geo,
    xp: &[T],
    oh: usize,
    c0: usize,
    y: &mut [T],
    idx: &mut [u32],
    interior: bool,
) {
    let mut body = move || {
        let mut first = true;
        for (ih, x_row) in geo.window_rows(xp, oh) {
            // ih * W < H * W <= 2^32 (check_indexable) when indices are kept.
            let base = (ih * geo.w()) as u32;
            let (y, idx) = (&mut *y, &mut *idx);
            if mem::take(&mut first) {
                // SAFETY: the rows of Geo::window_rows are W long; idx as the caller's
                // precondition.
                let max = unsafe { Max::<T, true, IDX>::new(x_row, base, y, idx) };
                pass(geo, c0, max, interior);
            } else {
                // SAFETY: as above.
                let max = unsafe { Max::<T, false, IDX>::new(x_row, base, y, idx) };
                pass(geo, c0, max, interior);
            }
        }
    };
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    if IDX {
        return out_of_line(body);
    }
    body()
}

/// Calls `f` in a function of its own, never inlined: one copy of its body for all callers.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(never)]
fn out_of_line(f: impl FnOnce()) {
    f()
}

/// Every output of one plane: the interior columns by the stride-2 kernels `k`, the border
/// columns by passes ([`Kernels::plane`]).
///
/// # Safety
/// `xp` and `yp` are one plane of `geo` (or all planes, stacked); when `IDX`, `ip` is as long
/// as `yp`.
#[inline(always)]
unsafe fn plane_stride2<T: Element, const IDX: bool>(
    k: Kernels<T>,
    geo: &Geo,
    xp: &[T],
    yp: &mut [T],
    ip: &mut [u32],
) {
    k.plane(
        geo,
        // Kernels that skip padding columns take whole rows.
        k.padded(),
        &mut (yp, ip),
        // SAFETY: the caller's preconditions; Kernels::plane's rectangles read only taps
        // inside the plane; the plane has at most 2^32 elements when indices are kept
        // (check_indexable).
        |(yp, ip), rect, _| unsafe { stride2_rect::<T, IDX>(k, geo, xp, rect, yp, ip) },
        |(yp, ip), oh| border_row::<T, IDX>(geo, xp, oh, yp, ip),
    );
}

/// The border outputs of output row `oh` of a plane (those outside the interior columns),
/// by passes.
#[inline(always)]
fn border_row<T: Element, const IDX: bool>(
    geo: &Geo,
    xp: &[T],
    oh: usize,
    yp: &mut [T],
    ip: &mut [u32],
) {
    let out_w = geo.out_w().get();
    let (y_row, idx_row) = (nth_chunk(yp, oh, out_w), nth_chunk(ip, oh, out_w));
    // SAFETY: when indices are kept, `ip` is as long as `yp`, so both rows are OW long.
    unsafe { passes::<T, IDX>(geo, xp, oh, 0, y_row, idx_row, false) };
}

/// The stride-2 kernel for the max, with or without indices.
///
/// # Safety
/// As [`Kernels::run`].
#[inline(always)]
unsafe fn stride2_rect<T: Element, const IDX: bool>(
    k: Kernels<T>,
    geo: &Geo,
    xp: &[T],
    rect: &Rect,
    y: &mut [T],
    idx: &mut [u32],
) {
    let taps = geo.stride2_taps().unwrap_or(2);
    // SAFETY: the caller's preconditions.
    unsafe {
        if IDX {
            k.run::<ARGMAX>(taps, xp, rect, 0.0, y, idx);
        } else {
            k.run::<MAX>(taps, xp, rect, 0.0, y, idx);
        }
    }
}

/// [`passes`] over all outputs of the run, with the interior ones done by the stride-2
/// kernels when `fast` has them and `oh` is an interior row.
///
/// # Safety
/// When `IDX`, `idx.len() == y.len()`.
#[inline(always)]
unsafe fn window_row<T: Element, const IDX: bool>(
    geo: &Geo,
    fast: Option<Kernels<T>>,
    xp: &[T],
    oh: usize,
    c0: usize,
    y: &mut [T],
    idx: &mut [u32],
) {
    let (rl, rh) = geo.interior_rows();
    if let Some(k) = fast.filter(|_| (rl..rh).contains(&oh)) {
        // SAFETY: the caller's precondition.
        unsafe { passes::<T, IDX>(geo, xp, oh, c0, y, idx, false) };
        let (a, b) = geo.split(c0, y.len());
        if a < b {
            let rect = geo.rect((oh, oh + 1), (c0 + a, c0 + b), a, 0);
            // SAFETY: the run's interior outputs of an interior row read only taps inside
            // the plane; the plane has at most 2^32 elements (check_indexable).
            unsafe { stride2_rect::<T, IDX>(k, geo, xp, &rect, y, idx) };
        }
        return;
    }
    // SAFETY: the caller's precondition.
    unsafe { passes::<T, IDX>(geo, xp, oh, c0, y, idx, true) };
}

/// Recomputes every argmax, a run of outputs at a time, and routes `dy` to it.
#[inline(always)]
fn backward_recompute<T: Element>(
    geo: &Geo,
    fast: Option<Kernels<T>>,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    accum: Accum,
) {
    let planes = chunks(x, geo.plane_in().get())
        .zip(chunks(dx, geo.plane_in().get()))
        .zip(chunks(dy, geo.plane_out().get()));
    for ((xp, dxp), dyp) in planes {
        if accum == Accum::Replace {
            dxp.fill(T::ZERO);
        }
        for (oh, dy_row) in chunks(dyp, geo.out_w().get()).enumerate() {
            for (r, dy_run) in dy_row.chunks(RUN).enumerate() {
                let mut y = [T::ZERO; RUN];
                let mut idx = [0u32; RUN];
                let n = dy_run.len();
                debug_assert!(n <= RUN);
                // SAFETY: n <= RUN, dy_run being a chunk of chunks(RUN).
                let (y, idx) = unsafe { (y.get_unchecked_mut(..n), idx.get_unchecked_mut(..n)) };
                // SAFETY: y and idx are both n long.
                unsafe { window_row::<T, true>(geo, fast, xp, oh, r * RUN, y, idx) };
                for (&d, &i) in dy_run.iter().zip(&*idx) {
                    let i = i as usize;
                    debug_assert!(i < dxp.len());
                    // SAFETY: window_row wrote every index, each the in-plane position
                    // `ih * W + c` of one of the window's taps inside the input (rows from
                    // Geo::window_rows, columns from Geo::col or the interior), so below
                    // H * W == dxp.len().
                    unsafe { *dxp.get_unchecked_mut(i) += d };
                }
            }
        }
    }
}
