//! The validated convolution geometry, its buffer sizes and the one plan that both sizes the
//! workspace and dispatches the kernels.

use core::num::NonZeroUsize;
use core::ops::Range;

use crate::arch::{forced_isa, Isa, M_PROFILE_FPU};
use crate::element::Element;
use crate::error::{check_nonzero, mul, tri, Error};
use crate::gemm;
use crate::im2col::unfold;
use crate::im2col::Im2col;
use crate::matrix::MatRef;
use crate::shape::{Padding, Shape};
use crate::walk::{after, chunks, Split};
use crate::window::Window;

/// Im2col columns per tile that give full speed on the im2col path.
///
/// Measured on ResNet-18 layers (Xeon, AVX-512): tiles of 256 to 512 columns are as fast as
/// or faster than the whole column matrix, which for a 3x3 layer of 64 channels at 56x56
/// is 7 MiB and spills out of L2 between im2col and the GEMM; a 512-column tile of the
/// same layer is 1.1 MiB of `f32`.
const FULL_SPEED_COLUMNS: usize = 512;

/// The largest channel multiplier (`OC / groups` with one input channel per group) that runs
/// the direct depthwise kernel. Above it im2col + GEMM, whose `M` is the multiplier, is
/// faster (measured: equal at 8, GEMM twice as fast at 16, three times at the tutorial's
/// 1 -> 30 channels).
const MAX_DIRECT_MULTIPLIER: usize = 8;

/// A validated 2-D convolution: an NCHW input shape, a window, `groups` and the number of
/// output channels.
///
/// Weights are `(OC, C / groups, KH, KW)`; group `g` reads input channels
/// `g * C/groups ..` and writes output channels `g * OC/groups ..` (PyTorch's `F.conv2d`).
/// Every buffer size a caller needs is a `const fn`, so firmware can size static arrays:
///
/// ```
/// use nchw::{Conv2d, Padding, Shape, Window};
/// const CONV: Conv2d = match Shape::new(1, 3, 32, 32) {
///     Ok(x) => match Conv2d::new(x, 16, Window::square(3).with_padding(Padding::uniform(1)), 1) {
///         Ok(c) => c,
///         Err(_) => panic!("bad convolution"),
///     },
///     Err(_) => panic!("bad shape"),
/// };
/// static mut Y: [f32; CONV.output_len()] = [0.0; CONV.output_len()];
/// static mut SCRATCH: [f32; CONV.min_scratch_len()] = [0.0; CONV.min_scratch_len()];
/// assert_eq!(CONV.output(), Shape::new(1, 16, 32, 32)?);
/// assert_eq!(CONV.weight_len(), 16 * 3 * 3 * 3);
/// assert_eq!(CONV.min_scratch_len(), 3 * 3 * 3); // one im2col column
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2d {
    input: Shape,
    output: Shape,
    /// Nonzero, so the divisions by it leave no division-by-zero panic in the code.
    groups: NonZeroUsize,
    /// The im2col geometry of one group (`C / groups` channels) of one image.
    group: Im2col,
    /// The instruction set forced with [`Conv2d::with_isa`], if any.
    isa: Option<Isa>,
    /// The forward kernel's family, fixed by the shapes: a field, so that a call with a
    /// constant geometry folds the choice and links only that family's code.
    family: Family,
}

/// The family of kernels a geometry's forward pass runs (see [`Conv2d::family`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// [`Path::Depthwise`].
    Depthwise,
    /// [`Path::Pointwise`].
    Pointwise,
    /// [`Path::Columns`].
    Columns,
    /// The direct 3 x 3 assembly for `f32` (`cortex_m.rs`); im2col for `f64`.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    Direct3x3,
    /// The direct 1 x 1 assembly for `f32`; the pointwise or depthwise path for `f64`.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    DirectPointwise,
    /// The direct depthwise assembly for `f32`; the depthwise path for `f64`.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    DirectDepthwise,
}

