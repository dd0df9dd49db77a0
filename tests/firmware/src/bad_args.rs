//! Every kernel called with bad arguments: each must return exactly the documented error and
//! leave every output as it was.

use core::hint::black_box as opaque;

use nchw::{avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward};
use nchw::{col2im, col2im_columns, crop, gemm, im2col, im2col_columns, pad, Gemm};
use nchw::{conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter};
use nchw::{max_pool2d, max_pool2d_backward, max_pool2d_backward_recompute};
use nchw::{max_pool2d_with_indices, AvgPool2d, Divisor, Pool2d, Rounding};
use nchw::{Accum, Conv2d, Error, Im2col, MatMut, MatRef, Pad, Padding, Shape, Window};

use crate::model::Runner;

/// What every output is filled with before a bad call.
const SENTINEL: f32 = -99.0;

/// Fills `out` with [`SENTINEL`], makes the call through the runner, and checks that it
/// returned exactly `want` and left `out` untouched.
fn refuse<T>(
    r: &mut impl Runner,
    name: &'static str,
    want: Error,
    out: &mut [f32],
    call: impl FnOnce(&mut [f32]) -> Result<T, Error>,
) {
    out.fill(SENTINEL);
    let got = r.call(|| call(opaque(&mut *out))).err();
    r.check(
        name,
        got == Some(want) && out.iter().all(|v| *v == SENTINEL),
    );
}

fn length(buffer: &'static str, expected: usize, actual: usize) -> Error {
    Error::BufferLength {
        buffer,
        expected,
        actual,
    }
}

fn dims(what: &'static str, left: usize, right: usize) -> Error {
    Error::DimensionMismatch { what, left, right }
}

/// Constructors refuse impossible geometries.
#[inline(never)]
fn constructors(r: &mut impl Runner) {
    let huge = opaque(usize::MAX);
    refuse(r, "error Shape overflow", Error::Overflow, &mut [], |_| {
        Shape::new(huge, 2, 1, 1)
    });
    refuse(r, "error Pad overflow", Error::Overflow, &mut [], |_| {
        Pad::new(Shape::new(1, 1, 1, huge)?, Padding::symmetric(0, 1))
    });
    let zero = Error::Zero {
        parameter: "stride_h",
    };
    refuse(r, "error Im2col zero stride", zero, &mut [], |_| {
        Im2col::new(
            Shape::new(1, 1, 4, 4)?,
            Window::square(3).with_stride(opaque(0), 1),
        )
    });
    let large = Error::WindowTooLarge {
        axis: "width",
        field: 4,
        padded: 3,
    };
    refuse(r, "error Im2col window too large", large, &mut [], |_| {
        Im2col::new(
            Shape::new(1, 1, 4, 3)?,
            Window::square(2).with_dilation(1, opaque(3)),
        )
    });
    let groups = Error::NotDivisible {
        what: "out_channels",
        value: 3,
        divisor: 2,
    };
    refuse(r, "error Conv2d groups", groups, &mut [], |_| {
        Conv2d::new(Shape::new(1, 2, 4, 4)?, opaque(3), Window::square(3), 2)
    });
    let zero = Error::Zero {
        parameter: "groups",
    };
    refuse(r, "error Conv2d zero groups", zero, &mut [], |_| {
        Conv2d::new(Shape::new(1, 2, 4, 4)?, 2, Window::square(3), opaque(0))
    });
    let short = Error::InvalidView {
        operand: "MatRef",
        needed: 6,
        actual: 5,
    };
    refuse(r, "error MatRef short slice", short, &mut [], |_| {
        MatRef::row_major(opaque(&[0.0f32; 5][..]), 2, 3)
    });
    let aliased = Error::InvalidView {
        operand: "MatMut",
        needed: 4,
        actual: 6,
    };
    refuse(
        r,
        "error MatMut aliasing strides",
        aliased,
        &mut [0.0; 6],
        |c| MatMut::new(c, 2, 3, 1, 1).map(|_| ()),
    );
}

/// pad and crop refuse buffers of the wrong length.
#[inline(never)]
fn padding(r: &mut impl Runner) -> Result<(), Error> {
    let p = &Pad::new(Shape::new(1, 1, 2, 2)?, Padding::uniform(1))?; // 2x2 -> 4x4
    let x = [1.0f32; 16];
    refuse(
        r,
        "error pad input",
        length("input", 4, 3),
        &mut [0.0; 16],
        |y| pad(p, 0.0, opaque(&x[..3]), y),
    );
    refuse(
        r,
        "error pad output",
        length("output", 16, 17),
        &mut [0.0; 17],
        |y| pad(p, 0.0, opaque(&x[..4]), y),
    );
    refuse(
        r,
        "error crop padded",
        length("padded", 16, 15),
        &mut [0.0; 4],
        |y| crop(p, opaque(&x[..15]), y),
    );
    refuse(
        r,
        "error crop output",
        length("output", 4, 3),
        &mut [0.0; 3],
        |y| crop(p, opaque(&x[..]), y),
    );
    Ok(())
}

