//! The direct kernel for depthwise convolution (one input channel per group, any channel
//! multiplier): no im2col, no scratch.
//!
//! One body per pass, generic over the arch layer's [`Simd`] vectors and compiled for the
//! geometry's instruction set by [`Float::dispatch`]; the portable build is the same body
//! on one-lane "vectors".
//!
//! - Forward computes each output row in blocks of `NV` vectors held in registers across all
//!   taps (each output written once); the columns whose taps reach into the padding take a
//!   scalar loop that skips those taps.
//! - Backward-data walks each (input plane, output plane) pair tap by tap: the outputs whose
//!   tap lands inside the input form a rectangle ([`Axis::inside`](crate::window)), each row
//!   of it a run added into the input gradient (a strided scatter when the stride is not 1).
//! - Backward-filter walks the same runs, summing each tap's products in vector registers.
//!
//! Output rows go in bands small enough to stay in L1 while all taps sweep them.

use core::ops::Range;

use super::chunks::{chunks, pairs};
use super::clamp::{biases, Clamp};
use super::geometry::Conv2d;
use crate::arch::{Float, Kernel, Scalar, Simd};
use crate::element::Element;
use crate::im2col::Im2col;

/// Output elements per band (a band of rows stays in L1 across the taps).
const BAND: usize = 2048;

/// Calls `f(tap, out, inp, len)` for every tap and every output row in `rows` where that tap
/// reads the input: outputs `out .. out + len` of the plane meet inputs `inp, inp + stride_w,
/// ...` (flat plane indices), weighted by tap `tap = kh * KW + kw`. Taps are the outer
/// loops, so all the runs of one tap come in a row.
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
    // A geometry has at least one output column; `max(1)` shows the optimizer the divisor
    // is nonzero.
    let rows = (BAND / g.out_w().max(1)).max(1);
    let out_h = g.out_h();
    (0..out_h)
        .step_by(rows)
        .map(move |r| r..(r + rows).min(out_h))
}

/// The input run a `(inp, len)` pair of [`for_each_run`] covers.
#[inline(always)]
fn run(inp: usize, len: usize, step: usize) -> Range<usize> {
    inp..inp + (len - 1) * step + 1
}

/// The taps of one output row of a depthwise forward: `input_row(kh)` is the input row tap
/// row `kh` reads (`None` in the padding); output `ow`, tap `kw` reads its column
/// `ow * stride + kw * dilation - left`.
struct Taps<'a, T, R> {
    input_row: R,
    w: &'a [T],
    kernel_h: usize,
    kernel_w: usize,
    dilation: usize,
    stride: usize,
    left: usize,
}

impl<'a, T: Element, R: Fn(usize) -> Option<&'a [T]>> Taps<'a, T, R> {
    /// Output `ow`, skipping taps in the padding.
    #[inline(always)]
    fn scalar(&self, ow: usize, bias: T) -> T {
        let mut acc = bias;
        for kh in 0..self.kernel_h {
            let Some(xr) = (self.input_row)(kh) else {
                continue;
            };
            for kw in 0..self.kernel_w {
                let c = ow * self.stride + kw * self.dilation;
                if c < self.left {
                    continue;
                }
                if let (Some(v), Some(wt)) =
                    (xr.get(c - self.left), self.w.get(kh * self.kernel_w + kw))
                {
                    acc += *wt * *v;
                }
            }
        }
        acc
    }

    /// Writes outputs `first .. first + NV * LANES` (stride 1, every tap inside the input)
    /// to `out`, accumulating `NV` vectors in registers.
    ///
    /// # Safety
    /// The CPU supports `S`'s instruction set.
    #[inline(always)]
    unsafe fn block<S: Simd<T = T>, const NV: usize>(&self, first: usize, bias: T, out: &mut [T]) {
        let n = NV * S::LANES;
        // SAFETY: the caller guarantees the instruction set.
        let mut acc = [unsafe { S::splat(bias) }; NV];
        let start = first - self.left;
        for kh in 0..self.kernel_h {
            let Some(xr) = (self.input_row)(kh) else {
                continue;
            };
            let Some(w) = self.w.get(kh * self.kernel_w..(kh + 1) * self.kernel_w) else {
                continue;
            };
            for (kw, &wt) in w.iter().enumerate() {
                let s = start + kw * self.dilation;
                let Some(src) = xr.get(s..s + n) else {
                    continue;
                };
                // SAFETY: the instruction set as above; `src` holds `NV * LANES` elements,
                // so every `LANES` read from `v * LANES` on is in bounds.
                unsafe {
                    let wv = S::splat(wt);
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = S::mul_add(wv, S::load(src.as_ptr().add(v * S::LANES)), *a);
                    }
                }
            }
        }
        if let Some(out) = out.get_mut(..n) {
            for (v, a) in acc.into_iter().enumerate() {
                // SAFETY: the instruction set as above; `out` holds `NV * LANES` elements.
                unsafe { S::store(out.as_mut_ptr().add(v * S::LANES), a) };
            }
        }
    }

    /// Fills `body` (outputs `first ..`, `body.len() >= NV * LANES`, stride 1) with blocks,
    /// the last one overlapping its predecessor rather than leaving a tail.
    ///
    /// # Safety
    /// The CPU supports `S`'s instruction set.
    #[inline(always)]
    unsafe fn blocks<S: Simd<T = T>, const NV: usize>(
        &self,
        body: &mut [T],
        first: usize,
        bias: T,
    ) {
        let (len, n) = (body.len(), NV * S::LANES);
        let mut at = 0;
        while at < len {
            let b = at.min(len - n);
            // `b <= at < len`: never breaks.
            debug_assert!(b < len);
            let Some(out) = body.get_mut(b..) else {
                break;
            };
            // SAFETY: the caller guarantees the instruction set.
            unsafe { self.block::<S, NV>(first + b, bias, out) };
            at = b + n;
        }
    }
}

