//! im2col and its adjoint col2im: unfolding an image's windows into matrix columns.
//!
//! For each image of `C` channels, im2col writes the matrix `[C * KH * KW, OH * OW]`: row
//! `(c * KH + kh) * KW + kw`, column `oh * OW + ow` holds input `(c, ih, iw)` with
//! `ih = oh * stride_h - top + kh * dilation_h`, `iw = ow * stride_w - left + kw * dilation_w`,
//! or zero where that lands in the padding. This is the Caffe / PyTorch `slow_conv2d`
//! layout: a convolution is then `W[OC, C*KH*KW] x col`, written straight into NCHW output.
//! The tutorial's `[N * OH * OW, C * KH * KW]` matrix is this one transposed and stacked over
//! the batch.

use core::num::NonZeroUsize;
use core::ops::Range;

use crate::accum::Accum;
use crate::arch::Float;
use crate::element::Element;
use crate::error::{check_len, mul, tri, Error};
use crate::shape::Shape;
use crate::walk::{chunks, pairs};
use crate::window::{Rounding, Window};

/// A validated im2col geometry: a batch of `N` images of `C x H x W` and a window over them.
///
/// [`im2col`] and [`col2im`] take the whole batch, one `[rows(), cols()]` column matrix per
/// image; [`im2col_columns`] and [`col2im_columns`] take one image's column tile. Sizes are
/// `const fn`, so firmware can size static buffers:
///
/// ```
/// use nchw::{Im2col, Padding, Shape, Window};
/// const G: Im2col = match Shape::new(2, 3, 8, 8) {
///     Ok(x) => match Im2col::new(x, Window::square(3).with_padding(Padding::uniform(1))) {
///         Ok(g) => g,
///         Err(_) => panic!("bad geometry"),
///     },
///     Err(_) => panic!("bad shape"),
/// };
/// static mut COL: [f32; G.col_len()] = [0.0; G.col_len()];
/// assert_eq!((G.rows(), G.cols(), G.col_len()), (27, 64, 2 * 27 * 64));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Im2col {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    window: Window,
    out_h: usize,
    out_w: usize,
}

impl Im2col {
    /// The geometry of `window` sliding over each image of `input` (`N` may be zero: the
    /// calls then do nothing).
    ///
    /// # Errors
    /// [`Error::Empty`] if `C`, `H` or `W` is zero; [`Error::Zero`] for a zero kernel side,
    /// stride or dilation, [`Error::WindowTooLarge`] when the window does not fit the padded
    /// image, [`Error::Overflow`] when a size overflows `usize`.
    pub const fn new(input: Shape, window: Window) -> Result<Self, Error> {
        tri!(input.check_images());
        let (batch, channels, height, width) = (input.n(), input.c(), input.h(), input.w());
        let (out_h, out_w) = tri!(window.output_size(height, width, Rounding::Floor));
        let taps = tri!(mul(window.kernel_h, window.kernel_w));
        let matrix = tri!(mul(tri!(mul(channels, taps)), tri!(mul(out_h, out_w))));
        tri!(mul(batch, matrix));
        Ok(Im2col {
            batch,
            channels,
            height,
            width,
            window,
            out_h,
            out_w,
        })
    }

    /// Images in the batch, `N`.
    pub const fn batch(&self) -> usize {
        self.batch
    }

    /// Channels of the image.
    pub const fn channels(&self) -> usize {
        self.channels
    }

    /// Image height.
    pub const fn height(&self) -> usize {
        self.height
    }

    /// Image width.
    pub const fn width(&self) -> usize {
        self.width
    }

    /// The window.
    pub const fn window(&self) -> Window {
        self.window
    }

    /// Output (window-position) rows `OH`.
    pub const fn out_h(&self) -> usize {
        self.out_h
    }

    /// Output (window-position) columns `OW`.
    pub const fn out_w(&self) -> usize {
        self.out_w
    }

    /// Elements of one image, `C * H * W`.
    pub const fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Elements of the batch, `N * C * H * W`.
    pub const fn input_len(&self) -> usize {
        self.batch * self.image_len()
    }

    /// Rows of the column matrix, `C * KH * KW`.
    pub const fn rows(&self) -> usize {
        self.channels * self.window.kernel_h * self.window.kernel_w
    }

