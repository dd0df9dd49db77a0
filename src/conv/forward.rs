//! The forward pass: `y = clamp(conv(x, w) + b)`.

use super::clamp::{finish_rows, Clamp};
use super::depthwise;
use super::geometry::{Conv2d, Family, Pass, Path, Tiling};
use super::operands::{Filters, GroupWeights, Operands};
use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::{product, product_packed};
use crate::matrix::MatMut;
use crate::walk::after;

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
#[inline(always)]
pub fn conv2d<T: Float>(
    conv: &Conv2d,
    input: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    // One call to the family's function. The family is a field of the geometry: with a
    // constant geometry this folds to a direct call, and a firmware links only the kernels
    // its layers run.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    let f32 = core::mem::size_of::<T>() == core::mem::size_of::<f32>();
    let run: Forward<T> = match conv.family() {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::Direct3x3 if f32 => direct::<T, DIRECT_3X3>,
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::DirectPointwise if f32 => direct::<T, DIRECT_1X1>,
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::DirectDepthwise if f32 => direct::<T, DIRECT_DEPTHWISE>,
        Family::Depthwise => planned::<T, true, false>,
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::DirectDepthwise => planned::<T, true, false>,
        Family::Pointwise | Family::Columns => planned::<T, false, true>,
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::Direct3x3 => planned::<T, false, true>,
        // A 1 x 1 of one channel per group is on the depthwise path.
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        Family::DirectPointwise => planned::<T, true, true>,
    };
    run(
        conv,
        Operands::new(input, weight, bias, clamp, output),
        scratch,
    )
}

/// The forward pass of one family of kernels.
type Forward<T> = fn(&Conv2d, Operands<'_, T>, &mut [T]) -> Result<(), Error>;

/// [`conv2d`]'s checks: every buffer's length and the workspace, then the plan. Out of
/// line: one copy for every family's function.
#[inline(never)]
fn check<T: Float>(conv: &Conv2d, op: &Operands<'_, T>, scratch: &[T]) -> Result<Path, Error> {
    check_len("weight", conv.weight_len(), op.weight.len())?;
    op.check::<false>(conv, scratch)
}

/// [`direct`]'s kernels: 3 x 3, 1 x 1 and depthwise.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const DIRECT_3X3: u8 = 0;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const DIRECT_1X1: u8 = 1;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const DIRECT_DEPTHWISE: u8 = 2;

/// A direct kernel of M-profile cores with an FPU (`f32`, a geometry of its family): one
/// function per `KERNEL`, so a firmware links only the kernels its layers use.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(never)]
fn direct<T: Float, const KERNEL: u8>(
    conv: &Conv2d,
    op: Operands<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
    check(conv, &op, scratch)?;
    let kernel = match KERNEL {
        DIRECT_3X3 => super::cortex_m::forward,
        DIRECT_1X1 => super::cortex_m::pointwise,
        _ => super::cortex_m::depthwise,
    };
    let done = kernel(conv, op);
    debug_assert!(done.is_some(), "the family is the kernel's geometry");
    Ok(())
}

/// The planned paths: the depthwise kernels (if `DEPTHWISE`), or tiles of im2col (or 1x1)
/// columns and the GEMM (if `COLUMNS`), as the plan for the workspace says. [`conv2d`] sets
/// the flags from the family, which the plan's path always belongs to; the other path's
/// code is then not compiled in.
#[inline(never)]
fn planned<T: Float, const DEPTHWISE: bool, const COLUMNS: bool>(
    conv: &Conv2d,
    op: Operands<'_, T>,
    scratch: &mut [T],
) -> Result<(), Error> {
    match check(conv, &op, scratch)? {
        Path::Depthwise { padded } if DEPTHWISE => {
            let padded = scratch.get_mut(..padded).unwrap_or_default();
            depthwise::on_isa(conv, depthwise::Forward { conv, op, padded });
            Ok(())
        }
        path @ (Path::Pointwise | Path::Columns { .. }) if COLUMNS => match conv.tiling(path) {
            Some(tiling) => gemm_path(conv, op, scratch, tiling),
            None => Ok(()),
        },
        _ => {
            debug_assert!(false, "the plan's path is in the geometry's family");
            Ok(())
        }
    }
}

/// The 1x1 and im2col paths, plain or packed weights: per image, group and tile of columns,
/// `y_g[:, tile] = W_g col`, with `col` the input itself (1x1) or the tile unfolded.
#[inline(never)]
pub(super) fn gemm_path<T: Float, W: GroupWeights<T> + ?Sized>(
    conv: &Conv2d,
    op: Operands<'_, T, W>,
    scratch: &mut [T],
    tiling: Tiling,
) -> Result<(), Error> {
    let isa = conv.isa();
    let (ocg, cols) = (conv.group_out_channels(), conv.group().cols());
    let (col, packing) = conv.split_scratch(scratch, tiling);
    let groups = conv
        .input_groups(op.input)
        .zip(conv.output_groups(op.output));
    let filters = (0..conv.groups()).zip(conv.bias_groups(op.bias)).cycle();
    for ((x, y), (g, b)) in groups.zip(filters) {
        let w = op.weight.group(conv, g)?;
        for columns in conv.tiles(tiling.tile) {
            let n = columns.end - columns.start;
            let x = conv.columns(x, columns.clone(), &mut *col, tiling)?;
            let y_tile = MatMut::new(after(&mut *y, columns.start), ocg, n, cols, 1)?;
            // SAFETY: `isa` is the geometry's, so available (packed weights were packed for
            // it: checked); the operands agree by construction of the geometry.
            unsafe {
                match &w {
                    Filters::Plain(w) => {
                        let packing = if Pass::Forward.packs_plain() {
                            &mut *packing
                        } else {
                            &mut []
                        };
                        product(isa, T::ONE, *w, x, T::ZERO, y_tile, packing)
                    }
                    Filters::Packed(w) => product_packed(T::ONE, w, x, T::ZERO, y_tile, packing),
                }
            };
            let rows = conv.tile_rows(&mut *y, columns);
            // SAFETY: `isa` is the geometry's, so available. Compiled for it, the pass adds
            // and clamps a vector register's width at a time (10% of the tutorial's 5x5
            // layer on AVX-512 in the baseline's SSE2).
            unsafe {
                crate::arch::run(
                    isa,
                    #[inline(always)]
                    || finish_rows(rows, b, op.clamp),
                )
            };
        }
    }
    Ok(())
}
