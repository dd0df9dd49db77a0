//! Naive loops written straight from the definitions, checked element by element against
//! what the kernels produced. All values are exact (see [`crate::model`]), so equality is
//! the test.
// Index loops on purpose: each reads like the formula it checks.
#![allow(clippy::needless_range_loop)]

use crate::model::{
    fill, Buffers, Features, Params, Runner, A, FA, FC, FD, FM, FX, LR, P, X, XP, Y, Z,
};

/// Output channels of the convolution.
const OC: usize = Y.c();

/// Weight `(oc, c, kh, kw)` of a `(_, channels, 3, 3)` filter bank.
fn tap(w: &[f32], channels: usize, oc: usize, c: usize, kh: usize, kw: usize) -> f32 {
    w[((oc * channels + c) * 3 + kh) * 3 + kw]
}

/// `h + d - 1` if it lies in `0..len`: the input row that tap `d` of a 3-tap window with one
/// row of padding reads for output `h`, or the output that reads input `h` at tap `2 - d`.
fn shifted(h: usize, d: usize, len: usize) -> Option<usize> {
    (h + d).checked_sub(1).filter(|&i| i < len)
}

/// Checks the forward pass.
pub fn check_forward(r: &mut impl Runner, b: &Buffers) {
    let w = &b.params;
    let mut ok = true;
    for n in 0..XP.n() {
        for c in 0..XP.c() {
            for h in 0..XP.h() {
                for x in 0..XP.w() {
                    let inside = (1..=X.h()).contains(&h) && (1..=X.w()).contains(&x);
                    let want = if inside {
                        b.x[X.index(n, c, h - 1, x - 1)]
                    } else {
                        0.0
                    };
                    ok &= b.x_pad[XP.index(n, c, h, x)] == want;
                }
            }
        }
    }
    r.check("reference pad", ok);

    let mut ok = true;
    for n in 0..Y.n() {
        for oc in 0..OC {
            for oh in 0..Y.h() {
                for ow in 0..Y.w() {
                    let mut acc = w.b[oc];
                    for c in 0..XP.c() {
                        for kh in 0..3 {
                            for kw in 0..3 {
                                acc += tap(&w.w, XP.c(), oc, c, kh, kw)
                                    * b.x_pad[XP.index(n, c, oh + kh, ow + kw)];
                            }
                        }
                    }
                    ok &= b.y[Y.index(n, oc, oh, ow)] == acc.max(0.0);
                }
            }
        }
    }
    r.check("reference conv2d + bias + relu", ok);

    // 2 x 2 windows, stride 2: the first maximum in row-major order wins.
    let mut ok = true;
    for n in 0..P.n() {
        for c in 0..P.c() {
            for oh in 0..P.h() {
                for ow in 0..P.w() {
                    let mut best = (f32::NEG_INFINITY, 0);
                    for (dh, dw) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let (h, x) = (2 * oh + dh, 2 * ow + dw);
                        let v = b.y[Y.index(n, c, h, x)];
                        if v > best.0 {
                            best = (v, h * Y.w() + x);
                        }
                    }
                    let o = P.index(n, c, oh, ow);
                    ok &= b.p[o] == best.0 && b.idx[o] as usize == best.1;
                }
            }
        }
    }
    r.check("reference max_pool2d + indices", ok);

    let mut ok = true;
    for n in 0..Z.n() {
        for c in 0..Z.c() {
            for h in 0..Z.h() {
                for x in 0..Z.w() {
                    let mut acc = w.bd[c];
                    for kh in 0..3 {
                        for kw in 0..3 {
                            if let (Some(ih), Some(iw)) =
                                (shifted(h, kh, P.h()), shifted(x, kw, P.w()))
                            {
                                acc += tap(&w.wd, 1, c, 0, kh, kw) * b.p[P.index(n, c, ih, iw)];
                            }
                        }
                    }
                    ok &= b.z[Z.index(n, c, h, x)] == acc;
                }
            }
        }
    }
    r.check("reference depthwise conv2d", ok);

    let mut ok = true;
    for n in 0..A.n() {
        for c in 0..A.c() {
            let mut plane = 0.0;
            for oh in 0..A.h() {
                for ow in 0..A.w() {
                    let sum = b.z[Z.index(n, c, oh, ow)]
                        + b.z[Z.index(n, c, oh, ow + 1)]
                        + b.z[Z.index(n, c, oh + 1, ow)]
                        + b.z[Z.index(n, c, oh + 1, ow + 1)];
                    ok &= b.a[A.index(n, c, oh, ow)] == sum / 4.0;
                    plane += sum / 4.0;
                }
            }
            ok &= b.g[n * A.c() + c] == plane / A.plane_len() as f32;
        }
    }
    r.check("reference avg_pool2d + global_avg_pool2d", ok);
}

