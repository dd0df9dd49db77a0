//! The pooling inner loops: one input row's taps applied to a run of one output row.
//!
//! Every operation walks output rows; for each it visits the input rows its windows cover, in
//! tap order, and applies one *pass* per input row to the run of outputs. Within a pass an
//! output's taps are visited left to right, so each window is scanned in row-major order,
//! exactly as the definitions say. A pass splits its outputs into the *interior* (every tap
//! inside the input: no checks, a straight loop the compiler vectorizes across the output
//! width) and the few *border* outputs near the left and right edges (per-tap checks).
//!
//! All functions are `#[inline(always)]` so that they are compiled inside the ISA wrappers of
//! [`super::isa`]; the common windows are instantiated with constant kernel, stride and
//! dilation so their loops unroll and vectorize.
//!
//! No panic path survives optimization (the firmware's panic-free link checks it): the sizes
//! slices are cut by are `NonZeroUsize`, proven once by [`Pool2d::new`](super::Pool2d::new); planes and rows are
//! walked with [`chunks`](crate::walk::chunks) and [`Geo::window_rows`]; and where the optimizer cannot see that an
//! index is in bounds, the passes read without a check, each access justified by the
//! geometry (an interior output's taps lie inside the row) or by the pass's `# Safety`
//! contract (rows `W` long, indices as many as outputs).

use core::mem;
use core::num::NonZeroUsize;
use core::ops::Range;

use super::Sizes;
use crate::element::Element;
use crate::shape::Shape;
use crate::window::Window;

/// Reads `$s[$i]` without a bounds check (checked in debug builds). Each use states why the
/// index is in bounds in a `// SAFETY:` comment.
macro_rules! get {
    ($s:expr, $i:expr) => {{
        let (s, i) = (&$s, $i);
        debug_assert!(i < s.len());
        // SAFETY: `i < s.len()` is the caller's invariant, stated at the call site.
        unsafe { *s.get_unchecked(i) }
    }};
}

/// `&mut $s[$i]` without a bounds check (checked in debug builds), like [`get`].
macro_rules! get_mut {
    ($s:expr, $i:expr) => {{
        let (s, i) = (&mut *$s, $i);
        debug_assert!(i < s.len());
        // SAFETY: `i < s.len()` is the caller's invariant, stated at the call site.
        unsafe { s.get_unchecked_mut(i) }
    }};
}

/// The pooling geometry unpacked for the loops.
///
/// Its fields are private to this module and set only from a validated [`Pool2d`], so the
/// loops may rely on them: in particular every tap of an interior output (`lo..hi`) lies
/// inside the input row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Geo {
    /// Input height and width.
    h: NonZeroUsize,
    w: NonZeroUsize,
    /// Output height and width.
    out_h: NonZeroUsize,
    out_w: NonZeroUsize,
    /// Row taps, stride, dilation, top and bottom padding.
    kh: usize,
    sh: usize,
    dh: NonZeroUsize,
    top: usize,
    bottom: usize,
    /// Column taps, stride, dilation, left and right padding.
    kw: usize,
    sw: usize,
    dw: usize,
    left: usize,
    right: usize,
    /// The interior outputs `lo..hi` of every output row: all their taps inside the input.
    lo: usize,
    hi: usize,
    /// The output rows `row_lo..row_hi` whose window rows are all inside the input.
    row_lo: usize,
    row_hi: usize,
}

