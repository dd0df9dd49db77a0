//! Strided matrix views: the operands of [`gemm`](crate::gemm()).

use crate::error::Error;

/// A read-only `rows x cols` matrix inside a slice: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
///
/// Transposes and sub-matrices cost nothing: swap the strides, or offset the slice.
///
/// ```
/// use nchw::MatRef;
/// let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let a = MatRef::row_major(&data, 2, 3)?;
/// assert_eq!(a.at(1, 0), Some(4.0));
/// assert_eq!(a.t().at(0, 1), Some(4.0));
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

/// A mutable `rows x cols` matrix inside a slice, laid out as for [`MatRef`]; its strides
/// must not make two elements share a slot.
///
/// ```
/// use nchw::MatMut;
/// let mut data = [0.0f64; 6];
/// let c = MatMut::new(&mut data, 3, 2, 1, 3)?; // column-major 3x2
/// assert_eq!((c.rows(), c.cols()), (3, 2));
/// assert!(MatMut::new(&mut [0.0f64; 6], 3, 2, 1, 1).is_err()); // aliasing strides
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Debug)]
pub struct MatMut<'a, T> {
    pub(crate) data: &'a mut [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

/// The constructor, the transpose and the dimensions, written once for both views: `$data`
/// is the slice type, `$t` the transpose's visibility, `$errors` the constructor's errors,
/// and `$distinct` whether a view's strides are acceptable beyond fitting in `data`.
macro_rules! view {
    ($view:ident, $data:ty, $t:vis, $errors:literal, $distinct:path) => {
        impl<'a, T> $view<'a, T> {
            /// A view with explicit strides.
            ///
            /// # Errors
            #[doc = $errors]
            pub fn new(
                data: $data,
                rows: usize,
                cols: usize,
                row_stride: usize,
                col_stride: usize,
            ) -> Result<Self, Error> {
                let operand = stringify!($view);
                check_view(operand, data.len(), rows, cols, row_stride, col_stride)?;
                if !$distinct(rows, cols, row_stride, col_stride) {
                    return Err(Error::InvalidView {
                        operand,
                        needed: extent(rows, cols, row_stride, col_stride),
                        actual: data.len(),
                    });
                }
                Ok($view {
                    data,
                    rows,
                    cols,
                    row_stride,
                    col_stride,
                })
            }

            /// The transpose, sharing the same data.
            $t fn t(self) -> Self {
                $view {
                    rows: self.cols,
                    cols: self.rows,
                    row_stride: self.col_stride,
                    col_stride: self.row_stride,
                    ..self
                }
            }

            /// Rows.
            pub fn rows(&self) -> usize {
                self.rows
            }

            /// Columns.
            pub fn cols(&self) -> usize {
                self.cols
            }
        }
    };
}

view!(
    MatRef,
    &'a [T],
    pub,
    "[`Error::InvalidView`] if the view reaches past the end of `data`.",
    any_strides
);
view!(
    MatMut,
    &'a mut [T],
    pub(crate),
    "[`Error::InvalidView`] if the view reaches past the end of `data` or two of its \
     elements would share a slot.",
    distinct
);

/// A read-only view may give several elements one slot (a zero stride broadcasts).
#[inline(always)]
fn any_strides(_: usize, _: usize, _: usize, _: usize) -> bool {
    true
}

/// Whether distinct elements get distinct slots: when one stride steps over a whole line of
/// the other (a degenerate axis of length 1 needs no stride).
#[inline(always)]
fn distinct(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows <= 1 && (cols <= 1 || col_stride >= 1)
        || cols <= 1 && row_stride >= 1
        || col_stride >= 1 && row_stride >= cols.saturating_mul(col_stride)
        || row_stride >= 1 && col_stride >= rows.saturating_mul(row_stride)
}

/// The slice length a strided view needs, or `usize::MAX` if it overflows.
fn extent(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        return 0;
    }
    (rows - 1)
        .checked_mul(row_stride)
        .zip((cols - 1).checked_mul(col_stride))
        .and_then(|(r, c)| r.checked_add(c))
        .and_then(|last| last.checked_add(1))
        .unwrap_or(usize::MAX)
}

fn check_view(
    operand: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Result<(), Error> {
    let needed = extent(rows, cols, row_stride, col_stride);
    if needed > len {
        return Err(Error::InvalidView {
            operand,
            needed,
            actual: len,
        });
    }
    Ok(())
}

impl<'a, T: Copy> MatRef<'a, T> {
    /// A dense row-major view (`row_stride = cols`, `col_stride = 1`).
    ///
    /// # Errors
    /// [`Error::InvalidView`] if `data` is shorter than `rows * cols`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nchw::MatRef;
    /// let a = MatRef::row_major(&[1, 2, 3, 4, 5, 6], 2, 3)?;
    /// assert_eq!((a.rows(), a.cols(), a.at(1, 0)), (2, 3, Some(4)));
    /// let t = a.t(); // a stride swap, no copy
    /// assert_eq!((t.rows(), t.cols(), t.at(0, 1)), (3, 2, Some(4)));
    /// assert!(MatRef::row_major(&[1, 2, 3], 2, 2).is_err());
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// Element `(i, j)`, or `None` outside the matrix.
    pub fn at(&self, i: usize, j: usize) -> Option<T> {
        if i < self.rows && j < self.cols {
            self.data
                .get(i * self.row_stride + j * self.col_stride)
                .copied()
        } else {
            None
        }
    }

    /// Element `(i, j)` without a bounds check, for the packing loops.
    ///
    /// # Safety
    /// `i < rows` and `j < cols`: [`MatRef::new`] proved every such element inside `data`.
    #[inline(always)]
    pub(crate) unsafe fn get_unchecked(&self, i: usize, j: usize) -> T {
        debug_assert!(i < self.rows && j < self.cols);
        // SAFETY: in the view (the caller's contract), hence in `data` (the constructor's).
        unsafe {
            *self
                .data
                .get_unchecked(i * self.row_stride + j * self.col_stride)
        }
    }

    /// Elements `(i, j..j + len)` of a view with unit column stride, without a bounds check.
    ///
    /// # Safety
    /// `col_stride == 1`, `i < rows` and `j + len <= cols`: the run then lies inside `data`
    /// as [`MatRef::new`] proved.
    #[inline(always)]
    pub(crate) unsafe fn row_unchecked(&self, i: usize, j: usize, len: usize) -> &'a [T] {
        debug_assert!(self.col_stride == 1 && i < self.rows && j + len <= self.cols);
        let start = i * self.row_stride + j;
        // SAFETY: the run is elements `(i, j)..=(i, j + len - 1)` of the view, contiguous
        // because `col_stride == 1` (the caller's contract).
        unsafe { self.data.get_unchecked(start..start + len) }
    }
}

impl<'a, T: Copy> MatMut<'a, T> {
    /// A dense row-major view (`row_stride = cols`, `col_stride = 1`).
    ///
    /// # Errors
    /// [`Error::InvalidView`] if `data` is shorter than `rows * cols`.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::new(data, rows, cols, cols, 1)
    }

    /// Element `(i, j)` without a bounds check.
    ///
    /// # Safety
    /// `i < rows` and `j < cols`: [`MatMut::new`] proved every such element inside `data`.
    #[inline(always)]
    pub(crate) unsafe fn get_unchecked_mut(&mut self, i: usize, j: usize) -> &mut T {
        debug_assert!(i < self.rows && j < self.cols);
        let at = i * self.row_stride + j * self.col_stride;
        // SAFETY: in the view (the caller's contract), hence in `data` (the constructor's).
        unsafe { self.data.get_unchecked_mut(at) }
    }
}