/// Checks the training step; `w0` are the parameters it started from.
pub fn check_backward(r: &mut impl Runner, b: &Buffers, w0: &Params) {
    let d = &b.grads;
    // Global average pooling spreads dg / (H * W); the 2 x 2 average pool spreads da / 4
    // over each window.
    let mut ok = true;
    for n in 0..Z.n() {
        for c in 0..Z.c() {
            let da = b.dg[n * A.c() + c] / A.plane_len() as f32;
            for oh in 0..A.h() {
                for ow in 0..A.w() {
                    ok &= b.da[A.index(n, c, oh, ow)] == da;
                }
            }
            for h in 0..Z.h() {
                for x in 0..Z.w() {
                    let mut acc = 0.0;
                    for oh in h.saturating_sub(1)..(h + 1).min(A.h()) {
                        for ow in x.saturating_sub(1)..(x + 1).min(A.w()) {
                            acc += b.da[A.index(n, c, oh, ow)] / 4.0;
                        }
                    }
                    ok &= b.dz[Z.index(n, c, h, x)] == acc;
                }
            }
        }
    }
    r.check("reference pooling backward", ok);

    // Depthwise backward: input (h, x) feeds output (h + 1 - kh, x + 1 - kw) at tap (kh, kw).
    let mut ok = true;
    for n in 0..P.n() {
        for c in 0..P.c() {
            for h in 0..P.h() {
                for x in 0..P.w() {
                    let mut acc = 0.0;
                    for kh in 0..3 {
                        for kw in 0..3 {
                            if let (Some(oh), Some(ow)) =
                                (shifted(h, 2 - kh, Z.h()), shifted(x, 2 - kw, Z.w()))
                            {
                                acc += tap(&w0.wd, 1, c, 0, kh, kw) * b.dz[Z.index(n, c, oh, ow)];
                            }
                        }
                    }
                    ok &= b.dp[P.index(n, c, h, x)] == acc;
                }
            }
        }
    }
    r.check("reference depthwise backward-data", ok);
    let mut ok = true;
    for c in 0..Z.c() {
        let mut db = 0.0;
        for kh in 0..3 {
            for kw in 0..3 {
                let mut acc = 0.0;
                for n in 0..Z.n() {
                    for oh in 0..Z.h() {
                        for ow in 0..Z.w() {
                            if let (Some(ih), Some(iw)) =
                                (shifted(oh, kh, P.h()), shifted(ow, kw, P.w()))
                            {
                                acc += b.dz[Z.index(n, c, oh, ow)] * b.p[P.index(n, c, ih, iw)];
                            }
                            if (kh, kw) == (0, 0) {
                                db += b.dz[Z.index(n, c, oh, ow)];
                            }
                        }
                    }
                }
                ok &= d.wd[(c * 3 + kh) * 3 + kw] == acc;
            }
        }
        ok &= d.bd[c] == db;
    }
    r.check("reference depthwise backward-filter + bias", ok);

    // Max pooling backward, then ReLU backward.
    let mut ok = true;
    for n in 0..Y.n() {
        for c in 0..Y.c() {
            for h in 0..Y.h() {
                for x in 0..Y.w() {
                    let mut acc = 0.0;
                    for o in 0..P.plane_len() {
                        let at = (n * P.c() + c) * P.plane_len() + o;
                        if b.idx[at] as usize == h * Y.w() + x {
                            acc += b.dp[at];
                        }
                    }
                    let relu = if b.y[Y.index(n, c, h, x)] > 0.0 {
                        acc
                    } else {
                        0.0
                    };
                    ok &= b.dy[Y.index(n, c, h, x)] == relu;
                }
            }
        }
    }
    r.check("reference max_pool2d backward + relu", ok);

    let mut ok = true;
    for n in 0..X.n() {
        for c in 0..X.c() {
            for h in 0..X.h() {
                for x in 0..X.w() {
                    // Padded coordinates (h + 1, x + 1); output (oh, ow) reads them at tap
                    // (h + 1 - oh, x + 1 - ow).
                    let mut acc = 0.0f32;
                    for oc in 0..OC {
                        for kh in 0..3 {
                            for kw in 0..3 {
                                let (oh, ow) = ((h + 1).wrapping_sub(kh), (x + 1).wrapping_sub(kw));
                                if oh < Y.h() && ow < Y.w() {
                                    acc += tap(&w0.w, X.c(), oc, c, kh, kw)
                                        * b.dy[Y.index(n, oc, oh, ow)];
                                }
                            }
                        }
                    }
                    ok &= b.dx[X.index(n, c, h, x)] == acc;
                }
            }
        }
    }
    r.check("reference conv2d backward-data + crop", ok);

    let mut ok = true;
    for oc in 0..OC {
        for c in 0..X.c() {
            for kh in 0..3 {
                for kw in 0..3 {
                    let mut acc = 0.0f32;
                    for n in 0..Y.n() {
                        for oh in 0..Y.h() {
                            for ow in 0..Y.w() {
                                acc += b.dy[Y.index(n, oc, oh, ow)]
                                    * b.x_pad[XP.index(n, c, oh + kh, ow + kw)];
                            }
                        }
                    }
                    ok &= d.w[((oc * X.c() + c) * 3 + kh) * 3 + kw] == acc;
                }
            }
        }
        let mut acc = 0.0f32;
        for n in 0..Y.n() {
            for oh in 0..Y.h() {
                for ow in 0..Y.w() {
                    acc += b.dy[Y.index(n, oc, oh, ow)];
                }
            }
        }
        ok &= d.b[oc] == acc;
    }
    r.check("reference conv2d backward-filter + bias", ok);

    let mut ok = true;
    let new = &b.params;
    for (new, (old, grad)) in [
        (&new.w[..], (&w0.w[..], &d.w[..])),
        (&new.b[..], (&w0.b[..], &d.b[..])),
        (&new.wd[..], (&w0.wd[..], &d.wd[..])),
        (&new.bd[..], (&w0.bd[..], &d.bd[..])),
    ] {
        for i in 0..new.len() {
            ok &= new[i] == old[i] - LR * grad[i];
        }
    }
    r.check("reference sgd update", ok);
}

