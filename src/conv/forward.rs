//! The forward pass: `y = clamp(conv(x, w) + b)`.

use super::chunks::{after, chunks};
use super::clamp::{finish_rows, Clamp};
use super::depthwise;
use super::geometry::{Conv2d, Pass, Path};

use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::{product, MatMut, MatRef};
use crate::im2col::unfold;

/// The forward convolution `output = clamp(conv(input, weight) + bias)`, overwriting
/// `output` (never read).
///
/// `input` is `N x C x H x W`, `weight` `(OC, C / groups, KH, KW)`, `bias` (optional) `OC`
/// values, `output` `N x OC x OH x OW`, all NCHW (see [`Conv2d`] for the sizes). `clamp`,
/// when given, is applied on the way out (ReLU and ReLU6 cost nothing extra).
///
/// `scratch` is the workspace: at least [`Conv2d::min_scratch_len`] elements, and
/// [`Conv2d::scratch_len`] for full speed. Every workspace size gives the same result up to
/// rounding, not bitwise: the tile width, and the GEMM's blocking, set the summation order.
///
/// # Errors
/// [`Error::BufferLength`] unless every buffer has exactly its size;
/// [`Error::ScratchTooSmall`] if `scratch` is below the minimum. `output` is then untouched.
///
/// ```
/// use nchw::{conv2d, Clamp, Conv2d, Padding, Shape, Window};
/// // One 1x3x3 image, one 2x2 filter of ones, bias -10, ReLU.
/// let conv = Conv2d::new(Shape::new(1, 1, 3, 3)?, 1, Window::square(2), 1)?;
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut y = [f32::NAN; 4];
/// let mut scratch = vec![0.0; conv.scratch_len::<f32>()];
/// conv2d(&conv, &x, &[1.0; 4], Some(&[-14.0]), Some(Clamp::relu()), &mut y, &mut scratch)?;
/// assert_eq!(y, [0.0, 2.0, 10.0, 14.0]); // window sums 12, 16, 24, 28, minus 14, ReLU
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d<T: Float>(
    conv: &Conv2d,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    check_len("input", conv.input_len(), input.len())?;
    check_len("weight", conv.weight_len(), weight.len())?;
    if let Some(b) = bias {
        check_len("bias", conv.bias_len(), b.len())?;
    }
    check_len("output", conv.output_len(), output.len())?;
    match conv.plan::<T>(Pass::Forward, scratch.len())? {
        Path::Depthwise { padded } => {
            let padded = scratch.get_mut(..padded).unwrap_or_default();
            depthwise::on_isa(
                conv,
                depthwise::Forward {
                    conv,
                    input,
                    weight,
                    bias,
                    clamp,
                    output,
                    padded,
                },
            );
            Ok(())
        }
        Path::Pointwise => pointwise(conv, input, weight, bias, clamp, output, scratch),
        Path::Columns { tile } => columns(conv, input, weight, bias, clamp, output, scratch, tile),
    }
}

/// 1x1, stride 1, no padding: per image and group, `y_g = W_g x_g` straight on the input.
fn pointwise<T: Float>(
    conv: &Conv2d,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    let isa = conv.isa();
    let (cg, ocg, hw) = (
        conv.group_channels(),
        conv.group_out_channels(),
        conv.group().cols(),
    );
    let groups = conv.input_groups(input).zip(conv.output_groups(output));
    let filters = conv.weight_groups(weight).zip(conv.bias_groups(bias));
    for ((x, y), (w, b)) in groups.zip(filters.cycle()) {
        // SAFETY: `isa` is the geometry's, so available; the operands agree by
        // construction of the geometry.
        unsafe {
            product(
                isa,
                T::ONE,
                MatRef::row_major(w, ocg, cg)?,
                MatRef::row_major(x, cg, hw)?,
                T::ZERO,
                MatMut::row_major(&mut *y, ocg, hw)?,
                scratch,
            )
        };
        finish_rows(chunks(y, hw), b, clamp);
    }
    Ok(())
}

/// Per image, group and tile of columns: im2col the tile, then `y_g[:, tile] = W_g col`.
#[allow(clippy::too_many_arguments)]
fn columns<T: Float>(
    conv: &Conv2d,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
    scratch: &mut [T],
    tile: usize,
) -> Result<(), Error> {
    let isa = conv.isa();
    let g = conv.group();
    let (rows, cols, ocg) = (g.rows(), g.cols(), conv.group_out_channels());
    let (col, packing) = conv.split_scratch(scratch, tile);
    let groups = conv.input_groups(input).zip(conv.output_groups(output));
    let filters = conv.weight_groups(weight).zip(conv.bias_groups(bias));
    for ((x, y), (w, b)) in groups.zip(filters.cycle()) {
        let w = MatRef::row_major(w, ocg, rows)?;
        for columns in conv.tiles(tile) {
            let n = columns.end - columns.start;
            let col = conv.tile(&mut *col, n);
            unfold(g, x, columns.clone(), col);
            // SAFETY: `isa` is the geometry's, so available; the operands agree by
            // construction of the geometry.
            unsafe {
                product(
                    isa,
                    T::ONE,
                    w,
                    MatRef::row_major(col, rows, n)?,
                    T::ZERO,
                    MatMut::new(after(&mut *y, columns.start), ocg, n, cols, 1)?,
                    packing,
                )
            };
            finish_rows(conv.tile_rows(&mut *y, columns), b, clamp);
        }
    }
    Ok(())
}