/// Where a forward reads its input rows from: `rows` of `width` elements (the input plane, or
/// its copy with the left and right padding written out as zeros, `left` then 0), and the
/// output columns `lo..hi` whose every tap lies inside those rows.
struct Source<'a, T> {
    rows: &'a [T],
    width: usize,
    left: usize,
    lo: usize,
    hi: usize,
}

/// Forward on one plane: `y = clamp(bias + sum over taps of w[tap] * x[tap's input])`.
///
/// Rows narrower than one `S` vector go in `H` vectors (half as wide), then four scalars.
///
/// # Safety
/// The CPU supports `S`'s and `H`'s instruction sets.
#[inline(always)]
unsafe fn forward_plane<S: Simd, H: Simd<T = S::T>, const NV: usize>(
    g: &Im2col,
    x: &Source<'_, S::T>,
    w: &[S::T],
    bias: S::T,
    clamp: Option<Clamp<S::T>>,
    y: &mut [S::T],
) {
    let wnd = g.window();
    let (height, out_w, width) = (g.height(), g.out_w(), x.width);
    let (sh, dh, top) = (wnd.stride_h, wnd.dilation_h, wnd.padding.top);
    let (lo, hi) = if wnd.stride_w == 1 {
        (x.lo, x.hi)
    } else {
        (0, 0)
    };
    for (oh, row) in chunks(y, out_w).enumerate() {
        // Tap row kh reads input row oh * sh + kh * dh - top when that is in 0..height.
        let taps = Taps {
            input_row: |kh: usize| {
                let r = oh * sh + kh * dh;
                if r >= top && r - top < height {
                    x.rows.get((r - top) * width..(r - top + 1) * width)
                } else {
                    None
                }
            },
            w,
            kernel_h: wnd.kernel_h,
            kernel_w: wnd.kernel_w,
            dilation: wnd.dilation_w,
            stride: wnd.stride_w,
            left: x.left,
        };
        // `lo <= hi <= OW`, the row's length: the splits never fail.
        debug_assert!(lo <= hi && hi <= row.len());
        let Some((head, rest)) = row.split_at_mut_checked(lo) else {
            continue;
        };
        let Some((body, tail)) = rest.split_at_mut_checked(hi - lo) else {
            continue;
        };
        for (ow, v) in head.iter_mut().enumerate() {
            *v = taps.scalar(ow, bias);
        }
        for (ow, v) in tail.iter_mut().enumerate() {
            *v = taps.scalar(hi + ow, bias);
        }
        let (wide, narrow) = (NV * S::LANES, S::LANES);
        if body.len() >= wide {
            // SAFETY: the caller guarantees the instruction set.
            unsafe { taps.blocks::<S, NV>(body, lo, bias) };
        } else if body.len() >= narrow {
            // SAFETY: as above.
            unsafe { taps.blocks::<S, 1>(body, lo, bias) };
        } else if body.len() >= H::LANES {
            // SAFETY: as above (`H`'s instruction set is part of `S`'s).
            unsafe { taps.blocks::<H, 1>(body, lo, bias) };
        } else if body.len() >= 4 {
            // SAFETY: one-lane scalar "vectors" need no instruction set.
            unsafe { taps.blocks::<Scalar<S::T>, 4>(body, lo, bias) };
        } else {
            for (ow, v) in body.iter_mut().enumerate() {
                *v = taps.scalar(lo + ow, bias);
            }
        }
        if let Some(c) = clamp {
            row.iter_mut().for_each(|v| *v = c.apply(*v));
        }
    }
}

