//! Crossing the boundary between a float network and an int8 one.

use super::round::round_half_even_f32;
use crate::error::{check_len, Error};

/// Checks a tensor's scale: finite and positive.
fn check_scale(scale: f32) -> Result<(), Error> {
    if scale.is_finite() && scale > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidScale {
            what: "quantization scale",
            index: 0,
        })
    }
}

/// Quantizes `input` to int8: `output[i] = clamp(round_half_to_even(input[i] / scale) +
/// zero_point, -128, 127)`, the quotient in `f32` (ONNX `QuantizeLinear`, PyTorch
/// `quantize_per_tensor`). Infinities saturate; NaN gives `zero_point`.
///
/// # Errors
/// [`Error::InvalidScale`] unless `scale` is finite and positive; [`Error::BufferLength`]
/// unless `output` is as long as `input`. `output` is then untouched.
///
/// ```
/// use nchw::quantize;
/// let mut q = [0i8; 6];
/// quantize(&[0.0, 0.25, 0.75, -1.0, 100.0, f32::NAN], 0.5, -1, &mut q)?;
/// assert_eq!(q, [-1, -1, 1, -3, 127, -1]); // 0.5 and 1.5 round to even
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn quantize(input: &[f32], scale: f32, zero_point: i8, output: &mut [i8]) -> Result<(), Error> {
    check_scale(scale)?;
    check_len("output", input.len(), output.len())?;
    let zp = i32::from(zero_point);
    for (y, &x) in output.iter_mut().zip(input) {
        // Saturating conversion (NaN to 0); the clamp then bounds the sum.
        let q = (round_half_even_f32(x / scale) as i32).saturating_add(zp);
        *y = q.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// Dequantizes int8 values: `output[i] = (input[i] - zero_point) as f32 * scale`, one
/// rounding (the difference converts exactly).
///
/// # Errors
/// [`Error::InvalidScale`] unless `scale` is finite and positive; [`Error::BufferLength`]
/// unless `output` is as long as `input`. `output` is then untouched.
///
/// ```
/// use nchw::dequantize;
/// let mut x = [0.0f32; 3];
/// dequantize(&[-1, 1, 127], 0.5, -1, &mut x)?;
/// assert_eq!(x, [0.0, 1.0, 64.0]);
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn dequantize(
    input: &[i8],
    scale: f32,
    zero_point: i8,
    output: &mut [f32],
) -> Result<(), Error> {
    check_scale(scale)?;
    check_len("output", input.len(), output.len())?;
    let zp = i32::from(zero_point);
    for (y, &q) in output.iter_mut().zip(input) {
        *y = (i32::from(q) - zp) as f32 * scale;
    }
    Ok(())
}
