//! int8 quantized inference, bit-exact with TFLite (and CMSIS-NN), or with onnxruntime,
//! PyTorch and XNNPACK.
//!
//! # Quantization
//!
//! - **Activations** are int8, asymmetric: `real = scale * (q - zero_point)`, `zero_point`
//!   in `-128..=127`. [`quantize`] and [`dequantize`] cross the boundary with a float
//!   network (`q = clamp(round_half_to_even(real / scale) + zero_point)`, in `f32`).
//! - **Weights** are int8, symmetric (zero point 0), with one scale per output channel or
//!   one for the whole tensor.
//! - **Bias** is `i32` with scale `input_scale * weight_scale[oc]` (zero point 0).
//!
//! # Accumulation
//!
//! [`conv2d_i8`] (on a float [`Conv2d`](crate::Conv2d): groups, depthwise with a channel
//! multiplier, dilation, 4-sided padding, stride, all as the float convolution) computes,
//! for every output, `acc = bias[oc] + sum((x - x_zp) * w)` over the window, in `i32`;
//! padding reads as `x_zp`, so it contributes 0. The fully-connected layer
//! [`gemm_i8_requant`] computes `acc = bias[i] + sum_k w[i, k] * (x[k, j] - x_zp)`, and
//! [`gemm_i8`] the raw `sum_k (a[i, k] - a_zp) * (b[k, j] - b_zp)`. These sums are exact:
//! a geometry whose worst-case sum can leave the `i32` range (more than 65793 products of
//! up to `255 * 128` in a window, less with a large bias; 33025 products of `255 * 255` in
//! [`gemm_i8`]) is refused with [`Error::AccumulatorOverflow`](crate::Error), never
//! wrapped.
//!
//! # Requantization
//!
//! Each accumulator becomes an output by `y = clamp(requant(acc) + output_zero_point)`,
//! clamped to the fused activation ([`Clamp<i8>`](crate::Clamp): none, ReLU and ReLU6 in the
//! quantized domain, or any `[min, max]`) or else to `-128..=127`. `requant` is the caller's
//! choice per call ([`Requant`]), with per-channel or per-tensor parameters:
//!
//! - [`Requant::TfLite`], the reference of TFLite(-Micro) and CMSIS-NN's default:
//!   `MultiplyByQuantizedMultiplier(acc, multiplier, shift)`, which is
//!   [`rounding_divide_by_pot`]`(`[`saturating_rounding_doubling_high_mul`]`(acc *
//!   2^max(shift, 0), multiplier), max(-shift, 0))`: a doubling high multiply rounded to
//!   nearest with ties up, then a shift rounded to nearest with ties away from zero (double
//!   rounding). The `(multiplier, shift)` pairs are TFLite's `QuantizeMultiplier` of
//!   `input_scale * weight_scale[oc] / output_scale`: [`Multiplier::from_scales`] gives the
//!   same integers as the TFLite converter, in a `const fn`. (TFLite's optimized x86 kernels
//!   round some ties differently from its reference kernels; the reference is the one
//!   matched.)
//! - [`Requant::TfLiteSingleRounding`], TFLite's `TFLITE_SINGLE_ROUNDING` and CMSIS-NN's
//!   `CMSIS_NN_USE_SINGLE_ROUNDING`: `(acc * multiplier + 2^(30 - shift)) >> (31 - shift)` in
//!   64 bits, one rounding, ties up.
//! - [`Requant::Float`], onnxruntime's `QLinearConv`, PyTorch's quantized convolution
//!   (fbgemm, qnnpack) and XNNPACK's `fp32` requantization: `round_half_to_even(acc as f32 *
//!   scale[oc])` in `f32`.
//!
//! Where TFLite's C++ would overflow an `i32` (a left shift of a large accumulator, which
//! is undefined behaviour there), the value saturates here, and the output saturates with
//! it on the side of the exact result.
//!
//! # Pooling
//!
//! [`max_pool2d_i8`] and [`avg_pool2d_i8`] take the float [`Pool2d`](crate::Pool2d) and
//! [`AvgPool2d`](crate::AvgPool2d) geometries, with the same window rules. The average is
//! TFLite's: the window's sum divided by the number of its in-bounds elements
//! ([`Divisor::CountExcludePad`](crate::Divisor)), rounded to nearest with ties away from
//! zero. Pooling keeps the input's scale and zero point.
//!
//! # Kernels
//!
//! [`conv2d_i8`] multiplies patches of the input (copied into the workspace) by the filters,
//! on the kernel of its geometry's [`Isa`](crate::Isa), every one exact, so every one gives
//! the same bytes:
//!
//! - portable (and SSE2): one dot product per filter and patch, vectorized by the compiler;
//! - x86_64 AVX2 (`x86.rs`): blocks of 4 filters by 2 patches, widened to 16 bits and
//!   multiplied with `vpmaddwd`; the AVX-512 build's as well on a CPU without VNNI;
//! - x86_64 AVX-512 with VNNI (`vnni.rs`): `vpdpbusd` on interleaved tiles of 32 positions;
//! - aarch64 NEON (`neon.rs`): the same blocks of 4 by 2, with `smull` and `sadalp` on every
//!   aarch64 CPU, or with `sdot` on one with the dot-product extension (detected on Linux,
//!   else where the build enables `dotprod`);
//! - Cortex-M4F and M7 (`dsp.rs`, `cortex_m.rs`): CMSIS-NN's scheme, pairs of patches
//!   widened to 16 bits and `SMLAD`, in assembly.
//!
//! # Workspace
//!
//! Only [`conv2d_i8`] takes one: patches of the input, at least one patch
//! ([`Conv2d::min_scratch_len_i8`](crate::Conv2d::min_scratch_len_i8), 72 bytes for a 3x3
//! window over 8 channels), up to [`Conv2d::scratch_len_i8`](crate::Conv2d::scratch_len_i8)
//! for full speed. The result never depends on the workspace size.
//!
//! # Example
//!
//! Quantize an image, convolve it (ReLU fused), max-pool it, dequantize it, and compare with
//! the float network on the same numbers: they agree to one output quantum.
//!
//! ```
//! use nchw::*;
//! // A 1x1x4x4 input in [0, 1.5], quantized with scale 0.1, zero point -128.
//! let x: Vec<f32> = (0..16).map(|i| i as f32 * 0.1).collect();
//! let (x_scale, x_zp) = (0.1f32, -128i8);
//! let mut xq = [0i8; 16];
//! quantize(&x, x_scale, x_zp, &mut xq)?;
//!
//! // Two 3x3 filters (same padding), per-channel weight scales.
//! let conv = Conv2d::new(Shape::new(1, 1, 4, 4)?, 2, Window::square(3).with_padding(Padding::uniform(1)), 1)?;
//! let w_scale = [0.01f32, 0.02];
//! let wq: [i8; 18] = [10, 20, 10, 20, 40, 20, 10, 20, 10, -50, 0, 50, -50, 0, 50, -50, 0, 50];
//! let bias = [100i32, -200]; // scale x_scale * w_scale[oc]
//!
//! // Output scale 0.05, zero point -100, ReLU.
//! let (y_scale, y_zp) = (0.05f32, -100i8);
//! let m = [
//!     Multiplier::from_scales(x_scale, w_scale[0], y_scale)?,
//!     Multiplier::from_scales(x_scale, w_scale[1], y_scale)?,
//! ];
//! let q = QuantParams::new(x_zp, Requant::TfLite(&m), y_zp).with_clamp(Clamp::quantized_relu(y_zp));
//! let mut yq = [0i8; 32];
//! let mut scratch = [0i8; 9]; // one patch: the minimum
//! conv2d_i8(&conv, &xq, &wq, Some(&bias), &q, &mut yq, &mut scratch)?;
//!
//! // 2x2 max pooling, stride 2, then back to floats.
//! let pool = Pool2d::new(conv.output(), Window::pool(2), Rounding::Floor)?;
//! let mut pq = [0i8; 8];
//! max_pool2d_i8(&pool, &yq, None, &mut pq)?;
//! let mut p = [0.0f32; 8];
//! dequantize(&pq, y_scale, y_zp, &mut p)?;
//!
//! // The float network on the dequantized weights and input.
//! let mut xf = [0.0f32; 16];
//! dequantize(&xq, x_scale, x_zp, &mut xf)?;
//! let wf: Vec<f32> = wq.iter().enumerate().map(|(i, &w)| w as f32 * w_scale[i / 9]).collect();
//! let bf = [100.0 * x_scale * w_scale[0], -200.0 * x_scale * w_scale[1]];
//! let mut yf = [0.0f32; 32];
//! conv2d(&conv, &xf, &wf, Some(&bf), Some(Clamp::relu()), &mut yf, &mut [0.0; 9])?;
//! let mut pf = [0.0f32; 8];
//! max_pool2d(&pool, &yf, &mut pf)?;
//! for (a, b) in p.iter().zip(&pf) {
//!     assert!((a - b).abs() <= y_scale / 2.0 + 1e-5, "{a} vs {b}");
//! }
//! # Ok::<(), nchw::Error>(())
//! ```

mod conv;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod cortex_m;
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
mod dsp;
mod gemm;
mod multiplier;
#[cfg(all(target_arch = "aarch64", not(miri)))]
mod neon;
mod pool;
mod quantize;
mod requant;
mod round;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod vnni;
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod x86;

pub use conv::conv2d_i8;
pub use gemm::{gemm_i8, gemm_i8_requant};
pub use multiplier::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul, Multiplier};
pub use pool::{avg_pool2d_i8, max_pool2d_i8};
pub use quantize::{dequantize, quantize};
pub use requant::{QuantParams, Requant};
