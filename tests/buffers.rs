//! Every buffer of every operation, one at a time one element too short and one too long
//! (and empty): the right `Error::BufferLength`, and no buffer touched.

mod common;

use common::Geom;
use nchw::{
    avg_pool2d, avg_pool2d_backward, col2im, col2im_columns, conv2d, conv2d_backward_bias,
    conv2d_backward_data, conv2d_backward_filter, crop, global_avg_pool2d,
    global_avg_pool2d_backward, im2col, im2col_columns, max_pool2d, max_pool2d_backward,
    max_pool2d_backward_recompute, max_pool2d_with_indices, pad, Accum, AvgPool2d, Divisor, Error,
    Pad, Padding, Shape, Window,
};

/// What every buffer holds before the call: any write shows.
const S: f32 = 12345.0;

/// A call on float buffers and a `u32` indices buffer.
type Call = Box<dyn Fn(&mut [Vec<f32>], &mut [u32]) -> Result<(), Error>>;

/// One operation: its buffers' names and lengths in argument order, and a call on buffers
/// of the given lengths (`indices` is the `u32` buffer, if the operation has one).
struct Op {
    name: &'static str,
    buffers: Vec<(&'static str, usize)>,
    call: Call,
}

/// The slot of the `u32` indices buffer among an operation's buffers, by name.
const INDICES: &str = "indices";

fn op(
    name: &'static str,
    buffers: &[(&'static str, usize)],
    call: impl Fn(&mut [Vec<f32>], &mut [u32]) -> Result<(), Error> + 'static,
) -> Op {
    Op {
        name,
        buffers: buffers.to_vec(),
        call: Box::new(call),
    }
}

/// Calls `op` with the given lengths; returns its result and whether every buffer is as it
/// was.
fn run(op: &Op, lens: &[usize]) -> (Result<(), Error>, bool) {
    let mut floats: Vec<Vec<f32>> = Vec::new();
    let mut indices = vec![0u32; 0];
    for (&(name, _), &len) in op.buffers.iter().zip(lens) {
        if name == INDICES {
            indices = vec![0; len];
            floats.push(Vec::new());
        } else {
            floats.push(vec![S; len]);
        }
    }
    let r = (op.call)(&mut floats, &mut indices);
    let untouched = floats.iter().flatten().all(|&v| v == S) && indices.iter().all(|&i| i == 0);
    (r, untouched)
}

fn ops() -> Vec<Op> {
    let x = Shape::new(2, 3, 5, 6).unwrap();
    let p = Pad::new(
        x,
        Padding {
            top: 1,
            bottom: 0,
            left: 2,
            right: 1,
        },
    )
    .unwrap();
    let (pi, po) = (p.input().len(), p.output().len());

    // A batch of two for the whole-batch calls; the tiles are one image's.
    let g = Geom::of_window(2, 3, 5, 6, Window::new(3, 2).with_stride(2, 1));
    let (ib, ic) = (g.im2col_batch().unwrap(), g.im2col().unwrap());
    let (input, col) = (ib.input_len(), ib.col_len());
    let (img, tile) = (ic.image_len(), ic.tile_len(3));

    let cg = Geom::conv2d(2, 4, 5, 6, 6, 2, (3, 3), (1, 2), (1, 1), [1, 1, 0, 1]);
    let cv = cg.conv().unwrap();
    let (cx, cw, cy, cb) = (
        cv.input_len(),
        cv.weight_len(),
        cv.output_len(),
        cv.bias_len(),
    );
    let scratch = cv.scratch_len::<f32>();

    let pg = Geom::pool2d(
        [2, 3],
        [5, 6],
        [3, 2],
        [2, 2],
        [1, 1],
        [[1, 0], [0, 1]],
        true,
    );
    let pl = pg.pool().unwrap();
    let (px, py) = (pl.input_len(), pl.output_len());
    let avg = AvgPool2d::new(pl, Divisor::CountExcludePad).unwrap();
    let (gx, gy) = (x.len(), x.n() * x.c());

    vec![
        op("pad", &[("input", pi), ("output", po)], move |b, _| {
            let [i, o] = b else { unreachable!() };
            pad(&p, 0.0, i, o)
        }),
        op("crop", &[("padded", po), ("output", pi)], move |b, _| {
            let [i, o] = b else { unreachable!() };
            crop(&p, i, o)
        }),
        op("im2col", &[("input", input), ("col", col)], move |b, _| {
            let [i, o] = b else { unreachable!() };
            im2col(&ib, i, o)
        }),
        op(
            "im2col_columns",
            &[("image", img), ("tile", tile)],
            move |b, _| {
                let [i, o] = b else { unreachable!() };
                im2col_columns(&ic, i, 2..5, o)
            },
        ),
        op("col2im", &[("col", col), ("input", input)], move |b, _| {
            let [i, o] = b else { unreachable!() };
            col2im(&ib, i, o, Accum::Add)
        }),
        op(
            "col2im_columns",
            &[("tile", tile), ("image", img)],
            move |b, _| {
                let [i, o] = b else { unreachable!() };
                col2im_columns(&ic, i, 2..5, o, Accum::Replace)
            },
        ),
        op(
            "conv2d",
            &[("input", cx), ("weight", cw), ("bias", cb), ("output", cy)],
            move |b, _| {
                let [x, w, bias, y] = b else { unreachable!() };
                conv2d(&cv, x, w, Some(bias), None, y, &mut vec![0.0; scratch])
            },
        ),
        op(
            "conv2d_backward_data",
            &[("weight", cw), ("grad_output", cy), ("grad_input", cx)],
            move |b, _| {
                let [w, dy, dx] = b else { unreachable!() };
                let mut s = vec![0.0; scratch];
                conv2d_backward_data(&cv, w, dy, dx, Accum::Add, &mut s)
            },
        ),
        op(
            "conv2d_backward_filter",
            &[("input", cx), ("grad_output", cy), ("grad_weight", cw)],
            move |b, _| {
                let [x, dy, dw] = b else { unreachable!() };
                let mut s = vec![0.0; scratch];
                conv2d_backward_filter(&cv, x, dy, dw, Accum::Replace, &mut s)
            },
        ),
        op(
            "conv2d_backward_bias",
            &[("grad_output", cy), ("grad_bias", cb)],
            move |b, _| {
                let [dy, db] = b else { unreachable!() };
                conv2d_backward_bias(&cv, dy, db, Accum::Replace)
            },
        ),
        op(
            "max_pool2d",
            &[("input", px), ("output", py)],
            move |b, _| {
                let [x, y] = b else { unreachable!() };
                max_pool2d(&pl, x, y)
            },
        ),
        op(
            "max_pool2d_with_indices",
            &[("input", px), ("output", py), (INDICES, py)],
            move |b, idx| {
                let [x, y, _] = b else { unreachable!() };
                max_pool2d_with_indices(&pl, x, y, idx)
            },
        ),
        op(
            "max_pool2d_backward",
            &[("grad_output", py), (INDICES, py), ("grad_input", px)],
            move |b, idx| {
                let [dy, _, dx] = b else { unreachable!() };
                max_pool2d_backward(&pl, dy, idx, dx, Accum::Add)
            },
        ),
        op(
            "max_pool2d_backward_recompute",
            &[("input", px), ("grad_output", py), ("grad_input", px)],
            move |b, _| {
                let [x, dy, dx] = b else { unreachable!() };
                max_pool2d_backward_recompute(&pl, x, dy, dx, Accum::Replace)
            },
        ),
        op(
            "avg_pool2d",
            &[("input", px), ("output", py)],
            move |b, _| {
                let [x, y] = b else { unreachable!() };
                avg_pool2d(&avg, x, y)
            },
        ),
        op(
            "avg_pool2d_backward",
            &[("grad_output", py), ("grad_input", px)],
            move |b, _| {
                let [dy, dx] = b else { unreachable!() };
                avg_pool2d_backward(&avg, dy, dx, Accum::Add)
            },
        ),
        op(
            "global_avg_pool2d",
            &[("input", gx), ("output", gy)],
            move |b, _| {
                let [x, y] = b else { unreachable!() };
                global_avg_pool2d(x_shape(), x, y)
            },
        ),
        op(
            "global_avg_pool2d_backward",
            &[("grad_output", gy), ("grad_input", gx)],
            move |b, _| {
                let [dy, dx] = b else { unreachable!() };
                global_avg_pool2d_backward(x_shape(), dy, dx, Accum::Replace)
            },
        ),
    ]
}

fn x_shape() -> Shape {
    Shape::new(2, 3, 5, 6).unwrap()
}

#[test]
fn every_buffer_too_short_too_long_and_empty_is_refused_untouched() {
    let mut checked = 0;
    for op in ops() {
        let right: Vec<usize> = op.buffers.iter().map(|&(_, len)| len).collect();
        assert!(right.iter().all(|&len| len > 1), "{}: a real test", op.name);
        // The right lengths pass (so the failures below are the lengths').
        assert_eq!(run(&op, &right).0, Ok(()), "{}", op.name);
        for (i, &(buffer, expected)) in op.buffers.iter().enumerate() {
            for actual in [expected - 1, expected + 1, 0] {
                let mut lens = right.clone();
                lens[i] = actual;
                let (r, untouched) = run(&op, &lens);
                assert_eq!(
                    r,
                    Err(Error::BufferLength {
                        buffer,
                        expected,
                        actual
                    }),
                    "{} with {buffer} of {actual}",
                    op.name
                );
                assert!(untouched, "{} wrote with {buffer} of {actual}", op.name);
                checked += 1;
            }
        }
    }
    // 18 operations, 43 buffers, 3 wrong lengths each.
    assert_eq!(checked, 3 * 43);
}