/// The kernel a geometry runs, fixed by its shape alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// One input channel per group (`groups == C`) and a channel multiplier of at most
    /// [`MAX_DIRECT_MULTIPLIER`]: a direct kernel. The forward pass takes `padded` elements
    /// (0 or [`Conv2d::padded_plane_len`]) to hold one input plane with its left and right
    /// padding written out and its columns split by phase of the stride (with stride 1 on
    /// hosts, padded on every side and followed by the flat outputs: see
    /// [`Conv2d::flat_depthwise`]), so that every output column runs in vector registers;
    /// without them the edge columns (and, with a stride above 1 along the width, every
    /// column) run scalar.
    Depthwise {
        /// Workspace elements used.
        padded: usize,
    },
    /// 1x1 window, stride 1, no padding: the input planes already are the column matrix,
    /// so the GEMM reads them in place; all the scratch goes to the GEMM.
    Pointwise,
    /// Everything else: tiles of `tile` im2col columns, then the GEMM, per group per image.
    Columns {
        /// Columns per tile, `1..=OH * OW`.
        tile: usize,
    },
}

/// How a GEMM path walks one group's columns: in tiles of `tile` columns, read from the
/// input in place (the 1x1 path: the input planes are the column matrix) or unfolded into
/// the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    /// Columns per tile, `1..=OH * OW`.
    pub tile: usize,
    /// Whether the columns are the input itself.
    pub in_place: bool,
}

/// Which of the three passes a plan is for (their GEMMs have different shapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Forward,
    BackwardData,
    BackwardFilter,
}

impl Pass {
    /// Whether the pass's GEMM packs its operands when the weights are plain: everywhere but
    /// the forward pass on M-profile cores with an FPU, whose GEMM runs unpacked there (4 x 4
    /// tiles straight from the weights and the column tile: fewer instructions than packing,
    /// and the packing code stays out of the flash). The plan reserves packing space by this
    /// rule and the forward pass hands the GEMM packing space by it.
    pub(crate) const fn packs_plain(self) -> bool {
        !(M_PROFILE_FPU && matches!(self, Pass::Forward))
    }
}