    /// Columns of the column matrix, `OH * OW`.
    pub const fn cols(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Elements of one image's column matrix, `rows() * cols()`.
    pub const fn matrix_len(&self) -> usize {
        self.rows() * self.cols()
    }

    /// Elements of the batch's column matrices, `N * rows() * cols()`.
    pub const fn col_len(&self) -> usize {
        self.batch * self.matrix_len()
    }

    /// Elements of a tile of `columns` columns, `rows() * columns` (saturating).
    pub const fn tile_len(&self, columns: usize) -> usize {
        self.rows().saturating_mul(columns)
    }

    /// Checks a column range and returns its length.
    const fn check_range(&self, columns: &Range<usize>) -> Result<usize, Error> {
        if columns.start <= columns.end && columns.end <= self.cols() {
            Ok(columns.end - columns.start)
        } else {
            Err(Error::InvalidRange {
                start: columns.start,
                end: columns.end,
                len: self.cols(),
            })
        }
    }

    /// Whether [`unfold`] copies rows ([`unfold_rows`]): stride 1 along the width, on hosts.
    /// Bare-metal targets keep the walk by segment alone ([`for_each_segment`]): the row
    /// copies' code would cost more flash than its speed is worth there (the block copy of
    /// shifted planes alone took 920 bytes on a Cortex-M4F).
    ///
    /// [`for_each_segment`]: Self::for_each_segment
    const fn copies_rows(&self) -> bool {
        !cfg!(target_os = "none") && self.window.stride_w == 1
    }

    /// Calls `f` once for every output row's share of every row of the
    /// `[rows(), columns.len()]` tile: `zeros_before` padding columns from `dst` on, then
    /// `len` input elements from `src` on (step `stride_w`), then `zeros_after` padding.
    ///
    /// Taps run outermost and channels innermost, so a tap's in-bounds ranges (two
    /// divisions each) are computed once, and the segment sizes are the same for every
    /// whole output row of a tap: the consumer's branches are predictable.
    #[inline(always)]
    pub(crate) fn for_each_segment(&self, columns: Range<usize>, mut f: impl FnMut(Segment)) {
        let wnd = &self.window;
        let (axis_h, axis_w) = (wnd.axis_h(self.height), wnd.axis_w(self.width));
        let ow_count = self.out_w;
        // A geometry always has at least one window, so out_w >= 1 and this never returns;
        // dividing by a `NonZeroUsize` leaves no division-by-zero panic in the code.
        let Some(ow_nonzero) = NonZeroUsize::new(ow_count) else {
            return;
        };
        let first_oh = columns.start / ow_nonzero;
        let (tile_cols, taps) = (columns.end - columns.start, wnd.kernel_h * wnd.kernel_w);
        for kh in 0..wnd.kernel_h {
            let (oh_lo, oh_hi) = axis_h.inside(kh * wnd.dilation_h, self.out_h);
            for kw in 0..wnd.kernel_w {
                let (ow_lo, ow_hi) = axis_w.inside(kw * wnd.dilation_w, ow_count);
                for c in 0..self.channels {
                    let plane = c * self.height * self.width;
                    let mut dst = (c * taps + kh * wnd.kernel_w + kw) * tile_cols;
                    let (mut line, mut oh) = (first_oh * ow_count, first_oh);
                    while line < columns.end {
                        // Columns a..b of output row `oh` fall in the range; lo..hi of them
                        // read input, the rest padding.
                        let a = columns.start.max(line) - line;
                        let b = columns.end.min(line + ow_count) - line;
                        let inside = oh_lo <= oh && oh < oh_hi;
                        let lo = if inside { ow_lo.max(a).min(b) } else { b };
                        let hi = if inside { ow_hi.max(a).min(b) } else { b };
                        // Only meaningful when lo < hi; wrapping keeps the others harmless.
                        let ih =
                            (oh * wnd.stride_h + kh * wnd.dilation_h).wrapping_sub(wnd.padding.top);
                        let iw = (lo * wnd.stride_w + kw * wnd.dilation_w)
                            .wrapping_sub(wnd.padding.left);
                        f(Segment {
                            dst,
                            zeros_before: lo - a,
                            src: plane
                                .wrapping_add(ih.wrapping_mul(self.width))
                                .wrapping_add(iw),
                            len: hi - lo,
                            zeros_after: b - hi,
                        });
                        dst += b - a;
                        line += ow_count;
                        oh += 1;
                    }
                }
            }
        }
    }
}

/// One output row's share of one tile row. See [`Im2col::for_each_segment`].
#[derive(Clone, Copy)]
pub(crate) struct Segment {
    pub(crate) dst: usize,
    pub(crate) zeros_before: usize,
    pub(crate) src: usize,
    pub(crate) len: usize,
    pub(crate) zeros_after: usize,
}

/// Unfolds every image of `input` into its full `[rows(), cols()]` column matrix, the
/// matrices one after the other in `col`.
///
/// Every element of `col` is written; padding reads as zero.
///
/// # Errors
/// [`Error::BufferLength`] unless `input.len() == g.input_len()` and `col.len() ==
/// g.col_len()`.
///
/// ```
/// use nchw::{im2col, Im2col, Padding, Shape, Window};
/// // A 1x3x3 image, a 2x2 window with one column of padding on the left.
/// let left = Padding { left: 1, ..Padding::ZERO };
/// let g = Im2col::new(Shape::new(1, 1, 3, 3)?, Window::square(2).with_padding(left))?;
/// let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut col = [0.0f32; 4 * 6];
/// im2col(&g, &image, &mut col)?;
/// assert_eq!(col, [
///     0.0, 1.0, 2.0, 0.0, 4.0, 5.0, // tap (0, 0)
///     1.0, 2.0, 3.0, 4.0, 5.0, 6.0, // tap (0, 1)
///     0.0, 4.0, 5.0, 0.0, 7.0, 8.0, // tap (1, 0)
///     4.0, 5.0, 6.0, 7.0, 8.0, 9.0, // tap (1, 1)
/// ]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn im2col<T: Float>(g: &Im2col, input: &[T], col: &mut [T]) -> Result<(), Error> {
    check_len("input", g.input_len(), input.len())?;
    check_len("col", g.col_len(), col.len())?;
    for (image, matrix) in pairs(chunks(input, g.image_len()), chunks(col, g.matrix_len())) {
        unfold(g, image, 0..g.cols(), matrix);
    }
    Ok(())
}

