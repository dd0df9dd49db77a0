//! Every kernel called with bad arguments: each must return exactly the documented error and
//! leave every output as it was.

use core::hint::black_box as opaque;

use nchw::{col2im, col2im_columns, crop, gemm, im2col, im2col_columns, pad};
use nchw::{Accum, Error, Im2col, MatMut, MatRef, Pad, Padding, Shape, Window};

use crate::model::Runner;

/// What every output is filled with before a bad call.
const SENTINEL: f32 = -99.0;

fn untouched(out: &[f32]) -> bool {
    out.iter().all(|v| *v == SENTINEL)
}

fn expect(
    r: &mut impl Runner,
    name: &'static str,
    got: Result<(), Error>,
    want: Error,
    out: &[f32],
) {
    r.check(name, got == Err(want) && untouched(out));
}

/// Constructors refuse impossible geometries.
fn constructors(r: &mut impl Runner) {
    let huge = opaque(usize::MAX);
    r.check(
        "error Shape overflow",
        Shape::new(huge, 2, 1, 1) == Err(Error::Overflow),
    );
    let wide = Shape::new(1, 1, 1, huge);
    let padded = wide.and_then(|s| Pad::new(s, Padding::symmetric(0, 1)));
    r.check("error Pad overflow", padded == Err(Error::Overflow));
    let strided = Window::square(3).with_stride(opaque(0), 1);
    r.check(
        "error Im2col zero stride",
        Im2col::new(1, 4, 4, strided)
            == Err(Error::Zero {
                parameter: "stride_h",
            }),
    );
    let dilated = Window::square(2).with_dilation(1, opaque(3));
    r.check(
        "error Im2col window too large",
        Im2col::new(1, 4, 3, dilated)
            == Err(Error::WindowTooLarge {
                axis: "width",
                field: 4,
                padded: 3,
            }),
    );
    let data = [0.0f32; 5];
    r.check(
        "error MatRef short slice",
        MatRef::row_major(opaque(&data[..]), 2, 3).err()
            == Some(Error::InvalidView {
                operand: "a",
                needed: 6,
                actual: 5,
            }),
    );
    let mut data = [SENTINEL; 6];
    let aliased = MatMut::new(opaque(&mut data[..]), 2, 3, 1, 1).err();
    r.check(
        "error MatMut aliasing strides",
        aliased
            == Some(Error::InvalidView {
                operand: "c",
                needed: 4,
                actual: 6,
            })
            && untouched(&data),
    );
}

/// pad and crop refuse buffers of the wrong length.
fn padding(r: &mut impl Runner) -> Result<(), Error> {
    let p = Pad::new(Shape::new(1, 1, 2, 2)?, Padding::uniform(1))?;
    let p = opaque(&p);
    let mut out = [SENTINEL; 16];
    let got = pad(p, 0.0, opaque(&[1.0; 3][..]), opaque(&mut out[..]));
    let want = Error::BufferLength {
        buffer: "input",
        expected: 4,
        actual: 3,
    };
    expect(r, "error pad input length", got, want, &out);
    let mut out = [SENTINEL; 17];
    let got = pad(p, 0.0, opaque(&[1.0; 4][..]), opaque(&mut out[..]));
    let want = Error::BufferLength {
        buffer: "output",
        expected: 16,
        actual: 17,
    };
    expect(r, "error pad output length", got, want, &out);
    let mut out = [SENTINEL; 4];
    let got = crop(p, opaque(&[1.0; 15][..]), opaque(&mut out[..]));
    let want = Error::BufferLength {
        buffer: "padded",
        expected: 16,
        actual: 15,
    };
    expect(r, "error crop padded length", got, want, &out);
    let mut out = [SENTINEL; 3];
    let got = crop(p, opaque(&[1.0; 16][..]), opaque(&mut out[..]));
    let want = Error::BufferLength {
        buffer: "output",
        expected: 4,
        actual: 3,
    };
    expect(r, "error crop output length", got, want, &out);
    Ok(())
}

