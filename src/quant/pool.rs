//! int8 max and average pooling.

use core::num::NonZeroUsize;

use super::conv::check_accumulator;
use crate::conv::Clamp;
use crate::error::{check_len, Error};
use crate::pool::{AvgPool2d, Divisor, Pool2d};
use crate::walk::{chunks, pairs};
use crate::window::Axis;

/// int8 max pooling: `output[n, c, oh, ow]` is the largest input in window `(oh, ow)` of
/// plane `(n, c)`, then clamped to `clamp` (TFLite's fused activation) when given.
///
/// The windows are exactly those of the float [`max_pool2d`](crate::max_pool2d) (stride,
/// dilation, 4-sided padding, ceil mode, every window covering at least one input, which
/// [`Pool2d::new`] checks): padding and overhang are never selected. Zero points and scales
/// pass through unchanged (max commutes with the affine map), so the output has the input's.
///
/// # Errors
/// [`Error::BufferLength`] unless `input` and `output` have the geometry's sizes; `output`
/// is then untouched.
///
/// ```
/// use nchw::{max_pool2d_i8, Pool2d, Rounding, Shape, Window};
/// let g = Pool2d::new(Shape::new(1, 1, 2, 4)?, Window::square(2).with_stride(2, 2), Rounding::Floor)?;
/// let mut y = [0i8; 2];
/// max_pool2d_i8(&g, &[1, -5, 7, 7, -128, 3, 127, -1], None, &mut y)?;
/// assert_eq!(y, [3, 127]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn max_pool2d_i8(
    pool: &Pool2d,
    input: &[i8],
    clamp: Option<Clamp<i8>>,
    output: &mut [i8],
) -> Result<(), Error> {
    check_len("input", pool.input_len(), input.len())?;
    check_len("output", pool.output_len(), output.len())?;
    let (lo, hi) = bounds(clamp);
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    if planes_2x2(pool, input, output, |src, dst, p| {
        max_2x2_dsp(src, dst, p, (lo, hi))
    }) {
        return Ok(());
    }
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    if planes_2x2(pool, input, output, |src, dst, p| {
        plane_2x2(src, dst, p, 0, max4(lo, hi))
    }) {
        return Ok(());
    }
    windows(pool, input, output, None, (lo, hi));
    Ok(())
}

/// int8 average pooling with TFLite's rounding: the window's sum (in `i32`) divided by its
/// [`Divisor`] and rounded to nearest, ties away from zero (`(sum ± d/2) / d`, truncating),
/// then clamped to `clamp` when given. TFLite's `AVERAGE_POOL_2D` is
/// [`Divisor::CountExcludePad`] (the window's in-bounds elements); the other divisors apply
/// the same rounding. Input and output share zero point and scale.
///
/// # Errors
/// [`Error::BufferLength`] unless `input` and `output` have the geometry's sizes;
/// [`Error::AccumulatorOverflow`] for a window of more than `2^24` taps. `output` is then
/// untouched.
///
/// ```
/// use nchw::{avg_pool2d_i8, AvgPool2d, Divisor, Padding, Pool2d, Rounding, Shape, Window};
/// let w = Window::new(1, 2).with_stride(1, 2);
/// let g = Pool2d::new(Shape::new(1, 1, 1, 6)?, w, Rounding::Floor)?;
/// let mut y = [0i8; 3];
/// avg_pool2d_i8(&AvgPool2d::new(g, Divisor::CountExcludePad)?, &[1, 2, -1, -2, 5, 5], None, &mut y)?;
/// assert_eq!(y, [2, -2, 5]); // 1.5 -> 2, -1.5 -> -2
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn avg_pool2d_i8(
    avg: &AvgPool2d,
    input: &[i8],
    clamp: Option<Clamp<i8>>,
    output: &mut [i8],
) -> Result<(), Error> {
    let pool = avg.pool();
    check_len("input", pool.input_len(), input.len())?;
    check_len("output", pool.output_len(), output.len())?;
    let win = pool.window();
    check_accumulator(win.kernel_h.saturating_mul(win.kernel_w), 128, None)?;
    let (lo, hi) = bounds(clamp);
    let divisor = avg.divisor();
    // Every window of a plain 2x2 geometry is whole: 4 elements, 4 within the padded input;
    // the 2x2 loops take that divisor, any other goes through the windows below. Divided by
    // 4 with ties away from zero without a branch: `(sum + 2 - (sum < 0)) >> 2` (for `sum <
    // 0`, `floor((sum + 1) / 4) = -floor((2 - sum) / 4)`, which is `(sum - 2) / 4`
    // truncated).
    let avg4 = |a: i8, b: i8, c: i8, e: i8| {
        let sum = i32::from(a) + i32::from(b) + i32::from(c) + i32::from(e);
        (sum + 2 + (sum >> 31)) >> 2
    };
    let avg = |a: i8, b: i8, c: i8, e: i8| finish(avg4(a, b, c, e), lo, hi);
    if !matches!(divisor, Divisor::Override(d) if d != 4) {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        if planes_2x2(&pool, input, output, |src, dst, p| {
            avg_2x2_dsp(src, dst, p, (lo, hi), avg)
        }) {
            return Ok(());
        }
        // An average of `i8`s is an `i8`: without a clamp, none is applied.
        #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
        if (lo, hi) == (-128, 127) {
            if planes_2x2(&pool, input, output, |src, dst, p| {
                plane_2x2(src, dst, p, 0, |a, b, c, e| avg4(a, b, c, e) as i8)
            }) {
                return Ok(());
            }
        } else if planes_2x2(&pool, input, output, |src, dst, p| {
            plane_2x2(src, dst, p, 0, avg)
        }) {
            return Ok(());
        }
    }
    windows(&pool, input, output, Some(divisor), (lo, hi));
    Ok(())
}

