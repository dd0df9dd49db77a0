//! A GEMM's constant left operand packed once: [`gemm_pack_a`] lays A out as the loop nest
//! reads it, and [`gemm_packed`] multiplies by it without packing A again (as a model's
//! weights are packed once when it is loaded, and every inference reuses them).
//!
//! The layout is the nest's column-by-column A sliver over the whole depth: `MR`-row slivers
//! one after the other, sliver `s` holding element `(s * MR + i, p)` at `p * MR + i` (rows
//! past `m` zero). Any KC block of any blocking plan is then one contiguous run of a sliver,
//! so the microkernel reads it in place and the call packs only B.
//!
//! A product with one row or one column of C (a fully connected layer at batch 1) does not
//! run the loop nest but dot products or row updates along A's rows ([`gemv`](super::gemv)):
//! for it, "packing" is a row-major copy of A, which those read at full speed.

use super::blocking::{self, ALIGN_BYTES};
use super::nest::{NestPacked, PackA};
use super::{trivial, Gemm};
use crate::arch::{Build, Float, Isa, Kernel, OnTile};
use crate::element::Element;
use crate::error::{check_len, Error};
use crate::matrix::{MatMut, MatRef};

/// A GEMM's left operand A, packed by [`gemm_pack_a`] into a caller's buffer for the
/// instruction set of the [`Gemm`] it was packed for; [`gemm_packed`] takes it in A's place.
///
/// It borrows the buffer, so the packed data cannot change while it is in use; it is `Copy`,
/// so one packed A serves any number of calls (and threads).
///
/// ```
/// use nchw::{gemm_pack_a, Gemm, MatRef};
/// let g = Gemm::new(3, 5, 2)?;
/// let mut buffer = vec![0.0f32; g.packed_a_len::<f32>()];
/// let a = gemm_pack_a(&g, MatRef::row_major(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2)?, &mut buffer)?;
/// assert_eq!((a.rows(), a.cols(), a.isa()), (3, 2, g.isa()));
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PackedA<'a, T> {
    /// The slivers, from the first (aligned) one: `m.div_ceil(MR) * MR * k` elements, and
    /// the rest of the buffer (a row-major copy: `m * k` elements).
    data: &'a [T],
    m: usize,
    k: usize,
    isa: Isa,
    /// Whether `data` is a row-major copy of A (for thin products) rather than slivers.
    rows: bool,
}

impl<T> PackedA<'_, T> {
    /// Rows of A (`m`).
    ///
    /// ```
    /// use nchw::{gemm_pack_a, Gemm, MatRef};
    /// let g = Gemm::new(3, 1, 1)?;
    /// let mut buffer = vec![0.0f64; g.packed_a_len::<f64>()];
    /// let a = gemm_pack_a(&g, MatRef::row_major(&[1.0, 2.0, 3.0], 3, 1)?, &mut buffer)?;
    /// assert_eq!((a.rows(), a.cols()), (3, 1));
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub fn rows(&self) -> usize {
        self.m
    }

    /// Columns of A (the depth `k`).
    pub fn cols(&self) -> usize {
        self.k
    }

    /// The instruction set whose register tile A was packed for: [`gemm_packed`] runs on
    /// it only.
    ///
    /// ```
    /// use nchw::{gemm_pack_a, Gemm, Isa, MatRef};
    /// let g = Gemm::new(1, 1, 2)?.with_isa(Isa::Portable)?;
    /// let mut buffer = vec![0.0f32; g.packed_a_len::<f32>()];
    /// let a = gemm_pack_a(&g, MatRef::row_major(&[1.0, 2.0], 1, 2)?, &mut buffer)?;
    /// assert_eq!(a.isa(), Isa::Portable);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl<'a, T> PackedA<'a, T> {
    /// The `m x k` A packed by [`pack_into`] for `isa` into `data`, as a row-major copy if
    /// `rows`. (A `data` shorter than the packing makes the product compute nothing, never
    /// read past it.)
    pub(crate) fn from_parts(data: &'a [T], m: usize, k: usize, isa: Isa, rows: bool) -> Self {
        PackedA {
            data,
            m,
            k,
            isa,
            rows,
        }
    }
}

