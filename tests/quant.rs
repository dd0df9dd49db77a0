//! The int8 family against the naive references of `common::quant`: exact equality over
//! random geometries and quantization parameters, known answers for the TFLite primitives,
//! every error path, empty batches.

mod common;

use common::geom::Geom;
use common::quant::{self as naive, Mode};
use common::Guarded;
use nchw::{
    avg_pool2d_i8, conv2d_i8, dequantize, gemm_i8, gemm_i8_requant, max_pool2d_i8, quantize,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul, AvgPool2d, Clamp, Conv2d,
    Divisor, Error, Gemm, Isa, MatMut, MatRef, Multiplier, Padding, Pool2d, QuantParams, Requant,
    Rounding, Shape, Window,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Helpers

/// Deterministic bytes from a seed (a simple LCG), biased toward the extremes.
fn bytes(seed: u64, len: usize) -> Vec<i8> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match (s >> 60) & 15 {
                0 => i8::MIN,
                1 => i8::MAX,
                _ => (s >> 33) as i8,
            }
        })
        .collect()
}

fn multipliers(v: &[(i32, i32)]) -> Vec<Multiplier> {
    v.iter()
        .map(|&(m, s)| Multiplier::new(m, s).unwrap())
        .collect()
}

/// A `Requant` over `mode`'s parameters (held by `store`).
fn requant<'a>(mode: &'a Mode, store: &'a [Multiplier]) -> Requant<'a> {
    match mode {
        Mode::Double(_) => Requant::TfLite(store),
        Mode::Single(_) => Requant::TfLiteSingleRounding(store),
        Mode::Float(s) => Requant::Float(s),
    }
}

fn store(mode: &Mode) -> Vec<Multiplier> {
    match mode {
        Mode::Double(v) | Mode::Single(v) => multipliers(v),
        Mode::Float(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Strategies

/// Zero points, often at the ends.
fn zero_point() -> impl Strategy<Value = i8> {
    prop_oneof![Just(-128i8), Just(127i8), Just(0i8), any::<i8>()]
}

/// A (multiplier, shift) pair: TFLite's usual (a scale's multiplier, near the accumulator's
/// range), tiny ones, left shifts, and any valid pair.
fn pair() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        4 => (-20.0f64..0.0).prop_map(|e| {
            let m = Multiplier::from_scale(2f64.powf(e)).unwrap();
            (m.multiplier(), m.shift())
        }),
        1 => ((1i32 << 30)..=i32::MAX, -31i32..=-25),
        1 => ((1i32 << 30)..=i32::MAX, 1i32..=30),
        1 => (0i32..=i32::MAX, -31i32..=30),
    ]
}

/// A float requantization scale: usual, tiny, large, zero.
fn float_scale() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => (-20.0f32..0.0).prop_map(|e| 2f32.powf(e)),
        1 => (-40.0f32..-20.0).prop_map(|e| 2f32.powf(e)),
        1 => (0.0f32..8.0).prop_map(|e| 2f32.powf(e)),
        1 => Just(0.0f32),
    ]
}

/// A mode with `count` parameters.
fn mode(count: usize) -> impl Strategy<Value = Mode> {
    prop_oneof![
        prop::collection::vec(pair(), count).prop_map(Mode::Double),
        prop::collection::vec(pair(), count).prop_map(Mode::Single),
        prop::collection::vec(float_scale(), count).prop_map(Mode::Float),
    ]
}

/// An activation range, sometimes inverted (then everything is `hi`).
fn range() -> impl Strategy<Value = Option<(i8, i8)>> {
    prop_oneof![
        2 => Just(None),
        2 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Some((a.min(b), a.max(b)))),
        1 => (any::<i8>(), any::<i8>()).prop_map(|(a, b)| Some((a, b))),
    ]
}

fn clamp_of(r: Option<(i8, i8)>) -> Option<Clamp<i8>> {
    r.map(|(min, max)| Clamp { min, max })
}

fn bounds(r: Option<(i8, i8)>) -> (i8, i8) {
    r.unwrap_or((i8::MIN, i8::MAX))
}

/// Convolution geometries: general, 1x1, depthwise with a multiplier, strided, dilated; up
/// to 9 filters per group (two blocks of the host's 4-filter kernel and a remainder) and
/// patches of up to 45 bytes (two 16-byte steps and a tail).
fn geom() -> impl Strategy<Value = Geom> {
    (
        (0..4usize, 0..=2usize, 1..=3usize, 1..=5usize, 1..=9usize),
        (1..=6usize, 1..=6usize, 1..=3usize, 1..=3usize),
        (1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize),
        [0..=2usize, 0..=2, 0..=2, 0..=2],
    )
        .prop_map(
            |((family, n, groups, cg, ocg), (h, w, kh, kw), (sh, sw, dh, dw), pad)| {
                let (c, oc) = (groups * cg, groups * ocg);
                let mut g = Geom::conv2d(n, c, h, w, oc, groups, (kh, kw), (sh, sw), (dh, dw), pad);
                match family {
                    1 => (g.kernel, g.stride, g.pad) = ([1, 1], [1, 1], [[0, 0], [0, 0]]),
                    2 => {
                        g.groups = g.c;
                        g.oc = g.c * ocg;
                    }
                    _ => {}
                }
                g
            },
        )
        .prop_filter("window fits", |g| g.fits())
}

/// Biases, sometimes at the edge of what the accumulator allows.
fn biases(g: &Geom) -> impl Strategy<Value = Option<Vec<i32>>> {
    let limit = i32::MAX as i64 - (g.c / g.groups * g.kernel[0] * g.kernel[1]) as i64 * 255 * 128;
    let limit = limit as i32;
    prop_oneof![
        1 => Just(None),
        2 => prop::collection::vec(-100_000i32..100_000, g.oc).prop_map(Some),
        1 => prop::collection::vec(prop_oneof![Just(limit), Just(-limit), -limit..=limit], g.oc)
            .prop_map(Some),
    ]
}

#[derive(Clone, Debug)]
struct ConvCase {
    g: Geom,
    x: Vec<i8>,
    w: Vec<i8>,
    bias: Option<Vec<i32>>,
    x_zp: i8,
    y_zp: i8,
    mode: Mode,
    range: Option<(i8, i8)>,
    /// Where between the minimum and full workspace, in thousandths.
    frac: usize,
}

/// Geometries past [`geom`]'s: up to 30 filters per group (the AVX-512 VNNI kernel's blocks
/// of 12 and of 4, and every remainder), patches of every length modulo 4, and planes of
/// several 32-position tiles and a partial one.
fn wide_geom() -> impl Strategy<Value = Geom> {
    (
        (1..=2usize, 1..=12usize, 1..=30usize),
        (1..=13usize, 1..=13usize, 1..=3usize, 1..=3usize),
        (1..=2usize, 0..=1usize),
    )
        .prop_map(|((groups, cg, ocg), (h, w, kh, kw), (s, p))| {
            let (c, oc) = (groups * cg, groups * ocg);
            Geom::conv2d(1, c, h, w, oc, groups, (kh, kw), (s, s), (1, 1), [p; 4])
        })
        .prop_filter("window fits", |g| g.fits())
}

fn conv_case() -> impl Strategy<Value = ConvCase> {
    case_of(geom())
}

