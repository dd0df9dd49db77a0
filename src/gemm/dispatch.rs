//! Kernel selection: which microkernel family runs, detected once at run time and cached.

#[cfg(all(target_arch = "x86_64", not(miri)))]
use core::sync::atomic::{AtomicU8, Ordering};

use super::portable::{self, Scalar};
use super::view::{MatMut, MatRef};
use super::{blocking, nest};

/// A GEMM microkernel family.
///
/// [`gemm`](crate::gemm()) runs [`Kernel::best`]; [`gemm_with_kernel`](crate::gemm_with_kernel)
/// runs a chosen one, which is how tests and benchmarks cover every kernel a CPU supports.
///
/// ```
/// use nchw::Kernel;
/// let best = Kernel::best();
/// assert!(best.is_available() && Kernel::Portable.is_available());
/// assert!(Kernel::ALL.contains(&best));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kernel {
    /// Scalar code for any target: a 4 x 4 tile kept in registers.
    Portable,
    /// x86_64 SSE2 (baseline on x86_64): a 4 x 8 `f32` / 4 x 4 `f64` tile.
    Sse2,
    /// x86_64 AVX2 with FMA: a 6 x 16 `f32` / 6 x 8 `f64` tile.
    Avx2,
    /// x86_64 AVX-512F: a 12 x 32 `f32` / 12 x 16 `f64` tile.
    Avx512,
    /// aarch64 NEON: an 8 x 8 `f32` / 8 x 4 `f64` tile.
    Neon,
}

/// The detected best kernel as `index + 1` into [`Kernel::ALL`]; 0 until first detected.
#[cfg(all(target_arch = "x86_64", not(miri)))]
static BEST: AtomicU8 = AtomicU8::new(0);

impl Kernel {
    /// Every kernel family, available here or not.
    pub const ALL: [Kernel; 5] = [
        Kernel::Portable,
        Kernel::Sse2,
        Kernel::Avx2,
        Kernel::Avx512,
        Kernel::Neon,
    ];

    /// The kernel's name, e.g. `"avx512"`.
    ///
    /// ```
    /// assert_eq!(nchw::Kernel::Avx2.name(), "avx2");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            Kernel::Sse2 => "sse2",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
        }
    }

    /// The fastest kernel this CPU runs.
    ///
    /// On x86_64 the CPU is asked once (CPUID, and XGETBV for the OS-enabled register
    /// state) and the answer cached; features enabled at compile time skip the question.
    /// Under Miri this is always [`Kernel::Portable`].
    ///
    /// ```
    /// assert!(nchw::Kernel::best().is_available());
    /// ```
    pub fn best() -> Kernel {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        {
            let cached = BEST.load(Ordering::Relaxed);
            if let Some(&kernel) = Kernel::ALL.get(usize::from(cached).wrapping_sub(1)) {
                return kernel;
            }
            let kernel = match super::x86::detect() {
                (true, _) => Kernel::Avx512,
                (false, true) => Kernel::Avx2,
                (false, false) => Kernel::Sse2,
            };
            let index = Kernel::ALL.iter().position(|&k| k == kernel).unwrap_or(0);
            // Racing first calls store the same value.
            BEST.store(index as u8 + 1, Ordering::Relaxed);
            kernel
        }
        #[cfg(all(target_arch = "aarch64", target_feature = "neon", not(miri)))]
        {
            Kernel::Neon
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", not(miri)),
            all(target_arch = "aarch64", target_feature = "neon", not(miri))
        )))]
        {
            Kernel::Portable
        }
    }

    /// Whether this kernel can run on this CPU (and was compiled for this target).
    ///
    /// ```
    /// use nchw::Kernel;
    /// assert!(Kernel::Portable.is_available());
    /// assert!(!(Kernel::Avx512.is_available() && Kernel::Neon.is_available()));
    /// ```
    pub fn is_available(self) -> bool {
        let best = Kernel::best();
        match self {
            Kernel::Portable => true,
            Kernel::Sse2 => matches!(best, Kernel::Sse2 | Kernel::Avx2 | Kernel::Avx512),
            Kernel::Avx2 => matches!(best, Kernel::Avx2 | Kernel::Avx512),
            Kernel::Avx512 => best == Kernel::Avx512,
            Kernel::Neon => best == Kernel::Neon,
        }
    }
}

/// Per-element-type entry points of every kernel; a supertrait of the sealed
/// [`Element`](crate::Element), so it cannot be named or called outside the crate.
pub trait Dispatch: Sized {
    /// Runs the product on `kernel` (non-empty operands whose dimensions agree).
    ///
    /// # Safety
    /// `kernel.is_available()`.
    #[doc(hidden)]
    unsafe fn gemm_on(
        kernel: Kernel,
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        beta: Self,
        c: MatMut<'_, Self>,
        scratch: &mut [Self],
    );
}

macro_rules! dispatch {
    ($t:ty, $kc:expr, $avx512:ident, $avx2:ident, $sse2:ident, $neon:ident) => {
        impl Dispatch for $t {
            #[allow(unreachable_patterns)]
            unsafe fn gemm_on(
                kernel: Kernel,
                alpha: $t,
                a: MatRef<'_, $t>,
                b: MatRef<'_, $t>,
                beta: $t,
                c: MatMut<'_, $t>,
                scratch: &mut [$t],
            ) {
                debug_assert!(kernel.is_available());
                // SAFETY (every arm): the caller guarantees the kernel's instruction set is
                // available; the portable kernel needs none.
                match kernel {
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Kernel::Avx512 => unsafe { super::x86::$avx512(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Kernel::Avx2 => unsafe { super::x86::$avx2(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Kernel::Sse2 => unsafe { super::x86::$sse2(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "aarch64", not(miri)))]
                    Kernel::Neon => unsafe { super::aarch64::$neon(alpha, a, b, beta, c, scratch) },
                    _ => unsafe {
                        nest::gemm::<
                            Scalar<$t>,
                            { portable::MR },
                            { portable::NR },
                            { portable::NR },
                            { $kc },
                        >(alpha, a, b, beta, c, scratch)
                    },
                }
            }
        }
    };
}

dispatch!(
    f32,
    blocking::F32.kc,
    avx512_f32,
    avx2_f32,
    sse2_f32,
    neon_f32
);
dispatch!(
    f64,
    blocking::F64.kc,
    avx512_f64,
    avx2_f64,
    sse2_f64,
    neon_f64
);
