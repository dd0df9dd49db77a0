//! The element types the kernels accept.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The arithmetic of a floating-point element: `f32` or `f64`.
///
/// The ground type of the crate: it imports nothing. The float operations are bounded by
/// [`Float`](crate::Float), which adds the per-instruction-set builds. Sealed, so new methods
/// can be added without breaking callers, who only ever name it as a bound.
///
/// ```
/// use nchw::Element;
/// fn mean<T: Element>(xs: &[T]) -> T {
///     xs.iter().fold(T::ZERO, |s, &x| s + x) / T::from_usize(xs.len())
/// }
/// assert_eq!(mean(&[1.0f32, 2.0, 6.0]), 3.0);
/// ```
pub trait Element:
    sealed::Sealed
    + Copy
    + Debug
    + Default
    + PartialEq
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + MulAssign
    + Send
    + Sync
    + 'static
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Negative infinity: what max pooling starts from.
    const NEG_INFINITY: Self;

    /// Whether the value is NaN.
    fn is_nan(self) -> bool;

    /// The nearest value to `n` (exact up to 2^24 for `f32`, 2^53 for `f64`).
    fn from_usize(n: usize) -> Self;
}

macro_rules! impl_element {
    ($t:ty) => {
        impl Element for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;

            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }

            #[inline(always)]
            fn from_usize(n: usize) -> Self {
                n as $t
            }
        }
    };
}
impl_element!(f32);
impl_element!(f64);
