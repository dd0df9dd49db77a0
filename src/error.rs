//! The crate's one error type.

use core::fmt;
use core::num::NonZeroUsize;

/// Why a call was refused.
///
/// Every public operation validates all of its inputs before it writes anything, so when one
/// of these is returned every output buffer is exactly as it was. Each variant carries the
/// numbers needed to fix the call.
///
/// # Examples
///
/// An output buffer one element short: the call says which buffer and by how much, and
/// writes nothing.
///
/// ```
/// use nchw::{max_pool2d, Error, Pool2d, Rounding, Shape, Window};
/// let pool = Pool2d::new(Shape::new(1, 1, 4, 4)?, Window::pool(2), Rounding::Floor)?;
/// let mut output = [7.0f32; 3]; // pool.output_len() is 4
/// let err = max_pool2d(&pool, &[0.0; 16], &mut output).unwrap_err();
/// assert_eq!(err, Error::BufferLength { buffer: "output", expected: 4, actual: 3 });
/// assert_eq!(output, [7.0; 3]);
/// println!("{err}"); // the Display text names the buffer and both lengths
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A buffer does not hold exactly the number of elements the operation needs.
    BufferLength {
        /// Which buffer: `"input"`, `"output"`, `"col"`, ...
        buffer: &'static str,
        /// How many elements the operation needs.
        expected: usize,
        /// How many the slice holds.
        actual: usize,
    },
    /// A scratch buffer is smaller than the operation's documented minimum.
    ScratchTooSmall {
        /// The minimum number of elements.
        needed: usize,
        /// How many the slice holds.
        actual: usize,
    },
    /// A parameter that must be at least 1 is zero (a stride, a dilation, a kernel side, ...).
    Zero {
        /// Which parameter, e.g. `"stride_h"`.
        parameter: &'static str,
    },
    /// An input whose images hold no elements: `C`, `H` or `W` is zero. (A batch of
    /// `N = 0` images is valid and does nothing.)
    Empty {
        /// Which dimension: `"channels"`, `"height"` or `"width"`.
        what: &'static str,
    },
    /// The (dilated) window is larger than the padded input along one axis.
    WindowTooLarge {
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// The window's extent, `(kernel - 1) * dilation + 1`.
        field: usize,
        /// The input's extent including padding.
        padded: usize,
    },
    /// Padding on one side exceeds what the operation allows (pooling: half the kernel).
    PaddingTooLarge {
        /// `"top"`, `"bottom"`, `"left"` or `"right"`.
        side: &'static str,
        /// The padding given.
        padding: usize,
        /// The largest padding allowed.
        limit: usize,
    },
    /// A channel count is not a multiple of the group count.
    NotDivisible {
        /// Which count: `"channels"` or `"out_channels"`.
        what: &'static str,
        /// The count.
        value: usize,
        /// What it must be a multiple of.
        divisor: usize,
    },
    /// A window covers no input element at all, so its result would be undefined.
    EmptyWindow {
        /// `"height"` or `"width"`.
        axis: &'static str,
        /// The index of the offending output along that axis.
        output: usize,
    },
    /// A matrix view reaches past the end of its slice, or its strides make elements alias.
    InvalidView {
        /// Which view: `"MatRef"` or `"MatMut"` (a view does not know which operand it
        /// will be; [`gemm`](crate::gemm()) names those in [`Error::DimensionMismatch`]).
        operand: &'static str,
        /// The smallest slice length that would hold the view (`usize::MAX` when it overflows).
        needed: usize,
        /// How many elements the slice holds.
        actual: usize,
    },
    /// Two operands do not have compatible dimensions.
    DimensionMismatch {
        /// What does not match, e.g. `"a.cols != b.rows"`.
        what: &'static str,
        /// The left-hand size.
        left: usize,
        /// The right-hand size.
        right: usize,
    },
    /// A column range is reversed or reaches past the number of columns.
    InvalidRange {
        /// First column asked for.
        start: usize,
        /// One past the last column asked for.
        end: usize,
        /// Number of columns there are.
        len: usize,
    },
    /// A parameter has a value the operation does not support (average pooling with a
    /// dilation, max-pooling indices for a plane too large for `u32`).
    Unsupported {
        /// The operation, e.g. `"average pooling"`.
        operation: &'static str,
        /// The parameter, e.g. `"dilation_h"`.
        parameter: &'static str,
        /// The value given.
        value: usize,
    },
    /// An index read from a caller's buffer points outside the range it indexes.
    IndexOutOfRange {
        /// Which buffer holds the index, e.g. `"indices"`.
        buffer: &'static str,
        /// Where in that buffer the index is.
        position: usize,
        /// The index found.
        index: usize,
        /// The exclusive upper bound it must respect.
        len: usize,
    },
    /// A size computed from the arguments does not fit in `usize`.
    Overflow,
    /// An instruction set was asked for that this CPU or build target cannot run.
    IsaUnavailable {
        /// Its name, e.g. `"avx512"`.
        isa: &'static str,
    },
    /// A quantization scale is NaN, infinite, negative, or zero where it divides.
    InvalidScale {
        /// Which scale, e.g. `"quantization scale"` or `"requantization scale"`.
        what: &'static str,
        /// Its position in the buffer it came from (0 for a single scale).
        index: usize,
    },
    /// A quantized multiplier is negative, or its shift is outside `-31..=30` (the range
    /// TFLite's `MultiplyByQuantizedMultiplier` accepts).
    InvalidMultiplier {
        /// The Q31 multiplier.
        multiplier: i32,
        /// The power-of-two exponent (positive: left shift).
        shift: i32,
    },
    /// An int8 operation's `i32` accumulator could overflow for some inputs: the sum of
    /// `products` worst-case products plus the bias does not fit in `i32`.
    AccumulatorOverflow {
        /// How many products each output sums.
        products: usize,
        /// The largest magnitude one product can have.
        product_max: u32,
        /// The bias added (0 when there is none).
        bias: i32,
    },
    /// A packed operand (pre-packed GEMM operand or convolution weights) was packed for
    /// another instruction set or kernel layout than the call runs.
    PackedMismatch {
        /// What the operand was packed for, e.g. `"avx512"`.
        packed: &'static str,
        /// What the call runs, e.g. `"avx2"`.
        call: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BufferLength {
                buffer,
                expected,
                actual,
            } => write!(
                f,
                "{buffer} buffer holds {actual} elements, {expected} needed"
            ),
            Error::ScratchTooSmall { needed, actual } => write!(
                f,
                "scratch buffer holds {actual} elements, at least {needed} needed"
            ),
            Error::Zero { parameter } => write!(f, "{parameter} must be at least 1, got 0"),
            Error::WindowTooLarge {
                axis,
                field,
                padded,
            } => write!(
                f,
                "window {axis} {field} is larger than the padded input {axis} {padded}"
            ),
            Error::PaddingTooLarge {
                side,
                padding,
                limit,
            } => write!(
                f,
                "{side} padding {padding} exceeds the limit {limit} (half the kernel)"
            ),
            Error::NotDivisible {
                what,
                value,
                divisor,
            } => {
                write!(f, "{what} {value} is not divisible by groups {divisor}")
            }
            Error::EmptyWindow { axis, output } => write!(
                f,
                "the window of output {output} along the {axis} covers no input element"
            ),
            Error::Empty { what } => {
                write!(
                    f,
                    "the input has zero {what}: each image must hold elements"
                )
            }
            Error::InvalidView {
                operand,
                needed,
                actual,
            } => write!(
                f,
                "a {operand} needs a slice of {needed} elements with non-aliasing \
                 strides, the slice holds {actual}"
            ),
            Error::DimensionMismatch { what, left, right } => {
                write!(f, "dimension mismatch: {what} ({left} != {right})")
            }
            Error::InvalidRange { start, end, len } => {
                write!(f, "column range {start}..{end} is not within 0..{len}")
            }
            Error::Unsupported {
                operation,
                parameter,
                value,
            } => write!(f, "{operation} does not support {parameter} = {value}"),
            Error::IndexOutOfRange {
                buffer,
                position,
                index,
                len,
            } => write!(
                f,
                "{buffer}[{position}] = {index} is out of range for a length of {len}"
            ),
            Error::Overflow => f.write_str("a buffer size overflows usize"),
            Error::IsaUnavailable { isa } => {
                write!(f, "the {isa} kernels cannot run on this CPU or target")
            }
            Error::InvalidScale { what, index } => write!(
                f,
                "{what} {index} must be finite and positive (a requantization scale may be 0)"
            ),
            Error::InvalidMultiplier { multiplier, shift } => write!(
                f,
                "quantized multiplier {multiplier} with shift {shift}: the multiplier must \
                 be at least 0 and the shift within -31..=30"
            ),
            Error::AccumulatorOverflow {
                products,
                product_max,
                bias,
            } => write!(
                f,
                "an i32 accumulator of {products} products of magnitude up to {product_max} \
                 plus a bias of {bias} can overflow"
            ),
            Error::PackedMismatch { packed, call } => write!(
                f,
                "the operand was packed for {packed}, the call runs {call}: pack it again \
                 with the call's geometry"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// Checks that `buffer` holds exactly `expected` elements.
pub(crate) const fn check_len(
    buffer: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), Error> {
    if expected == actual {
        Ok(())
    } else {
        Err(Error::BufferLength {
            buffer,
            expected,
            actual,
        })
    }
}

/// Checks that a parameter is non-zero, and says so in its type (so that the optimizer sees
/// it where the value is used as a divisor or a chunk size).
pub(crate) const fn check_nonzero(
    parameter: &'static str,
    value: usize,
) -> Result<NonZeroUsize, Error> {
    match NonZeroUsize::new(value) {
        Some(v) => Ok(v),
        None => Err(Error::Zero { parameter }),
    }
}

/// `a * b`, or [`Error::Overflow`].
pub(crate) const fn mul(a: usize, b: usize) -> Result<usize, Error> {
    match a.checked_mul(b) {
        Some(v) => Ok(v),
        None => Err(Error::Overflow),
    }
}

/// `a + b`, or [`Error::Overflow`].
pub(crate) const fn add(a: usize, b: usize) -> Result<usize, Error> {
    match a.checked_add(b) {
        Some(v) => Ok(v),
        None => Err(Error::Overflow),
    }
}

/// `?` for `const fn`: unwraps an `Ok` or returns the `Err`.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(e),
        }
    };
}
pub(crate) use tri;