/// Unfolds only the columns `columns` of one image's column matrix into a `[rows(),
/// columns.len()]` tile: the building block of convolution with a bounded workspace.
/// `image` is one image of the batch.
///
/// Any split of `0..cols()` into ranges reproduces [`im2col`] exactly.
///
/// # Errors
/// [`Error::InvalidRange`] unless `columns` lies within `0..g.cols()`;
/// [`Error::BufferLength`] unless `image.len() == g.image_len()` and
/// `tile.len() == g.tile_len(columns.len())`.
///
/// ```
/// use nchw::{im2col_columns, Im2col, Shape, Window};
/// let g = Im2col::new(Shape::new(1, 1, 2, 3)?, Window::new(2, 2))?;
/// let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut tile = [0.0f64; 4];
/// im2col_columns(&g, &image, 1..2, &mut tile)?; // the second window only
/// assert_eq!(tile, [2.0, 3.0, 5.0, 6.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn im2col_columns<T: Float>(
    g: &Im2col,
    image: &[T],
    columns: Range<usize>,
    tile: &mut [T],
) -> Result<(), Error> {
    let n = g.check_range(&columns)?;
    check_len("image", g.image_len(), image.len())?;
    check_len("tile", g.tile_len(n), tile.len())?;
    unfold(g, image, columns, tile);
    Ok(())
}