/// Forward over every plane of every image; with a `padded` buffer (see
/// [`Conv2d::plan`]) each input plane is first copied into it with its left and right
/// padding as zeros, so that every output column takes the vector path.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn forward_planes<S: Simd, H: Simd<T = S::T>, const NV: usize>(
    conv: &Conv2d,
    input: &[S::T],
    weight: &[S::T],
    bias: Option<&[S::T]>,
    clamp: Option<Clamp<S::T>>,
    output: &mut [S::T],
    padded: &mut [S::T],
) {
    let g = conv.group();
    let (out_plane, taps) = (g.cols(), g.rows());
    let (width, pad) = (g.width(), g.window().padding);
    let padded_w = pad.left + width + pad.right;
    let axis_w = g.window().axis_w(width);
    // The columns whose taps all lie inside the unpadded rows: right of the first tap's left
    // edge, left of the last tap's right edge.
    let (lo, _) = axis_w.inside(0, g.out_w());
    let (_, hi) = axis_w.inside((g.window().kernel_w - 1) * g.window().dilation_w, g.out_w());
    // The plan hands over a padded plane only for a non-empty input; check it all the same.
    let use_padded = g.height() > 0 && width > 0 && padded.len() >= g.height() * padded_w;
    // Each group is one input plane and the channel multiplier's output planes and filters.
    let planes = conv.input_groups(input).zip(conv.output_groups(output));
    let filters = conv.weight_groups(weight).zip(conv.bias_groups(bias));
    for ((x, ys), (ws, bs)) in planes.zip(filters.cycle()) {
        let source = if use_padded {
            for (dst, src) in chunks(&mut *padded, padded_w).zip(chunks(x, width)) {
                // `dst` holds `left + width + right` elements: the splits never fail.
                debug_assert!(dst.len() == padded_w);
                let Some((before, rest)) = dst.split_at_mut_checked(pad.left) else {
                    continue;
                };
                let Some((body, after)) = rest.split_at_mut_checked(src.len()) else {
                    continue;
                };
                before.fill(S::T::ZERO);
                body.copy_from_slice(src);
                after.fill(S::T::ZERO);
            }
            Source {
                rows: &*padded,
                width: padded_w,
                left: 0,
                lo: 0,
                hi: g.out_w(),
            }
        } else {
            Source {
                rows: x,
                width,
                left: pad.left,
                lo,
                hi: hi.max(lo),
            }
        };
        let filters = chunks(ws, taps).zip(biases(bs));
        for (y, (w, b)) in chunks(ys, out_plane).zip(filters) {
            // SAFETY: the caller guarantees the instruction set.
            unsafe { forward_plane::<S, H, NV>(g, &source, w, b, clamp, y) };
        }
    }
}

/// `dst[i * step] += a * src[i]`, in vectors when `step == 1`.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn axpy_scatter<S: Simd>(dst: &mut [S::T], a: S::T, src: &[S::T], step: usize) {
    if step != 1 {
        // A validated stride is at least 1; `max(1)` shows the optimizer.
        for (d, s) in dst.iter_mut().step_by(step.max(1)).zip(src) {
            *d += a * *s;
        }
        return;
    }
    let (d, s) = (dst.chunks_exact_mut(S::LANES), src.chunks_exact(S::LANES));
    // SAFETY: the caller guarantees the instruction set.
    let av = unsafe { S::splat(a) };
    let (dr, sr) = (d.into_remainder(), s.remainder());
    for (d, s) in dr.iter_mut().zip(sr) {
        *d += a * *s;
    }
    for (d, s) in pairs(dst.chunks_exact_mut(S::LANES), src.chunks_exact(S::LANES)) {
        // SAFETY: the instruction set as above; both chunks hold `LANES` elements.
        unsafe {
            let v = S::mul_add(av, S::load(s.as_ptr()), S::load(d.as_ptr()));
            S::store(d.as_mut_ptr(), v);
        }
    }
}