impl Gemm {
    /// Elements of the buffer [`gemm_pack_a`] packs this product's `m x k` A into: `m`
    /// rounded up to the largest register tile this target builds, times `k`, plus two cache
    /// lines of slack to align the slivers and let a vector read past the last one (0 if `m`
    /// or `k` is 0). The same for every
    /// instruction set, so one size serves whichever the CPU runs.
    ///
    /// ```
    /// use nchw::Gemm;
    /// const G: Gemm = match Gemm::new(512, 49, 4608) {
    ///     Ok(g) => g,
    ///     Err(_) => panic!("bad product"),
    /// };
    /// static mut PACKED: [f32; G.packed_a_len::<f32>()] = [0.0; G.packed_a_len::<f32>()];
    /// assert!(G.packed_a_len::<f32>() >= 512 * 4608);
    /// assert_eq!(Gemm::new(0, 49, 4608)?.packed_a_len::<f32>(), 0);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn packed_a_len<T: Element>(&self) -> usize {
        super::packed_a_len::<T>(1, self.m, self.k)
    }

    /// Scratch elements that let [`gemm_packed`] run at full speed: the packed block of B
    /// alone, at most [`scratch_len`](Gemm::scratch_len) (which also holds a block of A).
    /// Smaller scratch, down to none, is still correct, as for [`gemm`](crate::gemm()).
    ///
    /// ```
    /// use nchw::Gemm;
    /// let g = Gemm::new(512, 49, 4608)?;
    /// assert!(g.packed_scratch_len::<f32>() < g.scratch_len::<f32>());
    /// assert_eq!(Gemm::new(512, 0, 4608)?.packed_scratch_len::<f32>(), 0);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn packed_scratch_len<T: Element>(&self) -> usize {
        blocking::packed_scratch(core::mem::size_of::<T>(), self.m, self.n, self.k)
    }
}

/// Packs the product's left operand `a` (`m x k`, any strides) into `buffer` for
/// [`gemm_packed`], on the geometry's instruction set: once for any number of products by
/// the same A. Where C has one row or one column (`m == 1` or `n == 1`), the product runs as
/// dot products or row updates, and the packing is a row-major copy of A for them.
///
/// # Errors
/// [`Error::DimensionMismatch`] if `a` is not `m x k`; [`Error::BufferLength`] unless
/// `buffer` holds exactly [`Gemm::packed_a_len`] elements. `buffer` is then untouched.
///
/// ```
/// use nchw::{gemm, gemm_pack_a, gemm_packed, Gemm, MatMut, MatRef};
/// let g = Gemm::new(2, 2, 3)?;
/// let a = MatRef::row_major(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3)?;
/// let mut packed = vec![0.0; g.packed_a_len::<f32>()];
/// let packed = gemm_pack_a(&g, a, &mut packed)?;
/// let mut scratch = vec![0.0; g.packed_scratch_len::<f32>()];
/// for b in [[1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0], [2.0; 6]] {
///     let (mut c, mut d) = ([0.0f32; 4], [0.0f32; 4]);
///     let b = MatRef::row_major(&b, 3, 2)?;
///     gemm_packed(&g, 1.0, &packed, b, 0.0, MatMut::row_major(&mut c, 2, 2)?, &mut scratch)?;
///     gemm(&g, 1.0, a, b, 0.0, MatMut::row_major(&mut d, 2, 2)?, &mut [])?;
///     assert_eq!(c, d);
/// }
/// assert!(gemm_pack_a(&g, a, &mut [0.0; 3]).is_err());
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm_pack_a<'a, T: Float>(
    g: &Gemm,
    a: MatRef<'_, T>,
    buffer: &'a mut [T],
) -> Result<PackedA<'a, T>, Error> {
    g.check(&[a.rows, a.cols])?;
    check_len("packed", g.packed_a_len::<T>(), buffer.len())?;
    let (_, buffer) = buffer.split_at_mut(align_skip(buffer));
    let rows = thin(g.m, g.n);
    // SAFETY: `g.isa()` is available (checked by `with_isa`, or detected); past the skip,
    // `buffer` holds the slivers of any `MR` (`packed_a_len` rounds `m` up to the largest).
    Ok(unsafe { pack_into(g.isa(), a, buffer, rows) })
}

