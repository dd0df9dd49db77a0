//! Products with one output row or column (a fully connected layer at batch 1): dot products
//! or row updates vectorized along the operands' contiguous dimension, where the blocked nest
//! would pack both operands and fill a whole register tile for one useful row.

use crate::arch::{Build, Float, Kernel, Simd};
use crate::element::Element;
use crate::matrix::{MatMut, MatRef};

/// How a one-row or one-column product runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Form {
    /// Every element of C is a dot product of a contiguous row of A and a contiguous column
    /// of B.
    Dot,
    /// C is one contiguous row: `C += (alpha * a[p]) * B[p, :]` for every `p`, B's rows
    /// contiguous.
    RowUpdate,
}

impl Form {
    /// The form for these operands, or `None` where the blocked nest is the right tool (C
    /// has more than one row and column, or no operand is contiguous along the depth).
    pub(super) fn of<T>(a: &MatRef<'_, T>, b: &MatRef<'_, T>, c: &MatMut<'_, T>) -> Option<Form> {
        // Bare-metal builds (Cortex-M) have one-lane vectors only, and there the blocked
        // nest with its register tile is faster even for one column (instruction counts on
        // the Cortex-M4F: 30 against 37 per MAC for a convolution with the least workspace).
        if cfg!(target_os = "none") {
            return None;
        }
        let thin = a.rows == 1 || b.cols == 1;
        if thin && a.col_stride == 1 && b.row_stride == 1 {
            Some(Form::Dot)
        } else if a.rows == 1 && b.col_stride == 1 && c.col_stride == 1 {
            Some(Form::RowUpdate)
        } else {
            None
        }
    }
}

/// The operands of a one-row or one-column product, run by [`Float::dispatch`].
pub(super) struct Gemv<'a, T> {
    pub form: Form,
    pub alpha: T,
    pub a: MatRef<'a, T>,
    pub b: MatRef<'a, T>,
    pub beta: T,
    pub c: MatMut<'a, T>,
}

/// Vectors summed side by side in a dot product: enough independent additions to hide the
/// FMA latency.
const DOT_VECTORS: usize = 4;

/// Vectors of a C row updated together: they stay in registers while every row of B goes by.
const ROW_VECTORS: usize = 4;

impl<T: Float> Kernel<T> for Gemv<'_, T> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<B: Build<T>>(self) {
        // SAFETY: the caller guarantees the instruction set; `Form::of` chose the form
        // for these strides, and the views hold every element they describe.
        unsafe {
            match self.form {
                Form::Dot => dots::<B::V>(self),
                Form::RowUpdate => row_update::<B::V>(self),
            }
        }
    }
}

/// `alpha * x + beta * c`, never reading `c` when `beta` is zero.
#[inline(always)]
fn scaled<T: Element>(alpha: T, x: T, beta: T, c: T) -> T {
    if beta == T::ZERO {
        alpha * x
    } else {
        alpha * x + beta * c
    }
}

/// [`Form::Dot`]: `C[i, j] = alpha * <A[i, :], B[:, j]> + beta * C[i, j]`.
///
/// # Safety
/// The CPU supports `V`'s instruction set; `a.col_stride == 1` and `b.row_stride == 1`.
#[inline(always)]
unsafe fn dots<V: Simd>(g: Gemv<'_, V::T>) {
    let Gemv {
        alpha,
        a,
        b,
        beta,
        mut c,
        ..
    } = g;
    let (k, lanes) = (a.cols, V::LANES);
    debug_assert!(a.col_stride == 1 && b.row_stride == 1 && b.rows == k);
    for i in 0..c.rows {
        for j in 0..c.cols {
            // SAFETY: row `i` of A and column `j` of B are `k` contiguous elements inside
            // their views (unit strides along the depth); the CPU runs `V`.
            let dot = unsafe {
                let x = a.data.as_ptr().add(i * a.row_stride);
                let y = b.data.as_ptr().add(j * b.col_stride);
                let mut acc = [V::zero(); DOT_VECTORS];
                let mut p = 0;
                while p + DOT_VECTORS * lanes <= k {
                    for (v, acc) in acc.iter_mut().enumerate() {
                        let at = p + v * lanes;
                        *acc = V::mul_add(V::load(x.add(at)), V::load(y.add(at)), *acc);
                    }
                    p += DOT_VECTORS * lanes;
                }
                while p + lanes <= k {
                    acc[0] = V::mul_add(V::load(x.add(p)), V::load(y.add(p)), acc[0]);
                    p += lanes;
                }
                let mut sum = acc.iter().fold(V::T::ZERO, |s, &v| s + V::sum(v));
                while p < k {
                    sum += *x.add(p) * *y.add(p);
                    p += 1;
                }
                sum
            };
            // SAFETY: `i < c.rows`, `j < c.cols`.
            let out = unsafe { c.get_unchecked_mut(i, j) };
            *out = scaled(alpha, dot, beta, *out);
        }
    }
}

/// [`Form::RowUpdate`]: `C[0, :] = alpha * sum_p a[p] * B[p, :] + beta * C[0, :]`.
///
/// # Safety
/// The CPU supports `V`'s instruction set; `a.rows == 1`, `b.col_stride == 1` and
/// `c.col_stride == 1`.
#[inline(always)]
unsafe fn row_update<V: Simd>(g: Gemv<'_, V::T>) {
    let Gemv {
        alpha,
        a,
        b,
        beta,
        c,
        ..
    } = g;
    let (k, n, lanes) = (a.cols, c.cols, V::LANES);
    debug_assert!(a.rows == 1 && b.col_stride == 1 && c.col_stride == 1 && b.rows == k);
    let cp = c.data.as_mut_ptr();
    // SAFETY (whole body): element `p` of A's row is at `p * a.col_stride`, row `p` of B
    // holds `n` contiguous elements from `p * b.row_stride`, and C's row `n` contiguous
    // elements: all inside their views. The CPU runs `V`.
    unsafe {
        let weight = |p: usize| alpha * *a.data.as_ptr().add(p * a.col_stride);
        let row = |p: usize| b.data.as_ptr().add(p * b.row_stride);
        let mut j = 0;
        while j + ROW_VECTORS * lanes <= n {
            let mut acc = [V::zero(); ROW_VECTORS];
            for p in 0..k {
                let (w, r) = (V::splat(weight(p)), row(p).add(j));
                for (v, acc) in acc.iter_mut().enumerate() {
                    *acc = V::mul_add(w, V::load(r.add(v * lanes)), *acc);
                }
            }
            for (v, acc) in acc.iter().enumerate() {
                let out = cp.add(j + v * lanes);
                let old = if beta == V::T::ZERO {
                    V::zero()
                } else {
                    V::mul(V::splat(beta), V::load(out))
                };
                V::store(out, V::mul_add(V::splat(V::T::ONE), *acc, old));
            }
            j += ROW_VECTORS * lanes;
        }
        for j in j..n {
            let mut sum = V::T::ZERO;
            for p in 0..k {
                sum += weight(p) * *row(p).add(j);
            }
            let out = cp.add(j);
            *out = if beta == V::T::ZERO {
                sum
            } else {
                sum + beta * *out
            };
        }
    }
}
