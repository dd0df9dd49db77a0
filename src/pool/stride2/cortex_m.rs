//! Kernels for M-profile cores with a single-precision FPU (Cortex-M4F, M7, M33).
//!
//! The 2x2 stride-2 window, the CNN downsampling layer, runs in assembly: several outputs
//! per step, their taps loaded by two `vldmia` (one per window row), each output held in a
//! register.
//!
//! - Max: one signalling compare (`vcmpe`) and one conditional move per tap, which is
//!   PyTorch's rule `v > max || isnan(v)` for every ordered `v`. A NaN tap raises the FPU's
//!   cumulative Invalid Operation flag (FPSCR.IOC); the rectangle is then computed again by
//!   the general loop, which applies the whole rule. The caller's flag is restored. (The
//!   M4F has no `vmaxnm`, and a NaN-aware compare in C costs about eight instructions.)
//! - Average: the sum from zero in row-major tap order, then one division, as the passes do.
//!
//! The 3x3 window takes the general loop: the same rules, one tap at a time. The argmax and
//! geometries with border rows or columns keep the passes (see [`INDICES`], [`BORDERS`]).

use core::arch::global_asm;

use super::{Operands, Rect, ARGMAX, MAX, SUM};
use crate::arch::Isa;

/// The argmax and geometries with border rows or columns take the passes: kernels there
/// would cost flash for no fewer instructions.
pub(super) const INDICES: bool = false;
pub(super) const BORDERS: bool = false;

/// The kernels run on every instruction set of these targets (chosen at compile time), for
/// both window widths.
#[derive(Clone, Copy, Debug)]
pub(super) struct Proof;

pub(super) fn proof(_: Isa, _: usize) -> Option<Proof> {
    Some(Proof)
}

/// Rectangles hold interior outputs only.
pub(super) fn padded(_: Proof) -> bool {
    false
}

/// The outputs of the rectangle, as [`super::Kernels::run`] says.
///
/// # Safety
/// `o.fit::<KW, OP>()`; `x.len() <= 2^32`.
#[inline(always)]
pub(super) unsafe fn stride2<const KW: usize, const OP: u8>(_: Proof, o: Operands) {
    debug_assert!(o.fit::<KW, OP>() && o.rect.is_interior::<KW>());
    if KW == 2 && o.rect.taps_h == 2 {
        // SAFETY: the caller's precondition: the rectangle fits `x` and `y`.
        let walk = unsafe { Walk::new(o.x, o.rect, o.y) };
        // SAFETY: the assembly reads 2 * cols inputs from each of a row's two tap rows and
        // writes cols outputs, for each row: all inside the rectangle, inside `x` and `y`.
        if OP == MAX && unsafe { nchw_pool_m4f_max_2x2(&walk) } == 0 {
            return; // no NaN: every output is right
        }
        if OP == SUM {
            // SAFETY: as above.
            unsafe { nchw_pool_m4f_avg_2x2(&walk, o.div) };
            return;
        }
    }
    // SAFETY: the caller's precondition.
    unsafe { general::<OP>(KW, o) };
}

/// Every output of `rect`, one tap at a time, in row-major window order, for windows of
/// `kw` column taps (an argument, not a constant: one copy of the loop serves both widths).
///
/// # Safety
/// As [`stride2`], with `kw` its `KW`.
#[inline(never)]
unsafe fn general<const OP: u8>(kw: usize, o: Operands) {
    let Operands {
        x,
        rect,
        div,
        y,
        idx,
    } = o;
    for o in 0..rect.rows {
        let (row, out) = (rect.x + o * rect.x_row, rect.y + o * rect.y_row);
        for j in 0..rect.cols {
            let (mut m, mut i) = (0.0f32, 0u32);
            for r in 0..rect.taps_h {
                for t in 0..kw {
                    let at = row + r * rect.x_tap + 2 * j + t;
                    // SAFETY: `fits` bounds every tap of the rectangle by x.len().
                    let v = unsafe { *x.get_unchecked(at) };
                    if OP == SUM {
                        m += v;
                    } else if (r == 0 && t == 0) || v > m || v.is_nan() {
                        // PyTorch's rule; x.len() <= 2^32 keeps `at` in a u32.
                        (m, i) = (v, at as u32);
                    }
                }
            }
            // SAFETY: `fits` bounds out + j by y.len() (and idx.len() for the argmax).
            unsafe {
                *y.get_unchecked_mut(out + j) = if OP == SUM { m / div } else { m };
                if OP == ARGMAX {
                    *idx.get_unchecked_mut(out + j) = i;
                }
            }
        }
    }
}

