//! The pooling inner loops: one input row's taps applied to a run of one output row.
//!
//! Every operation walks output rows; for each it visits the input rows its windows cover, in
//! tap order, and applies one *pass* per input row to the run of outputs. Within a pass an
//! output's taps are visited left to right, so each window is scanned in row-major order,
//! exactly as the definitions say. A pass splits its outputs into the *interior* (every tap
//! inside the input: no checks, a straight loop the compiler vectorizes across the output
//! width) and the few *border* outputs near the left and right edges (per-tap checks). One
//! [`pass`] does this for every operation, generic over a [`Reducer`]: [`Max`] (with or
//! without the argmax), [`Sum`], [`Spread`] (the average's gradient scatter).
//!
//! All functions are `#[inline(always)]` so that they are compiled inside the ISA wrappers of
//! [`super::isa`]; the common windows are instantiated with constant kernel, stride and
//! dilation so their loops unroll and vectorize.
//!
//! No panic path survives optimization (the firmware's panic-free link checks it): the sizes
//! slices are cut by are `NonZeroUsize`, proven once by [`Pool2d::new`](super::Pool2d::new); planes and rows are
//! walked with [`chunks`](crate::walk::chunks) and [`Geo::window_rows`]; and where the optimizer cannot see that an
//! index is in bounds, the passes read without a check, each access justified by the
//! geometry (an interior output's taps lie inside the row) or by the reducers' `# Safety`
//! contracts (rows `W` long, indices as many as outputs).

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

    /// Taps of output `o` along `along` (its row taps for an output row, its column taps for
    /// an output column) within the padded input (`include_pad`) or within the input: a
    /// factor of an average window's divisor (dense windows only).
    #[inline(always)]
    pub fn counted(&self, along: Along, o: usize, include_pad: bool) -> usize {
        let (stride, kernel, before, input, after) = match along {
            Along::Rows => (self.sh, self.kh, self.top, self.h.get(), self.bottom),
            Along::Cols => (self.sw, self.kw, self.left, self.w.get(), self.right),
        };
        let extent = (before, input, before + input + after);
        count(o * stride, kernel, extent, include_pad)
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
    /// a square one of the [`Self::stride2_taps`] (2 or 3 wide, column stride 2, no column
    /// dilation), of row stride 2, no row dilation.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn strips(&self, planes: usize) -> Option<Plan> {
        let square = |&k: &usize| self.kh == k && self.sh == 2 && self.dh.get() == 1;
        let k = self.stride2_taps().filter(square)?;
        Some(Plan {
            planes,
            h: self.h.get(),
            w: self.w.get(),
            out_h: self.out_h.get(),
            out_w: self.out_w.get(),
            k,
            top: self.top,
            left: self.left,
            padded_h: self.top + self.h.get() + self.bottom,
            padded_w: self.left + self.w.get() + self.right,
        })
    }

    /// The outputs `rows` x `cols` (absolute output coordinates) as a rectangle for the
    /// stride-2 kernels, its first output at `y` in an output of row step `y_row`: interior
    /// outputs, or (for kernels that take padding) any columns of interior rows.
    pub fn rect(&self, rows: (usize, usize), cols: (usize, usize), y: usize, y_row: usize) -> Rect {
        let w = self.w.get();
        let (at, lead) = self.first_col(cols.0);
        Rect {
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
    pub fn row_rect(&self, oh: usize, cols: (usize, usize), y: usize) -> Rect {
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
        Rect {
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

/// An axis of a plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Along {
    Rows,
    Cols,
}

/// Taps of a dense window starting at padded coordinate `start`, `kernel` long, counted
/// within the padded extent `0..padded` or within the input `before..before + input`
/// (`extent` is `(before, input, padded)`). The window is never empty (checked by
/// [`Pool2d::new`]), so nothing underflows.
#[inline(always)]
pub(super) fn count(
    start: usize,
    kernel: usize,
    (before, input, padded): (usize, usize, usize),
    include_pad: bool,
) -> usize {
    let end = start + kernel;
    if include_pad {
        end.min(padded) - start
    } else {
        end.min(before + input) - start.max(before)
    }
}

/// What a pass does with the taps of one input row: the reducer it is generic over.
///
/// For each border output `j` of its run (`0..len()`), the pass calls [`load`](Self::load),
/// then [`tap`](Self::tap) for each of the output's taps in this row, left to right, with the
/// tap's input column `c`, then [`store`](Self::store); then it [`narrow`](Self::narrow)s
/// the reducer to the interior and does the same there, the first tap through
/// [`first`](Self::first) if [`FIRST`](Self::FIRST).
///
/// The methods' preconditions (`j < len()`, `c` below the row's length: `W`, or the
/// interior's columns after `narrow`) are what lets an implementation access its buffers
/// unchecked; its constructor states why those accesses are then in bounds.
pub(super) trait Reducer {
    /// The running value of one output.
    type Acc: Copy;

    /// Outputs in the run.
    fn len(&self) -> usize;

    /// Starts output `j`.
    ///
    /// # Safety
    /// `j < self.len()`.
    unsafe fn load(&self, j: usize) -> Self::Acc;

    /// Applies the tap at input column `c`.
    ///
    /// # Safety
    /// `c` is below the row's length (`W`, or `cols.len()` after [`narrow`](Self::narrow)).
    unsafe fn tap(&mut self, acc: &mut Self::Acc, c: usize);

    /// Whether the first tap of an interior output goes through [`first`](Self::first)
    /// rather than [`tap`](Self::tap).
    const FIRST: bool = false;

    /// Applies the first tap of an interior output, at input column `c`, right after
    /// [`load`](Self::load), when [`FIRST`](Self::FIRST).
    ///
    /// # Safety
    /// As [`tap`](Self::tap).
    #[inline(always)]
    unsafe fn first(&mut self, acc: &mut Self::Acc, c: usize) {
        // SAFETY: the caller's precondition.
        unsafe { self.tap(acc, c) }
    }

    /// Ends output `j`.
    ///
    /// # Safety
    /// `j < self.len()`.
    unsafe fn store(&mut self, j: usize, acc: Self::Acc);

    /// The reducer of the outputs `outs` and the input columns `cols` alone (output `j` and
    /// column `c` of the result are `outs.start + j` and `cols.start + c` of `self`).
    ///
    /// # Safety
    /// `outs.start <= outs.end <= self.len()`; `cols` lies within the row (`0..W`).
    unsafe fn narrow(self, outs: Range<usize>, cols: Range<usize>) -> Self;
}

/// The interior loop of a pass, instantiated for the common windows with constant kernel
/// width, stride and dilation so that it unrolls and vectorizes; `$body!(k, s, d)` expands
/// the generic body.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
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

/// On M-profile cores with an FPU one copy of the loop: nothing vectorizes there, the
/// stride-2 windows' interiors go to their kernels (`stride2`), and each copy costs flash.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
macro_rules! specialize {
    ($geo:expr, $body:ident) => {
        $body!($geo.kw, $geo.sw, $geo.dw)
    };
}

/// One pass: applies one input row's taps to the outputs `c0..c0 + r.len()` of one output
/// row through the reducer `r`, each output's taps in order. The border outputs take
/// per-tap checks; the interior ones (only if `interior`: otherwise the caller does them
/// with a faster kernel) a straight loop.
#[inline(always)]
pub(super) fn pass<R: Reducer>(geo: &Geo, c0: usize, mut r: R, interior: bool) {
    let n = r.len();
    let ((a, b), cols) = geo.interior(c0, n);
    // Border outputs: per-tap checks.
    for j in (0..a).chain(b..n) {
        // SAFETY: j < n: a <= b <= n (Geo::split).
        let mut acc = unsafe { r.load(j) };
        for k in 0..geo.kw {
            if let Some(c) = geo.col(c0 + j, k) {
                // SAFETY: c < W (Geo::col).
                unsafe { r.tap(&mut acc, c) };
            }
        }
        // SAFETY: as above.
        unsafe { r.store(j, acc) };
    }
    if a == b || !interior {
        return;
    }
    // SAFETY: a <= b <= n (Geo::split); the interior's columns lie within 0..W
    // (Geo::interior).
    let mut r = unsafe { r.narrow(a..b, cols) };
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            // Geo's own column taps, stride and dilation, as constants or not.
            let (k, s, d) = ($k, $s, $d);
            for j in 0..b - a {
                let p = j * s;
                // SAFETY: j < b - a == r.len(); the taps p + t * d, t < k, are at most
                // (b - a - 1) * s + (k - 1) * d < the interior's columns (Geo::interior).
                unsafe {
                    let mut acc = r.load(j);
                    if R::FIRST {
                        r.first(&mut acc, p);
                    }
                    for t in (R::FIRST as usize)..k {
                        r.tap(&mut acc, p + t * d);
                    }
                    r.store(j, acc);
                }
            }
        }};
    }
    specialize!(geo, body);
}

