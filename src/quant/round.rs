//! Rounding of `f32` to integers without `std` (no `f32::round` in `core`).

/// 2^23: from here on every `f32` is an integer.
const INTEGRAL: f32 = 8_388_608.0;

/// `x` rounded to the nearest integer, ties to even (IEEE `roundTiesToEven`, C's
/// `nearbyintf` in the default mode). NaN and infinities pass through.
#[inline(always)]
pub(crate) fn round_half_even_f32(x: f32) -> f32 {
    let a = x.abs();
    if a < INTEGRAL {
        // Adding 2^23 leaves no fraction bits: the addition itself rounds, to nearest even.
        (a + INTEGRAL - INTEGRAL).copysign(x)
    } else {
        x
    }
}

/// `x` rounded to the nearest integer, ties away from zero (C's `roundf`, TFLite's
/// `TfLiteRound`). NaN and infinities pass through.
#[inline]
pub(crate) fn round_half_away_f32(x: f32) -> f32 {
    let a = x.abs();
    if a < INTEGRAL {
        // Exact: a < 2^23 truncates to an integer that f32 holds, and a - t is exact.
        let t = a as i32 as f32;
        let r = if a - t >= 0.5 { t + 1.0 } else { t };
        r.copysign(x)
    } else {
        x
    }
}
