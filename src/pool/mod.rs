//! Max and average pooling, forward and backward, with PyTorch's exact edge semantics.
//!
//! # Geometry
//!
//! A [`Pool2d`] is a [`Window`] over an NCHW [`Shape`] with a [`Rounding`] (PyTorch's
//! `ceil_mode`). Sizes come from the crate's one output-size function ([`Window::output_size`]):
//! `out = floor_or_ceil((in + pad_before + pad_after - kernel_field) / stride) + 1`, and in
//! ceil mode a last window that would start in the trailing padding is dropped (`H = 5, k = 1,
//! s = 3` gives 2 outputs, not 3). On top of that, pooling requires, as PyTorch does:
//!
//! - every padding side at most half the *undilated* kernel, `pad <= kernel / 2`
//!   ([`Error::PaddingTooLarge`]);
//! - every window to cover at least one input element. Dilation with padding (`H = 1, k = 2,
//!   d = 2, pad 1`) or ceil mode can make a window see only padding and overhang; PyTorch then
//!   outputs `-inf` with an out-of-range index and onnxruntime `-FLT_MAX` with index 0. This
//!   crate rejects such a geometry with [`Error::EmptyWindow`] instead, so every output is
//!   an actual input value (max) or an actual mean (average).
//!
//! A ceil-mode window may hang past the padded edge ("overhang"); those positions are neither
//! input nor padding.
//!
//! # Max pooling
//!
//! [`max_pool2d`], [`max_pool2d_with_indices`]: padding and overhang are never selected; ties
//! go to the first maximum in row-major window order; a window holding NaN yields NaN, with
//! the index of the *last* NaN in row-major order (PyTorch updates on
//! `val > max || isnan(val)`). Every code path, scalar or SIMD, follows these rules bit for
//! bit, including the sign of a zero maximum. Indices are `u32`, flat `h * W + w` within each
//! `(n, c)` plane (what `max_unpool2d` consumes): half the memory of PyTorch's `i64`, and the
//! same on a microcontroller and a server; planes of more than `2^32` elements are refused
//! with [`Error::Unsupported`].
//!
//! Backward ([`max_pool2d_backward`] from saved indices, [`max_pool2d_backward_recompute`]
//! from `x` when the indices cannot be kept) adds each `dy` to `dx[index]`; overlapping
//! windows accumulate. Both give the same `dx`.
//!
//! # Average pooling
//!
//! [`avg_pool2d`] divides the window sum by the [`Divisor`]: PyTorch's `count_include_pad`
//! (padding counts, ceil-mode overhang does not), `count_include_pad = false` (input elements
//! only), or a `divisor_override`. The sum runs in row-major window order starting from zero,
//! then is divided (not multiplied by a reciprocal), so results equal the textbook loop's
//! exactly. [`avg_pool2d_backward`] spreads `dy / divisor` over the window's input positions.
//! [`global_avg_pool2d`] averages whole planes (classifier heads) with its own fast path.
//!
//! # Performance
//!
//! Direct loops, no im2col and no scratch: each output row is built one input row at a time,
//! the *interior* outputs (every tap inside the input) in a straight loop specialized for
//! 2x2 stride 2, 3x3 stride 2 and 3x3 stride 1 windows so that the compiler vectorizes it
//! across the output width, the few border outputs with per-tap checks. On x86_64 each
//! operation runs compiled for AVX-512 or AVX2 when the CPU has them (detected once, or
//! chosen with [`Pool2d::with_isa`]).
//!
//! The CNN downsampling layers (2x2 and 3x3 windows of stride 2, any padding, either
//! rounding, `f32`) have hand-written kernels:
//!
//! - max pooling (with or without indices) and average pooling on AVX2 (and on AVX-512
//!   CPUs for output rows narrower than 16 and for the 3x3 max): one call walks every
//!   plane in column strips of 8 outputs down all its rows, with the padding taps replaced
//!   by a neighbouring tap of the same window (max) or by `+0.0` (sum), so borders cost no
//!   passes and a run of small planes (512 channels of 14x14) costs a loop, not a setup
//!   per plane and row. The 3x3 max is separable: each input row's horizontal max of three
//!   is computed once and shared by the two output rows that read it. About 6 instructions
//!   per output for the 3x3 max, 3.5 to 4 for the 2x2 windows (counted on 512x14x14 and
//!   64x112x112).
//! - the rest (the argmax of [`max_pool2d_backward_recompute`], the other windows with
//!   wider rows on AVX-512 CPUs) by kernels that compute the interior outputs from all the
//!   window's rows at once, over bands of rows, or over all planes stacked into one when no
//!   window crosses a plane boundary: 16 outputs per step with AVX-512, 8 with AVX2 (2x2
//!   windows);
//! - on Cortex-M cores with an FPU, the 2x2 window in assembly (max about 15 instructions
//!   per output, average about 8).
//!
//! All paths give bit-identical results. [`global_avg_pool2d`] has its own reduction loop.
//!
//! Stack use is bounded and small: the backward passes keep runs of 32 outputs (and
//! indices) on the stack.

