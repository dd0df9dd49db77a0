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

use super::clamp::{biases, Clamp};
use super::depthwise_3x3;
use super::geometry::Conv2d;
use super::operands::Operands;
use crate::arch::{Float, Kernel, Scalar, Simd, M_PROFILE_FPU};
use crate::element::Element;
use crate::im2col::Im2col;
use crate::walk::{chunks, pairs};

/// Kernel columns the vector forward handles (wider kernels run the scalar loop): 32, so
/// that the widest depthwise layers (RepLKNet's 31 x 31) fit; 16 on microcontrollers, where
/// the taps' offsets are 64 bytes fewer on the stack.
const MAX_VECTOR_TAPS: usize = if cfg!(target_os = "none") { 16 } else { 32 };

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
/// `c = ow * stride + kw * dilation - left`, stored at [`Taps::at`]`(c)` of the row.
struct Taps<'a, T, R> {
    input_row: R,
    w: &'a [T],
    kernel_h: usize,
    kernel_w: usize,
    dilation: usize,
    stride: usize,
    left: usize,
    /// The rows' columns are split into `split` phases of `phase` elements (1: not split).
    split: usize,
    phase: usize,
    /// Where tap `kw` of an output lies in a row, from where its tap 0 does: `kw *
    /// dilation` in an unsplit row, [`Taps::at`] of it in a split one. Only the vector
    /// blocks use them; they are there for every tap whenever `lo < hi`.
    offsets: &'a [usize],
}

impl<'a, T: Element, R: Fn(usize) -> Option<&'a [T]>> Taps<'a, T, R> {
    /// Where column `c` of a row is stored: `(c % split) * phase + c / split` (`c` itself
    /// when the rows are not split).
    #[inline(always)]
    fn at(&self, c: usize) -> usize {
        match self.split {
            0 | 1 => c,
            split => c % split * self.phase + c / split,
        }
    }

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
                if let (Some(v), Some(wt)) = (
                    xr.get(self.at(c - self.left)),
                    self.w.get(kh * self.kernel_w + kw),
                ) {
                    acc += *wt * *v;
                }
            }
        }
        acc
    }

    /// Writes outputs `first .. first + NV * LANES` (every tap inside the rows, which hold
    /// consecutive outputs' taps consecutively: stride 1, or rows split by the stride's
    /// phases) to `out`, accumulating `NV` vectors in registers.
    ///
    /// # Safety
    /// The CPU supports `S`'s instruction set.
    #[inline(always)]
    unsafe fn block<S: Simd<T = T>, const NV: usize>(&self, first: usize, bias: T, out: &mut [T]) {
        let n = NV * S::LANES;
        // SAFETY: the caller guarantees the instruction set.
        let mut acc = [unsafe { S::splat(bias) }; NV];
        // Tap `kw` of output `first` is at `start + offsets[kw]` of its row.
        let start = if self.split == 1 {
            first * self.stride - self.left
        } else {
            first
        };
        for kh in 0..self.kernel_h {
            let Some(xr) = (self.input_row)(kh) else {
                continue;
            };
            let Some(w) = self.w.get(kh * self.kernel_w..(kh + 1) * self.kernel_w) else {
                continue;
            };
            for (&wt, &off) in w.iter().zip(self.offsets) {
                // SAFETY: the caller guarantees the instruction set.
                unsafe { tap::<S, NV>(&mut acc, xr, start + off, wt) };
            }
        }
        if let Some(out) = out.get_mut(..n) {
            for (v, a) in acc.into_iter().enumerate() {
                // SAFETY: the instruction set as above; `out` holds `NV * LANES` elements.
                unsafe { S::store(out.as_mut_ptr().add(v * S::LANES), a) };
            }
        }
    }

    /// Fills `body` (outputs `first ..`, `body.len() >= NV * LANES`) with blocks,
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

