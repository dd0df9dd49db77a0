//! int8 convolution: groups, depthwise with a channel multiplier, dilation, 4-sided padding,
//! stride; `i32` accumulation, then requantization.

use core::num::NonZeroUsize;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use core::ops::Range;

#[cfg(all(target_arch = "aarch64", not(miri)))]
use super::neon;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use super::requant::Scale;
use super::requant::{Output, QuantParams};
#[cfg(all(target_arch = "x86_64", not(miri)))]
use super::{vnni, x86};
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use crate::arch::run;
use crate::conv::Conv2d;
use crate::error::{check_len, Error};
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use crate::im2col::Im2col;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
use crate::walk::{chunks, pairs};

/// Output positions per workspace tile at full speed: the patches of 32 positions of a 3x3
/// layer of 64 channels take 18 KiB, within a level-1 data cache next to the filters.
pub(super) const FULL_TILE: usize = 32;

/// The largest magnitude of one product `(x - x_zp) * w`: `|x - x_zp| <= 255`, `|w| <= 128`.
const PRODUCT_MAX: u32 = 255 * 128;

/// Filters per block of a [`Dots`] kernel.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) const FILTERS: usize = 4;
/// Patches per block of a [`Dots`] kernel.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) const PATCHES: usize = 2;

/// A SIMD block kernel of [`Plan::channels`]: [`FILTERS`] x [`PATCHES`] dot products, each
/// operand loaded once per step for every product it enters: AVX2 on x86_64 (`x86.rs`),
/// widening multiplies or `sdot` on aarch64 (`neon.rs`).
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) trait Dots {
    /// `dots[f][p] = sum(w[f][i] * x[p][i])` over `i < k`, in `i32` (exact: the caller
    /// bounds `k`, as for [`dot`]).
    ///
    /// # Safety
    /// The CPU runs the kernel; each `w[f]` and `x[p]` points to `k` readable bytes.
    unsafe fn dots(w: FilterPtrs, x: PatchPtrs, k: usize) -> BlockSums;
}

/// A [`Dots`] block's filters: pointers to their `k` weights.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) type FilterPtrs = [*const i8; FILTERS];
/// A [`Dots`] block's patches: pointers to their `k` bytes.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) type PatchPtrs = [*const i8; PATCHES];
/// A [`Dots`] block's dot products, by filter and patch.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
pub(super) type BlockSums = [[i32; PATCHES]; FILTERS];

impl Conv2d {
    /// Workspace bytes [`conv2d_i8`] runs fastest with: the patches (`(C / groups) * KH *
    /// KW` bytes each) of up to 32 output positions; on x86_64 also room for the AVX-512 VNNI
    /// kernel's interleaved copy of them (32 positions' patches rounded up to 4 bytes); on
    /// the Cortex-M4F and M7, 16 pairs of patches widened to 16 bits (and 3 bytes for their
    /// alignment), which share the filters' requantization constants.
    ///
    /// ```
    /// use nchw::{Conv2d, Padding, Shape, Window};
    /// const CONV: Conv2d = match Shape::new(1, 8, 16, 16) {
    ///     Ok(x) => match Conv2d::new(x, 8, Window::square(3).with_padding(Padding::uniform(1)), 1) {
    ///         Ok(c) => c,
    ///         Err(_) => panic!(),
    ///     },
    ///     Err(_) => panic!(),
    /// };
    /// static mut SCRATCH: [i8; CONV.min_scratch_len_i8()] = [0; CONV.min_scratch_len_i8()];
    /// assert_eq!(CONV.min_scratch_len_i8(), 72); // one 8 x 3 x 3 patch
    /// let patches = 72 * 32;
    /// let vnni = if cfg!(target_arch = "x86_64") { patches } else { 0 };
    /// assert_eq!(CONV.scratch_len_i8(), patches + vnni);
    /// ```
    pub const fn scratch_len_i8(&self) -> usize {
        full_scratch_len(self)
    }

