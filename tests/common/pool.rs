//! Naive pooling references, written straight from /work/shared/SEMANTICS.md (PyTorch's
//! `Pool.h`, `DilatedMaxPool2d.cpp`, `AveragePool2d.cpp`), with none of the crate's code.

std::thread_local! {
    /// The instruction set [`Spec::geometry`] forces on this thread.
    static ISA: std::cell::Cell<Option<nchw::Isa>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with every geometry of this thread on `isa`.
pub fn on_isa<R>(isa: nchw::Isa, f: impl FnOnce() -> R) -> R {
    ISA.with(|cell| cell.set(Some(isa)));
    let r = f();
    ISA.with(|cell| cell.set(None));
    r
}

/// The element types under test, with what the references need beyond `nchw::Float`.
pub trait Float: nchw::Float {
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// The bit pattern, for exact comparisons (NaN included).
    fn bits(self) -> u64;
}

impl Float for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn bits(self) -> u64 {
        self.to_bits() as u64
    }
}

impl Float for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// A pooling configuration in plain numbers: `[height, width]` per axis.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub n: usize,
    pub c: usize,
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `[top, bottom]`, `[left, right]`.
    pub pad: [[usize; 2]; 2],
    pub ceil: bool,
}

impl Spec {
    pub fn shape(&self) -> nchw::Shape {
        nchw::Shape::new(self.n, self.c, self.input[0], self.input[1]).unwrap()
    }

    pub fn window(&self) -> nchw::Window {
        nchw::Window::new(self.kernel[0], self.kernel[1])
            .with_stride(self.stride[0], self.stride[1])
            .with_dilation(self.dilation[0], self.dilation[1])
            .with_padding(nchw::Padding {
                top: self.pad[0][0],
                bottom: self.pad[0][1],
                left: self.pad[1][0],
                right: self.pad[1][1],
            })
    }

    pub fn rounding(&self) -> nchw::Rounding {
        if self.ceil {
            nchw::Rounding::Ceil
        } else {
            nchw::Rounding::Floor
        }
    }

    /// The geometry, on the instruction set [`on_isa`] chose for this thread, if any.
    pub fn geometry(&self) -> Result<nchw::Pool2d, nchw::Error> {
        let g = nchw::Pool2d::new(self.shape(), self.window(), self.rounding())?;
        match ISA.with(|isa| isa.get()) {
            Some(isa) => g.with_isa(isa),
            None => Ok(g),
        }
    }

    /// Outputs along axis `a`, PyTorch's `pooling_output_shape`, or `None` if < 1.
    pub fn out(&self, a: usize) -> Option<usize> {
        let (i, k, s, d) = (
            self.input[a] as i64,
            self.kernel[a] as i64,
            self.stride[a] as i64,
            self.dilation[a] as i64,
        );
        let (before, after) = (self.pad[a][0] as i64, self.pad[a][1] as i64);
        let field = (k - 1) * d + 1;
        let num = i + before + after - field + if self.ceil { s - 1 } else { 0 };
        let mut out = num.div_euclid(s) + 1;
        if self.ceil && (out - 1) * s >= i + before {
            out -= 1;
        }
        (out >= 1).then_some(out as usize)
    }

    /// Input coordinate of output `o`'s tap `j` along axis `a` (may be outside the input).
    pub fn tap(&self, a: usize, o: usize, j: usize) -> i64 {
        (o * self.stride[a] + j * self.dilation[a]) as i64 - self.pad[a][0] as i64
    }

    pub fn inside(&self, a: usize, x: i64) -> bool {
        0 <= x && x < self.input[a] as i64
    }

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

    pub fn out_hw(&self) -> (usize, usize) {
        (self.out(0).unwrap(), self.out(1).unwrap())
    }

    pub fn in_len(&self) -> usize {
        self.n * self.c * self.input[0] * self.input[1]
    }

    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * self.c * oh * ow
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
                                taps.push(r as usize * self.input[1] + c as usize);
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
pub fn max_pool<T: Float>(s: &Spec, x: &[T]) -> (Vec<T>, Vec<u32>) {
    let plane = s.input[0] * s.input[1];
    let (mut y, mut idx) = (vec![T::ZERO; s.out_len()], vec![0u32; s.out_len()]);
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
pub fn avg_pool<T: Float>(s: &Spec, div: Div, x: &[T]) -> Vec<T> {
    let plane = s.input[0] * s.input[1];
    let mut y = vec![T::ZERO; s.out_len()];
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
pub fn divisor(s: &Spec, div: Div, oh: usize, ow: usize) -> usize {
    let extent = |a: usize, o: usize, include: bool| {
        let start = s.tap(a, o, 0);
        let end = start + s.kernel[a] as i64;
        let (lo, hi) = if include {
            (-(s.pad[a][0] as i64), (s.input[a] + s.pad[a][1]) as i64)
        } else {
            (0, s.input[a] as i64)
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
pub fn max_pool_backward<T: Float>(s: &Spec, dy: &[T], idx: &[u32], dx0: &[T]) -> Vec<T> {
    let plane = s.input[0] * s.input[1];
    let (oh, ow) = s.out_hw();
    let mut dx = dx0.to_vec();
    for (o, (&d, &i)) in dy.iter().zip(idx).enumerate() {
        dx[o / (oh * ow) * plane + i as usize] += d;
    }
    dx
}

/// Average pooling backward: every window adds `dy / divisor` to its input taps.
pub fn avg_pool_backward<T: Float>(s: &Spec, div: Div, dy: &[T], dx0: &[T]) -> Vec<T> {
    let plane = s.input[0] * s.input[1];
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
pub fn global_avg<T: Float>(plane: usize, x: &[T]) -> Vec<T> {
    x.chunks(plane)
        .map(|p| T::from_f64(p.iter().map(|v| v.to_f64()).sum::<f64>() / plane as f64))
        .collect()
}
