//! Which instruction set the pooling loops are compiled for, chosen once at run time.
//!
//! The loops in [`super::rows`] are plain Rust written so that the compiler vectorizes them
//! across the output width. [`dispatch`] runs an operation inside a `#[target_feature]`
//! wrapper, so the same source is compiled three times on x86_64: baseline (SSE2), AVX2 and
//! AVX-512. The NaN and tie rules are in the source, not in the instructions, so every tier
//! gives bit-identical results. On the AVX-512 tier, `f32` windows of column stride 2 also use
//! the hand-written kernels of `avx512.rs` (same rules, same results). Other targets
//! (Cortex-M, AArch64, ...) and Miri always run the portable build.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::isa::Isa;

/// The pooling override as `index + 1` into [`Isa::ALL`]; 0 for [`Isa::best`].
static CHOICE: AtomicU8 = AtomicU8::new(0);

/// The instruction set the pooling kernels run on: [`Isa::best`], unless changed with
/// [`set_pool_isa`]. On x86_64, SSE2 runs the baseline build; only AVX2 and AVX-512 have
/// builds of their own.
pub fn pool_isa() -> Isa {
    match Isa::ALL.get(usize::from(CHOICE.load(Ordering::Relaxed)).wrapping_sub(1)) {
        Some(&isa) => isa,
        None => Isa::best(),
    }
}

/// Makes the pooling kernels run on `want`, or on [`Isa::best`] if this CPU cannot run it,
/// and returns the instruction set now in use. For testing and benchmarking every code path:
/// results are identical on every one.
///
/// ```
/// use nchw::{set_pool_isa, Isa};
/// assert_eq!(set_pool_isa(Isa::Portable), Isa::Portable);
/// assert_eq!(set_pool_isa(Isa::best()), Isa::best());
/// ```
pub fn set_pool_isa(want: Isa) -> Isa {
    let isa = if want.is_available() {
        want
    } else {
        Isa::best()
    };
    let index = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
    CHOICE.store(index as u8 + 1, Ordering::Relaxed);
    isa
}

/// Runs `f` compiled for the tier [`pool_isa`] chose. `f` and everything it calls must be
/// `#[inline(always)]` so that it is compiled inside the wrapper.
#[inline(always)]
pub(super) fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    match pool_isa() {
        // SAFETY: pool_isa() is Isa::best() or an available ISA; Avx512 is available only
        // when CPUID and XCR0 report AVX-512 F, BW, DQ, VL, AVX2 and FMA, all the features
        // the wrapper enables.
        Isa::Avx512 => unsafe { avx512(f) },
        // SAFETY: as above; Avx2 is available only when CPUID and XCR0 report AVX2 and FMA.
        Isa::Avx2 => unsafe { avx2(f) },
        _ => f(),
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    f()
}

/// `f()` compiled with AVX-512.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()` compiled with AVX2.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[target_feature(enable = "avx2,fma")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Whether the AVX-512 stride-2 kernels ([`super::avx512`]) serve an operation on `T` over
/// `geo`: `f32`, the AVX-512 tier, and a window they handle.
#[cfg_attr(
    not(all(target_arch = "x86_64", not(miri))),
    allow(clippy::extra_unused_type_parameters) // only the x86_64 build asks about `T`
)]
pub(super) fn stride2_kernels<T: crate::element::Element>(geo: &super::rows::Geo) -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    return super::avx512::is_f32::<T>()
        && pool_isa() == Isa::Avx512
        && geo.stride2_taps().is_some();
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        let _ = geo;
        false
    }
}
