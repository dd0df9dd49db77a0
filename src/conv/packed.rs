//! The forward pass with pre-packed weights: [`conv2d_pack_weight`] lays each group's
//! filters out as the GEMM's packed left operand once, and [`conv2d_packed`] runs
//! [`conv2d`]'s GEMM paths without packing them again (as onnxruntime packs a model's
//! weights when it loads it).

use super::clamp::Clamp;
use super::forward::{conv2d, gemm_path};
use super::geometry::Conv2d;
use super::operands::{Filters, GroupWeights, Operands};
use crate::arch::{Float, Isa};
use crate::error::{check_len, Error};
use crate::gemm::{align_skip, check_isa, mr, pack_into, thin, PackedA};
use crate::matrix::MatRef;
use crate::walk::{after, chunks};

/// A convolution's weights packed by [`conv2d_pack_weight`] into a caller's buffer, for the
/// instruction set of the geometry it was packed for; [`conv2d_packed`] takes it in the
/// weights' place.
///
/// It fits every geometry with the same weights (output channels, channels per group,
/// window size, groups), instruction set and kernel family: the same layer at another batch
/// size ([`Conv2d::with_batch`]) or input size reuses it. `Copy`: one packing serves any
/// number of calls and threads.
///
/// ```
/// use nchw::{conv2d_pack_weight, Conv2d, Shape, Window};
/// let conv = Conv2d::new(Shape::new(1, 2, 5, 5)?, 4, Window::square(3), 1)?;
/// let mut buffer = vec![0.0f32; conv.packed_weight_len::<f32>()];
/// let packed = conv2d_pack_weight(&conv, &[0.5; 4 * 2 * 3 * 3], &mut buffer)?;
/// assert_eq!(packed.isa(), conv.isa());
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PackedWeight<'a, T> {
    /// The plain weights, or each group's packed A (`group_len` elements) one after the other
    /// and the rest of the buffer.
    data: &'a [T],
    group_len: usize,
    /// Output channels, channels per group, kernel height and width, groups.
    shape: [usize; 5],
    isa: Isa,
    plain: bool,
    /// Whether each group's filters are a plain row-major copy (one output channel per
    /// group, or one output pixel: see [`thin`]).
    thin: bool,
}

impl<T> PackedWeight<'_, T> {
    /// The instruction set the weights were packed for: [`conv2d_packed`] runs on it only.
    ///
    /// ```
    /// use nchw::{conv2d_pack_weight, Conv2d, Isa, Shape, Window};
    /// let conv = Conv2d::new(Shape::new(1, 1, 3, 3)?, 2, Window::square(2), 1)?;
    /// let conv = conv.with_isa(Isa::Portable)?;
    /// let mut buffer = vec![0.0f32; conv.packed_weight_len::<f32>()];
    /// assert_eq!(conv2d_pack_weight(&conv, &[1.0; 8], &mut buffer)?.isa(), Isa::Portable);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// The weights' shape as [`PackedWeight`] records it.
fn shape(conv: &Conv2d) -> [usize; 5] {
    let w = conv.window();
    [
        conv.output().c(),
        conv.input().c() / conv.groups(),
        w.kernel_h,
        w.kernel_w,
        conv.groups(),
    ]
}

/// What a [`PackedWeight`] holds, for [`Error::PackedMismatch`].
const fn layout(plain: bool) -> &'static str {
    if plain {
        "the plain weights layout"
    } else {
        "the GEMM sliver layout"
    }
}

/// Packs `weight` (`(OC, C / groups, KH, KW)`, as [`conv2d`] takes it) into `buffer` for
/// [`conv2d_packed`] on `conv`'s instruction set: each group's `OC / groups` filters as the
/// GEMM's packed left operand. Where the forward pass runs no GEMM (depthwise, and the direct
/// kernels of M-profile cores with an FPU for `f32`), a plain copy.
///
/// # Errors
/// [`Error::BufferLength`] unless `weight` holds exactly [`Conv2d::weight_len`] elements and
/// `buffer` exactly [`Conv2d::packed_weight_len`]; `buffer` is then untouched.
///
/// ```
/// use nchw::{conv2d, conv2d_pack_weight, conv2d_packed, Conv2d, Padding, Shape, Window};
/// let same = Window::square(3).with_padding(Padding::uniform(1));
/// let conv = Conv2d::new(Shape::new(1, 3, 8, 8)?, 16, same, 1)?;
/// let weight: Vec<f32> = (0..conv.weight_len()).map(|i| (i % 7) as f32 - 3.0).collect();
/// let mut buffer = vec![0.0; conv.packed_weight_len::<f32>()];
/// let packed = conv2d_pack_weight(&conv, &weight, &mut buffer)?; // once, at load time
/// let x = vec![1.0f32; conv.input_len()];
/// let (mut y, mut want) = (vec![0.0; conv.output_len()], vec![0.0; conv.output_len()]);
/// let mut scratch = vec![0.0; conv.scratch_len::<f32>()];
/// conv2d_packed(&conv, &x, &packed, None, None, &mut y, &mut scratch)?;
/// conv2d(&conv, &x, &weight, None, None, &mut want, &mut scratch)?;
/// assert_eq!(y, want);
/// assert!(conv2d_pack_weight(&conv, &weight, &mut buffer[1..]).is_err());
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_pack_weight<'a, T: Float>(
    conv: &Conv2d,
    weight: &[T],
    buffer: &'a mut [T],
) -> Result<PackedWeight<'a, T>, Error> {
    check_len("weight", conv.weight_len(), weight.len())?;
    check_len("packed weight", conv.packed_weight_len::<T>(), buffer.len())?;
    let (isa, shape) = (conv.isa(), shape(conv));
    if conv.plain_weights::<T>() {
        buffer.copy_from_slice(weight);
        return Ok(PackedWeight {
            data: buffer,
            group_len: 0,
            shape,
            isa,
            plain: true,
            thin: false,
        });
    }
    let (ocg, rows) = (conv.output().c() / conv.groups(), conv.group().rows());
    // One output channel per group, or one output pixel: the GEMMs are dot products or row
    // updates, which read a plain copy of the filters (`thin`).
    let thin = thin(ocg, conv.group().cols());
    // SAFETY: `isa` is the geometry's, so available.
    let mr = if thin { 1 } else { unsafe { mr::<T>(isa) } };
    let group_len = ocg.div_ceil(mr).saturating_mul(mr).saturating_mul(rows);
    let (_, buffer) = buffer.split_at_mut(align_skip(buffer));
    // `packed_weight_len` rounds `ocg` up to the largest `MR` per group: every group fits.
    let mut rest = &mut *buffer;
    for w in chunks(weight, ocg * rows) {
        let (dst, tail) = rest.split_at_mut(group_len.min(rest.len()));
        rest = tail;
        // SAFETY: `isa` is available; `dst` holds the group's `group_len` elements.
        unsafe { pack_into(isa, MatRef::row_major(w, ocg, rows)?, dst, thin) };
    }
    // Every group's packing and the room after the last (see `pack_into`).
    let buffer: &'a [T] = buffer;
    Ok(PackedWeight {
        data: buffer,
        group_len,
        shape,
        isa,
        plain: false,
        thin,
    })
}

