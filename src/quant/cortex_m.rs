//! The int8 convolution on the M-profile cores with the DSP extension (`eabihf`: the
//! Cortex-M4F and M7), chosen at compile time: CMSIS-NN's scheme in NCHW.
//!
//! Two output positions' patches are widened straight from the input into 16-bit lanes with
//! the input zero point subtracted ([`dsp`](super::dsp)'s pair layout), never copied as
//! bytes first; then every pair of filters takes every widened pair in the `2 x 2` assembly
//! kernel and the four sums are requantized and stored at once: each filter's bias and
//! right-shift constants come from a table built once per block of 16 filters, the four
//! outputs are saturated to bytes (`SSAT`), clamped together (`SSUB8`, `SEL`) and stored as
//! two half-words; when every filter of the block shifts right and the patches are whole
//! groups of four, one assembly loop ([`dot_2x2_blocks`]) runs the tile's pairs by every
//! pair of filters. The workspace is the widened pairs: one pair (`4 k` bytes, CMSIS-NN's)
//! up to 16 of them.
//!
//! The depthwise 3x3 has a kernel of its own ([`Plan::depthwise_dsp`]): rows widened once
//! into three slots, all three kernel rows summed two outputs at a time in assembly, and
//! the row requantized four outputs at a time.
//!
//! The gather is where NCHW costs: a patch is `C x KH` rows of `KW` taps. For stride 1 and
//! 3 taps a row, the two positions' rows are the 4 bytes `x[ow - left .. ow - left + 4]`
//! (one word load inside the image), and 4 rows (12 elements, 3 groups of four) become
//! their 12 widened words in 14 `SXTAB16`s and 7 half-word packs. Other geometries go tap
//! by tap.

use super::conv::{groups, Plan, FULL_TILE};
use super::dsp::{depthwise_3x3_row, dot_2x2_blocks, dot_2x2_raw, offset, pack, pair_words};
use super::dsp::{max8, min8, sxtab16, sxtab16_ror16, sxtab16_ror24, sxtab16_ror8};
use super::dsp::{requant_pair, requant_quads, Blocks};
use super::requant::{Output, RightShift, Scale, Shifter};
use crate::conv::Conv2d;
use crate::walk::{chunks, pairs};

/// Position pairs per workspace tile at full speed.
const TILE_PAIRS: usize = FULL_TILE / 2;

/// Filters per block of [`Tile::run`]: their biases and requantizations are a table on the
/// stack (20 bytes each), built once per group and block.
const BLOCK: usize = 16;

/// One filter's bias and requantization, as [`Tile::run`] reads them, together: five
/// words, as [`dot_2x2_blocks`] reads them.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Filter {
    bias: i32,
    rounding: RightShift,
}

/// The output stage four outputs at a time: each scaled output plus the zero point
/// saturated to a byte (`SSAT`, [`requant_pair`]), four packed in a word, clamped together
/// (`SSUB8`, `SEL`).
#[derive(Clone, Copy)]
struct Bytes {
    zero_point: i32,
    /// The clamp's bounds in every byte.
    min: u32,
    max: u32,
}

// `dot_2x2_blocks` reads a `Filter` as five words: bias, multiplier, nudge_hi, nudge_lo,
// shift (`RightShift`'s order, asserted in `requant.rs`).
const _: () = assert!(size_of::<Filter>() == 20 && core::mem::offset_of!(Filter, rounding) == 4);

impl Bytes {
    fn new(out: &Output) -> Self {
        let (zero_point, min, max) = out.bounds();
        // Both bounds lie within `i8`.
        let every = |b: i32| u32::from(b as u8) * 0x0101_0101;
        Bytes {
            zero_point,
            min: every(min),
            max: every(max),
        }
    }

    /// Filter `f`'s sums `a` (bias included) requantized, saturated to `i8`, in the low two
    /// bytes (the clamp's bounds lie within `i8`, so saturating first changes nothing).
    #[inline(always)]
    fn pair(self, f: &Filter, a: [i32; 2]) -> u32 {
        requant_pair(a, f.rounding.parts(), self.zero_point)
    }

    /// Four bytes clamped at once, lane by lane: `min` first, then `max`, as `Output::apply`.
    #[inline(always)]
    fn clamp(self, v: u32) -> u32 {
        min8(max8(v, self.min), self.max)
    }
}

impl Conv2d {
    /// Workspace bytes of the DSP path for `pairs` widened pairs of patches: 4 bytes per
    /// element pair, and 3 for the alignment of the words.
    pub(super) const fn dsp_scratch_len(&self, pairs: usize) -> usize {
        (4 * pair_words(self.group().rows()))
            .saturating_mul(pairs)
            .saturating_add(3)
    }

    /// [`Conv2d::min_scratch_len_i8`] on the DSP cores: one widened pair of patches, or the
    /// depthwise kernel's rows if more.
    pub(super) const fn dsp_min_scratch_len(&self) -> usize {
        let pair = self.dsp_scratch_len(1);
        let rows = depthwise_scratch_len(self);
        if rows > pair {
            rows
        } else {
            pair
        }
    }

