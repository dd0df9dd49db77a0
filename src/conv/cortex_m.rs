//! The direct `f32` convolutions of M-profile cores with a single-precision FPU (Cortex-M4F,
//! M7, M33, ...; targets `thumbv7em-none-eabihf`, `thumbv8m.main-none-eabihf`), in assembly.
//! Chosen at compile time: on these targets the forward pass runs here, with no workspace,
//! instead of im2col + GEMM (or the generic depthwise kernel), for
//!
//! - every 3 x 3, stride 1, undilated convolution with at most one ring of padding per side,
//!   at least 4 output channels per group and 4 output columns ([`direct`]);
//! - every 1 x 1, stride 1, unpadded one with at least 4 output channels per group and 4
//!   pixels ([`direct_pointwise`]);
//! - every depthwise 3 x 3 of the first kind with at least 4 output columns
//!   ([`direct_depthwise`]).
//!
//! The 3 x 3 and 1 x 1 block is 4 output channels by 4 adjacent output pixels, its sixteen
//! accumulators in `s0..s15` for the whole reduction. Per input channel and filter row the
//! 3 x 3 kernel loads the six inputs the block reads (`s24..s29`) once and each of the 4
//! filters' three taps (`s16..s18`) once, for 48 multiply-adds: no im2col walk, no packing,
//! no spill, no bounds check. Padding columns are a register left at zero, padding rows are
//! skipped. Bias and the clamp are applied in registers on the way out.
//!
//! The taps of each output are summed as the im2col path sums them (channel, filter row,
//! filter column, from zero; the bias added after, then the clamp) and `vmla.f32` rounds
//! the product and then the sum like `a * b + c`, so the result is the im2col path's, bit
//! for bit, but for the padding rows: those the im2col path adds as `w * 0`, which only
//! differs for an infinite or NaN weight or in the sign of a zero sum. The depthwise kernel
//! sums as the generic one (from the bias, row by row) but adds its padding taps as `w * 0`.
//!
//! Whoever changes these kernels runs `.ci/mcu-bench`: the bench firmware checks every one
//! against naive loops on the emulated Cortex-M4F (the host never runs them).

use core::arch::global_asm;

use super::clamp::Clamp;
use super::geometry::{Conv2d, Family};
use super::operands::Operands;
use crate::arch::Float;

/// One block's arguments, read by the assembly (byte offsets 0, 4, ... in field order).
#[repr(C)]
#[allow(dead_code)] // Read by the assembly only.
struct Block {
    /// Input of the block's first filter row at channel 0, column `ow - left + 1`.
    x: *const f32,
    /// Filter of the block's first output channel, channel 0, first filter row used.
    w: *const f32,
    /// Bytes from one output channel's filter to the next: `C * 9 * 4`.
    w_stride: usize,
    /// Input channels.
    channels: usize,
    /// Filter rows inside the input, 1 to 3.
    rows: usize,
    /// Bytes of one input row.
    row_bytes: usize,
    /// Bytes from the row after the last filter row to the next channel's first.
    plane_adjust: usize,
    /// Bytes of filter rows skipped per channel: `(3 - rows) * 12`.
    w_skip: usize,
    /// Bit 0: the column left of the block is padding; bit 1: the column right of it.
    edges: usize,
    /// The block's first output.
    y: *mut f32,
    /// Bytes from one output channel's plane to the next.
    y_stride: usize,
    /// The 4 biases of the block's channels (read only with flag bit 0).
    bias: *const f32,
    /// Bit 0: add the bias; bit 1: clamp below at `min`; bit 2: clamp above at `max`.
    flags: usize,
    /// Lower bound of the clamp.
    min: f32,
    /// Upper bound of the clamp.
    max: f32,
}

/// Multiply-adds of one filter row of one output channel into the four accumulators from
/// `$a`: taps in `s16..s18`, inputs in `s24..s29`; each accumulator's taps in filter-column
/// order.
macro_rules! taps {
    ($a0:literal, $a1:literal, $a2:literal, $a3:literal) => {
        concat!(
            "    vmla.f32 ",
            $a0,
            ", s16, s24\n",
            "    vmla.f32 ",
            $a0,
            ", s17, s25\n",
            "    vmla.f32 ",
            $a0,
            ", s18, s26\n",
            "    vmla.f32 ",
            $a1,
            ", s16, s25\n",
            "    vmla.f32 ",
            $a1,
            ", s17, s26\n",
            "    vmla.f32 ",
            $a1,
            ", s18, s27\n",
            "    vmla.f32 ",
            $a2,
            ", s16, s26\n",
            "    vmla.f32 ",
            $a2,
            ", s17, s27\n",
            "    vmla.f32 ",
            $a2,
            ", s18, s28\n",
            "    vmla.f32 ",
            $a3,
            ", s16, s27\n",
            "    vmla.f32 ",
            $a3,
            ", s17, s28\n",
            "    vmla.f32 ",
            $a3,
            ", s18, s29\n",
        )
    };
}