/// A case on a geometry of `geom`: data, biases, zero points, requantization, clamp, and
/// the workspace's place between the minimum and full speed (per mille).
fn case_of(geom: impl Strategy<Value = Geom>) -> impl Strategy<Value = ConvCase> {
    geom.prop_flat_map(|g| {
        let per = prop_oneof![Just(1usize), Just(g.oc)];
        (
            Just(g),
            any::<u64>(),
            biases(&g),
            zero_point(),
            zero_point(),
            per.prop_flat_map(mode),
            range(),
            prop_oneof![Just(0usize), Just(1000usize), 0..=1000usize],
        )
            .prop_map(|(g, seed, bias, x_zp, y_zp, mode, range, frac)| ConvCase {
                x: bytes(seed, g.x_len()),
                w: bytes(seed ^ 0xABCD, g.w_len()),
                g,
                bias,
                x_zp,
                y_zp,
                mode,
                range,
                frac,
            })
    })
}

/// The crate's convolution on a case, with `scratch` bytes of workspace.
fn run_conv(c: &ConvCase, conv: &Conv2d, scratch: usize) -> Result<Vec<i8>, Error> {
    let store = store(&c.mode);
    let mut q = QuantParams::new(c.x_zp, requant(&c.mode, &store), c.y_zp);
    q.clamp = clamp_of(c.range);
    let mut y = Guarded::new(conv.output_len(), 0x55i8, 0x2a);
    let mut s = Guarded::new(scratch, 0x11i8, 0x2a);
    conv2d_i8(conv, &c.x, &c.w, c.bias.as_deref(), &q, y.body(), s.body())?;
    s.check();
    Ok(y.checked().to_vec())
}