/// `acc[v] += wt * row[at + v * LANES ..]` for every vector `v`: one tap of a block (a tap
/// whose run leaves the row, which the geometry rules out, adds nothing).
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn tap<S: Simd, const NV: usize>(acc: &mut [S::V; NV], row: &[S::T], at: usize, wt: S::T) {
    let Some(src) = row.get(at..at + NV * S::LANES) else {
        return;
    };
    // SAFETY: the caller guarantees the instruction set; `src` holds `NV * LANES` elements,
    // so every `LANES` read from `v * LANES` on is in bounds.
    unsafe {
        let wv = S::splat(wt);
        for (v, a) in acc.iter_mut().enumerate() {
            *a = S::mul_add(wv, S::load(src.as_ptr().add(v * S::LANES)), *a);
        }
    }
}

/// The body of a row whose three tap rows all lie inside the input, on the one-lane 3 x 3
/// kernel (`start`: the input column of the body's first output's first tap). False,
/// writing nothing, if a tap row is in the padding.
#[inline(always)]
fn three_by_three<'a, T: Element, R: Fn(usize) -> Option<&'a [T]>>(
    taps: &Taps<'a, T, R>,
    w: &[T],
    start: usize,
    bias: T,
    body: &mut [T],
) -> bool {
    let rows = (
        (taps.input_row)(0),
        (taps.input_row)(1),
        (taps.input_row)(2),
    );
    let (Some(r0), Some(r1), Some(r2), Ok(w)) = (rows.0, rows.1, rows.2, <&[T; 9]>::try_from(w))
    else {
        return false;
    };
    match (r0.get(start..), r1.get(start..), r2.get(start..)) {
        (Some(r0), Some(r1), Some(r2)) => depthwise_3x3::row([r0, r1, r2], w, bias, body),
        _ => false,
    }
}

/// The tap rows inside the input for output row `oh`: `kh_lo..kh_hi`, tap row `kh` reading
/// input row `oh * sh + kh * dh - top` (`dh >= 1`).
#[inline(always)]
fn tap_rows(
    oh: usize,
    sh: usize,
    dh: usize,
    top: usize,
    height: usize,
    kernel_h: usize,
) -> Range<usize> {
    // Rows `r = oh * sh + kh * dh` with `top <= r < top + height`.
    let ceil = |a: usize| if dh == 1 { a } else { a.div_ceil(dh.max(1)) };
    let r0 = oh.saturating_mul(sh);
    let lo = ceil(top.saturating_sub(r0));
    let hi = ceil(top.saturating_add(height).saturating_sub(r0)).min(kernel_h);
    lo..hi.max(lo)
}

/// The vector body of one output row, with every tap row's start hoisted: tap row `j` of
/// `w.len() / offsets.len()` starts at `rows[base + j * step ..]`, output `b` of `body` reads
/// tap `kw` of it at column `col0 + b + offsets[kw]`. Blocks of `NV` vectors, the last one
/// overlapping its predecessor. False, writing nothing, if a read would leave `rows` (which
/// the callers' geometry rules out) or `body` is narrower than one block.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn row_blocks<S: Simd, const NV: usize, O: AsRef<[usize]> + ?Sized>(
    rows: &[S::T],
    base: usize,
    step: usize,
    w: &[S::T],
    offsets: &O,
    off_max: usize,
    col0: usize,
    bias: S::T,
    body: &mut [S::T],
) -> bool {
    // An array of offsets (the common kernel widths) unrolls the taps' loop.
    let offsets = offsets.as_ref();
    let (len, n, kernel_w) = (body.len(), NV * S::LANES, offsets.len());
    if len < n || kernel_w == 0 {
        return false;
    }
    let nk = w.len() / kernel_w;
    // The furthest read: the last tap row, the last block, the furthest tap.
    let end = nk
        .checked_sub(1)
        .and_then(|j| j.checked_mul(step))
        .and_then(|s| s.checked_add(base))
        .and_then(|s| s.checked_add(col0))
        .and_then(|s| s.checked_add(len))
        .and_then(|s| s.checked_add(off_max));
    if nk > 0 && end.is_none_or(|e| e > rows.len()) {
        return false;
    }
    let (src, wp) = (rows.as_ptr(), w.as_ptr());
    let out = body.as_mut_ptr();
    let mut at = 0;
    while at < len {
        let b = at.min(len - n);
        // SAFETY: the caller guarantees the instruction set. Tap row `j < nk`, tap `kw <
        // kernel_w` of block `b <= len - n` reads `n` elements from `base + j * step + col0 +
        // b + offsets[kw] <= end - n`, inside `rows` (checked above); `j * kernel_w + kw <
        // w.len()`; the block writes `b .. b + n <= len` of `body`.
        unsafe {
            let mut acc = [S::splat(bias); NV];
            for j in 0..nk {
                let row = src.add(base + j * step + col0 + b);
                let wr = wp.add(j * kernel_w);
                for (kw, &off) in offsets.iter().enumerate() {
                    let wv = S::splat(*wr.add(kw));
                    let p = row.add(off);
                    for (v, a) in acc.iter_mut().enumerate() {
                        *a = S::mul_add(wv, S::load(p.add(v * S::LANES)), *a);
                    }
                }
            }
            for (v, a) in acc.into_iter().enumerate() {
                S::store(out.add(b + v * S::LANES), a);
            }
        }
        at = b + n;
    }
    true
}