/// One filter row for the four output channels, the inputs already in `s24..s29`: each
/// filter's three taps loaded (`r1..r4`, moving on) and 48 multiply-adds.
macro_rules! filter_row {
    () => {
        concat!(
            "    vldmia r1!, {{s16-s18}}\n",
            taps!("s0", "s1", "s2", "s3"),
            "    vldmia r2!, {{s16-s18}}\n",
            taps!("s4", "s5", "s6", "s7"),
            "    vldmia r3!, {{s16-s18}}\n",
            taps!("s8", "s9", "s10", "s11"),
            "    vldmia r4!, {{s16-s18}}\n",
            taps!("s12", "s13", "s14", "s15"),
        )
    };
}

/// The clamp's compare-and-move ([`clamp1!`]) on each of the sixteen accumulators `s0..s15`,
/// against `$bound`, with condition `$cond`.
macro_rules! clamp16 {
    ($bound:literal, $cond:literal) => {
        concat!(
            clamp4!("s0", "s1", "s2", "s3", $bound, $cond),
            clamp4!("s4", "s5", "s6", "s7", $bound, $cond),
            clamp4!("s8", "s9", "s10", "s11", $bound, $cond),
            clamp4!("s12", "s13", "s14", "s15", $bound, $cond),
        )
    };
}

/// [`clamp1!`] on each of four accumulators.
macro_rules! clamp4 {
    ($a:literal, $b:literal, $c:literal, $d:literal, $bound:literal, $cond:literal) => {
        concat!(
            clamp1!($a, $bound, $cond),
            clamp1!($b, $bound, $cond),
            clamp1!($c, $bound, $cond),
            clamp1!($d, $bound, $cond),
        )
    };
}

/// `if acc $cond bound { acc = bound }`: `mi` is "less than" and `gt` "greater than", both
/// false for a NaN on either side (so NaN passes, as in [`Clamp::apply`]).
macro_rules! clamp1 {
    ($acc:literal, $bound:literal, $cond:literal) => {
        concat!(
            "    vcmp.f32 ",
            $acc,
            ", ",
            $bound,
            "\n",
            "    vmrs APSR_nzcv, fpscr\n",
            "    it ",
            $cond,
            "\n",
            "    vmov",
            $cond,
            ".f32 ",
            $acc,
            ", ",
            $bound,
            "\n",
        )
    };
}

// `nchw_conv3x3_m4f_4x4(block: &Block)`: one block of 4 output channels by 4 output pixels.
//
// Registers: r0 input, r1-r4 the four filters, r5 row bytes, r6 plane adjust, r7 channels
// left, r8 filter rows left, r9 filter rows, r10 edges, r11 filter skip, r12 scratch, lr the
// block; accumulators s0-s15 (output channel-major), taps s16-s18, inputs s24-s29 (columns
// `ow - left .. ow - left + 6`), bias s16-s19, bounds s30, s31.
//
// Without padding columns and with all three filter rows (the interior), the filter rows
// are unrolled and each loads its six inputs with one `vldmia`: 165 instructions per
// channel, 144 multiply-adds. Otherwise the four middle inputs are loaded with one
// `vldmia` and each outer one, unless padding, by a conditional `vldr` (flags from the edge
// bits: N left, C right).
global_asm!(
    ".fpu fpv4-sp-d16",
    ".section .text.nchw_conv3x3_m4f_4x4, \"ax\", %progbits",
    ".global nchw_conv3x3_m4f_4x4",
    ".hidden nchw_conv3x3_m4f_4x4",
    ".type nchw_conv3x3_m4f_4x4, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_conv3x3_m4f_4x4:",
    "    push {{r4-r11, lr}}",
    "    vpush {{s16-s31}}",
    "    mov lr, r0",
    "    ldm lr, {{r0, r1, r12}}", // x, w, w_stride
    "    add r2, r1, r12",
    "    add r3, r2, r12",
    "    add r4, r3, r12",
    "    ldr r7, [lr, #12]",
    "    ldr r9, [lr, #16]",
    "    ldr r5, [lr, #20]",
    "    ldr r6, [lr, #24]",
    "    ldr r11, [lr, #28]",
    "    ldr r10, [lr, #32]",
    "    ldr r12, =nchw_conv3x3_m4f_zeros",
    "    vldmia r12, {{s0-s15}}",
    "    vldr s24, [r12]",
    "    vldr s29, [r12]",
    "    cmp r9, #3",
    "    it eq",
    "    cmpeq r10, #0",
    "    bne 1f",
    // The interior: three filter rows, no padding column; the third row moves on to the
    // next channel (the plane adjust less the row it did not add).
    "    sub r0, r0, #4",
    "    add r6, r6, r5",
    "5:",
    "    vldmia r0, {{s24-s29}}",
    "    add r0, r0, r5",
    filter_row!(),
    "    vldmia r0, {{s24-s29}}",
    "    add r0, r0, r5",
    filter_row!(),
    "    vldmia r0, {{s24-s29}}",
    "    add r0, r0, r6",
    filter_row!(),
    "    subs r7, r7, #1",
    "    bne 5b",
    "    b 3f",
    // The edges: any number of filter rows, padding columns left at zero.
    "1:",
    "    mov r8, r9",
    "2:",
    "    vldmia r0, {{s25-s28}}",
    "    lsls r12, r10, #31",
    "    it pl",
    "    vldrpl s24, [r0, #-4]",
    "    it cc",
    "    vldrcc s29, [r0, #16]",
    "    add r0, r0, r5",
    filter_row!(),
    "    subs r8, r8, #1",
    "    bne 2b",
    "    add r0, r0, r6",
    "    add r1, r1, r11",
    "    add r2, r2, r11",
    "    add r3, r3, r11",
    "    add r4, r4, r11",
    "    subs r7, r7, #1",
    "    bne 1b",
    "3:",
    "    mov r11, lr",
    "    bl nchw_conv_m4f_finish",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r11, pc}}",
    // Bias and clamp in registers, then the four rows of outputs, for the block at r11 (also
    // the 1 x 1 kernel's); clobbers r0, r1, r3, r12, s16-s19, s30, s31.
    ".global nchw_conv_m4f_finish",
    ".hidden nchw_conv_m4f_finish",
    ".type nchw_conv_m4f_finish, %function",
    ".thumb_func",
    "nchw_conv_m4f_finish:",
    "    ldr r3, [r11, #48]", // flags
    "    lsls r12, r3, #31",
    "    bpl 6f",
    "    ldr r12, [r11, #44]",
    "    vldmia r12, {{s16-s19}}",
    "    vadd.f32 s0, s0, s16",
    "    vadd.f32 s1, s1, s16",
    "    vadd.f32 s2, s2, s16",
    "    vadd.f32 s3, s3, s16",
    "    vadd.f32 s4, s4, s17",
    "    vadd.f32 s5, s5, s17",
    "    vadd.f32 s6, s6, s17",
    "    vadd.f32 s7, s7, s17",
    "    vadd.f32 s8, s8, s18",
    "    vadd.f32 s9, s9, s18",
    "    vadd.f32 s10, s10, s18",
    "    vadd.f32 s11, s11, s18",
    "    vadd.f32 s12, s12, s19",
    "    vadd.f32 s13, s13, s19",
    "    vadd.f32 s14, s14, s19",
    "    vadd.f32 s15, s15, s19",
    "6:",
    "    lsls r12, r3, #30",
    "    bpl 7f",
    "    vldr s30, [r11, #52]",
    clamp16!("s30", "mi"),
    "7:",
    "    lsls r12, r3, #29",
    "    bpl 8f",
    "    vldr s31, [r11, #56]",
    clamp16!("s31", "gt"),
    "8:",
    "    ldr r0, [r11, #36]",
    "    ldr r1, [r11, #40]",
    "    vstmia r0, {{s0-s3}}",
    "    add r0, r0, r1",
    "    vstmia r0, {{s4-s7}}",
    "    add r0, r0, r1",
    "    vstmia r0, {{s8-s11}}",
    "    add r0, r0, r1",
    "    vstmia r0, {{s12-s15}}",
    "    bx lr",
    ".ltorg",
    ".size nchw_conv3x3_m4f_4x4, . - nchw_conv3x3_m4f_4x4",
    ".section .rodata.nchw_conv3x3_m4f_zeros, \"a\", %progbits",
    ".p2align 2",
    "nchw_conv3x3_m4f_zeros:",
    ".space 64",
);