fn expected_conv(c: &ConvCase) -> Vec<i8> {
    let acc = naive::conv_acc(&c.g, &c.x, c.x_zp, &c.w, c.bias.as_deref());
    let plane = c.g.y_len() / c.g.n.max(1) / c.g.oc;
    let (lo, hi) = bounds(c.range);
    acc.iter()
        .enumerate()
        .map(|(i, &a)| {
            let a = i32::try_from(a).expect("the accumulator fits");
            c.mode.apply((i / plane) % c.g.oc, a, c.y_zp, lo, hi)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Known answers

#[test]
fn quantize_multiplier_known_answers() {
    let m = |x: f64| Multiplier::from_scale(x).map(|m| (m.multiplier(), m.shift()));
    assert_eq!(m(0.5), Ok((1 << 30, 0)));
    assert_eq!(m(1.0), Ok((1 << 30, 1)));
    assert_eq!(m(0.25), Ok((1 << 30, -1)));
    assert_eq!(m(0.75), Ok((1610612736, 0)));
    assert_eq!(m(0.1), Ok((1717986918, -3))); // 0.8 * 2^31 = 1717986918.4
    assert_eq!(m(1.0 / 3.0), Ok((1431655765, -1)));
    assert_eq!(m(3.0), Ok((1610612736, 2)));
    // A tie, rounded away from zero: q * 2^31 = 2^30 + 0.5.
    assert_eq!(m(0.5 + naive::exp2(-32)), Ok(((1 << 30) + 1, 0)));
    // The carry: q rounds up to 2^31, halved with the shift incremented.
    assert_eq!(m(1.0 - naive::exp2(-40)), Ok((1 << 30, 1)));
    // Tiny: 2^-32 is the last unflushed power; the carry lifts -32 to -31; below, zero.
    assert_eq!(m(naive::exp2(-32)), Ok((1 << 30, -31)));
    assert_eq!(
        m((1.0 - naive::exp2(-40)) * naive::exp2(-32)),
        Ok((1 << 30, -31))
    );
    assert_eq!(m(naive::exp2(-33)), Ok((0, 0)));
    assert_eq!(m((1.0 - naive::exp2(-40)) * naive::exp2(-33)), Ok((0, 0)));
    assert_eq!(m(f64::MIN_POSITIVE / 4.0), Ok((0, 0))); // subnormal
    assert_eq!(m(0.0), Ok((0, 0)));
    assert_eq!(m(-0.0), Ok((0, 0)));
    // Largest accepted: shift 30.
    assert_eq!(m(naive::exp2(30) - 1.0), Ok((2147483646, 30)));
    assert_eq!(
        m(naive::exp2(30)),
        Err(Error::InvalidMultiplier {
            multiplier: 1 << 30,
            shift: 31
        })
    );
    for bad in [
        -1.0,
        -f64::MIN_POSITIVE,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(
            m(bad),
            Err(Error::InvalidScale {
                what: "multiplier scale",
                index: 0
            }),
            "{bad}"
        );
    }
    // from_scales: f64 product then quotient.
    let s = Multiplier::from_scales(0.5, 0.25, 2.0).unwrap();
    assert_eq!((s.multiplier(), s.shift()), (1 << 30, -3));
    assert!(matches!(
        Multiplier::from_scales(1.0, 1.0, 0.0),
        Err(Error::InvalidScale { .. })
    ));
    // new() checks the ranges TFLite's kernels assume.
    assert!(Multiplier::new(0, -31).is_ok() && Multiplier::new(i32::MAX, 30).is_ok());
    for (m, s) in [(-1, 0), (0, 31), (0, -32), (i32::MIN, 0)] {
        assert_eq!(
            Multiplier::new(m, s),
            Err(Error::InvalidMultiplier {
                multiplier: m,
                shift: s
            })
        );
    }
}

#[test]
fn rounding_primitives_known_answers() {
    let h = saturating_rounding_doubling_high_mul;
    assert_eq!(h(i32::MIN, i32::MIN), i32::MAX);
    assert_eq!(h(i32::MAX, i32::MAX), 2147483646);
    assert_eq!(h(i32::MIN, i32::MAX), -2147483647);
    assert_eq!(h(i32::MAX, i32::MIN), -2147483647);
    assert_eq!(h(1 << 30, 1 << 30), 1 << 29);
    assert_eq!(h(-(1 << 30), 1 << 30), -(1 << 29));
    // Ties go toward +inf on both sides of zero.
    assert_eq!(h(1, 1 << 30), 1); // 0.5
    assert_eq!(h(-1, 1 << 30), 0); // -0.5
    assert_eq!(h(3, 1 << 30), 2); // 1.5
    assert_eq!(h(-3, 1 << 30), -1); // -1.5
    assert_eq!(h(0, i32::MIN), 0);

    let d = rounding_divide_by_pot;
    assert_eq!(d(12345, 0), 12345);
    assert_eq!(d(-12345, 0), -12345);
    // Ties away from zero.
    assert_eq!(d(1, 1), 1);
    assert_eq!(d(-1, 1), -1);
    assert_eq!(d(3, 1), 2);
    assert_eq!(d(-3, 1), -2);
    assert_eq!(d(2, 1), 1);
    assert_eq!(d(5, 2), 1); // 1.25
    assert_eq!(d(-5, 2), -1);
    assert_eq!(d(6, 2), 2); // 1.5
    assert_eq!(d(-6, 2), -2);
    assert_eq!(d(i32::MAX, 31), 1);
    assert_eq!(d(i32::MIN, 31), -1);
    assert_eq!(d(i32::MAX, 30), 2);
    assert_eq!(d(i32::MIN, 30), -2);
    assert_eq!(d(1 << 30, 31), 1); // 0.5
    assert_eq!(d(-(1 << 30), 31), -1);
    assert_eq!(d((1 << 30) - 1, 31), 0);
    // Past gemmlowp's range: the rounded quotient.
    assert_eq!(d(i32::MIN, 32), -1); // -0.5
    assert_eq!(d(i32::MAX, 32), 0);
    assert_eq!(d(i32::MIN, 33), 0);
    assert_eq!(d(-1, u32::MAX), 0);
}

#[test]
fn multiply_known_answers() {
    let half = |shift| Multiplier::new(1 << 30, shift).unwrap(); // 0.5 * 2^shift
                                                                 // Double rounding rounds twice: 5 * 0.25 = 1.25 -> 2.5 -> 3 -> 1.5 -> 2.
    assert_eq!(half(-1).multiply(5), 2);
    assert_eq!(half(-1).multiply_single_rounding(5), 1);
    // -0.5: double rounding goes away from zero in the shift, single rounding up.
    assert_eq!(half(-1).multiply(-2), -1);
    assert_eq!(half(-1).multiply_single_rounding(-2), 0);
    assert_eq!(half(-1).multiply(-3), -1); // -0.75
    assert_eq!(half(-1).multiply_single_rounding(-3), -1);
    assert_eq!(half(0).multiply(7), 4); // 3.5 up
    assert_eq!(half(0).multiply(-7), -3); // -3.5 up
    assert_eq!(half(0).multiply_single_rounding(-7), -3);
    // Left shifts: 0.5 * 2^3 = 4.
    assert_eq!(half(3).multiply(100), 400);
    assert_eq!(half(3).multiply_single_rounding(-100), -400);
    // x * 2^left beyond i32 saturates (undefined in TFLite's C++), on the exact side.
    assert_eq!(half(2).multiply(i32::MAX), 1 << 30);
    assert_eq!(half(2).multiply(i32::MIN), -(1 << 30));
    assert_eq!(half(2).multiply_single_rounding(i32::MAX), i32::MAX);
    assert_eq!(half(2).multiply_single_rounding(i32::MIN), i32::MIN);
    // Tiny: 2^-32. Just below 0.5 exactly, double rounding goes up twice.
    assert_eq!(half(-31).multiply(i32::MAX), 1);
    assert_eq!(half(-31).multiply_single_rounding(i32::MAX), 0);
    // -0.5 exactly: away from zero in the shift, up in the single rounding.
    assert_eq!(half(-31).multiply(i32::MIN), -1);
    assert_eq!(half(-31).multiply_single_rounding(i32::MIN), 0);
    let zero = Multiplier::from_scale(0.0).unwrap();
    assert_eq!(zero.multiply(i32::MAX), 0);
}

#[test]
fn requantize_known_answers() {
    let m = [Multiplier::from_scale(0.5).unwrap()];
    // Float mode: f32, ties to even; the conversion of acc to f32 rounds first.
    let s = [0.5f32, naive::exp2(-25) as f32];
    let fl = QuantParams::new(0, Requant::Float(&s), 10);
    assert_eq!(
        [1, 3, 5, -1, -3, -5].map(|a| fl.requantize(0, a)),
        [10, 12, 12, 10, 8, 8]
    );
    // 2^24 + 1 becomes 2^24 in f32: 0.5 exactly, to even 0 (exact math would give 1).
    assert_eq!(fl.requantize(1, (1 << 24) + 1), 10);
    assert_eq!(fl.requantize(0, i32::MAX), 127);
    assert_eq!(fl.requantize(0, i32::MIN), -128);
    // TFLite modes on the same ties: 0.5 -> 1, 1.5 -> 2, 2.5 -> 3, -0.5 -> 0, -2.5 -> -2.
    let tf = QuantParams::new(0, Requant::TfLite(&m), 10);
    assert_eq!(
        [1, 3, 5, -1, -5].map(|a| tf.requantize(0, a)),
        [11, 12, 13, 10, 8]
    );
    let single = QuantParams::new(0, Requant::TfLiteSingleRounding(&m), 10);
    assert_eq!(
        [1, 3, 5, -1, -5].map(|a| single.requantize(0, a)),
        [11, 12, 13, 10, 8]
    );
    // Zero points at the ends, saturation both ways, ReLU and inverted ranges.
    let lo = QuantParams::new(0, Requant::TfLite(&m), -128);
    assert_eq!(
        [-2, 0, 510, 512].map(|a| lo.requantize(0, a)),
        [-128, -128, 127, 127]
    );
    let hi = QuantParams::new(0, Requant::TfLite(&m), 127);
    assert_eq!(
        [2, -510, -512, -600].map(|a| hi.requantize(0, a)),
        [127, -128, -128, -128]
    );
    let relu = hi.with_clamp(Clamp::quantized_relu(127));
    assert_eq!(relu.requantize(0, -600), 127);
    let inverted = lo.with_clamp(Clamp { min: 5, max: -5 });
    assert_eq!(
        [-1000, 0, 1000].map(|a| inverted.requantize(0, a)),
        [-5, -5, -5]
    );
}

#[test]
fn quantized_relu6_ranges() {
    let c = Clamp::quantized_relu6(0, 0.5).unwrap();
    assert_eq!((c.min, c.max), (0, 12));
    let c = Clamp::quantized_relu6(100, 0.1).unwrap();
    assert_eq!((c.min, c.max), (100, 127));
    // 6 / 4 = 1.5 rounds away from zero.
    let c = Clamp::quantized_relu6(-128, 4.0).unwrap();
    assert_eq!((c.min, c.max), (-128, -126));
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(matches!(
            Clamp::quantized_relu6(0, bad),
            Err(Error::InvalidScale { .. })
        ));
    }
    assert_eq!(Clamp::quantized_relu(-3), Clamp { min: -3, max: 127 });
}

#[test]
fn quantize_known_answers() {
    let mut q = [0i8; 12];
    let x = [
        0.0,
        0.5,
        1.5,
        2.5,
        -0.5,
        -1.5,
        1e10,
        -1e10,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -0.0,
    ];
    quantize(&x, 1.0, 3, &mut q).unwrap();
    assert_eq!(q, [3, 3, 5, 5, 3, 1, 127, -128, 127, -128, 3, 3]);
    quantize(&[126.0, 127.0, -1.0], 1.0, -128, &mut q[..3]).unwrap();
    assert_eq!(&q[..3], &[-2, -1, -128]);
    let mut f = [0.0f32; 3];
    dequantize(&[-128, 127, 0], 0.25, 127, &mut f).unwrap();
    assert_eq!(f, [-63.75, 0.0, -31.75]);
}

// ---------------------------------------------------------------------------------------
// Property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn srdhm_matches_reference(a in any::<i32>(), b in any::<i32>(), tie in any::<bool>()) {
        // Half the time an exact tie: b = 2^30 makes a * b / 2^31 = a / 2.
        let b = if tie { 1 << 30 } else { b };
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), naive::srdhm(a, b));
    }

    #[test]
    fn rdbpot_matches_reference(x in any::<i32>(), e in 0u32..=40, tie in any::<bool>()) {
        // Half the time a tie: low bits exactly 100...0.
        let x = if tie && e > 0 && e < 31 { (x & !((1 << e) - 1)) | (1 << (e - 1)) } else { x };
        prop_assert_eq!(rounding_divide_by_pot(x, e), naive::rdbpot(x, e));
    }

    #[test]
    fn multiply_matches_reference(x in any::<i32>(), (m, s) in pair()) {
        let q = Multiplier::new(m, s).unwrap();
        prop_assert_eq!(q.multiply(x), naive::mbqm(x, m, s));
        prop_assert_eq!(q.multiply_single_rounding(x), naive::mbqm_single(x, m, s));
    }

    #[test]
    fn quantize_multiplier_matches_reference(
        mantissa in 0u64..(1 << 52),
        exponent in -1100i32..=40,
        special in 0..8u32,
    ) {
        let x = match special {
            // Near the carry: significands just below 1.
            0 => naive::ldexp(1.0 - (mantissa % 1024) as f64 * naive::exp2(-53), exponent),
            // Ties: q * 2^31 ends in exactly one half.
            1 => naive::ldexp(((mantissa >> 22) << 22 | 1 << 21 | 1 << 52) as f64, exponent - 52),
            _ => naive::ldexp(1.0 + mantissa as f64 * naive::exp2(-52), exponent),
        };
        let got = Multiplier::from_scale(x).ok().map(|m| (m.multiplier(), m.shift()));
        prop_assert_eq!(got, naive::quantize_multiplier(x), "{:e}", x);
    }

    #[test]
    fn requantize_matches_reference(
        acc in prop_oneof![any::<i32>(), -100_000i32..100_000],
        mode in mode(1),
        zp in zero_point(),
        r in range(),
    ) {
        let store = store(&mode);
        let mut q = QuantParams::new(0, requant(&mode, &store), zp);
        q.clamp = clamp_of(r);
        let (lo, hi) = bounds(r);
        prop_assert_eq!(q.requantize(0, acc), mode.apply(0, acc, zp, lo, hi));
    }

    #[test]
    fn quantize_matches_reference(
        x in prop_oneof![
            any::<f32>(),
            -300.0f32..300.0,
            (-600i32..600).prop_map(|k| k as f32 * 0.5),
        ],
        scale in prop_oneof![Just(1.0f32), Just(0.5f32), 1e-3f32..10.0],
        zp in zero_point(),
    ) {
        let mut q = [0i8; 1];
        quantize(&[x], scale, zp, &mut q).unwrap();
        prop_assert_eq!(q[0], naive::quantize(x, scale, zp), "{} / {}", x, scale);
        let mut f = [0.0f32; 1];
        dequantize(&q, scale, zp, &mut f).unwrap();
        prop_assert_eq!(f[0].to_bits(), naive::dequantize(q[0], scale, zp).to_bits());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// `multiply` (computed in 32 bits where it can) is TFLite's composition of the two
    /// gemmlowp primitives, whatever the accumulator, multiplier and shift.
    #[test]
    fn multiply_is_the_composition(
        (m, shift) in pair(),
        x in prop_oneof![Just(i32::MIN), Just(i32::MAX), -70000i32..70000, any::<i32>()],
    ) {
        let mul = Multiplier::new(m, shift).unwrap();
        let (left, right) = (shift.max(0) as u32, (-shift).max(0) as u32);
        let want = rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(x.saturating_mul(1 << left), m),
            right,
        );
        prop_assert_eq!(mul.multiply(x), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn conv_matches_reference(c in conv_case()) {
        conv_matches(&c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wide_conv_matches_reference(c in case_of(wide_geom())) {
        conv_matches(&c)?;
    }
}

/// A fixed sample of the wide cases on every instruction set this machine has, at full
/// speed, reported with the other families' tiers (`common::isa::report`); on a CPU with
/// AVX-512 VNNI the AVX-512 build's int8 convolution is its VNNI kernel, on an aarch64 CPU
/// with the dot-product extension the NEON build's is its `sdot` kernel, and the report says
/// so. `NCHW_EXPECT_VNNI` (set by `.ci/run` when the CPU flags list `avx512_vnni`) makes it
/// a failure for the tests not to reach the VNNI kernel; `NCHW_EXPECT_SDOT=1` (or `0`) for
/// them not to reach (or to reach) the `sdot` kernel.
#[test]
fn int8_conv_every_tier() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cases: Vec<ConvCase> = (0..48)
        .map(|_| {
            case_of(wide_geom())
                .new_tree(&mut runner)
                .unwrap()
                .current()
        })
        .collect();
    let ran = common::isa::each_isa(|isa| {
        for c in &cases {
            // `Geom::conv` forces the geometry onto `isa`.
            let conv = c.g.conv().unwrap();
            let got = run_conv(c, &conv, conv.scratch_len_i8()).unwrap();
            assert_eq!(got, expected_conv(c), "{:?} on {}", c.g, isa.name());
        }
    });
    #[cfg(target_arch = "x86_64")]
    let vnni = ran.contains(&Isa::Avx512) && std::is_x86_feature_detected!("avx512vnni");
    #[cfg(not(target_arch = "x86_64"))]
    let vnni = false;
    #[cfg(target_arch = "aarch64")]
    let sdot = ran.contains(&Isa::Neon) && std::arch::is_aarch64_feature_detected!("dotprod");
    #[cfg(not(target_arch = "aarch64"))]
    let sdot = false;
    let family = if vnni {
        "int8 conv (avx512 with VNNI)"
    } else if sdot {
        "int8 conv (neon with sdot)"
    } else if ran.contains(&Isa::Neon) {
        "int8 conv (neon without sdot)"
    } else {
        "int8 conv"
    };
    common::isa::report(family, &ran);
    if std::env::var_os("NCHW_EXPECT_VNNI").is_some() {
        assert!(
            vnni,
            "NCHW_EXPECT_VNNI is set, but the AVX-512 VNNI kernel did not run"
        );
    }
    if let Ok(expect) = std::env::var("NCHW_EXPECT_SDOT") {
        assert_eq!(
            sdot,
            expect == "1",
            "NCHW_EXPECT_SDOT={expect}, but the sdot kernel ran: {sdot}"
        );
    }
}

/// Every instruction set this CPU runs (and AVX-512 with VNNI where it has it), at the
/// case's workspace and at more than full speed needs, gives the reference's bytes.
fn conv_matches(c: &ConvCase) -> Result<(), TestCaseError> {
    let conv = c.g.conv().unwrap();
    let (lo, hi) = (conv.min_scratch_len_i8(), conv.scratch_len_i8());
    prop_assert!(lo >= 1 && lo <= hi);
    let scratch = lo + (hi - lo) * c.frac / 1000;
    let want = expected_conv(c);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let forced = conv.with_isa(isa).unwrap();
        let got = run_conv(c, &forced, scratch).unwrap();
        prop_assert_eq!(&got, &want, "{:?} on {}", c.g, isa.name());
    }
    // More workspace than full speed needs changes nothing either.
    prop_assert_eq!(run_conv(c, &conv, hi + 7).unwrap(), want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn gemm_matches_reference(
        (m, n, k) in (0..7usize, 0..7usize, 0..9usize),
        seed in any::<u64>(),
        (za, zb) in (zero_point(), zero_point()),
        (ta, tb, tc) in (any::<bool>(), any::<bool>(), any::<bool>()),
    ) {
        let (a, b) = (bytes(seed, m * k), bytes(seed ^ 7, k * n));
        let want = naive::gemm(m, n, k, &a, za, &b, zb);
        // The same matrices stored row- or column-major.
        let a_t: Vec<i8> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect();
        let b_t: Vec<i8> = (0..k * n).map(|i| b[(i % k) * n + i / k]).collect();
        let av = if ta { MatRef::new(&a_t, m, k, 1, m) } else { MatRef::row_major(&a, m, k) };
        let bv = if tb { MatRef::new(&b_t, k, n, 1, k) } else { MatRef::row_major(&b, k, n) };
        let mut c = Guarded::new(m * n, 0x5555_5555i32, -7);
        let cv = if tc {
            MatMut::new(c.body(), m, n, 1, m)
        } else {
            MatMut::row_major(c.body(), m, n)
        };
        let g = Gemm::new(m, n, k).unwrap();
        gemm_i8(&g, av.unwrap(), za, bv.unwrap(), zb, cv.unwrap()).unwrap();
        let got: Vec<i64> = (0..m * n)
            .map(|i| {
                let (r, col) = (i / n, i % n);
                c.checked()[if tc { col * m + r } else { i }] as i64
            })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn fully_connected_matches_reference(
        (m, n, k) in (1..7usize, 0..5usize, 1..20usize),
        seed in any::<u64>(),
        zp in zero_point(),
        y_zp in zero_point(),
        per_channel in any::<bool>(),
        with_bias in any::<bool>(),
        r in range(),
        modes in (mode(1), mode(6)),
    ) {
        let mode = if per_channel {
            match modes.1 {
                Mode::Double(v) => Mode::Double(v[..m].to_vec()),
                Mode::Single(v) => Mode::Single(v[..m].to_vec()),
                Mode::Float(v) => Mode::Float(v[..m].to_vec()),
            }
        } else {
            modes.0
        };
        let (w, x) = (bytes(seed, m * k), bytes(seed ^ 3, k * n));
        let bias: Vec<i32> = (0..m as i32).map(|i| (i - 2) * 40_000 + seed as i32 % 1000).collect();
        let bias = with_bias.then_some(bias);
        let acc = naive::gemm(m, n, k, &w, 0, &x, zp);
        let (lo, hi) = bounds(r);
        let want: Vec<i8> = acc
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                let a = a + bias.as_ref().map_or(0, |b| b[i / n] as i64);
                mode.apply(i / n, a as i32, y_zp, lo, hi)
            })
            .collect();
        let store = store(&mode);
        let mut q = QuantParams::new(zp, requant(&mode, &store), y_zp);
        q.clamp = clamp_of(r);
        let mut y = Guarded::new(m * n, 0x33i8, 0x2a);
        gemm_i8_requant(
            &Gemm::new(m, n, k).unwrap(),
            MatRef::row_major(&w, m, k).unwrap(),
            MatRef::row_major(&x, k, n).unwrap(),
            bias.as_deref(),
            &q,
            MatMut::row_major(y.body(), m, n).unwrap(),
        )
        .unwrap();
        prop_assert_eq!(y.checked(), &want[..]);
    }
}

/// Every divisor rule; overrides small, and up to `2^40` (rounding in `i64`).
fn divisors() -> impl Strategy<Value = Divisor> {
    prop_oneof![
        Just(Divisor::CountExcludePad),
        Just(Divisor::CountIncludePad),
        (1usize..12).prop_map(Divisor::Override),
        (0u32..41).prop_map(|e| Divisor::Override(1 << e)),
    ]
}

fn pool_spec() -> impl Strategy<Value = Geom> {
    let axis = || {
        (
            1..8usize,
            1..5usize,
            1..4usize,
            1..3usize,
            0..3usize,
            0..3usize,
        )
    };
    (0..3usize, 1..3usize, axis(), axis(), any::<bool>())
        .prop_map(|(n, c, h, w, ceil)| {
            Geom::pool2d(
                [n, c],
                [h.0, w.0],
                [h.1, w.1],
                [h.2, w.2],
                [h.3, w.3],
                [
                    [h.4.min(h.1 / 2), h.5.min(h.1 / 2)],
                    [w.4.min(w.1 / 2), w.5.min(w.1 / 2)],
                ],
                ceil,
            )
        })
        .prop_filter("valid", |s| s.expected_error().is_none())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn max_pool_matches_reference(s in pool_spec(), seed in any::<u64>(), r in range()) {
        check_max_pool(&s, seed, r)?;
    }

    #[test]
    fn avg_pool_matches_reference(
        s in pool_spec(),
        seed in any::<u64>(),
        r in range(),
        div in divisors(),
    ) {
        let s = Geom { dilation: [1, 1], ..s };
        prop_assume!(s.expected_error().is_none());
        check_avg_pool(&s, seed, r, div)?;
    }
}

/// `max_pool2d_i8` on `s` (random input from `seed`, clamp `r`) against the naive loop.
fn check_max_pool(s: &Geom, seed: u64, r: Option<(i8, i8)>) -> Result<(), TestCaseError> {
    let g = s.pool().unwrap();
    let x = bytes(seed, s.x_len());
    let (lo, hi) = bounds(r);
    let mut y = Guarded::new(s.y_len(), 0x33i8, 0x2a);
    max_pool2d_i8(&g, &x, clamp_of(r), y.body()).unwrap();
    prop_assert_eq!(y.checked(), &naive::max_pool(s, &x, lo, hi)[..]);
    Ok(())
}

/// `avg_pool2d_i8` on `s` with `div` against the naive loop, as [`check_max_pool`].
fn check_avg_pool(
    s: &Geom,
    seed: u64,
    r: Option<(i8, i8)>,
    div: Divisor,
) -> Result<(), TestCaseError> {
    let a = AvgPool2d::new(s.pool().unwrap(), div).unwrap();
    let x = bytes(seed, s.x_len());
    let (lo, hi) = bounds(r);
    let d = match div {
        Divisor::CountExcludePad => common::pool::Div::ExcludePad,
        Divisor::CountIncludePad => common::pool::Div::IncludePad,
        Divisor::Override(d) => common::pool::Div::Override(d),
    };
    let want = naive::avg_pool(s, &x, |oh, ow| common::pool::divisor(s, d, oh, ow), lo, hi);
    let mut y = Guarded::new(s.y_len(), 0x33i8, 0x2a);
    avg_pool2d_i8(&a, &x, clamp_of(r), y.body()).unwrap();
    prop_assert_eq!(y.checked(), &want[..]);
    Ok(())
}

/// The 2x2 stride-2 unpadded layer, which has its own loops: rare among `pool_spec`'s
/// geometries, so drawn here on its own, with odd sizes, ceil mode (whose overhanging last
/// window takes the general path) and divisors up to `2^40` (`i64` rounding).
fn plain_2x2_spec() -> impl Strategy<Value = Geom> {
    (0..3usize, 1..4usize, 1..12usize, 1..21usize, any::<bool>())
        .prop_map(|(n, c, h, w, ceil)| {
            Geom::pool2d(
                [n, c],
                [h, w],
                [2, 2],
                [2, 2],
                [1, 1],
                [[0, 0], [0, 0]],
                ceil,
            )
        })
        .prop_filter("valid", |s| s.expected_error().is_none())
}

/// The plain 2x2 layer but for one thing (a dilated axis, one padded side, another kernel or
/// stride on one axis): each must take the general windows, not the 2x2 loops, whose guard
/// checks them all. `pool_spec` draws such near misses too rarely to catch a dropped check.
fn near_2x2_spec() -> impl Strategy<Value = Geom> {
    (
        0..3usize,
        1..3usize,
        1..9usize,
        1..12usize,
        any::<bool>(),
        0..13usize,
    )
        .prop_map(|(n, c, h, w, ceil, change)| {
            let (mut kernel, mut stride, mut dilation) = ([2, 2], [2, 2], [1, 1]);
            let mut pad = [[0, 0], [0, 0]];
            match change {
                0 | 1 => dilation[change] = 2,
                2..=5 => pad[(change - 2) / 2][change % 2] = 1,
                6 | 7 => kernel[change - 6] = 3,
                8 | 9 => kernel[change - 8] = 1,
                10 | 11 => stride[change - 10] = 1,
                _ => stride[0] = 3,
            }
            Geom::pool2d([n, c], [h, w], kernel, stride, dilation, pad, ceil)
        })
        .prop_filter("valid", |s| s.expected_error().is_none())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The plain 2x2 layer (its own loops) and its near misses (the general windows).
    #[test]
    fn two_by_two_max_pool_matches_reference(
        s in prop_oneof![plain_2x2_spec(), near_2x2_spec()],
        seed in any::<u64>(),
        r in range(),
    ) {
        check_max_pool(&s, seed, r)?;
    }

    #[test]
    fn two_by_two_avg_pool_matches_reference(
        s in prop_oneof![plain_2x2_spec(), near_2x2_spec()],
        seed in any::<u64>(),
        r in range(),
        div in divisors(),
    ) {
        // Average pooling takes no dilation.
        prop_assume!(s.dilation == [1, 1]);
        check_avg_pool(&s, seed, r, div)?;
    }
}

/// A window of 2896 x 2896 taps (under the `2^24` the accumulator admits) sums past `2^30`,
/// where the rounding leaves `i32` for `i64`: with divisors near `2^30` the quotient is about
/// one, so a wrong nudge or sign shows.
#[test]
#[cfg_attr(miri, ignore)]
fn huge_window_average_rounds_in_i64() {
    let side = 2896;
    let g = Pool2d::new(
        Shape::new(1, 1, side, side).unwrap(),
        Window::pool(side),
        Rounding::Floor,
    )
    .unwrap();
    for v in [127i8, -128, 64, -65] {
        let x = vec![v; side * side];
        let sum = i128::from(v) * (side * side) as i128;
        for d in [
            (1usize << 30) - 1,
            1 << 30,
            (1 << 30) + 12_345,
            1 << 31,
            3 << 29,
        ] {
            let a = AvgPool2d::new(g, Divisor::Override(d)).unwrap();
            let mut y = [0i8];
            avg_pool2d_i8(&a, &x, None, &mut y).unwrap();
            // round(sum / d), ties away from zero.
            let q = sum.signum() * ((2 * sum.abs() + d as i128) / (2 * d as i128));
            assert_eq!(
                i128::from(y[0]),
                q.clamp(-128, 127),
                "{v} x {} / {d}",
                side * side
            );
        }
    }
}

/// Ties of the 2x2 average round away from zero, on both signs, and the clamp applies after.
#[test]
fn plain_2x2_avg_pool_ties() {
    let g = Pool2d::new(
        Shape::new(1, 1, 2, 8).unwrap(),
        Window::pool(2),
        Rounding::Floor,
    )
    .unwrap();
    let a = AvgPool2d::new(g, Divisor::CountExcludePad).unwrap();
    // Window sums 2, -2, 6, -6 (quotients 0.5, -0.5, 1.5, -1.5).
    let x = [1, 1, -1, -1, 3, 3, -3, -3, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut y = [0i8; 4];
    avg_pool2d_i8(&a, &x, None, &mut y).unwrap();
    assert_eq!(y, [1, -1, 2, -2]);
    avg_pool2d_i8(&a, &x, clamp_of(Some((-1, 1))), &mut y).unwrap();
    assert_eq!(y, [1, -1, 1, -1]);
    // Sum -3 (-0.75) and 3 over 3 (Override): -1 and 1.
    let x = [-1, -1, 0, 0, 0, 0, 0, 0, -1, 0, 3, 0, 0, 0, 0, 0];
    avg_pool2d_i8(&a, &x, None, &mut y).unwrap();
    assert_eq!(y[..2], [-1, 1]);
    let three = AvgPool2d::new(g, Divisor::Override(3)).unwrap();
    avg_pool2d_i8(&three, &x, None, &mut y).unwrap();
    assert_eq!(y[..2], [-1, 1]);
}

// ---------------------------------------------------------------------------------------
// Errors and edge cases

fn conv_geom(c: usize, oc: usize, hw: usize, k: usize) -> Conv2d {
    Conv2d::new(Shape::new(1, c, hw, hw).unwrap(), oc, Window::square(k), 1).unwrap()
}

#[test]
fn conv_errors_leave_output_untouched() {
    let conv = conv_geom(2, 3, 4, 3);
    let x = vec![1i8; conv.input_len()];
    let w = vec![1i8; conv.weight_len()];
    let m = [Multiplier::from_scale(0.01).unwrap(); 3];
    let q = QuantParams::new(0, Requant::TfLite(&m), 0);
    let mut y = vec![77i8; conv.output_len()];
    let mut s = vec![0i8; conv.scratch_len_i8()];
    let len = |buffer, expected, actual| Error::BufferLength {
        buffer,
        expected,
        actual,
    };
    let mut run =
        |x: &[i8], w: &[i8], b: Option<&[i32]>, q: &QuantParams, ylen: usize, slen: usize| {
            y.fill(77);
            let r = conv2d_i8(&conv, x, w, b, q, &mut y[..ylen], &mut s[..slen]);
            if r.is_err() {
                assert!(y.iter().all(|&v| v == 77), "output touched on {r:?}");
            }
            r
        };
    let (yl, sl) = (conv.output_len(), conv.scratch_len_i8());
    assert_eq!(
        run(&x[1..], &w, None, &q, yl, sl),
        Err(len("input", 32, 31))
    );
    assert_eq!(
        run(&x, &w[1..], None, &q, yl, sl),
        Err(len("weight", 54, 53))
    );
    assert_eq!(
        run(&x, &w, Some(&[0; 2]), &q, yl, sl),
        Err(len("bias", 3, 2))
    );
    assert_eq!(
        run(&x, &w, None, &q, yl - 1, sl),
        Err(len("output", 12, 11))
    );
    let two = QuantParams::new(0, Requant::TfLite(&m[..2]), 0);
    assert_eq!(
        run(&x, &w, None, &two, yl, sl),
        Err(len("requantization parameters", 3, 2))
    );
    for bad in [f32::NAN, -1.0, f32::INFINITY] {
        let sc = [0.5, bad, 0.5];
        let fq = QuantParams::new(0, Requant::Float(&sc), 0);
        assert_eq!(
            run(&x, &w, None, &fq, yl, sl),
            Err(Error::InvalidScale {
                what: "requantization scale",
                index: 1
            })
        );
    }
    // 18 products of up to 32640: a bias within 587520 of the i32 ends overflows.
    let edge = i32::MAX - 18 * 255 * 128;
    // The negative side holds one more.
    assert!(run(&x, &w, Some(&[edge, -edge - 1, 0]), &q, yl, sl).is_ok());
    for b in [edge + 1, -edge - 2, i32::MIN] {
        assert_eq!(
            run(&x, &w, Some(&[0, b, 0]), &q, yl, sl),
            Err(Error::AccumulatorOverflow {
                products: 18,
                product_max: 32640,
                bias: b
            })
        );
    }
    assert_eq!(
        run(&x, &w, None, &q, yl, 17),
        Err(Error::ScratchTooSmall {
            needed: 18,
            actual: 17
        })
    );
    assert_eq!(conv.min_scratch_len_i8(), 18);
}

#[test]
fn conv_accumulator_limit() {
    // 7311 channels x 9 taps = 65799 > 65793 products: refused whatever the data.
    let big = conv_geom(7311, 1, 3, 3);
    let m = [Multiplier::from_scale(0.001).unwrap()];
    let q = QuantParams::new(0, Requant::TfLite(&m), 0);
    let x = vec![0i8; big.input_len()];
    let w = vec![0i8; big.weight_len()];
    let mut y = [9i8];
    let mut s = vec![0i8; big.min_scratch_len_i8()];
    let e = conv2d_i8(&big, &x, &w, None, &q, &mut y, &mut s).unwrap_err();
    assert_eq!(
        e,
        Error::AccumulatorOverflow {
            products: 65799,
            product_max: 32640,
            bias: 0
        }
    );
    assert_eq!(y, [9]);
    assert!(e.to_string().contains("65799"), "{e}");
    // 7310 x 9 = 65790 products fit, even at the worst case.
    let ok = conv_geom(7310, 1, 3, 3);
    let x = vec![-128i8; ok.input_len()];
    let w = vec![-128i8; ok.weight_len()];
    let mut s = vec![0i8; ok.min_scratch_len_i8()];
    let qz = QuantParams::new(127, Requant::TfLite(&m), 0);
    conv2d_i8(&ok, &x, &w, None, &qz, &mut y, &mut s).unwrap();
    // 65790 * (-255) * (-128) * 0.001 = 2147.4..., saturated.
    assert_eq!(y, [127]);
    // Float: 65790 * 32640 = 2147385600 (exact in f32) * 2^-25 = 63.997 -> 64.
    let mf = [naive::exp2(-25) as f32];
    let fq = QuantParams::new(127, Requant::Float(&mf), 0);
    conv2d_i8(&ok, &x, &w, None, &fq, &mut y, &mut s).unwrap();
    assert_eq!(y, [64]);
}

#[test]
fn empty_batch() {
    let conv = Conv2d::new(Shape::new(0, 2, 3, 3).unwrap(), 2, Window::square(2), 1).unwrap();
    let m = [Multiplier::from_scale(0.5).unwrap()];
    let q = QuantParams::new(0, Requant::TfLite(&m), 0);
    assert_eq!(conv.output_len(), 0);
    let mut s = vec![0i8; conv.min_scratch_len_i8()];
    conv2d_i8(&conv, &[], &[1; 16], Some(&[1, 2]), &q, &mut [], &mut s).unwrap();
    let g = Pool2d::new(
        Shape::new(0, 3, 4, 4).unwrap(),
        Window::square(2),
        Rounding::Floor,
    )
    .unwrap();
    max_pool2d_i8(&g, &[], None, &mut []).unwrap();
    let a = AvgPool2d::new(g, Divisor::CountExcludePad).unwrap();
    avg_pool2d_i8(&a, &[], None, &mut []).unwrap();
    quantize(&[], 1.0, 0, &mut []).unwrap();
    dequantize(&[], 1.0, 0, &mut []).unwrap();
    // Empty matrices.
    let empty: [i8; 0] = [];
    gemm_i8(
        &Gemm::new(0, 2, 3).unwrap(),
        MatRef::row_major(&empty, 0, 3).unwrap(),
        0,
        MatRef::row_major(&[1i8; 6], 3, 2).unwrap(),
        0,
        MatMut::row_major(&mut [], 0, 2).unwrap(),
    )
    .unwrap();
    let mut c = [5i32; 4];
    gemm_i8(
        &Gemm::new(2, 2, 0).unwrap(),
        MatRef::row_major(&empty, 2, 0).unwrap(),
        3,
        MatRef::row_major(&empty, 0, 2).unwrap(),
        -3,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
    )
    .unwrap();
    assert_eq!(c, [0; 4]); // k = 0: empty sums, written
}

#[test]
fn pool_errors() {
    let g = Pool2d::new(
        Shape::new(1, 1, 4, 4).unwrap(),
        Window::square(2),
        Rounding::Floor,
    )
    .unwrap();
    let mut y = [7i8; 9];
    assert_eq!(
        max_pool2d_i8(&g, &[0; 15], None, &mut y),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 16,
            actual: 15
        })
    );
    assert_eq!(
        max_pool2d_i8(&g, &[0; 16], None, &mut y[..8]),
        Err(Error::BufferLength {
            buffer: "output",
            expected: 9,
            actual: 8
        })
    );
    let a = AvgPool2d::new(g, Divisor::CountIncludePad).unwrap();
    assert!(avg_pool2d_i8(&a, &[0; 17], None, &mut y).is_err());
    assert!(avg_pool2d_i8(&a, &[0; 16], None, &mut y[..1]).is_err());
    assert_eq!(y, [7; 9]);
    // A 4097 x 4097 window (over a 1x1 input padded by 2048) sums 2^24 + 8193 taps of up
    // to 128: refused.
    let w = Window::square(4097).with_padding(Padding::uniform(2048));
    let big = Pool2d::new(Shape::new(1, 1, 1, 1).unwrap(), w, Rounding::Floor).unwrap();
    let a = AvgPool2d::new(big, Divisor::CountIncludePad).unwrap();
    let mut y = [7i8];
    assert_eq!(
        avg_pool2d_i8(&a, &[100], None, &mut y),
        Err(Error::AccumulatorOverflow {
            products: 4097 * 4097,
            product_max: 128,
            bias: 0
        })
    );
    max_pool2d_i8(&big, &[100], None, &mut y).unwrap();
    assert_eq!(y, [100]);
}