/// [`row_blocks`] with the offsets of 3 and 5 taps in arrays, others in a slice.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn row_body<S: Simd, const NV: usize>(
    rows: &[S::T],
    base: usize,
    step: usize,
    w: &[S::T],
    offsets: &[usize],
    off_max: usize,
    col0: usize,
    bias: S::T,
    body: &mut [S::T],
) -> bool {
    // SAFETY (all three): the caller guarantees the instruction set.
    if let Ok(o) = <&[usize; 3]>::try_from(offsets) {
        unsafe { row_blocks::<S, NV, _>(rows, base, step, w, o, off_max, col0, bias, body) }
    } else if let Ok(o) = <&[usize; 5]>::try_from(offsets) {
        unsafe { row_blocks::<S, NV, _>(rows, base, step, w, o, off_max, col0, bias, body) }
    } else {
        unsafe { row_blocks::<S, NV, _>(rows, base, step, w, offsets, off_max, col0, bias, body) }
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
    /// The rows' columns split into `split` phases of `phase` elements (the padded copy;
    /// 1 and `width` for the input plane itself).
    split: usize,
    phase: usize,
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
    // Where each tap lies in a row, relative to the output's tap 0.
    let mut offsets = [0; MAX_VECTOR_TAPS];
    let kernel_w = wnd.kernel_w.min(MAX_VECTOR_TAPS);
    for (kw, off) in offsets.iter_mut().enumerate().take(kernel_w) {
        let c = kw * wnd.dilation_w;
        *off = if x.split == 1 {
            c
        } else {
            c % x.split * x.phase + c / x.split
        };
    }
    let offsets = offsets.get(..kernel_w).unwrap_or_default();
    let off_max = offsets.iter().copied().max().unwrap_or(0);
    // Vectors need consecutive outputs' taps side by side (stride 1, or split rows), and
    // every tap's offset.
    let vectors = (wnd.stride_w == 1 || x.split == wnd.stride_w) && wnd.kernel_w <= MAX_VECTOR_TAPS;
    let (lo, hi) = if vectors { (x.lo, x.hi) } else { (0, 0) };
    // One-lane builds (portable, Cortex-M) have a kernel of their own for 3 x 3, stride 1;
    // not M-profile cores with an FPU, where the direct kernel (`cortex_m`) runs the common
    // ones and the rest take the blocks, so that the flash holds one path.
    let one_lane_3x3 = !M_PROFILE_FPU
        && S::LANES == 1
        && (wnd.kernel_h, wnd.kernel_w, dh, wnd.dilation_w, wnd.stride_w) == (3, 3, 1, 1, 1);
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
            split: x.split,
            phase: x.phase,
            offsets,
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
        // The vector bodies with the tap rows' starts and weights hoisted out of the blocks
        // (not on one-lane builds: a microcontroller's flash holds their previous path only).
        let fast = S::LANES > 1 && body.len() >= narrow && {
            let khs = tap_rows(oh, sh, dh, top, height, wnd.kernel_h);
            let base = (oh * sh + khs.start * dh)
                .wrapping_sub(top)
                .wrapping_mul(width);
            // Tap 0 of the body's first output: `lo * stride - left` in an unsplit row
            // (stride 1 there), `lo` in a split one.
            let col0 = if x.split == 1 {
                lo.wrapping_sub(x.left)
            } else {
                lo
            };
            let wk = w.get(khs.start * wnd.kernel_w..khs.end * wnd.kernel_w);
            match wk {
                Some(wk) if khs.is_empty() || col0 <= lo => {
                    let step = dh * width;
                    // SAFETY (both): the caller guarantees the instruction set.
                    if body.len() >= wide {
                        unsafe {
                            row_body::<S, NV>(
                                x.rows, base, step, wk, offsets, off_max, col0, bias, body,
                            )
                        }
                    } else {
                        unsafe {
                            row_body::<S, 1>(
                                x.rows, base, step, wk, offsets, off_max, col0, bias, body,
                            )
                        }
                    }
                }
                _ => false,
            }
        };
        if fast {
            // Done: the hoisted blocks took the body.
        } else if one_lane_3x3 && three_by_three(&taps, w, lo.wrapping_sub(x.left), bias, body) {
            // Done: the one-lane 3 x 3 kernel took the body.
        } else if body.len() >= wide {
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
            c.apply_row(row, None);
        }
    }
}

