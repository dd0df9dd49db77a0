//! General matrix multiply: `C <- alpha * A * B + beta * C`.

mod view;

pub use view::{MatMut, MatRef};

use crate::element::Element;
use crate::error::Error;

/// Scratch elements that let [`gemm`] run at full speed on an `m x k` by `k x n` product.
///
/// Any smaller scratch, down to none, still gives correct results.
pub const fn gemm_scratch_len<T>(m: usize, n: usize, k: usize) -> usize {
    let _ = (m, n, k);
    0
}

/// `C <- alpha * A * B + beta * C` for an `m x k` A, a `k x n` B and an `m x n` C.
///
/// With `beta == 0` C is never read, so NaN or garbage in it cannot leak into the result.
/// With `k == 0` C is scaled by `beta`. `scratch` is for packing; see [`gemm_scratch_len`].
///
/// # Errors
/// [`Error::DimensionMismatch`] if the operands' dimensions do not agree.
///
/// ```
/// use nchw::{gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let mut c = [f32::NAN; 4];
/// let (a, b) = (MatRef::row_major(&a, 2, 2)?, MatRef::row_major(&b, 2, 2)?);
/// gemm(1.0, a, b, 0.0, MatMut::row_major(&mut c, 2, 2)?, &mut [])?;
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm<T: Element>(
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
    let _ = scratch;
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(Error::DimensionMismatch {
            what: "a.cols != b.rows",
            left: k,
            right: b.rows,
        });
    }
    if c.rows != m {
        return Err(Error::DimensionMismatch {
            what: "c.rows != a.rows",
            left: c.rows,
            right: m,
        });
    }
    if c.cols != n {
        return Err(Error::DimensionMismatch {
            what: "c.cols != b.cols",
            left: c.cols,
            right: n,
        });
    }
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc += a.data[i * a.row_stride + p * a.col_stride]
                    * b.data[p * b.row_stride + j * b.col_stride];
            }
            let dst = &mut c.data[i * c.row_stride + j * c.col_stride];
            *dst = if beta == T::ZERO {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
    Ok(())
}