/// A 2x2 stride-2 rectangle for the assembly: pointers, and steps in bytes.
#[repr(C)]
struct Walk {
    /// The first output's first tap, and the step to its second tap row.
    x: *const f32,
    tap: usize,
    /// From the end of a row's first tap row to the next row's start.
    x_skip: usize,
    /// The first output, and the step from the end of an output row to the next.
    y: *mut f32,
    y_skip: usize,
    rows: usize,
    cols: usize,
}

impl Walk {
    /// # Safety
    /// `rect.fits::<2>(x.len(), y.len())`.
    #[inline(always)]
    unsafe fn new(x: &[f32], rect: &Rect, y: &mut [f32]) -> Walk {
        // A row's loop leaves its pointers 2 * cols inputs and cols outputs on; the skips
        // (wrapping: after the last row they are not used) reach the next row.
        let bytes = |n: usize| n.wrapping_mul(4);
        // SAFETY: rect.x < x.len() and rect.y < y.len() (fits).
        let (x0, y0) = unsafe { (x.as_ptr().add(rect.x), y.as_mut_ptr().add(rect.y)) };
        Walk {
            x: x0,
            tap: bytes(rect.x_tap),
            x_skip: bytes(rect.x_row.wrapping_sub(2 * rect.cols)),
            y: y0,
            y_skip: bytes(rect.y_row.wrapping_sub(rect.cols)),
            rows: rect.rows,
            cols: rect.cols,
        }
    }
}

/// One tap of the max: `s{acc} = s{v}` when `s{v} > s{acc}` (ordered; a NaN raises IOC).
macro_rules! take {
    ($acc:literal, $v:literal) => {
        concat!(
            "    vcmpe.f32 s",
            $v,
            ", s",
            $acc,
            "\n",
            "    vmrs APSR_nzcv, fpscr\n",
            "    it gt\n",
            "    vmovgt.f32 s",
            $acc,
            ", s",
            $v,
            "\n",
        )
    };
}

/// The max of the first output of a step, in s0 (its first tap) from its taps s1, s16
/// and s17: also the one output of the last steps.
macro_rules! first_max {
    () => {
        concat!(take!("0", "1"), take!("0", "16"), take!("0", "17"))
    };
}

/// `s{acc} += s{v}`.
macro_rules! add {
    ($acc:literal, $v:literal) => {
        concat!("    vadd.f32 s", $acc, ", s", $acc, ", s", $v, "\n")
    };
}

/// One output of the average: `s{acc} = ((((0 + a) + b) + c) + d) / div`, zero in s20 and
/// the divisor in s21.
macro_rules! average {
    ($acc:literal, $a:literal, $b:literal, $c:literal, $d:literal) => {
        concat!(
            "    vadd.f32 s",
            $acc,
            ", s20, s",
            $a,
            "\n",
            add!($acc, $b),
            add!($acc, $c),
            add!($acc, $d),
            "    vdiv.f32 s",
            $acc,
            ", s",
            $acc,
            ", s21\n",
        )
    };
}

// `nchw_pool_m4f_max_2x2(walk) -> ioc` and `nchw_pool_m4f_avg_2x2(walk, div)` (AAPCS-VFP:
// r0, s0). Both walk the rectangle row by row, four outputs per step, then one at a time.
//
// Registers: r1 first tap row, r8 second, r2 tap step, r3 input skip, r4 output, r5 output
// skip, r6 rows, r7 columns, r12 columns left. The max takes eight outputs per step (taps
// s0-s15 from the first row, s16-s31 from the second), keeps output k in s(2k) and the
// caller's FPSCR in lr, and returns the Invalid Operation flag its compares raised (the
// caller's restored). The average takes four (taps s0-s7 and s8-s15), keeps output k in
// s(16 + k), zero in s20, the divisor in s21.
//
// Module-level assembly does not see the target's features: `.fpu` names the FPU every
// core of these targets has.
/// The directives that open the global function `$name` in a section of its own.
macro_rules! function {
    ($name:literal) => {
        concat!(
            ".section .text.",
            $name,
            ", \"ax\", %progbits\n.global ",
            $name,
            "\n.hidden ",
            $name,
            "\n.type ",
            $name,
            ", %function\n.p2align 2\n.thumb_func\n",
            $name,
            ":"
        )
    };
}

