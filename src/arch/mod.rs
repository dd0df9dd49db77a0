//! The architecture layer: which instruction sets exist, which one the CPU runs, and how a
//! kernel written once is compiled and run on a chosen one.
//!
//! - [`Isa`] names an instruction set; [`Isa::best`] detects the CPU's once (run-time CPUID on
//!   x86_64, fixed at compile time elsewhere: NEON on aarch64, portable on Cortex-M).
//! - [`Simd`] is the one vector abstraction (load, store, FMA, ...), implemented per element
//!   type and instruction set ([`Scalar`] everywhere, `x86.rs`, `aarch64.rs`).
//! - The GEMM's register tile: one [`microkernel`] written over [`Simd`], and the tiles an
//!   instruction set has written by hand ([`Hand`](simd::Hand): the Cortex-M4F's assembly,
//!   `cortex_m.rs`). The loop nest around it, packing and plans, is the `gemm` family's.
//! - [`Float::dispatch`] runs a [`Kernel`] (a body generic over a [`Build`]) inside the
//!   `#[target_feature]` wrapper of an instruction set, with that set's [`Build`]: its
//!   vectors and register tile ([`Tile`], whose constants [`Build::tile`] hands to a
//!   [`TileKernel`] as const generics); [`run`] does the same for plain code the compiler
//!   vectorizes.
//! - The target features of each instruction set are written once, in [`on_isa!`].
//!
//! A geometry carries the instruction set its operation runs on (`with_isa` forces one, per
//! call); nothing here is global but the cached detection.

pub(crate) mod blocking;
mod isa;
pub(crate) mod microkernel;
mod portable;
mod simd;

#[cfg(all(target_arch = "aarch64", not(miri)))]
mod aarch64;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86;

#[cfg(all(target_arch = "x86_64", not(miri)))]
pub(crate) use isa::avx512_vnni;
#[cfg(all(target_arch = "aarch64", not(miri)))]
pub(crate) use isa::neon_dotprod;
pub use isa::Isa;
pub(crate) use portable::Scalar;
pub(crate) use simd::{Args, Simd};

use core::marker::PhantomData;

use crate::element::Element;

/// Whether this target is an M-profile core with a single-precision FPU (Cortex-M4F, M7,
/// M33, ...), chosen at compile time: whose flash is scarce, so several families keep fewer
/// paths there.
pub(crate) const M_PROFILE_FPU: bool = cfg!(all(
    target_arch = "arm",
    target_abi = "eabihf",
    target_os = "none"
));

/// A kernel body written once, generic over an instruction set's build.
///
/// [`Float::dispatch`] calls [`run`](Kernel::run) inside the instruction set's
/// `#[target_feature]` wrapper, so everything the body inlines is compiled for it.
pub trait Kernel<T: Float> {
    /// What the kernel returns.
    type Output;

    /// The body, on build `B`: its vectors and its GEMM register tile.
    ///
    /// # Safety
    /// The CPU supports the instruction sets of `B`'s vectors.
    unsafe fn run<B: Build<T>>(self) -> Self::Output;
}

/// One instruction set's build for `T`, as [`Float::dispatch`] hands it to a [`Kernel`]: the
/// vectors and the GEMM register tile. Its one implementation is [`Tile`].
pub trait Build<T: Float> {
    /// The widest vectors.
    type V: Simd<T = T>;
    /// Narrower vectors, for tails.
    type H: Simd<T = T>;
    /// Rows of the GEMM register tile.
    const MR: usize;

    /// Runs `kernel` with the register tile's constants as const generics.
    ///
    /// # Safety
    /// As for [`TileKernel::run`].
    unsafe fn tile<K: TileKernel<T>>(kernel: K) -> K::Output;
}

/// Code that needs the register tile's constants as const generics (array sizes, constant
/// offsets: the GEMM's loop nest and packing), run by [`Build::tile`]. Stable Rust cannot
/// pass a type parameter's associated constant as a const generic, so the tile hands them
/// over here, once.
pub trait TileKernel<T: Float> {
    /// What the kernel returns.
    type Output;

    /// The body, on vectors `V` with a tile of `MR x NV` vectors (`NR = NV * V::LANES`
    /// columns) and blocking depth `KC`.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    unsafe fn run<V, const MR: usize, const NV: usize, const NR: usize, const KC: usize>(
        self,
    ) -> Self::Output
    where
        V: Simd<T = T>;
}

/// A [`TileKernel`] as a [`Kernel`], for [`Float::dispatch`]: it runs on the build's
/// register tile.
pub struct OnTile<K>(pub K);

impl<T: Float, K: TileKernel<T>> Kernel<T> for OnTile<K> {
    type Output = K::Output;