/// `sum / d` rounded to nearest, ties away from zero, as TFLite writes it (`(sum ± d/2) / d`,
/// truncating).
///
/// In `i32` where `sum ± d / 2` cannot overflow (one `sdiv` on a Cortex-M4), else out of
/// line ([`round_div_wide`]).
#[inline(always)]
fn round_div(sum: i32, d: usize) -> i32 {
    const SMALL: i32 = 1 << 30;
    match i32::try_from(d) {
        Ok(d) if d > 0 && d < SMALL && -SMALL < sum && sum < SMALL => {
            if sum > 0 {
                (sum + d / 2) / d
            } else {
                (sum - d / 2) / d
            }
        }
        _ => round_div_wide(sum, d),
    }
}

/// [`round_div`] where `sum ± d / 2` may leave the `i32` range: on the magnitude in `u32`.
/// `|sum| <= 2^31` and `d/2 < 2^31` for `d < 2^32`, so `|sum| + d/2` cannot overflow (no
/// 64-bit division, a library call on a Cortex-M4); a larger `d` (only where `usize` is
/// wider) rounds every `i32` sum to 0 but `-2^31 / 2^32` (a tie) to -1. The quotient is at
/// most `|sum|`, so the sign is restored without overflow.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[cold]
#[inline(never)]
fn round_div_wide(sum: i32, d: usize) -> i32 {
    round_div_u32(sum, d)
}

/// The body of the Cortex-M4's [`round_div_wide`] (tested on the host against the `i64`
/// form).
#[cfg(any(
    test,
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
))]
#[inline(always)]
fn round_div_u32(sum: i32, d: usize) -> i32 {
    let Ok(d) = u32::try_from(d.max(1)) else {
        // `d >= 2^32`: `|sum| + d/2 < d` but for the tie `-2^31 / 2^32`, away from zero.
        return -i32::from(sum == i32::MIN && d as u64 == 1 << 32);
    };
    let q = (sum.unsigned_abs() + d / 2) / d;
    if sum < 0 {
        q.wrapping_neg() as i32
    } else {
        q as i32
    }
}

/// [`round_div`] where `sum ± d / 2` may leave the `i32` range, in `i64`. (The `u32` form
/// above gives the same quotients; on the Cortex-M0 it moved the register allocation of the
/// 2x2 average's loop by 2% at opt-level s.)
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
#[inline(always)]
fn round_div_wide(sum: i32, d: usize) -> i32 {
    let d = i64::try_from(d).unwrap_or(i64::MAX).max(1);
    let s = i64::from(sum);
    let q = if s > 0 {
        (s + d / 2) / d
    } else {
        (s - d / 2) / d
    };
    // |q| <= |sum|.
    q as i32
}

/// The clamp's bounds, or the whole `i8` range.
fn bounds(clamp: Option<Clamp<i8>>) -> (i32, i32) {
    match clamp {
        Some(c) => (i32::from(c.min), i32::from(c.max)),
        None => (-128, 127),
    }
}

/// `max(y, lo)` then `min(.., hi)`, as an `i8` (the bounds are `i8`s).
fn finish(y: i32, lo: i32, hi: i32) -> i8 {
    let y = if y < lo { lo } else { y };
    let y = if y > hi { hi } else { y };
    y as i8
}

