//! The gradient with respect to the input: `dx = col2im(W^T dy)` per group.

use super::depthwise;
use super::geometry::{Conv2d, Pass};
use crate::accum::Accum;
use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::product;
use crate::im2col::fold;
use crate::matrix::{MatMut, MatRef};
use crate::walk::after;

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
    let path = conv.plan::<T, false>(Pass::BackwardData, scratch.len())?;
    let tiling = conv.tiling(path);
    // The 1x1 path writes (or adds) the gradient straight; the others add into it.
    if accum == Accum::Replace && !tiling.is_some_and(|t| t.in_place) {
        grad_input.fill(T::ZERO);
    }
    let Some(tiling) = tiling else {
        depthwise::on_isa(
            conv,
            depthwise::BackwardData {
                conv,
                grad_output,
                weight,
                grad_input,
            },
        );
        return Ok(());
    };
    // The 1x1 and im2col paths: per image, group and tile of columns, `col = W_g^T dy_g[:,
    // tile]` folded into `dx_g`; on the 1x1 path `col` is the tile of `dx_g` itself,
    // written (or, with `Accum::Add`, added to) in place.
    let isa = conv.isa();
    let g = conv.group();
    let (rows, cols, ocg) = (g.rows(), g.cols(), conv.group_out_channels());
    let (col, packing) = conv.split_scratch(scratch, tiling);
    let beta = match accum {
        Accum::Add if tiling.in_place => T::ONE,
        _ => T::ZERO,
    };
    let groups = conv
        .output_groups(grad_output)
        .zip(conv.input_groups(grad_input));
    for ((dy, dx), w) in groups.zip(conv.weight_groups(weight).cycle()) {
        let w = MatRef::row_major(w, ocg, rows)?;
        for columns in conv.tiles(tiling.tile) {
            let n = columns.end - columns.start;
            let dy = MatRef::new(after(dy, columns.start), ocg, n, cols, 1)?;
            let out = if tiling.in_place {
                MatMut::new(after(&mut *dx, columns.start), rows, n, cols, 1)?
            } else {
                MatMut::row_major(conv.tile(&mut *col, n), rows, n)?
            };
            // SAFETY: `isa` is the geometry's, so available; the operands agree by
            // construction of the geometry.
            unsafe { product(isa, T::ONE, w.t(), dy, beta, out, packing) };
            if !tiling.in_place {
                fold(g, conv.tile(&mut *col, n), columns, dx);
            }
        }
    }
    Ok(())
}
