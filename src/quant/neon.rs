//! int8 dot products on aarch64: a block of filters by patches, each operand loaded once
//! per step, in two [`Dots`] kernels of one body.
//!
//! - [`Widening`], on every aarch64 CPU (NEON is the baseline): `smull` and `smull2`
//!   multiply 8 byte pairs each into `i16` lanes, one product per lane (`|x * w| <= 2^14`;
//!   a second product added in 16 bits, as `smlal` would, overflows at `2 * (-128)^2 =
//!   2^15`), and `sadalp` adds each pair of lanes into an `i32` accumulator: four
//!   instructions per 16 products.
//! - [`Sdot`], on CPUs with the dot-product extension (FEAT_DotProd: optional from Armv8.2,
//!   required from Armv8.4; Cortex-A55, A75 and later, Neoverse, Apple M1 and later):
//!   `sdot` multiplies 16 byte pairs and adds each four into an `i32` lane, one instruction
//!   for the four above. Inline assembly: `vdotq_s32` is not stable in `core::arch`.
//!
//! A block of [`FILTERS`] filters by [`PATCHES`] patches keeps 8 accumulators and 6 operands
//! in 14 of the 32 vector registers. Patches step 16 bytes at a time, then 8 (the upper
//! half zero), and the last 7 or fewer bytes are summed one by one.
//!
//! The NEON build runs [`Sdot`] where
//! [`neon_dotprod`](crate::arch::neon_dotprod) says the CPU has it, else [`Widening`].

use core::arch::aarch64::{
    int32x4_t, int8x16_t, vaddvq_s32, vcombine_s8, vdup_n_s8, vdupq_n_s32, vget_low_s8, vld1_s8,
    vld1q_s8, vmull_high_s8, vmull_s8, vpadalq_s16,
};
use core::arch::asm;

use super::conv::{BlockSums, Dots, FilterPtrs, PatchPtrs, FILTERS, PATCHES};

/// The baseline NEON kernel: widening multiplies, pairwise widening adds.
pub(super) struct Widening;

/// The dot-product extension's kernel: `sdot`.
pub(super) struct Sdot;

impl Dots for Widening {
    /// Needs NEON.
    #[target_feature(enable = "neon")]
    unsafe fn dots(w: FilterPtrs, x: PatchPtrs, k: usize) -> BlockSums {
        // One product per `i16` lane, each lane pair added into an `i32` lane.
        let mac = |acc, w: int8x16_t, x: int8x16_t| {
            let low = vmull_s8(vget_low_s8(w), vget_low_s8(x));
            vpadalq_s16(vpadalq_s16(acc, low), vmull_high_s8(w, x))
        };
        // SAFETY: the caller's pointers; NEON is this function's.
        unsafe { block(w, x, k, mac) }
    }
}

impl Dots for Sdot {
    /// Needs NEON and the dot-product extension.
    #[target_feature(enable = "neon,dotprod")]
    unsafe fn dots(w: FilterPtrs, x: PatchPtrs, k: usize) -> BlockSums {
        let mac = |mut acc: int32x4_t, w: int8x16_t, x: int8x16_t| {
            // SAFETY: the caller's CPU has the dot-product extension; `sdot` reads and
            // writes the three vector registers only.
            unsafe {
                asm!(
                    "sdot {acc:v}.4s, {w:v}.16b, {x:v}.16b",
                    acc = inout(vreg) acc,
                    w = in(vreg) w,
                    x = in(vreg) x,
                    options(pure, nomem, nostack, preserves_flags),
                );
            }
            acc
        };
        // SAFETY: the caller's pointers and CPU.
        unsafe { block(w, x, k, mac) }
    }
}