    /// The smallest workspace [`conv2d_i8`] accepts: one output position's patch, `(C /
    /// groups) * KH * KW` bytes; on the Cortex-M4F and M7 (the DSP extension) two patches
    /// widened to 16 bits, `4 * (C / groups) * KH * KW` bytes as CMSIS-NN's, and 3 for
    /// their alignment (for a depthwise 3x3 with stride 1, if more, four widened input rows
    /// and one output row's accumulators, `16 * ((OW + 4) / 2) + 8 * ((OW + 1) / 2) + 3`
    /// bytes). Every size from here up gives the same, exact, result.
    pub const fn min_scratch_len_i8(&self) -> usize {
        min_scratch_len(self)
    }
}

#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
const fn full_scratch_len(conv: &Conv2d) -> usize {
    let cols = conv.group().cols();
    let tile = if cols < FULL_TILE { cols } else { FULL_TILE };
    let patches = conv.group().tile_len(tile);
    if cfg!(target_arch = "x86_64") {
        let quads = conv
            .group()
            .rows()
            .div_ceil(4)
            .saturating_mul(4 * FULL_TILE);
        patches.saturating_add(quads)
    } else {
        patches
    }
}

#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
const fn min_scratch_len(conv: &Conv2d) -> usize {
    conv.group().rows()
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn full_scratch_len(conv: &Conv2d) -> usize {
    conv.dsp_full_scratch_len()
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const fn min_scratch_len(conv: &Conv2d) -> usize {
    conv.dsp_min_scratch_len()
}

/// int8 convolution, overwriting `output` (never read):
///
/// `acc = bias[oc] + sum((x - input_zero_point) * w)` over the window of output channel
/// `oc`'s group, in `i32`, padding reading as `input_zero_point` (it contributes 0); then
/// `output = clamp(requant(acc) + output_zero_point)` as [`QuantParams`] says.
///
/// Layouts are the float [`conv2d`](crate::conv2d())'s: `input` `N x C x H x W`, `weight`
/// `(OC, C / groups, KH, KW)` (symmetric int8: zero point 0), `bias` `OC` values of scale
/// `input_scale * weight_scale[oc]`, `output` `N x OC x OH x OW`. Depthwise is `groups ==
/// C`, with `OC / C` output channels (the channel multiplier) per input channel.
///
/// `scratch` holds patches of the input: at least [`Conv2d::min_scratch_len_i8`] bytes,
/// [`Conv2d::scratch_len_i8`] for full speed. The result does not depend on its size.
///
/// # Errors
/// [`Error::BufferLength`] unless every buffer has exactly its size (the requantization
/// parameters: 1 or `OC`); [`Error::InvalidScale`] for a float requantization scale that is
/// negative or not finite; [`Error::AccumulatorOverflow`] if `(C / groups) * KH * KW`
/// products of up to `255 * 128` plus some channel's bias can leave the `i32` range;
/// [`Error::ScratchTooSmall`] below the minimum workspace. `output` is then untouched.
///
/// ```
/// use nchw::{conv2d_i8, Conv2d, Multiplier, QuantParams, Requant, Shape, Window};
/// // A 1x1x2x2 image, zero point 10, a 2x1 filter [1, 2], bias 5, output scale 1/2.
/// let conv = Conv2d::new(Shape::new(1, 1, 2, 2)?, 1, Window::new(2, 1), 1)?;
/// let m = [Multiplier::from_scale(0.5)?];
/// let q = QuantParams::new(10, Requant::TfLite(&m), -3);
/// let mut y = [0i8; 2];
/// let mut scratch = [0i8; 2];
/// conv2d_i8(&conv, &[11, 12, 13, 14], &[1, 2], Some(&[5]), &q, &mut y, &mut scratch)?;
/// // (1*1 + 3*2 + 5) / 2 = 6 - 3; (2*1 + 4*2 + 5) / 2 = 7.5 -> 8 - 3.
/// assert_eq!(y, [3, 5]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn conv2d_i8(
    conv: &Conv2d,
    input: &[i8],
    weight: &[i8],
    bias: Option<&[i32]>,
    quant: &QuantParams<'_>,
    output: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), Error> {
    check_len("input", conv.input_len(), input.len())?;
    check_len("weight", conv.weight_len(), weight.len())?;
    if let Some(b) = bias {
        check_len("bias", conv.bias_len(), b.len())?;
    }
    check_len("output", conv.output_len(), output.len())?;
    quant.requant.check(conv.output().c())?;
    check_accumulator(conv.group().rows(), PRODUCT_MAX, bias)?;
    let needed = conv.min_scratch_len_i8();
    if scratch.len() < needed {
        return Err(Error::ScratchTooSmall {
            needed,
            actual: scratch.len(),
        });
    }
    let group = conv.group();
    let (Some(k), Some(_out_w)) = (
        NonZeroUsize::new(group.rows()),
        NonZeroUsize::new(group.out_w()),
    ) else {
        // A validated geometry has both; nothing to compute otherwise.
        return Ok(());
    };
    let plan = Plan {
        conv,
        input,
        weight,
        bias,
        quant,
        out: Output::new(quant),
        k,
        #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
        out_w: _out_w,
        #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
        tile: (scratch.len() / k).min(FULL_TILE).min(group.cols()).max(1),
    };
    plan.run(output, scratch);
    Ok(())
}

#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
impl Plan<'_, '_> {
    /// The convolution on the geometry's instruction set: the VNNI kernel where the CPU
    /// has it and the workspace holds its tile, else patches and dot products.
    #[inline(always)]
    fn run(&self, output: &mut [i8], scratch: &mut [i8]) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if self.conv.isa() == crate::arch::Isa::Avx512 && crate::arch::avx512_vnni() {
            if let Some(n) = self.vnni_tile(scratch.len()) {
                // SAFETY: AVX-512 is the geometry's instruction set (`with_isa` checked it,
                // or `Isa::best` detected it), and the CPU has VNNI.
                unsafe { self.forward_vnni(n, output, scratch) };
                return;
            }
        }
        // SAFETY: a geometry's instruction set is available: `with_isa` checked it, or
        // `Isa::best` detected it.
        unsafe {
            run(
                self.conv.isa(),
                #[inline(always)]
                || self.forward(output, scratch),
            )
        };
    }
}