/// Forward over every plane of every image; with a `padded` buffer (see
/// [`Conv2d::plan`]) each input plane is first copied into it with its left and right
/// padding as zeros, so that every output column takes the vector path (on flat planes,
/// [`flat_planes`], where [`Conv2d::flat_depthwise`] says so).
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[inline(always)]
unsafe fn forward_planes<S: Simd, H: Simd<T = S::T>, const NV: usize>(pass: Forward<'_, S::T>) {
    let Forward { conv, op, padded } = pass;
    // The plan hands over a padded plane only for a non-empty input.
    #[cfg(not(target_os = "none"))]
    if conv.flat_depthwise() && padded.len() >= conv.padded_plane_len() {
        // SAFETY: the caller guarantees the instruction set.
        return unsafe { flat_planes::<S, NV>(conv, op, padded) };
    }
    let Operands {
        input,
        weight,
        bias,
        clamp,
        output,
    } = op;
    let g = conv.group();
    let (out_plane, taps) = (g.cols(), g.rows());
    let (width, pad) = (g.width(), g.window().padding);
    // A validated stride is at least 1; `max(1)` shows the optimizer.
    let (stride, padded_w) = (g.window().stride_w.max(1), pad.left + width + pad.right);
    let row_len = conv.padded_row_len();
    let phase = row_len / stride;
    let axis_w = g.window().axis_w(width);
    // The columns whose taps all lie inside the unpadded rows: right of the first tap's left
    // edge, left of the last tap's right edge.
    let (lo, _) = axis_w.inside(0, g.out_w());
    let (_, hi) = axis_w.inside((g.window().kernel_w - 1) * g.window().dilation_w, g.out_w());
    // The plan hands over a padded plane only for a non-empty input; check it all the same.
    let use_padded = g.height() > 0 && width > 0 && padded.len() >= conv.padded_plane_len();
    // Each group is one input plane and the channel multiplier's output planes and filters.
    let planes = conv.input_groups(input).zip(conv.output_groups(output));
    let filters = conv.weight_groups(weight).zip(conv.bias_groups(bias));
    if use_padded {
        // The padding is zero once per call: every plane's copy writes the same elements,
        // the input's, and leaves the padding's as they are.
        if let Some(p) = padded.get_mut(..conv.padded_plane_len()) {
            p.fill(S::T::ZERO);
        }
    }
    for ((x, ys), (ws, bs)) in planes.zip(filters.cycle()) {
        let source = if use_padded {
            for (dst, src) in chunks(&mut *padded, row_len).zip(chunks(x, width)) {
                if stride == 1 {
                    // `dst` holds `left + width + right` elements: the slice never fails.
                    debug_assert!(dst.len() == padded_w);
                    if let Some(body) = dst.get_mut(pad.left..pad.left + src.len()) {
                        body.copy_from_slice(src);
                    }
                } else {
                    // Padded column `c` goes to `(c % stride) * phase + c / stride`.
                    for (i, &v) in src.iter().enumerate() {
                        let c = pad.left + i;
                        if let Some(d) = dst.get_mut(c % stride * phase + c / stride) {
                            *d = v;
                        }
                    }
                }
            }
            Source {
                rows: &*padded,
                width: row_len,
                left: 0,
                lo: 0,
                hi: g.out_w(),
                split: stride,
                phase,
            }
        } else {
            Source {
                rows: x,
                width,
                left: pad.left,
                lo,
                hi: hi.max(lo),
                split: 1,
                phase: width,
            }
        };
        let filters = chunks(ws, taps).zip(biases(bs));
        for (y, (w, b)) in chunks(ys, out_plane).zip(filters) {
            // SAFETY: the caller guarantees the instruction set.
            unsafe { forward_plane::<S, H, NV>(g, &source, w, b, clamp, y) };
        }
    }
}