/// Whether an `m x k` by `k x n` product is packed as a row-major copy of A: with one row
/// or one column of C it runs as dot products or row updates along A's rows.
pub(crate) const fn thin(m: usize, n: usize) -> bool {
    m == 1 || n == 1
}

/// Elements to skip at the start of `buffer` to align packed slivers to a cache line: at
/// most the slack [`packed_a_len`](super::packed_a_len) adds (`align_offset` may decline, as
/// under Miri: alignment is only a speed hint).
#[inline(always)]
pub(crate) fn align_skip<T>(buffer: &[T]) -> usize {
    let skip = buffer.as_ptr().align_offset(ALIGN_BYTES);
    let slack = ALIGN_BYTES / core::mem::size_of::<T>().max(1);
    if skip <= slack.min(buffer.len()) {
        skip
    } else {
        0
    }
}

/// The register tile's row count `MR` of `isa` for `T`.
///
/// # Safety
/// `isa.is_available()`.
pub(crate) unsafe fn mr<T: Float>(isa: Isa) -> usize {
    struct Mr;
    impl<T: Float> Kernel<T> for Mr {
        type Output = usize;
        #[inline(always)]
        unsafe fn run<B: Build<T>>(self) -> usize {
            B::MR
        }
    }
    // SAFETY: the caller guarantees the instruction set; the kernel runs no instruction.
    unsafe { T::dispatch(isa, Mr) }
}

/// Packs `a` at the start of `buffer` for `isa`'s register tile, or as a row-major copy if
/// `rows` ([`thin`]): [`gemm_pack_a`] without the checks and the alignment.
///
/// # Safety
/// `isa.is_available()`. (A `buffer` shorter than `a.rows.div_ceil(MR) * MR * a.cols`
/// elements gives a packed A that computes nothing, never an access past it.)
pub(crate) unsafe fn pack_into<'a, T: Float>(
    isa: Isa,
    a: MatRef<'_, T>,
    buffer: &'a mut [T],
    rows: bool,
) -> PackedA<'a, T> {
    let (m, k) = (a.rows, a.cols);
    if rows {
        let used = m.saturating_mul(k);
        if let (Some(dst), Some(k)) = (buffer.get_mut(..used), core::num::NonZeroUsize::new(k)) {
            for (i, row) in dst.chunks_exact_mut(k.get()).enumerate() {
                for (p, d) in row.iter_mut().enumerate() {
                    *d = a.at(i, p).unwrap_or(T::ZERO);
                }
            }
        }
        let buffer: &'a [T] = buffer;
        return PackedA::from_parts(buffer.get(..used).unwrap_or_default(), m, k, isa, true);
    }
    let dst = &mut *buffer;
    // SAFETY: the caller guarantees the instruction set.
    unsafe { T::dispatch(isa, OnTile(PackA { a, dst })) };
    // The slivers and whatever follows them in `buffer`: room for the nest's vector reads
    // past the end of the last sliver.
    let buffer: &'a [T] = buffer;
    PackedA::from_parts(buffer, m, k, isa, false)
}

