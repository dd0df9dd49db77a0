//! The firmware of the `im2col-only` feature: convolutions on the im2col path only (5 x 5,
//! and 3 x 3 with stride 2) and max pooling, each checked against naive loops. Its image
//! must link none of the depthwise, 1 x 1 or direct 3 x 3 code: each call's geometry is a
//! constant, so the choice of kernel folds. `.ci/firmware` checks the image for that.

use nchw::{conv2d, max_pool2d, Clamp, Conv2d, Padding, Pool2d, Rounding, Shape, Window};

use crate::semihosting::write_str;

const X: Shape = ok!(Shape::new(1, 3, 8, 8));
/// 5 x 5, padding 2, 3 -> 6 channels.
const WIDE: Conv2d = ok!(Conv2d::new(
    X,
    6,
    Window::square(5).with_padding(Padding::uniform(2)),
    1
));
/// 3 x 3 with stride 2, padding 1, 6 -> 8 channels.
const STRIDED: Conv2d = ok!(Conv2d::new(
    WIDE.output(),
    8,
    Window::square(3)
        .with_padding(Padding::uniform(1))
        .with_stride(2, 2),
    1
));
const POOL: Pool2d = ok!(Pool2d::new(
    STRIDED.output(),
    Window::pool(2),
    Rounding::Floor
));
const SCRATCH: usize = if WIDE.min_scratch_len() > STRIDED.min_scratch_len() {
    WIDE.min_scratch_len()
} else {
    STRIDED.min_scratch_len()
};

struct Buffers {
    x: [f32; X.len()],
    w1: [f32; WIDE.weight_len()],
    b1: [f32; WIDE.bias_len()],
    y1: [f32; WIDE.output_len()],
    w2: [f32; STRIDED.weight_len()],
    y2: [f32; STRIDED.output_len()],
    p: [f32; POOL.output_len()],
    want: [f32; WIDE.output_len()],
    scratch: [f32; SCRATCH],
}

static mut BUFFERS: Buffers = Buffers {
    x: [0.0; X.len()],
    w1: [0.0; WIDE.weight_len()],
    b1: [0.0; WIDE.bias_len()],
    y1: [0.0; WIDE.output_len()],
    w2: [0.0; STRIDED.weight_len()],
    y2: [0.0; STRIDED.output_len()],
    p: [0.0; POOL.output_len()],
    want: [0.0; WIDE.output_len()],
    scratch: [0.0; SCRATCH],
};

/// Multiples of 1/4 in `-1.0..=1.0` (every sum below is exact).
fn fill(seed: u32, out: &mut [f32]) {
    let mut s = seed.wrapping_mul(0x9E37_79B9) | 1;
    for v in out {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = ((s >> 8) % 9) as f32 * 0.25 - 1.0;
    }
}

/// One group, one image: `clamp(bias + sum of w * x)`, padding read as zero.
fn naive(conv: &Conv2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, relu: bool, y: &mut [f32]) {
    let (i, o, win) = (conv.input(), conv.output(), conv.window());
    for oc in 0..o.c() {
        for oh in 0..o.h() {
            for ow in 0..o.w() {
                let mut acc = 0.0f32;
                for c in 0..i.c() {
                    for kh in 0..win.kernel_h {
                        for kw in 0..win.kernel_w {
                            let ih = (oh * win.stride_h + kh) as isize - win.padding.top as isize;
                            let iw = (ow * win.stride_w + kw) as isize - win.padding.left as isize;
                            if ih < 0 || iw < 0 || ih as usize >= i.h() || iw as usize >= i.w() {
                                continue;
                            }
                            let v = x[(c * i.h() + ih as usize) * i.w() + iw as usize];
                            acc +=
                                w[((oc * i.c() + c) * win.kernel_h + kh) * win.kernel_w + kw] * v;
                        }
                    }
                }
                if let Some(b) = bias {
                    acc += b[oc];
                }
                if relu {
                    acc = acc.max(0.0);
                }
                y[(oc * o.h() + oh) * o.w() + ow] = acc;
            }
        }
    }
}

/// Runs the three layers and checks each; the number of failures.
pub fn run() -> u32 {
    // SAFETY: the only reference to BUFFERS, taken once; there are no interrupts or threads.
    let b = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    fill(1, &mut b.x);
    fill(2, &mut b.w1);
    fill(3, &mut b.b1);
    fill(4, &mut b.w2);
    let mut failed = 0;
    let mut check = |name: &str, ok: bool| {
        if !ok {
            write_str("FAIL  ");
            write_str(name);
            write_str("\n");
            failed += 1;
        }
    };
    let r = conv2d(
        &WIDE,
        &b.x,
        &b.w1,
        Some(&b.b1),
        Some(Clamp::relu()),
        &mut b.y1,
        &mut b.scratch,
    );
    naive(&WIDE, &b.x, &b.w1, Some(&b.b1), true, &mut b.want);
    check("conv2d 5x5", r.is_ok() && b.y1 == b.want);
    let r = conv2d(
        &STRIDED,
        &b.y1,
        &b.w2,
        None,
        None,
        &mut b.y2,
        &mut b.scratch,
    );
    let want = &mut b.want[..STRIDED.output_len()];
    naive(&STRIDED, &b.y1, &b.w2, None, false, want);
    check("conv2d 3x3 stride 2", r.is_ok() && b.y2[..] == want[..]);
    let r = max_pool2d(&POOL, &b.y2, &mut b.p);
    let (s, o) = (POOL.input(), POOL.output());
    let ok = (0..o.c() * o.h() * o.w()).all(|at| {
        let (c, oh, ow) = (at / (o.h() * o.w()), at / o.w() % o.h(), at % o.w());
        let v = |dh: usize, dw: usize| b.y2[(c * s.h() + 2 * oh + dh) * s.w() + 2 * ow + dw];
        b.p[at] == v(0, 0).max(v(0, 1)).max(v(1, 0)).max(v(1, 1))
    });
    check("max_pool2d 2x2/2", r.is_ok() && ok);
    write_str(if failed == 0 {
        "im2col-only: 3 checks passed\n"
    } else {
        "im2col-only: failed\n"
    });
    failed
}