impl Geo {
    /// The loops' view of a pooling of `window` over `input` into `output`, whose sizes
    /// [`Pool2d::new`] has validated (`sizes`): made once, by it.
    pub(super) const fn new(input: Shape, output: Shape, window: Window, sizes: Sizes) -> Self {
        // Interior = outputs whose first and last taps are both inside; the taps between
        // them are then inside too.
        let axis = window.axis_w(input.w());
        let (lo0, hi0) = axis.inside(0, output.w());
        let (lo1, hi1) = axis.inside((window.kernel_w - 1) * window.dilation_w, output.w());
        let lo = max(lo0, lo1);
        let axis = window.axis_h(input.h());
        let (rlo0, rhi0) = axis.inside(0, output.h());
        let (rlo1, rhi1) = axis.inside((window.kernel_h - 1) * window.dilation_h, output.h());
        let row_lo = max(rlo0, rlo1);
        Geo {
            h: sizes.h,
            w: sizes.w,
            out_h: sizes.out_h,
            out_w: sizes.out_w,
            kh: window.kernel_h,
            sh: window.stride_h,
            dh: sizes.dilation_h,
            top: window.padding.top,
            bottom: window.padding.bottom,
            kw: window.kernel_w,
            sw: window.stride_w,
            dw: window.dilation_w,
            left: window.padding.left,
            right: window.padding.right,
            lo,
            hi: max(min(hi0, hi1), lo),
            row_lo,
            row_hi: max(min(rhi0, rhi1), row_lo),
        }
    }

    /// Input width `W`.
    pub fn w(&self) -> usize {
        self.w.get()
    }

    /// Output height `OH`.
    pub fn out_h(&self) -> usize {
        self.out_h.get()
    }

    /// Output width `OW`.
    pub fn out_w(&self) -> NonZeroUsize {
        self.out_w
    }

    /// Elements of an input plane, `H * W` (the product does not overflow: it is at most
    /// the input's length, so the saturation never happens).
    pub fn plane_in(&self) -> NonZeroUsize {
        self.h.saturating_mul(self.w)
    }

    /// Elements of an output plane, `OH * OW` (no overflow, as for [`Self::plane_in`]).
    pub fn plane_out(&self) -> NonZeroUsize {
        self.out_h.saturating_mul(self.out_w)
    }

    /// The input rows output row `oh`'s window covers, in tap order (padding rows skipped).
    #[inline(always)]
    pub fn rows(&self, oh: usize) -> impl Iterator<Item = usize> {
        let (sh, dh, top, h) = (self.sh, self.dh.get(), self.top, self.h.get());
        (0..self.kh).filter_map(move |k| (oh * sh + k * dh).checked_sub(top).filter(|&r| r < h))
    }