mod avg;
mod isa;
mod max;
mod rows;
mod stride2;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod strips;

pub use avg::{avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward};
pub use max::{
    max_pool2d, max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices,
};

use core::num::NonZeroUsize;

use crate::arch::{forced_isa, Isa};
use crate::error::{check_nonzero, tri, Error};
use crate::shape::Shape;
use crate::window::{Axis, Rounding, Window};
use rows::Geo;

/// A validated pooling geometry: a window sliding over every plane of an NCHW input.
///
/// Sizes are `const fn`, so firmware can size static buffers:
///
/// ```
/// use nchw::{Padding, Pool2d, Rounding, Shape, Window};
/// const G: Pool2d = match Shape::new(1, 8, 28, 28) {
///     Ok(x) => match Pool2d::new(x, Window::square(2).with_stride(2, 2), Rounding::Floor) {
///         Ok(g) => g,
///         Err(_) => panic!("bad geometry"),
///     },
///     Err(_) => panic!("bad shape"),
/// };
/// static mut Y: [f32; G.output_len()] = [0.0; G.output_len()];
/// static mut IDX: [u32; G.indices_len()] = [0; G.indices_len()];
/// assert_eq!((G.output().h(), G.output().w()), (14, 14));
///
/// // Ceil mode keeps a last window hanging past the edge...
/// let x = Shape::new(1, 1, 5, 5)?;
/// let g = Pool2d::new(x, Window::square(2).with_stride(2, 2), Rounding::Ceil)?;
/// assert_eq!(g.output().h(), 3);
/// // ...but drops one that would start in the trailing padding (PyTorch's rule).
/// let g = Pool2d::new(x, Window::square(1).with_stride(3, 3), Rounding::Ceil)?;
/// assert_eq!(g.output().h(), 2);
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2d {
    input: Shape,
    output: Shape,
    window: Window,
    rounding: Rounding,
    /// The loops' view of the geometry, made once here.
    geo: Geo,
    /// The instruction set forced with [`Pool2d::with_isa`], if any.
    isa: Option<Isa>,
}

/// The sizes the kernels chunk and step by, as [`NonZeroUsize`]: proven nonzero once, by
/// [`Pool2d::new`], so that no division-by-zero or zero-chunk panic path survives in them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Sizes {
    /// Input height and width.
    h: NonZeroUsize,
    w: NonZeroUsize,
    /// Output height and width.
    out_h: NonZeroUsize,
    out_w: NonZeroUsize,
    /// Step between the window's tap rows.
    dilation_h: NonZeroUsize,
}