/// [`im2col_columns`] for callers that checked its arguments: `columns` within
/// `0..g.cols()`, `image` of `g.image_len()` and `tile` of `g.tile_len(columns.len())`
/// elements.
pub(crate) fn unfold<T: Element>(g: &Im2col, image: &[T], columns: Range<usize>, tile: &mut [T]) {
    debug_assert!(g.check_range(&columns).is_ok());
    debug_assert!(image.len() == g.image_len() && tile.len() == g.tile_len(columns.len()));
    if columns.len() <= NARROW {
        return unfold_narrow(g, image, columns, tile);
    }
    if g.copies_rows() {
        return unfold_rows(g, image, columns, tile);
    }
    let stride = g.window.stride_w;
    // The segment bounds are in range by construction (the lengths were checked): the
    // checked slicing never fails, and leaves no panic path in the code.
    g.for_each_segment(columns, |s| {
        let Some(out) = tile.get_mut(s.dst..s.dst + s.zeros_before + s.len + s.zeros_after) else {
            return;
        };
        let Some((before, rest)) = out.split_at_mut_checked(s.zeros_before) else {
            return;
        };
        let Some((body, after)) = rest.split_at_mut_checked(s.len) else {
            return;
        };
        // Segments are short (one output row at most) and their zero parts usually empty
        // or one element: small inline copies beat calls to memset and memcpy.
        fill_zero(before);
        fill_zero(after);
        if s.len == 0 {
            return;
        }
        let Some(src) = image.get(s.src..s.src + (s.len - 1) * stride + 1) else {
            return;
        };
        if stride == 1 {
            copy_short(body, src);
        } else {
            // Element i of the segment is element `i * stride` of `src`.
            for i in 0..body.len() {
                // SAFETY: `src` holds `(s.len - 1) * stride + 1` elements (the `get` above)
                // and `body` `s.len`, so `i * stride < src.len()`.
                unsafe { *body.get_unchecked_mut(i) = *src.get_unchecked(i * stride) };
            }
        }
    });
}

/// Tiles of at most this many columns are gathered column by column ([`unfold_narrow`]).
const NARROW: usize = 2;

/// [`unfold`] for a tile of a few columns (the minimum workspace's one): each column's patch
/// gathered tap by tap, in the tile's row order `(c, kh, kw)`. The walk by segments pays a
/// row's set-up per segment, and a one-column tile's segments are single elements (a 5x5
/// layer at the minimum workspace spent 140 instructions an element on a Cortex-M4F).
#[inline(never)]
fn unfold_narrow<T: Element>(g: &Im2col, image: &[T], columns: Range<usize>, tile: &mut [T]) {
    let wnd = &g.window;
    let Some(ow) = NonZeroUsize::new(g.out_w) else {
        return;
    };
    let (n, channels, h, w) = (columns.len(), g.channels, g.height, g.width);
    let (kh_n, kw_n, taps) = (wnd.kernel_h, wnd.kernel_w, wnd.kernel_h * wnd.kernel_w);
    if tile.len() < channels * taps * n || image.len() < channels * h * w {
        return;
    }
    let (src, out) = (image.as_ptr(), tile.as_mut_ptr());
    for (j, col) in columns.enumerate() {
        let (oh, ow) = (col / ow, col % ow);
        // Input coordinates of tap (0, 0), wrapped below zero (then out of range, as padding).
        let ih0 = (oh * wnd.stride_h).wrapping_sub(wnd.padding.top);
        let iw0 = (ow * wnd.stride_w).wrapping_sub(wnd.padding.left);
        // Kernel rows outermost: a row's bounds are the same in every channel.
        for kh in 0..kh_n {
            let ih = ih0.wrapping_add(kh * wnd.dilation_h);
            // Tile row `(c, kh, kw)` holds column `j` at `((c * KH + kh) * KW + kw) * n + j`.
            let first = kh * kw_n * n + j;
            if ih >= h {
                // A row in the padding: zeros in every channel.
                for (c, kw) in (0..channels).flat_map(|c| (0..kw_n).map(move |kw| (c, kw))) {
                    // SAFETY: the tile's element is within `channels * taps * n <=
                    // tile.len()` (checked above).
                    unsafe { *out.add(first + c * taps * n + kw * n) = T::ZERO };
                }
                continue;
            }
            // Element `(c, ih, 0)` of the image, for `c = 0`.
            let (mut at, mut row) = (first, ih * w);
            for _ in 0..channels {
                let mut iw = iw0;
                for kw in 0..kw_n {
                    // SAFETY: with `ih < h` and `iw < w`, `row + iw < channels * h * w <=
                    // image.len()` (`row = (c * h + ih) * w`); the tile's element is within
                    // `channels * taps * n <= tile.len()` (both checked above).
                    unsafe {
                        let v = if iw < w { *src.add(row + iw) } else { T::ZERO };
                        *out.add(at + kw * n) = v;
                    }
                    iw = iw.wrapping_add(wnd.dilation_w);
                }
                row += h * w;
                at += taps * n;
            }
        }
    }
}

