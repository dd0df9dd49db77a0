//! Naive reference implementations and generators shared by the test binaries.
//!
//! Each reference is written straight from the definition, with signed coordinates and no
//! cleverness, so that it is obviously right.
#![allow(dead_code)]

pub mod conv;
pub mod foundation;
pub mod gemm;
pub mod pool;

use nchw::Float;

/// Deterministic small-integer data in `-8..=8`: sums of products stay exact in f32 and f64,
/// so kernels can be compared with `==`.
pub fn ints<T: Float>(seed: u64, len: usize) -> Vec<T> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            T::from_usize(((s >> 33) % 17) as usize) - T::from_usize(8)
        })
        .collect()
}

/// `sum(a[i] * b[i])`.
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + x * y)
}

/// NaN, to poison buffers that an operation must overwrite without reading.
pub fn nan<T: Float>() -> T {
    let zero = T::ZERO;
    zero / T::from_usize(0)
}
