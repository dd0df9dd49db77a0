//! The per-element-type entry point of every GEMM microkernel, chosen by [`Isa`].

use super::portable::{self, Scalar};
use super::view::{MatMut, MatRef};
use super::{blocking, nest};
use crate::isa::Isa;

/// Per-element-type entry points of every kernel; a supertrait of the sealed
/// [`Element`](crate::Element), so it cannot be named or called outside the crate.
pub trait Dispatch: Sized {
    /// Runs the product on `isa`'s microkernel (non-empty operands whose dimensions agree).
    ///
    /// # Safety
    /// `isa.is_available()`.
    #[doc(hidden)]
    unsafe fn gemm_on(
        isa: Isa,
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        beta: Self,
        c: MatMut<'_, Self>,
        scratch: &mut [Self],
    );
}

/// The `f32` kernel of targets without SIMD: on M-profile cores with an FPU, the portable tile
/// in assembly.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
type ScalarF32 = super::cortex_m::M4f;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
type ScalarF32 = Scalar<f32>;

macro_rules! dispatch {
    ($t:ty, $scalar:ty, $kc:expr, $avx512:ident, $avx2:ident, $sse2:ident, $neon:ident) => {
        impl Dispatch for $t {
            #[allow(unreachable_patterns)]
            unsafe fn gemm_on(
                isa: Isa,
                alpha: $t,
                a: MatRef<'_, $t>,
                b: MatRef<'_, $t>,
                beta: $t,
                c: MatMut<'_, $t>,
                scratch: &mut [$t],
            ) {
                debug_assert!(isa.is_available());
                // SAFETY (every arm): the caller guarantees the kernel's instruction set is
                // available; the portable kernel needs none.
                match isa {
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Avx512 => unsafe { super::x86::$avx512(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Avx2 => unsafe { super::x86::$avx2(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Sse2 => unsafe { super::x86::$sse2(alpha, a, b, beta, c, scratch) },
                    #[cfg(all(target_arch = "aarch64", not(miri)))]
                    Isa::Neon => unsafe { super::aarch64::$neon(alpha, a, b, beta, c, scratch) },
                    _ => unsafe {
                        nest::gemm::<
                            $scalar,
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
    ScalarF32,
    blocking::F32.kc,
    avx512_f32,
    avx2_f32,
    sse2_f32,
    neon_f32
);
dispatch!(
    f64,
    Scalar<f64>,
    blocking::F64.kc,
    avx512_f64,
    avx2_f64,
    sse2_f64,
    neon_f64
);
