//! The hand-written `f32` GEMM kernels of M-profile cores with a single-precision FPU
//! (Cortex-M4F, M7, M33, ...; targets `thumbv7em-none-eabihf`, `thumbv8m.main-none-eabihf`),
//! for their one-lane `f32` vectors ([`Scalar<f32, M4f>`](super::Scalar)): the portable
//! `4 x 4` register tile with its inner loop in assembly, and the product without scratch.
//! Chosen at compile time: the portable instruction set of these targets is this one.
//!
//! Compiled Rust cannot be trusted with this loop on a microcontroller: at opt-level s the
//! rank-1 update is not unrolled and the sixteen accumulators live on the stack (nine
//! instructions per multiply-add), and at opt-level 3 it spills although the FPU has 32
//! single-precision registers. Here the accumulators stay in `s0..s15`, one column of the A
//! sliver and one row of the B sliver are loaded with one `vldmia` each (`s16..s19`,
//! `s20..s23`), and sixteen `vmla.f32` follow: 18 instructions per 16 multiply-adds, plus a
//! loop counter and branch per eight rank-1 updates (146 instructions per 128 multiply-adds).
//!
//! `vmla.f32` rounds the product and then the sum, exactly as the portable kernel's
//! `a * b + c`, so both give bit-identical results.

use core::arch::global_asm;

use super::portable::HandWritten;
use super::simd::{Args, Hand};
use crate::matrix::{MatMut, MatRef};

/// The Cortex-M4F's hand-written `f32` GEMM kernels.
pub struct M4f;

impl HandWritten<f32> for M4f {
    const HAND: Hand<f32> = Hand {
        tile_4x4: Some(tile_4x4),
        unpacked: Some(unpacked),
    };
}

/// Sixteen multiply-adds, one rank-1 update of the accumulators: `s[4i + j] += a_i * b_j` for
/// the registers `a_0..a_3` holding a column of A and `b_0..b_3` a row of B.
// One line per instruction (rustfmt would split each over five).
#[rustfmt::skip]
macro_rules! outer {
    ($a0:literal, $a1:literal, $a2:literal, $a3:literal;
     $b0:literal, $b1:literal, $b2:literal, $b3:literal) => {
        concat!(
            "    vmla.f32 s0, ", $a0, ", ", $b0, "\n",
            "    vmla.f32 s1, ", $a0, ", ", $b1, "\n",
            "    vmla.f32 s2, ", $a0, ", ", $b2, "\n",
            "    vmla.f32 s3, ", $a0, ", ", $b3, "\n",
            "    vmla.f32 s4, ", $a1, ", ", $b0, "\n",
            "    vmla.f32 s5, ", $a1, ", ", $b1, "\n",
            "    vmla.f32 s6, ", $a1, ", ", $b2, "\n",
            "    vmla.f32 s7, ", $a1, ", ", $b3, "\n",
            "    vmla.f32 s8, ", $a2, ", ", $b0, "\n",
            "    vmla.f32 s9, ", $a2, ", ", $b1, "\n",
            "    vmla.f32 s10, ", $a2, ", ", $b2, "\n",
            "    vmla.f32 s11, ", $a2, ", ", $b3, "\n",
            "    vmla.f32 s12, ", $a3, ", ", $b0, "\n",
            "    vmla.f32 s13, ", $a3, ", ", $b1, "\n",
            "    vmla.f32 s14, ", $a3, ", ", $b2, "\n",
            "    vmla.f32 s15, ", $a3, ", ", $b3, "\n",
        )
    };
}

/// One rank-1 update: `s[4i + j] += a[i] * b[j]`, A and B read through `r0` and `r1`.
macro_rules! rank1 {
    () => {
        concat!(
            "    vldmia r0!, {{s16-s19}}\n",
            "    vldmia r1!, {{s20-s23}}\n",
            outer!("s16", "s17", "s18", "s19"; "s20", "s21", "s22", "s23"),
        )
    };
}