/// One input channel of the 1 x 1 kernel: the four filters' taps in `$w0..$w3` times the
/// four pixels in `$x0..$x3`, into the sixteen accumulators.
macro_rules! pointwise_channel {
    ($w0:literal, $w1:literal, $w2:literal, $w3:literal,
     $x0:literal, $x1:literal, $x2:literal, $x3:literal) => {
        concat!(
            pointwise_row!("s0", "s1", "s2", "s3", $w0, $x0, $x1, $x2, $x3),
            pointwise_row!("s4", "s5", "s6", "s7", $w1, $x0, $x1, $x2, $x3),
            pointwise_row!("s8", "s9", "s10", "s11", $w2, $x0, $x1, $x2, $x3),
            pointwise_row!("s12", "s13", "s14", "s15", $w3, $x0, $x1, $x2, $x3),
        )
    };
}

/// `$a_j += $w * $x_j` for the four pixels of one output channel.
macro_rules! pointwise_row {
    ($a0:literal, $a1:literal, $a2:literal, $a3:literal, $w:literal,
     $x0:literal, $x1:literal, $x2:literal, $x3:literal) => {
        concat!(
            "    vmla.f32 ",
            $a0,
            ", ",
            $w,
            ", ",
            $x0,
            "\n",
            "    vmla.f32 ",
            $a1,
            ", ",
            $w,
            ", ",
            $x1,
            "\n",
            "    vmla.f32 ",
            $a2,
            ", ",
            $w,
            ", ",
            $x2,
            "\n",
            "    vmla.f32 ",
            $a3,
            ", ",
            $w,
            ", ",
            $x3,
            "\n",
        )
    };
}

