//! CNN kernels over flat NCHW slices, for microcontrollers and server cores alike.
//!
//! `nchw` is `#![no_std]`, depends on `core` alone and never allocates: every buffer,
//! including scratch, is the caller's, and every size a caller must allocate is a `const fn`
//! of a validated geometry, so firmware can size `static` arrays at compile time.
//!
//! # Layout contract
//!
//! - **Tensors** are dense NCHW: element `(n, c, h, w)` of a [`Shape`] `N x C x H x W` is at
//!   `((n * C + c) * H + h) * W + w`. One image is the contiguous slice
//!   `n * C*H*W .. (n + 1) * C*H*W`, so a batch splits across threads with `chunks_mut`.
//! - **Windows** ([`Window`]): kernel `KH x KW`, stride, dilation and 4-sided [`Padding`].
//!   Along each axis the window covers `kernel_field = (k - 1) * dilation + 1` input
//!   positions and there are `out = (in + pad_before + pad_after - kernel_field) / stride + 1`
//!   outputs; window `o`, tap `j` reads input `o * stride - pad_before + j * dilation`.
//! - **Column matrices** ([`im2col`]): per image `[C * KH * KW, OH * OW]`, row-major, row
//!   `(c * KH + kh) * KW + kw`, column `oh * OW + ow`; padding reads as zero.
//! - **Matrices** ([`MatRef`], [`MatMut`]): `rows x cols` views with arbitrary row and column
//!   strides into a slice.
//! - **Ownership**: inputs are `&[T]`, outputs `&mut [T]` of exactly the documented length.
//!   An operation writes only its outputs; whether it overwrites or accumulates is stated on
//!   it, or chosen with [`Accum`].
//!
//! # Architecture
//!
//! Three layers; each imports only the ones below it, and no two modules import each other.
//!
//! 1. **Ground types** (`error`, `shape`, `window`, `element`, `accum`, `matrix`, `walk`):
//!    [`Error`], [`Shape`], [`Padding`], [`Window`] with the one output-size formula,
//!    [`Element`] (arithmetic only), [`Accum`], the strided matrix views [`MatRef`] and
//!    [`MatMut`], and the chunked walks over images, groups and planes. They import no
//!    kernel family.
//! 2. **Arch layer** (`arch/`): [`Isa`] and its detection, the target features of each
//!    instruction set (written once), the one SIMD abstraction the kernels are generic over,
//!    the GEMM's register tile (one microkernel over it, and the Cortex-M4F's in assembly)
//!    and cache blocking per target, and [`Float`], which runs a kernel body on a chosen
//!    instruction set.
//! 3. **Kernel families**, one folder or file each: `pad`, `im2col`, `gemm/`, `conv/` (uses
//!    `im2col` and `gemm`), `pool/`, and `quant/`, the int8 family on the same geometries.
//!    Each geometry ([`Gemm`], [`Conv2d`], [`Pool2d`]) is validated once by its constructor
//!    and carries the instruction set its operations run on: `with_isa` forces one, per
//!    call (one macro, `arch::forced_isa!`, writes it for all three); there is no global
//!    switch.
//!
//! Where each concept lives: the output-size formula in `window.rs`; a convolution's plan
//! (path, tile, workspace split) in `conv/geometry.rs`, its forward operands in
//! `conv/operands.rs`; pooling's loop geometry (`Geo`: interior range, border runs, the
//! stride-2 rectangles) in `pool/rows.rs`, made once by [`Pool2d::new`], and its one pass,
//! generic over a reducer, beside it; the GEMM's loop nest, packing and blocking plan in
//! `gemm/`, the register tile it calls and each target's blocking sizes in `arch/`.
//!
//! # int8
//!
//! Beside `f32` and `f64`, an int8 family for quantized networks, bit-exact with TFLite and
//! CMSIS-NN or with onnxruntime, PyTorch and XNNPACK as the caller chooses ([`Requant`]):
//! [`quantize`], [`conv2d_i8`], [`gemm_i8`], [`gemm_i8_requant`], [`max_pool2d_i8`],
//! [`avg_pool2d_i8`], [`dequantize`]. Activations are asymmetric int8 (`real = scale * (q -
//! zero_point)`), weights symmetric int8 with per-channel or per-tensor scales, biases `i32`;
//! accumulation is exact in `i32` (geometries that could overflow are refused); each item
//! states its rounding. [`QuantParams`] and [`Multiplier`] are the place to start.
//!
//! # Errors
//!
//! Every operation validates all its inputs before it writes anything. A bad input returns
//! an [`Error`] that says what to fix (which buffer, how long it is, how long it must be),
//! and every output is then exactly as it was. No input makes a public function panic or
//! touch memory outside the slices it was given.
//!
//! # Example
//!
//! ```
//! use nchw::{im2col, Im2col, Padding, Shape, Window};
//! // One 1x2x2 image, a 2x2 window, one ring of zero padding: 3x3 window positions.
//! let g = Im2col::new(Shape::new(1, 1, 2, 2)?, Window::square(2).with_padding(Padding::uniform(1)))?;
//! let mut col = [0.0f32; 4 * 9];
//! im2col(&g, &[1.0, 2.0, 3.0, 4.0], &mut col)?;
//! assert_eq!(&col[27..], &[1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]); // tap (1, 1)
//! # Ok::<(), nchw::Error>(())
//! ```
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

mod accum;
mod arch;
mod conv;
mod element;
mod error;
mod gemm;
mod im2col;
mod matrix;
mod pad;
mod pool;
mod quant;
mod shape;
mod walk;
mod window;

pub use accum::Accum;
pub use arch::{Float, Isa};
pub use conv::{
    conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, conv2d_pack_weight,
    conv2d_packed, Clamp, Conv2d, PackedWeight,
};
pub use element::Element;
pub use error::Error;
pub use gemm::{gemm, gemm_pack_a, gemm_packed, Gemm, PackedA};
pub use im2col::{col2im, col2im_columns, im2col, im2col_columns, Im2col};
pub use matrix::{MatMut, MatRef};
pub use pad::{crop, pad, Pad};
pub use pool::{
    avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward, max_pool2d,
    max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, AvgPool2d,
    Divisor, Pool2d,
};
pub use quant::{
    avg_pool2d_i8, conv2d_i8, dequantize, gemm_i8, gemm_i8_requant, max_pool2d_i8, quantize,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul, Multiplier, QuantParams,
    Requant,
};
pub use shape::{Padding, Shape};
pub use window::{Rounding, Window};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
