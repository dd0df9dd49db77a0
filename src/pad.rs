//! Constant padding of an NCHW tensor, and its inverse, cropping.

use core::num::NonZeroUsize;

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

    /// Where each input row starts in the padded tensor, for the input's rows in order
    /// (endless: zip it with the rows). Consecutive starts are one padded row apart within a
    /// plane, and `top + bottom` rows more across planes.
    #[inline(always)]
    fn row_starts(&self) -> impl Iterator<Item = usize> {
        let (ow, ih) = (self.output.w(), self.input.h());
        let across = (self.output.h() - ih + 1) * ow;
        let (mut at, mut row) = (self.padding.top * ow + self.padding.left, 0);
        core::iter::from_fn(move || {
            let start = at;
            row += 1;
            // Past the last row the value is never used, so wrapping cannot matter.
            at = at.wrapping_add(if row == ih { across } else { ow });
            if row == ih {
                row = 0;
            }
            Some(start)
        })
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
    // Each gap between input rows (and the border before the first and after the last) is
    // one run of padding in the flat output; the lengths were checked above, so every split
    // below succeeds. (Split, not indexed: so the copies stay loops, which take less stack
    // on a microcontroller than a call into `memcpy`.)
    let mut done = 0;
    if let Some(iw) = NonZeroUsize::new(p.input.w()) {
        for (src, start) in input.chunks_exact(iw.get()).zip(p.row_starts()) {
            let rest = output.get_mut(done..).unwrap_or_default();
            let Some((gap, rest)) = rest.split_at_mut_checked(start - done) else {
                break;
            };
            let Some((dst, _)) = rest.split_at_mut_checked(iw.get()) else {
                break;
            };
            gap.fill(value);
            copy(dst, src);
            done = start + iw.get();
        }
    }
    if let Some(tail) = output.get_mut(done..) {
        tail.fill(value);
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
    let Some(iw) = NonZeroUsize::new(p.input.w()) else {
        return Ok(()); // the output is empty
    };
    let mut starts = p.row_starts();
    let mut rows = output.chunks_exact_mut(iw.get());
    while let (Some(dst), Some(start)) = (rows.next(), starts.next()) {
        let Some((_, rest)) = padded.split_at_checked(start) else {
            break; // never: the lengths were checked above
        };
        let Some((src, _)) = rest.split_at_checked(iw.get()) else {
            break;
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