#[test]
fn gemm_errors() {
    let a = [1i8; 6];
    let b = [1i8; 6];
    let mut c = [9i32; 4];
    let g = Gemm::new(2, 2, 3).unwrap();
    // Each operand's dimensions against the geometry's (a 2 x 3, b 3 x 2, c 2 x 2).
    let cases = [
        ((1, 3), (3, 2), (2, 2), ("a rows", 1, 2)),
        ((2, 2), (3, 2), (2, 2), ("a columns", 2, 3)),
        ((2, 3), (2, 2), (2, 2), ("b rows", 2, 3)),
        ((2, 3), (3, 1), (2, 2), ("b columns", 1, 2)),
        ((2, 3), (3, 2), (1, 2), ("c rows", 1, 2)),
        ((2, 3), (3, 2), (2, 1), ("c columns", 1, 2)),
    ];
    for (ad, bd, cd, (what, left, right)) in cases {
        let want = Err(Error::DimensionMismatch { what, left, right });
        let av = MatRef::row_major(&a, ad.0, ad.1).unwrap();
        let bv = MatRef::row_major(&b, bd.0, bd.1).unwrap();
        let cv = MatMut::row_major(&mut c, cd.0, cd.1).unwrap();
        assert_eq!(gemm_i8(&g, av, 0, bv, 0, cv), want);
        let m = [Multiplier::from_scale(0.5).unwrap()];
        let q = QuantParams::new(0, Requant::TfLite(&m), 0);
        let mut y = [4i8; 4];
        let yv = MatMut::row_major(&mut y, cd.0, cd.1).unwrap();
        assert_eq!(gemm_i8_requant(&g, av, bv, None, &q, yv), want);
        assert_eq!(y, [4; 4]);
    }
    assert_eq!(c, [9; 4]);
    // k = 33026 products of up to 255 * 255 can overflow; 33025 cannot.
    let long = vec![-128i8; 33026];
    let r = gemm_i8(
        &Gemm::new(1, 1, 33026).unwrap(),
        MatRef::row_major(&long, 1, 33026).unwrap(),
        127,
        MatRef::row_major(&long, 33026, 1).unwrap(),
        127,
        MatMut::row_major(&mut c[..1], 1, 1).unwrap(),
    );
    assert_eq!(
        r,
        Err(Error::AccumulatorOverflow {
            products: 33026,
            product_max: 65025,
            bias: 0
        })
    );
    assert_eq!(c[0], 9);
    gemm_i8(
        &Gemm::new(1, 1, 33025).unwrap(),
        MatRef::row_major(&long[1..], 1, 33025).unwrap(),
        127,
        MatRef::row_major(&long[1..], 33025, 1).unwrap(),
        127,
        MatMut::row_major(&mut c[..1], 1, 1).unwrap(),
    )
    .unwrap();
    assert_eq!(c[0], 33025 * 255 * 255);

    // The fully-connected layer's own checks.
    let m = [Multiplier::from_scale(0.5).unwrap(); 2];
    let q = QuantParams::new(0, Requant::TfLite(&m), 0);
    let mut y = [3i8; 2];
    let fc = |bias: Option<&[i32]>, q: &QuantParams, y: &mut [i8]| {
        gemm_i8_requant(
            &Gemm::new(2, 1, 3).unwrap(),
            MatRef::row_major(&a, 2, 3).unwrap(),
            MatRef::row_major(&b[..3], 3, 1).unwrap(),
            bias,
            q,
            MatMut::row_major(y, 2, 1).unwrap(),
        )
    };
    assert_eq!(
        fc(Some(&[1]), &q, &mut y),
        Err(Error::BufferLength {
            buffer: "bias",
            expected: 2,
            actual: 1
        })
    );
    let three = [m[0]; 3];
    assert!(fc(
        None,
        &QuantParams::new(0, Requant::TfLite(&three), 0),
        &mut y
    )
    .is_err());
    let bad = [f32::NAN];
    assert!(fc(None, &QuantParams::new(0, Requant::Float(&bad), 0), &mut y).is_err());
    assert_eq!(
        fc(Some(&[0, i32::MAX]), &q, &mut y),
        Err(Error::AccumulatorOverflow {
            products: 3,
            product_max: 32640,
            bias: i32::MAX
        })
    );
    assert_eq!(y, [3, 3]);
    fc(Some(&[1, -1]), &q, &mut y).unwrap();
    assert_eq!(y, [2, 1]); // 4 / 2, 2 / 2
}