/// im2col and col2im refuse wrong lengths and column ranges.
fn columns(r: &mut impl Runner) -> Result<(), Error> {
    // 1 x 3 x 3 image, 2 x 2 window: 4 rows, 4 columns.
    let g = Im2col::new(1, 3, 3, Window::square(2))?;
    let g = opaque(&g);
    let image = [1.0f32; 9];
    let mut col = [SENTINEL; 16];
    let got = im2col(g, opaque(&image[..8]), opaque(&mut col[..]));
    let want = Error::BufferLength {
        buffer: "image",
        expected: 9,
        actual: 8,
    };
    expect(r, "error im2col image length", got, want, &col);
    let got = im2col(g, opaque(&image[..]), opaque(&mut col[..15]));
    let want = Error::BufferLength {
        buffer: "tile",
        expected: 16,
        actual: 15,
    };
    expect(r, "error im2col col length", got, want, &col);
    let got = im2col_columns(g, opaque(&image[..]), opaque(3..5), opaque(&mut col[..8]));
    let want = Error::InvalidRange {
        start: 3,
        end: 5,
        len: 4,
    };
    expect(r, "error im2col_columns range", got, want, &col);
    #[allow(clippy::reversed_empty_ranges)]
    let got = im2col_columns(g, opaque(&image[..]), opaque(2..1), opaque(&mut col[..0]));
    let want = Error::InvalidRange {
        start: 2,
        end: 1,
        len: 4,
    };
    expect(r, "error im2col_columns reversed", got, want, &col);

    let mut out = [SENTINEL; 9];
    let got = col2im(g, opaque(&col[..15]), opaque(&mut out[..]), Accum::Replace);
    let want = Error::BufferLength {
        buffer: "col",
        expected: 16,
        actual: 15,
    };
    expect(r, "error col2im col length", got, want, &out);
    let got = col2im(g, opaque(&col[..]), opaque(&mut out[..8]), Accum::Replace);
    let want = Error::BufferLength {
        buffer: "image",
        expected: 9,
        actual: 8,
    };
    expect(r, "error col2im image length", got, want, &out);
    let got = col2im_columns(g, opaque(&col[..7]), opaque(1..3), opaque(&mut out[..]));
    let want = Error::BufferLength {
        buffer: "tile",
        expected: 8,
        actual: 7,
    };
    expect(r, "error col2im_columns tile length", got, want, &out);
    let got = col2im_columns(g, opaque(&col[..4]), opaque(0..5), opaque(&mut out[..]));
    let want = Error::InvalidRange {
        start: 0,
        end: 5,
        len: 4,
    };
    expect(r, "error col2im_columns range", got, want, &out);
    Ok(())
}

/// gemm refuses operands whose dimensions disagree.
fn matmul(r: &mut impl Runner) -> Result<(), Error> {
    let data = [1.0f32; 6];
    // A is 2 x 3 throughout; B and C take the shapes (b_rows, b_cols) and (c_rows, c_cols).
    let cases = [
        (
            "error gemm a.cols != b.rows",
            (2, 2),
            (2, 2),
            dims("a.cols != b.rows", 3, 2),
        ),
        (
            "error gemm c.rows != a.rows",
            (3, 2),
            (3, 2),
            dims("c.rows != a.rows", 3, 2),
        ),
        (
            "error gemm c.cols != b.cols",
            (3, 2),
            (2, 3),
            dims("c.cols != b.cols", 3, 2),
        ),
    ];
    for (name, (b_rows, b_cols), (c_rows, c_cols), want) in cases {
        let mut c = [SENTINEL; 6];
        let a = MatRef::row_major(opaque(&data[..]), 2, 3)?;
        let b = MatRef::row_major(opaque(&data[..]), b_rows, b_cols)?;
        let cm = MatMut::row_major(opaque(&mut c[..]), c_rows, c_cols)?;
        let got = gemm(1.0, a, b, 0.0, cm, opaque(&mut []));
        expect(r, name, got, want, &c);
    }
    Ok(())
}

fn dims(what: &'static str, left: usize, right: usize) -> Error {
    Error::DimensionMismatch { what, left, right }
}

/// Runs every bad-argument check.
pub fn check(r: &mut impl Runner) {
    constructors(r);
    let ok = padding(r).is_ok() & columns(r).is_ok() & matmul(r).is_ok();
    r.check("bad-argument setup", ok);
}