// `nchw_conv1x1_m4f_4x4(block: &mut Block)`: 4 output channels by `rows` blocks of 4
// pixels of a 1 x 1 convolution (`row_bytes` is the bytes of an input plane, `edges` the
// bytes the last block moves back to end at the plane's end; `plane_adjust` and `w_skip`
// are not read; `y` is moved along).
//
// Registers: r0 input, r1-r4 the four filters, r5 plane bytes, r7 channels, r8 pairs of
// channels left, r9 blocks left, r10 the block's input, r11 the block; accumulators s0-s15
// (output channel-major), two channels' pixels s16-s23, the four filters' two taps
// s24-s31. Per pair of channels: two `vldmia` and two `add` for the pixels, four `vldmia`
// for the taps, 32 `vmla`, the loop: 42 instructions per 32 multiply-adds. Each block ends
// in the 3 x 3 kernel's bias and clamp.
global_asm!(
    ".fpu fpv4-sp-d16",
    ".section .text.nchw_conv1x1_m4f_4x4, \"ax\", %progbits",
    ".global nchw_conv1x1_m4f_4x4",
    ".hidden nchw_conv1x1_m4f_4x4",
    ".type nchw_conv1x1_m4f_4x4, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_conv1x1_m4f_4x4:",
    "    push {{r4-r11, lr}}",
    "    vpush {{s16-s31}}",
    "    mov r11, r0",
    "    ldr r10, [r11, #0]",
    "    ldr r7, [r11, #12]",
    "    ldr r9, [r11, #16]",
    "    ldr r5, [r11, #20]",
    "0:",
    "    ldr r1, [r11, #4]",
    "    ldr r12, [r11, #8]",
    "    add r2, r1, r12",
    "    add r3, r2, r12",
    "    add r4, r3, r12",
    "    mov r0, r10",
    "    ldr r12, =nchw_conv3x3_m4f_zeros",
    "    vldmia r12, {{s0-s15}}",
    "    lsrs r8, r7, #1",
    "    beq 2f",
    "1:",
    "    vldmia r0, {{s16-s19}}",
    "    add r0, r0, r5",
    "    vldmia r0, {{s20-s23}}",
    "    add r0, r0, r5",
    "    vldmia r1!, {{s24-s25}}",
    "    vldmia r2!, {{s26-s27}}",
    "    vldmia r3!, {{s28-s29}}",
    "    vldmia r4!, {{s30-s31}}",
    pointwise_channel!("s24", "s26", "s28", "s30", "s16", "s17", "s18", "s19"),
    pointwise_channel!("s25", "s27", "s29", "s31", "s20", "s21", "s22", "s23"),
    "    subs r8, r8, #1",
    "    bne 1b",
    "2:",
    "    lsls r12, r7, #31",
    "    bpl 3f",
    "    vldmia r0, {{s16-s19}}",
    "    vldmia r1!, {{s24}}",
    "    vldmia r2!, {{s26}}",
    "    vldmia r3!, {{s28}}",
    "    vldmia r4!, {{s30}}",
    pointwise_channel!("s24", "s26", "s28", "s30", "s16", "s17", "s18", "s19"),
    "3:",
    "    bl nchw_conv_m4f_finish",
    // The next block of pixels; the last one moves back to end at the plane's end.
    "    subs r9, r9, #1",
    "    beq 9f",
    "    ldr r12, [r11, #36]",
    "    add r12, r12, #16",
    "    add r10, r10, #16",
    "    cmp r9, #1",
    "    bne 4f",
    "    ldr r0, [r11, #32]",
    "    sub r12, r12, r0",
    "    sub r10, r10, r0",
    "4:",
    "    str r12, [r11, #36]",
    "    b 0b",
    "9:",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r11, pc}}",
    ".ltorg",
    ".size nchw_conv1x1_m4f_4x4, . - nchw_conv1x1_m4f_4x4",
);

extern "C" {
    /// See the assembly above.
    fn nchw_conv3x3_m4f_4x4(block: *const Block);
    /// See the assembly above.
    fn nchw_conv1x1_m4f_4x4(block: *mut Block);
}