#[test]
fn quantize_errors() {
    let mut q = [5i8; 2];
    let mut f = [5.0f32; 2];
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let e = Error::InvalidScale {
            what: "quantization scale",
            index: 0,
        };
        assert_eq!(quantize(&[1.0, 2.0], bad, 0, &mut q), Err(e));
        assert_eq!(dequantize(&[1, 2], bad, 0, &mut f), Err(e));
    }
    assert!(quantize(&[1.0], 1.0, 0, &mut q).is_err());
    assert!(dequantize(&[1, 2, 3], 1.0, 0, &mut f).is_err());
    assert_eq!((q, f), ([5; 2], [5.0; 2]));
}

#[test]
fn error_messages_carry_the_numbers() {
    let e = Error::InvalidMultiplier {
        multiplier: -5,
        shift: 40,
    };
    let s = e.to_string();
    assert!(s.contains("-5") && s.contains("40"), "{s}");
    let s = Error::InvalidScale {
        what: "requantization scale",
        index: 3,
    }
    .to_string();
    assert!(s.contains("requantization scale 3"), "{s}");
    let s = Error::AccumulatorOverflow {
        products: 12,
        product_max: 32640,
        bias: -7,
    }
    .to_string();
    assert!(
        s.contains("12") && s.contains("32640") && s.contains("-7"),
        "{s}"
    );
}

