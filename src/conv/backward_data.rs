//! The gradient with respect to the input: `dx = col2im(W^T dy)` per group.

use super::chunks::after;
use super::depthwise;
use super::geometry::{Conv2d, Pass, Path};
use crate::accum::Accum;
use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::{product, MatMut, MatRef};
use crate::im2col::fold;

/// The input gradient `grad_input (+)= conv_backward_data(weight, grad_output)`: the adjoint
/// of [`conv2d`](crate::conv2d) without bias, so `<conv2d(x), dy> == <x, dx>`.
///
/// `weight` is `(OC, C / groups, KH, KW)`, `grad_output` `N x OC x OH x OW`, `grad_input`
/// `N x C x H x W`. With [`Accum::Replace`] `grad_input` is overwritten (never read); with
/// [`Accum::Add`] the gradient is added to it (for an input that feeds several layers).
///
/// `scratch` as for [`conv2d`](crate::conv2d). Input positions collect contributions from
/// several windows, and the tiling fixes the order they are added in, so different workspace
/// sizes agree up to rounding, not bitwise.
///
/// # Errors
/// [`Error::BufferLength`] unless every buffer has exactly its size;
/// [`Error::ScratchTooSmall`] if `scratch` is below the minimum. `grad_input` is then
/// untouched.
///
/// ```
/// use nchw::{conv2d_backward_data, Accum, Conv2d, Shape, Window};
/// // 1x1x3 input, a 1x2 filter [1, 10]: y0 = x0 + 10 x1, y1 = x1 + 10 x2.
/// let conv = Conv2d::new(Shape::new(1, 1, 1, 3)?, 1, Window::new(1, 2), 1)?;
/// let mut dx = [f64::NAN; 3];
/// let mut scratch = vec![0.0; conv.scratch_len::<f64>()];
/// conv2d_backward_data(&conv, &[1.0, 10.0], &[1.0, 2.0], &mut dx, Accum::Replace, &mut scratch)?;
/// assert_eq!(dx, [1.0, 12.0, 20.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_backward_data<T: Float>(
    conv: &Conv2d,
    weight: &[T],
    grad_output: &[T],
    grad_input: &mut [T],
    accum: Accum,
    scratch: &mut [T],
) -> Result<(), Error> {
    check_len("weight", conv.weight_len(), weight.len())?;
    check_len("grad_output", conv.output_len(), grad_output.len())?;
    check_len("grad_input", conv.input_len(), grad_input.len())?;
    let kernel = conv.plan::<T>(Pass::BackwardData, scratch.len())?;
    if let Path::Pointwise = kernel {
        return pointwise(conv, grad_output, weight, grad_input, accum, scratch);
    }
    if accum == Accum::Replace {
        grad_input.fill(T::ZERO);
    }
    match kernel {
        Path::Depthwise { .. } => {
            depthwise::on_isa(
                conv,
                depthwise::BackwardData {
                    conv,
                    grad_output,
                    weight,
                    grad_input,
                },
            );
            Ok(())
        }
        Path::Columns { tile } => columns(conv, grad_output, weight, grad_input, scratch, tile),
        Path::Pointwise => Ok(()),
    }
}

/// 1x1, stride 1, no padding: per image and group, `dx_g (+)= W_g^T dy_g`.
fn pointwise<T: Float>(
    conv: &Conv2d,
    grad_output: &[T],
    weight: &[T],
    grad_input: &mut [T],
    accum: Accum,
    scratch: &mut [T],
) -> Result<(), Error> {
    let isa = conv.isa();
    let (cg, ocg, hw) = (
        conv.group_channels(),
        conv.group_out_channels(),
        conv.group().cols(),
    );
    let beta = match accum {
        Accum::Replace => T::ZERO,
        Accum::Add => T::ONE,
    };
    let groups = conv
        .output_groups(grad_output)
        .zip(conv.input_groups(grad_input));
    for ((dy, dx), w) in groups.zip(conv.weight_groups(weight).cycle()) {
        // SAFETY: `isa` is the geometry's, so available; the operands agree by
        // construction of the geometry.
        unsafe {
            product(
                isa,
                T::ONE,
                MatRef::row_major(w, ocg, cg)?.t(),
                MatRef::row_major(dy, ocg, hw)?,
                beta,
                MatMut::row_major(dx, cg, hw)?,
                scratch,
            )
        };
    }
    Ok(())
}

/// Per image, group and tile: `col = W_g^T dy_g[:, tile]`, then col2im the tile into `dx_g`.
fn columns<T: Float>(
    conv: &Conv2d,
    grad_output: &[T],
    weight: &[T],
    grad_input: &mut [T],
    scratch: &mut [T],
    tile: usize,
) -> Result<(), Error> {
    let isa = conv.isa();
    let g = conv.group();
    let (rows, cols, ocg) = (g.rows(), g.cols(), conv.group_out_channels());
    let (col, packing) = conv.split_scratch(scratch, tile);
    let groups = conv
        .output_groups(grad_output)
        .zip(conv.input_groups(grad_input));
    for ((dy, dx), w) in groups.zip(conv.weight_groups(weight).cycle()) {
        let w = MatRef::row_major(w, ocg, rows)?;
        for columns in conv.tiles(tile) {
            let n = columns.end - columns.start;
            let col = conv.tile(&mut *col, n);
            // SAFETY: `isa` is the geometry's, so available; the operands agree by
            // construction of the geometry.
            unsafe {
                product(
                    isa,
                    T::ONE,
                    w.t(),
                    MatRef::new(after(dy, columns.start), ocg, n, cols, 1)?,
                    T::ZERO,
                    MatMut::row_major(&mut *col, rows, n)?,
                    packing,
                )
            };
            fold(g, col, columns, dx);
        }
    }
    Ok(())
}
