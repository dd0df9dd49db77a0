//! Naive loops written straight from the definitions, checked element by element against
//! what the kernels produced. All values are exact (see [`crate::model`]), so equality is
//! the test.
// Index loops on purpose: each reads like the formula it checks.
#![allow(clippy::needless_range_loop)]

use crate::model::{Buffers, Params, Runner, A, LR, P, X, XP, Y, Z};

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
