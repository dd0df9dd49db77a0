//! Constant padding of an NCHW tensor, and its inverse, cropping.

use crate::element::Element;
use crate::error::{add, check_len, tri, Error};
use crate::shape::{Padding, Shape};

/// A validated padding geometry: an input shape and the padding added to each plane.
///
/// ```
/// use nchw::{Pad, Padding, Shape};
/// const P: Pad = match Shape::new(1, 3, 4, 4) {
///     Ok(s) => match Pad::new(s, Padding::uniform(1)) { Ok(p) => p, Err(_) => panic!() },
///     Err(_) => panic!(),
/// };
/// static mut PADDED: [f32; P.output().len()] = [0.0; P.output().len()];
/// assert_eq!(P.output().h(), 6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pad {
    input: Shape,
    output: Shape,
    padding: Padding,
}

impl Pad {
    /// Padding `padding` around every plane of `input`.
    ///
    /// # Errors
    /// [`Error::Overflow`] if the padded tensor's size overflows `usize`.
    pub const fn new(input: Shape, padding: Padding) -> Result<Self, Error> {
        let h = tri!(add(tri!(add(input.h(), padding.top)), padding.bottom));
        let w = tri!(add(tri!(add(input.w(), padding.left)), padding.right));
        let output = tri!(Shape::new(input.n(), input.c(), h, w));
        Ok(Pad {
            input,
            output,
            padding,
        })
    }

    /// The unpadded shape.
    pub const fn input(&self) -> Shape {
        self.input
    }

    /// The padded shape.
    pub const fn output(&self) -> Shape {
        self.output
    }

    /// The padding.
    pub const fn padding(&self) -> Padding {
        self.padding
    }

    /// Calls `f(padded_row, input_row)` for every row of every padded plane; `input_row` is
    /// `None` for the rows that are all padding. Offsets are flat indices.
    #[inline(always)]
    fn for_each_row(&self, mut f: impl FnMut(usize, Option<usize>)) {
        let (ih, iw, ow) = (self.input.h(), self.input.w(), self.output.w());
        let planes = self.input.n() * self.input.c();
        for p in 0..planes {
            for r in 0..self.output.h() {
                let out = (p * self.output.h() + r) * ow;
                let inner = r.checked_sub(self.padding.top).filter(|&r| r < ih);
                f(out, inner.map(|r| (p * ih + r) * iw));
            }
        }
    }
}

/// Writes `input` into the middle of `output`, filling the border with `value`
/// (`F.pad(x, (left, right, top, bottom), value=value)`).
///
/// # Errors
/// [`Error::BufferLength`] unless the buffers hold `p.input().len()` and `p.output().len()`.
///
/// ```
/// use nchw::{pad, Pad, Padding, Shape};
/// let p = Pad::new(Shape::new(1, 1, 1, 2)?, Padding { top: 1, bottom: 0, left: 0, right: 1 })?;
/// let mut out = [0.0f32; 6];
/// pad(&p, -1.0, &[1.0, 2.0], &mut out)?;
/// assert_eq!(out, [-1.0, -1.0, -1.0, 1.0, 2.0, -1.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn pad<T: Element>(p: &Pad, value: T, input: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("input", p.input.len(), input.len())?;
    check_len("output", p.output.len(), output.len())?;
    let (iw, ow, left) = (p.input.w(), p.output.w(), p.padding.left);
    p.for_each_row(|out, src| {
        let row = &mut output[out..out + ow];
        match src {
            None => row.fill(value),
            Some(src) => {
                let (l, rest) = row.split_at_mut(left);
                let (mid, r) = rest.split_at_mut(iw);
                l.fill(value);
                mid.copy_from_slice(&input[src..src + iw]);
                r.fill(value);
            }
        }
    });
    Ok(())
}

/// Cuts the border off a padded tensor: the inverse of [`pad`], and its gradient.
///
/// # Errors
/// [`Error::BufferLength`] unless `padded` holds `p.output().len()` and `output` holds
/// `p.input().len()`.
///
/// ```
/// use nchw::{crop, Pad, Padding, Shape};
/// let p = Pad::new(Shape::new(1, 1, 1, 1)?, Padding::uniform(1))?;
/// let padded = [0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0];
/// let mut out = [0.0f64; 1];
/// crop(&p, &padded, &mut out)?;
/// assert_eq!(out, [5.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn crop<T: Element>(p: &Pad, padded: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("padded", p.output.len(), padded.len())?;
    check_len("output", p.input.len(), output.len())?;
    let (iw, left) = (p.input.w(), p.padding.left);
    p.for_each_row(|src, dst| {
        if let Some(dst) = dst {
            output[dst..dst + iw].copy_from_slice(&padded[src + left..src + left + iw]);
        }
    });
    Ok(())
}
