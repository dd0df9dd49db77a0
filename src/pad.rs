//! Constant padding of an NCHW tensor, and its inverse, cropping.

use crate::arch::Float;
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
    ///
    /// # Examples
    ///
    /// One column of zeros left and right of a 2 x 2 plane:
    ///
    /// ```
    /// use nchw::{pad, Pad, Padding, Shape};
    /// let p = Pad::new(Shape::new(1, 1, 2, 2)?, Padding::symmetric(0, 1))?;
    /// assert_eq!(p.output(), Shape::new(1, 1, 2, 4)?);
    /// let mut y = [9.0f32; 8];
    /// pad(&p, 0.0, &[1.0, 2.0, 3.0, 4.0], &mut y)?;
    /// assert_eq!(y, [0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
    /// # Ok::<(), nchw::Error>(())
    /// ```
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

    /// For each row of the padded tensor, in order: whether it holds an input row (`true`)
    /// or is all padding (`false`).
    #[inline(always)]
    fn row_holds_input(&self) -> impl Iterator<Item = bool> {
        let (top, ih) = (self.padding.top, self.input.h());
        (0..self.output.h())
            .map(move |r| r >= top && r - top < ih)
            .cycle()
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
pub fn pad<T: Float>(p: &Pad, value: T, input: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("input", p.input.len(), input.len())?;
    check_len("output", p.output.len(), output.len())?;
    let (iw, ow, left) = (p.input.w(), p.output.w(), p.padding.left);
    if iw == 0 || ow == 0 {
        // No input element: the output, if any, is all padding.
        output.fill(value);
        return Ok(());
    }
    // Walk the padded rows and the input rows together; the lengths were checked above, so
    // the `else` branches below never run (they keep the optimizer from emitting panics).
    let mut input_rows = input.chunks_exact(iw);
    for (row, holds_input) in output.chunks_exact_mut(ow).zip(p.row_holds_input()) {
        let src = if holds_input { input_rows.next() } else { None };
        let Some(src) = src else {
            row.fill(value);
            continue;
        };
        let Some((l, rest)) = row.split_at_mut_checked(left) else {
            continue;
        };
        let Some((mid, r)) = rest.split_at_mut_checked(iw) else {
            continue;
        };
        l.fill(value);
        copy(mid, src);
        r.fill(value);
    }
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
pub fn crop<T: Float>(p: &Pad, padded: &[T], output: &mut [T]) -> Result<(), Error> {
    check_len("padded", p.output.len(), padded.len())?;
    check_len("output", p.input.len(), output.len())?;
    let (iw, ow, left) = (p.input.w(), p.output.w(), p.padding.left);
    if iw == 0 || ow == 0 {
        return Ok(()); // the output is empty
    }
    let mut output_rows = output.chunks_exact_mut(iw);
    for (row, holds_input) in padded.chunks_exact(ow).zip(p.row_holds_input()) {
        if !holds_input {
            continue;
        }
        let (Some(dst), Some(src)) = (
            output_rows.next(),
            row.get(left..).and_then(|r| r.get(..iw)),
        ) else {
            continue; // never: the lengths were checked above
        };
        copy(dst, src);
    }
    Ok(())
}

/// `dst.copy_from_slice(src)` for slices of equal length, without the length-mismatch panic
/// `copy_from_slice` keeps wherever it is not inlined (`opt-level = "z"`). Compiles to
/// `memcpy`.
#[inline(always)]
fn copy<T: Element>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}
