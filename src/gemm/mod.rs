//! General matrix multiply: `C <- alpha * A * B + beta * C`.
//!
//! A BLIS-style implementation: blocks of A and B are packed into caller scratch
//! ([`pack`]), walked by five loops sized for the caches ([`nest`], [`blocking`]), and
//! multiplied by a register-tiled microkernel written once ([`simd`]) and compiled per
//! instruction set ([`portable`], `x86`, `aarch64`), chosen at run time ([`dispatch`]).

mod blocking;
mod dispatch;
mod nest;
mod pack;
pub(crate) mod portable;
pub(crate) mod simd;
mod view;

#[cfg(all(target_arch = "aarch64", not(miri)))]
mod aarch64;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) mod x86;

pub use dispatch::Dispatch;

use crate::isa::Isa;
pub use view::{MatMut, MatRef};

use crate::element::Element;
use crate::error::Error;

/// Scratch elements that let [`gemm`] run at full speed on an `m x k` by `k x n` product.
///
/// Any smaller scratch, down to none, still gives correct results: the blocks shrink to
/// fit, and below one `MR + NR` column of packed slivers the product is computed straight
/// from the views. The size is at most `KC * (MC + NC)` plus a cache line, for this target's
/// largest blocking (about 1.7 MiB of `f32` on x86_64), whatever the problem size.
///
/// ```
/// use nchw::gemm_scratch_len;
/// const LEN: usize = gemm_scratch_len::<f32>(64, 3136, 576);
/// static mut SCRATCH: [f32; LEN] = [0.0; LEN];
/// assert!(LEN > 0 && gemm_scratch_len::<f32>(64, 0, 576) == 0);
/// ```
pub const fn gemm_scratch_len<T: Element>(m: usize, n: usize, k: usize) -> usize {
    blocking::full_scratch(core::mem::size_of::<T>(), m, n, k)
}

/// `C <- alpha * A * B + beta * C` for an `m x k` A, a `k x n` B and an `m x n` C, on the
/// fastest kernel this CPU supports ([`Isa::best`]).
///
/// - `beta == 0` never reads C, so NaN or garbage in it cannot leak into the result.
/// - `k == 0` or `alpha == 0` scales C by `beta` and reads neither A nor B (as BLAS does).
/// - `m == 0` or `n == 0` does nothing.
/// - `scratch` holds packed copies of A and B; [`gemm_scratch_len`] elements give full
///   speed, fewer (even none) are still correct. Its contents on entry do not matter.
///
/// The crate owns no threads: to use several cores, split C (and A) into row blocks and
/// call `gemm` on each from your own threads, each with its own scratch.
///
/// # Errors
/// [`Error::DimensionMismatch`] if the operands' dimensions do not agree; C is then
/// untouched.
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
    gemm_with_isa(Isa::best(), alpha, a, b, beta, c, scratch)
}

/// [`gemm`] on a chosen instruction set's microkernel: for tests that must cover every
/// kernel, and for comparing kernels.
///
/// # Errors
/// [`Error::DimensionMismatch`] as for [`gemm`]; [`Error::IsaUnavailable`] if this CPU
/// (or this build target) cannot run `isa`. C is then untouched.
///
/// ```
/// use nchw::{gemm_with_isa, Isa, MatMut, MatRef};
/// let a = [1.0f64, 2.0, 3.0]; // 1 x 3
/// let b = [4.0f64, 5.0, 6.0]; // 3 x 1
/// let mut c = [1.0f64];
/// let (a, b) = (MatRef::row_major(&a, 1, 3)?, MatRef::row_major(&b, 3, 1)?);
/// gemm_with_isa(Isa::Portable, 2.0, a, b, 1.0, MatMut::row_major(&mut c, 1, 1)?, &mut [])?;
/// assert_eq!(c, [65.0]); // 2 * 32 + 1
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm_with_isa<T: Element>(
    isa: Isa,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
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
    if !isa.is_available() {
        return Err(Error::IsaUnavailable { isa: isa.name() });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 || alpha == T::ZERO {
        scale(beta, c);
        return Ok(());
    }
    // The microkernels store C rows as vectors: give them the unit stride when C has one,
    // by computing C^T = B^T A^T for a column-major C.
    let (a, b, c) = if c.col_stride != 1 && c.row_stride == 1 {
        (b.t(), a.t(), c.t())
    } else {
        (a, b, c)
    };
    // SAFETY: `isa.is_available()` was checked above; the operands are non-empty and
    // their dimensions agree.
    unsafe { T::gemm_on(isa, alpha, a, b, beta, c, scratch) };
    Ok(())
}

/// `C <- beta * C`, writing zeros (never reading C) when `beta == 0`.
fn scale<T: Element>(beta: T, mut c: MatMut<'_, T>) {
    if beta == T::ONE {
        return;
    }
    for i in 0..c.rows {
        for j in 0..c.cols {
            // SAFETY: `i < c.rows`, `j < c.cols`.
            let dst = unsafe { c.get_unchecked_mut(i, j) };
            *dst = if beta == T::ZERO {
                T::ZERO
            } else {
                beta * *dst
            };
        }
    }
}