/// The forward pass of a [`Family::Direct3x3`] geometry, if `T` is `f32` and the geometry is one:
/// `Some(())` once `output` holds the result, `None` (nothing written) otherwise. The
/// buffers have the geometry's lengths (checked by the caller).
// Out of line: its block and its kernel's frame stay off `conv2d`'s stack on the other
// paths.
#[inline(never)]
pub(super) fn forward<T: Float>(conv: &Conv2d, op: Operands<'_, T>) -> Option<()> {
    let mut op = as_f32(conv, op, conv.family() == Family::Direct3x3)?;
    let mut block = new_block(&mut op);
    let g = conv.group();
    let (h, w) = (g.height(), g.width());
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    let (c, ocg) = (g.channels(), conv.group_out_channels());
    let p = g.window().padding;
    let plane = h * w;
    let out_plane = oh_n * ow_n;
    let (x, wt, y, b) = (op.input.as_ptr(), op.weight.as_ptr(), block.y, block.bias);
    block.w_stride = c * 9 * 4;
    block.channels = c;
    block.row_bytes = w * 4;
    block.y_stride = out_plane * 4;
    // A validated geometry has at least one group; `max` shows the optimizer (no
    // division-by-zero panic).
    let groups = conv.groups().max(1);
    let images = conv.input().n();
    for gi in 0..images * groups {
        // The group's input planes, filters, biases and output planes (`gi` runs over every
        // image's every group; the filters and biases repeat per image).
        let x_g = gi * c * plane;
        let f = gi % groups;
        let w_g = f * ocg * c * 9;
        let y_g = gi * ocg * out_plane;
        let mut ob = 0;
        loop {
            // The last block of channels may overlap the one before (same values written).
            let o = ob.min(ocg - 4);
            for oh in 0..oh_n {
                // Filter rows `lo..hi` read input rows `oh + kh - top` inside `0..h`.
                let lo = p.top.saturating_sub(oh);
                let hi = (h + p.top - oh).min(3);
                let rows = hi - lo;
                let ih = oh + lo - p.top;
                block.rows = rows;
                block.plane_adjust = (plane - rows * w) * 4;
                block.w_skip = (3 - rows) * 12;
                // SAFETY (the pointers): inside the buffers by the geometry: filter
                // `f * ocg + o + 3 < OC`, row `lo < 3`; output `(o, oh, ow + 3)` of the group.
                block.w = unsafe { wt.add(w_g + o * c * 9 + lo * 3) };
                // SAFETY: `f * ocg + o + 3 < OC`.
                block.bias = if b.is_null() {
                    b
                } else {
                    unsafe { b.add(f * ocg + o) }
                };
                let mut ow = 0;
                loop {
                    // The last block of pixels may overlap the one before.
                    let col = ow.min(ow_n - 4);
                    block.edges = usize::from(col == 0 && p.left == 1)
                        | (usize::from(col + 4 == ow_n && p.right == 1) << 1);
                    // SAFETY: column `col + 1 - left` of input row `ih`: `col + 1 >= left`,
                    // and the block reads columns `col - left ..= col - left + 5` only where
                    // inside the row (the edge bits), rows `ih .. ih + rows` inside the plane.
                    block.x = unsafe { x.add(x_g + ih * w + col + 1 - p.left) };
                    // SAFETY: outputs `(o..o + 4, oh, col..col + 4)` of the group.
                    block.y = unsafe { y.add(y_g + o * out_plane + oh * ow_n + col) };
                    // SAFETY: every address the block reads or writes is inside `input`,
                    // `weight`, `bias` and `output` (above); `output` is not aliased.
                    unsafe { nchw_conv3x3_m4f_4x4(&block) };
                    if col + 4 >= ow_n {
                        break;
                    }
                    ow += 4;
                }
            }
            if o + 4 >= ocg {
                break;
            }
            ob += 4;
        }
    }
    Some(())
}

/// The forward pass of a [`Family::DirectPointwise`] geometry, if `T` is `f32` and the geometry is
/// one: `Some(())` once `output` holds the result, `None` (nothing written) otherwise. The
/// buffers have the geometry's lengths (checked by the caller).
// Out of line: its block and its kernel's frame stay off `conv2d`'s stack on the other
// paths.
#[inline(never)]
pub(super) fn pointwise<T: Float>(conv: &Conv2d, op: Operands<'_, T>) -> Option<()> {
    let mut op = as_f32(conv, op, conv.family() == Family::DirectPointwise)?;
    let mut block = new_block(&mut op);
    let g = conv.group();
    let (c, ocg, plane) = (g.channels(), conv.group_out_channels(), g.cols());
    let (x, wt, y, b) = (op.input.as_ptr(), op.weight.as_ptr(), block.y, block.bias);
    block.w_stride = c * 4;
    block.channels = c;
    block.row_bytes = plane * 4;
    block.y_stride = plane * 4;
    // Blocks of 4 pixels per plane, the last moved back by `edges` bytes to end at its end.
    let blocks = plane.div_ceil(4);
    block.rows = blocks;
    block.edges = 4 * (4 * blocks - plane);
    // A validated geometry has at least one group; `max` shows the optimizer.
    let groups = conv.groups().max(1);
    for gi in 0..conv.input().n() * groups {
        let f = gi % groups;
        let mut ob = 0;
        loop {
            // The last block of channels, and of pixels, may overlap the one before.
            let o = ob.min(ocg - 4);
            // SAFETY: filters `f * ocg + o .. + 4` of `OC`, their `c` taps.
            block.w = unsafe { wt.add((f * ocg + o) * c) };
            // SAFETY: as above.
            block.bias = if b.is_null() {
                b
            } else {
                unsafe { b.add(f * ocg + o) }
            };
            // SAFETY: pixel 0 of the group's `c` input planes.
            block.x = unsafe { x.add(gi * c * plane) };
            // SAFETY: pixel 0 of the group's output planes `o .. o + 4`.
            block.y = unsafe { y.add((gi * ocg + o) * plane) };
            // SAFETY: the kernel reads pixels `0..plane` of the group's input planes, the
            // filters' taps and biases above, and writes pixels `0..plane` of the output
            // planes `o .. o + 4` (blocks of 4, the last ending at `plane`); `output` is not
            // aliased.
            unsafe { nchw_conv1x1_m4f_4x4(&mut block) };
            if o + 4 >= ocg {
                break;
            }
            ob += 4;
        }
    }
    Some(())
}

