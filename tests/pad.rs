//! Padding and cropping against the naive definition.

mod common;

use common::foundation::{self as reference, padding};
use common::{dot, ints, to};
use nchw::{crop, pad, Error, Pad, Padding, Shape};
use proptest::prelude::*;

fn dims() -> impl Strategy<Value = (usize, usize, usize, usize)> {
    (0..=3usize, 0..=3usize, 0..=6usize, 0..=6usize)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 300 }))]

    #[test]
    fn pad_matches_definition((n, c, h, w) in dims(), p in padding(3), seed: u64, value in -4i8..4) {
        let g = Pad::new(Shape::new(n, c, h, w).unwrap(), p).unwrap();
        let x: Vec<f32> = to(&ints(seed, g.input().len(), 8));
        let mut y = vec![f32::NAN; g.output().len()];
        pad(&g, value as f32, &x, &mut y).unwrap();
        prop_assert_eq!(&y, &reference::pad(n, c, h, w, p, value as f32, &x));

        let mut back = vec![f32::NAN; g.input().len()];
        crop(&g, &y, &mut back).unwrap();
        prop_assert_eq!(back, x);
    }

    /// Zero padding and cropping are adjoint: crop is the gradient of pad.
    #[test]
    fn crop_is_the_adjoint_of_zero_padding((n, c, h, w) in dims(), p in padding(3), seed: u64) {
        let g = Pad::new(Shape::new(n, c, h, w).unwrap(), p).unwrap();
        let x: Vec<f64> = to(&ints(seed, g.input().len(), 8));
        let dy: Vec<f64> = to(&ints(!seed, g.output().len(), 8));
        let mut y = vec![0.0; g.output().len()];
        pad(&g, 0.0, &x, &mut y).unwrap();
        let mut dx = vec![0.0; g.input().len()];
        crop(&g, &dy, &mut dx).unwrap();
        prop_assert_eq!(dot(&y, &dy), dot(&x, &dx));
    }
}

#[test]
fn errors_leave_outputs_untouched() {
    let g = Pad::new(Shape::new(1, 2, 3, 3).unwrap(), Padding::uniform(1)).unwrap();
    let x = [1.0f32; 18];
    let mut y = [9.0f32; 50];
    assert_eq!(
        pad(&g, 0.0, &x[1..], &mut y),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 18,
            actual: 17
        })
    );
    assert_eq!(
        pad(&g, 0.0, &x, &mut y[..49]),
        Err(Error::BufferLength {
            buffer: "output",
            expected: 50,
            actual: 49
        })
    );
    assert!(y.iter().all(|&v| v == 9.0));
    let mut out = [9.0f32; 18];
    assert_eq!(
        crop(&g, &y[..10], &mut out),
        Err(Error::BufferLength {
            buffer: "padded",
            expected: 50,
            actual: 10
        })
    );
    assert_eq!(
        crop(&g, &y, &mut out[..17]),
        Err(Error::BufferLength {
            buffer: "output",
            expected: 18,
            actual: 17
        })
    );
    assert!(out.iter().all(|&v| v == 9.0));
}

#[test]
fn oversized_padding_is_an_overflow_error() {
    let s = Shape::new(1, 1, 1, 1).unwrap();
    assert_eq!(
        Pad::new(
            s,
            Padding {
                top: usize::MAX,
                ..Padding::ZERO
            }
        ),
        Err(Error::Overflow)
    );
    let big = Shape::new(1 << 20, 1, 1, 1).unwrap();
    assert_eq!(
        Pad::new(big, Padding::uniform(1 << 30)),
        Err(Error::Overflow)
    );
}
