//! Shapes, windows and the one output-size formula.

use nchw::{Error, Padding, Rounding, Shape, Window};
use proptest::prelude::*;

#[test]
fn shape_sizes_and_index() {
    let s = Shape::new(2, 3, 4, 5).unwrap();
    assert_eq!((s.len(), s.image_len(), s.plane_len()), (120, 60, 20));
    assert_eq!(s.index(1, 2, 3, 4), ((3 + 2) * 4 + 3) * 5 + 4);
    assert!(!s.is_empty());
    assert!(Shape::new(0, 3, 4, 5).unwrap().is_empty());
    assert!(Shape::new(2, 3, 4, 0).unwrap().is_empty());
    assert_eq!(Shape::new(usize::MAX, 2, 1, 1), Err(Error::Overflow));
    assert_eq!(Shape::new(1, 1, 1 << 40, 1 << 40), Err(Error::Overflow));
}

#[test]
fn pytorch_ceil_mode_rules() {
    let ceil = |input, k, s, before, after| {
        Window::new(1, k)
            .with_stride(1, s)
            .with_padding(Padding {
                left: before,
                right: after,
                ..Padding::ZERO
            })
            .output_size(1, input, Rounding::Ceil)
            .map(|(_, w)| w)
    };
    // [1, 2, 3, 4, 5], k=2, s=2: the last window hangs over the edge.
    assert_eq!(ceil(5, 2, 2, 0, 0), Ok(3));
    // A last window starting in the trailing padding is dropped, even with no padding.
    assert_eq!(ceil(5, 1, 3, 0, 0), Ok(2));
    assert_eq!(ceil(4, 2, 2, 1, 1), Ok(3));
    // One window may hang up to stride - 1 past the padded input.
    assert_eq!(ceil(3, 4, 2, 0, 0), Ok(1));
    assert_eq!(
        ceil(3, 5, 2, 0, 0),
        Err(Error::WindowTooLarge {
            axis: "width",
            field: 5,
            padded: 3
        })
    );
}

/// `(ceil, floor)` output widths of a 1x1 window with `right` trailing padding.
fn one_by_one(input: usize, right: usize) -> (Result<usize, Error>, Result<usize, Error>) {
    let w = Window::new(1, 1).with_padding(Padding {
        right,
        ..Padding::ZERO
    });
    let width = |r| w.output_size(1, input, r).map(|(_, ow)| ow);
    (width(Rounding::Ceil), width(Rounding::Floor))
}

/// Ceil mode drops at most one window, exactly as PyTorch's formula does. With pooling's
/// padding limit (`pad <= kernel / 2`) that is the only window that can start in the
/// trailing padding; outside that limit (im2col never uses ceil mode) the formula still holds.
/// Shrunk proptest case `input = 1, k = 1, s = 1, d = 1, before = 0, after = 2`.
#[test]
fn regression_ceil_mode_drops_one_window() {
    assert_eq!(one_by_one(1, 2), (Ok(2), Ok(3)));
}

/// Shrunk proptest case `input = 4, k = 1, s = 1, before = 0, after = 1`: the window at 4
/// starts in the trailing padding, so ceil mode drops it and floor mode keeps it.
#[test]
fn regression_ceil_mode_drops_the_window_in_trailing_padding() {
    assert_eq!(one_by_one(4, 1), (Ok(4), Ok(5)));
}

#[test]
fn window_errors_name_the_parameter() {
    let out = |w: Window| w.output_size(4, 4, Rounding::Floor);
    assert_eq!(
        out(Window::new(1, 0)),
        Err(Error::Zero {
            parameter: "kernel_w"
        })
    );
    assert_eq!(
        out(Window::square(1).with_stride(0, 1)),
        Err(Error::Zero {
            parameter: "stride_h"
        })
    );
    assert_eq!(
        out(Window::square(1).with_dilation(1, 0)),
        Err(Error::Zero {
            parameter: "dilation_w"
        })
    );
    assert_eq!(
        out(Window::square(3).with_dilation(2, 1)),
        Err(Error::WindowTooLarge {
            axis: "height",
            field: 5,
            padded: 4
        })
    );
    assert_eq!(
        out(Window::new(usize::MAX, 1).with_dilation(2, 1)),
        Err(Error::Overflow)
    );
}

