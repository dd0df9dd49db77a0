//! Fixed-point multipliers: TFLite's `QuantizeMultiplier` and the two ways its kernels apply
//! one (gemmlowp's double rounding, and `TFLITE_SINGLE_ROUNDING`).

use crate::error::Error;

/// A real multiplier `m` held as TFLite holds it: a Q31 significand and a power of two,
/// `m ~= multiplier * 2^(shift - 31)`.
///
/// Built with [`Multiplier::from_scale`] (TFLite's `QuantizeMultiplier`, bit for bit) or
/// [`Multiplier::new`] (integers taken from a `.tflite` file or CMSIS-NN parameters). Both are
/// `const fn`, so the per-channel multipliers of a network can be computed at compile time.
///
/// ```
/// use nchw::Multiplier;
/// // 0.5 = 2^30 * 2^(0 - 31); 0.75 = 0.75 * 2^31 * 2^(0 - 31).
/// assert_eq!(Multiplier::from_scale(0.5)?, Multiplier::new(1 << 30, 0)?);
/// assert_eq!(Multiplier::from_scale(0.75)?, Multiplier::new(1610612736, 0)?);
/// // 3.0 = 0.75 * 2^2: a left shift.
/// assert_eq!(Multiplier::from_scale(3.0)?.shift(), 2);
/// const M: Multiplier = match Multiplier::from_scales(0.02, 0.005, 0.1) {
///     Ok(m) => m,
///     Err(_) => panic!("bad scales"),
/// };
/// assert_eq!(M.multiply(1000), 1); // 1000 * 0.001
/// # Ok::<(), nchw::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Multiplier {
    multiplier: i32,
    shift: i32,
}

/// The zero multiplier (every product 0), for channels the checks have ruled out.
pub(crate) const ZERO: Multiplier = Multiplier {
    multiplier: 0,
    shift: 0,
};

impl Multiplier {
    /// A multiplier from its integers: `multiplier` in `0..=i32::MAX` (Q31, normally
    /// `2^30..2^31`, or 0), `shift` in `-31..=30`.
    ///
    /// # Errors
    /// [`Error::InvalidMultiplier`] outside those ranges, which TFLite's kernels do not accept
    /// either.
    pub const fn new(multiplier: i32, shift: i32) -> Result<Self, Error> {
        if multiplier < 0 || shift < -31 || shift > 30 {
            return Err(Error::InvalidMultiplier { multiplier, shift });
        }
        Ok(Multiplier { multiplier, shift })
    }

    /// TFLite's `QuantizeMultiplier(scale)`, exactly: `frexp` splits `scale` into
    /// `q * 2^shift` with `q` in `[0.5, 1)`; `q * 2^31` is rounded half away from zero; a
    /// significand that rounds up to `2^31` is halved and the shift incremented; a shift
    /// below -31 (a scale below about `2^-32`) flushes the multiplier to zero, as does a
    /// scale of zero.
    ///
    /// # Errors
    /// [`Error::InvalidScale`] for a negative, NaN or infinite `scale`;
    /// [`Error::InvalidMultiplier`] for a scale of `2^30` or more (shift above 30).
    pub const fn from_scale(scale: f64) -> Result<Self, Error> {
        const SCALE: Error = Error::InvalidScale {
            what: "multiplier scale",
            index: 0,
        };
        let bits = scale.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        if bits << 1 == 0 {
            // +0 or -0.
            return Ok(ZERO);
        }
        if bits >> 63 != 0 || biased == 0x7ff {
            return Err(SCALE);
        }
        if biased == 0 {
            // Subnormal: far below 2^-32, flushed like any shift below -31.
            return Ok(ZERO);
        }
        // scale = m * 2^(biased - 1075) with m in [2^52, 2^53), so frexp gives
        // q = m / 2^53 and an exponent of biased - 1022.
        let m = fraction | (1 << 52);
        let mut shift = biased - 1022;
        // q * 2^31 = m / 2^22, rounded half away from zero (scale > 0).
        let mut q = (m + (1 << 21)) >> 22;
        if q == 1 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Ok(ZERO);
        }
        // q <= 2^31 - 1 here.
        Multiplier::new(q as i32, shift)
    }

    /// The multiplier TFLite's converter derives for a convolution or fully-connected
    /// output channel: `QuantizeMultiplier(input_scale * weight_scale / output_scale)`,
    /// the scales widened to `f64` first and the product taken in that order (as
    /// TFLite-Micro's `PopulateConvolutionQuantizationParams`).
    ///
    /// # Errors
    /// As [`from_scale`](Self::from_scale); [`Error::InvalidScale`] also if the quotient is
    /// not finite (an `output_scale` of zero).
    pub const fn from_scales(
        input_scale: f32,
        weight_scale: f32,
        output_scale: f32,
    ) -> Result<Self, Error> {
        Multiplier::from_scale(input_scale as f64 * weight_scale as f64 / output_scale as f64)
    }

    /// The Q31 significand.
    pub const fn multiplier(&self) -> i32 {
        self.multiplier
    }

    /// The power of two (positive: a left shift, negative: a right shift).
    pub const fn shift(&self) -> i32 {
        self.shift
    }

    /// TFLite's (and CMSIS-NN's default) `MultiplyByQuantizedMultiplier(x)`, double
    /// rounding: `rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x *
    /// 2^left, multiplier), right)` with `left = max(shift, 0)`, `right = max(-shift, 0)`.
    ///
    /// Where `x * 2^left` does not fit in `i32` (undefined behaviour in TFLite's C++) it
    /// saturates here, so the result saturates too, on the side of the exact product.
    #[inline(always)]
    pub const fn multiply(self, x: i32) -> i32 {
        let (left, right) = if self.shift > 0 {
            (self.shift as u32, 0)
        } else {
            (0, self.shift.unsigned_abs())
        };
        if right > 0 {
            return round_shift(x, self.multiplier, right);
        }
        // left <= 30: the power fits.
        let x = x.saturating_mul(1 << (left & 31));
        // `saturating_rounding_doubling_high_mul(x, multiplier)`: with `multiplier >= 0` the
        // one saturating case (both i32::MIN) cannot occur, and the rounded quotient is
        // `floor((x * multiplier + 2^30) / 2^31)`, which fits (|x * multiplier| < 2^62).
        let high = ((x as i64 * self.multiplier as i64 + (1 << 30)) >> 31) as i32;
        // `rounding_divide_by_pot(high, right)` in 32 bits: `right <= 31`.
        let right = right & 31;
        let mask = ((1u32 << right) - 1) as i32;
        let threshold = (mask >> 1) + (high < 0) as i32;
        // A round-up needs a remainder, so right >= 1 and no overflow.
        (high >> right) + ((high & mask) > threshold) as i32
    }

    /// `MultiplyByQuantizedMultiplier(x)` as TFLite builds it with `TFLITE_SINGLE_ROUNDING`
    /// (CMSIS-NN's `CMSIS_NN_USE_SINGLE_ROUNDING`): one rounding,
    /// `(x * multiplier + 2^(30 - shift)) >> (31 - shift)` in 64 bits, that is `x *
    /// multiplier / 2^(31 - shift)` rounded half up (toward +inf), saturated to `i32`.
    #[inline(always)]
    pub const fn multiply_single_rounding(self, x: i32) -> i32 {
        // shift in -31..=30: total in 1..=62, and |x * multiplier| < 2^62.
        let total = (31 - self.shift) as u32;
        let round = 1i64 << ((total - 1) & 63);
        let r = (x as i64 * self.multiplier as i64 + round) >> (total & 63);
        saturate_i32(r)
    }
}