forced_isa!(
    Pool2d,
    "pooling",
    r#"```
use nchw::{Isa, Pool2d, Rounding, Shape, Window};
let g = Pool2d::new(Shape::new(1, 1, 4, 4)?, Window::pool(2), Rounding::Floor)?;
assert_eq!(g.with_isa(Isa::Portable)?.isa(), Isa::Portable);
# Ok::<(), nchw::Error>(())
```
"#
);

impl Pool2d {
    /// `window` sliding over every `H x W` plane of `input`, with output sizes rounded as
    /// `rounding` says (`Rounding::Ceil` is PyTorch's `ceil_mode=True`).
    ///
    /// # Errors
    /// [`Error::Empty`] if the input's `C`, `H` or `W` is zero; [`Error::Zero`] for a zero
    /// kernel side, stride or dilation; [`Error::WindowTooLarge`] when no window fits;
    /// [`Error::PaddingTooLarge`] when a padding side exceeds half the
    /// (undilated) kernel; [`Error::EmptyWindow`] when some window covers no input element;
    /// [`Error::Overflow`] when a size overflows `usize`.
    ///
    /// ```
    /// use nchw::{Error, Padding, Pool2d, Rounding, Shape, Window};
    /// let x = Shape::new(1, 1, 1, 1)?;
    /// // A 2-tap window with dilation 2 and one pad each side sees only padding.
    /// let w = Window::new(1, 2).with_dilation(1, 2).with_padding(Padding::symmetric(0, 1));
    /// assert_eq!(
    ///     Pool2d::new(x, w, Rounding::Floor),
    ///     Err(Error::EmptyWindow { axis: "width", output: 0 })
    /// );
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(input: Shape, window: Window, rounding: Rounding) -> Result<Self, Error> {
        tri!(input.check_images());
        let (out_h, out_w) = tri!(window.output_size(input.h(), input.w(), rounding));
        let p = window.padding;
        tri!(check_padding("top", p.top, window.kernel_h));
        tri!(check_padding("bottom", p.bottom, window.kernel_h));
        tri!(check_padding("left", p.left, window.kernel_w));
        tri!(check_padding("right", p.right, window.kernel_w));
        tri!(check_nonempty(&window.axis_h(input.h()), out_h));
        tri!(check_nonempty(&window.axis_w(input.w()), out_w));
        let output = tri!(Shape::new(input.n(), input.c(), out_h, out_w));
        // The checks above already ensure that each of these is at least 1 (output_size
        // refuses a zero dilation and returns at least one output; check_nonempty refuses
        // windows without input, hence empty inputs): the conversions never fail, they only
        // record the fact in the types, where the optimizer sees it.
        let sizes = Sizes {
            h: tri!(check_nonzero("height", input.h())),
            w: tri!(check_nonzero("width", input.w())),
            out_h: tri!(check_nonzero("output height", out_h)),
            out_w: tri!(check_nonzero("output width", out_w)),
            dilation_h: tri!(check_nonzero("dilation_h", window.dilation_h)),
        };
        Ok(Pool2d {
            input,
            output,
            window,
            rounding,
            geo: Geo::new(input, output, window, sizes),
            isa: None,
        })
    }

    /// The input shape `N x C x H x W`.
    pub const fn input(&self) -> Shape {
        self.input
    }

    /// The output shape `N x C x OH x OW`.
    pub const fn output(&self) -> Shape {
        self.output
    }

    /// The window.
    pub const fn window(&self) -> Window {
        self.window
    }

    /// The rounding of the output size.
    pub const fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// Elements of the input, `N * C * H * W`.
    pub const fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Elements of the output, `N * C * OH * OW`.
    pub const fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Elements of the indices buffer of [`max_pool2d_with_indices`]: one per output.
    pub const fn indices_len(&self) -> usize {
        self.output.len()
    }

    /// The loops' view of the geometry.
    const fn geo(&self) -> &Geo {
        &self.geo
    }
}

/// `pad <= kernel / 2`, PyTorch's `pool2d_shape_check` (undilated kernel).
const fn check_padding(side: &'static str, padding: usize, kernel: usize) -> Result<(), Error> {
    let limit = kernel / 2;
    if padding > limit {
        Err(Error::PaddingTooLarge {
            side,
            padding,
            limit,
        })
    } else {
        Ok(())
    }
}

/// Checks that each of the `outputs` windows along `axis` has a tap inside the input.
///
/// Runs after the padding check (`before <= kernel / 2`). Every window starts before the
/// input's end (the output-size rule guarantees it), so a window starting inside the input
/// has its first tap there. A window starting in the leading padding has its first tap at or
/// past the input's start within `dilation` of it, and that tap exists (its number is at most
/// `before <= kernel / 2`): only when `input < dilation` can it land past the input. The
/// loop therefore visits only the windows starting in the leading padding, and only when
/// `input < dilation`, which the window-size rule keeps to a handful.
const fn check_nonempty(axis: &Axis, outputs: usize) -> Result<(), Error> {
    if axis.input >= axis.dilation {
        return Ok(());
    }
    let mut o = 0;
    while o < outputs && o * axis.stride < axis.before {
        // Output o's taps sit at padded coordinates o * stride + j * dilation; the input
        // occupies before..before + input. The first tap at or past `before`:
        let start = o * axis.stride;
        // dilation > input >= 0 here: the divisions cannot be by zero.
        let gap = axis.before - start;
        let j = gap / axis.dilation + !gap.is_multiple_of(axis.dilation) as usize;
        if j >= axis.kernel || start + j * axis.dilation >= axis.before + axis.input {
            return Err(Error::EmptyWindow {
                axis: axis.names[0],
                output: o,
            });
        }
        o += 1;
    }
    Ok(())
}

