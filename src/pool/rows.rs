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

use super::Pool2d;
use crate::element::Element;

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
#[derive(Clone, Copy, Debug)]
pub(super) struct Geo {
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Output height and width.
    pub out_h: usize,
    pub out_w: usize,
    /// Row taps, stride, dilation, top and bottom padding.
    kh: usize,
    sh: usize,
    dh: usize,
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
    /// The output rows `row_lo..row_hi` whose window rows are all inside the input (used by
    /// the AVX-512 kernels only).
    #[cfg_attr(not(all(target_arch = "x86_64", not(miri))), allow(dead_code))]
    row_lo: usize,
    #[cfg_attr(not(all(target_arch = "x86_64", not(miri))), allow(dead_code))]
    row_hi: usize,
}

impl Geo {
    pub fn new(g: &Pool2d) -> Self {
        let (wnd, out) = (g.window, g.output);
        let axis = g.axis_w();
        // Interior = outputs whose first and last taps are both inside; the taps between
        // them are then inside too.
        let (lo0, hi0) = axis.inside(0, out.w());
        let (lo1, hi1) = axis.inside((wnd.kernel_w - 1) * wnd.dilation_w, out.w());
        let lo = lo0.max(lo1);
        let axis = g.window.axis_h(g.input.h());
        let (rlo0, rhi0) = axis.inside(0, out.h());
        let (rlo1, rhi1) = axis.inside((wnd.kernel_h - 1) * wnd.dilation_h, out.h());
        let row_lo = rlo0.max(rlo1);
        Geo {
            h: g.input.h(),
            w: g.input.w(),
            out_h: out.h(),
            out_w: out.w(),
            kh: wnd.kernel_h,
            sh: wnd.stride_h,
            dh: wnd.dilation_h,
            top: wnd.padding.top,
            bottom: wnd.padding.bottom,
            kw: wnd.kernel_w,
            sw: wnd.stride_w,
            dw: wnd.dilation_w,
            left: wnd.padding.left,
            right: wnd.padding.right,
            lo,
            hi: hi0.min(hi1).max(lo),
            row_lo,
            row_hi: rhi0.min(rhi1).max(row_lo),
        }
    }

    /// Elements of an input plane, `H * W`.
    pub fn plane_in(&self) -> usize {
        self.h * self.w
    }

    /// Elements of an output plane, `OH * OW`.
    pub fn plane_out(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The input rows output row `oh` covers, in tap order (padding rows skipped).
    #[inline(always)]
    pub fn rows(&self, oh: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.kh).filter_map(move |k| {
            (oh * self.sh + k * self.dh)
                .checked_sub(self.top)
                .filter(|&r| r < self.h)
        })
    }

    /// Row taps of output row `oh` within the padded input (`include_pad`) or within the
    /// input: the row factor of an average window's divisor (dense windows only).
    #[inline(always)]
    pub fn rows_counted(&self, oh: usize, include_pad: bool) -> usize {
        let padded = self.top + self.h + self.bottom;
        count(oh * self.sh, self.kh, self.top, self.h, padded, include_pad)
    }

    /// Column taps of output `ow`, the column factor of the divisor, like `rows_counted`.
    #[inline(always)]
    pub fn cols_counted(&self, ow: usize, include_pad: bool) -> usize {
        let padded = self.left + self.w + self.right;
        count(
            ow * self.sw,
            self.kw,
            self.left,
            self.w,
            padded,
            include_pad,
        )
    }

    /// Column taps of an interior output: the whole kernel width.
    pub fn kernel_w(&self) -> usize {
        self.kw
    }

