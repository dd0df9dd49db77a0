//! The int8 dot products of the Cortex-M4F (and the other `eabihf` M-profile cores with the
//! DSP extension), chosen at compile time.
//!
//! Activations are widened once, two patches (or GEMM columns) at a time, into 16-bit
//! lanes with the input zero point subtracted (`SXTAB16` adds `-x_zp` to each lane, so `x -
//! x_zp`, in `-255..=255`, is exact): per four elements `k..k + 4` of a patch, one word
//! holds elements `k` and `k + 2`, the next `k + 1` and `k + 3`, which is how `SXTB16` and
//! `SXTB16 ROR #8` split a word of four int8 weights. The kernel ([`dot_2x2`], assembly)
//! then takes two filters by the pair: per four elements one `LDM` of the pair's four
//! words, two weight words widened by four `SXTB16`s, eight `SMLAD`s (two 16 x 16 products
//! added to an accumulator each), a counter and a branch: 16 MACs in 17 instructions.
//!
//! The sums are those of the portable kernels bit for bit: every product is exact and
//! `SMLAD` wraps modulo `2^32`, so partial sums that wrap still end at the exact total,
//! which the callers have checked fits in `i32`. The host never runs this file; the firmware
//! test checks it against a naive loop on the emulated Cortex-M4F.

use core::arch::asm;
use core::ptr::read_unaligned;

use crate::walk::chunks;

/// Defines each function as one register-only DSP instruction on its arguments (the target
/// has the DSP extension), none of which sets a condition flag.
macro_rules! dsp {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),+) -> $ret:ty = $insn:literal;)*) => {$(
        $(#[$doc])*
        #[inline(always)]
        pub(crate) fn $name($($arg: $ty),+) -> $ret {
            let r;
            // SAFETY: one register-only instruction, no memory, no stack, no flags.
            unsafe {
                asm!($insn, $(in(reg) $arg,)+ r = lateout(reg) r, options(pure, nomem, nostack, preserves_flags))
            };
            r
        }
    )*};
}

dsp! {
    /// `add + (sext(x[7:0]), sext(x[23:16]))`, lane by lane (16-bit wrapping adds).
    fn sxtab16(add: u32, x: u32) -> u32 = "sxtab16 {r}, {0}, {1}";
    /// `add + (sext(x[15:8]), sext(x[31:24]))`, lane by lane.
    fn sxtab16_ror8(add: u32, x: u32) -> u32 = "sxtab16 {r}, {0}, {1}, ror #8";
    /// `add + (sext(x[23:16]), sext(x[7:0]))`, lane by lane.
    fn sxtab16_ror16(add: u32, x: u32) -> u32 = "sxtab16 {r}, {0}, {1}, ror #16";
    /// `add + (sext(x[31:24]), sext(x[15:8]))`, lane by lane.
    fn sxtab16_ror24(add: u32, x: u32) -> u32 = "sxtab16 {r}, {0}, {1}, ror #24";
}