/// [`forward_planes`] on flat planes ([`Conv2d::flat_depthwise`], hosts only): each input
/// plane copied into the middle of the zero-padded plane at the front of `padded`, each of
/// its output planes computed over the flat positions behind it ([`flat_plane`]) and copied
/// out by row.
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[cfg(not(target_os = "none"))]
#[inline(always)]
unsafe fn flat_planes<S: Simd, const NV: usize>(
    conv: &Conv2d,
    op: Operands<'_, S::T>,
    padded: &mut [S::T],
) {
    let g = conv.group();
    let (wnd, width, out_w) = (g.window(), g.width(), g.out_w());
    let pad = wnd.padding;
    let (padded_w, plane_len, flat_len) = conv.flat_layout();
    let Some((plane, flat)) = padded.split_at_mut_checked(plane_len) else {
        return;
    };
    let Some(flat) = flat.get_mut(..flat_len) else {
        return;
    };
    // The padding is zero once per call: every plane's copy writes the same elements.
    plane.fill(S::T::ZERO);
    let planes = conv
        .input_groups(op.input)
        .zip(conv.output_groups(op.output));
    let filters = conv.weight_groups(op.weight).zip(conv.bias_groups(op.bias));
    for ((x, ys), (ws, bs)) in planes.zip(filters.cycle()) {
        let rows = chunks(
            crate::walk::after(&mut *plane, pad.top * padded_w),
            padded_w,
        );
        for (dst, src) in rows.zip(chunks(x, width)) {
            if let Some(dst) = dst.get_mut(pad.left..pad.left + src.len()) {
                crate::im2col::copy_short(dst, src);
            }
        }
        let filters = chunks(ws, g.rows()).zip(biases(bs));
        for (y, (w, b)) in chunks(ys, g.cols()).zip(filters) {
            // SAFETY: the caller guarantees the instruction set.
            unsafe { flat_plane::<S, NV>(plane, padded_w, wnd, w, b, flat) };
            for (r, row) in chunks(y, out_w).enumerate() {
                if let Some(src) = flat.get(r * padded_w..r * padded_w + out_w) {
                    crate::im2col::copy_short(row, src);
                }
                if let Some(c) = op.clamp {
                    c.apply_row(row, None);
                }
            }
        }
    }
}