    /// The rows of `plane` (an input plane) output row `oh`'s window covers, in tap order,
    /// each with its row number. Every row is exactly `W` long (and, its number being below
    /// `H`, inside the plane).
    #[inline(always)]
    pub fn window_rows<'a, T>(
        &self,
        plane: &'a [T],
        oh: usize,
    ) -> impl Iterator<Item = (usize, &'a [T])> {
        let w = self.w.get();
        self.rows(oh)
            .filter_map(move |ih| Some((ih, plane.get(ih * w..)?.get(..w)?)))
    }

    /// [`Self::window_rows`] of a mutable plane, without the row numbers: the first row,
    /// then every `dilation_h`-th, cut off the plane one after the other.
    #[inline(always)]
    pub fn window_rows_mut<'a, T>(
        &self,
        plane: &'a mut [T],
        oh: usize,
    ) -> impl Iterator<Item = &'a mut [T]> {
        let mut rows = self.rows(oh);
        let (first, count) = match rows.next() {
            Some(first) => (first, 1 + rows.count()),
            None => (0, 0),
        };
        let (w, dh) = (self.w.get(), self.dh.get());
        let mut rest = plane.get_mut(first * w..).unwrap_or_default();
        (0..count).map_while(move |_| {
            let (row, tail) = mem::take(&mut rest).split_at_mut_checked(w)?;
            rest = tail.get_mut((dh - 1) * w..).unwrap_or_default();
            Some(row)
        })
    }

    /// Row taps of output row `oh` within the padded input (`include_pad`) or within the
    /// input: the row factor of an average window's divisor (dense windows only).
    #[inline(always)]
    pub fn rows_counted(&self, oh: usize, include_pad: bool) -> usize {
        let padded = self.top + self.h.get() + self.bottom;
        count(
            oh * self.sh,
            self.kh,
            self.top,
            self.h.get(),
            padded,
            include_pad,
        )
    }

    /// Column taps of output `ow`, the column factor of the divisor, like `rows_counted`.
    #[inline(always)]
    pub fn cols_counted(&self, ow: usize, include_pad: bool) -> usize {
        let padded = self.left + self.w.get() + self.right;
        count(
            ow * self.sw,
            self.kw,
            self.left,
            self.w.get(),
            padded,
            include_pad,
        )
    }

    /// Column taps of an interior output: the whole kernel width.
    pub fn kernel_w(&self) -> usize {
        self.kw
    }

    /// Row taps of an interior output: the whole kernel height.
    pub fn kernel_h(&self) -> usize {
        self.kh
    }

    /// The input column of output `ow`'s tap `k`, unless it is padding or overhang.
    #[inline(always)]
    fn col(&self, ow: usize, k: usize) -> Option<usize> {
        (ow * self.sw + k * self.dw)
            .checked_sub(self.left)
            .filter(|&c| c < self.w.get())
    }

    /// The interior `a..b` of the outputs `c0..c0 + n` (as [`Self::split`]) and the input
    /// columns its taps read, `x0..x1`. These lie within `0..W`: the first tap of output
    /// `c0 + a >= lo` and the last tap of output `c0 + b - 1 < hi` are inside the input, by
    /// the definition of the interior. Empty when the interior is.
    #[inline(always)]
    pub fn interior(&self, c0: usize, n: usize) -> ((usize, usize), Range<usize>) {
        let (a, b) = self.split(c0, n);
        if a == b {
            return ((a, b), 0..0);
        }
        let x0 = (c0 + a) * self.sw - self.left;
        let x1 = (c0 + b - 1) * self.sw + (self.kw - 1) * self.dw + 1 - self.left;
        ((a, b), x0..x1)
    }

    /// The column taps of the stride-2 kernels (2 or 3), if this window is one they serve:
    /// column stride 2, no column dilation.
    pub fn stride2_taps(&self) -> Option<usize> {
        let fits = self.sw == 2 && self.dw == 1;
        (fits && (self.kw == 2 || self.kw == 3)).then_some(self.kw)
    }

    /// Whether every output is interior: all its taps inside the input.
    pub fn is_interior(&self) -> bool {
        self.lo == 0
            && self.hi == self.out_w.get()
            && self.row_lo == 0
            && self.row_hi == self.out_h.get()
    }

    /// The output rows `lo..hi` whose window rows all lie inside the input.
    pub fn interior_rows(&self) -> (usize, usize) {
        (self.row_lo, self.row_hi)
    }

    /// All `planes` planes as one plane `planes` times as tall, when no window crosses a plane
    /// boundary there (no top or bottom padding, `OH * stride_h == H`, and a window's rows
    /// within its stride), so that a kernel without indices can run over them in one call.
    /// `None` also when there are no planes.
    pub fn stacked(&self, planes: usize) -> Option<Geo> {
        let fits = self.top == 0
            && self.bottom == 0
            && self.out_h.get() * self.sh == self.h.get()
            && (self.kh - 1) * self.dh.get() < self.sh;
        let planes = NonZeroUsize::new(planes).filter(|_| fits)?;
        // The stacked planes are the input: their sizes do not saturate.
        let out_h = self.out_h.saturating_mul(planes);
        Some(Geo {
            h: self.h.saturating_mul(planes),
            out_h,
            row_lo: 0,
            row_hi: out_h.get(),
            ..*self
        })
    }

    /// The geometry of the strip kernels over `planes` planes, if they serve this window:
    /// square, 2 or 3 wide, stride 2, no dilation.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn strips(&self, planes: usize) -> Option<super::strips::Plan> {
        let fits = self.kh == self.kw
            && (self.kw == 2 || self.kw == 3)
            && self.sh == 2
            && self.sw == 2
            && self.dh.get() == 1
            && self.dw == 1;
        fits.then_some(super::strips::Plan {
            planes,
            h: self.h.get(),
            w: self.w.get(),
            out_h: self.out_h.get(),
            out_w: self.out_w.get(),
            k: self.kw,
            top: self.top,
            left: self.left,
            padded_h: self.top + self.h.get() + self.bottom,
            padded_w: self.left + self.w.get() + self.right,
        })
    }

    /// The outputs `rows` x `cols` (absolute output coordinates) as a rectangle for the
    /// stride-2 kernels, its first output at `y` in an output of row step `y_row`: interior
    /// outputs, or (for kernels that take padding) any columns of interior rows.
    pub fn rect(
        &self,
        rows: (usize, usize),
        cols: (usize, usize),
        y: usize,
        y_row: usize,
    ) -> super::stride2::Rect {
        let w = self.w.get();
        let (at, lead) = self.first_col(cols.0);
        super::stride2::Rect {
            x: (rows.0 * self.sh - self.top) * w + at,
            x_row: self.sh * w,
            x_tap: self.dh.get() * w,
            taps_h: self.kh,
            rows: rows.1 - rows.0,
            cols: cols.1 - cols.0,
            y,
            y_row,
            lead,
            width: w.saturating_sub(at),
        }
    }

    /// The input column output `ow`'s first tap reads, or, if that is padding, column 0 and
    /// the padding columns before it.
    fn first_col(&self, ow: usize) -> (usize, usize) {
        let start = ow * self.sw;
        (
            start.saturating_sub(self.left),
            self.left.saturating_sub(start),
        )
    }

    /// The columns `cols` of output row `oh` (any row, its window rows clipped to the input)
    /// as a one-row rectangle for the stride-2 kernels, its first output at `y`: interior
    /// columns, or any for kernels that take padding.
    pub fn row_rect(&self, oh: usize, cols: (usize, usize), y: usize) -> super::stride2::Rect {
        // The window's input rows are consecutive taps; at least one (no empty windows).
        let (mut first, mut taps) = (0, 0);
        for ih in self.rows(oh) {
            if taps == 0 {
                first = ih;
            }
            taps += 1;
        }
        let w = self.w.get();
        let (at, lead) = self.first_col(cols.0);
        super::stride2::Rect {
            x: first * w + at,
            x_row: 0,
            x_tap: self.dh.get() * w,
            taps_h: taps,
            rows: 1,
            cols: cols.1 - cols.0,
            y,
            y_row: 0,
            lead,
            width: w.saturating_sub(at),
        }
    }

    /// Splits the outputs `c0..c0 + n` into border and interior: the interior is `a..b`,
    /// relative to `c0`. Clamped in this order so that `a <= b <= n` is plain to the
    /// optimizer too.
    #[inline(always)]
    pub fn split(&self, c0: usize, n: usize) -> (usize, usize) {
        let b = self.hi.saturating_sub(c0).min(n);
        let a = self.lo.saturating_sub(c0).min(b);
        (a, b)
    }

    /// The outputs `y` (outputs `c0..c0 + y.len()`) split as [`Self::split`] says: the
    /// border on the left, the interior, the border on the right.
    #[inline(always)]
    pub fn split_mut<'a, U>(&self, c0: usize, y: &'a mut [U]) -> [&'a mut [U]; 3] {
        let (a, b) = self.split(c0, y.len());
        let (rest, tail) = y.split_at_mut(b);
        let (head, body) = rest.split_at_mut(a);
        [head, body, tail]
    }
}