/// The max reducer: folds an input row into a run of outputs `y` (and their argmax in `idx`
/// when `IDX`; otherwise `idx` is empty and untouched). `FIRST`: this is the window's first
/// input row, so the outputs are assigned from it rather than read.
///
/// Update rule (PyTorch's): take `v` when `v > max || v.is_nan()`, so ties keep the first
/// maximum and a NaN wins, the last NaN last.
pub(super) struct Max<'a, T, const FIRST: bool, const IDX: bool> {
    x_row: &'a [T],
    /// The row's first element's flat index in its plane.
    base: u32,
    y: &'a mut [T],
    idx: &'a mut [u32],
}

impl<'a, T: Element, const FIRST: bool, const IDX: bool> Max<'a, T, FIRST, IDX> {
    /// The max of input row `x_row` (plane row starting at flat index `base`) into `y`.
    ///
    /// # Safety
    /// `x_row` is an input row, `W` long (as [`Geo::window_rows`] yields them); when `IDX`,
    /// `idx.len() == y.len()`.
    #[inline(always)]
    pub(super) unsafe fn new(
        x_row: &'a [T],
        base: u32,
        y: &'a mut [T],
        idx: &'a mut [u32],
    ) -> Self {
        debug_assert!(!IDX || idx.len() == y.len());
        Max {
            x_row,
            base,
            y,
            idx,
        }
    }
}