/// `flat[i] = bias + sum over taps (kh, kw) of w[kh][kw] * plane[i + kh * DH * PW + kw *
/// DW]` for every flat position `i`: one long row for [`row_body`] (tap row `kh` at `kh *
/// DH * PW`, tap `kw` at `kw * DW` of it), one by one where it declines (fewer positions
/// than a vector, or a kernel wider than [`MAX_VECTOR_TAPS`]).
///
/// # Safety
/// The CPU supports `S`'s instruction set.
#[cfg(not(target_os = "none"))]
#[inline(always)]
unsafe fn flat_plane<S: Simd, const NV: usize>(
    plane: &[S::T],
    padded_w: usize,
    wnd: crate::window::Window,
    w: &[S::T],
    bias: S::T,
    flat: &mut [S::T],
) {
    let (step, dw) = (wnd.dilation_h * padded_w, wnd.dilation_w);
    let mut offsets = [0; MAX_VECTOR_TAPS];
    for (kw, off) in offsets.iter_mut().enumerate() {
        *off = kw * dw;
    }
    let offsets = offsets.get(..wnd.kernel_w).unwrap_or_default();
    let off_max = (wnd.kernel_w - 1) * dw;
    let (len, wide, narrow) = (flat.len(), NV * S::LANES, S::LANES);
    // SAFETY (both): the caller guarantees the instruction set.
    let done = !offsets.is_empty()
        && if len >= wide {
            unsafe { row_body::<S, NV>(plane, 0, step, w, offsets, off_max, 0, bias, flat) }
        } else {
            len >= narrow
                && unsafe { row_body::<S, 1>(plane, 0, step, w, offsets, off_max, 0, bias, flat) }
        };
    if done {
        return;
    }
    for (i, out) in flat.iter_mut().enumerate() {
        let mut acc = bias;
        for (t, &wt) in w.iter().take(wnd.kernel_h * wnd.kernel_w).enumerate() {
            let at = i + t / wnd.kernel_w * step + t % wnd.kernel_w * dw;
            acc += wt * plane.get(at).copied().unwrap_or(S::T::ZERO);
        }
        *out = acc;
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
    op: BackwardData<'_, S::T>,
) {
    let (conv, g) = (op.conv, op.conv.group());
    let (out_plane, taps) = (g.cols(), g.rows());
    // Each group is one input plane and the channel multiplier's output planes and filters.
    let planes = conv
        .output_groups(op.grad_output)
        .zip(conv.input_groups(op.grad_input));
    for ((dys, dx), ws) in planes.zip(conv.weight_groups(op.weight).cycle()) {
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
    op: BackwardFilter<'_, S::T>,
) {
    let (conv, g) = (op.conv, op.conv.group());
    let (out_plane, taps) = (g.cols(), g.rows());
    for (x, dy) in conv.images(op.input, op.grad_output) {
        // Each group is one input plane and the channel multiplier's output planes and filters.
        let planes = conv.input_groups(x).zip(conv.output_groups(dy));
        for ((x, dys), dws) in planes.zip(conv.weight_groups(&mut *op.grad_weight)) {
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

/// The three passes' arguments, each a [`Kernel`] run on the geometry's instruction set: its
/// `planes` function over every plane.
macro_rules! kernels {
    ($($(#[$doc:meta])* $name:ident => $planes:ident::<$nv:literal>($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        pub(super) struct $name<'a, T> {
            $(pub $arg: $ty,)*
        }

        impl<T: Float> Kernel<T> for $name<'_, T> {
            type Output = ();

            #[inline(always)]
            unsafe fn run<B: crate::arch::Build<T>>(self) {
                // SAFETY: the caller guarantees the instruction sets of the vectors.
                unsafe { $planes::<B::V, B::H, $nv>(self) }
            }
        }
    )*};
}

kernels! {
    /// Forward over every plane, `padded` (empty, or the plan's padded-plane buffer) as
    /// workspace.
    Forward => forward_planes::<4>(
        conv: &'a Conv2d,
        op: Operands<'a, T>,
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