/// `op` as `f32` operands if `T` is `f32` and `fits` (the kernel's geometry test), else
/// `None`: how every direct kernel starts. The buffers have the geometry's lengths (checked
/// by the caller).
fn as_f32<'a, T: Float>(
    conv: &Conv2d,
    op: Operands<'a, T>,
    fits: bool,
) -> Option<Operands<'a, f32>> {
    // `Float` is sealed to `f32` and `f64`: four bytes is `f32`.
    if core::mem::size_of::<T>() != core::mem::size_of::<f32>() || !fits {
        return None;
    }
    debug_assert!(op.input.len() == conv.input_len() && op.weight.len() == conv.weight_len());
    debug_assert!(op.output.len() == conv.output_len());
    debug_assert!(op.bias.is_none_or(|b| b.len() == conv.bias_len()));
    // SAFETY: `T` is `f32` (above): the same slices, as `f32`.
    let f32s = |s: &'a [T]| unsafe { core::slice::from_raw_parts(s.as_ptr().cast(), s.len()) };
    // SAFETY: as above.
    let to_f32 = |v: T| -> f32 { unsafe { core::mem::transmute_copy(&v) } };
    let len = op.output.len();
    Some(Operands {
        input: f32s(op.input),
        weight: f32s(op.weight),
        bias: op.bias.map(f32s),
        clamp: op.clamp.map(|c| Clamp {
            min: to_f32(c.min),
            max: to_f32(c.max),
        }),
        // SAFETY: as above; `op.output` is moved in, so not aliased.
        output: unsafe { core::slice::from_raw_parts_mut(op.output.as_mut_ptr().cast(), len) },
    })
}

/// The clamp's bits of a kernel's flags (bit 0: clamp below at `min`, bit 1: above at `max`)
/// and its bounds: none without a clamp, no upper bound for an infinite `max` (ReLU).
fn clamp_bits(clamp: Option<Clamp<f32>>) -> (usize, f32, f32) {
    match clamp {
        Some(c) => (1 | (usize::from(c.max != f32::INFINITY) << 1), c.min, c.max),
        None => (0, 0.0, f32::INFINITY),
    }
}

/// A block for `op`'s output with the bias and clamp set (`flags`, `min`, `max`, `bias`, `y`
/// the output's start) and the rest zero, for the caller to fill in.
fn new_block(op: &mut Operands<'_, f32>) -> Block {
    let (clamp, min, max) = clamp_bits(op.clamp);
    Block {
        x: core::ptr::null(),
        w: core::ptr::null(),
        w_stride: 0,
        channels: 0,
        rows: 0,
        row_bytes: 0,
        plane_adjust: 0,
        w_skip: 0,
        edges: 0,
        y: op.output.as_mut_ptr(),
        y_stride: 0,
        bias: op.bias.map_or(core::ptr::null(), <[f32]>::as_ptr),
        flags: usize::from(op.bias.is_some()) | clamp << 1,
        min,
        max,
    }
}

/// Consecutive output rows of a depthwise 3 x 3 plane, read by the assembly (byte offsets
/// 0, 4, ... in field order).
#[repr(C)]
#[allow(dead_code)] // Read by the assembly only.
struct DepthwiseRows {
    /// The bias four times (zeros without one): the sums start from it.
    bias: [f32; 4],
    /// Per filter row, the input at column `-left` of its row, or the zeros (a padding row).
    rows: [*const f32; 3],
    /// Per filter row, bytes from one block to the next: 16, or 0 for the zeros.
    steps: [usize; 3],
    /// The first row's first output (the rows' outputs follow one another).
    y: *mut f32,
    /// Blocks of 4 outputs in a row, `ceil(OW / 4)`, at least 1 (the last may overlap the
    /// one before).
    blocks: usize,
    /// Bit 0: the column left of the row is padding; bit 1: the column right of it; bit 2:
    /// clamp below at `min`; bit 3: clamp above at `max`.
    edges: usize,
    /// The nine taps, row-major.
    w: *const f32,
    /// Output rows, at least 1; above 1 only when no filter row reads the zeros.
    count: usize,
    /// Lower bound of the clamp.
    min: f32,
    /// Upper bound of the clamp.
    max: f32,
    /// Bytes from the end of one row's last block to the next row's first: `4 * W - 4 * OW`,
    /// wrapping.
    next_row: usize,
    /// Per filter row, bytes the last block of a row moves back to end at the row's end
    /// (`4 * (4 * blocks - OW)`, 0 for the zeros).
    backs: [usize; 3],
    /// Bytes the output moves back before the last block: `4 * (4 * blocks - OW)`.
    y_back: usize,
}

/// The 36 multiply-adds of a depthwise block: output `j` (`s0..s3`) takes tap `(kh, kw)`
/// (`s22 + 3 kh + kw`) times input column `j + kw` of filter row `kh` (`s4 + 6 kh + ..`),
/// row by row, from the bias.
macro_rules! depthwise_taps {
    () => {
        concat!(
            dw_output!("s0", "s4", "s5", "s6", "s10", "s11", "s12", "s16", "s17", "s18"),
            dw_output!("s1", "s5", "s6", "s7", "s11", "s12", "s13", "s17", "s18", "s19"),
            dw_output!("s2", "s6", "s7", "s8", "s12", "s13", "s14", "s18", "s19", "s20"),
            dw_output!("s3", "s7", "s8", "s9", "s13", "s14", "s15", "s19", "s20", "s21"),
        )
    };
}

