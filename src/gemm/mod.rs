//! General matrix multiply: `C <- alpha * A * B + beta * C`.
//!
//! A BLIS-style implementation: blocks of A and B are packed into caller scratch
//! ([`pack`]), walked by five loops sized for the caches ([`nest`], [`blocking`]), and
//! multiplied by the arch layer's register tile ([`microkernel`](crate::arch::microkernel),
//! or an instruction set's hand-written one), compiled per instruction set by
//! [`Float::dispatch`]. The matrix views are [`MatRef`] and [`MatMut`].

mod blocking;
mod gemv;
pub(crate) mod nest;
pub(crate) mod pack;
mod packed;

pub(crate) use packed::{align_skip, check_isa, mr, pack_into, product_packed, thin};
pub use packed::{gemm_pack_a, gemm_packed, PackedA};

use gemv::{Form, Gemv};
use nest::Nest;

use crate::arch::{forced_isa, Float, Isa, OnTile};
use crate::element::Element;
use crate::error::{mul, tri, Error};
use crate::matrix::{MatMut, MatRef};

/// The geometry of a product of an `m x k` A and a `k x n` B into an `m x n` C, and the
/// instruction set it runs on.
///
/// ```
/// use nchw::Gemm;
/// const G: Gemm = match Gemm::new(64, 3136, 576) {
///     Ok(g) => g,
///     Err(_) => panic!("bad product"),
/// };
/// static mut SCRATCH: [f32; G.scratch_len::<f32>()] = [0.0; G.scratch_len::<f32>()];
/// assert!(G.scratch_len::<f32>() > 0);
/// assert_eq!(Gemm::new(64, 0, 576)?.scratch_len::<f32>(), 0);
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    isa: Option<Isa>,
}

forced_isa!(
    Gemm,
    "product",
    r#"```
use nchw::{gemm, Gemm, Isa, MatMut, MatRef};
let g = Gemm::new(1, 1, 3)?.with_isa(Isa::Portable)?;
let (a, b, mut c) = ([1.0f64, 2.0, 3.0], [4.0f64, 5.0, 6.0], [1.0f64]);
let (a, b) = (MatRef::row_major(&a, 1, 3)?, MatRef::row_major(&b, 3, 1)?);
gemm(&g, 2.0, a, b, 1.0, MatMut::row_major(&mut c, 1, 1)?, &mut [])?;
assert_eq!(c, [65.0]); // 2 * 32 + 1
# Ok::<(), nchw::Error>(())
```
"#
);

impl Gemm {
    /// The product of an `m x k` by a `k x n` matrix, on [`Isa::best`].
    ///
    /// # Errors
    /// [`Error::Overflow`] if a dense operand's length (`m * k`, `k * n` or `m * n`)
    /// overflows `usize`.
    ///
    /// # Examples
    ///
    /// `C <- A B` for a 2x3 A and a 3x2 B, with the scratch the geometry asks for:
    ///
    /// ```
    /// use nchw::{gemm, Gemm, MatMut, MatRef};
    /// let g = Gemm::new(2, 2, 3)?;
    /// let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let b = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
    /// let mut c = [0.0f32; 4];
    /// let mut scratch = vec![0.0; g.scratch_len::<f32>()];
    /// let (a, b) = (MatRef::row_major(&a, 2, 3)?, MatRef::row_major(&b, 3, 2)?);
    /// gemm(&g, 1.0, a, b, 0.0, MatMut::row_major(&mut c, 2, 2)?, &mut scratch)?;
    /// assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(m: usize, n: usize, k: usize) -> Result<Self, Error> {
        tri!(mul(m, k));
        tri!(mul(k, n));
        tri!(mul(m, n));
        Ok(Gemm { m, n, k, isa: None })
    }

    /// Rows of A and C.
    pub const fn m(&self) -> usize {
        self.m
    }

    /// Columns of B and C.
    pub const fn n(&self) -> usize {
        self.n
    }

    /// Columns of A, rows of B (the depth).
    pub const fn k(&self) -> usize {
        self.k
    }

    /// [`Error::DimensionMismatch`] naming the first of the operands' dimensions `given` (rows
    /// and columns of A, then of B, then of C, as many as given) that is not the geometry's.
    #[inline(always)]
    fn check(&self, given: &[usize]) -> Result<(), Error> {
        let expected = [
            ("a rows", self.m),
            ("a columns", self.k),
            ("b rows", self.k),
            ("b columns", self.n),
            ("c rows", self.m),
            ("c columns", self.n),
        ];
        for (&left, (what, right)) in given.iter().zip(expected) {
            if left != right {
                return Err(Error::DimensionMismatch { what, left, right });
            }
        }
        Ok(())
    }

    /// Scratch elements that let [`gemm`] run at full speed.
    ///
    /// Any smaller scratch, down to none, still gives correct results: the blocks shrink to
    /// fit, and below one `MR + NR` column of packed slivers the product is computed straight
    /// from the views. The size is at most `KC * (MC + NC)` plus a cache line, for this
    /// target's largest blocking (about 1.7 MiB of `f32` on x86_64), whatever the problem size.
    pub const fn scratch_len<T: Element>(&self) -> usize {
        scratch_len::<T>(self.m, self.n, self.k)
    }
}