/// Backward-data on one pair of planes: `dx += conv_transpose(dy, w)`.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn backward_data_plane<S: Simd>(g: &Im2col, dy: &[S::T], w: &[S::T], dx: &mut [S::T]) {
    let step = g.window().stride_w;
    for rows in bands(g) {
        for_each_run(g, rows, |tap, out, inp, len| {
            let (d, s, a) = (
                dx.get_mut(run(inp, len, step)),
                dy.get(out..out + len),
                w.get(tap),
            );
            // The runs lie inside the planes and the taps inside the filter.
            debug_assert!(d.is_some() && s.is_some() && a.is_some());
            if let (Some(d), Some(s), Some(&a)) = (d, s, a) {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { axpy_scatter::<S>(d, a, s, step) };
            }
        });
    }
}

/// Backward-data: adds every output gradient plane into its input gradient plane.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn backward_data_planes<S: Simd, H: Simd<T = S::T>, const NV: usize>(
    conv: &Conv2d,
    grad_output: &[S::T],
    weight: &[S::T],
    grad_input: &mut [S::T],
) {
    let g = conv.group();
    let (out_plane, taps) = (g.cols(), g.rows());
    // Each group is one input plane and the channel multiplier's output planes and filters.
    let planes = conv
        .output_groups(grad_output)
        .zip(conv.input_groups(grad_input));
    for ((dys, dx), ws) in planes.zip(conv.weight_groups(weight).cycle()) {
        for (dy, w) in chunks(dys, out_plane).zip(chunks(ws, taps)) {
            // SAFETY: the caller guarantees the instruction set.
            unsafe { backward_data_plane::<S>(g, dy, w, &mut *dx) };
        }
    }
}

/// Adds `x[i * step] * y[i]` into `NV` vectors of partial sums `acc` (contiguous runs) or
/// into `tail` (strided runs and the last few elements).
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn dot_into<S: Simd, const NV: usize>(
    acc: &mut [S::V; NV],
    tail: &mut S::T,
    x: &[S::T],
    y: &[S::T],
    step: usize,
) {
    if step != 1 {
        // A validated stride is at least 1; `max(1)` shows the optimizer.
        for (a, b) in x.iter().step_by(step.max(1)).zip(y) {
            *tail += *a * *b;
        }
        return;
    }
    let n = NV * S::LANES;
    let (xc, yc) = (x.chunks_exact(n), y.chunks_exact(n));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in pairs(xc, yc) {
        for (v, s) in acc.iter_mut().enumerate() {
            // SAFETY: the caller guarantees the instruction set; both chunks hold
            // `NV * LANES` elements.
            unsafe {
                let (pa, pb) = (a.as_ptr().add(v * S::LANES), b.as_ptr().add(v * S::LANES));
                *s = S::mul_add(S::load(pa), S::load(pb), *s);
            }
        }
    }
    // Then single vectors, then single elements.
    let (xc, yc) = (xr.chunks_exact(S::LANES), yr.chunks_exact(S::LANES));
    for (a, b) in xc.remainder().iter().zip(yc.remainder()) {
        *tail += *a * *b;
    }
    for (a, b) in pairs(xc, yc) {
        // SAFETY: as above; both chunks hold `LANES` elements.
        unsafe { acc[0] = S::mul_add(S::load(a.as_ptr()), S::load(b.as_ptr()), acc[0]) };
    }
}

/// The sum of the partial sums [`dot_into`] left, which are then reset to zero.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn take_sum<S: Simd, const NV: usize>(acc: &mut [S::V; NV], tail: &mut S::T) -> S::T {
    let mut lanes = S::LANES_ZERO;
    for v in acc.iter_mut() {
        let mut spill = S::LANES_ZERO;
        // SAFETY: the caller guarantees the instruction set; `spill` holds `LANES` elements.
        unsafe {
            S::store(spill.as_mut().as_mut_ptr(), *v);
            *v = S::zero();
        }
        for (l, s) in lanes.as_mut().iter_mut().zip(spill.as_ref()) {
            *l += *s;
        }
    }
    let sum = lanes.as_ref().iter().fold(*tail, |a, b| a + *b);
    *tail = S::T::ZERO;
    sum
}