/// The taps of one window along one axis that land in the input.
#[derive(Clone, Copy, Debug)]
struct Taps {
    /// Input coordinate of the first such tap (times the row length for rows).
    first: usize,
    /// Their number.
    count: usize,
    /// Step between them (times the row length for rows).
    step: usize,
    /// The taps within the padded input (for [`Divisor::CountIncludePad`]).
    padded: usize,
}

impl Taps {
    /// Window `o` along `axis`, coordinates scaled by `scale`.
    fn new(axis: &Axis, o: usize, scale: usize) -> Taps {
        let none = Taps {
            first: 0,
            count: 0,
            step: 0,
            padded: 0,
        };
        let Some(d) = NonZeroUsize::new(axis.dilation) else {
            return none;
        };
        let div_ceil = |a: usize| a / d + usize::from(a % d != 0);
        // Padded coordinates: tap j at start + j * d; the input is before..before + input.
        let start = o * axis.stride;
        let end = axis.before + axis.input;
        let reach = |limit: usize| {
            if start >= limit {
                0
            } else {
                div_ceil(limit - start).min(axis.kernel)
            }
        };
        let lo = if start >= axis.before {
            0
        } else {
            div_ceil(axis.before - start)
        };
        let hi = reach(end);
        let padded = reach(end + axis.after);
        if lo >= hi {
            return Taps { padded, ..none };
        }
        Taps {
            first: (start + lo * d.get() - axis.before) * scale,
            count: hi - lo,
            step: d.get() * scale,
            padded,
        }
    }

    fn positions(&self) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first, self.step);
        (0..self.count).map(move |i| first + i * step)
    }
}

/// Every window of every plane, any geometry: its largest element (`divisor` `None`) or its
/// average by `divisor`, clamped to `[lo, hi]`. One function for both (out of line, the
/// window's maximum and sum in one pass), which keeps one copy in a firmware.
fn windows(
    pool: &Pool2d,
    input: &[i8],
    output: &mut [i8],
    divisor: Option<Divisor>,
    (lo, hi): (i32, i32),
) {
    let (x, y, win) = (pool.input(), pool.output(), pool.window());
    let (Some(plane_in), Some(out_w)) =
        (NonZeroUsize::new(x.plane_len()), NonZeroUsize::new(y.w()))
    else {
        return;
    };
    let (axis_h, axis_w) = (win.axis_h(x.h()), win.axis_w(x.w()));
    let plane_out = y.plane_len();
    for p in 0..x.n() * x.c() {
        let (Some(plane), Some(out)) = (
            input.get(p * plane_in.get()..(p + 1) * plane_in.get()),
            output.get_mut(p * plane_out..(p + 1) * plane_out),
        ) else {
            return;
        };
        for (oh, out_row) in out.chunks_exact_mut(out_w.get()).enumerate() {
            let rows = Taps::new(&axis_h, oh, x.w());
            for (ow, o) in out_row.iter_mut().enumerate() {
                let cols = Taps::new(&axis_w, ow, 1);
                let (mut m, mut sum) = (i8::MIN, 0i32);
                for r in rows.positions() {
                    let row = plane.get(r..).unwrap_or_default();
                    for c in cols.positions() {
                        if let Some(&v) = row.get(c) {
                            m = if v > m { v } else { m };
                            sum = sum.wrapping_add(i32::from(v));
                        }
                    }
                }
                let y = match divisor {
                    None => i32::from(m),
                    Some(Divisor::CountExcludePad) => round_div(sum, rows.count * cols.count),
                    Some(Divisor::CountIncludePad) => round_div(sum, rows.padded * cols.padded),
                    Some(Divisor::Override(d)) => round_div(sum, d),
                };
                *o = finish(y, lo, hi);
            }
        }
    }
}

