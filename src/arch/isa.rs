//! The instruction sets the kernels are compiled for, detected once at run time.
//!
//! Every kernel family dispatches on one [`Isa`], found without `std`: CPUID and XGETBV on
//! x86_64, asked once and cached in an atomic, and skipped when the features are enabled at
//! compile time. On aarch64 NEON is the baseline; the dot-product extension, which only the
//! int8 convolution uses, is found the same way on Linux, from the kernel's hardware
//! capabilities (`neon_dotprod`).

#[cfg(any(
    all(target_arch = "x86_64", not(miri)),
    all(target_arch = "aarch64", target_os = "linux", not(miri))
))]
use core::sync::atomic::{AtomicU8, Ordering};

use crate::error::Error;

/// An instruction set the kernels have a build for.
///
/// Operations run on [`Isa::best`] unless their geometry was given another with `with_isa`
/// ([`Gemm::with_isa`](crate::Gemm::with_isa), [`Conv2d::with_isa`](crate::Conv2d::with_isa),
/// [`Pool2d::with_isa`](crate::Pool2d::with_isa)): one mechanism, per call, so tests and
/// benchmarks prove every build on every CPU that has it. Every build gives results equal
/// up to rounding (pooling: identical).
///
/// ```
/// use nchw::{Isa, Pool2d, Rounding, Shape, Window};
/// let pool = Pool2d::new(Shape::new(1, 1, 4, 4)?, Window::pool(2), Rounding::Floor)?;
/// for isa in Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
///     let mut y = [0.0f32; 4];
///     nchw::max_pool2d(&pool.with_isa(isa)?, &[1.0; 16], &mut y)?;
///     assert_eq!(y, [1.0; 4]);
/// }
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Plain Rust for any target (Cortex-M, RISC-V, wasm, and Miri).
    Portable,
    /// x86_64 SSE2, the x86_64 baseline.
    Sse2,
    /// x86_64 AVX2 with FMA.
    Avx2,
    /// x86_64 AVX-512 F, BW, DQ and VL (with AVX2 and FMA). Where the CPU also has AVX-512
    /// VNNI, the int8 convolution runs its `vpdpbusd` kernel on this build.
    Avx512,
    /// aarch64 NEON, the aarch64 baseline. Where the CPU also has the dot-product extension
    /// (`sdot`), the int8 convolution runs its `sdot` kernel on this build.
    Neon,
}

/// The detected best ISA as `index + 1` into [`Isa::ALL`] (bits 0-3), and [`VNNI`] if the
/// CPU has AVX-512 VNNI; 0 until first detected.
#[cfg(all(target_arch = "x86_64", not(miri)))]
static BEST: AtomicU8 = AtomicU8::new(0);

/// [`BEST`]'s flag for AVX-512 VNNI.
#[cfg(all(target_arch = "x86_64", not(miri)))]
const VNNI: u8 = 1 << 4;

impl Isa {
    /// Every instruction set, available here or not.
    pub const ALL: [Isa; 5] = [Isa::Portable, Isa::Sse2, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// The name, e.g. `"avx512"`.
    ///
    /// ```
    /// assert_eq!(nchw::Isa::Avx2.name(), "avx2");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Sse2 => "sse2",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// The fastest instruction set this CPU runs. Under Miri, always [`Isa::Portable`].
    ///
    /// ```
    /// assert!(nchw::Isa::best().is_available());
    /// ```
    pub fn best() -> Isa {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            let index = usize::from(detected() & 0xf).wrapping_sub(1);
            Isa::ALL.get(index).copied().unwrap_or(Isa::Sse2)
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon", not(miri)))]
        {
            Isa::Neon
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", not(miri)),
            all(target_arch = "aarch64", target_feature = "neon", not(miri))
        )))]
        {
            Isa::Portable
        }
    }

    /// Whether this CPU can run code built for this instruction set (and this target has
    /// such a build).
    ///
    /// ```
    /// use nchw::Isa;
    /// assert!(Isa::Portable.is_available());
    /// assert!(!(Isa::Avx512.is_available() && Isa::Neon.is_available()));
    /// ```
    pub fn is_available(self) -> bool {
        self.check().is_ok()
    }

    /// `Ok(self)` if this CPU can run it, else [`Error::IsaUnavailable`].
    ///
    /// ```
    /// use nchw::{Error, Isa};
    /// assert_eq!(Isa::Portable.check(), Ok(Isa::Portable));
    /// if !Isa::Neon.is_available() {
    ///     assert_eq!(Isa::Neon.check(), Err(Error::IsaUnavailable { isa: "neon" }));
    /// }
    /// ```
    pub fn check(self) -> Result<Isa, Error> {
        let best = Isa::best();
        let available = match self {
            Isa::Portable => true,
            Isa::Sse2 | Isa::Avx2 | Isa::Avx512 => {
                best != Isa::Neon && Isa::Sse2 <= self && self <= best
            }
            Isa::Neon => best == Isa::Neon,
        };
        if available {
            Ok(self)
        } else {
            Err(Error::IsaUnavailable { isa: self.name() })
        }
    }
}

/// [`BEST`], detecting on the first call.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn detected() -> u8 {
    let cached = BEST.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    let (isa, vnni) = x86::detect();
    let index = Isa::ALL.iter().position(|&i| i == isa).unwrap_or(0);
    let value = (index as u8 + 1) | if vnni { VNNI } else { 0 };
    // Racing first calls store the same value.
    BEST.store(value, Ordering::Relaxed);
    value
}

/// Whether the [`Isa::Avx512`] build may use AVX-512 VNNI (`vpdpbusd`): the int8
/// convolution's fastest kernel. Not a tier of its own: the int8 results are exact on every
/// build, and no other family has a use for it.
#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) fn avx512_vnni() -> bool {
    detected() & VNNI != 0
}

