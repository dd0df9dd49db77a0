//! The GEMM's cache blocking for each element type on each target: the one place its
//! constants live.
//!
//! The loop nest keeps one `MR x KC` sliver of packed A in L1 while the microkernel streams
//! `KC x NR` slivers of packed B out of an L2-resident `KC x NC` block; the `MC x KC` panel of
//! packed A lives in L3. The register tiles (`MR`, `NR`) are in [`super::Float::dispatch`].

/// Blocking sizes for one element type on one target.
#[derive(Clone, Copy, Debug)]
pub struct Blocking {
    /// Depth of a packed sliver (LOOP 4 step): an `MR x KC` sliver of A stays in L1 while it
    /// meets every B sliver, and one microkernel call does `KC` rank-1 updates per C load.
    pub kc: usize,
    /// Rows of the packed A panel (LOOP 5 step): `MC x KC` sized for L3; a multiple of every
    /// kernel's `MR`.
    pub mc: usize,
    /// Columns of the packed B block (LOOP 3 step): `KC x NC` sized for about half of L2; a
    /// multiple of every kernel's `NR`.
    pub nc: usize,
    /// Largest microkernel row count `MR` compiled for this target (a multiple of the others).
    pub mr_max: usize,
    /// Largest microkernel column count `NR` compiled for this target (a multiple of the
    /// others).
    pub nr_max: usize,
}

/// `f32` blocking on x86_64 (AVX-512 tile 12 x 32; L1d 32 KiB, L2 1 MiB).
#[cfg(target_arch = "x86_64")]
pub const F32: Blocking = Blocking {
    kc: 384,
    mc: 768,
    nc: 384,
    mr_max: 12,
    nr_max: 32,
};

/// `f64` blocking on x86_64 (AVX-512 tile 12 x 16).
#[cfg(target_arch = "x86_64")]
pub const F64: Blocking = Blocking {
    kc: 192,
    mc: 768,
    nc: 384,
    mr_max: 12,
    nr_max: 16,
};

/// `f32` blocking on aarch64 (NEON tile 8 x 8).
#[cfg(target_arch = "aarch64")]
pub const F32: Blocking = Blocking {
    kc: 256,
    mc: 512,
    nc: 256,
    mr_max: 8,
    nr_max: 8,
};

/// `f64` blocking on aarch64 (NEON tile 8 x 4).
#[cfg(target_arch = "aarch64")]
pub const F64: Blocking = Blocking {
    kc: 256,
    mc: 512,
    nc: 128,
    mr_max: 8,
    nr_max: 4,
};

/// `f32` blocking elsewhere (portable 4 x 4 tile; small enough for a microcontroller's RAM).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const F32: Blocking = Blocking {
    kc: 128,
    mc: 32,
    nc: 64,
    mr_max: 4,
    nr_max: 4,
};

/// `f64` blocking elsewhere (portable 4 x 4 tile).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const F64: Blocking = Blocking {
    kc: 128,
    mc: 32,
    nc: 64,
    mr_max: 4,
    nr_max: 4,
};