/// Calls `plane(src, dst, w)` for every plane of a plain 2x2 geometry (2 x 2 windows,
/// stride 2, no padding or dilation, each inside the input: the usual downsampling layer),
/// with `src` the input plane, `dst` the output plane and `w` the input width; `dst` holds
/// `ow` rows of `ow = dst.len() / oh` elements, with `2 * oh` rows of `w >= 2 * ow` in
/// `src`. False (nothing called, nothing written) for any other geometry.
#[inline(always)]
fn planes_2x2(
    pool: &Pool2d,
    input: &[i8],
    output: &mut [i8],
    mut plane: impl FnMut(&[i8], &mut [i8], Plain),
) -> bool {
    let (x, y, win) = (pool.input(), pool.output(), pool.window());
    let p = win.padding;
    if (win.kernel_h, win.kernel_w, win.stride_h, win.stride_w) != (2, 2, 2, 2)
        || (win.dilation_h, win.dilation_w) != (1, 1)
        || (p.top, p.left, p.bottom, p.right) != (0, 0, 0, 0)
        || 2 * y.h() > x.h()
        || 2 * y.w() > x.w()
    {
        return false;
    }
    let (Some(w), Some(ow)) = (NonZeroUsize::new(x.w()), NonZeroUsize::new(y.w())) else {
        return true;
    };
    let shape = Plain { w, ow, oh: y.h() };
    let planes = pairs(
        chunks(input, x.plane_len()),
        chunks(output, y.plane_len()).take(x.n() * x.c()),
    );
    for (src, dst) in planes {
        plane(src, dst, shape);
    }
    true
}

/// The sizes of one plane of a plain 2x2 geometry ([`planes_2x2`]).
#[derive(Clone, Copy, Debug)]
struct Plain {
    /// Input width.
    w: NonZeroUsize,
    /// Output width and height (`2 * ow <= w`, `2 * oh <= H`).
    ow: NonZeroUsize,
    oh: usize,
}

/// `dst[oh][ow] = f(` the window's four elements, row by row `)` for a plane of a plain 2x2
/// geometry, from column `from` of each output row on.
///
/// Out of line where it is the whole layer's loop (its registers then do not depend on
/// the caller's), inlined where it only finishes the rows of the DSP loops.
#[cfg_attr(
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none"),
    inline(always)
)]
#[cfg_attr(
    not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")),
    inline(never)
)]
fn plane_2x2(src: &[i8], dst: &mut [i8], p: Plain, from: usize, f: impl Fn(i8, i8, i8, i8) -> i8) {
    let rows = pairs(chunks(src, 2 * p.w.get()), chunks(dst, p.ow.get()));
    for (rows, out) in rows.take(p.oh) {
        let (r0, r1) = rows.split_at_checked(p.w.get()).unwrap_or_default();
        let n = out.len().min(r0.len() / 2).min(r1.len() / 2);
        for j in from..n {
            // SAFETY: `j < n`, so `2 * j + 1 < r0.len(), r1.len()` and `j < out.len()`.
            unsafe {
                let (a, b) = (r0.as_ptr().add(2 * j), r1.as_ptr().add(2 * j));
                *out.get_unchecked_mut(j) = f(*a, *a.add(1), *b, *b.add(1));
            }
        }
    }
}

/// The largest of four elements, clamped to `[lo, hi]`.
#[inline(always)]
fn max4(lo: i32, hi: i32) -> impl Fn(i8, i8, i8, i8) -> i8 {
    move |a, b, c, d| finish(i32::from(a.max(b).max(c.max(d))), lo, hi)
}

/// 2x2 max pooling with stride 2 on the DSP extension: the rows in assembly
/// ([`max_2x2_rows`](super::dsp::max_2x2_rows), four outputs per 23 instructions), the last
/// `ow mod 4` of each row one by one.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
fn max_2x2_dsp(src: &[i8], dst: &mut [i8], p: Plain, (lo, hi): (i32, i32)) {
    let splat = |v: i32| u32::from(v as u8) * 0x0101_0101;
    let (w, ow) = (p.w.get(), p.ow.get());
    let quads = ow / 4;
    if src.len() < 2 * p.oh * w || dst.len() < p.oh * ow {
        return;
    }
    if quads > 0 && p.oh > 0 {
        // SAFETY: `8 * quads <= 2 * ow <= w` and `4 * quads <= ow`; the `2 * oh` input rows
        // and `oh` output rows are within `src` and `dst` (checked above).
        unsafe {
            super::dsp::max_2x2_rows(
                src.as_ptr(),
                w,
                dst.as_mut_ptr(),
                ow,
                p.oh,
                quads,
                (splat(lo), splat(hi)),
            );
        }
    }
    if 4 * quads < ow {
        plane_2x2(src, dst, p, 4 * quads, max4(lo, hi));
    }
}