/// `Display` of every `Error` variant, word for word, with the numbers a user needs.
#[test]
fn every_error_displays_its_numbers() {
    let cases = [
        (
            Error::BufferLength {
                buffer: "output",
                expected: 12,
                actual: 10,
            },
            "output buffer holds 10 elements, 12 needed",
        ),
        (
            Error::ScratchTooSmall {
                needed: 36,
                actual: 35,
            },
            "scratch buffer holds 35 elements, at least 36 needed",
        ),
        (
            Error::Zero {
                parameter: "stride_h",
            },
            "stride_h must be at least 1, got 0",
        ),
        (
            Error::WindowTooLarge {
                axis: "height",
                field: 5,
                padded: 4,
            },
            "window height 5 is larger than the padded input height 4",
        ),
        (
            Error::PaddingTooLarge {
                side: "left",
                padding: 2,
                limit: 1,
            },
            "left padding 2 exceeds the limit 1 (half the kernel)",
        ),
        (
            Error::NotDivisible {
                what: "channels",
                value: 4,
                divisor: 3,
            },
            "channels 4 is not divisible by groups 3",
        ),
        (
            Error::EmptyWindow {
                axis: "width",
                output: 7,
            },
            "the window of output 7 along the width covers no input element",
        ),
        (
            Error::Empty { what: "height" },
            "the input has zero height: each image must hold elements",
        ),
        (
            Error::InvalidView {
                operand: "MatRef",
                needed: 8,
                actual: 6,
            },
            "a MatRef needs a slice of 8 elements with non-aliasing strides, the slice holds 6",
        ),
        (
            Error::DimensionMismatch {
                what: "b rows",
                left: 4,
                right: 3,
            },
            "dimension mismatch: b rows (4 != 3)",
        ),
        (
            Error::InvalidRange {
                start: 3,
                end: 2,
                len: 4,
            },
            "column range 3..2 is not within 0..4",
        ),
        (
            Error::Unsupported {
                operation: "average pooling",
                parameter: "dilation_h",
                value: 2,
            },
            "average pooling does not support dilation_h = 2",
        ),
        (
            Error::IndexOutOfRange {
                buffer: "indices",
                position: 3,
                index: 99,
                len: 20,
            },
            "indices[3] = 99 is out of range for a length of 20",
        ),
        (Error::Overflow, "a buffer size overflows usize"),
        (
            Error::IsaUnavailable { isa: "avx512" },
            "the avx512 kernels cannot run on this CPU or target",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
        // A `core::error::Error` with no source.
        let dynamic: &dyn std::error::Error = &e;
        assert!(dynamic.source().is_none());
    }
    // Fifteen distinct variants, all there are (`Error` is `non_exhaustive`, so a new one
    // cannot fail a match here: it must be added to the list and this count).
    let variants = cases.map(|(e, _)| core::mem::discriminant(&e));
    for (i, d) in variants.iter().enumerate() {
        assert!(!variants[..i].contains(d), "variant {i} listed twice");
    }
    assert_eq!(variants.len(), 15);
}

proptest! {
    /// Floor mode equals counting the windows that fit.
    #[test]
    fn floor_output_size_counts_windows(input in 0..40usize, k in 1..6usize, s in 1..5usize, d in 1..4usize, before in 0..4usize, after in 0..4usize) {
        let w = Window::new(1, k).with_stride(1, s).with_dilation(1, d)
            .with_padding(Padding { left: before, right: after, ..Padding::ZERO });
        let field = (k - 1) * d + 1;
        let expected = (0..).take_while(|o| o * s + field <= input + before + after).count();
        match w.output_size(1, input, Rounding::Floor) {
            Ok((1, ow)) => prop_assert_eq!(ow, expected),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(e) => prop_assert_eq!(e, Error::WindowTooLarge { axis: "width", field, padded: input + before + after }),
        }
    }

    /// Ceil mode counts the windows that start inside the input or its leading padding and
    /// hang at most `stride - 1` past the padded input, within pooling's padding limit
    /// (`pad <= kernel / 2`, the only place ceil mode is used).
    #[test]
    fn ceil_output_size_counts_windows(input in 1..40usize, k in 1..6usize, s in 1..5usize, d in 1..3usize, before in 0..3usize, after in 0..3usize) {
        prop_assume!(before <= k / 2 && after <= k / 2);
        let w = Window::new(1, k).with_stride(1, s).with_dilation(1, d)
            .with_padding(Padding { left: before, right: after, ..Padding::ZERO });
        let (field, padded) = ((k - 1) * d + 1, input + before + after);
        let expected = (0..)
            .take_while(|o| o * s + field < padded + s && o * s < input + before)
            .count();
        match w.output_size(1, input, Rounding::Ceil) {
            Ok((1, out)) => prop_assert_eq!(out, expected),
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(e) => {
                prop_assert_eq!(expected, 0);
                prop_assert_eq!(e, Error::WindowTooLarge { axis: "width", field, padded });
            }
        }
    }
}
