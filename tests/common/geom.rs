//! The one test geometry of every family (im2col, padding, convolution, pooling), in plain
//! numbers independent of the crate's types, with the one output-size formula.

use nchw::{Conv2d, Im2col, Padding, Pool2d, Rounding, Shape, Window};

/// `n x c x h x w` input, a window per axis (`[height, width]`), and for convolutions the
/// output channels and groups (pooling and im2col leave them at `c` and 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub groups: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[[top, bottom], [left, right]]`.
    pub pad: [[usize; 2]; 2],
    /// Pooling's ceil mode (PyTorch's `ceil_mode`).
    pub ceil: bool,
}

impl Geom {
    /// An `n x c x h x w` input with a 1x1 window, stride 1, no padding.
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Geom {
        Geom {
            n,
            c,
            h,
            w,
            oc: c,
            groups: 1,
            kernel: [1, 1],
            stride: [1, 1],
            dilation: [1, 1],
            pad: [[0, 0], [0, 0]],
            ceil: false,
        }
    }

    /// A convolution: `pad` is `[top, bottom, left, right]`.
    #[allow(clippy::too_many_arguments)]
    pub const fn conv2d(
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        oc: usize,
        groups: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        [top, bottom, left, right]: [usize; 4],
    ) -> Geom {
        Geom {
            oc,
            groups,
            kernel: [kh, kw],
            stride: [sh, sw],
            dilation: [dh, dw],
            pad: [[top, bottom], [left, right]],
            ..Geom::new(n, c, h, w)
        }
    }

    /// A pooling: per-axis `[height, width]` parameters.
    pub const fn pool2d(
        [n, c]: [usize; 2],
        [h, w]: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        pad: [[usize; 2]; 2],
        ceil: bool,
    ) -> Geom {
        Geom {
            kernel,
            stride,
            dilation,
            pad,
            ceil,
            ..Geom::new(n, c, h, w)
        }
    }

    /// The input, window and rounding of the crate's `window` (the other fields as
    /// [`Geom::new`]).
    pub const fn of_window(n: usize, c: usize, h: usize, w: usize, window: Window) -> Geom {
        let p = window.padding;
        Geom {
            kernel: [window.kernel_h, window.kernel_w],
            stride: [window.stride_h, window.stride_w],
            dilation: [window.dilation_h, window.dilation_w],
            pad: [[p.top, p.bottom], [p.left, p.right]],
            ..Geom::new(n, c, h, w)
        }
    }

    /// Input extent along axis `a` (0: height, 1: width).
    pub const fn input(&self, a: usize) -> usize {
        [self.h, self.w][a]
    }

    /// The one output-size formula, PyTorch's `pooling_output_shape` (floor mode: the number
    /// of positions `o` with `o * stride + field <= padded`): outputs along axis `a`, or
    /// `None` if fewer than one.
    pub fn out(&self, a: usize) -> Option<usize> {
        let (i, k, s, d) = (
            self.input(a) as i64,
            self.kernel[a] as i64,
            self.stride[a] as i64,
            self.dilation[a] as i64,
        );
        let (before, after) = (self.pad[a][0] as i64, self.pad[a][1] as i64);
        let field = (k - 1) * d + 1;
        let num = i + before + after - field + if self.ceil { s - 1 } else { 0 };
        let mut out = num.div_euclid(s) + 1;
        // Ceil mode: the last window must start inside the input or its leading padding.
        if self.ceil && (out - 1) * s >= i + before {
            out -= 1;
        }
        (out >= 1).then_some(out as usize)
    }

    /// Both output extents; panics when the window does not fit.
    pub fn out_hw(&self) -> (usize, usize) {
        (self.out(0).unwrap(), self.out(1).unwrap())
    }

    /// Whether the window fits along both axes.
    pub fn fits(&self) -> bool {
        self.out(0).is_some() && self.out(1).is_some()
    }

    /// Signed input coordinate of output `o`'s tap `j` along axis `a`.
    pub const fn tap(&self, a: usize, o: usize, j: usize) -> i64 {
        (o * self.stride[a] + j * self.dilation[a]) as i64 - self.pad[a][0] as i64
    }

    /// Whether signed coordinate `x` lies in the input along axis `a`.
    pub const fn inside(&self, a: usize, x: i64) -> bool {
        0 <= x && x < self.input(a) as i64
    }

    /// Input coordinate of output `o`'s tap `j` along axis `a`, or `None` in the padding.
    pub const fn source(&self, a: usize, o: usize, j: usize) -> Option<usize> {
        let x = self.tap(a, o, j);
        if self.inside(a, x) {
            Some(x as usize)
        } else {
            None
        }
    }

    pub const fn window(&self) -> Window {
        Window::new(self.kernel[0], self.kernel[1])
            .with_stride(self.stride[0], self.stride[1])
            .with_dilation(self.dilation[0], self.dilation[1])
            .with_padding(Padding {
                top: self.pad[0][0],
                bottom: self.pad[0][1],
                left: self.pad[1][0],
                right: self.pad[1][1],
            })
    }

    pub fn shape(&self) -> Shape {
        Shape::new(self.n, self.c, self.h, self.w).unwrap()
    }

    pub const fn rounding(&self) -> Rounding {
        if self.ceil {
            Rounding::Ceil
        } else {
            Rounding::Floor
        }
    }

    /// The convolution, on the instruction set [`super::isa::on`] chose, if any.
    pub fn conv(&self) -> Result<Conv2d, nchw::Error> {
        Conv2d::new(self.shape(), self.oc, self.window(), self.groups).map(super::isa::force)
    }

    /// The pooling, on the instruction set [`super::isa::on`] chose, if any.
    pub fn pool(&self) -> Result<Pool2d, nchw::Error> {
        Pool2d::new(self.shape(), self.window(), self.rounding()).map(super::isa::force)
    }

    /// The im2col geometry of one image.
    pub fn im2col(&self) -> Result<Im2col, nchw::Error> {
        Im2col::new(Shape::new(1, self.c, self.h, self.w)?, self.window())
    }

    /// The im2col geometry of the whole batch.
    pub fn im2col_batch(&self) -> Result<Im2col, nchw::Error> {
        Im2col::new(self.shape(), self.window())
    }

    /// Input elements.
    pub const fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// Convolution weight elements.
    pub const fn w_len(&self) -> usize {
        self.oc * (self.c / self.groups) * self.kernel[0] * self.kernel[1]
    }

    /// Output elements (`oc` planes per image).
    pub fn y_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * self.oc * oh * ow
    }

    /// Elements of one image's `[c*kh*kw, oh*ow]` column matrix.
    pub fn col_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.c * self.kernel[0] * self.kernel[1] * oh * ow
    }
}