/// Two rank-1 updates straight from the operands: elements `p` and `p + 1` of the four A
/// rows (`r0`, `r4`, `r5`, `r6`, each moved on by two) into `s16..s23`, B rows `p` and `p + 1`
/// (`r1`, `r1 + r7`) into `s24..s27` and `s28..s31`, `r1` moved on two rows.
macro_rules! rows2 {
    () => {
        concat!(
            "    vldmia r0!, {{s16-s17}}\n",
            "    vldmia r4!, {{s18-s19}}\n",
            "    vldmia r5!, {{s20-s21}}\n",
            "    vldmia r6!, {{s22-s23}}\n",
            "    vldmia r1, {{s24-s27}}\n",
            "    add lr, r1, r7\n",
            "    vldmia lr, {{s28-s31}}\n",
            "    add r1, r1, r7, lsl #1\n",
            outer!("s16", "s18", "s20", "s22"; "s24", "s25", "s26", "s27"),
            outer!("s17", "s19", "s21", "s23"; "s28", "s29", "s30", "s31"),
        )
    };
}

/// One rank-1 update straight from the operands, as [`rows2`] for one `p`.
macro_rules! rows1 {
    () => {
        concat!(
            "    vldmia r0!, {{s16}}\n",
            "    vldmia r4!, {{s18}}\n",
            "    vldmia r5!, {{s20}}\n",
            "    vldmia r6!, {{s22}}\n",
            "    vldmia r1, {{s24-s27}}\n",
            "    add r1, r1, r7\n",
            outer!("s16", "s18", "s20", "s22"; "s24", "s25", "s26", "s27"),
        )
    };
}

/// Zeroes the accumulators and runs the `k` (`r2`) rank-1 updates: `$eight` (eight updates)
/// `k / 8` times, then `$one` (one update) `k % 8` times, counted in `r12`. Label `4` follows.
macro_rules! updates {
    ($eight:expr, $one:expr) => {
        concat!(
            "    ldr lr, =nchw_gemm_m4f_zeros\n",
            "    vldmia lr, {{s0-s15}}\n",
            "    and r12, r2, #7\n",
            "    lsrs r2, r2, #3\n",
            "    beq 2f\n",
            "1:\n",
            $eight,
            "    subs r2, r2, #1\n",
            "    bne 1b\n",
            "2:\n",
            "    cmp r12, #0\n",
            "    beq 4f\n",
            "3:\n",
            $one,
            "    subs r12, r12, #1\n",
            "    bne 3b\n",
            "4:\n",
        )
    };
}

/// Adds `beta` (`s25`) times the C row at `r3` to the accumulators `$r0..$r3`, stores them
/// there and moves `r3` down one row (`r4` bytes).
macro_rules! update_row {
    ($r0:literal, $r1:literal, $r2:literal, $r3:literal) => {
        concat!(
            "    vldmia r3, {{s16-s19}}\n",
            "    vmla.f32 ",
            $r0,
            ", s16, s25\n",
            "    vmla.f32 ",
            $r1,
            ", s17, s25\n",
            "    vmla.f32 ",
            $r2,
            ", s18, s25\n",
            "    vmla.f32 ",
            $r3,
            ", s19, s25\n",
            "    vstmia r3, {{",
            $r0,
            "-",
            $r3,
            "}}\n",
            "    add r3, r3, r4\n",
        )
    };
}

/// Multiplies the accumulators `s0..s15` by `alpha` (`s24`).
macro_rules! scale {
    () => {
        concat!(
            "    vmul.f32 s0, s0, s24\n",
            "    vmul.f32 s1, s1, s24\n",
            "    vmul.f32 s2, s2, s24\n",
            "    vmul.f32 s3, s3, s24\n",
            "    vmul.f32 s4, s4, s24\n",
            "    vmul.f32 s5, s5, s24\n",
            "    vmul.f32 s6, s6, s24\n",
            "    vmul.f32 s7, s7, s24\n",
            "    vmul.f32 s8, s8, s24\n",
            "    vmul.f32 s9, s9, s24\n",
            "    vmul.f32 s10, s10, s24\n",
            "    vmul.f32 s11, s11, s24\n",
            "    vmul.f32 s12, s12, s24\n",
            "    vmul.f32 s13, s13, s24\n",
            "    vmul.f32 s14, s14, s24\n",
            "    vmul.f32 s15, s15, s24\n",
        )
    };
}