/// Taps of a dense window starting at padded coordinate `start`, `kernel` long, counted
/// within the padded extent `0..padded` or within the input `before..before + input`. The
/// window is never empty (checked by [`Pool2d::new`]), so nothing underflows.
#[inline(always)]
pub(super) fn count(
    start: usize,
    kernel: usize,
    before: usize,
    input: usize,
    padded: usize,
    include_pad: bool,
) -> usize {
    let end = start + kernel;
    if include_pad {
        end.min(padded) - start
    } else {
        end.min(before + input) - start.max(before)
    }
}

/// The interior loop of a pass, instantiated for the common windows with constant kernel
/// width, stride and dilation so that it unrolls and vectorizes; `$body!(k, s, d)` expands
/// the generic body.
macro_rules! specialize {
    ($geo:expr, $body:ident) => {
        match ($geo.kw, $geo.sw, $geo.dw) {
            (2, 2, 1) => $body!(2, 2, 1),
            (3, 2, 1) => $body!(3, 2, 1),
            (3, 1, 1) => $body!(3, 1, 1),
            (k, s, d) => $body!(k, s, d),
        }
    };
}

/// Max pass: folds input row `x_row` (plane row starting at flat index `row_base`) into the
/// outputs `c0..c0 + y.len()` of one output row. `FIRST`: this is the window's first input
/// row, so the outputs are assigned from it rather than read. `IDX`: track the argmax in
/// `idx`, as long as `y` (otherwise `idx` is empty and untouched). `interior`: also do the
/// interior outputs (otherwise only the border ones, the caller doing the interior with a
/// faster kernel).
///
/// Update rule (PyTorch's): take `v` when `v > max || v.is_nan()`, so ties keep the first
/// maximum and a NaN wins, the last NaN last.
///
/// # Safety
/// `x_row` is an input row, `W` long (as [`Geo::window_rows`] yields them); when `IDX`,
/// `idx.len() == y.len()`.
#[inline(always)]
pub(super) unsafe fn max_pass<T: Element, const FIRST: bool, const IDX: bool>(
    geo: &Geo,
    x_row: &[T],
    row_base: u32,
    c0: usize,
    y: &mut [T],
    idx: &mut [u32],
    interior: bool,
) {
    debug_assert_eq!(x_row.len(), geo.w());
    debug_assert!(!IDX || idx.len() == y.len());
    let n = y.len();
    let ((a, b), cols) = geo.interior(c0, n);
    // Border outputs: per-tap checks.
    for j in (0..a).chain(b..n) {
        let ow = c0 + j;
        let (mut m, mut i) = if FIRST {
            (T::NEG_INFINITY, 0)
        } else {
            // SAFETY: j < n == y.len() == idx.len() (when IDX): a <= b <= n (Geo::split).
            (get!(y, j), if IDX { get!(idx, j) } else { 0 })
        };
        let mut empty = FIRST;
        for k in 0..geo.kw {
            if let Some(c) = geo.col(ow, k) {
                // SAFETY: c < W (Geo::col) == x_row.len() (the caller's precondition).
                let v = get!(x_row, c);
                // Branch-free: the comparisons of real data are unpredictable.
                let take = empty | (v > m) | v.is_nan();
                m = if take { v } else { m };
                i = if take { row_base + c as u32 } else { i };
                empty = false;
            }
        }
        // SAFETY: as above.
        *get_mut!(y, j) = m;
        if IDX {
            // SAFETY: as above.
            *get_mut!(idx, j) = i;
        }
    }
    if a == b || !interior {
        return;
    }
    // SAFETY: a <= b <= n == y.len() (Geo::split) == idx.len() (when IDX).
    let (y, idx) = unsafe {
        let idx = if IDX {
            idx.get_unchecked_mut(a..b)
        } else {
            idx
        };
        (y.get_unchecked_mut(a..b), idx)
    };
    let base = row_base + cols.start as u32;
    debug_assert!(cols.end <= x_row.len());
    // SAFETY: the interior's columns lie within 0..W (Geo::interior) and x_row is W long
    // (the caller's precondition).
    let xs = unsafe { x_row.get_unchecked(cols) };
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            // Geo's own column taps, stride and dilation, as constants or not.
            let (k, s, d) = ($k, $s, $d);
            for j in 0..y.len() {
                let p = j * s;
                let (mut m, mut i) = if FIRST {
                    // SAFETY: p <= (b - a - 1) * s < xs.len() (Geo::interior).
                    (get!(xs, p), base + p as u32)
                } else {
                    // SAFETY: j < y.len() == idx.len() (when IDX).
                    (get!(y, j), if IDX { get!(idx, j) } else { 0 })
                };
                for t in (FIRST as usize)..k {
                    // SAFETY: p + t * d <= (b - a - 1) * s + (k - 1) * d < xs.len()
                    // (Geo::interior).
                    let v = get!(xs, p + t * d);
                    let take = (v > m) | v.is_nan();
                    m = if take { v } else { m };
                    if IDX {
                        i = if take { base + (p + t * d) as u32 } else { i };
                    }
                }
                // SAFETY: j < y.len() == idx.len() (when IDX).
                *get_mut!(y, j) = m;
                if IDX {
                    // SAFETY: as above.
                    *get_mut!(idx, j) = i;
                }
            }
        }};
    }
    specialize!(geo, body);
}