/// A filter of a group: its index, its output row of the tile, its weights.
#[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
type Filter<'y, 'w> = (usize, (&'y mut [i8], &'w [i8]));

/// A checked call of [`conv2d_i8`], resolved.
pub(super) struct Plan<'a, 'q> {
    pub(super) conv: &'a Conv2d,
    pub(super) input: &'a [i8],
    pub(super) weight: &'a [i8],
    pub(super) bias: Option<&'a [i32]>,
    pub(super) quant: &'a QuantParams<'q>,
    pub(super) out: Output,
    /// Patch length.
    pub(super) k: NonZeroUsize,
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    out_w: NonZeroUsize,
    /// Output positions per tile.
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    tile: usize,
}

impl Plan<'_, '_> {
    /// Every image, group and tile: patches into `scratch`, then a dot product with every
    /// filter of the group, requantized. Inlined into the instruction set's build.
    #[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
    #[inline(always)]
    fn forward(&self, output: &mut [i8], scratch: &mut [i8]) {
        let (input, weight, bias) = (self.input, self.weight, self.bias);
        let (conv, k) = (self.conv, self.k.get());
        let zp = self.quant.input_zero_point;
        for (image, image_out) in conv.images(input, output) {
            for (channel0, ((x, y), (w, b))) in groups(conv, image, image_out, weight, bias) {
                for columns in conv.tiles(self.tile) {
                    let patches = scratch.get_mut(..columns.len() * k).unwrap_or_default();
                    fill_patches(conv.group(), x, zp, columns.clone(), self.out_w, patches);
                    let rows = conv.tile_rows(&mut *y, columns);
                    self.channels(rows, w, b, channel0, patches);
                }
            }
        }
    }
}

/// One image's groups: each one's first output channel, its input and output planes, and
/// its filters and biases.
#[inline(always)]
pub(super) fn groups<'a>(
    conv: &'a Conv2d,
    image: &'a [i8],
    image_out: &'a mut [i8],
    weight: &'a [i8],
    bias: Option<&'a [i32]>,
) -> impl Iterator<Item = (usize, (Planes<'a>, Filters<'a>))> {
    let oc_per_group = conv.output().c() / conv.groups();
    let planes = conv.input_groups(image).zip(conv.output_groups(image_out));
    let filters = conv.weight_groups(weight).zip(conv.bias_groups(bias));
    let groups = planes.zip(filters).enumerate();
    groups.map(move |(g, group)| (g * oc_per_group, group))
}