/// `multiply` for `right` in `1..=31` (no left shift; 0 is taken as 1), in one 64-bit
/// multiply-add:
/// `rounding_divide_by_pot(high, right)` with `high = floor((x * m + 2^30) / 2^31)` is
/// `floor((high + 2^(right - 1) - [high < 0]) / 2^right)`, and `high < 0` exactly when
/// `x < 0` but for `-2^30 <= x * m < 0`, where `high = 0` and the quotient is 0 either way
/// (`2^(right - 1) - 1 < 2^right`). In 64 bits: `(x * m + 2^30 + 2^(right + 30) - [x < 0] *
/// 2^31) >> (31 + right)`, which nothing overflows (`|x * m| < 2^62`).
#[inline(always)]
pub(crate) const fn round_shift(x: i32, m: i32, right: u32) -> i32 {
    // right >= 1: the shift by 31 + right is one of the high word by right - 1.
    let right = if right == 0 { 1 } else { right & 31 };
    let nudge = (1i64 << 30) + (1i64 << (right + 30)) - (((x < 0) as i64) << 31);
    (((x as i64 * m as i64 + nudge) >> 32) as i32) >> (right - 1)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul(a, b)`: the high 32 bits of `2 * a * b`,
/// rounded to nearest with ties toward +inf, i.e. `floor((a * b + 2^30) / 2^31)`; the one
/// product that does not fit, `i32::MIN * i32::MIN`, saturates to `i32::MAX`.
///
/// ```
/// use nchw::saturating_rounding_doubling_high_mul as srdhm;
/// assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29); // 0.5 * 0.5 in Q31
/// assert_eq!(srdhm(3, 1 << 30), 2); // 1.5 rounds up
/// assert_eq!(srdhm(-3, 1 << 30), -1); // -1.5 rounds up too
/// assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
/// ```
#[inline(always)]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Truncating division, as in C; the quotient fits (|ab| < 2^62 here).
    ((ab + nudge) / (1 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT(x, exponent)`: `x / 2^exponent` rounded to nearest with
/// ties away from zero. gemmlowp accepts exponents up to 31; larger ones give the same
/// rounded quotient here (0, or -1 for `i32::MIN / 2^32`).
///
/// ```
/// use nchw::rounding_divide_by_pot as rdbpot;
/// assert_eq!(rdbpot(5, 1), 3); // 2.5
/// assert_eq!(rdbpot(-5, 1), -3); // -2.5
/// assert_eq!(rdbpot(-6, 2), -2); // -1.5
/// assert_eq!(rdbpot(i32::MIN, 31), -1);
/// ```
#[inline(always)]
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let e = if exponent > 40 { 40 } else { exponent };
    let x = x as i64;
    let mask = (1i64 << e) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    let q = (x >> e) + if remainder > threshold { 1 } else { 0 };
    // |q| <= 2^31: x >> e rounds toward -inf from an i32, and rounding up from a negative
    // quotient stays at or below 0.
    q as i32
}

/// `x` saturated to the `i32` range.
pub(crate) const fn saturate_i32(x: i64) -> i32 {
    if x > i32::MAX as i64 {
        i32::MAX
    } else if x < i32::MIN as i64 {
        i32::MIN
    } else {
        x as i32
    }
}
