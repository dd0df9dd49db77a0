//! Requantization: from an `i32` accumulator to an int8 output.

use super::multiplier::{Multiplier, ZERO};
use super::round::{round_half_away_f32, round_half_even_f32};
use crate::conv::Clamp;
use crate::error::Error;

/// How `i32` accumulators are scaled to the output's units: the mode and its parameters,
/// one per output channel or one for the whole tensor.
///
/// A slice of length 1 applies to every channel (per-tensor weights); otherwise it must hold
/// one entry per output channel (per-channel weights).
///
/// ```
/// use nchw::{Multiplier, QuantParams, Requant};
/// // At scale 0.25 an accumulator of 2 is 0.5 (a tie) and 5 is 1.25 in the output's units.
/// let m = [Multiplier::from_scale(0.25)?];
/// let double = QuantParams::new(0, Requant::TfLite(&m), 0);
/// let single = QuantParams::new(0, Requant::TfLiteSingleRounding(&m), 0);
/// let float = QuantParams::new(0, Requant::Float(&[0.25]), 0);
/// let got = |p: &QuantParams| [p.requantize(0, 2), p.requantize(0, 5)];
/// assert_eq!(got(&double), [1, 2]); // two roundings: 1.25 went up at the first
/// assert_eq!(got(&single), [1, 1]); // one rounding, ties away from zero
/// assert_eq!(got(&float), [0, 1]); // in f32, ties to even
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Requant<'a> {
    /// TFLite's reference kernels and CMSIS-NN's default (the usual choice):
    /// [`Multiplier::multiply`], double rounding.
    TfLite(&'a [Multiplier]),
    /// TFLite built with `TFLITE_SINGLE_ROUNDING`, CMSIS-NN with
    /// `CMSIS_NN_USE_SINGLE_ROUNDING`: [`Multiplier::multiply_single_rounding`].
    TfLiteSingleRounding(&'a [Multiplier]),
    /// onnxruntime's `QLinearConv`, PyTorch's quantized kernels (fbgemm, qnnpack) and
    /// XNNPACK's `fp32` requantization: `round_half_to_even(acc as f32 * scale)` in `f32`
    /// (the conversion of `acc` to `f32` rounds too, to nearest even). Each scale must be
    /// finite and at least 0; it is usually `input_scale * weight_scale / output_scale`.
    Float(&'a [f32]),
}

impl Requant<'_> {
    /// Entries in the parameter slice: 1 for a per-tensor requantization.
    pub(crate) const fn len(&self) -> usize {
        match self {
            Requant::TfLite(m) | Requant::TfLiteSingleRounding(m) => m.len(),
            Requant::Float(s) => s.len(),
        }
    }

    /// Checks the parameter count against `channels` and every float scale.
    pub(crate) fn check(&self, channels: usize) -> Result<(), Error> {
        let len = self.len();
        if len != 1 && len != channels {
            return Err(Error::BufferLength {
                buffer: "requantization parameters",
                expected: channels,
                actual: len,
            });
        }
        if let Requant::Float(scales) = self {
            if let Some(index) = scales.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
                return Err(Error::InvalidScale {
                    what: "requantization scale",
                    index,
                });
            }
        }
        Ok(())
    }

    /// The scaling of channel `channel` (the only one for a per-tensor slice).
    #[inline]
    pub(crate) fn channel(&self, channel: usize) -> Scale {
        let pick = |len: usize| if len == 1 { 0 } else { channel };
        match self {
            Requant::TfLite(m) => Scale::Double(m.get(pick(m.len())).copied().unwrap_or(ZERO)),
            Requant::TfLiteSingleRounding(m) => {
                Scale::Single(m.get(pick(m.len())).copied().unwrap_or(ZERO))
            }
            Requant::Float(s) => Scale::Float(s.get(pick(s.len())).copied().unwrap_or(0.0)),
        }
    }
}

/// The scaling of one channel, resolved.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scale {
    Double(Multiplier),
    Single(Multiplier),
    Float(f32),
}

/// The quantization of an int8 convolution or fully-connected layer: the input's zero
/// point, the requantization, the output's zero point and the fused activation.
///
/// Output `y = clamp(requant(acc) + output_zero_point)`, clamped to the [`Clamp`] given
/// (which holds `i8` bounds, so the output always fits) or else to `-128..=127`. A `Clamp`
/// with `min > max` gives `max` everywhere, as TFLite's `max`-then-`min` does.
///
/// ```
/// use nchw::{Clamp, Multiplier, QuantParams, Requant};
/// let m = [Multiplier::from_scale(0.25)?];
/// let q = QuantParams::new(-128, Requant::TfLite(&m), 5).with_clamp(Clamp::quantized_relu(5));
/// assert_eq!(q.requantize(0, 400), 105); // 400 * 0.25 + 5
/// assert_eq!(q.requantize(0, -400), 5); // ReLU: the output zero point
/// assert_eq!(q.requantize(0, 4000), 127); // saturated
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams<'a> {
    /// The input activations' zero point: a convolution sums `(x - input_zero_point) * w`,
    /// and padding reads as this value (it contributes 0).
    pub input_zero_point: i8,
    /// How accumulators are scaled to the output's units.
    pub requant: Requant<'a>,
    /// The output's zero point, added after scaling.
    pub output_zero_point: i8,
    /// The fused activation in the quantized domain (`None`: the whole `i8` range).
    pub clamp: Option<Clamp<i8>>,
}

