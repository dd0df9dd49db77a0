//! Naive loops written straight from the definitions, checked element by element against
//! what the kernels produced. All values are exact (see [`crate::model`]), so equality is
//! the test.
// Index loops on purpose: each reads like the formula it checks.
#![allow(clippy::needless_range_loop)]

use crate::model::{Buffers, Runner, LR, X, XP, Y, Z};

/// Output channels of the convolution.
const OC: usize = Y.c();

/// Weight `(oc, c, kh, kw)` of a `(_, channels, 3, 3)` filter bank.
fn tap(w: &[f32], channels: usize, oc: usize, c: usize, kh: usize, kw: usize) -> f32 {
    w[((oc * channels + c) * 3 + kh) * 3 + kw]
}

/// Checks the forward pass: pad, convolution + bias + ReLU, depthwise convolution.
pub fn check_forward(r: &mut impl Runner, b: &Buffers) {
    let mut ok = true;
    for n in 0..XP.n() {
        for c in 0..XP.c() {
            for h in 0..XP.h() {
                for w in 0..XP.w() {
                    let inside = (1..=X.h()).contains(&h) && (1..=X.w()).contains(&w);
                    let want = if inside {
                        b.x[X.index(n, c, h - 1, w - 1)]
                    } else {
                        0.0
                    };
                    ok &= b.x_pad[XP.index(n, c, h, w)] == want;
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
                    let mut acc = b.b[oc];
                    for c in 0..XP.c() {
                        for kh in 0..3 {
                            for kw in 0..3 {
                                acc += tap(&b.w, XP.c(), oc, c, kh, kw)
                                    * b.x_pad[XP.index(n, c, oh + kh, ow + kw)];
                            }
                        }
                    }
                    ok &= b.y[Y.index(n, oc, oh, ow)] == acc.max(0.0);
                }
            }
        }
    }
    r.check("reference conv+bias+relu", ok);

    let mut ok = true;
    for n in 0..Z.n() {
        for c in 0..Z.c() {
            for h in 0..Z.h() {
                for w in 0..Z.w() {
                    let mut acc = b.bd[c];
                    for kh in 0..3 {
                        for kw in 0..3 {
                            let (ih, iw) = ((h + kh).wrapping_sub(1), (w + kw).wrapping_sub(1));
                            if ih < Y.h() && iw < Y.w() {
                                acc += tap(&b.wd, 1, c, 0, kh, kw) * b.y[Y.index(n, c, ih, iw)];
                            }
                        }
                    }
                    ok &= b.z[Z.index(n, c, h, w)] == acc;
                }
            }
        }
    }
    r.check("reference depthwise", ok);
}

/// Checks the training step against the weights it started from (`w0`, `b0`).
pub fn check_backward(r: &mut impl Runner, b: &Buffers, w0: &[f32], b0: &[f32]) {
    let mut ok = true;
    for n in 0..X.n() {
        for c in 0..X.c() {
            for h in 0..X.h() {
                for w in 0..X.w() {
                    // Padded coordinates (h + 1, w + 1); output (oh, ow) reads them at tap
                    // (h + 1 - oh, w + 1 - ow).
                    let (ph, pw) = (h + 1, w + 1);
                    let mut acc = 0.0f32;
                    for oc in 0..OC {
                        for kh in 0..3 {
                            for kw in 0..3 {
                                let (oh, ow) = (ph.wrapping_sub(kh), pw.wrapping_sub(kw));
                                if oh < Y.h() && ow < Y.w() {
                                    acc += tap(w0, X.c(), oc, c, kh, kw)
                                        * b.dy[Y.index(n, oc, oh, ow)];
                                }
                            }
                        }
                    }
                    ok &= b.dx[X.index(n, c, h, w)] == acc;
                }
            }
        }
    }
    r.check("reference backward-data", ok);

    let mut ok = true;
    let mut ok_update = true;
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
                    let i = ((oc * X.c() + c) * 3 + kh) * 3 + kw;
                    ok &= b.dw[i] == acc;
                    ok_update &= b.w[i] == w0[i] - LR * acc;
                }
            }
        }
    }
    r.check("reference backward-filter", ok);

    let mut ok = true;
    for oc in 0..OC {
        let mut acc = 0.0f32;
        for n in 0..Y.n() {
            for oh in 0..Y.h() {
                for ow in 0..Y.w() {
                    acc += b.dy[Y.index(n, oc, oh, ow)];
                }
            }
        }
        ok &= b.db[oc] == acc;
        ok_update &= b.b[oc] == b0[oc] - LR * acc;
    }
    r.check("reference bias gradient", ok);
    r.check("reference sgd update", ok_update);
}
