//! Which build the pooling loops run: the geometry's instruction set, through the arch layer.
//!
//! The loops in [`super::rows`] are plain Rust written so that the compiler vectorizes them
//! across the output width; [`run`] compiles them inside the instruction set's
//! `#[target_feature]` wrapper (on x86_64: baseline SSE2, AVX2 and AVX-512). The NaN and tie
//! rules are in the source, not in the instructions, so every build gives bit-identical
//! results. `f32` windows of column stride 2 also use the kernels of [`super::stride2`] where
//! the target has them (same rules, same results).

use super::Pool2d;
use crate::arch;

/// Runs `f` compiled for the geometry's instruction set. `f` and everything it calls must be
/// `#[inline(always)]` so that it is compiled inside the wrapper.
#[inline(always)]
pub(super) fn run<R>(g: &Pool2d, f: impl FnOnce() -> R) -> R {
    // SAFETY: a geometry's instruction set is available (`with_isa` checks it, or detected).
    unsafe { arch::run(g.isa(), f) }
}