    /// [`Conv2d::scratch_len_i8`] on the DSP cores: 16 widened pairs of patches, or the
    /// depthwise kernel's rows if more.
    pub(super) const fn dsp_full_scratch_len(&self) -> usize {
        let cols = self.group().cols();
        let pairs = if cols.div_ceil(2) < TILE_PAIRS {
            cols.div_ceil(2)
        } else {
            TILE_PAIRS
        };
        let tiles = self.dsp_scratch_len(pairs);
        let rows = depthwise_scratch_len(self);
        if rows > tiles {
            rows
        } else {
            tiles
        }
    }
}

impl Plan<'_, '_> {
    /// The convolution on the DSP cores: the depthwise 3x3 kernel for its geometries, the
    /// pairs of patches for every other (the minimum workspace holds one pair, and the
    /// depthwise kernel's rows).
    pub(super) fn run(&self, output: &mut [i8], scratch: &mut [i8]) {
        if !self.depthwise_dsp(output, scratch) {
            self.forward_dsp(output, scratch);
        }
    }

    /// Every image, group and tile of position pairs: the pairs widened into `scratch`, then
    /// every pair of filters by every widened pair, requantized as it comes. Nothing written
    /// if `scratch` cannot hold one widened pair (the minimum workspace does).
    fn forward_dsp(&self, output: &mut [i8], scratch: &mut [i8]) {
        let (conv, k) = (self.conv, self.k.get());
        let per_pair = pair_words(k);
        // SAFETY: every bit pattern is a valid `u32`.
        let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
        let tile_pairs = (words.len() / per_pair).min(TILE_PAIRS);
        if tile_pairs == 0 {
            return;
        }
        let gather = Gather::new(conv, self.quant.input_zero_point);
        let cols = conv.group().cols();
        let mut table = [Filter::default(); BLOCK];
        for (image, image_out) in conv.images(self.input, output) {
            for (channel0, ((x, y), (w, b))) in
                groups(conv, image, image_out, self.weight, self.bias)
            {
                // Blocks of filters, each with its table; the pairs widened once per block.
                let oc = w.len() / k;
                let mut first = 0;
                while first < oc {
                    let count = (oc - first).min(BLOCK);
                    let fast = self.filters(b, channel0, first, count, &mut table);
                    let ws = w.get(first * k..(first + count) * k).unwrap_or_default();
                    let ys = y.get_mut(first * cols..(first + count) * cols);
                    let ys = ys.unwrap_or_default();
                    let bs = b.and_then(|b| b.get(first..));
                    let mut start = 0;
                    while start < cols {
                        let end = cols.min(start + 2 * tile_pairs);
                        let tile_words = chunks(&mut *words, per_pair);
                        for (c, pair) in pairs((start..end).step_by(2), tile_words) {
                            gather.pair(x, c, end - c >= 2, pair);
                        }
                        let tile = Tile {
                            words: &*words,
                            per_pair,
                            k,
                            columns: (start, end - start),
                        };
                        let filters = (ws, bs, channel0 + first);
                        let table = if fast { Some(&table) } else { None };
                        tile.run(self, filters, table, &mut *ys, cols);
                        start = end;
                    }
                    first += count;
                }
            }
        }
    }

    /// Fills `table` with filters `first..first + count` (at most [`BLOCK`]) of the group
    /// whose output channels start at `channel0`, `b` its biases: false unless every one
    /// requantizes with a right shift ([`RightShift`]).
    fn filters(
        &self,
        b: Option<&[i32]>,
        channel0: usize,
        first: usize,
        count: usize,
        table: &mut [Filter; BLOCK],
    ) -> bool {
        for (i, f) in table.iter_mut().enumerate().take(count) {
            let o = first + i;
            let Scale::Double(m) = self.quant.requant.channel(channel0 + o) else {
                return false;
            };
            let Some(rounding) = RightShift::new(m) else {
                return false;
            };
            let bias = b.and_then(|b| b.get(o)).copied().unwrap_or(0);
            *f = Filter { bias, rounding };
        }
        true
    }
}

/// Widened pairs of patches of a tile (`per_pair` words each, patches of `k`): output
/// positions `columns.0..columns.0 + columns.1` of a group.
struct Tile<'a> {
    words: &'a [u32],
    per_pair: usize,
    k: usize,
    columns: (usize, usize),
}