/// What an average window's sum is divided by.
///
/// ```
/// use nchw::{avg_pool2d, AvgPool2d, Divisor, Pool2d, Rounding, Shape, Window};
/// // [1, 2, 3, 4, 5], k = 2, s = 2, ceil mode: the last window hangs past the edge and
/// // its overhang is not counted, even with CountIncludePad.
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
/// let g = Pool2d::new(Shape::new(1, 1, 1, 5)?, Window::new(1, 2).with_stride(1, 2), Rounding::Ceil)?;
/// let mut y = [0.0f32; 3];
/// avg_pool2d(&AvgPool2d::new(g, Divisor::CountIncludePad)?, &x, &mut y)?;
/// assert_eq!(y, [1.5, 3.5, 5.0]);
/// avg_pool2d(&AvgPool2d::new(g, Divisor::Override(4))?, &x, &mut y)?;
/// assert_eq!(y, [0.75, 1.75, 1.25]);
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Divisor {
    /// The window clipped to the padded input: padding counts, ceil-mode overhang does not
    /// (PyTorch's default, `count_include_pad=True`).
    CountIncludePad,
    /// The input elements in the window (`count_include_pad=False`).
    CountExcludePad,
    /// This number, for every window (`divisor_override`).
    Override(usize),
}

/// A validated average-pooling operation: a [`Pool2d`] without dilation and a [`Divisor`].
///
/// ```
/// use nchw::{AvgPool2d, Divisor, Error, Pool2d, Rounding, Shape, Window};
/// let x = Shape::new(1, 1, 4, 4)?;
/// let dilated = Pool2d::new(x, Window::square(2).with_dilation(2, 2), Rounding::Floor)?;
/// assert_eq!(
///     AvgPool2d::new(dilated, Divisor::CountIncludePad),
///     Err(Error::Unsupported { operation: "average pooling", parameter: "dilation_h", value: 2 })
/// );
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AvgPool2d {
    pool: Pool2d,
    divisor: Divisor,
}

impl AvgPool2d {
    /// Average pooling over `pool`'s windows, divided by `divisor`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] if the window is dilated (average pooling has no dilation in
    /// PyTorch); [`Error::Zero`] for `Divisor::Override(0)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nchw::{avg_pool2d, AvgPool2d, Divisor, Pool2d, Rounding, Shape, Window};
    /// let pool = Pool2d::new(Shape::new(1, 1, 2, 4)?, Window::pool(2), Rounding::Floor)?;
    /// let avg = AvgPool2d::new(pool, Divisor::CountIncludePad)?;
    /// let mut y = [0.0f32; 2];
    /// avg_pool2d(&avg, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &mut y)?;
    /// assert_eq!(y, [3.5, 5.5]); // (1 + 2 + 5 + 6) / 4, (3 + 4 + 7 + 8) / 4
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(pool: Pool2d, divisor: Divisor) -> Result<Self, Error> {
        let w = pool.window;
        if w.dilation_h != 1 {
            return Err(unsupported_dilation("dilation_h", w.dilation_h));
        }
        if w.dilation_w != 1 {
            return Err(unsupported_dilation("dilation_w", w.dilation_w));
        }
        if let Divisor::Override(0) = divisor {
            return Err(Error::Zero {
                parameter: "divisor_override",
            });
        }
        Ok(AvgPool2d { pool, divisor })
    }

    /// The geometry.
    pub const fn pool(&self) -> Pool2d {
        self.pool
    }

    /// The divisor rule.
    pub const fn divisor(&self) -> Divisor {
        self.divisor
    }
}

const fn unsupported_dilation(parameter: &'static str, value: usize) -> Error {
    Error::Unsupported {
        operation: "average pooling",
        parameter,
        value,
    }
}