/// One depthwise output: `$acc += tap * input` over the nine taps in order.
macro_rules! dw_output {
    ($acc:literal, $a0:literal, $a1:literal, $a2:literal, $b0:literal, $b1:literal,
     $b2:literal, $c0:literal, $c1:literal, $c2:literal) => {
        concat!(
            "    vmla.f32 ",
            $acc,
            ", s22, ",
            $a0,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s23, ",
            $a1,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s24, ",
            $a2,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s25, ",
            $b0,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s26, ",
            $b1,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s27, ",
            $b2,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s28, ",
            $c0,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s29, ",
            $c1,
            "\n",
            "    vmla.f32 ",
            $acc,
            ", s30, ",
            $c2,
            "\n",
        )
    };
}

/// Loads filter row `$r`'s six inputs of an edge block (pointer `$p`, zeros at r9): the four
/// middle ones, then each outer one from the row or, if padding, from the zeros (flags: N
/// left, C right).
macro_rules! dw_edge_row {
    ($p:literal, $first:literal, $mid:literal, $last:literal) => {
        concat!(
            "    add r12, ",
            $p,
            ", #4\n",
            "    vldmia r12, {{",
            $mid,
            "}}\n",
            "    ite pl\n",
            "    vldrpl ",
            $first,
            ", [",
            $p,
            "]\n",
            "    vldrmi ",
            $first,
            ", [r9]\n",
            "    ite cc\n",
            "    vldrcc ",
            $last,
            ", [",
            $p,
            ", #20]\n",
            "    vldrcs ",
            $last,
            ", [r9]\n",
        )
    };
}

/// The clamp of `s0..s3` by the flags in r8 (bit 2 below, bit 3 above), the lower bound in
/// s31 and the upper one at `[r11, #64]`.
macro_rules! dw_clamp {
    () => {
        concat!(
            "    lsls r12, r8, #29\n",
            "    bpl 11f\n",
            clamp4!("s0", "s1", "s2", "s3", "s31", "mi"),
            "11:\n",
            "    lsls r12, r8, #28\n",
            "    bpl 12f\n",
            "    vldr s31, [r11, #64]\n",
            clamp4!("s0", "s1", "s2", "s3", "s31", "gt"),
            "    vldr s31, [r11, #60]\n",
            "12:\n",
        )
    };
}

// `nchw_dw3x3_m4f_rows(rows: &DepthwiseRows)`: consecutive output rows of a depthwise 3 x 3
// plane, in blocks of 4 outputs.
//
// Registers: r0-r2 the three input rows (column `-left` of the block), r3-r5 their steps,
// r6 output, r7 blocks left, r8 edges and clamp, r9 zeros, r10 the current block's edges,
// r11 the rows, r12 scratch, lr the edge block's return; sums s0-s3, inputs s4-s21 (six per
// filter row), taps s22-s30, lower bound s31.
//
// A middle block: three `vldmia`, the bias (one `vldmia`), 36 `vmla`, the clamp and one
// `vstmia`. The first and the last block of a row (the padding columns) take a subroutine
// that loads the outer columns conditionally; the last one first moves back to end at the
// row's end when the width is not a multiple of 4.
global_asm!(
    ".fpu fpv4-sp-d16",
    ".section .text.nchw_dw3x3_m4f_rows, \"ax\", %progbits",
    ".global nchw_dw3x3_m4f_rows",
    ".hidden nchw_dw3x3_m4f_rows",
    ".type nchw_dw3x3_m4f_rows, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_dw3x3_m4f_rows:",
    "    push {{r4-r11, lr}}",
    "    vpush {{s16-s31}}",
    "    mov r11, r0",
    "    add r12, r11, #16",
    "    ldm r12, {{r0-r6}}",
    "    ldr r8, [r11, #48]",
    "    ldr r12, [r11, #52]",
    "    vldmia r12, {{s22-s30}}",
    "    vldr s31, [r11, #60]",
    "    ldr r9, =nchw_conv3x3_m4f_zeros",
    "30:",
    "    ldr r7, [r11, #44]",
    // The first block: the left edge, and the right one if it is the only block.
    "    and r10, r8, #1",
    "    cmp r7, #1",
    "    it eq",
    "    andeq r10, r8, #3",
    "    bl 20f",
    "    subs r7, r7, #1",
    "    beq 29f",
    "    subs r7, r7, #1",
    "    beq 28f",
    // The middle blocks.
    "21:",
    "    vldmia r0, {{s4-s9}}",
    "    add r0, r0, r3",
    "    vldmia r1, {{s10-s15}}",
    "    add r1, r1, r4",
    "    vldmia r2, {{s16-s21}}",
    "    add r2, r2, r5",
    "    vldmia r11, {{s0-s3}}",
    depthwise_taps!(),
    dw_clamp!(),
    "    vstmia r6!, {{s0-s3}}",
    "    subs r7, r7, #1",
    "    bne 21b",
    // The last block: the right edge, moved back to end at the row's end.
    "28:",
    "    ldr r12, [r11, #84]",
    "    cmp r12, #0",
    "    beq 27f",
    "    sub r6, r6, r12",
    "    ldr r12, [r11, #72]",
    "    sub r0, r0, r12",
    "    ldr r12, [r11, #76]",
    "    sub r1, r1, r12",
    "    ldr r12, [r11, #80]",
    "    sub r2, r2, r12",
    "27:",
    "    and r10, r8, #2",
    "    bl 20f",
    "29:",
    // The next row, if any: every input row moves down one.
    "    ldr r12, [r11, #56]",
    "    subs r12, r12, #1",
    "    beq 31f",
    "    str r12, [r11, #56]",
    "    ldr r12, [r11, #68]",
    "    add r0, r0, r12",
    "    add r1, r1, r12",
    "    add r2, r2, r12",
    "    b 30b",
    "31:",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r11, pc}}",
    // An edge block (edges in r10).
    "20:",
    "    lsls r12, r10, #31",
    dw_edge_row!("r0", "s4", "s5-s8", "s9"),
    dw_edge_row!("r1", "s10", "s11-s14", "s15"),
    dw_edge_row!("r2", "s16", "s17-s20", "s21"),
    "    add r0, r0, r3",
    "    add r1, r1, r4",
    "    add r2, r2, r5",
    "    vldmia r11, {{s0-s3}}",
    depthwise_taps!(),
    dw_clamp!(),
    "    vstmia r6!, {{s0-s3}}",
    "    bx lr",
    ".ltorg",
    ".size nchw_dw3x3_m4f_rows, . - nchw_dw3x3_m4f_rows",
);

