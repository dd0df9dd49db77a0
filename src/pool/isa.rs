//! Which build the pooling loops run: the geometry's instruction set, through the arch layer.
//!
//! The loops in [`super::rows`] are plain Rust written so that the compiler vectorizes them
//! across the output width; [`run`] compiles them inside the instruction set's
//! `#[target_feature]` wrapper (on x86_64: baseline SSE2, AVX2 and AVX-512). The NaN and tie
//! rules are in the source, not in the instructions, so every build gives bit-identical
//! results. On AVX-512, `f32` windows of column stride 2 also use the hand-written kernels of
//! `avx512.rs` (same rules, same results).

use super::Pool2d;
use crate::arch::{self, Isa};

/// Runs `f` compiled for the geometry's instruction set. `f` and everything it calls must be
/// `#[inline(always)]` so that it is compiled inside the wrapper.
#[inline(always)]
pub(super) fn run<R>(g: &Pool2d, f: impl FnOnce() -> R) -> R {
    // SAFETY: a geometry's instruction set is available (`with_isa` checks it, or detected).
    unsafe { arch::run(g.isa(), f) }
}

/// Whether the AVX-512 stride-2 kernels ([`super::avx512`]) serve an operation on `T` over
/// `geo` on `isa`: `f32`, AVX-512, and a window they handle.
#[cfg_attr(
    not(all(target_arch = "x86_64", not(miri))),
    allow(clippy::extra_unused_type_parameters) // only the x86_64 build asks about `T`
)]
pub(super) fn stride2_kernels<T: crate::element::Element>(
    isa: Isa,
    geo: &super::rows::Geo,
) -> bool {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    return super::avx512::is_f32::<T>() && isa == Isa::Avx512 && geo.stride2_taps().is_some();
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    {
        let _ = (isa, geo);
        false
    }
}
