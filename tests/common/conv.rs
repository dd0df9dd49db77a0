//! Naive convolution references, written straight from the definitions (PyTorch's
//! `F.conv2d`): the seven-deep forward loop and its direct gradients, in `f64`.

use super::Geom;
use proptest::prelude::*;

/// The largest sizes [`geom`] draws.
pub struct Limits {
    /// Input height and width.
    pub plane: usize,
    /// Padding on each side.
    pub pad: usize,
    /// Dilation each way.
    pub dilation: usize,
    /// Output channels per group (but for depthwise, whose multiplier runs to 9).
    pub out_per_group: usize,
}

/// Random geometries in five families: general, 1x1 stride 1 (the GEMM-on-input path),
/// depthwise with a channel multiplier of 1 to 9 (both sides of the direct kernel's limit,
/// 8), window equal to the padded input, and stride larger than the window; batches of 0
/// to 3, up to 3 groups of up to 3 input channels, kernels up to 4 x 4, strides up to 3.
pub fn geom(l: Limits) -> impl Strategy<Value = Geom> {
    (
        (
            0..5usize,
            0..=3usize,
            1..=3usize,
            1..=3usize,
            1..=l.out_per_group,
        ),
        (1..=l.plane, 1..=l.plane, 1..=4usize, 1..=4usize),
        (1..=3usize, 1..=3usize, 1..=l.dilation, 1..=l.dilation),
        [0..=l.pad, 0..=l.pad, 0..=l.pad, 0..=l.pad],
        1..=9usize,
    )
        .prop_map(
            |((family, n, groups, cg, ocg), (h, w, kh, kw), (sh, sw, dh, dw), pad, multiplier)| {
                let mut g = Geom::conv2d(
                    n,
                    groups * cg,
                    h,
                    w,
                    groups * ocg,
                    groups,
                    (kh, kw),
                    (sh, sw),
                    (dh, dw),
                    pad,
                );
                match family {
                    1 => {
                        (g.kernel, g.stride) = ([1, 1], [1, 1]);
                        g.pad = [[0, 0], [0, 0]];
                    }
                    2 => {
                        (g.groups, g.c) = (g.c, g.c);
                        g.oc = g.c * multiplier;
                    }
                    3 => {
                        g.dilation = [1, 1];
                        g.kernel = [(h + pad[0] + pad[1]).max(1), (w + pad[2] + pad[3]).max(1)];
                    }
                    4 => g.stride = [kh + 1 + sh, kw + sw],
                    _ => {}
                }
                g
            },
        )
        .prop_filter("the window fits", |g| g.fits())
}

impl Geom {
    /// Calls `f(x_index, w_index, y_index)` for every multiply-add of the convolution: the
    /// seven-deep loop over n, oc, oh, ow, ci, kh, kw, skipping taps in the padding.
    pub fn for_each_mac(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh_n, ow_n) = self.out_hw();
        let (cg, ocg) = (self.c / self.groups, self.oc / self.groups);
        for n in 0..self.n {
            for oc in 0..self.oc {
                let g = oc / ocg;
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let yi = ((n * self.oc + oc) * oh_n + oh) * ow_n + ow;
                        for ci in 0..cg {
                            for i in 0..self.kernel[0] {
                                for j in 0..self.kernel[1] {
                                    let (Some(ih), Some(iw)) =
                                        (self.source(0, oh, i), self.source(1, ow, j))
                                    else {
                                        continue;
                                    };
                                    let c = g * cg + ci;
                                    let xi = ((n * self.c + c) * self.h + ih) * self.w + iw;
                                    let wi =
                                        ((oc * cg + ci) * self.kernel[0] + i) * self.kernel[1] + j;
                                    f(xi, wi, yi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv(x, w) + b`, then clamped to `[lo, hi]` (`torch.clamp`) if asked.
pub fn forward(
    g: &Geom,
    x: &[f64],
    w: &[f64],
    b: Option<&[f64]>,
    clamp: Option<(f64, f64)>,
) -> Vec<f64> {
    let mut y = vec![0.0; g.y_len()];
    g.for_each_mac(|xi, wi, yi| y[yi] += x[xi] * w[wi]);
    let plane = g.y_len() / g.n.max(1) / g.oc;
    for (i, v) in y.iter_mut().enumerate() {
        if let Some(b) = b {
            *v += b[(i / plane) % g.oc];
        }
        if let Some((lo, hi)) = clamp {
            *v = v.max(lo).min(hi);
        }
    }
    y
}

/// `dx[i] = sum of w * dy over every multiply-add that read x[i]`.
pub fn backward_data(g: &Geom, dy: &[f64], w: &[f64]) -> Vec<f64> {
    let mut dx = vec![0.0; g.x_len()];
    g.for_each_mac(|xi, wi, yi| dx[xi] += w[wi] * dy[yi]);
    dx
}

/// `dw[i] = sum of x * dy over every multiply-add that used w[i]`, over the whole batch.
pub fn backward_filter(g: &Geom, x: &[f64], dy: &[f64]) -> Vec<f64> {
    let mut dw = vec![0.0; g.w_len()];
    g.for_each_mac(|xi, wi, yi| dw[wi] += x[xi] * dy[yi]);
    dw
}

/// `db[oc] = sum of dy[n, oc, :, :]` over the batch.
pub fn backward_bias(g: &Geom, dy: &[f64]) -> Vec<f64> {
    let mut db = vec![0.0; g.oc];
    let plane = g.y_len() / g.n.max(1) / g.oc;
    for (i, v) in dy.iter().enumerate() {
        db[(i / plane) % g.oc] += v;
    }
    db
}