/// im2col and col2im refuse wrong lengths and column ranges.
#[inline(never)]
fn columns(r: &mut impl Runner) -> Result<(), Error> {
    // 1 x 3 x 3 image, 2 x 2 window: 4 rows, 4 columns.
    let g = &Im2col::new(Shape::new(1, 1, 3, 3)?, Window::square(2))?;
    let x = [1.0f32; 16];
    refuse(
        r,
        "error im2col input",
        length("input", 9, 8),
        &mut [0.0; 16],
        |col| im2col(g, opaque(&x[..8]), col),
    );
    refuse(
        r,
        "error im2col col",
        length("col", 16, 15),
        &mut [0.0; 15],
        |col| im2col(g, opaque(&x[..9]), col),
    );
    let range = Error::InvalidRange {
        start: 3,
        end: 5,
        len: 4,
    };
    refuse(
        r,
        "error im2col_columns range",
        range,
        &mut [0.0; 8],
        |tile| im2col_columns(g, opaque(&x[..9]), opaque(3..5), tile),
    );
    let reversed = Error::InvalidRange {
        start: 2,
        end: 1,
        len: 4,
    };
    #[allow(clippy::reversed_empty_ranges)]
    refuse(
        r,
        "error im2col_columns reversed",
        reversed,
        &mut [],
        |tile| im2col_columns(g, opaque(&x[..9]), opaque(2..1), tile),
    );
    refuse(
        r,
        "error col2im col",
        length("col", 16, 15),
        &mut [0.0; 9],
        |image| col2im(g, opaque(&x[..15]), image, Accum::Replace),
    );
    refuse(
        r,
        "error col2im input",
        length("input", 9, 8),
        &mut [0.0; 8],
        |image| col2im(g, opaque(&x[..]), image, Accum::Replace),
    );
    let tile = length("tile", 8, 7);
    refuse(
        r,
        "error col2im_columns tile",
        tile,
        &mut [0.0; 9],
        |image| col2im_columns(g, opaque(&x[..7]), opaque(1..3), image, Accum::Add),
    );
    let range = Error::InvalidRange {
        start: 0,
        end: 5,
        len: 4,
    };
    refuse(
        r,
        "error col2im_columns range",
        range,
        &mut [0.0; 9],
        |image| col2im_columns(g, opaque(&x[..4]), opaque(0..5), image, Accum::Add),
    );
    Ok(())
}

/// gemm refuses operands whose dimensions disagree.
#[inline(never)]
fn matmul(r: &mut impl Runner) {
    let data = [1.0f32; 6];
    // The product of a 2 x 3 A and a 3 x 2 B; B and C take the shapes (b_rows, b_cols) and
    // (c_rows, c_cols).
    let Ok(g) = Gemm::new(2, 2, 3) else {
        return;
    };
    let cases = [
        ("error gemm b rows", (2, 2), (2, 2), dims("b rows", 2, 3)),
        ("error gemm c rows", (3, 2), (3, 2), dims("c rows", 3, 2)),
        (
            "error gemm c columns",
            (3, 2),
            (2, 3),
            dims("c columns", 3, 2),
        ),
    ];
    for (name, (b_rows, b_cols), (c_rows, c_cols), want) in cases {
        refuse(r, name, want, &mut [0.0; 6], |c| {
            let a = MatRef::row_major(opaque(&data[..]), 2, 3)?;
            let b = MatRef::row_major(opaque(&data[..]), b_rows, b_cols)?;
            let c = MatMut::row_major(c, c_rows, c_cols)?;
            gemm(&g, 1.0, a, b, 0.0, c, opaque(&mut []))
        });
    }
}