/// 2x2 average pooling with stride 2 and divisor 4 on the DSP extension, four outputs per
/// [`quads_2x2_dsp`] step: per word pair (two windows) `SXTAB16` and `SXTAB16 ROR #8` add
/// the four bytes of each window into its 16-bit lane, `s + 2 - (s < 0)` (one `UADD16`)
/// rounds half away from zero before the floor division by 4, which is bits 2..9 of the
/// lane; the four quotients are gathered.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
fn avg_2x2_dsp(
    src: &[i8],
    dst: &mut [i8],
    p: Plain,
    (lo, hi): (i32, i32),
    avg: impl Fn(i8, i8, i8, i8) -> i8,
) {
    use super::dsp::{sxtab16, sxtab16_ror8, uadd16};
    // Lane `l`: window `l`'s `sum + 2 - (sum < 0)`.
    let sums = |a: u32, b: u32| {
        let s = sxtab16_ror8(sxtab16_ror8(sxtab16(sxtab16(0, a), b), a), b);
        uadd16(s, 0x0002_0002 - ((s >> 15) & 0x0001_0001))
    };
    quads_2x2_dsp(src, dst, p, (lo, hi), avg, |[a0, b0, a1, b1]| {
        let (a, b) = (sums(a0, b0), sums(a1, b1));
        ((a >> 2) & 0xff)
            | ((a >> 10) & 0xff00)
            | ((b << 14) & 0xff_0000)
            | ((b << 6) & 0xff00_0000)
    });
}

/// A 2x2 stride-2 layer's plane on the DSP extension, four outputs at a time: `quad` turns
/// the words `[row 0, row 1, row 0 + 4 bytes, row 1 + 4 bytes]` of four windows into their
/// four outputs, which are clamped bytewise and stored; the last `ow mod 4` of each row go
/// through `f`, one by one.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(always)]
fn quads_2x2_dsp(
    src: &[i8],
    dst: &mut [i8],
    p: Plain,
    (lo, hi): (i32, i32),
    f: impl Fn(i8, i8, i8, i8) -> i8,
    quad: impl Fn([u32; 4]) -> u32,
) {
    use super::dsp::{max8, min8};
    use core::ptr::{read_unaligned, write_unaligned};
    let splat = |v: i32| u32::from(v as u8) * 0x0101_0101;
    let (lo4, hi4) = (splat(lo), splat(hi));
    let (w, ow) = (p.w.get(), p.ow.get());
    let quads = ow / 4;
    if src.len() < 2 * p.oh * w || dst.len() < p.oh * ow {
        return;
    }
    for oh in 0..p.oh {
        // SAFETY: rows `2 * oh` and `2 * oh + 1 < 2 * p.oh` of `src` (checked above) are
        // read at columns below `8 * quads <= 2 * ow <= w`, and row `oh < p.oh` of `dst`
        // written below `4 * quads <= ow`.
        unsafe {
            let r0 = src.as_ptr().add(2 * oh * w);
            let r1 = r0.add(w);
            let out = dst.as_mut_ptr().add(oh * ow);
            for q in 0..quads {
                let word = |r: *const i8, i: usize| read_unaligned(r.add(8 * q + i).cast::<u32>());
                let v = quad([word(r0, 0), word(r1, 0), word(r0, 4), word(r1, 4)]);
                let v = min8(max8(v, lo4), hi4);
                write_unaligned(out.add(4 * q).cast::<u32>(), v);
            }
        }
    }
    if 4 * quads < ow {
        plane_2x2(src, dst, p, 4 * quads, f);
    }
}

#[cfg(test)]
mod tests {
    /// The `u32` form of the wide rounding division against the `i64` one, at the ends of
    /// the `i32` range and of the divisors, ties included.
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    #[test]
    fn round_div_u32_is_the_i64_form() {
        let sums = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30) - 1,
            -(1 << 30),
            -7,
            -6,
            -2,
            -1,
            0,
            1,
            2,
        ];
        let more = [5, 6, 7, 1 << 30, (1 << 30) + 1, i32::MAX - 1, i32::MAX];
        let ds = [
            0usize,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            1 << 30,
            (1 << 30) + 1,
            1 << 31,
            (1 << 31) + 1,
        ];
        let edge = [u32::MAX as usize - 1, u32::MAX as usize];
        #[cfg(target_pointer_width = "64")]
        let wide = [1usize << 32, (1 << 32) + 1, (1 << 33) + 1, usize::MAX];
        #[cfg(not(target_pointer_width = "64"))]
        let wide = [0usize; 0];
        for &s in sums.iter().chain(&more) {
            for &d in ds.iter().chain(&edge).chain(&wide) {
                assert_eq!(
                    super::round_div_u32(s, d),
                    super::round_div_wide(s, d),
                    "{s} / {d}"
                );
            }
        }
    }
}