/// Whether the [`Isa::Neon`] build may use the dot-product extension (FEAT_DotProd, `sdot`):
/// the int8 convolution's faster kernel, exact as the other. Not a tier of its own, as VNNI
/// is not on x86_64.
///
/// Known at compile time where the target enables `dotprod` (`-C target-cpu=native` on such
/// a CPU, or `-C target-feature=+dotprod`). Otherwise, on Linux, asked once of the kernel
/// and cached: the `HWCAP_ASIMDDP` bit of `AT_HWCAP` in the process's auxiliary vector, from
/// the C library's `getauxval`, as `std` asks it. On other systems `false` (reading
/// `ID_AA64ISAR0_EL1` directly traps outside Linux and on old Linux kernels): build with
/// `dotprod` enabled there.
#[cfg(all(target_arch = "aarch64", not(miri)))]
pub(crate) fn neon_dotprod() -> bool {
    if cfg!(target_feature = "dotprod") {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        /// 0 until first asked, then 1 without the extension, 2 with it.
        static DOTPROD: AtomicU8 = AtomicU8::new(0);
        let cached = DOTPROD.load(Ordering::Relaxed);
        if cached != 0 {
            return cached == 2;
        }
        let has = linux::hwcap() & linux::HWCAP_ASIMDDP != 0;
        // Racing first calls store the same value.
        DOTPROD.store(1 + u8::from(has), Ordering::Relaxed);
        has
    }
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(all(target_arch = "aarch64", target_os = "linux", not(miri)))]
mod linux {
    use core::ffi::c_ulong;

    /// The auxiliary vector's key of the hardware capabilities.
    const AT_HWCAP: c_ulong = 16;
    /// `AT_HWCAP`'s bit for the dot-product instructions (`asm/hwcap.h`).
    pub(super) const HWCAP_ASIMDDP: c_ulong = 1 << 20;

    extern "C" {
        /// The C library's reader of the auxiliary vector the kernel gave this process
        /// (glibc 2.16 and later, musl, bionic: every C library a Linux target links; `std`'s
        /// feature detection asks it too); 0 for a key it does not hold.
        fn getauxval(kind: c_ulong) -> c_ulong;
    }

    /// `AT_HWCAP` of this process's auxiliary vector.
    pub(super) fn hwcap() -> c_ulong {
        // SAFETY: `getauxval` reads the process's auxiliary vector and nothing else, from
        // any thread.
        unsafe { getauxval(AT_HWCAP) }
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86 {
    use super::Isa;
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};

    /// The best of SSE2, AVX2 + FMA and AVX-512 F/BW/DQ/VL that the CPU has and the OS
    /// saves the registers of, and with AVX-512 whether it has VNNI.
    #[allow(unused_unsafe)] // `__cpuid` is safe only since Rust 1.94
    pub(super) fn detect() -> (Isa, bool) {
        if cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512dq",
            target_feature = "avx512vl",
            target_feature = "avx512vnni",
            target_feature = "avx2",
            target_feature = "fma"
        )) {
            return (Isa::Avx512, true);
        }
        // CPUID leaf 1 ECX: bit 12 FMA, bit 27 OSXSAVE, bit 28 AVX. Leaf 7 EBX: bit 5 AVX2,
        // bit 16 AVX512F, bit 17 AVX512DQ, bit 30 AVX512BW, bit 31 AVX512VL; ECX: bit 11
        // AVX512_VNNI.
        // SAFETY: CPUID exists on every x86_64 CPU.
        let (max_leaf, ecx1) = unsafe { (__cpuid(0).eax, __cpuid(1).ecx) };
        let bit = |r: u32, b: u32| r >> b & 1 == 1;
        if max_leaf < 7 || !bit(ecx1, 27) || !bit(ecx1, 28) || !bit(ecx1, 12) {
            return (Isa::Sse2, false);
        }
        // SAFETY: OSXSAVE (checked above) says the OS enabled XSAVE, so XGETBV exists.
        let xcr0 = unsafe { xgetbv0() };
        // SAFETY: CPUID exists on every x86_64 CPU, and leaf 7 is listed (max_leaf >= 7).
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        let ebx7 = leaf7.ebx;
        // XCR0 bits 1-2: SSE and AVX state; bits 5-7: opmask and both ZMM halves.
        if xcr0 & 0b110 != 0b110 || !bit(ebx7, 5) {
            return (Isa::Sse2, false);
        }
        let avx512 = [16, 17, 30, 31].iter().all(|&b| bit(ebx7, b));
        if avx512 && xcr0 & 0b1110_0110 == 0b1110_0110 {
            (Isa::Avx512, bit(leaf7.ecx, 11))
        } else {
            (Isa::Avx2, false)
        }
    }

    /// XCR0, the OS-enabled register state.
    ///
    /// # Safety
    /// The CPU supports XSAVE and the OS enabled it (CPUID.1:ECX.OSXSAVE).
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        // SAFETY: the caller checked OSXSAVE.
        unsafe { _xgetbv(0) }
    }
}

#[cfg(all(test, target_arch = "aarch64", target_os = "linux", not(miri)))]
mod tests {
    extern crate std;

    /// The auxiliary vector read without libc says what `std`'s detection says, on CPUs with
    /// and without the extension (CI runs both under QEMU).
    #[test]
    fn dotprod_detection_agrees_with_std() {
        let std = std::arch::is_aarch64_feature_detected!("dotprod");
        assert_eq!(super::neon_dotprod(), std);
        // Cached: the same answer again.
        assert_eq!(super::neon_dotprod(), std);
    }
}
