//! The sliding-window geometry shared by im2col, convolution and pooling.
//!
//! All output-size arithmetic lives here, built on one quantity:
//! `kernel_field = (kernel - 1) * dilation + 1`, the extent a dilated kernel covers.

use crate::error::{add, check_nonzero, mul, tri, Error};
use crate::shape::Padding;

/// A 2-D sliding window: kernel size, stride, dilation and 4-sided padding.
///
/// Build one with [`Window::new`] and the `with_*` methods; it is checked against an input
/// when a geometry (im2col, convolution, pooling) is made from it. Window position
/// `(oh, ow)`, tap `(kh, kw)` reads input row `oh * stride_h - top + kh * dilation_h` and
/// column `ow * stride_w - left + kw * dilation_w`; positions outside the input are padding.
///
/// ```
/// use nchw::{Padding, Rounding, Window};
/// let w = Window::square(3).with_stride(2, 2).with_padding(Padding::uniform(1));
/// assert_eq!(w.output_size(56, 56, Rounding::Floor), Ok((28, 28)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Kernel rows.
    pub kernel_h: usize,
    /// Kernel columns.
    pub kernel_w: usize,
    /// Step between window positions, in rows.
    pub stride_h: usize,
    /// Step between window positions, in columns.
    pub stride_w: usize,
    /// Step between kernel taps, in rows (1: dense).
    pub dilation_h: usize,
    /// Step between kernel taps, in columns (1: dense).
    pub dilation_w: usize,
    /// Implicit padding around each plane.
    pub padding: Padding,
}

/// How a window count that does not divide evenly is rounded.
///
/// # Examples
///
/// A 2x2 window with stride 2 over 5 x 5: `Floor` drops the last row and column, `Ceil`
/// keeps a window over each of them (PyTorch's `ceil_mode=True`).
///
/// ```
/// use nchw::{Rounding, Window};
/// let w = Window::pool(2);
/// assert_eq!(w.output_size(5, 5, Rounding::Floor)?, (2, 2));
/// assert_eq!(w.output_size(5, 5, Rounding::Ceil)?, (3, 3));
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Drop a last, partial window (convolution always; pooling's default).
    Floor,
    /// Keep a last window that hangs past the padded edge (pooling's `ceil_mode=True`), except
    /// one that would start inside the trailing padding, which PyTorch drops.
    Ceil,
}

impl Window {
    /// A `kernel_h` x `kernel_w` window with stride 1, dilation 1 and no padding.
    ///
    /// # Examples
    ///
    /// A 3x5 kernel with stride 2 along the width and one column of padding left and right,
    /// over a 7 x 9 input:
    ///
    /// ```
    /// use nchw::{Padding, Rounding, Window};
    /// let w = Window::new(3, 5).with_stride(1, 2).with_padding(Padding::symmetric(0, 1));
    /// assert_eq!(w.output_size(7, 9, Rounding::Floor)?, (5, 4));
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(kernel_h: usize, kernel_w: usize) -> Self {
        Window {
            kernel_h,
            kernel_w,
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            padding: Padding::ZERO,
        }
    }

    /// A `k` x `k` window with stride 1 (a convolution's default; for pooling see
    /// [`Window::pool`]), dilation 1 and no padding.
    pub const fn square(k: usize) -> Self {
        Window::new(k, k)
    }

    /// A `k` x `k` pooling window: stride `k` (PyTorch's default for pooling, where a
    /// convolution's is 1), dilation 1 and no padding.
    ///
    /// ```
    /// use nchw::{Rounding, Window};
    /// // F.max_pool2d(x, 2) on a 28 x 28 plane: 14 x 14 windows.
    /// assert_eq!(Window::pool(2).output_size(28, 28, Rounding::Floor), Ok((14, 14)));
    /// assert_eq!(Window::pool(2), Window::square(2).with_stride(2, 2));
    /// ```
    pub const fn pool(k: usize) -> Self {
        Window::square(k).with_stride(k, k)
    }

    /// The same window with the given strides.
    pub const fn with_stride(self, stride_h: usize, stride_w: usize) -> Self {
        Window {
            stride_h,
            stride_w,
            ..self
        }
    }

    /// The same window with the given dilations.
    pub const fn with_dilation(self, dilation_h: usize, dilation_w: usize) -> Self {
        Window {
            dilation_h,
            dilation_w,
            ..self
        }
    }

    /// The same window with the given padding.
    pub const fn with_padding(self, padding: Padding) -> Self {
        Window { padding, ..self }
    }

