//! The activation fused into the forward pass.

use crate::element::Element;

/// A clamp `min(max(y, min), max)` applied to every output on the way out of the forward
/// pass, at no extra pass over memory: ReLU is `Clamp::relu()`, ReLU6 `Clamp::relu6()`.
///
/// Follows `torch.clamp`: NaN passes through unchanged, and if `min > max` every output is
/// `max`.
///
/// ```
/// use nchw::Clamp;
/// let relu6 = Clamp::<f32>::relu6();
/// assert_eq!([-1.0, 3.0, 7.0].map(|y| relu6.apply(y)), [0.0, 3.0, 6.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp<T> {
    /// Lower bound.
    pub min: T,
    /// Upper bound.
    pub max: T,
}

impl<T: Element> Clamp<T> {
    /// Clamp to `[min, max]`.
    pub fn new(min: T, max: T) -> Self {
        Clamp { min, max }
    }

    /// ReLU: `max(y, 0)` (an upper bound of `+inf`).
    ///
    /// # Examples
    ///
    /// ```
    /// use nchw::Clamp;
    /// let relu = Clamp::<f32>::relu();
    /// assert_eq!([-2.0, 0.5, 1e30].map(|y| relu.apply(y)), [0.0, 0.5, 1e30]);
    /// ```
    pub fn relu() -> Self {
        Clamp {
            min: T::ZERO,
            max: -T::NEG_INFINITY,
        }
    }

    /// ReLU6: `min(max(y, 0), 6)`.
    pub fn relu6() -> Self {
        Clamp {
            min: T::ZERO,
            max: T::from_usize(6),
        }
    }

    /// `y` clamped.
    #[inline(always)]
    pub fn apply(&self, y: T) -> T {
        let y = if y < self.min { self.min } else { y };
        if y > self.max {
            self.max
        } else {
            y
        }
    }
}

impl<T: Element> Clamp<T> {
    /// [`apply`](Self::apply) to every element of `row`, after adding `bias` if given.
    /// Without an upper bound (ReLU) only the lower bound is compared: no value is above
    /// `+inf`, so the result is the same, one compare (four instructions on a Cortex-M4F)
    /// fewer per element.
    #[inline(always)]
    pub(crate) fn apply_row(&self, row: &mut [T], bias: Option<T>) {
        let lower = |y: T| if y < self.min { self.min } else { y };
        match (bias, self.max == -T::NEG_INFINITY) {
            (None, true) => row.iter_mut().for_each(|y| *y = lower(*y)),
            (Some(b), true) => row.iter_mut().for_each(|y| *y = lower(*y + b)),
            (None, false) => row.iter_mut().for_each(|y| *y = self.apply(*y)),
            (Some(b), false) => row.iter_mut().for_each(|y| *y = self.apply(*y + b)),
        }
    }
}

/// Adds `bias` to every element of `row` and applies `clamp`; nothing when both are absent.
#[inline(always)]
pub(crate) fn finish<T: Element>(row: &mut [T], bias: Option<T>, clamp: Option<Clamp<T>>) {
    match (bias, clamp) {
        (None, None) => {}
        (Some(b), None) => row.iter_mut().for_each(|y| *y += b),
        (_, Some(c)) => c.apply_row(row, bias),
    }
}

/// [`finish`] on every row of `rows`, adding `bias[i]` to row `i` (one bias per row).
#[inline(always)]
pub(crate) fn finish_rows<'a, T: Element>(
    rows: impl Iterator<Item = &'a mut [T]>,
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
) {
    match bias {
        Some(bias) => rows
            .zip(bias)
            .for_each(|(row, b)| finish(row, Some(*b), clamp)),
        None if clamp.is_some() => rows.for_each(|row| finish(row, None, clamp)),
        None => {}
    }
}

/// The biases of a group's rows in order, then zeros (all zeros without a bias).
#[inline(always)]
pub(crate) fn biases<T: Element>(bias: Option<&[T]>) -> impl Iterator<Item = T> + '_ {
    let given = bias.unwrap_or_default().iter().copied();
    given.chain(core::iter::repeat(T::ZERO))
}