/// `a + b` lane by lane (two 16-bit lanes, wrapping: no carry between them).
#[inline(always)]
pub(crate) fn uadd16(a: u32, b: u32) -> u32 {
    let r;
    // SAFETY: a register-only DSP instruction; the GE flags it sets are not preserved.
    unsafe {
        asm!("uadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
    r
}

/// The bytewise maximum of `a` and `b` (as four `i8` lanes): `SSUB8` sets a GE flag per
/// lane where `a >= b`, `SEL` picks by them.
#[inline(always)]
pub(crate) fn max8(a: u32, b: u32) -> u32 {
    let r;
    // SAFETY: register-only DSP instructions; the GE flags they set are not preserved
    // (declared by leaving out `preserves_flags`).
    unsafe {
        asm!("ssub8 {r}, {a}, {b}", "sel {r}, {a}, {b}", r = out(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
    r
}

/// The bytewise minimum of `a` and `b` (four `i8` lanes).
#[inline(always)]
pub(crate) fn min8(a: u32, b: u32) -> u32 {
    let r;
    // SAFETY: as `max8`.
    unsafe {
        asm!("ssub8 {r}, {a}, {b}", "sel {r}, {b}, {a}", r = out(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack))
    };
    r
}

/// The assembly of TFLite's double rounding with a right shift of the sum in register `a`,
/// plus the zero point, saturated to `i8` into `y` (7 instructions; `lo`, `hi` and the
/// flags clobbered): `sat8(((a * m + nudge - (a < 0) * 2^31) >> 32 >> s) + zp)` with `nudge
/// = nhi * 2^32 + nlo` (`SMLAL` adds the product to the 64-bit nudge, `SSAT` saturates).
/// The arguments are register names or operand placeholders.
macro_rules! requant_asm {
    ($a:literal => $y:literal; $lo:literal, $hi:literal; $m:literal, $nhi:literal, $nlo:literal, $s:literal, $zp:literal) => {
        concat!(
            "and ",
            $lo,
            ", ",
            $a,
            ", #0x80000000\n",
            "subs ",
            $lo,
            ", ",
            $nlo,
            ", ",
            $lo,
            "\n",
            "sbc ",
            $hi,
            ", ",
            $nhi,
            ", #0\n",
            "smlal ",
            $lo,
            ", ",
            $hi,
            ", ",
            $a,
            ", ",
            $m,
            "\n",
            "asr ",
            $hi,
            ", ",
            $hi,
            ", ",
            $s,
            "\n",
            "add ",
            $hi,
            ", ",
            $hi,
            ", ",
            $zp,
            "\n",
            "ssat ",
            $y,
            ", #8, ",
            $hi,
            "\n",
        )
    };
}

/// The assembly of the `2 x 2` kernel's loop ([`dot_2x2_raw`]), 17 instructions per four
/// elements: `lr` groups of four of the widened pair at `r10` (four words each, `LDM`) by
/// the filters at `r11` and `r11 + r12`, into `r0, r1` (the first filter by both patches)
/// and `r2, r3` (the second); `r4` to `r9` and the flags clobbered, `r10` and `r11` moved
/// past what was read, `lr` left 0.
macro_rules! kernel_2x2_asm {
    () => {
        concat!(
            "2:\n",
            "ldm r10!, {{r4, r5, r6, r7}}\n",
            "ldr r8, [r11, r12]\n",
            "sxtb16 r9, r8, ror #8\n",
            "sxtb16 r8, r8\n",
            "smlad r2, r4, r8, r2\n",
            "smlad r2, r5, r9, r2\n",
            "smlad r3, r6, r8, r3\n",
            "smlad r3, r7, r9, r3\n",
            "ldr r8, [r11], #4\n",
            "sxtb16 r9, r8, ror #8\n",
            "sxtb16 r8, r8\n",
            "smlad r0, r4, r8, r0\n",
            "smlad r0, r5, r9, r0\n",
            "smlad r1, r6, r8, r1\n",
            "smlad r1, r7, r9, r1\n",
            "subs lr, lr, #1\n",
            "bne 2b\n",
        )
    };
}

/// TFLite's double rounding with a right shift of two accumulators, then the zero point,
/// each saturated to `i8`: `(y0 as u8) | (y1 as u8) << 8`, where `yi = sat8(((ai * m +
/// nudge - (ai < 0) * 2^31) >> 32 >> shift) + zp)` and `nudge = nudge_hi * 2^32 +
/// nudge_lo`: `RightShift::scale` (`requant.rs`) plus the zero point, in 16 instructions
/// (`SMLAL` adds the product to the 64-bit nudge, `SSAT` saturates).
#[inline(always)]
pub(crate) fn requant_pair(
    [a0, a1]: [i32; 2],
    (multiplier, nudge_hi, nudge_lo, shift): (i32, i32, u32, u32),
    zp: i32,
) -> u32 {
    let r;
    // SAFETY: register-only instructions; the flags (`SUBS`'s borrow) are not preserved.
    unsafe {
        asm!(
            requant_asm!("{a0}" => "{a0}"; "{lo}", "{hi}"; "{m}", "{nhi}", "{nlo}", "{s}", "{zp}"),
            requant_asm!("{a1}" => "{hi}"; "{lo}", "{hi}"; "{m}", "{nhi}", "{nlo}", "{s}", "{zp}"),
            "uxtb {a0}, {a0}",
            "bfi {a0}, {hi}, #8, #8",
            a0 = inout(reg) a0 => r,
            a1 = in(reg) a1,
            m = in(reg) multiplier,
            nhi = in(reg) nudge_hi,
            nlo = in(reg) nudge_lo,
            s = in(reg) shift,
            zp = in(reg) zp,
            lo = out(reg) _,
            hi = out(reg) _,
            options(pure, nomem, nostack),
        )
    };
    r
}

/// 2x2 stride-2 max pooling of `rows` output rows, `quads` groups of four outputs each
/// (assembly): output row `i` is written at `dst + i * ow` from input rows `src + 2i * w`
/// and `src + (2i + 1) * w`, each output the largest of its window clamped bytewise to
/// `[lo4, hi4]` (the bounds splatted into four lanes). Per group, 23 instructions: the four
/// words of eight columns of both rows, the bytewise maximum of the rows (`SSUB8` and
/// `SEL`) as `u = [u0 u1 u2 u3]` (columns 0..4) and `v` (4..8), then one more bytewise
/// maximum of `[u1 u2 v1 v2]` (`u >> 8` and `v << 8` packed by halves with `PKHBT`) and
/// `[u0 u3 v0 v3]` (the same of `REV16(u)` and `REV16(v)`), which holds the other element
/// of every window, the clamp, one store; per row, 6 more.
///
/// # Safety
/// `rows, quads >= 1`, `8 * quads <= w`, `4 * quads <= ow`; bytes `src..src + 2 * rows * w`
/// readable (the last row's last `w - 8 * quads` bytes are not read) and `dst..dst + rows *
/// ow` writable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn max_2x2_rows(
    src: *const i8,
    w: usize,
    dst: *mut i8,
    ow: usize,
    rows: usize,
    quads: usize,
    (lo4, hi4): (u32, u32),
) {
    // SAFETY: row `i` reads bytes `2i * w + 8q..2i * w + 8q + 8` and `(2i + 1) * w + 8q..`
    // for `q < quads` (`8 * quads <= w`, within the caller's `2 * rows * w`) and writes
    // `i * ow + 4q..i * ow + 4q + 4` (`4 * quads <= ow`); after a row the input pointers
    // move on by `2w - 8 * quads` and the output by `ow - 4 * quads`, both `>= 0`. r6 and r7
    // (which operands cannot name) hold the two steps, saved and restored on the stack
    // around the loops; the loads are plain `LDR`s, which the Cortex-M4 performs unaligned.
    unsafe {
        asm!(
            "push {{r6, r7}}",
            "mov r6, r4",
            "mov r7, r5",
            "2:",
            "add r3, r2, lr",
            "3:",
            "ldr r4, [r0], #8",
            "ldr r8, [r1], #8",
            "ssub8 r5, r4, r8",
            "sel r4, r4, r8",
            "ldr r5, [r0, #-4]",
            "ldr r9, [r1, #-4]",
            "ssub8 r8, r5, r9",
            "sel r5, r5, r9",
            "lsr r8, r4, #8",
            "pkhbt r8, r8, r5, lsl #8",
            "rev16 r4, r4",
            "rev16 r5, r5",
            "lsr r4, r4, #8",
            "pkhbt r4, r4, r5, lsl #8",
            "ssub8 r5, r8, r4",
            "sel r4, r8, r4",
            "ssub8 r5, r4, r10",
            "sel r4, r4, r10",
            "ssub8 r5, r4, r11",
            "sel r4, r11, r4",
            "str r4, [r2], #4",
            "cmp r2, r3",
            "bne 3b",
            "add r0, r6",
            "add r1, r6",
            "add r2, r7",
            "subs r12, r12, #1",
            "bne 2b",
            "pop {{r6, r7}}",
            inout("r0") src => _,
            inout("r1") src.wrapping_add(w) => _,
            inout("r2") dst => _,
            out("r3") _,
            inout("r4") 2 * w - 8 * quads => _,
            inout("r5") ow - 4 * quads => _,
            out("r8") _,
            out("r9") _,
            in("r10") lo4,
            in("r11") hi4,
            inout("r12") rows => _,
            in("lr") 4 * quads,
        );
    }
}

/// One output row of the depthwise 3x3 (assembly): `pairs` pairs of sums into `accs`, pair
/// `q` from block `q` of `rows`, six words `[s0[q], s0[q + 1], s1[q], s1[q + 1], s2[q],
/// s2[q + 1]]` where `sj` is a widened input row (two 16-bit lanes a word) and `taps[j] =
/// ((w0, w1), (w1, w2))` its kernel row: `accs[2q] = bias + sum_j SMLAD(sj[q], aj) +
/// SMLABT(sj[q + 1], bj)`, `accs[2q + 1] = bias + sum_j SMLAD(sj[q + 1], bj) +
/// SMLATB(sj[q], aj)`, wrapping. Per pair 18 instructions: three `LDRD`s, twelve MACs, one
/// `STRD`, a counter and a branch.
///
/// # Safety
/// `pairs >= 1`; `rows[..6 * pairs]` readable and `accs[..2 * pairs]` writable, both
/// word-aligned.
#[inline(always)]
pub(crate) unsafe fn depthwise_3x3_row(
    rows: *const u32,
    [(a0, b0), (a1, b1), (a2, b2)]: [(u32, u32); 3],
    bias: i32,
    accs: *mut i32,
    pairs: usize,
) {
    // SAFETY: the loop runs `pairs >= 1` times; pass `q` reads the words `6q..6q + 6` of
    // `rows` and writes `2q, 2q + 1` of `accs`, within the caller's ranges (`LDRD` and
    // `STRD` need word alignment only). r6 and r7 (which operands cannot name) hold the two
    // words of each load, saved and restored on the stack around the loop; r10, r11, lr and
    // the flags are clobbered.
    unsafe {
        asm!(
            "push {{r6, r7}}",
            "2:",
            "ldrd r6, r7, [r0], #24",
            "smlad r10, r6, r1, r12",
            "smlabt r10, r7, r2, r10",
            "smlad r11, r7, r2, r12",
            "smlatb r11, r6, r1, r11",
            "ldrd r6, r7, [r0, #-16]",
            "smlad r10, r6, r3, r10",
            "smlabt r10, r7, r4, r10",
            "smlad r11, r7, r4, r11",
            "smlatb r11, r6, r3, r11",
            "ldrd r6, r7, [r0, #-8]",
            "smlad r10, r6, r5, r10",
            "smlabt r10, r7, r8, r10",
            "smlad r11, r7, r8, r11",
            "smlatb r11, r6, r5, r11",
            "strd r10, r11, [r9], #8",
            "subs lr, lr, #1",
            "bne 2b",
            "pop {{r6, r7}}",
            inout("r0") rows => _,
            in("r1") a0,
            in("r2") b0,
            in("r3") a1,
            in("r4") b1,
            in("r5") a2,
            in("r8") b2,
            inout("r9") accs => _,
            out("r10") _,
            out("r11") _,
            in("r12") bias,
            inout("lr") pairs => _,
        );
    }
}

/// `quads` groups of four sums requantized as [`requant_pair`] does (TFLite's double rounding
/// with a right shift, `rounding` its `(multiplier, nudge_hi, nudge_lo, shift)`, then the
/// zero point `zp`, saturated to `i8`), the four bytes clamped together to the bounds
/// splatted in `(min4, max4)` (`SSUB8`, `SEL`) and stored as one word (assembly): 42
/// instructions per four outputs. Out of line: one copy for every caller.
///
/// # Safety
/// `quads >= 1`; `accs[..4 * quads]` readable (word-aligned) and `y[..4 * quads]` writable
/// (any alignment: the Cortex-M4 stores unaligned words with a plain `STR`).
#[inline(never)]
pub(crate) unsafe fn requant_quads(
    accs: *const i32,
    y: *mut i8,
    quads: usize,
    (multiplier, nudge_hi, nudge_lo, shift): (i32, i32, u32, u32),
    zp: i32,
    (min4, max4): (u32, u32),
) {
    // SAFETY: the loop runs `quads >= 1` times; pass `q` reads the sums `4q..4q + 4` and
    // writes the bytes `4q..4q + 4`, within the caller's ranges. r6 and r7 (which operands
    // cannot name) are temporaries saved and restored on the stack around the loop; r11,
    // r12, lr and the flags are clobbered.
    unsafe {
        asm!(
            "push {{r6, r7}}",
            "2:",
            "ldr r6, [r0], #4",
            requant_asm!("r6" => "r12"; "r7", "r11"; "r2", "r3", "r4", "r5", "r8"),
            "ldr r6, [r0], #4",
            requant_asm!("r6" => "r6"; "r7", "r11"; "r2", "r3", "r4", "r5", "r8"),
            "bfi r12, r6, #8, #8",
            "ldr r6, [r0], #4",
            requant_asm!("r6" => "r6"; "r7", "r11"; "r2", "r3", "r4", "r5", "r8"),
            "bfi r12, r6, #16, #8",
            "ldr r6, [r0], #4",
            requant_asm!("r6" => "r6"; "r7", "r11"; "r2", "r3", "r4", "r5", "r8"),
            "bfi r12, r6, #24, #8",
            "ssub8 r6, r12, r9",
            "sel r12, r12, r9",
            "ssub8 r6, r12, r10",
            "sel r12, r10, r12",
            "str r12, [r1], #4",
            "subs lr, lr, #1",
            "bne 2b",
            "pop {{r6, r7}}",
            inout("r0") accs => _,
            inout("r1") y => _,
            in("r2") multiplier,
            in("r3") nudge_hi,
            in("r4") nudge_lo,
            in("r5") shift,
            in("r8") zp,
            in("r9") min4,
            in("r10") max4,
            out("r11") _,
            out("r12") _,
            inout("lr") quads => _,
        );
    }
}

/// The state of [`dot_2x2_blocks`], read and updated in memory (its loop needs every
/// register).
#[repr(C)]
pub(crate) struct Blocks {
    /// The next widened pair of patches ([`widen_pair`]'s layout, `4 * quads` words each,
    /// one after the other).
    pub words: *const u32,
    /// The first filter, `4 * quads` bytes; the second at `w + fs`.
    pub w: *const i8,
    pub fs: usize,
    pub quads: usize,
    /// Each filter's bias and right shift, five words: bias, multiplier, `nudge_hi`,
    /// `nudge_lo`, shift, as [`requant_pair`] takes them.
    pub filters: [*const [u32; 5]; 2],
    /// Where each filter's next two outputs go.
    pub y: [*mut i8; 2],
    /// Pairs of positions left.
    pub pairs: usize,
    pub zero_point: i32,
    /// The clamp's bounds in every byte.
    pub min4: u32,
    pub max4: u32,
    /// Pairs of filters left, each over the whole tile: `tile_pairs` pairs of positions from
    /// `tile`; then `w` moves on by `w_step` bytes, `filters` by two entries and `y` by
    /// `y_step` bytes (from where the last pair's outputs end).
    pub filter_pairs: usize,
    pub tile_pairs: usize,
    pub tile: *const u32,
    pub w_step: usize,
    pub y_step: usize,
}

/// [`dot_2x2_raw`] over `state.pairs` consecutive widened pairs, each block's four sums
/// starting from the filters' biases and requantized as [`requant_pair`] does, clamped
/// together and stored as two half-words, one per filter's row (assembly), for
/// `filter_pairs` pairs of filters in turn: per block the kernel's `17 * quads` instructions
/// and 62 more (the constants reloaded from `state`), per pair of filters 22.
///
/// # Safety
/// `quads >= 1`, `pairs == tile_pairs >= 1`, `filter_pairs >= 1`, `words == tile`;
/// `state`'s pointers valid for every block: the `tile_pairs` pairs' words readable and
/// word-aligned, for each pair of filters `i < filter_pairs` both filters readable (`w + i *
/// w_step` and `fs` bytes on), their table entries five readable words each (`filters[j] +
/// 2i`), and `2 * tile_pairs` bytes writable at `y[j] + i * (2 * tile_pairs + y_step)`.
#[inline(never)]
pub(crate) unsafe fn dot_2x2_blocks(state: &mut Blocks) {
    // SAFETY: the caller's contract; `state` (at `[sp]` inside the loop) is read at the
    // offsets of its `repr(C)` fields (words 0, w 4, fs 8, quads 12, filters 16 and 20, y 24
    // and 28, pairs 32, zero point 36, bounds 40 and 44, filter pairs 48, tile pairs 52, tile
    // 56, steps 60 and 64) and its cursors written back. r6
    // and r7 (which operands cannot name) are saved and restored on the stack; every other
    // general register but sp and pc, and the flags, are clobbered.
    unsafe {
        asm!(
            "push {{r6, r7}}",
            "push {{r0}}",
            // One block: the sums start from the biases.
            "3:",
            "ldr r12, [sp]",
            "ldrd r4, r5, [r12, #16]",
            "ldr r0, [r4]",
            "ldr r2, [r5]",
            "mov r1, r0",
            "mov r3, r2",
            "ldrd r10, r11, [r12]",
            "ldrd r12, lr, [r12, #8]",
            kernel_2x2_asm!(),
            // Requantize: filter 0's pair into the low half-word, filter 1's the high.
            "ldr r12, [sp]",
            "str r10, [r12]",
            "ldrd r4, r5, [r12, #16]",
            "ldr r9, [r12, #36]",
            "ldrd r6, r7, [r4, #4]",
            "ldrd r8, lr, [r4, #12]",
            requant_asm!("r0" => "r0"; "r10", "r11"; "r6", "r7", "r8", "lr", "r9"),
            requant_asm!("r1" => "r1"; "r10", "r11"; "r6", "r7", "r8", "lr", "r9"),
            "bfi r0, r1, #8, #8",
            "ldrd r6, r7, [r5, #4]",
            "ldrd r8, lr, [r5, #12]",
            requant_asm!("r2" => "r2"; "r10", "r11"; "r6", "r7", "r8", "lr", "r9"),
            requant_asm!("r3" => "r3"; "r10", "r11"; "r6", "r7", "r8", "lr", "r9"),
            "bfi r2, r3, #8, #8",
            "pkhbt r0, r0, r2, lsl #16",
            "ldrd r6, r7, [r12, #40]",
            "ssub8 r1, r0, r6",
            "sel r0, r0, r6",
            "ssub8 r1, r0, r7",
            "sel r0, r7, r0",
            "ldrd r6, r7, [r12, #24]",
            "strh r0, [r6], #2",
            "lsr r0, r0, #16",
            "strh r0, [r7], #2",
            "strd r6, r7, [r12, #24]",
            "ldr r6, [r12, #32]",
            "subs r6, r6, #1",
            "str r6, [r12, #32]",
            "bne 3b",
            // The next pair of filters, over the tile again.
            "ldr r6, [r12, #48]",
            "subs r6, r6, #1",
            "beq 4f",
            "str r6, [r12, #48]",
            "ldrd r6, r7, [r12, #52]",
            "str r6, [r12, #32]",
            "str r7, [r12]",
            "ldr r6, [r12, #4]",
            "ldr r7, [r12, #60]",
            "add r6, r6, r7",
            "str r6, [r12, #4]",
            "ldrd r4, r5, [r12, #16]",
            "add r4, r4, #40",
            "add r5, r5, #40",
            "strd r4, r5, [r12, #16]",
            "ldrd r4, r5, [r12, #24]",
            "ldr r6, [r12, #64]",
            "add r4, r4, r6",
            "add r5, r5, r6",
            "strd r4, r5, [r12, #24]",
            "b 3b",
            "4:",
            "add sp, sp, #4",
            "pop {{r6, r7}}",
            inout("r0") state as *mut Blocks => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}

/// `(lo, hi)` as two int16 lanes of a word.
#[inline(always)]
pub(crate) fn pack(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// `(-zp, -zp)` as two int16 lanes, the offset `SXTAB16` adds to the activations.
#[inline(always)]
pub(crate) fn offset(zp: i8) -> u32 {
    let n = (-i32::from(zp)) as u16 as u32;
    n | (n << 16)
}

/// The word at `p`, unaligned (the Cortex-M4 loads unaligned words with a plain `LDR`).
///
/// # Safety
/// `p..p + 4` must be readable.
#[inline(always)]
unsafe fn word(p: *const i8) -> u32 {
    // SAFETY: the caller guarantees the four bytes are readable.
    unsafe { read_unaligned(p.cast::<u32>()) }
}

/// Words of a widened pair of patches of length `k`: four per full group of four
/// elements, one per remaining element (`x0 - zp` in the low half, `x1 - zp` in the high).
pub(crate) const fn pair_words(k: usize) -> usize {
    k / 4 * 4 + k % 4
}

/// Widens patches `p0` and `p1` (`k` elements each) into `words` ([`pair_words`]`(k)`),
/// subtracting the zero point whose [`offset`] is `off`.
#[inline(always)]
pub(crate) fn widen_pair(p0: &[i8], p1: &[i8], k: usize, off: u32, words: &mut [u32]) {
    let (Some(p0), Some(p1)) = (p0.get(..k), p1.get(..k)) else {
        return;
    };
    let quads = k / 4;
    let (body, tail) = words
        .split_at_mut_checked((quads * 4).min(words.len()))
        .unwrap_or_default();
    for (q, w) in chunks(body, 4).take(quads).enumerate() {
        // SAFETY: `4 * q + 4 <= 4 * quads <= k`, within `p0` and `p1`.
        let (a, b) = unsafe { (word(p0.as_ptr().add(4 * q)), word(p1.as_ptr().add(4 * q))) };
        if let [w0, w1, w2, w3] = w {
            *w0 = sxtab16(off, a);
            *w1 = sxtab16_ror8(off, a);
            *w2 = sxtab16(off, b);
            *w3 = sxtab16_ror8(off, b);
        }
    }
    let zp = -i32::from(off as u16 as i16);
    let rest = p0.get(quads * 4..).unwrap_or_default();
    let rest1 = p1.get(quads * 4..).unwrap_or_default();
    for ((w, &a), &b) in tail.iter_mut().zip(rest).zip(rest1) {
        let (a, b) = (i32::from(a) - zp, i32::from(b) - zp);
        *w = (a as u16 as u32) | ((b as u16 as u32) << 16);
    }
}

/// `[f0 . x0, f0 . x1, f1 . x0, f1 . x1]` for the filters `f0 = w[..k]` and
/// `f1 = w[fs..fs + k]` and the pair widened by [`widen_pair`] into `words`, where `x . y`
/// is the sum of `x[i] * y[i]` over the widened (zero point subtracted) activations. Zeros
/// if `w` or `words` is too short (the callers size them).
#[inline(always)]
pub(crate) fn dot_2x2(w: &[i8], fs: usize, k: usize, words: &[u32]) -> [i32; 4] {
    if w.len() < fs.saturating_add(k) || words.len() < pair_words(k) {
        return [0; 4];
    }
    // SAFETY: both filters are within `w` (`fs + k <= w.len()`), the pair's words within
    // `words` (checked), and a `u32` slice is aligned.
    unsafe { dot_2x2_raw(w.as_ptr(), fs, k, words.as_ptr(), [0; 4]) }
}

/// [`dot_2x2`] unchecked, the filters at `w` and `w + fs`, the four sums starting from
/// `init` (wrapping).
///
/// # Safety
/// `w[..k]`, `w[fs..fs + k]` and `words[..pair_words(k)]` must be readable, `words`
/// aligned (as a `u32` pointer is).
#[inline(always)]
pub(crate) unsafe fn dot_2x2_raw(
    w: *const i8,
    fs: usize,
    k: usize,
    words: *const u32,
    init: [i32; 4],
) -> [i32; 4] {
    let quads = k / 4;
    let [mut a0, mut a1, mut a2, mut a3] = init;
    if quads > 0 {
        // SAFETY: the loop runs `quads >= 1` times; each reads the four words `4q..4q + 4`
        // of `words` (`pair_words(k) >= 4 * quads`) and the bytes `4q..4q + 4` of `f0 = w`
        // and of `f1 = w + fs`, readable (the caller's contract; `4 * quads <= k`). `words` is
        // aligned for `LDM` (the caller's contract); the weight loads are plain `LDR`s, which
        // the Cortex-M4 performs unaligned. r6 and r7 (which operands
        // cannot name: LLVM's base and frame pointers) are saved and restored on the stack
        // around the loop; r4, r5, r8, r9, r10 to r12, lr and the flags are clobbered.
        unsafe {
            asm!(
                "push {{r6, r7}}",
                kernel_2x2_asm!(),
                "pop {{r6, r7}}",
                inout("r10") words => _,
                inout("r11") w => _,
                in("r12") fs,
                inout("lr") quads => _,
                inout("r0") a0,
                inout("r1") a1,
                inout("r2") a2,
                inout("r3") a3,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
            );
        }
    }
    for i in quads * 4..k {
        // SAFETY: the elements `4 * quads..k` of both filters and the words `4 * quads..
        // pair_words(k)` (one per element) are readable (the caller's contract).
        let (x, u, v) = unsafe { (*words.add(i), *w.add(i), *w.add(fs + i)) };
        let (lo, hi) = (
            i32::from(x as u16 as i16),
            i32::from((x >> 16) as u16 as i16),
        );
        let (u, v) = (i32::from(u), i32::from(v));
        a0 = a0.wrapping_add(u * lo);
        a1 = a1.wrapping_add(u * hi);
        a2 = a2.wrapping_add(v * lo);
        a3 = a3.wrapping_add(v * hi);
    }
    [a0, a1, a2, a3]
}