/// [`unfold`] for stride 1 along the width ([`Im2col::copies_rows`]): per tap, the bounds
/// of its rows once (the outputs whose input row lies in the padding are zero), then per
/// channel plain row copies with the padding columns zeroed.
///
/// Where the tap's rows are its input plane shifted (stride 1 both ways and `OW == W`, the
/// width padded "same", as in 3 x 3 layers with padding 1), output `p = oh * OW + ow`
/// reads element `p + shift` of its plane, one `shift` for the whole tap: the row is then
/// one block copy, and the padding columns are patched to zero afterwards.
fn unfold_rows<T: Element>(g: &Im2col, image: &[T], columns: Range<usize>, tile: &mut [T]) {
    let wnd = &g.window;
    let (axis_h, axis_w) = (wnd.axis_h(g.height), wnd.axis_w(g.width));
    let (Some(ow), Some(n)) = (NonZeroUsize::new(g.out_w), NonZeroUsize::new(columns.len())) else {
        return;
    };
    let (ow_n, w) = (ow.get(), g.width);
    let (plane, taps) = (g.height * w, wnd.kernel_h * wnd.kernel_w);
    let shifted = wnd.stride_h == 1 && ow_n == w;
    let row_step = wnd.stride_h * w;
    // Output `(oh, j)` of tap `(kh, kw)` reads element `oh * SH * W + j + plus - minus` of
    // its plane (two non-negative parts); with `shifted`, that is `p + plus - minus`.
    let minus = wnd.padding.top * w + wnd.padding.left;
    for (t, (kh, kw)) in (0..wnd.kernel_h)
        .flat_map(|kh| (0..wnd.kernel_w).map(move |kw| (kh, kw)))
        .enumerate()
    {
        let (oh_lo, oh_hi) = axis_h.inside(kh * wnd.dilation_h, g.out_h);
        let (ow_lo, ow_hi) = axis_w.inside(kw * wnd.dilation_w, g.out_w);
        let plus = kh * wnd.dilation_h * w + kw * wnd.dilation_w;
        // The tile's outputs `q0..q1` read the plane: their rows lie in the image, and, when
        // shifted, their inputs in the plane (outside them only padding columns, patched
        // below, would read other rows). Those before and after are zero.
        let clamp = |p: usize| p.clamp(columns.start, columns.end);
        let (p0, p1) = if ow_lo < ow_hi {
            (clamp(oh_lo * ow_n), clamp(oh_hi * ow_n))
        } else {
            (columns.start, columns.start)
        };
        let (q0, q1) = if shifted {
            let q0 = p0.max(minus.saturating_sub(plus)).min(p1);
            (q0, p1.min((plane + minus).saturating_sub(plus)).max(q0))
        } else {
            (p0, p1)
        };
        let (a, b) = (q0 - columns.start, q1 - columns.start);
        let first_oh = q0 / ow;
        for c in 0..g.channels {
            let at = (c * taps + t) * n.get();
            let (Some(row), Some(src)) = (
                tile.get_mut(at..at + n.get()),
                image.get(c * plane..(c + 1) * plane),
            ) else {
                return;
            };
            let Some((head, rest)) = row.split_at_mut_checked(a) else {
                return;
            };
            let Some((body, tail)) = rest.split_at_mut_checked(b - a) else {
                return;
            };
            head.fill(T::ZERO);
            tail.fill(T::ZERO);
            if body.is_empty() {
                continue;
            }
            if shifted {
                // `q0 + plus >= minus` for a non-empty body.
                let from = q0 + plus - minus;
                if let Some(src) = src.get(from..from + body.len()) {
                    body.copy_from_slice(src);
                }
                if ow_lo > 0 || ow_hi < ow_n {
                    patch_columns(body, q0, first_oh * ow_n, ow, (ow_lo, ow_hi));
                }
                continue;
            }
            // Row by row: the partial rows at the tile's ends (`share`), the whole rows
            // between them in a loop of their own.
            let whole_from = q0.div_ceil(ow_n) * ow_n;
            let whole_to = (q1 / ow * ow_n).max(whole_from);
            // Where output row `line`'s column 0 reads its plane: `row + j` for column `j` (the
            // sum wraps for padding columns, which read nothing).
            let input_of = |line: usize| (line / ow * row_step + plus).wrapping_sub(minus);
            let head_end = whole_from.min(q1);
            if q0 < head_end {
                let line = first_oh * ow_n;
                let out = body.get_mut(..head_end - q0).unwrap_or_default();
                share(
                    out,
                    q0 - line..head_end - line,
                    (ow_lo, ow_hi),
                    src,
                    input_of(line),
                );
            }
            if let Some(rows) = body.get_mut(whole_from - q0..whole_to - q0) {
                let mut row = input_of(whole_from);
                for out in rows.chunks_exact_mut(ow_n) {
                    share(out, 0..ow_n, (ow_lo, ow_hi), src, row);
                    row = row.wrapping_add(row_step);
                }
            }
            if whole_to.max(head_end) < q1 {
                let line = whole_to.max(head_end) / ow * ow_n;
                let out = body.get_mut(line.max(q0) - q0..).unwrap_or_default();
                share(
                    out,
                    line.max(q0) - line..q1 - line,
                    (ow_lo, ow_hi),
                    src,
                    input_of(line),
                );
            }
        }
    }
}