/// [`Gemm::packed_a_len`] of `groups` `m x k` A operands packed one after the other (the
/// first aligned, each `m.div_ceil(MR) * MR * k` long).
pub(crate) const fn packed_a_len<T: Element>(groups: usize, m: usize, k: usize) -> usize {
    blocking::packed_a(core::mem::size_of::<T>(), groups, m, k)
}

/// [`Gemm::packed_scratch_len`] of an `m x k` by `k x n` product.
pub(crate) const fn packed_scratch_len<T: Element>(m: usize, n: usize, k: usize) -> usize {
    blocking::packed_scratch(core::mem::size_of::<T>(), m, n, k)
}

/// [`Gemm::scratch_len`] of an `m x k` by `k x n` product.
pub(crate) const fn scratch_len<T: Element>(m: usize, n: usize, k: usize) -> usize {
    blocking::full_scratch(core::mem::size_of::<T>(), m, n, k)
}

/// `C <- alpha * A * B + beta * C` for the product `g` describes, on `g`'s instruction set.
///
/// - `beta == 0` never reads C, so NaN or garbage in it cannot leak into the result.
/// - `k == 0` or `alpha == 0` scales C by `beta` and reads neither A nor B (as BLAS does).
/// - `m == 0` or `n == 0` does nothing.
/// - `scratch` holds packed copies of A and B; [`Gemm::scratch_len`] elements give full
///   speed, fewer (even none) are still correct. Its contents on entry do not matter.
///
/// The crate owns no threads: to use several cores, split C (and A) into row blocks and
/// call `gemm` on each from your own threads, each with its own scratch.
///
/// # Errors
/// [`Error::DimensionMismatch`] if an operand's dimensions are not the geometry's; C is then
/// untouched.
///
/// ```
/// use nchw::{gemm, Gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [5.0f32, 6.0, 7.0, 8.0];
/// let mut c = [f32::NAN; 4];
/// let (a, b) = (MatRef::row_major(&a, 2, 2)?, MatRef::row_major(&b, 2, 2)?);
/// gemm(&Gemm::new(2, 2, 2)?, 1.0, a, b, 0.0, MatMut::row_major(&mut c, 2, 2)?, &mut [])?;
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm<T: Float>(
    g: &Gemm,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
    g.check(&[a.rows, a.cols, b.rows, b.cols, c.rows, c.cols])?;
    // SAFETY: `g.isa()` is available (checked by `with_isa`, or detected).
    unsafe { product(g.isa(), alpha, a, b, beta, c, scratch) };
    Ok(())
}

/// [`gemm`] for the crate's own kernels, whose operands agree by construction.
///
/// # Safety
/// `isa.is_available()`; `a` is `m x k`, `b` is `k x n` and `c` is `m x n`.
pub(crate) unsafe fn product<T: Float>(
    isa: Isa,
    alpha: T,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    scratch: &mut [T],
) {
    debug_assert!(b.rows == a.cols && c.rows == a.rows && c.cols == b.cols);
    if trivial(a.cols, alpha, beta, &mut c) {
        return;
    }
    // The microkernels store C rows as vectors: give them the unit stride when C has one,
    // by computing C^T = B^T A^T for a column-major C.
    let (a, b, c) = if c.col_stride != 1 && c.row_stride == 1 {
        (b.t(), a.t(), c.t())
    } else {
        (a, b, c)
    };
    // SAFETY (both): the caller guarantees the instruction set; the operands are non-empty
    // and their dimensions agree.
    if let Some(form) = Form::of(&a, &b, &c) {
        let gemv = Gemv {
            form,
            alpha,
            a,
            b,
            beta,
            c,
        };
        return unsafe { T::dispatch(isa, gemv) };
    }
    let nest = Nest {
        alpha,
        a,
        b,
        beta,
        c,
        scratch,
    };
    unsafe { T::dispatch(isa, OnTile(nest)) }
}

/// Whether an `m x k` by `k x n` product into `c` has nothing to multiply, having then done
/// what is left of it: nothing if `m == 0` or `n == 0`, C scaled by `beta` if `k == 0` or
/// `alpha == 0`.
#[inline(always)]
fn trivial<T: Element>(k: usize, alpha: T, beta: T, c: &mut MatMut<'_, T>) -> bool {
    if c.rows == 0 || c.cols == 0 {
        true
    } else if k == 0 || alpha == T::ZERO {
        scale(beta, c);
        true
    } else {
        false
    }
}

/// `C <- beta * C`, writing zeros (never reading C) when `beta == 0`.
fn scale<T: Element>(beta: T, c: &mut MatMut<'_, T>) {
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