    /// Whether the window reads each input element once, in place: 1 x 1, stride 1, no
    /// padding (a dilation then changes nothing).
    pub(crate) const fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.padding.at_most(0)
    }

    /// Output `(height, width)` over an `h` x `w` input.
    ///
    /// `out = (in + pad_before + pad_after - kernel_field) / stride + 1`, rounded as asked.
    ///
    /// # Errors
    /// [`Error::Zero`] for a zero kernel side, stride or dilation; [`Error::WindowTooLarge`]
    /// when no window fits; [`Error::Overflow`] when a size overflows.
    pub const fn output_size(
        &self,
        h: usize,
        w: usize,
        rounding: Rounding,
    ) -> Result<(usize, usize), Error> {
        let oh = tri!(self.axis_h(h).output_len(rounding));
        let ow = tri!(self.axis_w(w).output_len(rounding));
        Ok((oh, ow))
    }

    /// The window along the rows of an input of height `h`.
    pub(crate) const fn axis_h(&self, h: usize) -> Axis {
        Axis {
            names: ["height", "kernel_h", "stride_h", "dilation_h"],
            input: h,
            kernel: self.kernel_h,
            stride: self.stride_h,
            dilation: self.dilation_h,
            before: self.padding.top,
            after: self.padding.bottom,
        }
    }

    /// The window along the columns of an input of width `w`.
    pub(crate) const fn axis_w(&self, w: usize) -> Axis {
        Axis {
            names: ["width", "kernel_w", "stride_w", "dilation_w"],
            input: w,
            kernel: self.kernel_w,
            stride: self.stride_w,
            dilation: self.dilation_w,
            before: self.padding.left,
            after: self.padding.right,
        }
    }
}

/// A window along one axis of one input: the 1-D view every size computation uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    /// The axis, then its kernel, stride and dilation parameter names, for errors.
    pub names: [&'static str; 4],
    pub input: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    pub before: usize,
    pub after: usize,
}

impl Axis {
    /// The extent the dilated kernel covers: `(kernel - 1) * dilation + 1`.
    pub const fn kernel_field(&self) -> Result<usize, Error> {
        add(tri!(mul(self.kernel.saturating_sub(1), self.dilation)), 1)
    }

    /// The input's extent including both paddings.
    pub const fn padded(&self) -> Result<usize, Error> {
        add(tri!(add(self.input, self.before)), self.after)
    }

    /// Number of window positions, the one output-size formula of the crate.
    pub const fn output_len(&self, rounding: Rounding) -> Result<usize, Error> {
        let [axis, kernel, stride, dilation] = self.names;
        tri!(check_nonzero(kernel, self.kernel));
        tri!(check_nonzero(stride, self.stride));
        tri!(check_nonzero(dilation, self.dilation));
        let field = tri!(self.kernel_field());
        let padded = tri!(self.padded());
        let too_large = Error::WindowTooLarge {
            axis,
            field,
            padded,
        };
        match rounding {
            Rounding::Floor => {
                if field > padded {
                    return Err(too_large);
                }
                Ok((padded - field) / self.stride + 1)
            }
            Rounding::Ceil => {
                // ceil((padded - field) / stride) + 1, which PyTorch allows down to
                // field = padded + stride - 1 (a single window hanging past the edge).
                let reach = tri!(add(padded, self.stride - 1));
                if field > reach {
                    return Err(too_large);
                }
                let mut out = (reach - field) / self.stride + 1;
                // A last window that would start in the trailing padding is dropped.
                if (out - 1) * self.stride >= self.input + self.before {
                    out -= 1;
                }
                if out == 0 {
                    return Err(too_large);
                }
                Ok(out)
            }
        }
    }

    /// The outputs `lo..hi` (within `0..outputs`) whose tap at `offset = k * dilation` lands
    /// inside the input rather than the padding.
    #[inline]
    pub const fn inside(&self, offset: usize, outputs: usize) -> (usize, usize) {
        // Input coordinate of output o: o * stride + offset - before, in 0..input.
        let lo = if self.before > offset {
            div_ceil(self.before - offset, self.stride)
        } else {
            0
        };
        let end = self.input + self.before;
        let hi = if end > offset {
            div_ceil(end - offset, self.stride)
        } else {
            0
        };
        let hi = if hi < outputs { hi } else { outputs };
        let lo = if lo < hi { lo } else { hi };
        (lo, hi)
    }
}

/// `a / b` rounded up, or 0 for `b == 0` (which a validated window never has): checked
/// division leaves the optimizer no division-by-zero panic to keep.
const fn div_ceil(a: usize, b: usize) -> usize {
    match (a.checked_div(b), a.checked_rem(b)) {
        (Some(q), Some(r)) => q + (r != 0) as usize,
        _ => 0,
    }
}