impl Tile<'_> {
    /// Every filter of a block (`w`, `k` bytes each, their biases `b`, output channels from
    /// `channel0`; `table` their [`Filter`]s if every one shifts right) by every pair of the
    /// tile, requantized into its row of `y` (`cols` outputs a row): pairs of filters (an
    /// odd last one twice, writing its outputs twice) by pairs of positions (an odd last one
    /// with itself).
    #[inline(never)]
    fn run(
        &self,
        plan: &Plan<'_, '_>,
        (w, b, channel0): (&[i8], Option<&[i32]>, usize),
        table: Option<&[Filter; BLOCK]>,
        y: &mut [i8],
        cols: usize,
    ) {
        let (k, per_pair, (start, n)) = (self.k, self.per_pair, self.columns);
        let oc = w.len() / k.max(1);
        // The bounds of every access below, checked once.
        if k == 0
            || n.div_ceil(2) * per_pair > self.words.len()
            || per_pair < pair_words(k)
            || start + n > cols
            || y.len() < oc * cols
            || oc > BLOCK
        {
            return;
        }
        let out = &plan.out;
        let bytes = Bytes::new(out);
        let (f, py) = (w.as_ptr(), y.as_mut_ptr());
        // With a table and whole groups of four elements, every full pair of positions by
        // every full pair of filters in one assembly loop; the odd last position and an odd
        // last filter below.
        let mut first = 0;
        if let Some(t) = table.filter(|_| k % 4 == 0 && per_pair == k && n >= 2 && oc >= 2) {
            let (tile, pairs) = (self.words.as_ptr(), n / 2);
            let mut state = Blocks {
                words: tile,
                w: f,
                fs: k,
                quads: k / 4,
                filters: [t.as_ptr(), t[1..].as_ptr()].map(|e| e.cast::<[u32; 5]>()),
                y: [py.wrapping_add(start), py.wrapping_add(cols + start)],
                pairs,
                zero_point: bytes.zero_point,
                min4: bytes.min,
                max4: bytes.max,
                filter_pairs: oc / 2,
                tile_pairs: pairs,
                tile,
                w_step: 2 * k,
                y_step: 2 * cols - 2 * pairs,
            };
            // SAFETY: as below, for positions `0..2 * pairs <= n` and the filters `2i` and
            // `2i + 1 < oc` of the `oc / 2` pairs (within `w`, the table and `y`).
            unsafe { dot_2x2_blocks(&mut state) };
            first = 2 * pairs;
        }
        // Every pair of filters if an odd last position is left, else the odd last filter
        // alone, which has not run above.
        let mut o = if first < n { 0 } else { oc / 2 * 2 };
        while o < oc {
            let o1 = if o + 1 < oc { o + 1 } else { o };
            let first = if o1 > o { first } else { 0 };
            // SAFETY: filters `o` and `o1 < oc` lie within `w` (`oc * k <= w.len()`) and the
            // table (`oc <= BLOCK`); pair `q`'s `per_pair >= pair_words(k)` words within
            // `self.words` (`n.div_ceil(2) * per_pair` of them; `c = 2q`); the outputs `start
            // + c` and (below `n`) `start + c + 1` of rows `o` and `o1` within `y` (`start +
            // n <= cols`, `oc * cols <= y.len()`), which `requant_block` writes too.
            // `y0` and `y1` are the same row for an odd last filter: both write the same
            // values, through raw pointers.
            unsafe {
                let (f0, fs) = (f.add(o * k), (o1 - o) * k);
                let (y0, y1) = (py.add(o * cols + start), py.add(o1 * cols + start));
                let mut c = first;
                let mut words = self.words.as_ptr().add(c / 2 * per_pair);
                // Without a table the sums start from zero and `requant_block` adds the
                // biases.
                let (t0, t1) = table
                    .map(|t| (*t.get_unchecked(o), *t.get_unchecked(o1)))
                    .unwrap_or_default();
                let init = [t0.bias, t0.bias, t1.bias, t1.bias];
                while c < n {
                    let [a00, a01, a10, a11] = dot_2x2_raw(f0, fs, k, words, init);
                    words = words.add(per_pair);
                    if table.is_none() {
                        let (ys, sums) = ([y0, y1], [[a00, a01], [a10, a11]]);
                        requant_block(plan, (b, channel0), [o, o1], ys, c, c + 1 < n, sums);
                    } else {
                        // Row `o`'s two outputs in the low half-word, `o1`'s in the high.
                        let v = bytes.pair(&t0, [a00, a01]) | bytes.pair(&t1, [a10, a11]) << 16;
                        let v = bytes.clamp(v);
                        if c + 1 < n {
                            y0.add(c).cast::<u16>().write_unaligned(v as u16);
                            y1.add(c).cast::<u16>().write_unaligned((v >> 16) as u16);
                        } else {
                            *y0.add(c) = v as i8;
                            *y1.add(c) = (v >> 16) as i8;
                        }
                    }
                    c += 2;
                }
            }
            o += 2;
        }
    }
}

/// [`Tile::run`]'s outputs for filters without a [`Filter`] table: the sums `sums` of
/// filters `o` (biases `b`, output channels from `channel0`) by positions `c` and (if `two`)
/// `c + 1`, into rows `ys`, each requantized out of line.
///
/// # Safety
/// Outputs `c` and (if `two`) `c + 1` of both rows are writable.
#[inline(never)]
unsafe fn requant_block(
    plan: &Plan<'_, '_>,
    (b, channel0): (Option<&[i32]>, usize),
    o: [usize; 2],
    ys: [*mut i8; 2],
    c: usize,
    two: bool,
    sums: [[i32; 2]; 2],
) {
    for ((o, y), [s0, s1]) in o.into_iter().zip(ys).zip(sums) {
        let bias = b.and_then(|b| b.get(o)).copied().unwrap_or(0);
        let scale = plan.quant.requant.channel(channel0 + o);
        let at = |sum: i32| apply(&plan.out, scale, bias.wrapping_add(sum));
        // SAFETY: the caller's.
        unsafe {
            *y.add(c) = at(s0);
            if two {
                *y.add(c + 1) = at(s1);
            }
        }
    }
}

/// One output channel's requantization in the DSP loops: TFLite's double rounding with a
/// right shift (the usual case) resolved to its constants, or any other out of line.
#[derive(Clone, Copy)]
pub(super) enum Rq {
    Shift(Shifter),
    Other(Scale),
}