// `j < len() == y.len() (== idx.len() when IDX)` and `c < x_row.len()` (W, by `Max::new`'s
// contract, or the interior after `narrow`) bound every access.
impl<T: Element, const FIRST: bool, const IDX: bool> Reducer for Max<'_, T, FIRST, IDX> {
    /// The maximum, its index, and whether no tap has been taken yet.
    type Acc = (T, u32, bool);

    /// The window's first row assigns the outputs from its first tap.
    const FIRST: bool = FIRST;

    #[inline(always)]
    fn len(&self) -> usize {
        self.y.len()
    }

    #[inline(always)]
    unsafe fn load(&self, j: usize) -> Self::Acc {
        if FIRST {
            (T::NEG_INFINITY, 0, true)
        } else {
            // SAFETY: j < y.len() == idx.len() (when IDX).
            (
                get!(self.y, j),
                if IDX { get!(self.idx, j) } else { 0 },
                false,
            )
        }
    }

    #[inline(always)]
    unsafe fn tap(&mut self, (m, i, empty): &mut Self::Acc, c: usize) {
        // SAFETY: c < x_row.len().
        let v = get!(self.x_row, c);
        // Branch-free: the comparisons of real data are unpredictable.
        let take = *empty | (v > *m) | v.is_nan();
        *m = if take { v } else { *m };
        if IDX {
            *i = if take { self.base + c as u32 } else { *i };
        }
        *empty = false;
    }

    #[inline(always)]
    unsafe fn first(&mut self, acc: &mut Self::Acc, c: usize) {
        // SAFETY: c < x_row.len().
        *acc = (get!(self.x_row, c), self.base + c as u32, false);
    }

    #[inline(always)]
    unsafe fn store(&mut self, j: usize, (m, i, _): Self::Acc) {
        // SAFETY: j < y.len() == idx.len() (when IDX).
        *get_mut!(self.y, j) = m;
        if IDX {
            // SAFETY: as above.
            *get_mut!(self.idx, j) = i;
        }
    }

    #[inline(always)]
    unsafe fn narrow(self, outs: Range<usize>, cols: Range<usize>) -> Self {
        // SAFETY: the caller's precondition; idx.len() == y.len() when IDX.
        unsafe {
            Max {
                base: self.base + cols.start as u32,
                x_row: self.x_row.cut(cols),
                idx: if IDX {
                    self.idx.cut(outs.clone())
                } else {
                    self.idx
                },
                y: self.y.cut(outs),
            }
        }
    }
}

