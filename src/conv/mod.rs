//! 2-D convolution over NCHW: forward, backward-data, backward-filter and bias gradient,
//! with groups, dilation, 4-sided padding and a caller-sized workspace.
//!
//! One geometry, [`Conv2d`], validates everything and picks the kernel; its
//! [`scratch_len`](Conv2d::scratch_len) and [`min_scratch_len`](Conv2d::min_scratch_len) come
//! from the same plan the dispatch runs, so the sizes and the kernels cannot disagree:
//!
//! - **depthwise** (`groups == C`, channel multiplier up to 8): a direct kernel, no scratch
//!   needed (one padded input plane lets the forward pass stay in vector registers);
//! - **1x1, stride 1, no padding**: the GEMM straight on the input planes;
//! - **everything else**: per image and group, tiles of as many im2col columns as the
//!   scratch holds ([`im2col_columns`](crate::im2col_columns)), then the GEMM; backward-data
//!   runs the GEMM into a column tile and folds it back with
//!   [`col2im_columns`](crate::col2im_columns).
//!
//! Batches split across threads for free: whole images are contiguous, and
//! [`Conv2d::with_batch`] gives the geometry of a slice of them. Forward and backward-data
//! are independent per image; for backward-filter each thread computes a partial gradient
//! (or accumulates with [`Accum::Add`](crate::Accum)) and the caller sums them.

mod backward_data;
mod backward_filter;
mod clamp;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;
mod depthwise;
mod depthwise_3x3;
mod forward;
mod geometry;
mod operands;
mod packed;

pub use backward_data::conv2d_backward_data;
pub use backward_filter::{conv2d_backward_bias, conv2d_backward_filter};
pub use clamp::Clamp;
pub use forward::conv2d;
pub use geometry::Conv2d;
pub use packed::{conv2d_pack_weight, conv2d_packed, PackedWeight};