    #[inline(always)]
    unsafe fn run<B: Build<T>>(self) -> K::Output {
        // SAFETY: the caller guarantees `B`'s instruction set.
        unsafe { B::tile(self.0) }
    }
}

/// The build of vectors `V` (narrower `H`) with the GEMM register tile `MR x NV` vectors
/// (`NR = NV * V::LANES` columns) and blocking depth `KC`.
pub struct Tile<V, H, const MR: usize, const NV: usize, const NR: usize, const KC: usize>(
    PhantomData<(V, H)>,
);

impl<T, V, H, const MR: usize, const NV: usize, const NR: usize, const KC: usize> Build<T>
    for Tile<V, H, MR, NV, NR, KC>
where
    T: Float,
    V: Simd<T = T>,
    H: Simd<T = T>,
{
    type V = V;
    type H = H;
    const MR: usize = MR;

    #[inline(always)]
    unsafe fn tile<K: TileKernel<T>>(kernel: K) -> K::Output {
        // SAFETY: the caller guarantees `V`'s instruction set; `Float::dispatch` made `NR`
        // `NV` vectors and `KC` this type's depth.
        unsafe { kernel.run::<V, MR, NV, NR, KC>() }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element the float kernels are built for: `f32` or `f64`.
///
/// [`Element`] is the arithmetic; `Float` adds the per-instruction-set builds, so every float
/// operation (`conv2d`, `gemm`, `max_pool2d`, ...) is bounded by it. Sealed: it cannot be
/// implemented outside the crate, and gains methods without breaking callers.
///
/// ```
/// use nchw::{gemm, Float, Gemm, MatMut, MatRef};
/// // Generic code over both element types names `Float`.
/// fn dot<T: Float>(x: &[T], y: &[T]) -> Result<T, nchw::Error> {
///     let mut out = [T::ZERO];
///     let g = Gemm::new(1, 1, x.len())?;
///     let (a, b) = (MatRef::row_major(x, 1, x.len())?, MatRef::row_major(y, y.len(), 1)?);
///     gemm(&g, T::ONE, a, b, T::ZERO, MatMut::row_major(&mut out, 1, 1)?, &mut [])?;
///     Ok(out[0])
/// }
/// assert_eq!(dot(&[1.0f32, 2.0], &[3.0, 4.0])?, 11.0);
/// assert_eq!(dot(&[1.0f64, 2.0], &[3.0, 4.0])?, 11.0);
/// # Ok::<(), nchw::Error>(())
/// ```
pub trait Float: Element + sealed::Sealed {
    /// Runs `kernel` on `isa`'s build.
    ///
    /// # Safety
    /// `isa.is_available()`.
    #[doc(hidden)]
    unsafe fn dispatch<K: Kernel<Self>>(isa: Isa, kernel: K) -> K::Output;
}

/// Defines module `$name`, whose functions run code compiled for an instruction set's target
/// features: the one place each set's features are spelled.
macro_rules! on_isa {
    ($(#[$cfg:meta])* $name:ident, $features:literal) => {
        $(#[$cfg])*
        #[doc = concat!("Entry points compiled with `", $features, "`.")]
        mod $name {
            use super::{Build, Float, Kernel};

            /// `f()` compiled with the features (`f` inlined into this function).
            ///
            /// # Safety
            /// The CPU supports the features.
            #[target_feature(enable = $features)]
            #[inline]
            pub unsafe fn call<R>(f: impl FnOnce() -> R) -> R {
                f()
            }

            /// `kernel.run::<B>()` compiled with the features.
            ///
            /// # Safety
            /// The CPU supports the features; the rest as for [`Kernel::run`].
            #[target_feature(enable = $features)]
            #[inline]
            pub unsafe fn kernel<T: Float, K: Kernel<T>, B: Build<T>>(kernel: K) -> K::Output {
                // SAFETY: the caller guarantees the features.
                unsafe { kernel.run::<B>() }
            }
        }
    };
}

on_isa!(
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    avx512,
    "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
);
on_isa!(
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    avx2,
    "avx2,fma"
);
on_isa!(
    #[cfg(all(target_arch = "aarch64", not(miri)))]
    neon,
    "neon"
);

/// Runs `f` compiled for `isa`: plain code that the compiler vectorizes (SSE2 and the
/// portable build share the baseline). `f` and everything it calls must be
/// `#[inline(always)]` to be compiled inside the wrapper.
///
/// # Safety
/// `isa.is_available()`.
#[inline(always)]
pub(crate) unsafe fn run<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    debug_assert!(isa.is_available());
    match isa {
        // SAFETY (every arm): the caller guarantees the instruction set.
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        Isa::Avx512 => unsafe { avx512::call(f) },
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        Isa::Avx2 => unsafe { avx2::call(f) },
        #[cfg(all(target_arch = "aarch64", not(miri)))]
        Isa::Neon => unsafe { neon::call(f) },
        _ => f(),
    }
}

/// The one-lane `f32` vectors: on M-profile cores with an FPU, with the GEMM tile in assembly.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
type ScalarF32 = Scalar<f32, cortex_m::M4f>;
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf", target_os = "none")))]
type ScalarF32 = Scalar<f32>;

/// `Float` for one element type: each instruction set's vectors (`V`, narrower `H`), GEMM
/// register tile `MR x NV` vectors, and blocking depth.
macro_rules! float {
    ($t:ty, $scalar:ty, $kc:expr, [$avx512:ident, $avx2:ident, $sse2:ident, $neon:ident]) => {
        impl Float for $t {
            #[inline(always)]
            unsafe fn dispatch<K: Kernel<$t>>(isa: Isa, kernel: K) -> K::Output {
                debug_assert!(isa.is_available());
                const KC: usize = $kc;
                #[cfg(all(target_arch = "aarch64", not(miri)))]
                use crate::arch::aarch64::$neon;
                #[cfg(all(target_arch = "x86_64", not(miri)))]
                use crate::arch::x86::{$avx2, $avx512, $sse2};
                // SAFETY (every arm): the caller guarantees the instruction set, and the
                // entry point is compiled for it; `NR` is `NV` vectors and `KC` this type's
                // depth.
                match isa {
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Avx512 => unsafe {
                        const NR: usize = 2 * <$avx512 as Simd>::LANES;
                        avx512::kernel::<$t, K, Tile<$avx512, $avx2, 12, 2, NR, KC>>(kernel)
                    },
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Avx2 => unsafe {
                        const NR: usize = 2 * <$avx2 as Simd>::LANES;
                        avx2::kernel::<$t, K, Tile<$avx2, $sse2, 6, 2, NR, KC>>(kernel)
                    },
                    // SSE2 is the x86_64 baseline: no wrapper needed.
                    #[cfg(all(target_arch = "x86_64", not(miri)))]
                    Isa::Sse2 => unsafe {
                        const NR: usize = 2 * <$sse2 as Simd>::LANES;
                        kernel.run::<Tile<$sse2, Scalar<$t>, 4, 2, NR, KC>>()
                    },
                    #[cfg(all(target_arch = "aarch64", not(miri)))]
                    Isa::Neon => unsafe {
                        const NR: usize = 2 * <$neon as Simd>::LANES;
                        neon::kernel::<$t, K, Tile<$neon, Scalar<$t>, 8, 2, NR, KC>>(kernel)
                    },
                    // A 4 x 4 tile: sixteen accumulators fit a Cortex-M4F's 32 registers.
                    _ => unsafe { kernel.run::<Tile<$scalar, $scalar, 4, 4, 4, KC>>() },
                }
            }
        }
    };
}

float!(
    f32,
    ScalarF32,
    blocking::F32.kc,
    [Avx512F32, Avx2F32, Sse2F32, NeonF32]
);
float!(
    f64,
    Scalar<f64>,
    blocking::F64.kc,
    [Avx512F64, Avx2F64, Sse2F64, NeonF64]
);

/// Writes `$geometry`'s `with_isa` and `isa` over its field `isa: Option<Isa>`: forcing an
/// instruction set is one mechanism, per call, for every operation. `$what` names the
/// operation in the docs; `$example` is the doctest.
macro_rules! forced_isa {
    ($geometry:ident, $what:literal, $example:literal) => {
        impl $geometry {
            #[doc = concat!("The same ", $what, " on `isa`'s build: for tests that cover every")]
            /// build and for comparing them.
            ///
            /// # Errors
            /// [`Error::IsaUnavailable`](crate::error::Error::IsaUnavailable) if this CPU (or
            /// build target) cannot run `isa`.
            ///
            #[doc = $example]
            pub fn with_isa(self, isa: crate::arch::Isa) -> Result<Self, crate::error::Error> {
                let isa = Some(isa.check()?);
                Ok($geometry { isa, ..self })
            }

            #[doc = concat!("The instruction set the ", $what, " runs on: the one forced with")]
            /// [`with_isa`](Self::with_isa), else [`Isa::best`](crate::arch::Isa::best).
            pub fn isa(&self) -> crate::arch::Isa {
                self.isa.unwrap_or_else(crate::arch::Isa::best)
            }
        }
    };
}
pub(crate) use forced_isa;