/// Sum pass: adds input row `x_row`'s taps to the outputs `c0..c0 + y.len()`, in tap order
/// (the interior ones only if `interior`).
///
/// # Safety
/// As [`max_pass`]: `x_row` is `W` long.
#[inline(always)]
pub(super) unsafe fn sum_pass<T: Element>(
    geo: &Geo,
    x_row: &[T],
    c0: usize,
    y: &mut [T],
    interior: bool,
) {
    debug_assert_eq!(x_row.len(), geo.w());
    let n = y.len();
    let ((a, b), cols) = geo.interior(c0, n);
    for j in (0..a).chain(b..n) {
        // SAFETY: j < n == y.len(): a <= b <= n (Geo::split).
        let mut acc = get!(y, j);
        for k in 0..geo.kw {
            if let Some(c) = geo.col(c0 + j, k) {
                // SAFETY: c < W (Geo::col) == x_row.len() (the caller's precondition).
                acc += get!(x_row, c);
            }
        }
        // SAFETY: as above.
        *get_mut!(y, j) = acc;
    }
    if a == b || !interior {
        return;
    }
    // SAFETY: a <= b <= n == y.len() (Geo::split).
    let y = unsafe { y.get_unchecked_mut(a..b) };
    debug_assert!(cols.end <= x_row.len());
    // SAFETY: the interior's columns lie within 0..W (Geo::interior) and x_row is W long
    // (the caller's precondition).
    let xs = unsafe { x_row.get_unchecked(cols) };
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            let (k, s, d) = ($k, $s, $d);
            for (j, out) in y.iter_mut().enumerate() {
                let mut acc = *out;
                for t in 0..k {
                    // SAFETY: j * s + t * d <= (b - a - 1) * s + (k - 1) * d < xs.len()
                    // (Geo::interior).
                    acc += get!(xs, j * s + t * d);
                }
                *out = acc;
            }
        }};
    }
    specialize!(geo, body);
}

