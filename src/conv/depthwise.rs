//! The direct kernel for depthwise convolution (one input channel per group, any channel
//! multiplier): no im2col, no scratch.
//!
//! Each (input plane, output plane) pair is walked tap by tap: for tap `(kh, kw)` the outputs
//! whose tap lands inside the input form a rectangle ([`Axis::inside`]), and each of its rows
//! is one contiguous run of outputs against a run of inputs with step `stride_w`. Output rows
//! are processed in bands small enough to stay in L1 while all taps sweep them.

use core::ops::Range;

use super::clamp::Clamp;
use super::geometry::Conv2d;
use crate::element::Element;
use crate::im2col::Im2col;

/// Output elements per band (a band of rows stays in L1 across the taps).
const BAND: usize = 2048;

/// Calls `f(tap, out, inp, len)` for every tap and every output row in `rows` where that tap
/// reads the input: outputs `out .. out + len` of the plane meet inputs `inp, inp + stride_w,
/// ...` (flat plane indices), weighted by tap `tap = kh * KW + kw`.
#[inline(always)]
fn for_each_run(g: &Im2col, rows: Range<usize>, mut f: impl FnMut(usize, usize, usize, usize)) {
    let wnd = g.window();
    let (axis_h, axis_w) = (wnd.axis_h(g.height()), wnd.axis_w(g.width()));
    let (out_h, out_w) = (g.out_h(), g.out_w());
    for kh in 0..wnd.kernel_h {
        let (lo, hi) = axis_h.inside(kh * wnd.dilation_h, out_h);
        let (lo, hi) = (lo.max(rows.start), hi.min(rows.end));
        for kw in 0..wnd.kernel_w {
            let (ow_lo, ow_hi) = axis_w.inside(kw * wnd.dilation_w, out_w);
            if ow_lo >= ow_hi {
                continue;
            }
            let tap = kh * wnd.kernel_w + kw;
            // In bounds: ow_lo is the first output whose tap is at or right of the left edge.
            let iw = ow_lo * wnd.stride_w + kw * wnd.dilation_w - wnd.padding.left;
            for oh in lo..hi {
                let ih = oh * wnd.stride_h + kh * wnd.dilation_h - wnd.padding.top;
                f(tap, oh * out_w + ow_lo, ih * g.width() + iw, ow_hi - ow_lo);
            }
        }
    }
}

/// The bands of output rows of a plane.
fn bands(g: &Im2col) -> impl Iterator<Item = Range<usize>> {
    let rows = (BAND / g.out_w()).max(1);
    let out_h = g.out_h();
    (0..out_h)
        .step_by(rows)
        .map(move |r| r..(r + rows).min(out_h))
}

/// `dst[i] += a * src[i * step]`.
#[inline(always)]
fn axpy<T: Element>(dst: &mut [T], a: T, src: &[T], step: usize) {
    if step == 1 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += a * *s;
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
            *d += a * *s;
        }
    }
}

/// `dst[i * step] += a * src[i]`.
#[inline(always)]
fn axpy_scatter<T: Element>(dst: &mut [T], a: T, src: &[T], step: usize) {
    if step == 1 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d += a * *s;
        }
    } else {
        for (d, s) in dst.iter_mut().step_by(step).zip(src) {
            *d += a * *s;
        }
    }
}

/// `sum(x[i * step] * y[i])`, in eight interleaved partial sums when contiguous.
#[inline(always)]
fn dot<T: Element>(x: &[T], y: &[T], step: usize) -> T {
    if step == 1 {
        let mut acc = [T::ZERO; 8];
        let (xs, ys) = (x.chunks_exact(8), y.chunks_exact(8));
        let (xr, yr) = (xs.remainder(), ys.remainder());
        for (a, b) in xs.zip(ys) {
            for i in 0..8 {
                acc[i] += a[i] * b[i];
            }
        }
        let mut tail = T::ZERO;
        for (a, b) in xr.iter().zip(yr) {
            tail += *a * *b;
        }
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    } else {
        let mut acc = T::ZERO;
        for (a, b) in x.iter().step_by(step).zip(y) {
            acc += *a * *b;
        }
        acc
    }
}

/// The input run a `(inp, len)` pair of [`for_each_run`] covers.
#[inline(always)]
fn run(inp: usize, len: usize, step: usize) -> Range<usize> {
    inp..inp + (len - 1) * step + 1
}

/// Forward: every output plane of every image.
pub(crate) fn forward<T: Element>(
    conv: &Conv2d,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
) {
    let g = conv.group();
    let (plane, out_plane, taps) = (g.image_len(), g.cols(), g.rows());
    let mult = conv.group_out_channels();
    let step = g.window().stride_w;
    for (i, y) in output.chunks_exact_mut(out_plane).enumerate() {
        // Output plane i is image i / OC, channel oc, reading input plane i / mult.
        let oc = i % conv.output().c();
        let x = &input[(i / mult) * plane..][..plane];
        let w = &weight[oc * taps..][..taps];
        let b = bias.map_or(T::ZERO, |b| b[oc]);
        for rows in bands(g) {
            let band = &mut y[rows.start * g.out_w()..rows.end * g.out_w()];
            band.fill(b);
            for_each_run(g, rows.clone(), |tap, out, inp, len| {
                axpy(
                    &mut y[out..out + len],
                    w[tap],
                    &x[run(inp, len, step)],
                    step,
                );
            });
            if let Some(c) = clamp {
                let band = &mut y[rows.start * g.out_w()..rows.end * g.out_w()];
                band.iter_mut().for_each(|v| *v = c.apply(*v));
            }
        }
    }
}

/// Backward-data: adds every output gradient plane into its input gradient plane.
pub(crate) fn backward_data<T: Element>(
    conv: &Conv2d,
    grad_output: &[T],
    weight: &[T],
    grad_input: &mut [T],
) {
    let g = conv.group();
    let (plane, out_plane, taps) = (g.image_len(), g.cols(), g.rows());
    let mult = conv.group_out_channels();
    let step = g.window().stride_w;
    for (i, dy) in grad_output.chunks_exact(out_plane).enumerate() {
        let oc = i % conv.output().c();
        let dx = &mut grad_input[(i / mult) * plane..][..plane];
        let w = &weight[oc * taps..][..taps];
        for rows in bands(g) {
            for_each_run(g, rows, |tap, out, inp, len| {
                axpy_scatter(
                    &mut dx[run(inp, len, step)],
                    w[tap],
                    &dy[out..out + len],
                    step,
                );
            });
        }
    }
}

/// Backward-filter: adds every image's contribution into the weight gradient.
pub(crate) fn backward_filter<T: Element>(
    conv: &Conv2d,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
) {
    let g = conv.group();
    let (plane, out_plane, taps) = (g.image_len(), g.cols(), g.rows());
    let mult = conv.group_out_channels();
    let step = g.window().stride_w;
    for (i, dy) in grad_output.chunks_exact(out_plane).enumerate() {
        let oc = i % conv.output().c();
        let x = &input[(i / mult) * plane..][..plane];
        let dw = &mut grad_weight[oc * taps..][..taps];
        for rows in bands(g) {
            for_each_run(g, rows, |tap, out, inp, len| {
                dw[tap] += dot(&x[run(inp, len, step)], &dy[out..out + len], step);
            });
        }
    }
}