/// Stores the accumulators as four rows of C from `r3`, `r4` bytes apart.
macro_rules! store_rows {
    () => {
        concat!(
            "    vstmia r3, {{s0-s3}}\n",
            "    add r3, r3, r4\n",
            "    vstmia r3, {{s4-s7}}\n",
            "    add r3, r3, r4\n",
            "    vstmia r3, {{s8-s11}}\n",
            "    add r3, r3, r4\n",
            "    vstmia r3, {{s12-s15}}\n",
        )
    };
}

/// [`update_row`] for the four rows of C from `r3`.
macro_rules! update_rows {
    () => {
        concat!(
            update_row!("s0", "s1", "s2", "s3"),
            update_row!("s4", "s5", "s6", "s7"),
            update_row!("s8", "s9", "s10", "s11"),
            update_row!("s12", "s13", "s14", "s15"),
        )
    };
}

// `nchw_gemm_m4f_tile_4x4(a, b, k, c, rsc_bytes, mode, alpha, beta)` (AAPCS-VFP: r0-r3, two
// words on the stack, s0, s1): the `4 x 4` tile `alpha * A_sliver * B_sliver` over `k`
// rank-1 updates, then by `mode`: 0 stores it row-major to the 16 floats at `c`; 1 stores
// its rows to C (`c`, rows `rsc_bytes` apart); 2 adds `beta` times those rows of C first.
//
// Registers: r0 A, r1 B, r2 k / 8, r12 k % 8, r3 C, r4 row stride, r5 mode; accumulators
// s0-s15 (row-major), a column of A s16-s19, a row of B s20-s23, alpha s24, beta s25.
//
// Module-level assembly does not see the target's features: `.fpu` names the FPU every
// core of these targets has (single precision, 16 double registers' worth).
global_asm!(
    ".fpu fpv4-sp-d16",
    ".section .text.nchw_gemm_m4f_tile_4x4, \"ax\", %progbits",
    ".global nchw_gemm_m4f_tile_4x4",
    ".hidden nchw_gemm_m4f_tile_4x4",
    ".type nchw_gemm_m4f_tile_4x4, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_gemm_m4f_tile_4x4:",
    "    push {{r4, r5, lr}}",
    "    vpush {{s16-s25}}",
    "    ldr r4, [sp, #52]", // 3 words and 10 floats pushed
    "    ldr r5, [sp, #56]",
    "    vmov.f32 s24, s0",
    "    vmov.f32 s25, s1",
    updates!(
        concat!(
            rank1!(),
            rank1!(),
            rank1!(),
            rank1!(),
            rank1!(),
            rank1!(),
            rank1!(),
            rank1!()
        ),
        rank1!()
    ),
    scale!(),
    "    cmp r5, #1",
    "    beq 5f",
    "    bgt 6f",
    "    vstmia r3, {{s0-s15}}",
    "    b 7f",
    "5:",
    store_rows!(),
    "    b 7f",
    "6:",
    update_rows!(),
    "7:",
    "    vpop {{s16-s25}}",
    "    pop {{r4, r5, pc}}",
    ".ltorg",
    ".size nchw_gemm_m4f_tile_4x4, . - nchw_gemm_m4f_tile_4x4",
    // `nchw_gemm_m4f_rows_4x4(a, b, k, c, rsa_bytes, rsb_bytes, rsc_bytes, mode, alpha, beta)`:
    // the `4 x 4` tile of C at `c` from four rows of A (at `a`, `rsa_bytes` apart, each `k`
    // contiguous values) and `k` rows of B (at `b`, `rsb_bytes` apart, each 4 contiguous
    // values), read in place: no packing, no scratch. `alpha` scales the tile; mode 1 stores
    // its rows to C (`rsc_bytes` apart), mode 2 adds `beta` times those rows of C first.
    //
    // Registers: A rows r0, r4, r5, r6; B r1, its row stride r7; k / 8 r2, k % 8 r12;
    // accumulators s0-s15, two columns of A s16-s23, two rows of B s24-s31 (alpha and beta
    // wait in r8, r9). Per two rank-1 updates: 4 + 2 loads, 2 address additions, 32 `vmla`.
    ".section .text.nchw_gemm_m4f_rows_4x4, \"ax\", %progbits",
    ".global nchw_gemm_m4f_rows_4x4",
    ".hidden nchw_gemm_m4f_rows_4x4",
    ".type nchw_gemm_m4f_rows_4x4, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_gemm_m4f_rows_4x4:",
    "    push {{r4-r9, lr}}",
    "    vpush {{s16-s31}}",
    "    ldr r7, [sp, #92]", // 7 words and 16 floats pushed: rsa_bytes
    "    add r4, r0, r7",
    "    add r5, r4, r7",
    "    add r6, r5, r7",
    "    ldr r7, [sp, #96]", // rsb_bytes
    "    vmov r8, r9, s0, s1",
    updates!(concat!(rows2!(), rows2!(), rows2!(), rows2!()), rows1!()),
    "    vmov s24, s25, r8, r9",
    "    ldr r4, [sp, #100]", // rsc_bytes
    "    ldr r5, [sp, #104]", // mode
    scale!(),
    "    cmp r5, #1",
    "    bgt 6f",
    store_rows!(),
    "    b 7f",
    "6:",
    update_rows!(),
    "7:",
    "    vpop {{s16-s31}}",
    "    pop {{r4-r9, pc}}",
    ".ltorg",
    ".size nchw_gemm_m4f_rows_4x4, . - nchw_gemm_m4f_rows_4x4",
    // `nchw_gemm_m4f_dot_4x1(a, rsa_bytes, b, quads) -> Sums4`: the dot products of four
    // rows of A (r0, then each `rsa_bytes` further) with a contiguous column of B (r2) over
    // their first `4 * quads >= 4` elements, returned in s0-s3 (a homogeneous aggregate of
    // four floats, as the VFP procedure call standard returns it). Per four elements five
    // `vldmia` (B's four into s4-s7, then each row's into s8-s11) and sixteen `vmla.f32`,
    // each row's sum in element order (as the portable loop adds them); the sums start at
    // +0.0. No stack: caller-saved registers only, the return address kept in s15 while lr
    // points at a row.
    ".section .text.nchw_gemm_m4f_dot_4x1, \"ax\", %progbits",
    ".global nchw_gemm_m4f_dot_4x1",
    ".hidden nchw_gemm_m4f_dot_4x1",
    ".type nchw_gemm_m4f_dot_4x1, %function",
    ".p2align 2",
    ".thumb_func",
    "nchw_gemm_m4f_dot_4x1:",
    "    vmov s15, lr",
    "    mov lr, #0",
    "    vmov s0, s1, lr, lr",
    "    vmov s2, s3, lr, lr",
    "    add r12, r0, r1",
    "    add lr, r12, r1",
    "    add r1, lr, r1",
    "2:",
    "    vldmia r2!, {{s4-s7}}",
    "    vldmia r0!, {{s8-s11}}",
    "    vmla.f32 s0, s8, s4",
    "    vmla.f32 s0, s9, s5",
    "    vmla.f32 s0, s10, s6",
    "    vmla.f32 s0, s11, s7",
    "    vldmia r12!, {{s8-s11}}",
    "    vmla.f32 s1, s8, s4",
    "    vmla.f32 s1, s9, s5",
    "    vmla.f32 s1, s10, s6",
    "    vmla.f32 s1, s11, s7",
    "    vldmia lr!, {{s8-s11}}",
    "    vmla.f32 s2, s8, s4",
    "    vmla.f32 s2, s9, s5",
    "    vmla.f32 s2, s10, s6",
    "    vmla.f32 s2, s11, s7",
    "    vldmia r1!, {{s8-s11}}",
    "    vmla.f32 s3, s8, s4",
    "    vmla.f32 s3, s9, s5",
    "    vmla.f32 s3, s10, s6",
    "    vmla.f32 s3, s11, s7",
    "    subs r3, r3, #1",
    "    bne 2b",
    "    vmov lr, s15",
    "    bx lr",
    ".size nchw_gemm_m4f_dot_4x1, . - nchw_gemm_m4f_dot_4x1",
    ".section .rodata.nchw_gemm_m4f_zeros, \"a\", %progbits",
    ".p2align 2",
    "nchw_gemm_m4f_zeros:",
    ".space 64",
);

