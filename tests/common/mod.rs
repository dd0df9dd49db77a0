//! Naive reference implementations, the one test geometry and the one data generator shared
//! by the test binaries.
//!
//! Each reference is written straight from the definition, with signed coordinates and no
//! cleverness, so that it is obviously right.
#![allow(dead_code)]

pub mod conv;
pub mod foundation;
pub mod gemm;
pub mod geom;
pub mod isa;
pub mod pool;
pub mod quant;

pub use geom::Geom;

use nchw::Float;

/// SplitMix64's finalizer: every bit of the output depends on every bit of the input.
const fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The one source of test data: 64 random bits for position `i` of stream `seed`.
pub const fn draw(seed: u64, i: u64) -> u64 {
    mix(mix(seed ^ 0x9E37_79B9_7F4A_7C15).wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// An integer in `-r..=r` for position `i` of stream `seed`.
pub const fn int_at(seed: u64, i: u64, r: i64) -> i64 {
    (draw(seed, i) % (2 * r as u64 + 1)) as i64 - r
}

/// `len` integers in `-r..=r`: sums of products of a few of them stay exact in f32 and f64,
/// so every summation order gives the same result and kernels can be compared with `==`.
pub fn ints(seed: u64, len: usize, r: i64) -> Vec<f64> {
    (0..len as u64).map(|i| int_at(seed, i, r) as f64).collect()
}

/// `len` reals in `[-1, 1)`.
pub fn reals(seed: u64, len: usize) -> Vec<f64> {
    (0..len as u64)
        .map(|i| (draw(seed, i) >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
        .collect()
}

/// Coarse data with ties, signed zeros, infinities and NaN: multiples of 0.25 in
/// `-4.75..=4.75`, one value in 40 each NaN, `-0.0` and `-inf`.
pub fn specials(seed: u64, len: usize) -> Vec<f64> {
    (0..len as u64)
        .map(|i| match draw(seed, i) % 40 {
            0 => f64::NAN,
            1 => -0.0,
            2 => f64::NEG_INFINITY,
            r => (r as f64 - 20.0) * 0.25,
        })
        .collect()
}

/// The element types under test, with exact conversions for the generated data.
pub trait Real: Float + Into<f64> {
    fn of(v: f64) -> Self;
    fn to_f64(self) -> f64 {
        self.into()
    }
    /// The bit pattern, for exact comparisons (NaN included).
    fn bits(self) -> u64;
}

impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
}

impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// Generated data as `T`.
pub fn to<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

/// `T` data as f64, exactly.
pub fn from<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.into()).collect()
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

/// Equal, or both NaN.
pub fn same<T: Float>(x: T, y: T) -> bool {
    x == y || (x.is_nan() && y.is_nan())
}

/// A buffer of `len` elements with guard cells on both sides that must stay untouched.
pub struct Guarded<T> {
    buf: Vec<T>,
    guard: T,
}

/// Guard cells on each side of a [`Guarded`] buffer: more than a vector's worth.
const GUARDED: usize = 17;

impl<T: Copy + PartialEq + core::fmt::Debug> Guarded<T> {
    /// `len` elements of `fill` between guard cells of `guard`.
    pub fn new(len: usize, fill: T, guard: T) -> Self {
        let mut buf = vec![guard; len + 2 * GUARDED];
        buf[GUARDED..GUARDED + len].fill(fill);
        Guarded { buf, guard }
    }

    /// The elements, to hand to a kernel.
    pub fn body(&mut self) -> &mut [T] {
        let end = self.buf.len() - GUARDED;
        &mut self.buf[GUARDED..end]
    }

    /// Panics if a guard cell was written.
    pub fn check(&self) {
        let end = self.buf.len() - GUARDED;
        assert!(
            self.buf[..GUARDED]
                .iter()
                .chain(&self.buf[end..])
                .all(|&v| v == self.guard),
            "a guard cell was written"
        );
    }

    /// The elements, after checking the guards.
    pub fn checked(&self) -> &[T] {
        self.check();
        &self.buf[GUARDED..self.buf.len() - GUARDED]
    }
}