/// Columns `cols` of one output row of a tap, into `out`: those in `lo..hi` read the
/// input, column `j` from `src[row + j]` (`row` wraps below zero: only the sums for
/// `lo..hi` are used), the others are padding (zero).
#[inline(always)]
fn share<T: Element>(
    out: &mut [T],
    cols: Range<usize>,
    (lo, hi): (usize, usize),
    src: &[T],
    row: usize,
) {
    let (i0, i1) = (
        lo.clamp(cols.start, cols.end),
        hi.clamp(cols.start, cols.end),
    );
    let Some((before, rest)) = out.split_at_mut_checked(i0 - cols.start) else {
        return;
    };
    let Some((inner, after)) = rest.split_at_mut_checked(i1 - i0) else {
        return;
    };
    fill_zero(before);
    fill_zero(after);
    if let Some(src) = src.get(row.wrapping_add(i0)..row.wrapping_add(i1)) {
        copy_short(inner, src);
    }
}

/// Zeroes the padding columns `0..lo` and `hi..OW` of every output row in `body`, the
/// outputs from `q0` on (`first_line <= q0` starts the row of `q0`).
#[inline(always)]
fn patch_columns<T: Element>(
    body: &mut [T],
    q0: usize,
    first_line: usize,
    ow: NonZeroUsize,
    (lo, hi): (usize, usize),
) {
    let q1 = q0 + body.len();
    let mut line = first_line;
    while line < q1 {
        for span in [line..line + lo, line + hi..line + ow.get()] {
            let (a, b) = (span.start.max(q0) - q0, span.end.min(q1).max(q0) - q0);
            if let Some(run) = body.get_mut(a..b.max(a)) {
                fill_zero(run);
            }
        }
        line += ow.get();
    }
}

/// Zeroes a slice that is usually empty or one element long (the padding at a row's ends).
#[inline(always)]
fn fill_zero<T: Element>(run: &mut [T]) {
    match run {
        [] => {}
        [x] => *x = T::ZERO,
        _ => run.fill(T::ZERO),
    }
}

/// `dst.copy_from_slice(src)` for equal-length slices, in fixed 8-element blocks that compile
/// to vector moves, so a short row costs no call into `memcpy`.
///
/// Built from checked `get`s and array copies, which cannot panic even where the optimizer
/// outlines them (`opt-level = "z"`); with equal lengths every `get` succeeds.
#[inline(always)]
pub(crate) fn copy_short<T: Element>(dst: &mut [T], src: &[T]) {
    const BLOCK: usize = 8;
    let n = dst.len();
    if n < BLOCK || src.len() != n {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        return;
    }
    let block = |dst: &mut [T], at: usize| {
        let d = dst.get_mut(at..at + BLOCK).map(<&mut [T; BLOCK]>::try_from);
        let s = src.get(at..at + BLOCK).map(<&[T; BLOCK]>::try_from);
        if let (Some(Ok(d)), Some(Ok(s))) = (d, s) {
            *d = *s;
        }
    };
    let mut at = 0;
    while at + BLOCK < n {
        block(dst, at);
        at += BLOCK;
    }
    // The tail as one more block overlapping the last full one.
    block(dst, n - BLOCK);
}

