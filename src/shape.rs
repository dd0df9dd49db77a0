//! The NCHW tensor shape and 4-sided padding.

use crate::error::{mul, tri, Error};

/// The shape of a dense NCHW tensor: `n` images of `c` channels of `h` rows of `w` values.
///
/// Element `(n, c, h, w)` lives at flat index `((n * C + c) * H + h) * W + w`. Any side may be
/// zero (an empty batch is a valid input); [`Shape::new`] only refuses shapes whose element
/// count overflows `usize`, so every size the crate derives from a `Shape` is exact.
///
/// ```
/// use nchw::Shape;
/// const X: Shape = match Shape::new(2, 3, 4, 5) { Ok(s) => s, Err(_) => panic!() };
/// static BUF: [f32; X.len()] = [0.0; X.len()];
/// assert_eq!(BUF.len(), 120);
/// assert_eq!(X.image_len(), 60);
/// assert_eq!(X.index(1, 2, 3, 4), 119);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl Shape {
    /// A shape of `n` images, `c` channels, `h` rows, `w` columns.
    ///
    /// # Errors
    /// [`Error::Overflow`] if `n * c * h * w` does not fit in `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nchw::{Error, Shape};
    /// let s = Shape::new(2, 3, 4, 5)?;
    /// assert_eq!((s.len(), s.image_len(), s.plane_len()), (120, 60, 20));
    /// assert_eq!(Shape::new(2, usize::MAX, 2, 1), Err(Error::Overflow));
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Result<Self, Error> {
        let plane = tri!(mul(h, w));
        let image = tri!(mul(c, plane));
        tri!(mul(n, image));
        Ok(Shape { n, c, h, w })
    }

    /// Batch size `N`.
    pub const fn n(&self) -> usize {
        self.n
    }

    /// Channels `C`.
    pub const fn c(&self) -> usize {
        self.c
    }

    /// Height `H`.
    pub const fn h(&self) -> usize {
        self.h
    }

    /// Width `W`.
    pub const fn w(&self) -> usize {
        self.w
    }

    /// Elements in one channel plane, `H * W`.
    pub const fn plane_len(&self) -> usize {
        self.h * self.w
    }

    /// Elements in one image, `C * H * W`.
    pub const fn image_len(&self) -> usize {
        self.c * self.plane_len()
    }

    /// `Ok` unless an image holds no elements: [`Error::Empty`] names the first of `C`, `H`,
    /// `W` that is zero. Every geometry asks this first, before any window check.
    pub(crate) const fn check_images(&self) -> Result<(), Error> {
        let what = if self.c == 0 {
            "channels"
        } else if self.h == 0 {
            "height"
        } else if self.w == 0 {
            "width"
        } else {
            return Ok(());
        };
        Err(Error::Empty { what })
    }

    /// Elements in the whole tensor, `N * C * H * W`.
    pub const fn len(&self) -> usize {
        self.n * self.image_len()
    }

    /// Whether the tensor holds no element.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flat index of element `(n, c, h, w)`: `((n * C + c) * H + h) * W + w`.
    pub const fn index(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
        ((n * self.c + c) * self.h + h) * self.w + w
    }
}

/// Zero-or-more rows or columns added on each of the four sides of every plane.
///
/// Kept as four numbers rather than two so that asymmetric ("same") padding is exact.
///
/// ```
/// use nchw::Padding;
/// assert_eq!(Padding::uniform(1), Padding { top: 1, bottom: 1, left: 1, right: 1 });
/// assert_eq!(Padding::symmetric(2, 0), Padding { top: 2, bottom: 2, left: 0, right: 0 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Padding {
    /// Rows added above.
    pub top: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

impl Padding {
    /// No padding.
    pub const ZERO: Padding = Padding::uniform(0);

    /// The same padding on all four sides.
    pub const fn uniform(p: usize) -> Self {
        Padding {
            top: p,
            bottom: p,
            left: p,
            right: p,
        }
    }

    /// `h` rows above and below, `w` columns left and right (PyTorch's `padding=(h, w)`).
    pub const fn symmetric(h: usize, w: usize) -> Self {
        Padding {
            top: h,
            bottom: h,
            left: w,
            right: w,
        }
    }

    /// Whether no side is wider than `n`: `at_most(0)` is no padding, `at_most(1)` at most
    /// one ring.
    pub(crate) const fn at_most(&self, n: usize) -> bool {
        self.top <= n && self.bottom <= n && self.left <= n && self.right <= n
    }
}