    /// Row taps of an interior output: the whole kernel height.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn kernel_h(&self) -> usize {
        self.kh
    }

    /// The input column of output `ow`'s tap `k`, unless it is padding or overhang.
    #[inline(always)]
    fn col(&self, ow: usize, k: usize) -> Option<usize> {
        (ow * self.sw + k * self.dw)
            .checked_sub(self.left)
            .filter(|&c| c < self.w)
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    /// The column taps of the stride-2 kernels (2 or 3), if this window is one they serve:
    /// column stride 2, no column dilation.
    pub fn stride2_taps(&self) -> Option<usize> {
        let fits = self.sw == 2 && self.dw == 1;
        (fits && (self.kw == 2 || self.kw == 3)).then_some(self.kw)
    }

    /// The output rows `lo..hi` whose window rows all lie inside the input.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn interior_rows(&self) -> (usize, usize) {
        (self.row_lo, self.row_hi)
    }

    /// All `planes` planes as one plane `planes` times as tall, when no window crosses a plane
    /// boundary there (no top or bottom padding, `OH * stride_h == H`, and a window's rows
    /// within its stride), so that a kernel without indices can run over them in one call.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn stacked(&self, planes: usize) -> Option<Geo> {
        let fits = self.top == 0
            && self.bottom == 0
            && self.out_h * self.sh == self.h
            && (self.kh - 1) * self.dh < self.sh;
        fits.then(|| Geo {
            h: self.h * planes,
            out_h: self.out_h * planes,
            row_lo: 0,
            row_hi: self.out_h * planes,
            ..*self
        })
    }

    /// The interior outputs `rows` x `cols` (absolute output coordinates) as a rectangle for
    /// the AVX-512 kernels, its first output at `y` in an output of row step `y_row`.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn rect(
        &self,
        rows: (usize, usize),
        cols: (usize, usize),
        y: usize,
        y_row: usize,
    ) -> super::avx512::Rect {
        super::avx512::Rect {
            x: (rows.0 * self.sh - self.top) * self.w + cols.0 * self.sw - self.left,
            x_row: self.sh * self.w,
            x_tap: self.dh * self.w,
            taps_h: self.kh,
            rows: rows.1 - rows.0,
            cols: cols.1 - cols.0,
            y,
            y_row,
        }
    }

    /// The interior columns `cols` of output row `oh` (any row, its window rows clipped to
    /// the input) as a one-row rectangle for the AVX-512 kernels, its first output at `y`.
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    pub fn row_rect(&self, oh: usize, cols: (usize, usize), y: usize) -> super::avx512::Rect {
        // The window's input rows are consecutive taps; at least one (no empty windows).
        let (mut first, mut taps) = (0, 0);
        for ih in self.rows(oh) {
            if taps == 0 {
                first = ih;
            }
            taps += 1;
        }
        super::avx512::Rect {
            x: first * self.w + cols.0 * self.sw - self.left,
            x_row: 0,
            x_tap: self.dh * self.w,
            taps_h: taps,
            rows: 1,
            cols: cols.1 - cols.0,
            y,
            y_row: 0,
        }
    }

    /// Splits the outputs `c0..c0 + n` into border and interior: the interior is `a..b`,
    /// relative to `c0`.
    #[inline(always)]
    pub fn split(&self, c0: usize, n: usize) -> (usize, usize) {
        let c1 = c0 + n;
        let a = self.lo.max(c0).min(c1);
        let b = self.hi.max(a).min(c1);
        (a - c0, b - c0)
    }
}