impl<'a> QuantParams<'a> {
    /// Parameters without a fused activation.
    pub const fn new(input_zero_point: i8, requant: Requant<'a>, output_zero_point: i8) -> Self {
        QuantParams {
            input_zero_point,
            requant,
            output_zero_point,
            clamp: None,
        }
    }

    /// The same parameters with a fused activation.
    pub const fn with_clamp(self, clamp: Clamp<i8>) -> Self {
        QuantParams {
            clamp: Some(clamp),
            ..self
        }
    }

    /// The output for accumulator `acc` (bias included) of output channel `channel`: the
    /// same function every int8 kernel applies. A channel past a per-channel slice scales
    /// by zero.
    pub fn requantize(&self, channel: usize, acc: i32) -> i8 {
        Output::new(self).apply(self.requant.channel(channel), acc)
    }
}

/// The output stage, resolved once per call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    zero_point: i32,
    min: i32,
    max: i32,
}

impl Output {
    pub(crate) fn new(q: &QuantParams<'_>) -> Self {
        let (min, max) = match q.clamp {
            Some(c) => (i32::from(c.min), i32::from(c.max)),
            None => (-128, 127),
        };
        Output {
            zero_point: i32::from(q.output_zero_point),
            min,
            max,
        }
    }

    /// The output zero point and the clamp's bounds, `(zero_point, min, max)`.
    #[cfg(any(
        all(target_arch = "x86_64", not(miri)),
        all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
    ))]
    pub(crate) fn bounds(&self) -> (i32, i32, i32) {
        (self.zero_point, self.min, self.max)
    }

    /// `clamp(scale(acc) + zero_point)`.
    #[inline(always)]
    pub(crate) fn apply(&self, scale: Scale, acc: i32) -> i8 {
        let y = match scale {
            Scale::Double(m) => m.multiply(acc),
            Scale::Single(m) => m.multiply_single_rounding(acc),
            Scale::Float(s) => {
                let r = round_half_even_f32(acc as f32 * s);
                // Saturating conversion: beyond the i32 range the clamp below decides.
                r as i32
            }
        };
        let y = y.saturating_add(self.zero_point);
        // max first, then min: min > max gives max, as TFLite and torch.clamp do.
        let y = if y < self.min { self.min } else { y };
        let y = if y > self.max { self.max } else { y };
        // Within the clamp's i8 bounds, or -128..=127.
        y as i8
    }
}

/// TFLite's double rounding with a right shift of 1 to 31 (`Scale::Double`'s scaling, before
/// the zero point), its constants computed once: one instruction sequence per output with no
/// branch, for the DSP kernels.
#[cfg(any(
    test,
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
))]
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct RightShift {
    multiplier: i32,
    /// `2^30 + 2^(right + 30)`, the two roundings as one 64-bit nudge, in its high and low
    /// words (computed in 32 bits).
    nudge_hi: i32,
    nudge_lo: u32,
    /// `right - 1`.
    shift: u32,
}

// The DSP kernels read a `RightShift` as four words in this order (`dsp::dot_2x2_blocks`).
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<RightShift>() == 16);
    assert!(offset_of!(RightShift, nudge_hi) == 4 && offset_of!(RightShift, nudge_lo) == 8);
    assert!(offset_of!(RightShift, shift) == 12);
};

#[cfg(any(
    test,
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
))]
impl RightShift {
    /// The usual case of `Scale::Double(m)`, a right shift: `None` for a left shift (or
    /// none).
    #[inline(always)]
    pub(crate) fn new(m: Multiplier) -> Option<Self> {
        let shift = m.shift();
        if shift >= 0 {
            return None;
        }
        let right = shift.unsigned_abs() & 31;
        if right == 0 {
            return None;
        }
        // As `multiplier::round_shift`.
        let (nudge_hi, nudge_lo) = if right == 1 {
            (0, 0xc000_0000)
        } else {
            (1 << (right - 2), 0x4000_0000)
        };
        Some(RightShift {
            multiplier: m.multiplier(),
            nudge_hi,
            nudge_lo,
            shift: right - 1,
        })
    }

    /// `(multiplier, nudge_hi, nudge_lo, shift)`, as `dsp::requant_pair` takes them.
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    #[inline(always)]
    pub(crate) fn parts(self) -> (i32, i32, u32, u32) {
        (self.multiplier, self.nudge_hi, self.nudge_lo, self.shift)
    }