/// Folds every image's column matrix back into its image: the adjoint of [`im2col`].
///
/// Each column element is added to the input position it was read from (overlapping windows
/// accumulate; padding positions are dropped), so `<im2col(x), y> == <x, col2im(y)>`. With
/// [`Accum::Replace`] the image is zeroed first (Caffe's contract) and never read; with
/// [`Accum::Add`] the result is added to what the image holds (Darknet's).
///
/// # Errors
/// [`Error::BufferLength`] unless `col.len() == g.col_len()` and `input.len() ==
/// g.input_len()`.
///
/// ```
/// use nchw::{col2im, Accum, Im2col, Shape, Window};
/// let g = Im2col::new(Shape::new(1, 1, 1, 3)?, Window::new(1, 2))?; // two overlapping windows
/// let col = [1.0, 10.0, 2.0, 20.0]; // tap 0: [1, 10], tap 1: [2, 20]
/// let mut image = [f32::NAN; 3];
/// col2im(&g, &col, &mut image, Accum::Replace)?;
/// assert_eq!(image, [1.0, 12.0, 20.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn col2im<T: Float>(g: &Im2col, col: &[T], input: &mut [T], accum: Accum) -> Result<(), Error> {
    check_len("col", g.col_len(), col.len())?;
    check_len("input", g.input_len(), input.len())?;
    if accum == Accum::Replace {
        input.fill(T::ZERO);
    }
    for (matrix, image) in pairs(chunks(col, g.matrix_len()), chunks(input, g.image_len())) {
        fold(g, matrix, 0..g.cols(), image);
    }
    Ok(())
}

/// Folds a `[rows(), columns.len()]` tile of one image's column matrix back into that image
/// (one image of the batch): the adjoint of [`im2col_columns`].
///
/// With [`Accum::Add`] the tile's contributions are added to the image, so the tiles of any
/// split of `0..cols()` folded one after another give [`col2im`]; [`Accum::Replace`] zeroes
/// the image first (for the first tile of such a sequence).
///
/// # Errors
/// [`Error::InvalidRange`] unless `columns` lies within `0..g.cols()`;
/// [`Error::BufferLength`] unless `tile.len() == g.tile_len(columns.len())` and
/// `image.len() == g.image_len()`.
///
/// ```
/// use nchw::{col2im_columns, Accum, Im2col, Shape, Window};
/// let g = Im2col::new(Shape::new(1, 1, 1, 3)?, Window::new(1, 2))?;
/// let mut image = [f32::NAN; 3];
/// col2im_columns(&g, &[1.0, 2.0], 1..2, &mut image, Accum::Replace)?; // window 1: taps at 1 and 2
/// col2im_columns(&g, &[10.0, 20.0], 0..1, &mut image, Accum::Add)?; // window 0: taps at 0 and 1
/// assert_eq!(image, [10.0, 21.0, 2.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn col2im_columns<T: Float>(
    g: &Im2col,
    tile: &[T],
    columns: Range<usize>,
    image: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    let n = g.check_range(&columns)?;
    check_len("tile", g.tile_len(n), tile.len())?;
    check_len("image", g.image_len(), image.len())?;
    if accum == Accum::Replace {
        image.fill(T::ZERO);
    }
    fold(g, tile, columns, image);
    Ok(())
}

/// [`col2im_columns`] with [`Accum::Add`], for callers that checked its arguments: `columns`
/// within `0..g.cols()`, `tile` of `g.tile_len(columns.len())` and `image` of
/// `g.image_len()` elements.
pub(crate) fn fold<T: Element>(g: &Im2col, tile: &[T], columns: Range<usize>, image: &mut [T]) {
    debug_assert!(g.check_range(&columns).is_ok());
    debug_assert!(tile.len() == g.tile_len(columns.len()) && image.len() == g.image_len());
    let stride = g.window.stride_w;
    g.for_each_segment(columns, |s| {
        if s.len == 0 {
            return;
        }
        // As in `im2col_columns`: checked slices and gets that never fail.
        let start = s.dst + s.zeros_before;
        let (Some(src), Some(dst)) = (
            tile.get(start..start + s.len),
            image.get_mut(s.src..s.src + (s.len - 1) * stride + 1),
        ) else {
            return;
        };
        if stride == 1 {
            for (d, x) in dst.iter_mut().zip(src) {
                *d += *x;
            }
        } else {
            // As in `im2col_columns`: element i lands on element `i * stride` of `dst`.
            for i in 0..src.len() {
                // SAFETY: `dst` holds `(s.len - 1) * stride + 1` elements and `src` `s.len`
                // (the `get`s above), so `i * stride < dst.len()`.
                unsafe { *dst.get_unchecked_mut(i * stride) += *src.get_unchecked(i) };
            }
        }
    });
}