impl Rq {
    #[inline(always)]
    pub(super) fn new(out: &Output, scale: Scale) -> Self {
        match shifter(out, scale) {
            Some(s) => Rq::Shift(s),
            None => Rq::Other(scale),
        }
    }

    /// `out.apply(scale, acc)`.
    #[inline(always)]
    pub(super) fn apply(self, out: &Output, acc: i32) -> i8 {
        match self {
            Rq::Shift(s) => s.apply(acc),
            Rq::Other(scale) => apply(out, scale, acc),
        }
    }
}

/// `out.apply(scale, acc)` out of line: the requantizations other than [`Shifter`]'s, one
/// copy for every call site of the kernels.
#[inline(never)]
fn apply(out: &Output, scale: Scale, acc: i32) -> i8 {
    out.apply(scale, acc)
}

/// TFLite's double rounding with a right shift, the usual case, resolved for a loop of its
/// own; `None` for the other requantizations.
#[inline(always)]
fn shifter(out: &Output, scale: Scale) -> Option<Shifter> {
    let Scale::Double(m) = scale else {
        return None;
    };
    Shifter::new(out, m)
}

/// One group's geometry, resolved for widening pairs of patches.
struct Gather {
    channels: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: (usize, usize),
    dilation: (usize, usize),
    top: usize,
    left: usize,
    out_w: usize,
    k: usize,
    zp: i8,
    off: u32,
    /// 1x1, stride 1, no padding: patches are columns of the channels.
    pointwise: bool,
    /// Stride 1 and 3 taps a row, undilated: a pair's rows are one word each.
    rows3: bool,
    /// For kernels of at most 4 rows, where row `r` of four channels' patch rows lies
    /// from the first: `(r / kh) * plane + (r % kh) * dilation * w` (`4 kh` of them).
    rows: [usize; 16],
}

impl Gather {
    fn new(conv: &Conv2d, zp: i8) -> Self {
        let g = conv.group();
        let win = g.window();
        Gather {
            channels: g.channels(),
            h: g.height(),
            w: g.width(),
            kh: win.kernel_h,
            kw: win.kernel_w,
            stride: (win.stride_h, win.stride_w),
            dilation: (win.dilation_h, win.dilation_w),
            top: win.padding.top,
            left: win.padding.left,
            out_w: g.out_w(),
            k: g.rows(),
            zp,
            off: offset(zp),
            pointwise: win.is_pointwise(),
            rows3: win.kernel_w == 3 && win.stride_w == 1 && win.dilation_w == 1,
            rows: core::array::from_fn(|r| {
                let kh = win.kernel_h.max(1);
                (r / kh) * g.height() * g.width() + (r % kh) * win.dilation_h * g.width()
            }),
        }
    }

    /// The widened pair of patches of positions `col` and `col + 1` (`col` twice unless
    /// `two`) of one group's `image` into `words` ([`pair_words`]`(k)`).
    #[inline(always)]
    fn pair(&self, image: &[i8], col: usize, two: bool, words: &mut [u32]) {
        if self.pointwise && two {
            if !widen_pointwise(image, self.channels, col, self.off, words) {
                self.taps(image, col, col + 1, words);
            }
        } else if self.rows3 && two && col % self.out_w.max(1) + 1 < self.out_w {
            self.rows_of_3(image, col, words);
        } else {
            self.taps(image, col, if two { col + 1 } else { col }, words);
        }
    }

    /// [`Gather::pair`] for stride 1, 3 taps a row and both positions in one output row:
    /// each row of the two windows is the word `x[ow - left .. ow - left + 4]` (bytes in
    /// the padding `zp`); four rows at a time become 12 words.
    #[inline(never)]
    fn rows_of_3(&self, image: &[i8], col: usize, words: &mut [u32]) {
        let (oh, ow) = (col / self.out_w.max(1), col % self.out_w.max(1));
        let Some(at) = Origin::new(self, image, oh, ow) else {
            self.taps(image, col, col + 1, words);
            return;
        };
        let (h, w, kh, dh) = (self.h, self.w, self.kh, self.dilation.0);
        let reach = (kh - 1) * dh;
        let (plane, channels) = (h * w, self.channels);
        // Every row inside the image, and kernels of at most 4 rows: four channels' rows at
        // a time, each group of four rows' words loaded at `rows`' offsets.
        let quads = if at.row < h && h - at.row > reach && at.keep == u32::MAX && kh <= 4 {
            channels / 4
        } else {
            0
        };
        // (Wrapping: `at.row` is wrapped above the image, where no quad is read.)
        let base = image
            .as_ptr()
            .wrapping_add(at.row.wrapping_mul(w).wrapping_add(at.load));
        let mut out = chunks(&mut *words, 12);
        for q in 0..quads {
            let p = base.wrapping_add(4 * q * plane);
            for g in self.rows.chunks_exact(4).take(kh) {
                let Ok(&[o0, o1, o2, o3]) = <&[usize; 4]>::try_from(g) else {
                    break;
                };
                // SAFETY: each offset `(r / kh) * plane + (r % kh) * dh * w` for a row `r
                // < 4 kh`: channel `4q + r / kh < channels`, input row `at.row + (r % kh) *
                // dh < h` (all inside, above), column `at.load`, `at.load + 4 <= w`
                // (`Origin::new`), so the 4 bytes lie within the image's `channels * h * w`
                // (checked there).
                let ld = |o: usize| unsafe { p.add(o).cast::<u32>().read_unaligned() };
                let r = [ld(o0), ld(o1), ld(o2), ld(o3)];
                if let Some(dst) = out.next() {
                    widen_rows(r, self.off, dst);
                }
            }
        }
        // The other channels' rows (all of them at the image's edges), by `row_word`.
        let (mut c, mut i) = (4 * quads, 0);
        self.widen_rows_of(words, 4 * quads * kh, || {
            let v = self.row_word(image, &at, c, i);
            i += 1;
            if i == kh {
                i = 0;
                c += 1;
            }
            v
        });
    }