forced_isa!(
    Conv2d,
    "convolution",
    r#"```
use nchw::{Conv2d, Isa, Shape, Window};
let conv = Conv2d::new(Shape::new(1, 2, 4, 4)?, 2, Window::square(3), 2)?;
assert_eq!(conv.with_isa(Isa::Portable)?.isa(), Isa::Portable);
assert_eq!(conv.isa(), Isa::best());
# Ok::<(), nchw::Error>(())
```
"#
);

impl Conv2d {
    /// A convolution of `window` over `input` into `out_channels` channels, in `groups`
    /// groups.
    ///
    /// # Errors
    /// [`Error::Empty`] if the input's `C`, `H` or `W` is zero; [`Error::Zero`] for zero
    /// output channels, groups, kernel side, stride or dilation; [`Error::NotDivisible`] unless `groups` divides both channel counts;
    /// [`Error::WindowTooLarge`] when the dilated window does not fit the padded input;
    /// [`Error::Overflow`] when a buffer size overflows `usize`.
    ///
    /// # Examples
    ///
    /// A 3x3 convolution from 16 to 32 channels with "same" padding on 8 images of 28 x 28,
    /// and the buffers it needs:
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// let input = Shape::new(8, 16, 28, 28)?;
    /// let conv = Conv2d::new(input, 32, Window::square(3).with_padding(Padding::uniform(1)), 1)?;
    /// assert_eq!(conv.output(), Shape::new(8, 32, 28, 28)?);
    /// assert_eq!((conv.weight_len(), conv.bias_len()), (32 * 16 * 3 * 3, 32));
    /// assert_eq!(conv.min_scratch_len(), 16 * 3 * 3); // one im2col column
    /// // Depthwise: one group per channel.
    /// let depthwise = Conv2d::new(input, 16, Window::square(3), 16)?;
    /// assert_eq!(depthwise.weight_len(), 16 * 3 * 3);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn new(
        input: Shape,
        out_channels: usize,
        window: Window,
        groups: usize,
    ) -> Result<Self, Error> {
        tri!(input.check_images());
        tri!(check_nonzero("out_channels", out_channels));
        let groups = tri!(check_nonzero("groups", groups));
        if !input.c().is_multiple_of(groups.get()) {
            return Err(Error::NotDivisible {
                what: "channels",
                value: input.c(),
                divisor: groups.get(),
            });
        }
        if !out_channels.is_multiple_of(groups.get()) {
            return Err(Error::NotDivisible {
                what: "out_channels",
                value: out_channels,
                divisor: groups.get(),
            });
        }
        let group = tri!(Im2col::new(
            tri!(Shape::new(
                1,
                input.c() / groups.get(),
                input.h(),
                input.w()
            )),
            window
        ));
        let output = tri!(Shape::new(
            input.n(),
            out_channels,
            group.out_h(),
            group.out_w()
        ));
        // The weights.
        tri!(mul(out_channels, group.rows()));
        let conv = Conv2d {
            input,
            output,
            groups,
            group,
            isa: None,
            family: Family::Columns,
        };
        Ok(Conv2d {
            family: conv.forward_family(),
            ..conv
        })
    }

    /// The same convolution over a batch of `n` images (for splitting a batch across
    /// threads: each slice of whole images is itself a convolution).
    ///
    /// # Errors
    /// [`Error::Overflow`] when a buffer size overflows `usize`.
    ///
    /// ```
    /// use nchw::{Conv2d, Shape, Window};
    /// let conv = Conv2d::new(Shape::new(8, 3, 5, 5)?, 4, Window::square(3), 1)?;
    /// assert_eq!(conv.with_batch(2)?.output(), Shape::new(2, 4, 3, 3)?);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn with_batch(&self, n: usize) -> Result<Self, Error> {
        let input = tri!(Shape::new(
            n,
            self.input.c(),
            self.input.h(),
            self.input.w()
        ));
        match Conv2d::new(
            input,
            self.output.c(),
            self.group.window(),
            self.groups.get(),
        ) {
            Ok(conv) => Ok(Conv2d {
                isa: self.isa,
                ..conv
            }),
            Err(e) => Err(e),
        }
    }

    /// The input shape `N x C x H x W`.
    pub const fn input(&self) -> Shape {
        self.input
    }

    /// The output shape `N x OC x OH x OW`.
    pub const fn output(&self) -> Shape {
        self.output
    }

    /// The window (kernel, stride, dilation, padding).
    pub const fn window(&self) -> Window {
        self.group.window()
    }

    /// The padding.
    pub const fn padding(&self) -> Padding {
        self.group.window().padding
    }

    /// Number of groups.
    pub const fn groups(&self) -> usize {
        self.groups.get()
    }

    /// Elements of the input, `N * C * H * W`.
    pub const fn input_len(&self) -> usize {
        self.input.len()
    }

    /// Elements of the weights, `OC * (C / groups) * KH * KW`.
    pub const fn weight_len(&self) -> usize {
        self.output.c() * self.group.rows()
    }

    /// Elements of the bias, `OC`.
    pub const fn bias_len(&self) -> usize {
        self.output.c()
    }

    /// Elements of the output, `N * OC * OH * OW`.
    pub const fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Multiply-adds of one pass, `N * OC * OH * OW * (C / groups) * KH * KW` (saturating);
    /// twice this is the FLOP count.
    pub const fn macs(&self) -> usize {
        self.output.len().saturating_mul(self.group.rows())
    }

    /// The im2col geometry of one group of one image.
    pub(crate) const fn group(&self) -> &Im2col {
        &self.group
    }

    /// Output channels per group.
    pub(crate) const fn group_out_channels(&self) -> usize {
        self.output.c() / self.groups.get()
    }

    /// Every image's every group of the input, image by image: `C / groups` channel planes
    /// each (endless empty groups for an input of zero height or width: zip with
    /// [`output_groups`](Self::output_groups)).
    pub(crate) fn input_groups<S: Split>(&self, input: S) -> S::Chunks {
        chunks(input, self.group.image_len())
    }

    /// Every image's every group of the output, image by image: `OC / groups` channel planes
    /// each.
    pub(crate) fn output_groups<S: Split>(&self, output: S) -> S::Chunks {
        chunks(output, self.group_out_channels() * self.group.cols())
    }

    /// Every image of the input and of the output, in pairs.
    pub(crate) fn images<A: Split, B: Split>(
        &self,
        input: A,
        output: B,
    ) -> impl Iterator<Item = (A, B)> {
        chunks(input, self.input.image_len()).zip(chunks(output, self.output.image_len()))
    }

    /// Every group's filters in the weights: `OC / groups` rows of `C / groups * KH * KW`.
    pub(crate) fn weight_groups<S: Split>(&self, weight: S) -> S::Chunks {
        chunks(weight, self.group_out_channels() * self.group.rows())
    }

    /// Every group's `OC / groups` biases, or endless `None`s without a bias.
    pub(crate) fn bias_groups<'a, T>(
        &self,
        bias: Option<&'a [T]>,
    ) -> impl Iterator<Item = Option<&'a [T]>> + Clone {
        let mut groups = bias.map(|b| chunks(b, self.group_out_channels()));
        core::iter::from_fn(move || match &mut groups {
            Some(groups) => groups.next().map(Some),
            None => Some(None),
        })
    }

    /// The consecutive column ranges of at most `tile` columns that cover one group's
    /// column matrix: each within `0..OH * OW`.
    pub(crate) fn tiles(&self, tile: usize) -> impl Iterator<Item = Range<usize>> {
        let cols = self.group.cols();
        (0..cols)
            .step_by(tile.max(1))
            .map(move |start| start..cols.min(start.saturating_add(tile)))
    }

    /// How the GEMM paths walk one group's columns (`None` on the depthwise path).
    pub(crate) const fn tiling(&self, path: Path) -> Option<Tiling> {
        match path {
            Path::Columns { tile } => Some(Tiling {
                tile,
                in_place: false,
            }),
            Path::Pointwise => Some(Tiling {
                tile: self.group.cols(),
                in_place: true,
            }),
            Path::Depthwise { .. } => None,
        }
    }

    /// Splits the workspace into the column tile (empty when the columns are read in place)
    /// and the GEMM's packing. The plan made the tile fit: were it not to, the empty tile
    /// returned would make no column computed, never an out-of-bounds access.
    pub(crate) fn split_scratch<'a, T>(
        &self,
        scratch: &'a mut [T],
        tiling: Tiling,
    ) -> (&'a mut [T], &'a mut [T]) {
        let needed = if tiling.in_place {
            0
        } else {
            self.group.tile_len(tiling.tile)
        };
        debug_assert!(tiling.tile >= 1 && needed <= scratch.len());
        scratch.split_at_mut_checked(needed).unwrap_or_default()
    }

    /// The columns `columns` (one of [`tiles`](Self::tiles)) of one group's column matrix, a
    /// `(C / groups) * KH * KW` x `columns.len()` view: the input group `x` itself on the 1x1
    /// path, else unfolded into the column tile `col` (from
    /// [`split_scratch`](Self::split_scratch)).
    ///
    /// # Errors
    /// [`Error::InvalidView`] if a buffer is shorter than the geometry says, which the
    /// entry points' length checks rule out.
    pub(crate) fn columns<'a, T: Element>(
        &self,
        x: &'a [T],
        columns: Range<usize>,
        col: &'a mut [T],
        tiling: Tiling,
    ) -> Result<MatRef<'a, T>, Error> {
        let (rows, cols, n) = (self.group.rows(), self.group.cols(), columns.len());
        if tiling.in_place {
            return MatRef::new(after(x, columns.start), rows, n, cols, 1);
        }
        let col = self.tile(col, n);
        unfold(&self.group, x, columns, &mut *col);
        MatRef::row_major(col, rows, n)
    }

    /// The first `C / groups * KH * KW * n` elements of the column tile `col`: a tile of `n`
    /// columns. [`split_scratch`](Self::split_scratch) sized `col` for the widest tile; were
    /// it shorter, the empty slice returned would make the kernel that fills it refuse it.
    pub(crate) fn tile<'a, T>(&self, col: &'a mut [T], n: usize) -> &'a mut [T] {
        col.get_mut(..self.group.tile_len(n)).unwrap_or_default()
    }

    /// The rows of the tile `columns` (one of [`tiles`](Self::tiles)) in one group's output:
    /// `columns` of every `OH * OW` row. The tiles lie within the rows, so none is left out.
    pub(crate) fn tile_rows<'a, T>(
        &self,
        output_group: &'a mut [T],
        columns: Range<usize>,
    ) -> impl Iterator<Item = &'a mut [T]> {
        chunks(output_group, self.group.cols()).filter_map(move |row| {
            debug_assert!(columns.start <= columns.end && columns.end <= row.len());
            row.get_mut(columns.clone())
        })
    }

    /// Workspace elements for full speed in every pass (forward, backward-data,
    /// backward-filter): on the im2col path a tile of up to 512 columns of one group's
    /// column matrix plus what the GEMM packs into; on the 1x1 stride-1 unpadded path only the GEMM's packing (the input
    /// is read in place); for depthwise convolutions one input plane with its padding (so the
    /// forward pass never leaves its vector loop; with stride 1 on hosts, also the plane's
    /// outputs laid out at the padded width).
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// let same = Window::square(3).with_padding(Padding::uniform(1));
    /// let depthwise = Conv2d::new(Shape::new(1, 8, 10, 10)?, 8, same, 8)?;
    /// // One plane padded on every side, then its outputs at the padded width (hosts; on
    /// // bare-metal targets the plane's rows padded left and right, 10 * (1 + 10 + 1)).
    /// assert_eq!(depthwise.scratch_len::<f32>(), 12 * 12 + 9 * 12 + 10);
    /// assert_eq!(depthwise.min_scratch_len(), 0);
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn scratch_len<T: Element>(&self) -> usize {
        let f = self.plan_len::<T, false>(Pass::Forward, self.full_tile());
        let d = self.plan_len::<T, false>(Pass::BackwardData, self.full_tile());
        let b = self.plan_len::<T, false>(Pass::BackwardFilter, self.full_tile());
        max(f, max(d, b))
    }

    /// Workspace elements for full speed in the forward pass alone: what an inference
    /// firmware allocates (at most [`scratch_len`](Self::scratch_len), which also covers the
    /// gradients).
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// const CONV: Conv2d = match Shape::new(1, 8, 16, 16) {
    ///     Ok(x) => match Conv2d::new(x, 8, Window::square(3).with_padding(Padding::uniform(1)), 1) {
    ///         Ok(c) => c,
    ///         Err(_) => panic!("bad convolution"),
    ///     },
    ///     Err(_) => panic!("bad shape"),
    /// };
    /// static mut SCRATCH: [f32; CONV.forward_scratch_len::<f32>()] =
    ///     [0.0; CONV.forward_scratch_len::<f32>()];
    /// assert!(CONV.forward_scratch_len::<f32>() <= CONV.scratch_len::<f32>());
    /// ```
    ///
    /// On M-profile cores with an FPU the `f32` forward pass of a 3 x 3, stride 1 convolution
    /// (also depthwise) and of a 1 x 1 one runs direct, without the workspace: then this is
    /// [`min_scratch_len`](Self::min_scratch_len). There the other forward passes' GEMM runs
    /// unpacked, so this is the column tile alone.
    pub const fn forward_scratch_len<T: Element>(&self) -> usize {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        if self.runs_direct::<T>() {
            return self.min_scratch_len();
        }
        self.plan_len::<T, false>(Pass::Forward, self.full_tile())
    }

    /// The smallest workspace every pass accepts: one im2col column, `(C / groups) * KH *
    /// KW` elements, on the im2col path; zero on the depthwise and 1x1 paths.
    ///
    /// Any length from here up works and gives the same result up to rounding; more is
    /// faster, up to [`scratch_len`](Self::scratch_len).
    pub const fn min_scratch_len(&self) -> usize {
        match self.kernel_kind() {
            Path::Columns { .. } => self.group.rows(),
            Path::Depthwise { .. } | Path::Pointwise => 0,
        }
    }

    /// Elements of the buffer [`conv2d_pack_weight`](crate::conv2d_pack_weight) packs this
    /// convolution's weights into, for every instruction set this target builds: per group,
    /// the `OC / groups` filters rounded up to the largest GEMM register tile, times `(C /
    /// groups) * KH * KW`, plus a cache line of slack to align them. Where the forward pass
    /// does not run the GEMM (depthwise, and the direct kernels of M-profile cores with an
    /// FPU for `f32`), the plain weights: [`weight_len`](Self::weight_len).
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// const CONV: Conv2d = match Shape::new(1, 512, 7, 7) {
    ///     Ok(x) => match Conv2d::new(x, 512, Window::square(3).with_padding(Padding::uniform(1)), 1) {
    ///         Ok(c) => c,
    ///         Err(_) => panic!("bad convolution"),
    ///     },
    ///     Err(_) => panic!("bad shape"),
    /// };
    /// static mut PACKED: [f32; CONV.packed_weight_len::<f32>()] =
    ///     [0.0; CONV.packed_weight_len::<f32>()];
    /// assert!(CONV.packed_weight_len::<f32>() >= CONV.weight_len());
    /// let depthwise = Conv2d::new(Shape::new(1, 8, 9, 9)?, 8, Window::square(3), 8)?;
    /// assert_eq!(depthwise.packed_weight_len::<f32>(), depthwise.weight_len());
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn packed_weight_len<T: Element>(&self) -> usize {
        if self.plain_weights::<T>() {
            self.weight_len()
        } else {
            let (ocg, rows) = (self.group_out_channels(), self.group.rows());
            gemm::packed_a_len::<T>(self.groups.get(), ocg, rows)
        }
    }

    /// Workspace elements for full speed of
    /// [`conv2d_packed`](crate::conv2d_packed): as
    /// [`forward_scratch_len`](Self::forward_scratch_len), less the GEMM's block of packed
    /// weights. The minimum is [`min_scratch_len`](Self::min_scratch_len), as for
    /// [`conv2d`](crate::conv2d).
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// let x = Shape::new(1, 256, 14, 14)?;
    /// let conv = Conv2d::new(x, 256, Window::square(3).with_padding(Padding::uniform(1)), 1)?;
    /// assert!(conv.packed_scratch_len::<f32>() < conv.forward_scratch_len::<f32>());
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub const fn packed_scratch_len<T: Element>(&self) -> usize {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        if self.runs_direct::<T>() {
            return self.min_scratch_len();
        }
        self.plan_len::<T, true>(Pass::Forward, self.full_tile())
    }

    /// Whether the packed weights of the forward pass are the plain weights: where it runs
    /// no GEMM (the depthwise path, and the direct kernels of M-profile cores with an FPU).
    /// (`T` is used on those cores only.)
    #[allow(clippy::extra_unused_type_parameters)]
    pub(crate) const fn plain_weights<T: Element>(&self) -> bool {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        if self.runs_direct::<T>() {
            return true;
        }
        matches!(self.kernel_kind(), Path::Depthwise { .. })
    }

    /// The family of the forward kernel, stored by [`Conv2d::new`].
    #[inline(always)]
    pub(crate) const fn family(&self) -> Family {
        self.family
    }

    /// Whether a direct kernel runs the forward pass on `T`: an M-profile core with an FPU,
    /// `T` `f32`, a direct family.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    const fn runs_direct<T: Element>(&self) -> bool {
        // `Element` is sealed to `f32` and `f64`: four bytes is `f32`.
        core::mem::size_of::<T>() == core::mem::size_of::<f32>()
            && matches!(
                self.family,
                Family::Direct3x3 | Family::DirectPointwise | Family::DirectDepthwise
            )
    }

    /// [`Conv2d::family`] from the shapes.
    const fn forward_family(&self) -> Family {
        #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
        {
            if direct_3x3(self) {
                return Family::Direct3x3;
            }
            if direct_pointwise(self) {
                return Family::DirectPointwise;
            }
            if matches!(self.kernel_kind(), Path::Depthwise { .. }) && direct_depthwise(self) {
                return Family::DirectDepthwise;
            }
        }
        match self.kernel_kind() {
            Path::Depthwise { .. } => Family::Depthwise,
            Path::Pointwise => Family::Pointwise,
            Path::Columns { .. } => Family::Columns,
        }
    }

    /// The kernel this geometry runs, before choosing a tile.
    const fn kernel_kind(&self) -> Path {
        if self.group.channels() == 1 && self.group_out_channels() <= MAX_DIRECT_MULTIPLIER {
            Path::Depthwise {
                padded: self.padded_plane_len(),
            }
        } else if self.group.window().is_pointwise() {
            Path::Pointwise
        } else {
            Path::Columns {
                tile: self.full_tile(),
            }
        }
    }

    /// Columns per tile at full speed: [`FULL_SPEED_COLUMNS`], or all `OH * OW` if fewer.
    const fn full_tile(&self) -> usize {
        let cols = self.group.cols();
        if cols < FULL_SPEED_COLUMNS {
            cols
        } else {
            FULL_SPEED_COLUMNS
        }
    }

    /// Scratch a pass uses with tiles of `tile` columns: the tile plus the GEMM's packing (of
    /// B alone if `PACKED`: the forward pass with pre-packed weights).
    const fn plan_len<T: Element, const PACKED: bool>(&self, pass: Pass, tile: usize) -> usize {
        let (m, n, k) = self.gemm_dims(pass, tile);
        let packing = if PACKED {
            gemm::packed_scratch_len::<T>(m, n, k)
        } else if pass.packs_plain() {
            gemm::scratch_len::<T>(m, n, k)
        } else {
            0
        };
        match self.kernel_kind() {
            Path::Depthwise { padded } => match pass {
                Pass::Forward => padded,
                Pass::BackwardData | Pass::BackwardFilter => 0,
            },
            Path::Pointwise => packing,
            Path::Columns { .. } => self.group.tile_len(tile).saturating_add(packing),
        }
    }

    /// The `(m, n, k)` of the GEMM one pass runs per group, per image and per tile.
    const fn gemm_dims(&self, pass: Pass, tile: usize) -> (usize, usize, usize) {
        let (oc, rows) = (self.group_out_channels(), self.group.rows());
        match pass {
            Pass::Forward => (oc, tile, rows),
            Pass::BackwardData => (rows, tile, oc),
            Pass::BackwardFilter => (oc, rows, tile),
        }
    }

    /// The kernel a pass runs with `available` scratch elements: the ONE function both the
    /// workspace sizes and the dispatch come from.
    ///
    /// On the im2col path the tile is the widest whose columns and GEMM packing fit; if not
    /// even one column fits with packing, the GEMM runs unpacked on as many columns as fit.
    /// `PACKED`: the forward pass with pre-packed weights, whose GEMM packs only B (a
    /// parameter, so that the plain passes' code is as it was).
    pub(crate) const fn plan<T: Element, const PACKED: bool>(
        &self,
        pass: Pass,
        available: usize,
    ) -> Result<Path, Error> {
        let needed = self.min_scratch_len();
        if available < needed {
            return Err(Error::ScratchTooSmall {
                needed,
                actual: available,
            });
        }
        match self.kernel_kind() {
            Path::Columns { tile: full } => {
                // Largest tile in 0..=full whose plan fits; plan_len grows with the tile.
                let (mut lo, mut hi) = (0, full);
                while lo < hi {
                    let mid = hi - (hi - lo) / 2;
                    if self.plan_len::<T, PACKED>(pass, mid) <= available {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                let tile = if lo == 0 {
                    // A group has at least one channel and a kernel one tap; `max` shows
                    // the optimizer the divisor is nonzero.
                    let fit = available / max(self.group.rows(), 1);
                    if fit < full {
                        fit
                    } else {
                        full
                    }
                } else {
                    lo
                };
                Ok(Path::Columns { tile })
            }
            Path::Depthwise { padded } => Ok(Path::Depthwise {
                padded: match pass {
                    Pass::Forward if padded <= available => padded,
                    _ => 0,
                },
            }),
            kernel => Ok(kernel),
        }
    }

    /// One input plane with its left and right padding, its rows split into the `S =
    /// stride_w` phases of the stride (padded column `c` at `(c % S) * P + c / S`, with
    /// `P = ceil((left + W + right) / S)`), for the depthwise forward: `H * S * P` elements,
    /// `H * (left + W + right)` for stride 1 (saturating). On flat planes
    /// ([`flat_depthwise`](Self::flat_depthwise)) the plane padded on every side, `(top + H
    /// + bottom) * PW` with `PW = left + W + right`, then `(OH - 1) * PW + OW` flat outputs.
    pub(crate) const fn padded_plane_len(&self) -> usize {
        if self.flat_depthwise() {
            let (_, plane, flat) = self.flat_layout();
            return plane.saturating_add(flat);
        }
        self.group.height().saturating_mul(self.padded_row_len())
    }

    /// The flat planes' workspace ([`flat_depthwise`](Self::flat_depthwise)): the padded
    /// width `PW = left + W + right`, the plane padded on every side, `(top + H + bottom) *
    /// PW` elements, then the `(OH - 1) * PW + OW` flat outputs (saturating).
    pub(crate) const fn flat_layout(&self) -> (usize, usize, usize) {
        let p = self.group.window().padding;
        let padded_h = self
            .group
            .height()
            .saturating_add(p.top)
            .saturating_add(p.bottom);
        let padded_w = self.padded_width();
        let rows = self
            .group
            .out_h()
            .saturating_sub(1)
            .saturating_mul(padded_w);
        let flat = rows.saturating_add(self.group.out_w());
        (padded_w, padded_h.saturating_mul(padded_w), flat)
    }

    /// Whether the depthwise forward with a padded plane runs on flat planes (stride 1 both
    /// ways, on hosts): the plane is padded on every side, so that output `(oh, ow)` tap
    /// `(kh, kw)` reads element `oh * PW + ow + kh * DH * PW + kw * DW` of it (`PW` the
    /// padded width), one offset per tap for all outputs. The outputs are computed in one
    /// pass over `(OH - 1) * PW + OW` flat positions (the `PW - OW` between rows thrown
    /// away), then copied out by row: on small planes the per-row setup and edges, not the
    /// multiply-adds, were the cost. The workspace is then that plane and those positions
    /// ([`padded_plane_len`](Self::padded_plane_len)). Bare-metal targets keep the rows
    /// (flash).
    pub(crate) const fn flat_depthwise(&self) -> bool {
        let w = self.group.window();
        !cfg!(target_os = "none") && w.stride_h == 1 && w.stride_w == 1
    }

    /// `left + W + right`, an input row with its padding (saturating).
    const fn padded_width(&self) -> usize {
        let p = self.group.window().padding;
        self.group
            .width()
            .saturating_add(p.left)
            .saturating_add(p.right)
    }

    /// `S * P`: one row of [`padded_plane_len`](Self::padded_plane_len).
    pub(crate) const fn padded_row_len(&self) -> usize {
        let stride = self.group.window().stride_w;
        match self.padded_width().checked_next_multiple_of(stride) {
            Some(row) => row,
            None => usize::MAX,
        }
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Whether the direct 3 x 3 kernel runs `conv`'s forward pass: a [`ring_3x3`] window, at least 4
/// output channels per group and 4 output columns, more than one input channel per group
/// (else the depthwise path runs).
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn direct_3x3(conv: &Conv2d) -> bool {
    let g = conv.group();
    ring_3x3(g.window()) && g.channels() > 1 && conv.group_out_channels() >= 4 && g.out_w() >= 4
}

/// The window of the 3 x 3 kernels: 3 x 3, stride 1, no dilation, at most one ring of
/// padding per side (the edge bits of their blocks).
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn ring_3x3(w: Window) -> bool {
    w.kernel_h == 3
        && w.kernel_w == 3
        && w.stride_h == 1
        && w.stride_w == 1
        && w.dilation_h == 1
        && w.dilation_w == 1
        && w.padding.at_most(1)
}

/// Whether the direct 1 x 1 kernel runs `conv`'s forward pass: a pointwise window, at least
/// 4 output channels per group and 4 pixels per plane.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn direct_pointwise(conv: &Conv2d) -> bool {
    let g = conv.group();
    g.window().is_pointwise() && conv.group_out_channels() >= 4 && g.cols() >= 4
}

/// Whether the direct depthwise kernel runs `conv`'s forward pass: one input channel per
/// group, a [`ring_3x3`] window, at least 4 output columns.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn direct_depthwise(conv: &Conv2d) -> bool {
    let g = conv.group();
    ring_3x3(g.window()) && g.channels() == 1 && g.out_w() >= 4
}