/// The convolution passes refuse wrong lengths and a workspace below the minimum.
#[inline(never)]
fn convolution(r: &mut impl Runner) -> Result<(), Error> {
    // 1 x 2 x 4 x 4 input, 2 output channels, 3 x 3: weights 36, output 2 x 2 x 2.
    let g = &Conv2d::new(Shape::new(1, 2, 4, 4)?, 2, Window::square(3), 1)?;
    let (x, w, b) = ([1.0f32; 32], [1.0f32; 36], [1.0f32; 2]);
    let mut s = [0.0f32; 64];
    // The minimum workspace is one im2col column: 2 channels x 3 x 3.
    let small = Error::ScratchTooSmall {
        needed: 18,
        actual: 17,
    };
    refuse(
        r,
        "error conv2d input",
        length("input", 32, 31),
        &mut [0.0; 8],
        |y| conv2d(g, opaque(&x[..31]), &w, Some(&b), None, y, &mut s),
    );
    refuse(
        r,
        "error conv2d weight",
        length("weight", 36, 35),
        &mut [0.0; 8],
        |y| conv2d(g, &x, opaque(&w[..35]), Some(&b), None, y, &mut s),
    );
    refuse(
        r,
        "error conv2d bias",
        length("bias", 2, 1),
        &mut [0.0; 8],
        |y| conv2d(g, &x, &w, Some(opaque(&b[..1])), None, y, &mut s),
    );
    refuse(
        r,
        "error conv2d output",
        length("output", 8, 9),
        &mut [0.0; 9],
        |y| conv2d(g, &x, &w, Some(&b), None, y, &mut s),
    );
    refuse(r, "error conv2d scratch", small, &mut [0.0; 8], |y| {
        conv2d(g, &x, &w, Some(&b), None, y, opaque(&mut s[..17]))
    });
    let dy = [1.0f32; 8];
    let wrong = length("grad_output", 8, 7);
    refuse(
        r,
        "error backward_data grad_output",
        wrong,
        &mut [0.0; 32],
        |dx| conv2d_backward_data(g, &w, opaque(&dy[..7]), dx, Accum::Add, &mut s),
    );
    let wrong = length("grad_input", 32, 33);
    refuse(
        r,
        "error backward_data grad_input",
        wrong,
        &mut [0.0; 33],
        |dx| conv2d_backward_data(g, &w, &dy, dx, Accum::Replace, &mut s),
    );
    refuse(
        r,
        "error backward_data scratch",
        small,
        &mut [0.0; 32],
        |dx| conv2d_backward_data(g, &w, &dy, dx, Accum::Replace, opaque(&mut s[..17])),
    );
    let wrong = length("input", 32, 31);
    refuse(
        r,
        "error backward_filter input",
        wrong,
        &mut [0.0; 36],
        |dw| conv2d_backward_filter(g, opaque(&x[..31]), &dy, dw, Accum::Replace, &mut s),
    );
    let wrong = length("grad_weight", 36, 35);
    refuse(
        r,
        "error backward_filter grad_weight",
        wrong,
        &mut [0.0; 35],
        |dw| conv2d_backward_filter(g, &x, &dy, dw, Accum::Replace, &mut s),
    );
    refuse(
        r,
        "error backward_filter scratch",
        small,
        &mut [0.0; 36],
        |dw| conv2d_backward_filter(g, &x, &dy, dw, Accum::Replace, opaque(&mut s[..17])),
    );
    let wrong = length("grad_bias", 2, 3);
    refuse(
        r,
        "error backward_bias grad_bias",
        wrong,
        &mut [0.0; 3],
        |db| conv2d_backward_bias(g, &dy, db, Accum::Replace),
    );
    Ok(())
}