/// Backward-filter on one pair of planes: `dw += correlate(x, dy)`. The runs of one tap
/// within a band come in a row; their products are summed in vector registers and reduced
/// once per tap and band.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn backward_filter_plane<S: Simd, const NV: usize>(
    g: &Im2col,
    x: &[S::T],
    dy: &[S::T],
    dw: &mut [S::T],
) {
    let step = g.window().stride_w;
    // SAFETY: the caller guarantees the instruction set.
    let mut acc = [unsafe { S::zero() }; NV];
    let mut tail = S::T::ZERO;
    for rows in bands(g) {
        let mut current = None;
        for_each_run(g, rows, |tap, out, inp, len| {
            if current != Some(tap) {
                if let Some(t) = current {
                    // SAFETY: the caller guarantees the instruction set.
                    let sum = unsafe { take_sum::<S, NV>(&mut acc, &mut tail) };
                    add(dw, t, sum);
                }
                current = Some(tap);
            }
            let (xs, ds) = (x.get(run(inp, len, step)), dy.get(out..out + len));
            // The runs lie inside the planes.
            debug_assert!(xs.is_some() && ds.is_some());
            if let (Some(xs), Some(ds)) = (xs, ds) {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { dot_into::<S, NV>(&mut acc, &mut tail, xs, ds, step) };
            }
        });
        if let Some(t) = current {
            // SAFETY: the caller guarantees the instruction set.
            let sum = unsafe { take_sum::<S, NV>(&mut acc, &mut tail) };
            add(dw, t, sum);
        }
    }
}

/// Backward-filter: adds every image's contribution into the weight gradient.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn backward_filter_planes<S: Simd, H: Simd<T = S::T>, const NV: usize>(
    conv: &Conv2d,
    input: &[S::T],
    grad_output: &[S::T],
    grad_weight: &mut [S::T],
) {
    let g = conv.group();
    let (out_plane, taps) = (g.cols(), g.rows());
    for (x, dy) in conv.images(input, grad_output) {
        // Each group is one input plane and the channel multiplier's output planes and filters.
        let planes = conv.input_groups(x).zip(conv.output_groups(dy));
        for ((x, dys), dws) in planes.zip(conv.weight_groups(&mut *grad_weight)) {
            for (dy, dw) in chunks(dys, out_plane).zip(chunks(dws, taps)) {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { backward_filter_plane::<S, NV>(g, x, dy, dw) };
            }
        }
    }
}

/// `dw[tap] += sum`; `tap` comes from [`for_each_run`], so it is always inside the filter.
#[inline(always)]
fn add<T: Element>(dw: &mut [T], tap: usize, sum: T) {
    debug_assert!(tap < dw.len());
    if let Some(d) = dw.get_mut(tap) {
        *d += sum;
    }
}

/// The three passes' arguments, each a [`Kernel`] run on the geometry's instruction set.
macro_rules! kernels {
    ($($(#[$doc:meta])* $name:ident => $planes:ident::<$nv:literal>($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        pub(super) struct $name<'a, T> {
            $(pub $arg: $ty,)*
        }

        impl<T: Float> Kernel<T> for $name<'_, T> {
            type Output = ();

            #[inline(always)]
            unsafe fn run<
                V: Simd<T = T>,
                H: Simd<T = T>,
                const MR: usize,
                const NV: usize,
                const NR: usize,
                const KC: usize,
            >(
                self,
            ) {
                let $name { $($arg),* } = self;
                // SAFETY: the caller guarantees the instruction sets of `V` and `H`.
                unsafe { $planes::<V, H, $nv>($($arg),*) }
            }
        }
    )*};
}

kernels! {
    /// Forward over every plane, `padded` (empty, or the plan's padded-plane buffer) as
    /// workspace.
    Forward => forward_planes::<4>(
        conv: &'a Conv2d,
        input: &'a [T],
        weight: &'a [T],
        bias: Option<&'a [T]>,
        clamp: Option<Clamp<T>>,
        output: &'a mut [T],
        padded: &'a mut [T]
    );
    /// Backward-data over every plane, adding into `grad_input`.
    BackwardData => backward_data_planes::<1>(
        conv: &'a Conv2d,
        grad_output: &'a [T],
        weight: &'a [T],
        grad_input: &'a mut [T]
    );
    /// Backward-filter over every plane, adding into `grad_weight`.
    BackwardFilter => backward_filter_planes::<2>(
        conv: &'a Conv2d,
        input: &'a [T],
        grad_output: &'a [T],
        grad_weight: &'a mut [T]
    );
}

/// Runs one depthwise pass on the convolution's instruction set.
pub(super) fn on_isa<T: Float>(conv: &Conv2d, pass: impl Kernel<T, Output = ()>) {
    // SAFETY: a geometry's instruction set is available (`with_isa` checks it, or detected).
    unsafe { T::dispatch(conv.isa(), pass) }
}
