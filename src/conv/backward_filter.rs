//! The gradients with respect to the weights (`dw = dy col^T`, summed over the batch) and
//! the bias (`db = sum of dy over N, H, W`).

use super::depthwise;
use super::geometry::{Conv2d, Pass, Tiling};
use crate::accum::Accum;
use crate::walk::{after, chunks};

use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::product;
use crate::matrix::{MatMut, MatRef};

/// The weight gradient `grad_weight (+)= sum over the batch of dy_g col(x_g)^T`, per group.
///
/// `input` is `N x C x H x W`, `grad_output` `N x OC x OH x OW`, `grad_weight`
/// `(OC, C / groups, KH, KW)`. With [`Accum::Replace`] `grad_weight` is overwritten (never
/// read; zero for an empty batch); with [`Accum::Add`] the gradient is added to it
/// (gradient accumulation across micro-batches).
///
/// `scratch` as for [`conv2d`](crate::conv2d). The tile width sets the order in which a
/// weight's terms are summed, so different workspace sizes agree up to rounding, not bitwise.
///
/// # Errors
/// [`Error::BufferLength`] unless every buffer has exactly its size;
/// [`Error::ScratchTooSmall`] if `scratch` is below the minimum. `grad_weight` is then
/// untouched.
///
/// ```
/// use nchw::{conv2d_backward_filter, Accum, Conv2d, Shape, Window};
/// // 1x1x3 input, a 1x2 filter: dw0 = x0 dy0 + x1 dy1, dw1 = x1 dy0 + x2 dy1.
/// let conv = Conv2d::new(Shape::new(1, 1, 1, 3)?, 1, Window::new(1, 2), 1)?;
/// let mut dw = [f32::NAN; 2];
/// let mut scratch = vec![0.0; conv.scratch_len::<f32>()];
/// let (x, dy) = ([1.0, 2.0, 3.0], [1.0, 10.0]);
/// conv2d_backward_filter(&conv, &x, &dy, &mut dw, Accum::Replace, &mut scratch)?;
/// assert_eq!(dw, [21.0, 32.0]);
/// conv2d_backward_filter(&conv, &x, &dy, &mut dw, Accum::Add, &mut scratch)?;
/// assert_eq!(dw, [42.0, 64.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_backward_filter<T: Float>(
    conv: &Conv2d,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
    accum: Accum,
    scratch: &mut [T],
) -> Result<(), Error> {
    check_len("input", conv.input_len(), input.len())?;
    check_len("grad_output", conv.output_len(), grad_output.len())?;
    check_len("grad_weight", conv.weight_len(), grad_weight.len())?;
    let path = conv.plan::<T, false>(Pass::BackwardFilter, scratch.len())?;
    if accum == Accum::Replace {
        grad_weight.fill(T::ZERO);
    }
    match conv.tiling(path) {
        Some(tiling) => gemm_path(conv, input, grad_output, grad_weight, scratch, tiling),
        None => {
            depthwise::on_isa(
                conv,
                depthwise::BackwardFilter {
                    conv,
                    input,
                    grad_output,
                    grad_weight,
                },
            );
            Ok(())
        }
    }
}

/// The 1x1 and im2col paths: per image, group and tile of columns, `dw_g += dy_g[:, tile]
/// col^T`, with `col` the input itself (1x1) or the tile unfolded.
fn gemm_path<T: Float>(
    conv: &Conv2d,
    input: &[T],
    grad_output: &[T],
    grad_weight: &mut [T],
    scratch: &mut [T],
    tiling: Tiling,
) -> Result<(), Error> {
    let isa = conv.isa();
    let g = conv.group();
    let (rows, cols, ocg) = (g.rows(), g.cols(), conv.group_out_channels());
    let (col, packing) = conv.split_scratch(scratch, tiling);
    for (x, dy) in conv.images(input, grad_output) {
        let groups = conv.input_groups(x).zip(conv.output_groups(dy));
        for ((x, dy), dw) in groups.zip(conv.weight_groups(&mut *grad_weight)) {
            for columns in conv.tiles(tiling.tile) {
                let n = columns.end - columns.start;
                let dy = MatRef::new(after(dy, columns.start), ocg, n, cols, 1)?;
                let x = conv.columns(x, columns, &mut *col, tiling)?;
                // SAFETY: `isa` is the geometry's, so available; the operands agree by
                // construction of the geometry.
                unsafe {
                    product(
                        isa,
                        T::ONE,
                        dy,
                        x.t(),
                        T::ONE,
                        MatMut::row_major(&mut *dw, ocg, rows)?,
                        packing,
                    )
                };
            }
        }
    }
    Ok(())
}

/// The bias gradient `grad_bias[oc] (+)= sum over n, oh, ow of grad_output[n, oc, oh, ow]`.
///
/// With [`Accum::Replace`] `grad_bias` is overwritten (never read; zero for an empty
/// batch); with [`Accum::Add`] the sums are added to it.
///
/// # Errors
/// [`Error::BufferLength`] unless `grad_output` holds [`Conv2d::output_len`] and `grad_bias`
/// [`Conv2d::bias_len`] elements; `grad_bias` is then untouched.
///
/// ```
/// use nchw::{conv2d_backward_bias, Accum, Conv2d, Shape, Window};
/// let conv = Conv2d::new(Shape::new(2, 1, 1, 2)?, 2, Window::new(1, 1), 1)?;
/// let dy = [1.0f32, 2.0, 10.0, 20.0, /* image 1 */ 3.0, 4.0, 30.0, 40.0];
/// let mut db = [f32::NAN; 2];
/// conv2d_backward_bias(&conv, &dy, &mut db, Accum::Replace)?;
/// assert_eq!(db, [10.0, 100.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_backward_bias<T: Float>(
    conv: &Conv2d,
    grad_output: &[T],
    grad_bias: &mut [T],
    accum: Accum,
) -> Result<(), Error> {
    check_len("grad_output", conv.output_len(), grad_output.len())?;
    check_len("grad_bias", conv.bias_len(), grad_bias.len())?;
    let (image, plane) = (conv.output().image_len(), conv.output().plane_len());
    let images = chunks(grad_output, image);
    for (c, db) in grad_bias.iter_mut().enumerate() {
        // Plane `c` of every image (there are `OC` planes, as many as biases).
        let acc = images.clone().fold(T::ZERO, |acc, y| {
            acc + chunks(y, plane).nth(c).map_or(T::ZERO, sum)
        });
        *db = match accum {
            Accum::Replace => acc,
            Accum::Add => *db + acc,
        };
    }
    Ok(())
}

/// The sum of `x` in eight interleaved partial sums (vectorizes, and rounds better than one
/// running sum).
fn sum<T: Float>(x: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = x.chunks_exact(8);
    let mut tail = T::ZERO;
    for v in chunks.remainder() {
        tail += *v;
    }
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}