/// A group's input and output planes.
pub(super) type Planes<'a> = (&'a [i8], &'a mut [i8]);
/// A group's filters and biases.
pub(super) type Filters<'a> = (&'a [i8], Option<&'a [i32]>);

#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
impl Plan<'_, '_> {
    /// The outputs of one tile: for every filter (`k` bytes each) of `w` (output channel
    /// `channel0 + o`) and patch, `requant(bias[o] + sum((x - zp) * w))` into `rows[o]`.
    #[inline(always)]
    fn channels<'y>(
        &self,
        rows: impl Iterator<Item = &'y mut [i8]>,
        w: &[i8],
        b: Option<&[i32]>,
        channel0: usize,
        patches: &[i8],
    ) {
        let k = self.k.get();
        let filters = pairs(rows, chunks(w, k)).enumerate();
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if matches!(
            self.conv.isa(),
            crate::arch::Isa::Avx2 | crate::arch::Isa::Avx512
        ) {
            // SAFETY: the geometry's instruction set (AVX2 or AVX-512) is available.
            unsafe { self.blocks::<x86::Avx2>(filters, b, channel0, patches) };
            return;
        }
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        if self.conv.isa() == crate::arch::Isa::Neon {
            // SAFETY: the geometry's instruction set, NEON, is available, and `sdot` where
            // the CPU has the dot-product extension (`neon_dotprod` detected it).
            unsafe {
                if crate::arch::neon_dotprod() {
                    self.blocks::<neon::Sdot>(filters, b, channel0, patches);
                } else {
                    self.blocks::<neon::Widening>(filters, b, channel0, patches);
                }
            }
            return;
        }
        for (o, (row, filter)) in filters {
            self.channel(row, filter, self.base(b, channel0, o, filter, 0), patches);
        }
    }

    /// [`Plan::channels`] on a [`Dots`] kernel: blocks of [`FILTERS`] filters, the last few
    /// one by one.
    ///
    /// # Safety
    /// The CPU runs `D`.
    #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
    #[inline(always)]
    unsafe fn blocks<'y, 'w, D: Dots>(
        &self,
        mut filters: impl Iterator<Item = Filter<'y, 'w>>,
        b: Option<&[i32]>,
        channel0: usize,
        patches: &[i8],
    ) {
        loop {
            let block: [_; FILTERS] = core::array::from_fn(|_| filters.next());
            let [Some(f0), Some(f1), Some(f2), Some(f3)] = block else {
                for (o, (row, filter)) in block.into_iter().flatten() {
                    self.channel(row, filter, self.base(b, channel0, o, filter, 0), patches);
                }
                return;
            };
            // SAFETY: the caller's CPU.
            unsafe { self.block::<D>([f0, f1, f2, f3], b, channel0, patches) };
        }
    }

    /// Filter `o`'s requantization scale and the accumulator's start for patches holding `x +
    /// shift`: the bias less `(zp + shift) * sum(w)`, since `sum((x - zp) * w) = sum((x +
    /// shift) * w) - (zp + shift) * sum(w)` (the patches keep the inputs, padding `zp`,
    /// shifted by 0 or by VNNI's 128).
    #[inline(always)]
    fn base(
        &self,
        b: Option<&[i32]>,
        channel0: usize,
        o: usize,
        filter: &[i8],
        shift: i32,
    ) -> (Scale, i32) {
        let bias = b.and_then(|b| b.get(o)).copied().unwrap_or(0);
        let scale = self.quant.requant.channel(channel0 + o);
        let sum_w = filter
            .iter()
            .fold(0i32, |s, &v| s.wrapping_add(i32::from(v)));
        let zp = i32::from(self.quant.input_zero_point) + shift;
        (scale, bias.wrapping_sub(zp.wrapping_mul(sum_w)))
    }

    /// One filter's outputs: `requant(base + dot(filter, patch))` for every patch.
    #[inline(always)]
    fn channel(&self, row: &mut [i8], filter: &[i8], (scale, base): (Scale, i32), patches: &[i8]) {
        for (yo, patch) in pairs(row.iter_mut(), chunks(patches, self.k.get())) {
            *yo = self.out.apply(scale, base.wrapping_add(dot(filter, patch)));
        }
    }

    /// [`FILTERS`] filters' outputs (each filter's index in the group, output row and
    /// weights), their dot products computed by `D` in blocks of [`PATCHES`] patches (the
    /// last few patches one by one).
    ///
    /// # Safety
    /// The CPU runs `D`.
    #[cfg(all(any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
    #[inline(always)]
    unsafe fn block<D: Dots>(
        &self,
        filters: [Filter<'_, '_>; FILTERS],
        b: Option<&[i32]>,
        channel0: usize,
        patches: &[i8],
    ) {
        use crate::walk::{after, nth_chunk};
        let k = self.k.get();
        let base = filters
            .each_ref()
            .map(|(o, (_, f))| self.base(b, channel0, *o, f, 0));
        let fs = filters.each_ref().map(|(_, (_, f))| *f);
        let w = fs.map(<[i8]>::as_ptr);
        let n = filters
            .iter()
            .map(|(_, (row, f))| if f.len() == k { row.len() } else { 0 })
            .fold(patches.len() / k, usize::min);
        let mut rows = filters.map(|(_, (row, _))| row);
        let x = patches.as_ptr();
        let mut q = 0;
        while q + PATCHES <= n {
            // SAFETY: the caller's CPU; the filters hold `k` bytes each and patches `q + p <
            // n <= patches.len() / k` start `k` bytes apart.
            let dots = unsafe { D::dots(w, core::array::from_fn(|p| x.add((q + p) * k)), k) };
            for ((row, &(scale, base)), dots) in rows.iter_mut().zip(&base).zip(dots) {
                for (yo, d) in after(&mut **row, q).iter_mut().zip(dots) {
                    *yo = self.out.apply(scale, base.wrapping_add(d));
                }
            }
            q += PATCHES;
        }
        // The last few patches.
        while q < n {
            let last = nth_chunk(patches, q, k);
            for ((row, &base), f) in rows.iter_mut().zip(&base).zip(fs) {
                self.channel(nth_chunk(&mut **row, q, 1), f, base, last);
            }
            q += 1;
        }
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
impl Plan<'_, '_> {
    /// Positions per tile of the VNNI path with `len` bytes of workspace ([`vnni::scratch_len`]),
    /// or `None` if it cannot hold one position.
    fn vnni_tile(&self, len: usize) -> Option<usize> {
        let k = self.k.get();
        let n = len.checked_sub(vnni::scratch_len(0, k))? / k;
        let n = n.min(vnni::TILE).min(self.conv.group().cols());
        (n > 0).then_some(n)
    }

    /// [`Plan::forward`] on AVX-512 VNNI (see [`vnni`]): per tile of `n` positions, the taps
    /// unfolded into the front of `scratch`, interleaved into quads after them, then every
    /// block of filters.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/DQ/VL and VNNI; `n` is [`Plan::vnni_tile`]'s for `scratch`.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")]
    unsafe fn forward_vnni(&self, n: usize, output: &mut [i8], scratch: &mut [i8]) {
        let (conv, k) = (self.conv, self.k.get());
        let zp = self.quant.input_zero_point;
        let (taps, quads) = scratch.split_at_mut(n * k);
        debug_assert!(quads.len() >= vnni::quads(k) * vnni::TILE * 4);
        let quads = quads.as_mut_ptr().cast::<i32>();
        let group = conv.group();
        let shifted = vnni::shifted(group);
        // Tiles outside groups: the masks of the shifted loads are made once per tile.
        for (image, image_out) in conv.images(self.input, output) {
            for columns in conv.tiles(n) {
                let inside = shifted.then(|| vnni::Inside::new(group, columns.clone()));
                for (channel0, ((x, y), (w, b))) in
                    groups(conv, image, &mut *image_out, self.weight, self.bias)
                {
                    let len = columns.len();
                    let rows = taps.get_mut(..len * k).unwrap_or_default();
                    // SAFETY: the caller's CPU; `rows` holds `len * k` bytes, the quads after
                    // `taps` `quads(k) * TILE` `i32`s (`vnni_tile`); `inside` is the tile's,
                    // for a geometry `shifted` takes, and `x` holds the group's planes.
                    unsafe {
                        if let Some(inside) =
                            inside.as_ref().filter(|_| x.len() == group.image_len())
                        {
                            vnni::quads_shifted(group, x, zp, columns.clone(), inside, quads);
                        } else {
                            vnni::unfold(group, x, zp, columns.clone(), rows);
                            vnni::interleave(rows, len, k, quads);
                        }
                    }
                    let rows = conv.tile_rows(y, columns.clone());
                    let mut filters = pairs(rows, chunks(w, k)).enumerate();
                    loop {
                        // Blocks of `MR` filters, the last few in blocks of 4 (or 1).
                        let mut block: [Filter<'_, '_>; vnni::MR] = Default::default();
                        let mut count = 0;
                        for (slot, filter) in block.iter_mut().zip(&mut filters) {
                            *slot = filter;
                            count += 1;
                        }
                        let block = block.get_mut(..count).unwrap_or_default();
                        if count == vnni::MR {
                            // SAFETY: the caller's CPU; the tile's quads are written.
                            unsafe { self.block_vnni::<{ vnni::MR }>(block, b, channel0, quads) };
                        } else {
                            for four in block.chunks_mut(4) {
                                // SAFETY: as above. A lone filter (depthwise) on its own.
                                unsafe {
                                    if let [_] = four {
                                        self.block_vnni::<1>(four, b, channel0, quads)
                                    } else {
                                        self.block_vnni::<4>(four, b, channel0, quads)
                                    }
                                };
                            }
                        }
                        if count < vnni::MR {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// The outputs of up to `M` filters over a tile whose quads are written: [`vnni::block`]
    /// on the filters (the last repeated up to `M`), requantized into their rows.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW and VNNI; `quads` holds a tile's quads of patches of `k`
    /// bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")]
    unsafe fn block_vnni<const M: usize>(
        &self,
        filters: &mut [Filter<'_, '_>],
        b: Option<&[i32]>,
        channel0: usize,
        quads: *const i32,
    ) {
        let k = self.k.get();
        let Some((_, (_, last))) = filters.last() else {
            return;
        };
        if filters.iter().any(|(_, (_, f))| f.len() != k) {
            // Not in a validated geometry: every filter has `k` weights.
            return;
        }
        let last = last.as_ptr();
        let w = core::array::from_fn(|m| filters.get(m).map_or(last, |(_, (_, f))| f.as_ptr()));
        let mut acc = [[0; vnni::TILE]; M];
        // SAFETY: the caller's CPU and quads; every filter holds `k` weights (checked).
        unsafe { vnni::block(w, k, quads, &mut acc) };
        for ((o, (row, f)), acc) in filters.iter_mut().zip(&acc) {
            let (scale, base) = self.base(b, channel0, *o, f, 128);
            let n = row.len().min(vnni::TILE);
            let row = row.get_mut(..n).unwrap_or_default();
            // SAFETY: the caller's CPU.
            unsafe { vnni::requantize(&self.out, scale, base, acc, row) };
        }
    }
}

/// `sum(a[i] * b[i])` in `i32` (exact: the callers bound the length).
#[inline(always)]
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
        s.wrapping_add(i32::from(x) * i32::from(y))
    })
}

/// Checks that `products` products of magnitude up to `product_max`, plus any of the biases,
/// stay within `i32`.
pub(crate) fn check_accumulator(
    products: usize,
    product_max: u32,
    bias: Option<&[i32]>,
) -> Result<(), Error> {
    let worst = (products as u128) * u128::from(product_max);
    let fits = |b: i32| {
        let b = i128::from(b);
        let worst = worst as i128;
        b + worst <= i128::from(i32::MAX) && b - worst >= i128::from(i32::MIN)
    };
    let overflow = |bias| Error::AccumulatorOverflow {
        products,
        product_max,
        bias,
    };
    if worst > i32::MAX as u128 {
        return Err(overflow(0));
    }
    match bias.and_then(|b| b.iter().copied().find(|&b| !fits(b))) {
        Some(b) => Err(overflow(b)),
        None => Ok(()),
    }
}

/// Writes the patches of output positions `columns` (row-major `oh * OW + ow`) of one group
/// of one image into `patches`, one after the other, each in the weights' `(c, kh, kw)`
/// order; taps in the padding read `zp`.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
#[inline(always)]
fn fill_patches(
    group: &Im2col,
    image: &[i8],
    zp: i8,
    columns: Range<usize>,
    out_w: NonZeroUsize,
    patches: &mut [i8],
) {
    let win = group.window();
    let (h, w) = (group.height(), group.width());
    let plane = h * w;
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let (mut oh, mut ow) = (columns.start / out_w, columns.start % out_w);
    let (channels, k) = (group.channels(), group.rows());
    // Whether windows inside the image may be copied unchecked: the image has every
    // channel's plane.
    let whole = image.len() >= channels * plane;
    let (reach_h, reach_w) = ((kh - 1) * win.dilation_h, (kw - 1) * win.dilation_w);
    for (_, patch) in pairs(columns, chunks(patches, k)) {
        // Input coordinates, wrapped below zero to values >= h or >= w (then padding).
        let row0 = (oh * win.stride_h).wrapping_sub(win.padding.top);
        let col0 = (ow * win.stride_w).wrapping_sub(win.padding.left);
        if whole && row0 < h && h - row0 > reach_h && col0 < w && w - col0 > reach_w {
            // SAFETY: every tap `(c, row0 + i * dh, col0 + j * dw)` is inside its plane
            // (`row0 + reach_h < h`, `col0 + reach_w < w`), and the image holds all
            // `channels` planes; `patch` holds the `k = channels * kh * kw` bytes written.
            unsafe {
                let mut at = patch.as_mut_ptr();
                for c in 0..channels {
                    for i in 0..kh {
                        let row = image
                            .as_ptr()
                            .add(c * plane + (row0 + i * win.dilation_h) * w + col0);
                        at = copy_taps(row, at, kw, win.dilation_w);
                    }
                }
            }
        } else {
            fill_patch(group, image, zp, (row0, col0), patch);
        }
        ow += 1;
        if ow == out_w.get() {
            ow = 0;
            oh += 1;
        }
    }
}

/// Copies the taps `row[j * dw]`, `j < kw`, to `at[j]` and returns `at + kw`; on hosts, the
/// 3 adjacent taps of a 3x3 window as one fixed-size copy (the loop's overhead is per tap).
///
/// # Safety
/// `row[j * dw]` is readable and `at[j]` writable for `j < kw`, and they do not overlap.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
#[inline(always)]
unsafe fn copy_taps(row: *const i8, mut at: *mut i8, kw: usize, dw: usize) -> *mut i8 {
    // SAFETY: the caller's.
    unsafe {
        if cfg!(target_arch = "x86_64") && kw == 3 && dw == 1 {
            core::ptr::copy_nonoverlapping(row, at, 3);
            return at.add(3);
        }
        for j in 0..kw {
            *at = *row.add(j * dw);
            at = at.add(1);
        }
        at
    }
}

/// [`fill_patches`] for one position whose window may reach into the padding: tap by tap,
/// `zp` outside the image.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
#[inline(always)]
fn fill_patch(
    group: &Im2col,
    image: &[i8],
    zp: i8,
    (row0, col0): (usize, usize),
    patch: &mut [i8],
) {
    let mut dst = patch.iter_mut();
    let win = group.window();
    let (h, w) = (group.height(), group.width());
    let plane = h * w;
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    for c in 0..group.channels() {
        let channel = image.get(c * plane..).unwrap_or_default();
        for i in 0..kh {
            let ih = row0.wrapping_add(i * win.dilation_h);
            let row = if ih < h {
                channel.get(ih * w..ih * w + w)
            } else {
                None
            };
            for j in 0..kw {
                let iw = col0.wrapping_add(j * win.dilation_w);
                let v = row.and_then(|r| r.get(iw)).copied().unwrap_or(zp);
                if let Some(d) = dst.next() {
                    *d = v;
                }
            }
        }
    }
}