extern "C" {
    /// See the assembly above. Writes `count` to 1.
    fn nchw_dw3x3_m4f_rows(rows: *mut DepthwiseRows);
}

/// The forward pass of a [`Family::DirectDepthwise`] geometry, if `T` is `f32` and the geometry is
/// one: `Some(())` once `output` holds the result, `None` (nothing written) otherwise. The
/// buffers have the geometry's lengths (checked by the caller).
///
/// Each output starts from its bias and adds the nine taps row by row, the padding ones
/// as `w * 0`.
// Out of line: its block and its kernel's frame stay off `conv2d`'s stack on the other
// paths.
#[inline(never)]
pub(super) fn depthwise<T: Float>(conv: &Conv2d, op: Operands<'_, T>) -> Option<()> {
    let op = as_f32(conv, op, conv.family() == Family::DirectDepthwise)?;
    let (clamp, min, max) = clamp_bits(op.clamp);
    let g = conv.group();
    let (h, w) = (g.height(), g.width());
    let (oh_n, ow_n) = (g.out_h(), g.out_w());
    let m = conv.group_out_channels();
    let p = g.window().padding;
    let (x, wt, y) = (
        op.input.as_ptr(),
        op.weight.as_ptr(),
        op.output.as_mut_ptr(),
    );
    let zeros = ZEROS.0.as_ptr();
    let blocks = ow_n.div_ceil(4);
    let back = 4 * (4 * blocks - ow_n);
    let mut rows = DepthwiseRows {
        rows: [zeros; 3],
        steps: [0; 3],
        y,
        blocks,
        edges: clamp << 2 | usize::from(p.left == 1) | (usize::from(p.right == 1) << 1),
        w: wt,
        bias: [0.0; 4],
        count: 1,
        min,
        max,
        next_row: (4 * w).wrapping_sub(4 * ow_n),
        backs: [0; 3],
        y_back: back,
    };
    // The output rows whose filter rows all lie inside the input: `top..oh_n - bottom`.
    let inner = p.top..oh_n - p.bottom;
    // Output plane `plane` (image-major) reads input plane `plane / m` and filter
    // `plane % OC`; a validated geometry has nonzero counts, `max` shows the optimizer.
    let (oc_n, m) = (conv.output().c().max(1), m.max(1));
    for plane in 0..conv.output().n() * oc_n {
        let oc = plane % oc_n;
        let x_p = plane / m * h * w;
        // SAFETY: filter `oc < OC`, 9 taps.
        rows.w = unsafe { wt.add(oc * 9) };
        rows.bias = [op.bias.map_or(0.0, |b| b.get(oc).copied().unwrap_or(0.0)); 4];
        let mut oh = 0;
        while oh < oh_n {
            // The inner rows in one call, each padding row in one of its own.
            let count = if inner.contains(&oh) {
                inner.end - oh
            } else {
                1
            };
            for kh in 0..3 {
                // Filter row `kh` reads input row `oh + kh - top`, if inside.
                let ih = (oh + kh).wrapping_sub(p.top);
                (rows.rows[kh], rows.steps[kh], rows.backs[kh]) = if ih < h {
                    // Column `-left`: before the row for a left padding column, never read
                    // there (the edge bit), so only computed, with wrapping arithmetic.
                    (x.wrapping_add(x_p + ih * w).wrapping_sub(p.left), 16, back)
                } else {
                    (zeros, 0, 0)
                };
            }
            rows.count = count;
            // SAFETY: output row `oh` of the plane.
            rows.y = unsafe { y.add((plane * oh_n + oh) * ow_n) };
            // SAFETY: per output row `oh .. oh + count` the kernel reads input columns
            // `-left .. ow_n - left + 2` of the filter rows inside the plane (all of them
            // when `count > 1`), but for the padding columns (the edge bits); the zeros
            // (eight floats, read at offsets 0 to 5) with step 0; it writes the outputs of
            // the rows.
            unsafe { nchw_dw3x3_m4f_rows(&mut rows) };
            oh += count;
        }
    }
    Some(())
}

/// Zeros that a padding row of the depthwise kernel reads in place of an input row.
#[repr(align(4))]
struct Zeros([f32; 8]);
static ZEROS: Zeros = Zeros([0.0; 8]);