/// Spread pass: adds `g[j]` to every tap in input row `dx_row` of output `c0 + j`.
///
/// # Safety
/// As [`max_pass`]: `dx_row` is `W` long.
#[inline(always)]
pub(super) unsafe fn spread_pass<T: Element>(geo: &Geo, g: &[T], c0: usize, dx_row: &mut [T]) {
    debug_assert_eq!(dx_row.len(), geo.w());
    let n = g.len();
    let ((a, b), cols) = geo.interior(c0, n);
    for j in (0..a).chain(b..n) {
        // SAFETY: j < n == g.len(): a <= b <= n (Geo::split).
        let v = get!(g, j);
        for k in 0..geo.kw {
            if let Some(c) = geo.col(c0 + j, k) {
                // SAFETY: c < W (Geo::col) == dx_row.len() (the caller's precondition).
                *get_mut!(dx_row, c) += v;
            }
        }
    }
    if a == b {
        return;
    }
    // SAFETY: a <= b <= n == g.len() (Geo::split).
    let g = unsafe { g.get_unchecked(a..b) };
    debug_assert!(cols.end <= dx_row.len());
    // SAFETY: the interior's columns lie within 0..W (Geo::interior) and dx_row is W long
    // (the caller's precondition).
    let dx = unsafe { dx_row.get_unchecked_mut(cols) };
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            let (k, s, d) = ($k, $s, $d);
            for (j, &v) in g.iter().enumerate() {
                for t in 0..k {
                    // SAFETY: j * s + t * d <= (b - a - 1) * s + (k - 1) * d < dx.len()
                    // (Geo::interior).
                    *get_mut!(dx, j * s + t * d) += v;
                }
            }
        }};
    }
    specialize!(geo, body);
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}