extern "C" {
    /// See the assembly above.
    fn nchw_gemm_m4f_tile_4x4(
        a: *const f32,
        b: *const f32,
        k: usize,
        c: *mut f32,
        rsc_bytes: usize,
        mode: usize,
        alpha: f32,
        beta: f32,
    );
}

/// Four `f32` sums, returned in `s0..s3` (a homogeneous aggregate of the VFP procedure call
/// standard): no memory between the assembly and its caller.
#[repr(C)]
struct Sums4(f32, f32, f32, f32);

extern "C" {
    /// See the assembly above.
    fn nchw_gemm_m4f_dot_4x1(a: *const f32, rsa_bytes: usize, b: *const f32, quads: usize)
        -> Sums4;
}

extern "C" {
    /// See the assembly above.
    fn nchw_gemm_m4f_rows_4x4(
        a: *const f32,
        b: *const f32,
        k: usize,
        c: *mut f32,
        rsa_bytes: usize,
        rsb_bytes: usize,
        rsc_bytes: usize,
        mode: usize,
        alpha: f32,
        beta: f32,
    );
}

/// The GEMM without scratch, `C <- alpha * A * B + beta * C` for non-empty operands whose
/// dimensions agree: when A, B and C all have unit column stride, every whole `4 x 4` tile
/// of C runs the assembly straight from the views (`nchw_gemm_m4f_rows_4x4`); the columns
/// right of the tiles (all of them if none ran) go four rows at a time where A has unit
/// column stride (four depths at a time in assembly, `nchw_gemm_m4f_dot_4x1`, where B's
/// column is contiguous), and the rows below one dot product per element.
///
/// Inlined into the GEMM's product, its one caller: the two share a frame, which keeps the
/// backward passes' deepest path (a product without scratch) shallow.
#[inline(always)]
fn unpacked(alpha: f32, a: MatRef<'_, f32>, b: MatRef<'_, f32>, beta: f32, mut c: MatMut<'_, f32>) {
    let (m, n, k) = (c.rows.min(a.rows), c.cols.min(b.cols), a.cols.min(b.rows));
    let direct = a.col_stride == 1 && b.col_stride == 1 && c.col_stride == 1 && k > 0;
    let (m4, n4) = if direct { (m & !3, n & !3) } else { (0, 0) };
    let mode = if beta == 0.0 { 1 } else { 2 };
    let (rsa, rsb, rsc) = (a.row_stride, b.row_stride, c.row_stride);
    let (pa, pb, pc) = (a.data.as_ptr(), b.data.as_ptr(), c.data.as_mut_ptr());
    for i in (0..m4).step_by(4) {
        for j in (0..n4).step_by(4) {
            // SAFETY: `i + 3 < m`, `j + 3 < n`, `k > 0`: A elements `(i..i + 4, 0..k)` are
            // in the view, each row contiguous (`col_stride == 1`), as are B elements
            // `(0..k, j..j + 4)` and C elements `(i..i + 4, j..j + 4)`; the views' checks
            // put them inside their slices, and C does not alias A or B (borrows).
            unsafe {
                nchw_gemm_m4f_rows_4x4(
                    pa.add(i * rsa),
                    pb.add(j),
                    k,
                    pc.add(i * rsc + j),
                    rsa * 4,
                    rsb * 4,
                    rsc * 4,
                    mode,
                    alpha,
                    beta,
                );
            }
        }
    }
    // The columns right of the whole tiles (every column if none ran: a narrow C, as in a
    // convolution with the least workspace), four rows at a time where A's rows are
    // contiguous: four dot products in registers, one B element loaded per four MACs.
    let m4_rows = if a.col_stride == 1 && k > 0 {
        m & !3
    } else {
        0
    };
    let csb = b.col_stride;
    for i in (0..m4_rows).step_by(4) {
        for j in n4..n {
            let mut acc = [0.0f32; 4];
            // SAFETY: `i + 3 < m`, `j < n`, `p < k`: A elements `(i + r, p)` (rows
            // contiguous, `rsa` apart) and B elements `(p, j)` are in the views, so inside
            // their slices (the assembly reads `p < 4 * quads <= k` of them, B's `rsb == 1`
            // apart); `bp` is only read while `p < k`.
            unsafe {
                let a0 = pa.add(i * rsa);
                let (a1, a2, a3) = (a0.add(rsa), a0.add(2 * rsa), a0.add(3 * rsa));
                let mut bp = pb.add(j * csb);
                // B's column contiguous (a convolution's one-column tile): four elements
                // of each row at a time in assembly, the rest below.
                let quads = if rsb == 1 { k / 4 } else { 0 };
                if quads > 0 {
                    let Sums4(s0, s1, s2, s3) = nchw_gemm_m4f_dot_4x1(a0, rsa * 4, bp, quads);
                    acc = [s0, s1, s2, s3];
                    bp = bp.add(4 * quads);
                }
                for p in 4 * quads..k {
                    let x = *bp;
                    acc[0] += *a0.add(p) * x;
                    acc[1] += *a1.add(p) * x;
                    acc[2] += *a2.add(p) * x;
                    acc[3] += *a3.add(p) * x;
                    bp = bp.wrapping_add(rsb);
                }
            }
            for (r, &sum) in acc.iter().enumerate() {
                // SAFETY: `i + r < c.rows`, `j < c.cols`.
                let dst = unsafe { c.get_unchecked_mut(i + r, j) };
                *dst = if beta == 0.0 {
                    alpha * sum
                } else {
                    alpha * sum + beta * *dst
                };
            }
        }
    }
    // The rest, one dot product per element: the rows below.
    for i in m4_rows..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                // SAFETY: `i < a.rows`, `p < a.cols`; `p < b.rows`, `j < b.cols`.
                acc += unsafe { a.get_unchecked(i, p) * b.get_unchecked(p, j) };
            }
            // SAFETY: `i < c.rows`, `j < c.cols`.
            let dst = unsafe { c.get_unchecked_mut(i, j) };
            *dst = if beta == 0.0 {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
}