/// The pooling kernels refuse bad geometries, wrong lengths and out-of-range indices.
#[inline(never)]
fn pooling(r: &mut impl Runner) -> Result<(), Error> {
    let x4 = Shape::new(1, 1, 4, 4)?;
    let padded = Error::PaddingTooLarge {
        side: "top",
        padding: 2,
        limit: 1,
    };
    refuse(r, "error Pool2d padding", padded, &mut [], |_| {
        let w = Window::square(2).with_padding(Padding::uniform(opaque(2)));
        Pool2d::new(x4, w, Rounding::Floor)
    });
    let empty = Error::EmptyWindow {
        axis: "width",
        output: 0,
    };
    refuse(r, "error Pool2d empty window", empty, &mut [], |_| {
        // Width 1, taps at -1 and +1: both in the padding.
        let w = Window::new(1, 2)
            .with_dilation(1, opaque(2))
            .with_padding(Padding::symmetric(0, 1));
        Pool2d::new(Shape::new(1, 1, 1, 1)?, w, Rounding::Floor)
    });
    let dilated = Error::Unsupported {
        operation: "average pooling",
        parameter: "dilation_h",
        value: 2,
    };
    refuse(r, "error AvgPool2d dilation", dilated, &mut [], |_| {
        let w = Window::square(2).with_dilation(opaque(2), 1);
        AvgPool2d::new(
            Pool2d::new(x4, w, Rounding::Floor)?,
            Divisor::CountIncludePad,
        )
    });
    let zero = Error::Zero {
        parameter: "divisor_override",
    };
    refuse(r, "error AvgPool2d divisor 0", zero, &mut [], |_| {
        let g = Pool2d::new(x4, Window::square(2), Rounding::Floor)?;
        AvgPool2d::new(g, Divisor::Override(opaque(0)))
    });

    // 4 x 4 plane, 2 x 2 windows, stride 2: 2 x 2 outputs.
    let g = &Pool2d::new(x4, Window::square(2).with_stride(2, 2), Rounding::Floor)?;
    let a = &AvgPool2d::new(*g, Divisor::CountIncludePad)?;
    let (x, mut idx) = ([1.0f32; 17], [7u32; 5]);
    refuse(
        r,
        "error max_pool2d input",
        length("input", 16, 15),
        &mut [0.0; 4],
        |y| max_pool2d(g, opaque(&x[..15]), y),
    );
    refuse(
        r,
        "error max_pool2d output",
        length("output", 4, 5),
        &mut [0.0; 5],
        |y| max_pool2d(g, opaque(&x[..16]), y),
    );
    let wrong = length("indices", 4, 5);
    refuse(
        r,
        "error max_pool2d_with_indices indices",
        wrong,
        &mut [0.0; 4],
        |y| max_pool2d_with_indices(g, opaque(&x[..16]), y, opaque(&mut idx[..])),
    );
    r.check(
        "error max_pool2d_with_indices indices untouched",
        idx == [7; 5],
    );
    let wrong = length("grad_output", 4, 3);
    refuse(
        r,
        "error max_pool2d_backward dy",
        wrong,
        &mut [0.0; 16],
        |dx| max_pool2d_backward(g, opaque(&x[..3]), &[0; 4], dx, Accum::Replace),
    );
    let wrong = length("grad_input", 16, 17);
    refuse(
        r,
        "error max_pool2d_backward dx",
        wrong,
        &mut [0.0; 17],
        |dx| max_pool2d_backward(g, &x[..4], &[0; 4], dx, Accum::Replace),
    );
    let outside = Error::IndexOutOfRange {
        buffer: "indices",
        position: 2,
        index: 16,
        len: 16,
    };
    refuse(
        r,
        "error max_pool2d_backward index",
        outside,
        &mut [0.0; 16],
        |dx| max_pool2d_backward(g, &x[..4], opaque(&[0, 15, 16, 3]), dx, Accum::Replace),
    );
    let wrong = length("grad_input", 16, 15);
    refuse(
        r,
        "error max_pool2d_backward_recompute dx",
        wrong,
        &mut [0.0; 15],
        |dx| max_pool2d_backward_recompute(g, &x[..16], &x[..4], dx, Accum::Replace),
    );
    refuse(
        r,
        "error avg_pool2d input",
        length("input", 16, 17),
        &mut [0.0; 4],
        |y| avg_pool2d(a, opaque(&x[..]), y),
    );
    refuse(
        r,
        "error avg_pool2d_backward dy",
        length("grad_output", 4, 5),
        &mut [0.0; 16],
        |dx| avg_pool2d_backward(a, opaque(&x[..5]), dx, Accum::Add),
    );
    let wrong = length("output", 1, 2);
    refuse(
        r,
        "error global_avg_pool2d output",
        wrong,
        &mut [0.0; 2],
        |y| global_avg_pool2d(x4, opaque(&x[..16]), y),
    );
    let empty = Error::EmptyWindow {
        axis: "height",
        output: 0,
    };
    refuse(
        r,
        "error global_avg_pool2d empty plane",
        empty,
        &mut [0.0; 1],
        |y| global_avg_pool2d(Shape::new(1, 1, opaque(0), 4)?, &[], y),
    );
    let wrong = length("grad_output", 1, 2);
    refuse(
        r,
        "error global_avg_pool2d_backward dy",
        wrong,
        &mut [0.0; 16],
        |dx| global_avg_pool2d_backward(x4, opaque(&x[..2]), dx, Accum::Replace),
    );
    Ok(())
}

/// Runs every bad-argument check.
pub fn check(r: &mut impl Runner) {
    constructors(r);
    matmul(r);
    let setup = padding(r)
        .and(columns(r))
        .and(convolution(r))
        .and(pooling(r));
    // Valid geometries the checks above build: only a failure is reported.
    if setup.is_err() {
        r.check("bad-argument geometries", false);
    }
}