/// `C <- alpha * A * B + beta * C` with A pre-packed by [`gemm_pack_a`]: [`gemm`](crate::gemm())
/// without packing A, so `scratch` holds only a packed block of B
/// ([`Gemm::packed_scratch_len`] for full speed; less, down to none, is still correct).
///
/// The same rules as [`gemm`](crate::gemm()) for `beta == 0`, `k == 0`, `alpha == 0` and
/// empty products. The results equal [`gemm`](crate::gemm())'s up to rounding, and bitwise
/// when both have their full scratch and C has more than one row and column and a unit
/// column stride (the same depth blocks, summed in the same order).
///
/// # Errors
/// [`Error::DimensionMismatch`] if `a`, `b` or `c` do not have the geometry's dimensions;
/// [`Error::PackedMismatch`] if `a` was packed for another instruction set than the
/// geometry's. C is then untouched.
///
/// ```
/// use nchw::{gemm_pack_a, gemm_packed, Gemm, Isa, MatMut, MatRef};
/// let g = Gemm::new(2, 2, 2)?;
/// let a = MatRef::row_major(&[1.0f64, 2.0, 3.0, 4.0], 2, 2)?;
/// let mut buffer = vec![0.0; g.packed_a_len::<f64>()];
/// let a = gemm_pack_a(&g, a, &mut buffer)?;
/// let b = MatRef::row_major(&[5.0f64, 6.0, 7.0, 8.0], 2, 2)?;
/// let mut c = [f64::NAN; 4];
/// gemm_packed(&g, 1.0, &a, b, 0.0, MatMut::row_major(&mut c, 2, 2)?, &mut [])?;
/// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
/// // Packed for one instruction set, it runs on that one only.
/// if Isa::best() != Isa::Portable {
///     let other = g.with_isa(Isa::Portable)?;
///     let c = MatMut::row_major(&mut c, 2, 2)?;
///     assert!(gemm_packed(&other, 1.0, &a, b, 0.0, c, &mut []).is_err());
/// }
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm_packed<T: Float>(
    g: &Gemm,
    alpha: T,
    a: &PackedA<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    c: MatMut<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
    g.check(&[a.m, a.k, b.rows, b.cols, c.rows, c.cols])?;
    check_isa(a.isa, g.isa())?;
    // SAFETY: `a.isa` is `g.isa()`, available; the operands agree (checked above) and `a`
    // was packed for them by `pack_into`.
    unsafe { product_packed(alpha, a, b, beta, c, scratch) };
    Ok(())
}

/// [`Error::PackedMismatch`] unless an operand packed for `packed` may run on `call`.
pub(crate) fn check_isa(packed: Isa, call: Isa) -> Result<(), Error> {
    if packed == call {
        Ok(())
    } else {
        Err(Error::PackedMismatch {
            packed: packed.name(),
            call: call.name(),
        })
    }
}

/// [`gemm_packed`] for the crate's own kernels, whose operands agree by construction; it
/// runs on the instruction set `a` was packed for.
///
/// # Safety
/// `a.isa().is_available()`; `a` was packed by [`pack_into`] from an `m x k` A; `b` is
/// `k x n` and `c` is `m x n`.
pub(crate) unsafe fn product_packed<T: Float>(
    alpha: T,
    a: &PackedA<'_, T>,
    b: MatRef<'_, T>,
    beta: T,
    mut c: MatMut<'_, T>,
    scratch: &mut [T],
) {
    let (m, k) = (a.m, a.k);
    debug_assert!(b.rows == k && c.rows == m && c.cols == b.cols);
    if trivial(k, alpha, beta, &mut c) {
        return;
    }
    if a.rows {
        // The data holds the `m x k` row-major copy `pack_into` made, so the view is valid.
        if let Ok(rows) = MatRef::row_major(a.data, m, k) {
            // SAFETY: the caller guarantees the instruction set; `rows` is `m x k`, `b`
            // `k x n` and `c` `m x n`.
            unsafe { super::product(a.isa, alpha, rows, b, beta, c, scratch) };
        }
        return;
    }
    let nest = NestPacked {
        alpha,
        a: a.data,
        b,
        beta,
        c,
        scratch,
    };
    // SAFETY: the caller guarantees the instruction set; the operands are non-empty and
    // agree, and `a.data` holds the `m.div_ceil(MR) * MR * k` elements `pack_into` packed
    // for this instruction set's `MR`.
    unsafe { T::dispatch(a.isa, OnTile(nest)) }
}
