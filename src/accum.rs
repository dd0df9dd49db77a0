//! Whether an operation overwrites its output or adds into it.

/// What an operation does with the values already in its output buffer.
///
/// `Replace` never reads the output: NaN or garbage there cannot leak into the result.
/// `Add` accumulates, which is how gradients are summed across micro-batches.
///
/// # Examples
///
/// The bias gradient of two micro-batches summed into one buffer: the first call replaces
/// whatever the buffer held, the second adds to it.
///
/// ```
/// use nchw::{conv2d_backward_bias, Accum, Conv2d, Shape, Window};
/// let conv = Conv2d::new(Shape::new(1, 1, 2, 2)?, 1, Window::square(1), 1)?;
/// let mut grad_bias = [f32::NAN]; // Replace never reads it
/// conv2d_backward_bias(&conv, &[1.0, 2.0, 3.0, 4.0], &mut grad_bias, Accum::Replace)?;
/// conv2d_backward_bias(&conv, &[0.5; 4], &mut grad_bias, Accum::Add)?;
/// assert_eq!(grad_bias, [12.0]); // (1 + 2 + 3 + 4) + 4 * 0.5
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accum {
    /// `out = result`.
    Replace,
    /// `out += result`.
    Add,
}