/// Depthwise with a channel multiplier, by hand: output channel `c * 2 + j` reads input
/// channel `c` only.
#[test]
fn depthwise_channel_multiplier() {
    let conv = Conv2d::new(Shape::new(1, 2, 1, 2).unwrap(), 4, Window::new(1, 2), 2).unwrap();
    let m = [Multiplier::from_scale(1.0).unwrap()];
    let q = QuantParams::new(-1, Requant::TfLite(&m), 0);
    let x = [1i8, 2, 3, 4]; // minus the zero point: [2, 3], [4, 5]
    let w = [1i8, 0, 0, 1, 1, 1, -1, 1];
    let mut y = [0i8; 4];
    let mut s = [0i8; 2];
    conv2d_i8(&conv, &x, &w, Some(&[0, 10, 0, 0]), &q, &mut y, &mut s).unwrap();
    assert_eq!(y, [2, 13, 9, 1]);
}

/// The convolution requantizes exactly as [`QuantParams::requantize`] on every instruction
/// set (AVX-512 VNNI's vector requantization among them), ties and extremes included: a 1x1
/// convolution of one channel with weight 1 hands each accumulator `bias + x` (input zero
/// point 0) straight to the requantization, over every `x` and biases that put the ties of
/// each right shift in reach.
#[test]
fn conv_requantizes_like_requantize() {
    let conv = Conv2d::new(Shape::new(1, 1, 16, 16).unwrap(), 1, Window::square(1), 1).unwrap();
    let x: Vec<i8> = (-128..128).map(|v| v as i8).collect();
    let limit = i32::MAX - 255 * 128;
    let biases = [
        0,
        1000,
        -1000,
        1 << 20,
        -(1 << 20) - 2,
        123_457,
        limit,
        -limit,
    ];
    let mut multipliers = vec![Multiplier::new(0, 0).unwrap()];
    for shift in -31..=30 {
        for m in [1 << 30, (1 << 30) + 1, 1_518_500_250, i32::MAX] {
            multipliers.push(Multiplier::new(m, shift).unwrap());
        }
    }
    let scales = [0.0f32, 0.25, 0.5, 1e-3, 0.3, 3.0, 1000.0, 1e9];
    let mut modes: Vec<Requant<'_>> = Vec::new();
    for m in &multipliers {
        modes.push(Requant::TfLite(core::slice::from_ref(m)));
        modes.push(Requant::TfLiteSingleRounding(core::slice::from_ref(m)));
    }
    for s in &scales {
        modes.push(Requant::Float(core::slice::from_ref(s)));
    }
    let mut scratch = vec![0i8; conv.scratch_len_i8()];
    for &bias in &biases {
        for &requant in &modes {
            for clamp in [None, Some(Clamp { min: -100, max: 90 })] {
                let mut q = QuantParams::new(0, requant, -5);
                q.clamp = clamp;
                let want: Vec<i8> = x
                    .iter()
                    .map(|&v| q.requantize(0, bias + i32::from(v)))
                    .collect();
                for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
                    let mut y = vec![0i8; 256];
                    let c = conv.with_isa(isa).unwrap();
                    conv2d_i8(&c, &x, &[1], Some(&[bias]), &q, &mut y, &mut scratch).unwrap();
                    assert_eq!(y, want, "{requant:?} bias {bias} on {}", isa.name());
                }
            }
        }
    }
}