/// A window in plain numbers: `[h, w]` kernel, stride, dilation; `[top, bottom, left, right]`.
type Win = ([usize; 2], [usize; 2], [usize; 2], [usize; 4]);

/// Outputs along axis `a` of an input of `len`, PyTorch's formula: in ceil mode the last
/// window may hang past the padding but must start inside the input or its leading padding.
fn outputs(win: &Win, a: usize, len: usize, ceil: bool) -> usize {
    let (k, s, d) = (win.0[a], win.1[a], win.2[a]);
    let (before, after) = (win.3[2 * a], win.3[2 * a + 1]);
    let span = len + before + after - ((k - 1) * d + 1);
    let mut out = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if ceil && (out - 1) * s >= len + before {
        out -= 1;
    }
    out
}

/// Input coordinate of output `o`'s tap `j` along axis `a`, or `None` in the padding.
fn source(win: &Win, a: usize, o: usize, j: usize, len: usize) -> Option<usize> {
    (o * win.1[a] + j * win.2[a])
        .checked_sub(win.3[2 * a])
        .filter(|&i| i < len)
}

/// Calls `f(x_index, w_index, y_index)` for every multiply-add of a one-image convolution of
/// the feature input with `oc` outputs in `groups` groups.
fn for_each_mac(win: &Win, oc: usize, groups: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (c, h, w) = (FX.c(), FX.h(), FX.w());
    let (oh_n, ow_n) = (outputs(win, 0, h, false), outputs(win, 1, w, false));
    let (cg, ocg) = (c / groups, oc / groups);
    let (kh_n, kw_n) = (win.0[0], win.0[1]);
    for o in 0..oc {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                for ci in 0..cg {
                    for kh in 0..kh_n {
                        for kw in 0..kw_n {
                            if let (Some(ih), Some(iw)) =
                                (source(win, 0, oh, kh, h), source(win, 1, ow, kw, w))
                            {
                                let xi = ((o / ocg * cg + ci) * h + ih) * w + iw;
                                let wi = ((o * cg + ci) * kh_n + kh) * kw_n + kw;
                                f(xi, wi, (o * oh_n + oh) * ow_n + ow);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `got == start + what f adds`, with `start` the `fill(seed)` the buffer held.
fn added<const N: usize>(got: &[f32], seed: u32, f: impl FnOnce(&mut [f32; N])) -> bool {
    let mut want = [0.0f32; N];
    fill(seed, &mut want);
    f(&mut want);
    got == want
}

/// Calls `f(plane, output, taps)` for every window of a one-image pooling of the feature
/// input, with the in-plane positions of its taps inside the input (at most 9).
fn for_each_window(win: &Win, ceil: bool, mut f: impl FnMut(usize, usize, &[usize], usize)) {
    let (h, w) = (FX.h(), FX.w());
    let (oh_n, ow_n) = (outputs(win, 0, h, ceil), outputs(win, 1, w, ceil));
    for c in 0..FX.c() {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let (mut taps, mut n) = ([0; 9], 0);
                for kh in 0..win.0[0] {
                    for kw in 0..win.0[1] {
                        if let (Some(ih), Some(iw)) =
                            (source(win, 0, oh, kh, h), source(win, 1, ow, kw, w))
                        {
                            taps[n] = ih * w + iw;
                            n += 1;
                        }
                    }
                }
                let divisor = |include: bool| {
                    let extent = |a: usize, o: usize, len: usize| {
                        let start = (o * win.1[a]) as isize - win.3[2 * a] as isize;
                        let end = start + win.0[a] as isize;
                        let (lo, hi) = if include {
                            (-(win.3[2 * a] as isize), (len + win.3[2 * a + 1]) as isize)
                        } else {
                            (0, len as isize)
                        };
                        (end.min(hi) - start.max(lo)) as usize
                    };
                    extent(0, oh, h) * extent(1, ow, w)
                };
                let which = [divisor(true), divisor(false)];
                f(
                    c,
                    (c * oh_n + oh) * ow_n + ow,
                    &taps[..n],
                    which[0] * 1000 + which[1],
                );
            }
        }
    }
}

/// Checks the feature kernels (see [`crate::model::features`]).
pub fn check_features(r: &mut impl Runner, f: &Features) {
    let plane = FX.plane_len();
    let (fc, fd) = ((FC.0, FC.1, FC.2, FC.3), (FD.0, FD.1, FD.2, FD.3));
    for (name, win, (oc, groups), w, y) in [
        (
            "reference features conv2d groups stride dilation",
            &fc,
            (FC.4, FC.5),
            &f.w,
            &f.y,
        ),
        (
            "reference features depthwise multiplier 2",
            &fd,
            (FD.4, FD.5),
            &f.wd,
            &f.z,
        ),
    ] {
        let mut want = [0.0f32; 64];
        for_each_mac(win, oc, groups, |xi, wi, yi| want[yi] += f.x[xi] * w[wi]);
        let (body, rest) = want.split_at(y.len());
        r.check(name, body == &y[..] && rest.iter().all(|v| *v == 0.0));
    }
    let ok = added::<{ FX.len() }>(f.dx, 9, |dx| {
        for_each_mac(&fc, FC.4, FC.5, |xi, wi, yi| dx[xi] += f.w[wi] * f.dy[yi])
    });
    r.check("reference features conv2d_backward_data add", ok);
    let ok = added::<{ FC.4 * 3 * 2 }>(f.dw, 10, |dw| {
        for_each_mac(&fc, FC.4, FC.5, |xi, wi, yi| dw[wi] += f.x[xi] * f.dy[yi])
    });
    r.check("reference features conv2d_backward_filter add", ok);

    // Max pooling: the first maximum (or the last NaN) in row-major order wins.
    let (mut ok, mut argmax) = (true, [0usize; 12]);
    for_each_window(&FM, true, |c, o, taps, _| {
        let mut best = (f32::NEG_INFINITY, taps[0]);
        for &t in taps {
            let v = f.x[c * plane + t];
            if v > best.0 || v.is_nan() {
                best = (v, t);
            }
        }
        ok &= f.m[o] == best.0 && f.idx[o] as usize == best.1;
        argmax[o] = c * plane + best.1;
    });
    r.check(
        "reference features max_pool2d ceil dilation",
        ok && f.m.len() == 12,
    );
    let ok = added::<{ FX.len() }>(f.dxm, 11, |dx| {
        for (o, &i) in argmax.iter().enumerate() {
            dx[i] += f.dm[o];
        }
    });
    r.check("reference features max_pool2d_backward_recompute add", ok);

    // Average pooling: the sum of the window's inputs over each divisor rule.
    let names = [
        "reference features avg_pool2d ceil count_include_pad",
        "reference features avg_pool2d ceil count_exclude_pad",
        "reference features avg_pool2d ceil divisor 4",
    ];
    for (which, (name, got)) in names.iter().zip(&f.a).enumerate() {
        let mut ok = got.len() == 18;
        for_each_window(&FA, true, |c, o, taps, divisors| {
            let sum: f32 = taps.iter().map(|&t| f.x[c * plane + t]).sum();
            let d = [divisors / 1000, divisors % 1000, 4][which];
            ok &= got[o] == sum / d as f32;
        });
        r.check(name, ok);
    }
    let ok = added::<{ FX.len() }>(f.dxa, 12, |dx| {
        for_each_window(&FA, true, |c, o, taps, _| {
            for &t in taps {
                dx[c * plane + t] += f.da[o] / 4.0;
            }
        })
    });
    r.check("reference features avg_pool2d_backward divisor 4 add", ok);
}
