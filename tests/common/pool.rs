//! Naive pooling references, written straight from PyTorch's semantics (`Pool.h`,
//! `DilatedMaxPool2d.cpp`, `AveragePool2d.cpp`), with none of the crate's code.

use super::{Geom, Real};

impl Geom {
    /// What `Pool2d::new` must say about this spec: `None` if valid, else a description.
    pub fn expected_error(&self) -> Option<&'static str> {
        let zero =
            self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0);
        if zero {
            return Some("zero");
        }
        if self.out(0).is_none() || self.out(1).is_none() {
            return Some("window too large");
        }
        for a in 0..2 {
            if self.pad[a].iter().any(|&p| p > self.kernel[a] / 2) {
                return Some("padding too large");
            }
        }
        for a in 0..2 {
            for o in 0..self.out(a).unwrap() {
                if (0..self.kernel[a]).all(|j| !self.inside(a, self.tap(a, o, j))) {
                    return Some("empty window");
                }
            }
        }
        None
    }

    /// Calls `f(plane, output, in_window)` with `in_window` the flat in-plane positions of
    /// the window's input taps in row-major order.
    fn for_each_window(&self, mut f: impl FnMut(usize, usize, usize, &[usize])) {
        let (oh, ow) = self.out_hw();
        let mut taps = Vec::new();
        for p in 0..self.n * self.c {
            for y in 0..oh {
                for x in 0..ow {
                    taps.clear();
                    for i in 0..self.kernel[0] {
                        for j in 0..self.kernel[1] {
                            let (r, c) = (self.tap(0, y, i), self.tap(1, x, j));
                            if self.inside(0, r) && self.inside(1, c) {
                                taps.push(r as usize * self.w + c as usize);
                            }
                        }
                    }
                    f(p, y * ow + x, oh * ow, &taps);
                }
            }
        }
    }
}

/// Max pooling with indices, PyTorch's loop: start from `-inf` with the first input tap's
/// index, take every tap with `val > max || isnan(val)`.
pub fn max_pool<T: Real>(s: &Geom, x: &[T]) -> (Vec<T>, Vec<u32>) {
    let plane = s.h * s.w;
    let (mut y, mut idx) = (vec![T::ZERO; s.y_len()], vec![0u32; s.y_len()]);
    s.for_each_window(|p, o, plane_out, taps| {
        let mut best = (T::NEG_INFINITY, taps[0]);
        for &t in taps {
            let v = x[p * plane + t];
            if v > best.0 || v.is_nan() {
                best = (v, t);
            }
        }
        y[p * plane_out + o] = best.0;
        idx[p * plane_out + o] = best.1 as u32;
    });
    (y, idx)
}

/// The divisor rule, in PyTorch's words.
#[derive(Clone, Copy, Debug)]
pub enum Div {
    IncludePad,
    ExcludePad,
    Override(usize),
}

/// Average pooling: the sum of the window's inputs (from zero, row-major), divided.
pub fn avg_pool<T: Real>(s: &Geom, div: Div, x: &[T]) -> Vec<T> {
    let plane = s.h * s.w;
    let mut y = vec![T::ZERO; s.y_len()];
    let (oh, ow) = s.out_hw();
    s.for_each_window(|p, o, plane_out, taps| {
        let mut sum = T::ZERO;
        for &t in taps {
            sum += x[p * plane + t];
        }
        y[p * plane_out + o] = sum / T::from_usize(divisor(s, div, o / ow % oh, o % ow));
    });
    y
}

/// The divisor of window `(oh, ow)`: PyTorch clips the window to the padded input for
/// `count_include_pad`, to the input otherwise.
pub fn divisor(s: &Geom, div: Div, oh: usize, ow: usize) -> usize {
    let extent = |a: usize, o: usize, include: bool| {
        let start = s.tap(a, o, 0);
        let end = start + s.kernel[a] as i64;
        let (lo, hi) = if include {
            (-(s.pad[a][0] as i64), (s.input(a) + s.pad[a][1]) as i64)
        } else {
            (0, s.input(a) as i64)
        };
        (end.min(hi) - start.max(lo)) as usize
    };
    match div {
        Div::Override(d) => d,
        Div::IncludePad => extent(0, oh, true) * extent(1, ow, true),
        Div::ExcludePad => extent(0, oh, false) * extent(1, ow, false),
    }
}

/// Max pooling backward from indices: `dx[index] += dy`, outputs in order.
pub fn max_pool_backward<T: Real>(s: &Geom, dy: &[T], idx: &[u32], dx0: &[T]) -> Vec<T> {
    let plane = s.h * s.w;
    let (oh, ow) = s.out_hw();
    let mut dx = dx0.to_vec();
    for (o, (&d, &i)) in dy.iter().zip(idx).enumerate() {
        dx[o / (oh * ow) * plane + i as usize] += d;
    }
    dx
}

/// Average pooling backward: every window adds `dy / divisor` to its input taps.
pub fn avg_pool_backward<T: Real>(s: &Geom, div: Div, dy: &[T], dx0: &[T]) -> Vec<T> {
    let plane = s.h * s.w;
    let (oh, ow) = s.out_hw();
    let mut dx = dx0.to_vec();
    s.for_each_window(|p, o, plane_out, taps| {
        let g = dy[p * plane_out + o] / T::from_usize(divisor(s, div, o / ow % oh, o % ow));
        for &t in taps {
            dx[p * plane + t] += g;
        }
    });
    dx
}

/// Global average pooling: the mean of every plane.
pub fn global_avg<T: Real>(plane: usize, x: &[T]) -> Vec<T> {
    x.chunks(plane)
        .map(|p| T::of(p.iter().map(|v| v.to_f64()).sum::<f64>() / plane as f64))
        .collect()
}
