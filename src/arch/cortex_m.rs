//! The hand-written GEMM kernels of M-profile cores with a single-precision FPU (Cortex-M4F,
//! M7, M33, ...; targets `thumbv7em-none-eabihf`, `thumbv8m.main-none-eabihf`), for their
//! one-lane `f32` vectors ([`Scalar<f32, M4f>`](super::Scalar)): the GEMM's `4 x 4` tile of
//! column-packed slivers and its product without scratch, in assembly (`gemm/cortex_m.rs`).
//! Chosen at compile time: the portable instruction set of these targets is this one.

use super::portable::HandWritten;
use super::Hand;
use crate::gemm::cortex_m::{tile_4x4, unpacked};

/// The Cortex-M4F's hand-written `f32` GEMM kernels.
pub struct M4f;

impl HandWritten<f32> for M4f {
    const HAND: Hand<f32> = Hand {
        tile_4x4: Some(tile_4x4),
        unpacked: Some(unpacked),
    };
}