/// `C[0..rows, 0..cols] <- alpha * A_sliver * B_sliver + beta * C[..]` for the `4 x 4` tile
/// of column-packed slivers (`A_RS == 1`, `A_CS == 4`, `B_RS == 4`), as
/// [`microkernel`](super::microkernel::microkernel).
///
/// # Safety
/// As for the microkernel: `a..a + 4k` and `b..b + 4k` are readable, `rows <= 4`,
/// `cols <= 4`, and `c + i * rsc + j * csc` is a valid, unaliased element for every
/// `i < rows`, `j < cols`.
#[inline(always)]
unsafe fn tile_4x4(
    k: usize,
    (alpha, a, b, beta, c): Args<f32>,
    (rsc, csc): (usize, usize),
    (rows, cols): (usize, usize),
) {
    if rows == 4 && cols == 4 && csc == 1 {
        let mode = if beta == 0.0 { 1 } else { 2 };
        // SAFETY: the kernel reads `4k` values from `a` and `b` (readable by the contract)
        // and writes (mode 2: first reads) the four rows of the whole tile, each 4
        // contiguous elements (`csc == 1`) `rsc` apart, all inside C.
        unsafe { nchw_gemm_m4f_tile_4x4(a, b, k, c, rsc.wrapping_mul(4), mode, alpha, beta) };
        return;
    }
    // An edge tile, or C with strided columns: the tile goes through the stack.
    let mut tile = [0.0f32; 16];
    // SAFETY: the kernel reads `4k` values from `a` and `b` and writes the 16 of `tile`.
    unsafe { nchw_gemm_m4f_tile_4x4(a, b, k, tile.as_mut_ptr(), 0, 0, alpha, beta) };
    for (i, row) in tile.chunks_exact(4).enumerate().take(rows) {
        for (j, &x) in row.iter().enumerate().take(cols) {
            // SAFETY: `i < rows`, `j < cols`: a valid element of C by the contract.
            let p = unsafe { c.add(i * rsc + j * csc) };
            // SAFETY: as above.
            unsafe { *p = if beta == 0.0 { x } else { x + beta * *p } };
        }
    }
}