    /// The pair's words from its rows `first..` (`first` a multiple of 4), `next()` giving
    /// each in turn ([`Gather::rows_of_3`]).
    #[inline(always)]
    fn widen_rows_of(&self, words: &mut [u32], first: usize, mut next: impl FnMut() -> u32) {
        let rows = self.channels * self.kh;
        let mut out = chunks(&mut *words, 12).skip(first / 4);
        for _ in first / 4..rows / 4 {
            let r = [next(), next(), next(), next()];
            if let Some(dst) = out.next() {
                widen_rows(r, self.off, dst);
            }
        }
        // The last rows, tap by tap.
        for r in rows / 4 * 4..rows {
            let v = next();
            for j in 0..3 {
                let lane = |b: usize| i32::from((v >> (8 * b)) as u8 as i8) - i32::from(self.zp);
                put(words, self.k, 3 * r + j, lane(j), lane(j + 1));
            }
        }
    }

    /// Row `i` of channel `c` of the two windows at `at`: the word of bytes `x[col..col +
    /// 4]` of input row `at.row + i * dilation` (`zp` in the padding).
    #[inline(always)]
    fn row_word(&self, image: &[i8], at: &Origin, c: usize, i: usize) -> u32 {
        let ih = at.row.wrapping_add(i * self.dilation.0);
        if ih >= self.h {
            return at.zp4;
        }
        // SAFETY: `c < channels` and `ih < h`, and `at.load + 4 <= w` (`Origin::new`), so
        // the 4 bytes lie within the image's `channels * h * w` (checked there).
        let v: u32 = unsafe {
            let row = image.as_ptr().add((c * self.h + ih) * self.w + at.load);
            core::ptr::read_unaligned(row.cast())
        };
        (v >> at.right << at.left & at.keep) | at.fill
    }

    /// [`Gather::pair`] tap by tap, for positions `p0` and `p1` anywhere.
    #[inline(never)]
    fn taps(&self, image: &[i8], p0: usize, p1: usize, words: &mut [u32]) {
        let (h, w) = (self.h, self.w);
        let plane = h * w;
        let zp = i32::from(self.zp);
        let origin = |p: usize| {
            let (oh, ow) = (p / self.out_w.max(1), p % self.out_w.max(1));
            (
                (oh * self.stride.0).wrapping_sub(self.top),
                (ow * self.stride.1).wrapping_sub(self.left),
            )
        };
        let (o0, o1) = (origin(p0), origin(p1));
        let tap = |(row0, col0): (usize, usize), c: usize, i: usize, j: usize| {
            let ih = row0.wrapping_add(i * self.dilation.0);
            let iw = col0.wrapping_add(j * self.dilation.1);
            let v = if ih < h && iw < w {
                image.get(c * plane + ih * w + iw).copied()
            } else {
                None
            };
            i32::from(v.unwrap_or(self.zp)) - zp
        };
        let mut e = 0;
        for c in 0..self.channels {
            for i in 0..self.kh {
                for j in 0..self.kw {
                    put(words, self.k, e, tap(o0, c, i, j), tap(o1, c, i, j));
                    e += 1;
                }
            }
        }
    }
}

/// Where a pair's rows lie: input row (wrapped below zero, then >= the height), and how
/// the 4 bytes from the column `col` (`ow - left`) are read: the word at `load` (the
/// nearest inside the row) shifted right by `right` and left by `left` bits, the bytes past
/// the row's ends cleared by `keep` and set to `zp` by `fill`; `zp4` for rows in the
/// padding.
struct Origin {
    row: usize,
    zp4: u32,
    load: usize,
    right: u32,
    left: u32,
    keep: u32,
    fill: u32,
}

impl Origin {
    /// `None` if the row is narrower than 4 or the 4 bytes miss it.
    fn new(g: &Gather, image: &[i8], oh: usize, ow: usize) -> Option<Self> {
        let w = g.w;
        if w < 4 || image.len() < g.channels * g.h * w || ow + 4 <= g.left || ow >= g.left + w {
            return None;
        }
        // The first byte's column, from -3 to w - 1, and the load's, from 0 to w - 4.
        let col = ow as isize - g.left as isize;
        let load = if col < 0 { 0 } else { col.min(w as isize - 4) };
        let (right, left) = if col > load {
            (8 * (col - load) as u32, 0)
        } else {
            (0, 8 * (load - col) as u32)
        };
        // The bytes inside: from `lo = max(0, -col) <= 3` to `hi = min(4, w - col) >= 1`
        // (the 4 bytes meet the row).
        let lo = (-col).clamp(0, 3) as u32;
        let hi = (w as isize - col).clamp(1, 4) as u32;
        let keep = u32::MAX >> (8 * (4 - hi)) & u32::MAX << (8 * lo);
        let zp4 = u32::from(g.zp as u8) * 0x0101_0101;
        Some(Origin {
            row: (oh * g.stride.0).wrapping_sub(g.top),
            load: load as usize,
            right,
            left,
            keep,
            fill: zp4 & !keep,
            zp4,
        })
    }
}