/// Taps of a dense window starting at padded coordinate `start`, `kernel` long, counted
/// within the padded extent `0..padded` or within the input `before..before + input`. The
/// window is never empty (checked by [`Pool2d::new`]), so nothing underflows.
#[inline(always)]
fn count(
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
/// `idx` (otherwise `idx` is empty and untouched). `interior`: also do the interior outputs
/// (otherwise only the border ones, the caller doing the interior with a faster kernel).
///
/// Update rule (PyTorch's): take `v` when `v > max || v.is_nan()`, so ties keep the first
/// maximum and a NaN wins, the last NaN last.
#[inline(always)]
pub(super) fn max_pass<T: Element, const FIRST: bool, const IDX: bool>(
    geo: &Geo,
    x_row: &[T],
    row_base: u32,
    c0: usize,
    y: &mut [T],
    idx: &mut [u32],
    interior: bool,
) {
    let n = y.len();
    let (a, b) = geo.split(c0, n);
    // Border outputs: per-tap checks.
    for j in (0..a).chain(b..n) {
        let ow = c0 + j;
        let (mut m, mut i) = if FIRST {
            (T::NEG_INFINITY, 0)
        } else {
            (y[j], if IDX { idx[j] } else { 0 })
        };
        let mut empty = FIRST;
        for k in 0..geo.kw {
            if let Some(c) = geo.col(ow, k) {
                let v = x_row[c];
                // Branch-free: the comparisons of real data are unpredictable.
                let take = empty | (v > m) | v.is_nan();
                m = if take { v } else { m };
                i = if take { row_base + c as u32 } else { i };
                empty = false;
            }
        }
        y[j] = m;
        if IDX {
            idx[j] = i;
        }
    }
    if a == b || !interior {
        return;
    }
    let y = &mut y[a..b];
    let idx = if IDX { &mut idx[a..b] } else { idx };
    let x0 = (c0 + a) * geo.sw - geo.left;
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            let (k, s, d) = ($k, $s, $d);
            let n = y.len();
            let xs = &x_row[x0..x0 + (n - 1) * s + (k - 1) * d + 1];
            let base = row_base + x0 as u32;
            for j in 0..n {
                let p = j * s;
                let (mut m, mut i) = if FIRST {
                    // SAFETY: p <= (n - 1) * s < xs.len().
                    (get!(xs, p), base + p as u32)
                } else {
                    // SAFETY: j < n == y.len() == idx.len() (when IDX).
                    (get!(y, j), if IDX { get!(idx, j) } else { 0 })
                };
                for t in (FIRST as usize)..k {
                    // SAFETY: p + t * d <= (n - 1) * s + (k - 1) * d < xs.len().
                    let v = get!(xs, p + t * d);
                    let take = (v > m) | v.is_nan();
                    m = if take { v } else { m };
                    if IDX {
                        i = if take { base + (p + t * d) as u32 } else { i };
                    }
                }
                // SAFETY: j < n == y.len() == idx.len() (when IDX).
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

/// The max of window `(oh, ow)` of plane `xp` and its in-plane index, scanning the window's
/// input taps in row-major order with the same rule as [`max_pass`].
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub(super) fn max_window<T: Element>(geo: &Geo, xp: &[T], oh: usize, ow: usize) -> (T, u32) {
    let (mut m, mut i, mut empty) = (T::NEG_INFINITY, 0, true);
    for ih in geo.rows(oh) {
        for k in 0..geo.kw {
            if let Some(c) = geo.col(ow, k) {
                let at = ih * geo.w + c;
                let v = xp[at];
                // Branch-free: the comparisons of real data are unpredictable.
                let take = empty | (v > m) | v.is_nan();
                m = if take { v } else { m };
                i = if take { at as u32 } else { i };
                empty = false;
            }
        }
    }
    (m, i)
}

/// Sum pass: adds input row `x_row`'s taps to the outputs `c0..c0 + y.len()`, in tap order
/// (the interior ones only if `interior`).
#[inline(always)]
pub(super) fn sum_pass<T: Element>(geo: &Geo, x_row: &[T], c0: usize, y: &mut [T], interior: bool) {
    let n = y.len();
    let (a, b) = geo.split(c0, n);
    for j in (0..a).chain(b..n) {
        let mut acc = y[j];
        for k in 0..geo.kw {
            if let Some(c) = geo.col(c0 + j, k) {
                acc += x_row[c];
            }
        }
        y[j] = acc;
    }
    if a == b || !interior {
        return;
    }
    let y = &mut y[a..b];
    let x0 = (c0 + a) * geo.sw - geo.left;
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            let (k, s, d) = ($k, $s, $d);
            let n = y.len();
            let xs = &x_row[x0..x0 + (n - 1) * s + (k - 1) * d + 1];
            for (j, out) in y.iter_mut().enumerate() {
                let mut acc = *out;
                for t in 0..k {
                    // SAFETY: j * s + t * d <= (n - 1) * s + (k - 1) * d < xs.len().
                    acc += get!(xs, j * s + t * d);
                }
                *out = acc;
            }
        }};
    }
    specialize!(geo, body);
}

/// Spread pass: adds `g[j]` to every tap in input row `dx_row` of output `c0 + j`.
#[inline(always)]
pub(super) fn spread_pass<T: Element>(geo: &Geo, g: &[T], c0: usize, dx_row: &mut [T]) {
    let n = g.len();
    let (a, b) = geo.split(c0, n);
    for j in (0..a).chain(b..n) {
        for k in 0..geo.kw {
            if let Some(c) = geo.col(c0 + j, k) {
                dx_row[c] += g[j];
            }
        }
    }
    if a == b {
        return;
    }
    let g = &g[a..b];
    let x0 = (c0 + a) * geo.sw - geo.left;
    macro_rules! body {
        ($k:expr, $s:expr, $d:expr) => {{
            let (k, s, d) = ($k, $s, $d);
            let n = g.len();
            let dx = &mut dx_row[x0..x0 + (n - 1) * s + (k - 1) * d + 1];
            for (j, &v) in g.iter().enumerate() {
                for t in 0..k {
                    // SAFETY: j * s + t * d <= (n - 1) * s + (k - 1) * d < dx.len().
                    *get_mut!(dx, j * s + t * d) += v;
                }
            }
        }};
    }
    specialize!(geo, body);
}