    /// `Multiplier::multiply(acc)`, exactly (`multiplier::round_shift`). Its magnitude is
    /// below `1.5 * 2^30 + 2` (the product is at most `2^62`, the nudge below `2^62`), so
    /// adding an `i8` zero point cannot overflow.
    #[inline(always)]
    pub(crate) fn scale(self, acc: i32) -> i32 {
        let nudge = ((i64::from(self.nudge_hi) << 32) | i64::from(self.nudge_lo))
            - (i64::from(acc < 0) << 31);
        let y = ((i64::from(acc) * i64::from(self.multiplier) + nudge) >> 32) as i32;
        y >> (self.shift & 31)
    }
}

/// `Output::apply` of TFLite's double rounding with a right shift ([`RightShift`]), with the
/// output stage: what the DSP kernels requantize with.
#[cfg(any(
    test,
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
))]
#[derive(Clone, Copy)]
pub(crate) struct Shifter {
    rounding: RightShift,
    zero_point: i32,
    min: i32,
    max: i32,
}

#[cfg(any(
    test,
    all(target_arch = "arm", target_abi = "eabihf", target_os = "none")
))]
impl Shifter {
    /// `None` unless `m` shifts right ([`RightShift::new`]).
    #[inline(always)]
    pub(crate) fn new(out: &Output, m: Multiplier) -> Option<Self> {
        Some(Shifter {
            rounding: RightShift::new(m)?,
            zero_point: out.zero_point,
            min: out.min,
            max: out.max,
        })
    }

    /// `Output::apply(Scale::Double(m), acc)`, exactly: the scaling, the zero point (which
    /// cannot overflow, see [`RightShift::scale`]), the clamp.
    #[inline(always)]
    pub(crate) fn apply(self, acc: i32) -> i8 {
        let y = self.rounding.scale(acc) + self.zero_point;
        let y = if y < self.min { self.min } else { y };
        let y = if y > self.max { self.max } else { y };
        y as i8
    }
}

impl Clamp<i8> {
    /// ReLU in the quantized domain: outputs below `zero_point` (real 0) become
    /// `zero_point` (TFLite's `kTfLiteActRelu`).
    pub const fn quantized_relu(zero_point: i8) -> Self {
        Clamp {
            min: zero_point,
            max: i8::MAX,
        }
    }

    /// ReLU6 in the quantized domain, as TFLite's `CalculateActivationRangeQuantized`:
    /// `[max(-128, zero_point), min(127, zero_point + round(6 / scale))]`, the quotient in
    /// `f32` rounded half away from zero.
    ///
    /// # Errors
    /// [`Error::InvalidScale`] unless `scale` is finite and positive.
    ///
    /// ```
    /// use nchw::Clamp;
    /// let c = Clamp::quantized_relu6(-128, 6.0 / 255.0)?;
    /// assert_eq!((c.min, c.max), (-128, 127));
    /// let c = Clamp::quantized_relu6(-10, 0.1)?;
    /// assert_eq!((c.min, c.max), (-10, 50));
    /// # Ok::<(), nchw::Error>(())
    /// ```
    pub fn quantized_relu6(zero_point: i8, scale: f32) -> Result<Self, Error> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::InvalidScale {
                what: "output scale",
                index: 0,
            });
        }
        let six = round_half_away_f32(6.0 / scale) as i32;
        let max = i32::from(zero_point).saturating_add(six);
        Ok(Clamp {
            min: zero_point,
            max: if max > 127 { 127 } else { max as i8 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Output, QuantParams, Requant, Scale, Shifter};
    use crate::{Clamp, Multiplier};

    /// The DSP kernels' `Shifter` (the host never runs them) against `Output::apply`, for
    /// every right shift, multipliers across their range, accumulators at the ends and in
    /// between, with and without a clamp.
    #[test]
    fn shifter_is_double_rounding() {
        let mut s = 0x2545_f491u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s
        };
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -3,
            -2,
            -1,
            0,
            1,
            2,
            3,
            1 << 30,
        ];
        let edges = edges.into_iter().chain([i32::MAX - 1, i32::MAX]);
        let ms = [
            0,
            1,
            1 << 30,
            (1 << 30) + 1,
            0x5555_5555,
            i32::MAX - 1,
            i32::MAX,
        ];
        let dummy = [Multiplier::from_scale(1.0).unwrap()];
        for (zp, clamp) in [(0, None), (-5, Some(Clamp { min: -5, max: 100 }))] {
            let mut q = QuantParams::new(0, Requant::TfLite(&dummy), zp);
            if let Some(c) = clamp {
                q = q.with_clamp(c);
            }
            let out = Output::new(&q);
            for shift in -31..=-1 {
                let random: [i32; 8] = core::array::from_fn(|_| (next() >> 1) as i32);
                for m in ms.into_iter().chain(random) {
                    let m = Multiplier::new(m, shift).unwrap();
                    let shifter = Shifter::new(&out, m).unwrap();
                    let random: [i32; 64] = core::array::from_fn(|_| next() as i32);
                    for acc in edges.clone().chain(random) {
                        let want = out.apply(Scale::Double(m), acc);
                        assert_eq!(shifter.apply(acc), want, "{m:?} {acc}");
                    }
                }
            }
            for shift in 0..=30 {
                assert!(Shifter::new(&out, Multiplier::new(1 << 30, shift).unwrap()).is_none());
            }
        }
    }
}
