//! Naive GEMM reference and strided test matrices with guard cells.

use super::same;
use nchw::{Float, MatMut, MatRef};
use proptest::prelude::*;

/// Cells after every buffer that must stay untouched.
pub const GUARD: usize = 7;

/// How a test matrix is laid out in its buffer.
#[derive(Clone, Copy, Debug)]
pub enum Layout {
    /// Row-major with `pad` extra elements per row.
    RowMajor(usize),
    /// Column-major with `pad` extra elements per column.
    ColMajor(usize),
}

/// A `rows x cols` matrix in a buffer of exactly its extent plus [`GUARD`] sentinel cells.
#[derive(Clone, Debug)]
pub struct Strided<T> {
    pub buf: Vec<T>,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
    pub sentinel: T,
}

impl<T: Float> Strided<T> {
    /// A matrix with element `(i, j) = f(i, j)`, unused slots and guards set to `sentinel`.
    pub fn new(
        rows: usize,
        cols: usize,
        layout: Layout,
        sentinel: T,
        f: impl Fn(usize, usize) -> T,
    ) -> Self {
        let (rs, cs) = match layout {
            Layout::RowMajor(pad) => (cols + pad, 1),
            Layout::ColMajor(pad) => (1, rows + pad),
        };
        let extent = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        };
        let mut m = Strided {
            buf: vec![sentinel; extent + GUARD],
            rows,
            cols,
            rs,
            cs,
            sentinel,
        };
        for i in 0..rows {
            for j in 0..cols {
                m.buf[i * rs + j * cs] = f(i, j);
            }
        }
        m
    }

    /// The length of the view part of the buffer (the guards follow it).
    pub fn extent(&self) -> usize {
        self.buf.len() - GUARD
    }

    pub fn at(&self, i: usize, j: usize) -> T {
        self.buf[i * self.rs + j * self.cs]
    }

    pub fn view(&self) -> MatRef<'_, T> {
        let n = self.extent();
        MatRef::new(&self.buf[..n], self.rows, self.cols, self.rs, self.cs).unwrap()
    }

    pub fn view_mut(&mut self) -> MatMut<'_, T> {
        let n = self.extent();
        MatMut::new(&mut self.buf[..n], self.rows, self.cols, self.rs, self.cs).unwrap()
    }

    /// Whether every guard cell, and every slot outside the matrix, still holds the sentinel.
    pub fn untouched_outside(&self) -> bool {
        let mut inside = vec![false; self.buf.len()];
        for i in 0..self.rows {
            for j in 0..self.cols {
                inside[i * self.rs + j * self.cs] = true;
            }
        }
        self.buf
            .iter()
            .zip(&inside)
            .all(|(&x, &inside)| inside || same(x, self.sentinel))
    }
}

/// `C <- alpha * A * B + beta * C`, straight from the definition; `beta == 0` ignores C.
pub fn gemm_ref<T: Float>(alpha: T, a: &Strided<T>, b: &Strided<T>, beta: T, c: &mut Strided<T>) {
    for i in 0..c.rows {
        for j in 0..c.cols {
            let mut acc = T::ZERO;
            for p in 0..a.cols {
                acc += a.at(i, p) * b.at(p, j);
            }
            let old = c.at(i, j);
            let idx = i * c.rs + j * c.cs;
            c.buf[idx] = if beta == T::ZERO {
                alpha * acc
            } else {
                alpha * acc + beta * old
            };
        }
    }
}

/// A small integer as `T` (exact).
pub fn int<T: Float>(x: i64) -> T {
    if x < 0 {
        -T::from_usize(x.unsigned_abs() as usize)
    } else {
        T::from_usize(x as usize)
    }
}

/// A size: anything up to a few hundred, or near a multiple of a register tile's side.
pub fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..40,
        0usize..300,
        (
            1usize..12,
            prop::sample::select(vec![4usize, 6, 8, 12, 16, 32]),
            -1i64..=1
        )
            .prop_map(|(q, t, d)| ((q * t) as i64 + d) as usize)
            .prop_map(|x| x.min(400)),
    ]
}

/// A layout: packed or with padding, row- or column-major.
pub fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::RowMajor(0)),
        Just(Layout::ColMajor(0)),
        (1usize..5).prop_map(Layout::RowMajor),
        (1usize..5).prop_map(Layout::ColMajor),
    ]
}

/// An `alpha` or `beta`: the special values 0 and 1, and a few others.
pub fn scalar() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![0i64, 1, -1, 2, 3])
}