/// Element `e` of the two patches, `a` and `b` (widened), at its place in the pair layout of
/// patches of length `k`: in a group of four, word `4q + (e & 1)` (`+ 2` for `b`), lane
/// `(e & 2) / 2`; past the groups, word `e` holds `(a, b)`.
#[inline(always)]
fn put(words: &mut [u32], k: usize, e: usize, a: i32, b: i32) {
    if e < k / 4 * 4 {
        let at = e / 4 * 4 + (e & 1);
        let shift = 8 * (e & 2);
        for (at, v) in [(at, a), (at + 2, b)] {
            if let Some(word) = words.get_mut(at) {
                *word = (*word & !(0xffff << shift)) | (v as u16 as u32) << shift;
            }
        }
    } else if let Some(word) = words.get_mut(e) {
        *word = pack(a, b);
    }
}

/// The 12 widened words of 4 rows `r` of 3 taps, where row `i`'s word holds the bytes `(t0,
/// t1, t2, t3)`: the first patch's taps are `t0..t3`, the second's `t1..t4`. With `S`, `T`,
/// `X` and `Y` the lanes `SXTAB16` makes of a word rotated by 0, 8, 16 and 24 bits, e.g.
/// `S(a) = (a0, a2)`, `X(a) = (a2, a0)`, and `{u, v}` the word of `u`'s low lane and `v`'s:
/// elements 0..4 are `S(a), {T(a), S(b)}, T(a), {X(a), T(b)}`; 4..8 `{T(b), S(c)}, {X(b),
/// T(c)}` (twice), `{Y(b), X(c)}`; 8..12 `{X(c), T(d)}, S(d), {Y(c), X(d)}, T(d)`.
#[inline(always)]
fn widen_rows([a, b, c, d]: [u32; 4], off: u32, dst: &mut [u32]) {
    let lo_lo = |u: u32, v: u32| (u & 0xffff) | (v << 16);
    let (sa, ta, xa) = (sxtab16(off, a), sxtab16_ror8(off, a), sxtab16_ror16(off, a));
    let (sb, tb) = (sxtab16(off, b), sxtab16_ror8(off, b));
    let (xb, yb) = (sxtab16_ror16(off, b), sxtab16_ror24(off, b));
    let (sc, tc) = (sxtab16(off, c), sxtab16_ror8(off, c));
    let (xc, yc) = (sxtab16_ror16(off, c), sxtab16_ror24(off, c));
    let (sd, td, xd) = (sxtab16(off, d), sxtab16_ror8(off, d), sxtab16_ror16(off, d));
    let middle = lo_lo(xb, tc);
    if let Some([w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11]) = dst.get_mut(..12) {
        (*w0, *w1, *w2, *w3) = (sa, lo_lo(ta, sb), ta, lo_lo(xa, tb));
        (*w4, *w5, *w6, *w7) = (lo_lo(tb, sc), middle, middle, lo_lo(yb, xc));
        (*w8, *w9, *w10, *w11) = (lo_lo(xc, td), sd, lo_lo(yc, xd), td);
    }
}

