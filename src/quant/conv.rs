//! int8 convolution: groups, depthwise with a channel multiplier, dilation, 4-sided padding,
//! stride; `i32` accumulation, then requantization.

use core::num::NonZeroUsize;
use core::ops::Range;

use super::requant::{Output, QuantParams, Scale};
#[cfg(all(target_arch = "x86_64", not(miri)))]
use super::{vnni, x86};
use crate::arch::run;
use crate::conv::Conv2d;
use crate::error::{check_len, Error};
use crate::im2col::Im2col;
use crate::walk::{chunks, pairs};

/// Output positions per workspace tile at full speed: the patches of 32 positions of a 3x3
/// layer of 64 channels take 18 KiB, within a level-1 data cache next to the filters.
pub(super) const FULL_TILE: usize = 32;

/// The largest magnitude of one product `(x - x_zp) * w`: `|x - x_zp| <= 255`, `|w| <= 128`.
const PRODUCT_MAX: u32 = 255 * 128;

impl Conv2d {
    /// Workspace bytes [`conv2d_i8`] runs fastest with: the patches (`(C / groups) * KH *
    /// KW` bytes each) of up to 32 output positions; on x86_64 also room for the AVX-512 VNNI
    /// kernel's interleaved copy of them (32 positions' patches rounded up to 4 bytes).
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
        let cols = self.group().cols();
        let tile = if cols < FULL_TILE { cols } else { FULL_TILE };
        let patches = self.group().tile_len(tile);
        if cfg!(target_arch = "x86_64") {
            let quads = self
                .group()
                .rows()
                .div_ceil(4)
                .saturating_mul(4 * FULL_TILE);
            patches.saturating_add(quads)
        } else {
            patches
        }
    }

    /// The smallest workspace [`conv2d_i8`] accepts: one output position's patch, `(C /
    /// groups) * KH * KW` bytes. Every size from here up gives the same, exact, result.
    pub const fn min_scratch_len_i8(&self) -> usize {
        self.group().rows()
    }
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
    let (Some(k), Some(ow)) = (
        NonZeroUsize::new(group.rows()),
        NonZeroUsize::new(group.out_w()),
    ) else {
        // A validated geometry has both; nothing to compute otherwise.
        return Ok(());
    };
    let tile = (scratch.len() / k).min(FULL_TILE).min(group.cols()).max(1);
    let plan = Plan {
        conv,
        input,
        weight,
        bias,
        quant,
        out: Output::new(quant),
        k,
        out_w: ow,
        tile,
    };
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    if plan.depthwise_dsp(output, scratch) || plan.forward_dsp(output, scratch) {
        return Ok(());
    }
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if conv.isa() == crate::arch::Isa::Avx512 && crate::arch::avx512_vnni() {
        if let Some(n) = plan.vnni_tile(scratch.len()) {
            // SAFETY: AVX-512 is the geometry's instruction set (`with_isa` checked it, or
            // `Isa::best` detected it), and the CPU has VNNI.
            unsafe { plan.forward_vnni(n, output, scratch) };
            return Ok(());
        }
    }
    // SAFETY: a geometry's instruction set is available: `with_isa` checked it, or
    // `Isa::best` detected it.
    unsafe {
        run(
            conv.isa(),
            #[inline(always)]
            || plan.forward(output, scratch),
        )
    };
    Ok(())
}

/// A filter of a group: its index, its output row of the tile, its weights.
#[cfg(all(target_arch = "x86_64", not(miri)))]
type Filter<'y, 'w> = (usize, (&'y mut [i8], &'w [i8]));

/// A checked call of [`conv2d_i8`], resolved.
struct Plan<'a, 'q> {
    conv: &'a Conv2d,
    input: &'a [i8],
    weight: &'a [i8],
    bias: Option<&'a [i32]>,
    quant: &'a QuantParams<'q>,
    out: Output,
    /// Patch length.
    k: NonZeroUsize,
    out_w: NonZeroUsize,
    /// Output positions per tile.
    tile: usize,
}