/// `dots[f][p] = sum(w[f][i] * x[p][i])` over `i < k`, in `i32`, with `mac(acc, w, x)`
/// adding the products of 16 byte pairs into the four lanes of `acc`. Inlined into its
/// instruction set's wrapper.
///
/// # Safety
/// The CPU has NEON and whatever `mac` runs; each `w[f]` and `x[p]` points to `k` readable
/// bytes.
#[inline(always)]
unsafe fn block(
    w: [*const i8; FILTERS],
    x: [*const i8; PATCHES],
    k: usize,
    mac: impl Fn(int32x4_t, int8x16_t, int8x16_t) -> int32x4_t,
) -> [[i32; PATCHES]; FILTERS] {
    let step = |acc: &mut [[int32x4_t; PATCHES]; FILTERS], ws: [int8x16_t; FILTERS], xs| {
        for (acc, wf) in acc.iter_mut().zip(ws) {
            for (a, xp) in acc.iter_mut().zip(xs) {
                *a = mac(*a, wf, xp);
            }
        }
    };
    // SAFETY: the 16-byte loads read bytes `16 s .. 16 s + 16 <= k` of an operand, the
    // 8-byte ones bytes `16 * steps .. 16 * steps + 8 <= k`, the scalar ones bytes `done ..
    // k`: all within the `k` the caller guarantees. NEON is the caller's.
    unsafe {
        let mut acc = [[vdupq_n_s32(0); PATCHES]; FILTERS];
        let steps = k / 16;
        for s in 0..steps {
            let load = |p: *const i8| vld1q_s8(p.add(16 * s));
            step(&mut acc, w.map(load), x.map(load));
        }
        let mut done = 16 * steps;
        if k - done >= 8 {
            // 8 bytes in the low half, zeros in the high one.
            let load = |p: *const i8| vcombine_s8(vld1_s8(p.add(done)), vdup_n_s8(0));
            step(&mut acc, w.map(load), x.map(load));
            done += 8;
        }
        let mut dots = [[0i32; PATCHES]; FILTERS];
        for ((dots, acc), wf) in dots.iter_mut().zip(&acc).zip(w) {
            for ((d, &a), xp) in dots.iter_mut().zip(acc).zip(x) {
                let mut sum = vaddvq_s32(a);
                for i in done..k {
                    let (wi, xi) = (*wf.add(i), *xp.add(i));
                    sum = sum.wrapping_add(i32::from(wi) * i32::from(xi));
                }
                *d = sum;
            }
        }
        dots
    }
}

#[cfg(test)]
mod tests {
    use super::{Dots, Sdot, Widening, FILTERS, PATCHES};

    /// Both kernels against the scalar dot product, at every length up to 70 (16-byte
    /// steps, the 8-byte one, every tail), on extreme bytes (where 16-bit sums of two
    /// products overflow) and mixed ones; `sdot` only where the CPU has it.
    #[test]
    fn kernels_match_the_scalar_dot() {
        const LEN: usize = 70;
        let mut s = 0x9E37_79B9u32;
        let mut next = || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as i8
        };
        let mixed: [[i8; LEN]; FILTERS + PATCHES] =
            core::array::from_fn(|_| core::array::from_fn(|_| next()));
        let low = [[i8::MIN; LEN]; FILTERS + PATCHES];
        let high: [[i8; LEN]; FILTERS + PATCHES] =
            core::array::from_fn(|r| [if r < FILTERS { i8::MIN } else { i8::MAX }; LEN]);
        let sdot = crate::arch::neon_dotprod();
        for data in [&mixed, &low, &high] {
            let w = core::array::from_fn(|f| data[f].as_ptr());
            let x = core::array::from_fn(|p| data[FILTERS + p].as_ptr());
            for k in 0..=LEN {
                let want: [[i32; PATCHES]; FILTERS] = core::array::from_fn(|f| {
                    core::array::from_fn(|p| {
                        super::super::conv::dot(&data[f][..k], &data[FILTERS + p][..k])
                    })
                });
                // SAFETY: NEON is the aarch64 baseline; every row holds `LEN >= k` bytes.
                assert_eq!(
                    unsafe { Widening::dots(w, x, k) },
                    want,
                    "widening, k = {k}"
                );
                if sdot {
                    // SAFETY: as above, and the CPU has the dot-product extension.
                    assert_eq!(unsafe { Sdot::dots(w, x, k) }, want, "sdot, k = {k}");
                }
            }
        }
    }
}
