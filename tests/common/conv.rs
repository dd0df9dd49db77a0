//! Naive convolution references, written straight from the definitions (PyTorch's
//! `F.conv2d`): the seven-deep forward loop and its direct gradients, in `f64`.

use nchw::{Conv2d, Float, Padding, Shape, Window};

/// A convolution geometry as plain numbers, independent of the crate's types.
#[derive(Clone, Copy, Debug)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub groups: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    /// top, bottom, left, right
    pub pad: [usize; 4],
}

impl Geom {
    /// Output height and width, or `None` when the window does not fit.
    pub fn out(&self) -> Option<(usize, usize)> {
        let fh = (self.kh - 1) * self.dh + 1;
        let fw = (self.kw - 1) * self.dw + 1;
        let ph = self.h + self.pad[0] + self.pad[1];
        let pw = self.w + self.pad[2] + self.pad[3];
        if fh > ph || fw > pw {
            return None;
        }
        Some(((ph - fh) / self.sh + 1, (pw - fw) / self.sw + 1))
    }

    pub fn window(&self) -> Window {
        Window::new(self.kh, self.kw)
            .with_stride(self.sh, self.sw)
            .with_dilation(self.dh, self.dw)
            .with_padding(Padding {
                top: self.pad[0],
                bottom: self.pad[1],
                left: self.pad[2],
                right: self.pad[3],
            })
    }

    pub fn conv(&self) -> Result<Conv2d, nchw::Error> {
        Conv2d::new(
            Shape::new(self.n, self.c, self.h, self.w)?,
            self.oc,
            self.window(),
            self.groups,
        )
    }

    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    pub fn w_len(&self) -> usize {
        self.oc * (self.c / self.groups) * self.kh * self.kw
    }

    pub fn y_len(&self) -> usize {
        let (oh, ow) = self.out().unwrap();
        self.n * self.oc * oh * ow
    }

    /// Calls `f(x_index, w_index, y_index)` for every multiply-add of the convolution: the
    /// seven-deep loop over n, oc, oh, ow, ci, kh, kw, skipping taps in the padding.
    pub fn for_each_mac(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh_n, ow_n) = self.out().unwrap();
        let (cg, ocg) = (self.c / self.groups, self.oc / self.groups);
        for n in 0..self.n {
            for oc in 0..self.oc {
                let g = oc / ocg;
                for oh in 0..oh_n {
                    for ow in 0..ow_n {
                        let yi = ((n * self.oc + oc) * oh_n + oh) * ow_n + ow;
                        for ci in 0..cg {
                            for i in 0..self.kh {
                                for j in 0..self.kw {
                                    let ih = (oh * self.sh + i * self.dh) as isize
                                        - self.pad[0] as isize;
                                    let iw = (ow * self.sw + j * self.dw) as isize
                                        - self.pad[2] as isize;
                                    if ih < 0
                                        || iw < 0
                                        || ih >= self.h as isize
                                        || iw >= self.w as isize
                                    {
                                        continue;
                                    }
                                    let c = g * cg + ci;
                                    let xi = ((n * self.c + c) * self.h + ih as usize) * self.w
                                        + iw as usize;
                                    let wi = ((oc * cg + ci) * self.kh + i) * self.kw + j;
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

/// The element types under test, with exact conversions for small integers.
pub trait Real: Float + Into<f64> {
    fn of(v: f64) -> Self;
}
impl Real for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
}
impl Real for f64 {
    fn of(v: f64) -> Self {
        v
    }
}

/// Deterministic pseudo-random integers in `-r..=r` (exact in f32 and f64, so every
/// summation order gives the same result and comparisons are exact).
pub fn ints(seed: u64, len: usize, r: i64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as i64 % (2 * r + 1) - r) as f64
        })
        .collect()
}

/// Deterministic pseudo-random reals in `[-1, 1)`.
pub fn reals(seed: u64, len: usize) -> Vec<f64> {
    let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

pub fn to<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

pub fn from<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|&x| x.into()).collect()
}