/// A run of outputs and an input row, which [`Sum`] adds the row's taps to the outputs of
/// and [`Spread`] adds the outputs to the taps of: the same walk, the additions going
/// opposite ways.
pub(super) struct Run<Y, X> {
    outs: Y,
    row: X,
}

/// The sum reducer: adds an input row's taps to a run of outputs, in tap order.
pub(super) type Sum<'a, T> = Run<&'a mut [T], &'a [T]>;

/// The spread reducer (the average's gradient scatter): adds output `j` of a run to every
/// tap of output `j` in an input row of the gradient.
pub(super) type Spread<'a, T> = Run<&'a [T], &'a mut [T]>;

impl<Y: Cut, X: Cut> Run<Y, X> {
    /// The reducer of the run `outs` and the input row `row`.
    ///
    /// # Safety
    /// `row` is an input row, `W` long (as [`Geo::window_rows`] yields them).
    #[inline(always)]
    pub(super) unsafe fn new(outs: Y, row: X) -> Self {
        Run { outs, row }
    }
}

/// The additions of [`Sum`] and [`Spread`].
trait Add<T> {
    /// Adds the tap at column `c` to or from `acc`.
    ///
    /// # Safety
    /// `c` is below the row's length.
    unsafe fn add(&mut self, acc: &mut T, c: usize);

    /// Ends output `j`.
    ///
    /// # Safety
    /// `j` is below the run's length.
    unsafe fn end(&mut self, j: usize, acc: T);
}

impl<T: Element> Add<T> for Sum<'_, T> {
    #[inline(always)]
    unsafe fn add(&mut self, acc: &mut T, c: usize) {
        // SAFETY: c < row.len() (the caller's precondition).
        *acc += get!(self.row, c);
    }

    #[inline(always)]
    unsafe fn end(&mut self, j: usize, acc: T) {
        // SAFETY: j < outs.len() (the caller's precondition).
        *get_mut!(self.outs, j) = acc;
    }
}

impl<T: Element> Add<T> for Spread<'_, T> {
    #[inline(always)]
    unsafe fn add(&mut self, v: &mut T, c: usize) {
        // SAFETY: c < row.len() (the caller's precondition).
        *get_mut!(self.row, c) += *v;
    }

    #[inline(always)]
    unsafe fn end(&mut self, _: usize, _: T) {}
}

