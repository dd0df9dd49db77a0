//! The one-lane (portable, Cortex-M) depthwise forward for the most common filter: 3 x 3,
//! stride 1, no dilation. The nine weights and a sliding 3 x 3 window of inputs stay in
//! registers, three outputs per step so that the window slides by renaming rather than by
//! moves: per output three loads, nine multiply-adds and a store, no index arithmetic and no
//! bounds check in the loop.
//!
//! The taps are summed in the order of the generic kernel (row by row, bias first, each step
//! `w * x + acc`), so both give bit-identical results.

use crate::element::Element;

/// The three input values of one column of the window, top to bottom.
type Column<T> = [T; 3];

/// `bias + sum of w[3 kh + kw] * column kw [kh]`, in the generic kernel's order. Written out
/// tap by tap: at opt-level s a loop over the rows stays a loop, and the weights then stay in
/// memory.
#[inline(always)]
fn output<T: Element>(w: &[T; 9], bias: T, a: Column<T>, b: Column<T>, c: Column<T>) -> T {
    let [w0, w1, w2, w3, w4, w5, w6, w7, w8] = *w;
    let mut acc = bias;
    acc = w0 * a[0] + acc;
    acc = w1 * b[0] + acc;
    acc = w2 * c[0] + acc;
    acc = w3 * a[1] + acc;
    acc = w4 * b[1] + acc;
    acc = w5 * c[1] + acc;
    acc = w6 * a[2] + acc;
    acc = w7 * b[2] + acc;
    acc = w8 * c[2] + acc;
    acc
}

/// Writes `out[j] = bias + sum over kh, kw of w[3 kh + kw] * rows[kh][j + kw]` for every
/// `j < out.len()`. Returns false, writing nothing, unless every row holds at least
/// `out.len() + 2` elements (every tap inside).
#[inline(always)]
pub(super) fn row<T: Element>(rows: [&[T]; 3], w: &[T; 9], bias: T, out: &mut [T]) -> bool {
    let n = out.len();
    let [r0, r1, r2] = rows;
    if n == 0 || r0.len() < n + 2 || r1.len() < n + 2 || r2.len() < n + 2 {
        return false;
    }
    let w = *w;
    let (p0, p1, p2, y) = (r0.as_ptr(), r1.as_ptr(), r2.as_ptr(), out.as_mut_ptr());
    // SAFETY: `j < n + 2`, and each row holds at least `n + 2` elements (checked above).
    let column = |j: usize| unsafe { [*p0.add(j), *p1.add(j), *p2.add(j)] };
    let (mut a, mut b) = (column(0), column(1));
    let mut j = 0;
    while j + 3 <= n {
        let (c, d, e) = (column(j + 2), column(j + 3), column(j + 4));
        // SAFETY: `j + 2 < n`, the length of `out`.
        unsafe {
            *y.add(j) = output(&w, bias, a, b, c);
            *y.add(j + 1) = output(&w, bias, b, c, d);
            *y.add(j + 2) = output(&w, bias, c, d, e);
        }
        (a, b) = (d, e);
        j += 3;
    }
    while j < n {
        let c = column(j + 2);
        // SAFETY: `j < n`, the length of `out`.
        unsafe { *y.add(j) = output(&w, bias, a, b, c) };
        (a, b) = (b, c);
        j += 1;
    }
    true
}