/// [`conv2d`] with the weights packed by [`conv2d_pack_weight`]: the same arguments, the
/// packed weights in the weights' place, and the same results up to rounding (bitwise, with
/// the full workspace of both).
///
/// `scratch` is at least [`Conv2d::min_scratch_len`] elements, and
/// [`Conv2d::packed_scratch_len`] for full speed: less than [`conv2d`] needs, as the
/// weights are not packed again.
///
/// # Errors
/// [`Error::DimensionMismatch`] if `weight` was packed for weights of another shape,
/// [`Error::PackedMismatch`] if for another instruction set or kernel family;
/// [`Error::BufferLength`] unless every buffer has exactly its size;
/// [`Error::ScratchTooSmall`] if `scratch` is below the minimum. `output` is then untouched.
///
/// ```
/// use nchw::{conv2d_pack_weight, conv2d_packed, Clamp, Conv2d, Shape, Window};
/// // As for `conv2d`: a 2x2 filter of ones, bias -14, ReLU, over a 3x3 image.
/// let conv = Conv2d::new(Shape::new(1, 1, 3, 3)?, 1, Window::square(2), 1)?;
/// let mut buffer = vec![0.0f32; conv.packed_weight_len::<f32>()];
/// let w = conv2d_pack_weight(&conv, &[1.0; 4], &mut buffer)?;
/// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// let mut y = [f32::NAN; 4];
/// let mut scratch = vec![0.0; conv.packed_scratch_len::<f32>()];
/// conv2d_packed(&conv, &x, &w, Some(&[-14.0]), Some(Clamp::relu()), &mut y, &mut scratch)?;
/// assert_eq!(y, [0.0, 2.0, 10.0, 14.0]);
/// // The same layer on a batch of two reuses the packed weights.
/// let batch = conv.with_batch(2)?;
/// let (x2, mut y2) = ([x, x].concat(), [0.0f32; 8]);
/// conv2d_packed(&batch, &x2, &w, Some(&[-14.0]), Some(Clamp::relu()), &mut y2, &mut scratch)?;
/// assert_eq!(y2, [0.0, 2.0, 10.0, 14.0, 0.0, 2.0, 10.0, 14.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_packed<T: Float>(
    conv: &Conv2d,
    input: &[T],
    weight: &PackedWeight<'_, T>,
    bias: Option<&[T]>,
    clamp: Option<Clamp<T>>,
    output: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    let names = [
        "packed weight out_channels",
        "packed weight channels per group",
        "packed weight kernel_h",
        "packed weight kernel_w",
        "packed weight groups",
    ];
    for ((what, left), right) in names.into_iter().zip(weight.shape).zip(shape(conv)) {
        if left != right {
            return Err(Error::DimensionMismatch { what, left, right });
        }
    }
    check_isa(weight.isa, conv.isa())?;
    let plain = conv.plain_weights::<T>();
    if weight.plain != plain {
        return Err(Error::PackedMismatch {
            packed: layout(weight.plain),
            call: layout(plain),
        });
    }
    if plain {
        return conv2d(conv, input, weight.data, bias, clamp, output, scratch);
    }
    let op = Operands::new(input, weight, bias, clamp, output);
    match conv.tiling(op.check::<true>(conv, scratch)?) {
        Some(tiling) => gemm_path(conv, op, scratch, tiling),
        None => {
            debug_assert!(
                false,
                "packed weights are plain where the plan is depthwise"
            );
            Ok(())
        }
    }
}

impl<T> GroupWeights<T> for PackedWeight<'_, T> {
    /// Group `g`'s packing: it starts at `g * group_len`, and its view runs on to the end of
    /// the buffer (the nest may read a vector past the end of a group's last sliver).
    #[inline(always)]
    fn group(&self, conv: &Conv2d, g: usize) -> Result<Filters<'_, T>, Error> {
        let (ocg, rows) = (conv.group_out_channels(), conv.group().rows());
        let data = after(self.data, g.saturating_mul(self.group_len));
        let packed = PackedA::from_parts(data, ocg, rows, self.isa, self.thin);
        Ok(Filters::Packed(packed))
    }
}
