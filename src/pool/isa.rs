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

/// An instruction-set tier for the pooling kernels.
///
/// ```
/// use nchw::{pool_isa, set_pool_isa, PoolIsa};
/// let best = pool_isa(); // what this CPU supports, detected on first use
/// assert_eq!(set_pool_isa(PoolIsa::Portable), PoolIsa::Portable);
/// assert_eq!(set_pool_isa(PoolIsa::Avx512), best); // capped at what the CPU has
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PoolIsa {
    /// The target's baseline instructions (SSE2 on x86_64); every target has it.
    Portable = 1,
    /// x86_64 with AVX2 and FMA.
    Avx2 = 2,
    /// x86_64 with AVX-512 F, BW, DQ and VL.
    Avx512 = 3,
}

/// The tier in use; 0 until first detected.
static CHOICE: AtomicU8 = AtomicU8::new(0);

/// The tier the pooling kernels run on: the best the CPU supports, unless lowered with
/// [`set_pool_isa`]. Detection runs once (CPUID on x86_64) and is cached.
pub fn pool_isa() -> PoolIsa {
    match CHOICE.load(Ordering::Relaxed) {
        0 => {
            let best = detect();
            CHOICE.store(best as u8, Ordering::Relaxed);
            best
        }
        3 => PoolIsa::Avx512,
        2 => PoolIsa::Avx2,
        _ => PoolIsa::Portable,
    }
}

/// Makes the pooling kernels run on `want`, or on the best tier the CPU has if that is lower,
/// and returns the tier now in use. For testing and benchmarking every code path: results
/// are identical on every tier.
pub fn set_pool_isa(want: PoolIsa) -> PoolIsa {
    let tier = want.min(detect());
    CHOICE.store(tier as u8, Ordering::Relaxed);
    tier
}

/// The best tier this CPU and OS support.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn detect() -> PoolIsa {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    // CPUID leaf 1 ECX: bit 12 FMA, bit 27 OSXSAVE, bit 28 AVX. Leaf 7 EBX: bit 5 AVX2,
    // bit 16 AVX512F, bit 17 AVX512DQ, bit 30 AVX512BW, bit 31 AVX512VL. XCR0: bits 1-2
    // SSE/AVX state, bits 5-7 AVX-512 state, enabled by the OS.
    // SAFETY: CPUID exists on every x86_64 CPU (the intrinsic is `unsafe` before Rust 1.91).
    #[allow(unused_unsafe)]
    let (max_leaf, ecx1) = unsafe { (__cpuid(0).eax, __cpuid(1).ecx) };
    let bit = |r: u32, b: u32| r >> b & 1 == 1;
    if max_leaf < 7 || !bit(ecx1, 27) || !bit(ecx1, 28) || !bit(ecx1, 12) {
        return PoolIsa::Portable;
    }
    // SAFETY: OSXSAVE (checked above) means XGETBV is available and enabled.
    let xcr0 = unsafe { _xgetbv(0) };
    // SAFETY: as above; leaf 7 exists (max_leaf >= 7).
    #[allow(unused_unsafe)]
    let ebx7 = unsafe { __cpuid_count(7, 0).ebx };
    if xcr0 & 0b110 != 0b110 || !bit(ebx7, 5) {
        return PoolIsa::Portable;
    }
    let avx512 = [16, 17, 30, 31].iter().all(|&b| bit(ebx7, b));
    if avx512 && xcr0 & 0b1110_0110 == 0b1110_0110 {
        PoolIsa::Avx512
    } else {
        PoolIsa::Avx2
    }
}

/// The best tier this target supports: the portable build.
#[cfg(not(all(target_arch = "x86_64", not(miri))))]
fn detect() -> PoolIsa {
    PoolIsa::Portable
}

/// Runs `f` compiled for the tier [`pool_isa`] chose. `f` and everything it calls must be
/// `#[inline(always)]` so that it is compiled inside the wrapper.
#[inline(always)]
pub(super) fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    match pool_isa() {
        // SAFETY: pool_isa() returns Avx512 only when CPUID and XCR0 report AVX-512 F, BW,
        // DQ, VL, AVX2 and FMA, all the features the wrapper enables.
        PoolIsa::Avx512 => unsafe { avx512(f) },
        // SAFETY: pool_isa() returns Avx2 only when CPUID and XCR0 report AVX2 and FMA.
        PoolIsa::Avx2 => unsafe { avx2(f) },
        PoolIsa::Portable => f(),
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
pub(super) fn stride2_kernels<T: crate::element::Element>(geo: &super::rows::Geo) -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    return super::avx512::is_f32::<T>()
        && pool_isa() == PoolIsa::Avx512
        && geo.stride2_taps().is_some();
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        let _ = geo;
        false
    }
}