// `j < len() == outs.len()` and `c < row.len()` (W, by `Run::new`'s contract, or the
// interior after `narrow`) bound every access.
impl<T: Element, Y: Cut<Item = T>, X: Cut<Item = T>> Reducer for Run<Y, X>
where
    Self: Add<T>,
{
    type Acc = T;

    #[inline(always)]
    fn len(&self) -> usize {
        self.outs.len()
    }

    #[inline(always)]
    unsafe fn load(&self, j: usize) -> T {
        // SAFETY: j < outs.len().
        unsafe { self.outs.read(j) }
    }

    #[inline(always)]
    unsafe fn tap(&mut self, acc: &mut T, c: usize) {
        // SAFETY: c < row.len().
        unsafe { self.add(acc, c) }
    }

    #[inline(always)]
    unsafe fn store(&mut self, j: usize, acc: T) {
        // SAFETY: j < outs.len().
        unsafe { self.end(j, acc) }
    }

    #[inline(always)]
    unsafe fn narrow(self, outs: Range<usize>, cols: Range<usize>) -> Self {
        // SAFETY: the caller's precondition.
        unsafe {
            Run {
                outs: self.outs.cut(outs),
                row: self.row.cut(cols),
            }
        }
    }
}

/// A slice a reducer reads or writes, shared or not, cut without bounds checks.
pub(super) trait Cut: Sized + core::ops::Deref<Target = [Self::Item]> {
    /// The element.
    type Item: Copy;

    /// Element `i`.
    ///
    /// # Safety
    /// `i < self.len()`.
    #[inline(always)]
    unsafe fn read(&self, i: usize) -> Self::Item {
        // SAFETY: the caller's precondition.
        get!(**self, i)
    }

    /// The elements `r`.
    ///
    /// # Safety
    /// `r.start <= r.end <= self.len()`.
    unsafe fn cut(self, r: Range<usize>) -> Self;
}

impl<T: Copy> Cut for &[T] {
    type Item = T;

    #[inline(always)]
    unsafe fn cut(self, r: Range<usize>) -> Self {
        // SAFETY: the caller's precondition (checked in debug builds by get_unchecked).
        unsafe { self.get_unchecked(r) }
    }
}

impl<T: Copy> Cut for &mut [T] {
    type Item = T;

    #[inline(always)]
    unsafe fn cut(self, r: Range<usize>) -> Self {
        // SAFETY: the caller's precondition (checked in debug builds by get_unchecked).
        unsafe { self.get_unchecked_mut(r) }
    }
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

/// A rectangle of outputs of one plane for the stride-2 kernels, each row's taps read from its window's input rows.
///
/// Tap `t` of output column `j` in a tap row starting at offset `row` (`x`, then `x_row` per
/// output row and `x_tap` per tap row) is input `row + 2j + t - lead`, read only if
/// `0 <= 2j + t - lead < width`: the rest is padding (or ceil-mode overhang), never
/// selected. A rectangle of interior outputs has `lead == 0` and `width` at least
/// `Rect::span`; only kernels with `Kernels::padded` (stride-2) are given others.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rect {
    /// Offset in the input plane of the first output's first tap (its first readable one).
    pub x: usize,
    /// Input offset step between output rows (`stride_h * W`).
    pub x_row: usize,
    /// Input offset step between tap rows (`dilation_h * W`).
    pub x_tap: usize,
    /// Tap rows (`kernel_h`).
    pub taps_h: usize,
    /// Output rows and columns.
    pub rows: usize,
    pub cols: usize,
    /// Offset in the output of the first output, and the step between output rows.
    pub y: usize,
    pub y_row: usize,
    /// Padding columns before `x` in the first output's window, and the readable columns of
    /// a tap row from `x` on.
    pub lead: usize,
    pub width: usize,
}

/// The geometry the strip kernels need: a `k x k` window (`k` 2 or 3), stride 2, no dilation,
/// over `planes` planes of `h x w` into `out_h x out_w`.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub out_h: usize,
    pub out_w: usize,
    /// Window side.
    pub k: usize,
    /// Top and left padding (at most 1: at most half the kernel).
    pub top: usize,
    pub left: usize,
    /// The padded height and width (`top + h + bottom`, `left + w + right`).
    pub padded_h: usize,
    pub padded_w: usize,
}