/// The walk of both kernels over the rectangle (registers as below), row by row: `$n`
/// outputs per step, their taps loaded into `$taps0` (first tap row) and `$taps1` (second),
/// computed and stored by `$step`; then the rest one at a time, loaded into `$one0` and
/// `$one1`, by `$one`.
macro_rules! walk {
    ($n:literal, $taps0:literal, $taps1:literal, $step:expr, $one0:literal, $one1:literal, $one:expr) => {
        concat!(
            "1:\n    add r8, r1, r2\n    subs r12, r7, #",
            $n,
            "\n    blo 3f\n2:\n    vldmia r1!, {{",
            $taps0,
            "}}\n    vldmia r8!, {{",
            $taps1,
            "}}\n",
            $step,
            "    subs r12, #",
            $n,
            "\n    bhs 2b\n3:\n    adds r12, #",
            $n,
            "\n    beq 5f\n4:\n    vldmia r1!, {{",
            $one0,
            "}}\n    vldmia r8!, {{",
            $one1,
            "}}\n",
            $one,
            "    subs r12, #1\n    bne 4b\n5:\n    add r1, r3\n    add r4, r5\n",
            "    subs r6, #1\n    bne 1b",
        )
    };
}

global_asm!(
    ".fpu fpv4-sp-d16",
    function!("nchw_pool_m4f_max_2x2"),
    "    push {{r4-r8, lr}}",
    "    vpush {{s16-s31}}",
    "    ldmia r0, {{r1-r7}}",
    "    vmrs lr, fpscr",
    "    bic r12, lr, #1",
    "    vmsr fpscr, r12",
    // Eight outputs: first-row taps s0-s15, second-row taps s16-s31, output k in s(2k).
    walk!(
        "8",
        "s0-s15",
        "s16-s31",
        concat!(
            first_max!(),
            take!("2", "3"),
            take!("2", "18"),
            take!("2", "19"),
            take!("4", "5"),
            take!("4", "20"),
            take!("4", "21"),
            take!("6", "7"),
            take!("6", "22"),
            take!("6", "23"),
            take!("8", "9"),
            take!("8", "24"),
            take!("8", "25"),
            take!("10", "11"),
            take!("10", "26"),
            take!("10", "27"),
            take!("12", "13"),
            take!("12", "28"),
            take!("12", "29"),
            take!("14", "15"),
            take!("14", "30"),
            take!("14", "31"),
            "    vstr s0, [r4]\n",
            "    vstr s2, [r4, #4]\n",
            "    vstr s4, [r4, #8]\n",
            "    vstr s6, [r4, #12]\n",
            "    vstr s8, [r4, #16]\n",
            "    vstr s10, [r4, #20]\n",
            "    vstr s12, [r4, #24]\n",
            "    vstr s14, [r4, #28]\n",
            "    adds r4, #32\n",
        ),
        "s0-s1",
        "s16-s17",
        concat!(first_max!(), "    vstmia r4!, {{s0}}\n")
    ),
    "    vmrs r12, fpscr",
    "    and r0, r12, #1",
    "    bic r12, r12, #1",
    "    and lr, lr, #1",
    "    orr r12, r12, lr",
    "    vmsr fpscr, r12",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r8, pc}}",
    ".size nchw_pool_m4f_max_2x2, . - nchw_pool_m4f_max_2x2",
    function!("nchw_pool_m4f_avg_2x2"),
    "    push {{r4-r8, lr}}",
    "    vpush {{s16-s21}}",
    "    vmov.f32 s21, s0",
    "    movs r12, #0",
    "    vmov s20, r12",
    "    ldmia r0, {{r1-r7}}",
    walk!(
        "4",
        "s0-s7",
        "s8-s15",
        concat!(
            average!("16", "0", "1", "8", "9"),
            average!("17", "2", "3", "10", "11"),
            average!("18", "4", "5", "12", "13"),
            average!("19", "6", "7", "14", "15"),
            "    vstmia r4!, {{s16-s19}}\n",
        ),
        "s0-s1",
        "s8-s9",
        concat!(
            average!("16", "0", "1", "8", "9"),
            "    vstmia r4!, {{s16}}\n"
        )
    ),
    "    vpop {{s16-s21}}",
    "    pop {{r4-r8, pc}}",
    ".size nchw_pool_m4f_avg_2x2, . - nchw_pool_m4f_avg_2x2",
);

extern "C" {
    /// See the assembly above.
    fn nchw_pool_m4f_max_2x2(walk: *const Walk) -> u32;
    /// See the assembly above.
    fn nchw_pool_m4f_avg_2x2(walk: *const Walk, div: f32);
}