impl Plan<'_, '_> {
    /// Every image, group and tile: patches into `scratch`, then a dot product with every
    /// filter of the group, requantized. Inlined into the instruction set's build.
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
fn groups<'a>(
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
type Planes<'a> = (&'a [i8], &'a mut [i8]);
/// A group's filters and biases.
type Filters<'a> = (&'a [i8], Option<&'a [i32]>);

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
            // Blocks of filters, the last few one by one.
            let mut filters = filters;
            loop {
                let block: [_; x86::FILTERS] = core::array::from_fn(|_| filters.next());
                let [Some(f0), Some(f1), Some(f2), Some(f3)] = block else {
                    for (o, (row, filter)) in block.into_iter().flatten() {
                        self.channel(row, filter, self.base(b, channel0, o, filter, 0), patches);
                    }
                    return;
                };
                self.block_avx2([f0, f1, f2, f3], b, channel0, patches);
            }
        }
        for (o, (row, filter)) in filters {
            self.channel(row, filter, self.base(b, channel0, o, filter, 0), patches);
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

    /// [`x86::FILTERS`] filters' outputs (each filter's index in the group, output row and
    /// weights), their dot products computed in blocks of
    /// [`x86::PATCHES`] patches (a last odd patch on its own).
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[inline(always)]
    fn block_avx2(
        &self,
        filters: [Filter<'_, '_>; x86::FILTERS],
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
        while q + x86::PATCHES <= n {
            // SAFETY: the geometry's instruction set (AVX2 or AVX-512) is available; the
            // filters hold `k` bytes each and patches `q, q + 1 < n <= patches.len() / k`
            // start `k` bytes apart.
            let dots = unsafe { x86::dots(w, [x.add(q * k), x.add((q + 1) * k)], k) };
            for ((row, &(scale, base)), dots) in rows.iter_mut().zip(&base).zip(dots) {
                for (yo, d) in after(&mut **row, q).iter_mut().zip(dots) {
                    *yo = self.out.apply(scale, base.wrapping_add(d));
                }
            }
            q += x86::PATCHES;
        }
        if q < n {
            // The last patch of an odd count.
            let last = nth_chunk(patches, q, k);
            for ((row, &base), f) in rows.iter_mut().zip(&base).zip(fs) {
                self.channel(nth_chunk(&mut **row, q, 1), f, base, last);
            }
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

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
impl Plan<'_, '_> {
    /// The DSP extension's path: per tile, pairs of patches are gathered into the first
    /// `2 * k` bytes of `scratch` and widened (zero point subtracted) into 16-bit lanes after
    /// them, then every pair of output channels takes every pair of patches in the
    /// assembly `2 x 2` kernel. False (nothing written) if `scratch` cannot hold the raw
    /// pair and one widened pair: the portable path then runs.
    fn forward_dsp(&self, output: &mut [i8], scratch: &mut [i8]) -> bool {
        let (input, weight, bias) = (self.input, self.weight, self.bias);
        use super::dsp::{offset, pair_words, widen_pair};
        let (conv, k) = (self.conv, self.k.get());
        let zp = self.quant.input_zero_point;
        let per_pair = pair_words(k);
        // The raw pair, and 3 bytes of slack for `gather`'s word copies.
        let Some((raw, rest)) = scratch.split_at_mut_checked(2 * k + 3) else {
            return false;
        };
        // SAFETY: every bit pattern is a valid `u32`.
        let (_, words, _) = unsafe { rest.align_to_mut::<u32>() };
        let tile_pairs = (words.len() / per_pair).min(FULL_TILE / 2);
        if tile_pairs == 0 {
            return false;
        }
        let off = offset(zp);
        let cols = conv.group().cols();
        let oc_per_group = conv.output().c() / conv.groups();
        let out = &self.out;
        // A 1x1 window, stride 1, no padding: a patch is a column of the channels, widened
        // straight from the input.
        let pointwise = conv.window().is_pointwise();
        // Two output channels' accumulators over a tile, written before they are read.
        let mut acc = [0u32; FULL_TILE * 2];
        for (image, image_out) in conv.images(input, output) {
            for (channel0, ((x, y), (w, b))) in groups(conv, image, image_out, weight, bias) {
                let mut start = 0;
                while start < cols {
                    let end = cols.min(start + 2 * tile_pairs);
                    // Gather and widen the tile's pairs (an odd last patch pairs with itself).
                    let columns = (start..end).step_by(2);
                    for (c, pair) in pairs(columns, chunks(&mut *words, per_pair)) {
                        let two = (end - c).min(2);
                        if pointwise {
                            widen_pointwise(x, conv.group().channels(), c, two == 2, off, pair);
                            continue;
                        }
                        for (i, col) in (c..c + two).enumerate() {
                            let patch = raw.get_mut(i * k..).unwrap_or_default();
                            gather(conv.group(), x, zp, col, self.out_w, patch);
                        }
                        let (p0, p1) = raw.split_at_checked(k).unwrap_or_default();
                        widen_pair(p0, if two == 2 { p1 } else { p0 }, k, off, pair);
                    }
                    let mut o = 0;
                    while o < oc_per_group {
                        // An odd last channel pairs with itself (fs = 0), its twin discarded.
                        let both = o + 1 < oc_per_group;
                        let o1 = if both { o + 1 } else { o };
                        let bias = |o: usize| b.and_then(|b| b.get(o)).copied().unwrap_or(0);
                        let (b0, b1) = (bias(o), bias(o1));
                        let tile = Tile {
                            words: &*words,
                            per_pair,
                            columns: start..end,
                            filters: w.get(o * k..).unwrap_or_default(),
                            fs: (o1 - o) * k,
                            k,
                        };
                        let s0 = self.quant.requant.channel(channel0 + o);
                        let s1 = self.quant.requant.channel(channel0 + o1);
                        tile.run((b0, b1), &mut acc);
                        let (first, second) = acc.split_at(FULL_TILE);
                        let n = end - start;
                        let rows = [(s0, first, o), (s1, second, o1)];
                        for (scale, acc, row) in rows.into_iter().take(1 + usize::from(both)) {
                            let at = row * cols + start;
                            let (Some(y), Some(acc)) = (y.get_mut(at..at + n), acc.get(..n)) else {
                                continue;
                            };
                            finish(out, scale, acc, y);
                        }
                        o += 2;
                    }
                    start = end;
                }
            }
        }
        true
    }
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
impl Plan<'_, '_> {
    /// The DSP extension's depthwise 3x3 (stride 1, no dilation, padding at most 1 on each
    /// side, one output channel per input channel): per channel, input rows are widened
    /// (zero point subtracted, padding columns 0) into 16-bit lanes in `scratch`, three rows
    /// kept at a time; each pair of outputs `(ow, ow + 1)` then takes, per kernel row, the
    /// words `A = (p[ow], p[ow + 1])` and `B = (p[ow + 2], p[ow + 3])` in four multiplies:
    /// `out0 += SMLAD(A, (w0, w1)) + SMLABT(B, (w1, w2))`, `out1 += SMLAD(B, (w1, w2)) +
    /// SMLATB(A, (w0, w1))`. Rows in the padding are skipped (they contribute 0). False
    /// (nothing written) for other geometries or a workspace below three widened rows.
    fn depthwise_dsp(&self, output: &mut [i8], scratch: &mut [i8]) -> bool {
        let (input, weight, bias) = (self.input, self.weight, self.bias);
        use super::dsp::{offset, pack, sxtab16, sxtab16_ror8};
        let conv = self.conv;
        let (x, y, win) = (conv.input(), conv.output(), conv.window());
        let pad = win.padding;
        if conv.groups() != x.c()
            || y.c() != x.c()
            || (win.kernel_h, win.kernel_w, win.stride_h, win.stride_w) != (3, 3, 1, 1)
            || (win.dilation_h, win.dilation_w) != (1, 1)
            || pad.top > 1
            || pad.left > 1
            || pad.bottom > 1
            || pad.right > 1
        {
            return false;
        }
        let (h, w, oh_n, ow_n) = (x.h(), x.w(), y.h(), y.w());
        // Lanes p[0..ow_n + 3] (even): p[j] is input column j - left.
        let row_words = (ow_n + 4) / 2;
        // SAFETY: every bit pattern is a valid `u32`.
        let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
        // Three rows and a fourth of zeros, which rows in the padding read; then one output
        // row's accumulators.
        let Some((rows, accs)) = words.split_at_mut_checked(4 * row_words) else {
            return false;
        };
        let Some(accs) = accs.get_mut(..ow_n) else {
            return false;
        };
        rows.fill(0);
        let zp = i32::from(self.quant.input_zero_point);
        let off = offset(self.quant.input_zero_point);
        let plane_in = h * w;
        let plane_out = oh_n * ow_n;
        let out = &self.out;
        for p in 0..x.n() * x.c() {
            let c = p % x.c();
            let (Some(xp), Some(yp), Some(f)) = (
                input.get(p * plane_in..(p + 1) * plane_in),
                output.get_mut(p * plane_out..(p + 1) * plane_out),
                weight.get(c * 9..c * 9 + 9),
            ) else {
                return true;
            };
            let wt = |i: usize| i32::from(f.get(i).copied().unwrap_or(0));
            let taps = [0, 1, 2].map(|r| {
                (
                    pack(wt(3 * r), wt(3 * r + 1)),
                    pack(wt(3 * r + 1), wt(3 * r + 2)),
                )
            });
            let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0);
            let scale = self.quant.requant.channel(c);
            // Which input row each of the three slots holds.
            let mut held = [usize::MAX; 3];
            for (oh, yrow) in pairs(0..oh_n, chunks(&mut *yp, ow_n)) {
                let mut slots = [3; 3];
                for (r, slot) in slots.iter_mut().enumerate() {
                    let ih = (oh + r).wrapping_sub(pad.top);
                    if ih >= h {
                        continue;
                    }
                    let s = ih % 3;
                    let Some(dst) = rows.get_mut(s * row_words..(s + 1) * row_words) else {
                        continue;
                    };
                    if held[s] != ih {
                        let src = xp.get(ih * w..ih * w + w).unwrap_or_default();
                        let lane = |j: usize| {
                            j.checked_sub(pad.left)
                                .and_then(|col| src.get(col))
                                .map_or(0, |&v| i32::from(v) - zp)
                        };
                        // Words `i, i + 1` from the four input bytes at `2i - left`, split
                        // into even and odd lanes by `SXTAB16`, where those bytes are in the
                        // row; one lane at a time elsewhere (the padding reads 0).
                        let mut i = 0;
                        while i < dst.len() {
                            let at = (2 * i).wrapping_sub(pad.left);
                            if 2 * i >= pad.left && at + 4 <= src.len() && i + 1 < dst.len() {
                                // SAFETY: `at + 4 <= src.len()`.
                                let v = unsafe {
                                    core::ptr::read_unaligned(src.as_ptr().add(at).cast::<u32>())
                                };
                                let (e, o) = (sxtab16(off, v), sxtab16_ror8(off, v));
                                if let Some([d0, d1]) = dst.get_mut(i..i + 2) {
                                    *d0 = (e & 0xffff) | (o << 16);
                                    *d1 = (e >> 16) | (o & 0xffff_0000);
                                }
                                i += 2;
                            } else {
                                if let Some(d) = dst.get_mut(i) {
                                    *d = pack(lane(2 * i), lane(2 * i + 1));
                                }
                                i += 1;
                            }
                        }
                        held[s] = ih;
                    }
                    *slot = s;
                }
                let base = slots.map(|s| s * row_words);
                depthwise_row(rows, row_words, base, &taps, b, accs);
                finish(out, scale, accs, yrow);
            }
        }
        true
    }
}

/// The accumulators of one output row of the DSP depthwise 3x3 into `accs` (one per output
/// position, as `u32` bits), from the widened rows at word offsets `base` of `rows` (each `row_words`
/// long) and the packed taps `(w0, w1), (w1, w2)` of each kernel row.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(never)]
fn depthwise_row(
    rows: &[u32],
    row_words: usize,
    base: [usize; 3],
    taps: &[(u32, u32); 3],
    bias: i32,
    accs: &mut [u32],
) {
    use super::dsp::{smlabt, smlad, smlatb};
    let ow_n = accs.len();
    // Pair `q` reads words `q` and `q + 1` of each row: `(ow_n + 1) / 2 + 1 <= row_words`.
    if ow_n == 0
        || ow_n.div_ceil(2) + 1 > row_words
        || base.iter().any(|&b| b + row_words > rows.len())
    {
        return;
    }
    let [(a0, b0), (a1, b1), (a2, b2)] = *taps;
    let ptr = rows.as_ptr();
    let y = accs.as_mut_ptr();
    for q in 0..ow_n.div_ceil(2) {
        // SAFETY: `base[r] + q + 1 < base[r] + row_words <= rows.len()` (checked above), and
        // `2 * q < ow_n`, `2 * q + 1` written only below `ow_n`.
        unsafe {
            let (p0, p1, p2) = (
                ptr.add(base[0] + q),
                ptr.add(base[1] + q),
                ptr.add(base[2] + q),
            );
            let (u0, v0, u1, v1, u2, v2) = (*p0, *p0.add(1), *p1, *p1.add(1), *p2, *p2.add(1));
            let even = smlabt(v0, b0, smlad(u0, a0, bias));
            let odd = smlatb(u0, a0, smlad(v0, b0, bias));
            let even = smlabt(v1, b1, smlad(u1, a1, even));
            let odd = smlatb(u1, a1, smlad(v1, b1, odd));
            let even = smlabt(v2, b2, smlad(u2, a2, even));
            let odd = smlatb(u2, a2, smlad(v2, b2, odd));
            *y.add(2 * q) = even as u32;
            if 2 * q + 1 < ow_n {
                *y.add(2 * q + 1) = odd as u32;
            }
        }
    }
}

/// `y[i] = out.apply(scale, accs[i])`: the outputs of the DSP kernels in a pass of their
/// own, one copy of the requantization for all of them, TFLite's double rounding with its
/// constants in registers.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(never)]
fn finish(out: &Output, scale: Scale, accs: &[u32], y: &mut [i8]) {
    let Scale::Double(m) = scale else {
        for (y, &a) in pairs(y.iter_mut(), accs.iter()) {
            *y = out.apply(scale, a as i32);
        }
        return;
    };
    let d = super::requant::Double::new(out, m);
    // The usual case, a right shift, in a loop of its own.
    if let Some((m, right)) = d.right_shift() {
        for (y, &a) in pairs(y.iter_mut(), accs.iter()) {
            *y = d.finish(super::multiplier::round_shift(a as i32, m, right));
        }
        return;
    }
    for (y, &a) in pairs(y.iter_mut(), accs.iter()) {
        *y = d.apply(a as i32);
    }
}

/// Two output channels (the same twice for an odd last one) by the widened pairs of patches
/// of `columns`.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
struct Tile<'a> {
    words: &'a [u32],
    per_pair: usize,
    columns: Range<usize>,
    filters: &'a [i8],
    fs: usize,
    k: usize,
}

#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
impl Tile<'_> {
    /// Every `2 x 2` block of the tile, plus `bias.0` (row 0) or `bias.1` (row 1), into
    /// `acc`: row 0's accumulators (as `u32` bits) from index 0, row 1's from `FULL_TILE`,
    /// each at its column less the tile's first.
    #[inline(never)]
    fn run(&self, bias: (i32, i32), acc: &mut [u32; FULL_TILE * 2]) {
        use super::dsp::dot_2x2;
        let Range { start, end } = self.columns;
        let (first, second) = acc.split_at_mut(FULL_TILE);
        let blocks = pairs(chunks(first, 2), chunks(second, 2));
        let columns = (start..end).step_by(2);
        for ((y0, y1), pair) in pairs(
            blocks,
            pairs(columns, chunks(self.words, self.per_pair)).map(|(_, p)| p),
        ) {
            let [a00, a01, a10, a11] = dot_2x2(self.filters, self.fs, self.k, pair);
            if let ([v00, v01], [v10, v11]) = (y0, y1) {
                *v00 = bias.0.wrapping_add(a00) as u32;
                *v01 = bias.0.wrapping_add(a01) as u32;
                *v10 = bias.1.wrapping_add(a10) as u32;
                *v11 = bias.1.wrapping_add(a11) as u32;
            }
        }
    }
}

/// The widened pair of patches (see `dsp::widen_pair`) of output positions `p` and `p + 1`
/// (`p` twice unless `two`) of a 1x1 convolution with stride 1 and no padding, straight
/// from one group's `image` of `channels` planes: per four channels, the two positions'
/// bytes of channels `c` and `c + 2` in one word (`c + 1` and `c + 3` in another), which
/// `SXTAB16` splits into the pair's lanes.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(always)]
fn widen_pointwise(
    image: &[i8],
    channels: usize,
    p: usize,
    two: bool,
    off: u32,
    words: &mut [u32],
) {
    use super::dsp::{pack, sxtab16, sxtab16_ror8};
    let plane = image.len() / channels.max(1);
    let quads = channels / 4;
    let zp = -i32::from(off as u16 as i16);
    // Both positions' bytes of channel `c`: one halfword, read unaligned when every
    // channel's is in bounds, else through `get`.
    let fast = two && (channels.max(1) - 1) * plane + p + 2 <= image.len();
    let pair = |c: usize| -> u32 {
        if fast {
            // SAFETY: `c < channels`, so `c * plane + p + 2 <= image.len()` (checked above).
            return u32::from(unsafe {
                core::ptr::read_unaligned(image.as_ptr().add(c * plane + p).cast::<u16>())
            });
        }
        let at = |i: usize| image.get(c * plane + i).map_or(0, |&v| u32::from(v as u8));
        let a = at(p);
        a | (if two { at(p + 1) } else { a }) << 8
    };
    for (q, w) in chunks(&mut *words, 4).take(quads).enumerate() {
        let c = 4 * q;
        let (u, v) = (pair(c) | pair(c + 2) << 16, pair(c + 1) | pair(c + 3) << 16);
        if let [w0, w1, w2, w3] = w {
            *w0 = sxtab16(off, u);
            *w1 = sxtab16(off, v);
            *w2 = sxtab16_ror8(off, u);
            *w3 = sxtab16_ror8(off, v);
        }
    }
    for (c, w) in (4 * quads..channels).zip(words.get_mut(4 * quads..).unwrap_or_default()) {
        let b = pair(c);
        let lane = |v: u32| i32::from(v as u8 as i8) - zp;
        *w = pack(lane(b), lane(b >> 8));
    }
}

/// The patch of output position `col` (`oh * OW + ow`) of one group of one image into
/// `patch` (`k` bytes, in the weights' `(c, kh, kw)` order, taps in the padding reading
/// `zp`), as `fill_patches` writes it; up to 3 bytes after the patch may be overwritten.
/// Rows of up to 4 taps without dilation that lie wholly inside the input are copied as
/// one unaligned word each (the bytes past the row are overwritten by the next row's copy,
/// or land in the 3 bytes after the patch); other geometries take `fill_patches`.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
#[inline(always)]
fn gather(group: &Im2col, image: &[i8], zp: i8, col: usize, out_w: NonZeroUsize, patch: &mut [i8]) {
    use core::ptr::{read_unaligned, write_unaligned};
    let win = group.window();
    let (kh, kw) = (win.kernel_h, win.kernel_w);
    let k = group.rows();
    if win.dilation_w != 1 || kw > 4 || patch.len() < k + 3 {
        fill_patches(group, image, zp, col..col + 1, out_w, patch);
        return;
    }
    let (h, w) = (group.height(), group.width());
    let plane = h * w;
    let (oh, ow) = (col / out_w, col % out_w);
    let row0 = (oh * win.stride_h).wrapping_sub(win.padding.top);
    let col0 = (ow * win.stride_w).wrapping_sub(win.padding.left);
    // Taps j0..j1 of a row land in the input (col0 wrapped below zero: j0 > 0).
    let j0 = if col0 < w {
        0
    } else {
        col0.wrapping_neg().min(kw)
    };
    let j1 = w.wrapping_sub(col0).min(kw).max(j0);
    let whole = j0 == 0 && j1 == kw;
    let len = image.len();
    let src = image.as_ptr();
    let dst = patch.as_mut_ptr();
    let channels = group.channels();
    // The whole window inside the input: every row is one word copy.
    let last_row = row0.wrapping_add(kh.saturating_sub(1) * win.dilation_h);
    let last = (channels.wrapping_sub(1).wrapping_mul(plane))
        .wrapping_add(last_row.wrapping_mul(w))
        .wrapping_add(col0)
        .wrapping_add(4);
    if whole && row0 < h && last_row < h && last <= len && kh > 0 && channels > 0 {
        let step = win.dilation_h * w;
        // SAFETY: the rows read are `c * plane + (row0 + i * dilation_h) * w + col0 ..
        // + 4` for `c < channels`, `i < kh`, the last of which ends at `last <= len`; the
        // words written start at multiples of `kw` below `k`, and `k + 3 <= patch.len()`.
        unsafe {
            let mut d = dst;
            let mut channel = src.add(row0 * w + col0);
            for _ in 0..channels {
                let mut s = channel;
                for _ in 0..kh {
                    write_unaligned(d.cast::<u32>(), read_unaligned(s.cast::<u32>()));
                    d = d.add(kw);
                    s = s.add(step);
                }
                channel = channel.add(plane);
            }
        }
        return;
    }
    let zp4 = u32::from(zp as u8) * 0x0101_0101;
    let mut pos = 0;
    for c in 0..group.channels() {
        let channel = c * plane;
        for i in 0..kh {
            let ih = row0.wrapping_add(i * win.dilation_h);
            let start = channel.wrapping_add(ih.wrapping_mul(w)).wrapping_add(col0);
            let readable = start.checked_add(4).is_some_and(|end| end <= len);
            // SAFETY: `pos + kw <= k` and `k + 3 <= patch.len()`, so the patch's word at
            // `pos` and bytes `pos..pos + kw` are in bounds; the image is read at `start..start
            // + 4` only when that lies within it, and otherwise through `get`.
            unsafe {
                if ih >= h {
                    // A row in the padding.
                    write_unaligned(dst.add(pos).cast::<u32>(), zp4);
                } else if readable {
                    // The row's word, then the taps in the padding (left or right) set.
                    let v = read_unaligned(src.add(start).cast::<u32>());
                    write_unaligned(dst.add(pos).cast::<u32>(), v);
                    for j in (0..j0).chain(j1..kw) {
                        *dst.add(pos + j) = zp;
                    }
                } else {
                    for j in 0..kw {
                        let v = if j >= j0 && j < j1 {
                            image.get(start.wrapping_add(j)).copied().unwrap_or(zp)
                        } else {
                            zp
                        };
                        *dst.add(pos + j) = v;
                    }
                }
            }
            pos += kw;
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
#[inline(always)]
unsafe fn copy_taps(row: *const i8, mut at: *mut i8, kw: usize, dw: usize) -> *mut i8 {
    // SAFETY: the caller's.
    unsafe {
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) && kw == 3 && dw == 1 {
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
