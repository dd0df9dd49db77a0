//! References for padding, im2col and col2im, and strategies for their geometries.

use nchw::{Float, Padding, Window};
use proptest::prelude::*;

/// Input coordinate of output `o`, tap `k`, or `None` in the padding.
pub fn source(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    before: usize,
    len: usize,
) -> Option<usize> {
    let i = (o * stride + k * dilation) as isize - before as isize;
    (0..len as isize).contains(&i).then_some(i as usize)
}

/// Output count along one axis, straight from the definition: the number of positions `o`
/// with `o * stride + kernel_field <= padded`.
pub fn out_len(
    input: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    before: usize,
    after: usize,
) -> usize {
    let field = (k - 1) * dilation + 1;
    (0..)
        .take_while(|o| o * stride + field <= input + before + after)
        .count()
}

/// A geometry: channels, height, width, window.
#[derive(Clone, Copy, Debug)]
pub struct Geom {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub window: Window,
}

impl Geom {
    pub fn out(&self) -> (usize, usize) {
        let w = &self.window;
        (
            out_len(
                self.h,
                w.kernel_h,
                w.stride_h,
                w.dilation_h,
                w.padding.top,
                w.padding.bottom,
            ),
            out_len(
                self.w,
                w.kernel_w,
                w.stride_w,
                w.dilation_w,
                w.padding.left,
                w.padding.right,
            ),
        )
    }
}

/// For every element of the `[c*kh*kw, oh*ow]` column matrix, in row-major order, the image
/// index it reads, or `None` where the window lies on padding.
pub fn unfold_map(g: &Geom) -> Vec<Option<usize>> {
    let w = &g.window;
    let (oh, ow) = g.out();
    let mut map = Vec::new();
    for c in 0..g.c {
        for kh in 0..w.kernel_h {
            for kw in 0..w.kernel_w {
                for y in 0..oh {
                    for x in 0..ow {
                        let ih = source(y, kh, w.stride_h, w.dilation_h, w.padding.top, g.h);
                        let iw = source(x, kw, w.stride_w, w.dilation_w, w.padding.left, g.w);
                        map.push(ih.zip(iw).map(|(i, j)| (c * g.h + i) * g.w + j));
                    }
                }
            }
        }
    }
    map
}

/// im2col of one `c x h x w` image into `[c*kh*kw, oh*ow]`.
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
        0..=3usize,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        1..=4usize,
        1..=3usize,
        1..=3usize,
        padding(3),
    )
        .prop_flat_map(|(c, kh, kw, sh, sw, dh, dw, p)| {
            let fh = (kh - 1) * dh + 1;
            let fw = (kw - 1) * dw + 1;
            // The input is at least 1 and large enough for one window with the padding.
            let h_min = fh.saturating_sub(p.top + p.bottom).max(1);
            let w_min = fw.saturating_sub(p.left + p.right).max(1);
            (h_min..h_min + 9, w_min..w_min + 9).prop_map(move |(h, w)| Geom {
                c,
                h,
                w,
                window: Window::new(kh, kw)
                    .with_stride(sh, sw)
                    .with_dilation(dh, dw)
                    .with_padding(p),
            })
        })
}