/// The widened pair of patches (see `dsp::widen_pair`) of output positions `p` and `p + 1`
/// of a 1x1 convolution with stride 1 and no padding, straight from one group's `image` of
/// `channels` planes: per four channels, the two positions' bytes of channels `c` and `c +
/// 2` in one word (`c + 1` and `c + 3` in another), which `SXTAB16` splits into the pair's
/// lanes. False (nothing written) if a channel's two bytes are not all in `image`.
#[inline(always)]
fn widen_pointwise(image: &[i8], channels: usize, p: usize, off: u32, words: &mut [u32]) -> bool {
    let plane = image.len() / channels.max(1);
    if channels == 0 || (channels - 1) * plane + p + 2 > image.len() {
        return false;
    }
    let quads = channels / 4;
    let zp = -i32::from(off as u16 as i16);
    // Both positions' bytes of channel `c`, one unaligned halfword.
    let pair = |c: usize| -> u32 {
        // SAFETY: `c < channels`, so `c * plane + p + 2 <= image.len()` (checked above).
        u32::from(unsafe {
            core::ptr::read_unaligned(image.as_ptr().add(c * plane + p).cast::<u16>())
        })
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
    true
}

/// Whether `conv` is the DSP depthwise kernel's: 3x3, stride 1, no dilation, padding at most
/// 1 on each side, one output channel per input channel.
const fn is_depthwise_3x3(conv: &Conv2d) -> bool {
    let (x, win) = (conv.input(), conv.window());
    let pad = win.padding;
    conv.groups() == x.c()
        && conv.output().c() == x.c()
        && win.kernel_h == 3
        && win.kernel_w == 3
        && win.stride_h == 1
        && win.stride_w == 1
        && win.dilation_h == 1
        && win.dilation_w == 1
        && pad.at_most(1)
}

/// Pairs of outputs in an output row of the depthwise kernel (an odd row's last half used).
const fn depthwise_pairs(conv: &Conv2d) -> usize {
    conv.output().w().div_ceil(2)
}

/// Words of the depthwise kernel's accumulators: one output row, rounded up to a multiple of
/// 4 ([`requant_words`]).
const fn depthwise_acc_words(conv: &Conv2d) -> usize {
    conv.output().w().div_ceil(4) * 4
}

/// Workspace bytes of the depthwise kernel, or 0 for other geometries: per pair of outputs
/// of a row, its block of six widened words ([`depthwise_3x3_row`]), one more block at each
/// end ([`widen_row`]), the accumulators, and 3 for the alignment.
const fn depthwise_scratch_len(conv: &Conv2d) -> usize {
    if is_depthwise_3x3(conv) {
        let words = 6 * (depthwise_pairs(conv) + 2) + depthwise_acc_words(conv);
        (4 * words).saturating_add(3)
    } else {
        0
    }
}

impl Plan<'_, '_> {
    /// The DSP extension's depthwise 3x3 ([`is_depthwise_3x3`]): per channel, each row of
    /// the padded input is widened once (zero point subtracted, padding 0) into one of three
    /// slots of the blocks [`depthwise_3x3_row`] reads, as the window first reaches it; per
    /// output row, that kernel sums the three kernel rows into one row of accumulators,
    /// which one pass then requantizes. False (nothing written) for other geometries or a
    /// workspace below [`depthwise_scratch_len`].
    pub(super) fn depthwise_dsp(&self, output: &mut [i8], scratch: &mut [i8]) -> bool {
        let conv = self.conv;
        if !is_depthwise_3x3(conv) {
            return false;
        }
        let (x, y) = (conv.input(), conv.output());
        let row_pairs = depthwise_pairs(conv);
        // SAFETY: every bit pattern is a valid `u32`.
        let (_, words, _) = unsafe { scratch.align_to_mut::<u32>() };
        let Some((blocks, accs)) = words.split_at_mut_checked(6 * (row_pairs + 2)) else {
            return false;
        };
        let Some(accs) = accs.get_mut(..depthwise_acc_words(conv)) else {
            return false;
        };
        let (plane_in, plane_out) = (x.h() * x.w(), y.h() * y.w());
        let planes = pairs(chunks(self.input, plane_in), chunks(output, plane_out));
        let mut c = 0;
        for (xp, yp) in planes.take(x.n() * x.c()) {
            let Some(f) = self.weight.get(c * 9..c * 9 + 9) else {
                return true;
            };
            let wt = |i: usize| i32::from(f.get(i).copied().unwrap_or(0));
            let taps = [0, 1, 2].map(|r| {
                (
                    pack(wt(3 * r), wt(3 * r + 1)),
                    pack(wt(3 * r + 1), wt(3 * r + 2)),
                )
            });
            let bias = self.bias.and_then(|b| b.get(c)).copied().unwrap_or(0);
            self.depthwise_plane(xp, yp, (taps, bias, c), blocks, accs);
            // The next plane's channel.
            c += 1;
            if c == x.c() {
                c = 0;
            }
        }
        true
    }

    /// One plane of [`Plan::depthwise_dsp`]: input `xp`, output `yp`, channel `c` with its
    /// kernel rows `taps` (as [`depthwise_3x3_row`] takes them) and bias.
    #[inline(never)]
    fn depthwise_plane(
        &self,
        xp: &[i8],
        yp: &mut [i8],
        (taps, bias, c): ([(u32, u32); 3], i32, usize),
        blocks: &mut [u32],
        accs: &mut [u32],
    ) {
        let conv = self.conv;
        let (x, pad) = (conv.input(), conv.window().padding);
        let (h, w, ow) = (x.h(), x.w(), conv.output().w());
        let row_pairs = ow.div_ceil(2);
        if row_pairs == 0 || blocks.len() < 6 * (row_pairs + 2) || accs.len() < 2 * row_pairs {
            return;
        }
        let off = offset(self.quant.input_zero_point);
        let scale = self.quant.requant.channel(c);
        let rounding = match scale {
            Scale::Double(m) => RightShift::new(m),
            _ => None,
        };
        let bytes = Bytes::new(&self.out);
        // Row `v` of the padded input (input row `v - pad.top`, zeros in the padding) is
        // widened into slot `v % 3` when the window first reaches it (`next` the next row to
        // widen, `slot` its slot). Output row `oh` reads rows `oh..oh + 3`, kernel row `r` in
        // slot `(oh + r) % 3`: `by_slot[s] = taps[(s - oh) % 3]`, turned by one each row.
        let (mut next, mut slot, mut by_slot) = (0, 0, taps);
        for (oh, yrow) in pairs(0usize.., chunks(yp, ow)) {
            while next < oh + 3 {
                let ih = next.wrapping_sub(pad.top);
                let src = match ih < h {
                    true => xp.get(ih * w..ih * w + w).unwrap_or_default(),
                    false => &[],
                };
                widen_row(src, pad.left, off, slot, blocks, row_pairs);
                next += 1;
                slot = if slot == 2 { 0 } else { slot + 1 };
            }
            // SAFETY: `row_pairs >= 1`; the kernel's blocks `1..=row_pairs` of `blocks`
            // (`6 * (row_pairs + 2)` words), `2 * row_pairs` words of `accs`, both `u32`
            // slices (aligned).
            unsafe {
                let (first, sums) = (blocks.as_ptr().add(6), accs.as_mut_ptr().cast());
                depthwise_3x3_row(first, by_slot, bias, sums, row_pairs);
            }
            let [t0, t1, t2] = by_slot;
            by_slot = [t2, t0, t1];
            match rounding {
                Some(r) => requant_words(r, bytes, accs, yrow),
                None => requant_row(|a| apply(&self.out, scale, a), accs, yrow),
            }
        }
    }
}

/// `src` widened into slot `slot` of the depthwise blocks ([`depthwise_3x3_row`]): word `i`
/// (lanes `2i` and `2i + 1`, lane `j` being `src[j - left] - zp`, 0 outside `src`) for `i
/// <= pairs` at word `2 slot` of block `i` and `2 slot + 1` of block `i - 1`, with `off`
/// the zero point's [`offset`]: four bytes to two words in the row's middle, lane by lane
/// at its ends. `blocks` starts one block before the kernel's first and ends one after its
/// last (`6 * (pairs + 2)` words), which take the writes the kernel does not read. Nothing
/// if `blocks` is shorter or `left > 1`.
fn widen_row(src: &[i8], left: usize, off: u32, slot: usize, blocks: &mut [u32], pairs: usize) {
    if blocks.len() < 6 * (pairs + 2) || slot > 2 || left > 1 {
        return;
    }
    let zp = i32::from(off as u16 as i16);
    let lane = |j: usize| {
        src.get(j.wrapping_sub(left))
            .map_or(0, |&v| i32::from(v) + zp)
    };
    let at = blocks.as_mut_ptr().wrapping_add(2 * slot);
    // SAFETY: for `i <= pairs`, `6i + 6 + 2 slot < 6 * (pairs + 2)` (`slot <= 2`).
    let put = |i: usize, v: u32| unsafe {
        *at.add(6 * i + 6) = v;
        *at.add(6 * i + 1) = v;
    };
    // Word 0 of a padded row: lane 0 in the padding.
    let mut i = left;
    if left == 1 {
        put(0, pack(0, lane(1)));
    }
    // Words `i` and `i + 1` are the bytes `2i - left..2i - left + 4`.
    while i < pairs && 2 * i + 4 <= src.len() + left {
        // SAFETY: `2i - left + 4 <= src.len()` (`i >= left`); the four writes as `put`'s,
        // for words `i` and `i + 1 <= pairs`.
        unsafe {
            let v = core::ptr::read_unaligned(src.as_ptr().add(2 * i - left).cast::<u32>());
            let (e, o) = (sxtab16(off, v), sxtab16_ror8(off, v));
            let (w0, w1) = ((e & 0xffff) | (o << 16), (e >> 16) | (o & 0xffff_0000));
            let p = at.add(6 * i);
            *p.add(6) = w0;
            *p.add(1) = w0;
            *p.add(12) = w1;
            *p.add(7) = w1;
        }
        i += 2;
    }
    while i <= pairs {
        put(i, pack(lane(2 * i), lane(2 * i + 1)));
        i += 1;
    }
}

/// `y[i]` = the sums `accs[i]` (as `i32`) requantized by `rounding`, four at a time
/// ([`requant_quads`]); the last one to three through a word on the stack, from the sums of
/// a group of four (`accs` holds `y.len()` rounded up to a multiple of 4).
#[inline(never)]
fn requant_words(rounding: RightShift, bytes: Bytes, accs: &[u32], y: &mut [i8]) {
    let quads = y.len() / 4;
    if accs.len() < y.len().next_multiple_of(4) {
        return;
    }
    let Some((body, rest)) = y.split_at_mut_checked(4 * quads) else {
        return;
    };
    let (parts, zp, bounds) = (rounding.parts(), bytes.zero_point, (bytes.min, bytes.max));
    // SAFETY: `4 * n` sums of `accs` from `a` (a `u32` slice: aligned), its length checked
    // above, and bytes at `y` (`body`, or `last`).
    let run = |a: usize, y: *mut i8, n: usize| unsafe {
        requant_quads(accs.as_ptr().add(a).cast(), y, n, parts, zp, bounds)
    };
    if quads > 0 {
        run(0, body.as_mut_ptr(), quads);
    }
    if !rest.is_empty() {
        let mut last = 0u32;
        run(4 * quads, (&raw mut last).cast(), 1);
        for (i, y) in rest.iter_mut().enumerate() {
            *y = (last >> (8 * i)) as i8;
        }
    }
}

/// `y[i] = rq(accs[i])`, the accumulators' bits as `i32`.
#[inline(never)]
fn requant_row(rq: impl Fn(i32) -> i8, accs: &[u32], y: &mut [i8]) {
    for (y, &a) in y.iter_mut().zip(accs) {
        *y = rq(a as i32);
    }
}
