//! References for padding, im2col and col2im, and strategies for their geometries.

use super::Geom;
use nchw::{Float, Padding, Window};
use proptest::prelude::*;

/// For every element of the `[c*kh*kw, oh*ow]` column matrix, in row-major order, the image
/// index it reads, or `None` where the window lies on padding.
pub fn unfold_map(g: &Geom) -> Vec<Option<usize>> {
    let (oh, ow) = g.out_hw();
    let mut map = Vec::new();
    for c in 0..g.c {
        for kh in 0..g.kernel[0] {
            for kw in 0..g.kernel[1] {
                for y in 0..oh {
                    for x in 0..ow {
                        let ih = g.source(0, y, kh);
                        let iw = g.source(1, x, kw);
                        map.push(ih.zip(iw).map(|(i, j)| (c * g.h + i) * g.w + j));
                    }
                }
            }
        }
    }
    map
}

/// im2col of one `c x h x w` image (the geometry's batch is ignored) into `[c*kh*kw, oh*ow]`.
pub fn im2col<T: Float>(g: &Geom, image: &[T]) -> Vec<T> {
    unfold_map(g)
        .iter()
        .map(|i| i.map_or(T::ZERO, |i| image[i]))
        .collect()
}

/// col2im: adds every column element into the image position im2col read it from.
pub fn col2im<T: Float>(g: &Geom, col: &[T], image: &mut [T]) {
    for (k, i) in unfold_map(g).into_iter().enumerate() {
        if let Some(i) = i {
            image[i] += col[k];
        }
    }
}

/// Constant padding of `n x c x h x w`.
pub fn pad<T: Float>(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    p: Padding,
    value: T,
    x: &[T],
) -> Vec<T> {
    let (ph, pw) = (h + p.top + p.bottom, w + p.left + p.right);
    let mut out = Vec::new();
    for plane in 0..n * c {
        for i in 0..ph {
            for j in 0..pw {
                let inside = i >= p.top && i - p.top < h && j >= p.left && j - p.left < w;
                out.push(if inside {
                    x[(plane * h + i - p.top) * w + j - p.left]
                } else {
                    value
                });
            }
        }
    }
    out
}

/// Padding with each side in `0..=max`.
pub fn padding(max: usize) -> impl Strategy<Value = Padding> {
    (0..=max, 0..=max, 0..=max, 0..=max).prop_map(|(top, bottom, left, right)| Padding {
        top,
        bottom,
        left,
        right,
    })
}

/// A window and an input it fits: 1x1 windows, windows equal to the padded input, strides
/// larger than the window, dilation and asymmetric padding all come up.
pub fn geom() -> impl Strategy<Value = Geom> {
    (
        (0..=2usize, 1..=3usize),
        1..=4usize,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        1..=3usize,
        1..=3usize,
        padding(3),
    )
        .prop_flat_map(|((n, c), kh, kw, sh, sw, dh, dw, p)| {
            let fh = (kh - 1) * dh + 1;
            let fw = (kw - 1) * dw + 1;
            // The input is at least 1 and large enough for one window with the padding.
            let h_min = fh.saturating_sub(p.top + p.bottom).max(1);
            let w_min = fw.saturating_sub(p.left + p.right).max(1);
            (h_min..h_min + 9, w_min..w_min + 9).prop_map(move |(h, w)| {
                let window = Window::new(kh, kw)
                    .with_stride(sh, sw)
                    .with_dilation(dh, dw)
                    .with_padding(p);
                Geom::of_window(n, c, h, w, window)
            })
        })
}
