//! The forward pass's operands, plain or packed weights: what [`conv2d`](super::conv2d) and
//! [`conv2d_packed`](super::conv2d_packed) hand to every family's kernels.

use super::clamp::Clamp;
use super::geometry::{Conv2d, Pass, Path};
use crate::arch::Float;
use crate::error::{check_len, Error};
use crate::gemm::PackedA;
use crate::matrix::MatRef;
use crate::walk::nth_chunk;

/// The forward pass's operands, as [`conv2d`](super::conv2d) takes them; `W` is the
/// weights: plain (`[T]`), or packed ([`PackedWeight`](super::PackedWeight)).
pub(super) struct Operands<'a, T, W: ?Sized = [T]> {
    /// `N x C x H x W`.
    pub input: &'a [T],
    /// `(OC, C / groups, KH, KW)`, plain or packed.
    pub weight: &'a W,
    /// `OC` values, if any.
    pub bias: Option<&'a [T]>,
    /// Applied on the way out, if any.
    pub clamp: Option<Clamp<T>>,
    /// `N x OC x OH x OW`, overwritten.
    pub output: &'a mut [T],
}

impl<'a, T: Float, W: ?Sized> Operands<'a, T, W> {
    /// The operands in [`conv2d`](super::conv2d)'s order.
    #[inline(always)]
    pub(super) fn new(
        input: &'a [T],
        weight: &'a W,
        bias: Option<&'a [T]>,
        clamp: Option<Clamp<T>>,
        output: &'a mut [T],
    ) -> Self {
        Operands {
            input,
            weight,
            bias,
            clamp,
            output,
        }
    }

    /// The lengths of the input, the bias and the output (the weights' are the caller's:
    /// plain or packed), then the plan for `scratch` elements of workspace.
    #[inline(always)]
    pub(super) fn check<const PACKED: bool>(
        &self,
        conv: &Conv2d,
        scratch: &[T],
    ) -> Result<Path, Error> {
        check_len("input", conv.input_len(), self.input.len())?;
        if let Some(b) = self.bias {
            check_len("bias", conv.bias_len(), b.len())?;
        }
        check_len("output", conv.output_len(), self.output.len())?;
        conv.plan::<T, PACKED>(Pass::Forward, scratch.len())
    }
}

/// One group's filters, the GEMM's left operand: plain, or packed.
pub(super) enum Filters<'a, T> {
    /// Row-major, `OC / groups` rows, packed by the GEMM on every call.
    Plain(MatRef<'a, T>),
    /// Packed once by [`conv2d_pack_weight`](super::conv2d_pack_weight).
    Packed(PackedA<'a, T>),
}

/// Weights the GEMM path reads group by group.
pub(super) trait GroupWeights<T> {
    /// Group `g`'s `OC / groups x (C / groups) * KH * KW` filters.
    fn group(&self, conv: &Conv2d, g: usize) -> Result<Filters<'_, T>, Error>;
}

impl<T: Copy> GroupWeights<T> for [T] {
    #[inline(always)]
    fn group(&self, conv: &Conv2d, g: usize) -> Result<Filters<'_, T>, Error> {
        let (ocg, rows) = (conv.group_out_channels(), conv.group().rows());
        let w = nth_chunk(self, g, ocg * rows);
        Ok(Filters::Plain(MatRef::row_major(w, ocg, rows)?))
    }
}
