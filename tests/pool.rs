//! Pooling against the naive references of `common::pool`, over random geometries, plus
//! every error path, the documented edge cases, and every SIMD tier.

mod common;

use common::pool::{self as naive, Div};
use common::{specials, to, Geom, Guarded, Real};
use nchw::{
    avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward, max_pool2d,
    max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, Accum, AvgPool2d,
    Divisor, Error, Padding, Pool2d, Rounding, Shape, Window,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Helpers

/// Bit-exact equality, NaN payloads aside (any NaN equals any NaN).
fn same<T: Real>(a: T, b: T) -> bool {
    (a.is_nan() && b.is_nan()) || a.bits() == b.bits()
}

fn assert_same<T: Real>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            same(g, w),
            "{what}[{i}]: got {g:?}, want {w:?}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// Equality up to rounding (sums taken in another order); non-finite values exactly.
fn assert_close<T: Real>(what: &str, got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let eps = if core::mem::size_of::<T>() == 4 {
        1e-5
    } else {
        1e-12
    };
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (gf, wf) = (g.to_f64(), w.to_f64());
        let ok = if wf.is_finite() {
            (gf - wf).abs() <= eps * (1.0 + wf.abs())
        } else {
            same(g, w)
        };
        assert!(ok, "{what}[{i}]: got {g:?}, want {w:?}");
    }
}

fn divisor(d: Div) -> Divisor {
    match d {
        Div::IncludePad => Divisor::CountIncludePad,
        Div::ExcludePad => Divisor::CountExcludePad,
        Div::Override(n) => Divisor::Override(n),
    }
}

/// A square `k`x`k`, stride `s`, uniform padding `p` spec over `n x c x h x w`.
fn square([n, c, h, w]: [usize; 4], k: usize, s: usize, p: usize, ceil: bool) -> Geom {
    Geom::pool2d(
        [n, c],
        [h, w],
        [k, k],
        [s, s],
        [1, 1],
        [[p, p], [p, p]],
        ceil,
    )
}

// ---------------------------------------------------------------------------------------
// Whole-operation checks against the references, for one spec and one element type.

/// Forward max (values and indices), backward from indices and by recomputing, both
/// accumulation modes.
fn check_max<T: Real>(s: &Geom, x: &[f64], dy: &[f64]) {
    let g = s.pool().unwrap();
    let (x, dy): (Vec<T>, Vec<T>) = (to(x), to(dy));
    let (want_y, want_idx) = naive::max_pool(s, &x);

    let guard = T::of(-7777.0);
    let mut y = Guarded::new(s.y_len(), T::of(f64::NAN), guard);
    let mut idx = Guarded::new(s.y_len(), u32::MAX, 7777);
    max_pool2d_with_indices(&g, &x, y.body(), idx.body()).unwrap();
    assert_same("max y", y.checked(), &want_y);
    assert_eq!(idx.checked(), want_idx, "max indices");
    let idx = idx.checked().to_vec();

    let mut y2 = Guarded::new(s.y_len(), T::of(f64::NAN), guard);
    max_pool2d(&g, &x, y2.body()).unwrap();
    assert_same("max y without indices", y2.checked(), &want_y);

    // Replace never reads dx: start from NaN. Add adds to what is there.
    let zeros = vec![T::ZERO; s.x_len()];
    let prior: Vec<T> = to(&specials(7, s.x_len())
        .iter()
        .map(|v| if v.is_finite() { *v } else { 1.0 })
        .collect::<Vec<_>>());
    for (accum, start) in [(Accum::Replace, None), (Accum::Add, Some(&prior))] {
        let want = naive::max_pool_backward(s, &dy, &want_idx, start.unwrap_or(&zeros));
        let init = |dx: &mut [T]| match start {
            None => dx.fill(T::of(f64::NAN)),
            Some(p) => dx.copy_from_slice(p),
        };
        let mut dx = Guarded::new(s.x_len(), T::ZERO, guard);
        init(dx.body());
        max_pool2d_backward(&g, &dy, &idx, dx.body(), accum).unwrap();
        assert_same("max backward (indices)", dx.checked(), &want);
        init(dx.body());
        max_pool2d_backward_recompute(&g, &x, &dy, dx.body(), accum).unwrap();
        assert_same("max backward (recompute)", dx.checked(), &want);
    }
}

/// Forward and backward average pooling for one divisor rule.
fn check_avg<T: Real>(s: &Geom, div: Div, x: &[f64], dy: &[f64]) {
    let a = AvgPool2d::new(s.pool().unwrap(), divisor(div)).unwrap();
    let (x, dy): (Vec<T>, Vec<T>) = (to(x), to(dy));
    let mut y = Guarded::new(s.y_len(), T::of(f64::NAN), T::of(-7777.0));
    avg_pool2d(&a, &x, y.body()).unwrap();
    // Same order of additions, then one division: exact.
    assert_same("avg y", y.checked(), &naive::avg_pool(s, div, &x));

    let zeros = vec![T::ZERO; s.x_len()];
    let mut guarded = Guarded::new(s.x_len(), T::of(f64::NAN), T::of(-7777.0));
    avg_pool2d_backward(&a, &dy, guarded.body(), Accum::Replace).unwrap();
    assert_close(
        "avg backward",
        guarded.checked(),
        &naive::avg_pool_backward(s, div, &dy, &zeros),
    );
    let mut dx = guarded.checked().to_vec();
    let prior = vec![T::ONE; s.x_len()];
    dx.copy_from_slice(&prior);
    avg_pool2d_backward(&a, &dy, &mut dx, Accum::Add).unwrap();
    assert_close(
        "avg backward add",
        &dx,
        &naive::avg_pool_backward(s, div, &dy, &prior),
    );
}

fn check_global<T: Real>(n: usize, c: usize, h: usize, w: usize, x: &[f64], dy: &[f64]) {
    let shape = Shape::new(n, c, h, w).unwrap();
    let (x, dy): (Vec<T>, Vec<T>) = (to(x), to(dy));
    let mut y = vec![T::of(f64::NAN); n * c];
    global_avg_pool2d(shape, &x, &mut y).unwrap();
    assert_close("global y", &y, &naive::global_avg(h * w, &x));

    let hw = T::from_usize(h * w);
    let want: Vec<T> = (0..x.len()).map(|i| dy[i / (h * w)] / hw).collect();
    let mut dx = vec![T::of(f64::NAN); x.len()];
    global_avg_pool2d_backward(shape, &dy, &mut dx, Accum::Replace).unwrap();
    assert_same("global backward", &dx, &want);
    dx.fill(T::ONE);
    global_avg_pool2d_backward(shape, &dy, &mut dx, Accum::Add).unwrap();
    let want: Vec<T> = want.iter().map(|&v| T::ONE + v).collect();
    assert_same("global backward add", &dx, &want);
}

/// Everything, both element types, every divisor (when the window is undilated).
fn check_all(s: &Geom, x: &[f64], dy: &[f64]) {
    check_max::<f32>(s, x, dy);
    check_max::<f64>(s, x, dy);
    if s.dilation == [1, 1] {
        for div in [Div::IncludePad, Div::ExcludePad, Div::Override(3)] {
            check_avg::<f32>(s, div, x, dy);
            check_avg::<f64>(s, div, x, dy);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Property tests

fn any_spec() -> impl Strategy<Value = Geom> {
    let axis = || {
        (
            1..10usize,
            1..5usize,
            1..5usize,
            1..4usize,
            0..3usize,
            0..3usize,
        )
    };
    (0..3usize, 1..3usize, axis(), axis(), any::<bool>()).prop_map(|(n, c, h, w, ceil)| {
        // Clamp paddings to the limit most of the time, so most specs are valid.
        let pad = |p: usize, k: usize| if p == 2 { p } else { p.min(k / 2) };
        Geom::pool2d(
            [n, c],
            [h.0, w.0],
            [h.1, w.1],
            [h.2, w.2],
            [h.3, w.3],
            [
                [pad(h.4, h.1), pad(h.5, h.1)],
                [pad(w.4, w.1), pad(w.5, w.1)],
            ],
            ceil,
        )
    })
}

fn valid_spec() -> impl Strategy<Value = Geom> {
    any_spec().prop_filter("invalid geometry", |s| s.expected_error().is_none())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        24 => (-8i32..=8).prop_map(|v| v as f64 * 0.25),
        1 => Just(f64::NAN),
        1 => Just(-0.0),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::INFINITY),
    ]
}

fn with_data(s: Geom) -> impl Strategy<Value = (Geom, Vec<f64>, Vec<f64>)> {
    let (a, b) = (s.x_len(), s.y_len());
    (
        Just(s),
        prop::collection::vec(value(), a),
        prop::collection::vec((-8i32..=8).prop_map(|v| v as f64 * 0.25), b),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// `Pool2d::new` accepts exactly the specs the reference deems valid, with its sizes,
    /// and refuses the others with the right error.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn geometry_matches_reference(s in any_spec()) {
        match (s.pool(), s.expected_error()) {
            (Ok(g), None) => {
                let (oh, ow) = s.out_hw();
                prop_assert_eq!(g.output(), Shape::new(s.n, s.c, oh, ow).unwrap());
                prop_assert_eq!((g.input_len(), g.output_len(), g.indices_len()),
                                (s.x_len(), s.y_len(), s.y_len()));
            }
            (Err(Error::WindowTooLarge { .. }), Some("window too large"))
            | (Err(Error::PaddingTooLarge { .. }), Some("padding too large"))
            | (Err(Error::EmptyWindow { .. }), Some("empty window")) => {}
            (got, want) => prop_assert!(false, "{:?}: got {:?}, want {:?}", s, got, want),
        }
    }

    /// Forward and backward, max and average, f32 and f64, against the references.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn pooling_matches_reference((s, x, dy) in valid_spec().prop_flat_map(with_data), isa in common::isa::any_isa()) {
        common::isa::on(isa, || check_all(&s, &x, &dy));
    }

    /// Dense ties: data from {-0.25, -0.0, 0, 0.25} (and NaN) makes most windows tie, so the
    /// first-maximum rule and the signed-zero choice are exercised everywhere.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn ties_and_nan_placement(
        (s, x, dy) in valid_spec().prop_flat_map(|s| {
            let v = prop_oneof![Just(-0.25), Just(-0.0), Just(0.0), Just(0.25), Just(f64::NAN)];
            (Just(s), prop::collection::vec(v, s.x_len()), prop::collection::vec(Just(1.0), s.y_len()))
        })
    ) {
        check_max::<f32>(&s, &x, &dy);
        check_max::<f64>(&s, &x, &dy);
    }

    /// The common windows on wider planes, so vector loops run with every remainder.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn common_windows_on_wide_planes(
        (s, x, dy) in (1..3usize, 1..40usize, 1..70usize, 0..4usize, any::<bool>())
            .prop_map(|(c, h, w, which, ceil)| match which {
                0 => square([1, c, h + 1, w + 1], 2, 2, 0, ceil),
                1 => square([1, c, h, w], 3, 2, 1, ceil),
                2 => square([1, c, h, w], 3, 1, 1, ceil),
                _ => square([1, c, h, w + 1], 2, 2, 1, ceil),
            })
            .prop_flat_map(with_data),
        isa in common::isa::any_isa()
    ) {
        common::isa::on(isa, || check_all(&s, &x, &dy));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn global_matches_reference(
        (n, c, h, w, x, dy) in (0..3usize, 1..4usize, 1..20usize, 1..20usize).prop_flat_map(|(n, c, h, w)| {
            let v = (-64i32..=64).prop_map(|v| v as f64 * 0.125);
            (Just(n), Just(c), Just(h), Just(w),
             prop::collection::vec(v.clone(), n * c * h * w), prop::collection::vec(v, n * c))
        })
    ) {
        check_global::<f32>(n, c, h, w, &x, &dy);
        check_global::<f64>(n, c, h, w, &x, &dy);
    }
}

// ---------------------------------------------------------------------------------------
// Every SIMD tier

/// Every tier this CPU runs gives the reference's results on widths around every vector
/// width.
#[test]
#[cfg_attr(miri, ignore)]
fn every_isa_tier_matches_reference() {
    let ran = common::isa::each_isa(|isa| {
        let g = Geom::pool2d([1, 1], [4, 4], [2, 2], [2, 2], [1, 1], [[0; 2]; 2], false);
        assert_eq!(g.pool().unwrap().isa(), isa);
        every_width_on_this_tier();
    });
    common::isa::report("pool", &ran);
}

fn every_width_on_this_tier() {
    {
        for w in 1..=67 {
            for (k, s, p) in [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 2, 1), (4, 3, 2)] {
                // 6 rows: 2x2 stride 2 planes stack into one tall plane; 5: they do not.
                for (ceil, h) in [(false, 5), (true, 5), (false, 6)] {
                    let sp = square([1, 2, h, w + 1], k, s, p, ceil);
                    if sp.expected_error().is_some() {
                        continue;
                    }
                    let x = specials(w as u64, sp.x_len());
                    let dy = specials(99, sp.y_len())
                        .iter()
                        .map(|v| if v.is_finite() { *v } else { 0.5 })
                        .collect::<Vec<_>>();
                    check_all(&sp, &x, &dy);
                }
            }
            let x = specials(w as u64, 2 * w * 3);
            check_global::<f32>(1, 2, 3, w, &x, &[1.0, -2.0]);
            check_global::<f64>(1, 2, 3, w, &x, &[1.0, -2.0]);
        }
    }
}

/// Many small planes with the stride-2 windows of CNNs, on every tier: output rows narrower
/// than a vector (whose stores may run into the next row or plane), odd and even sizes,
/// padding on either side, ceil mode. Max is also checked bit for bit on NaNs of both signs
/// and distinct payloads: the last NaN in window order wins.
#[test]
#[cfg_attr(miri, ignore)]
fn small_planes_every_isa_tier() {
    let ran = common::isa::each_isa(|_| {
        for h in 1..=9 {
            for w in 1..=19 {
                for (k, p) in [(2, 0), (3, 1), (2, 1), (3, 0)] {
                    for ceil in [false, true] {
                        let sp = square([2, 3, h, w], k, 2, p, ceil);
                        if sp.expected_error().is_some() {
                            continue;
                        }
                        let seed = (h * 31 + w) as u64;
                        let x = specials(seed, sp.x_len());
                        let dy = vec![0.5; sp.y_len()];
                        check_all(&sp, &x, &dy);
                        check_nan_bits(&sp, seed);
                    }
                }
            }
        }
        // Asymmetric padding: only before, only after.
        for (h, w) in [(7, 14), (14, 7), (8, 9), (9, 8)] {
            for pads in [[[1, 0], [1, 0]], [[0, 1], [0, 1]], [[1, 0], [0, 1]]] {
                for k in [2, 3] {
                    let sp = Geom::pool2d([3, 2], [h, w], [k, k], [2, 2], [1, 1], pads, false);
                    if sp.expected_error().is_some() {
                        continue;
                    }
                    check_all(&sp, &specials(5, sp.x_len()), &vec![0.5; sp.y_len()]);
                    check_nan_bits(&sp, 9);
                }
            }
        }
    });
    common::isa::report("pool (small planes)", &ran);
}

/// The stride-2 kernels' dispatch beyond the square CNN windows, on every tier: windows of
/// 2 or 3 columns at column stride 2 with other row taps, strides and dilations, over six
/// planes, with padding only on top or only at the bottom, in ceil mode or not. Where
/// `OH * stride_h == H` the planes may be stacked into one tall plane only when no window
/// reaches across a plane's edge: a top or bottom padding row, a ceil-mode overhang, rows
/// further apart than the stride would read the next or previous plane (e.g. 3 row taps,
/// stride 3, dilation 2 over 6 rows in ceil mode: the last window's rows 3, 5, 7). Square
/// windows with row dilation must not take the strip kernels, which have none.
#[test]
#[cfg_attr(miri, ignore)]
fn stride2_kernels_on_other_rows_every_isa_tier() {
    let ran = common::isa::each_isa(|_| {
        // (row taps, row stride, row dilation)
        let rows = [
            (1, 1, 1),
            (2, 1, 1),
            (2, 2, 1),
            (3, 2, 1),
            (2, 2, 2),
            (3, 2, 2),
            (3, 3, 2),
            (5, 3, 1),
            (3, 6, 3),
        ];
        for (kh, sh, dh) in rows {
            for kw in [2, 3] {
                for pad_h in [[0, 0], [1, 0], [0, 1]] {
                    for ceil in [false, true] {
                        for h in 1..=13 {
                            for w in [9, 38] {
                                let sp = Geom::pool2d(
                                    [2, 3],
                                    [h, w],
                                    [kh, kw],
                                    [sh, 2],
                                    [dh, 1],
                                    [pad_h, [0, 1]],
                                    ceil,
                                );
                                if sp.expected_error().is_some() {
                                    continue;
                                }
                                let seed = (h * 41 + w + kh) as u64;
                                let x = specials(seed, sp.x_len());
                                let dy = vec![0.5; sp.y_len()];
                                check_max::<f32>(&sp, &x, &dy);
                                if sp.dilation == [1, 1] {
                                    for div in [Div::IncludePad, Div::ExcludePad, Div::Override(3)]
                                    {
                                        check_avg::<f32>(&sp, div, &x, &dy);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    common::isa::report("pool (stride-2 kernels, other rows)", &ran);
}

/// `max_pool2d` (with and without indices) on `f32` data rich in NaNs of both signs with
/// distinct payloads, signed zeros and ties, against the reference bit for bit.
fn check_nan_bits(s: &Geom, seed: u64) {
    let x: Vec<f32> = (0..s.x_len() as u64)
        .map(|i| match common::draw(seed, i) % 8 {
            0 => f32::from_bits(0x7fc0_0000 | (i as u32 & 0xffff)),
            1 => f32::from_bits(0xffc0_0000 | (i as u32 & 0xffff)),
            2 => -0.0,
            3 => 0.0,
            r => r as f32 - 6.0,
        })
        .collect();
    let g = s.pool().unwrap();
    let (want, want_idx) = naive::max_pool(s, &x);
    let mut y = vec![0f32; s.y_len()];
    max_pool2d(&g, &x, &mut y).unwrap();
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&y), bits(&want), "max bits, {s:?}");
    let mut idx = vec![0u32; s.y_len()];
    max_pool2d_with_indices(&g, &x, &mut y, &mut idx).unwrap();
    assert_eq!(bits(&y), bits(&want), "max bits with indices, {s:?}");
    assert_eq!(idx, want_idx, "max indices, {s:?}");
}

// ---------------------------------------------------------------------------------------
// Documented edge cases, by name

/// Small fixed geometries for Miri (the portable path): every operation once.
#[test]
fn small_fixed_geometries() {
    let specs = [
        square([2, 1, 4, 5], 2, 2, 0, true),
        square([1, 2, 5, 5], 3, 2, 1, false),
        Geom::pool2d(
            [1, 1],
            [3, 6],
            [2, 3],
            [1, 2],
            [2, 1],
            [[1, 0], [0, 1]],
            true,
        ),
    ];
    for (i, s) in specs.iter().enumerate() {
        assert_eq!(s.expected_error(), None);
        let x = specials(i as u64, s.x_len());
        let dy = vec![0.5; s.y_len()];
        check_all(s, &x, &dy);
    }
    check_global::<f32>(2, 1, 3, 7, &specials(3, 42), &[1.0, 2.0]);
}

#[test]
fn ceil_average_does_not_count_overhang() {
    let s = Geom::pool2d(
        [1, 1],
        [1, 5],
        [1, 2],
        [1, 2],
        [1, 1],
        [[0, 0], [0, 0]],
        true,
    );
    let g = s.pool().unwrap();
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    let mut y = [0.0f32; 3];
    avg_pool2d(
        &AvgPool2d::new(g, Divisor::CountIncludePad).unwrap(),
        &x,
        &mut y,
    )
    .unwrap();
    assert_eq!(y, [1.5, 3.5, 5.0]);
}

#[test]
fn ceil_drops_window_starting_in_trailing_padding() {
    let x = Shape::new(1, 1, 5, 5).unwrap();
    let g = Pool2d::new(x, Window::square(1).with_stride(3, 3), Rounding::Ceil).unwrap();
    assert_eq!((g.output().h(), g.output().w()), (2, 2));
    // With padding: H = 4, k = 2, s = 2, pad 1: ceil would give 4, the last starts in padding.
    let w = Window::square(2)
        .with_stride(2, 2)
        .with_padding(Padding::uniform(1));
    let g = Pool2d::new(Shape::new(1, 1, 4, 4).unwrap(), w, Rounding::Ceil).unwrap();
    assert_eq!(g.output().h(), 3);
}

#[test]
fn windows_over_padding_only_are_refused() {
    // H = 1, k = 2, d = 2, pad 1/1: the window's taps sit at -1 and 1.
    let w = Window::new(2, 1)
        .with_dilation(2, 1)
        .with_padding(Padding::symmetric(1, 0));
    let e = Pool2d::new(Shape::new(1, 1, 1, 4).unwrap(), w, Rounding::Floor);
    assert_eq!(
        e,
        Err(Error::EmptyWindow {
            axis: "height",
            output: 0
        })
    );
    // Ceil mode: W = 1, k = 2, d = 3, s = 2, pad 1/1. Floor mode has no window (the field,
    // 4, exceeds the padded 3); ceil mode has one, hanging past the edge, with taps at -1
    // (padding) and 2 (overhang).
    let sp = Geom::pool2d(
        [1, 1],
        [1, 1],
        [1, 2],
        [1, 2],
        [1, 3],
        [[0, 0], [1, 1]],
        true,
    );
    assert_eq!(sp.expected_error(), Some("empty window"));
    assert_eq!(
        sp.pool(),
        Err(Error::EmptyWindow {
            axis: "width",
            output: 0
        })
    );
    let floor = Geom { ceil: false, ..sp };
    assert_eq!(
        floor.pool(),
        Err(Error::WindowTooLarge {
            axis: "width",
            field: 4,
            padded: 3
        })
    );
}

#[test]
fn nan_index_is_the_last_nan() {
    let s = square([1, 1, 2, 2], 2, 1, 0, false);
    let g = s.pool().unwrap();
    let x = [1.0f32, f32::NAN, 5.0, f32::NAN];
    let (mut y, mut idx) = ([0.0f32], [0u32]);
    max_pool2d_with_indices(&g, &x, &mut y, &mut idx).unwrap();
    assert!(y[0].is_nan());
    assert_eq!(idx, [3]);
}

#[test]
fn all_negative_infinity_window_picks_its_first_input() {
    // PyTorch starts from -inf with the first input tap's index; padding is never chosen.
    let s = square([1, 1, 2, 2], 2, 1, 1, false);
    let g = s.pool().unwrap();
    let x = [f64::NEG_INFINITY; 4];
    let (mut y, mut idx) = ([0.0f64; 9], [0u32; 9]);
    max_pool2d_with_indices(&g, &x, &mut y, &mut idx).unwrap();
    assert_eq!(idx, [0, 0, 1, 0, 0, 1, 2, 2, 3]);
    assert!(y.iter().all(|&v| v == f64::NEG_INFINITY));
}

#[test]
fn window_equal_to_padded_input_and_stride_beyond_window() {
    // 3x3 input padded by 1 = 5x5, one 5x5 window (k = 5, pad 2 <= 5/2).
    let s = Geom::pool2d(
        [1, 1],
        [3, 3],
        [5, 5],
        [1, 1],
        [1, 1],
        [[1, 1], [1, 1]],
        false,
    );
    assert_eq!(s.out_hw(), (1, 1));
    check_all(&s, &specials(1, 9), &[2.0]);
    // Stride 4 over a 2-wide window skips inputs; they get no gradient.
    let s = square([1, 1, 9, 9], 2, 4, 0, true);
    check_all(&s, &specials(2, 81), &specials(3, s.y_len()));
}

#[test]
fn empty_batch_does_nothing() {
    let s = square([0, 3, 4, 4], 2, 2, 0, false);
    let g = s.pool().unwrap();
    assert_eq!((g.input_len(), g.output_len()), (0, 0));
    max_pool2d::<f32>(&g, &[], &mut []).unwrap();
    max_pool2d_backward::<f32>(&g, &[], &[], &mut [], Accum::Replace).unwrap();
    global_avg_pool2d::<f32>(Shape::new(0, 3, 0, 4).unwrap(), &[], &mut []).unwrap();
}

// ---------------------------------------------------------------------------------------
// Shrunk proptest cases, kept by name. Each one killed a deliberately broken build (a tie
// rule of `>=`, overhang counted in the divisor, a wrong interior range, the AVX-512
// compare, the plane stacking), so they pin the rules they exercise.

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

#[test]
fn regression_tie_in_1x2_windows_keeps_the_first() {
    let s = Geom::pool2d(
        [1, 1],
        [1, 4],
        [1, 2],
        [1, 1],
        [1, 1],
        [[0, 0], [0, 0]],
        false,
    );
    check_all(&s, &[0.0, 1.25, 1.25, 0.0], &[0.0, 0.0, 0.0]);
}

#[test]
fn regression_padded_2x2_stride_2_over_one_row() {
    let s = Geom::pool2d(
        [1, 1],
        [1, 3],
        [2, 2],
        [2, 2],
        [1, 1],
        [[1, 1], [1, 1]],
        false,
    );
    check_all(&s, &[0.0, -1.25, -1.25], &[0.0, 0.0]);
}

#[test]
fn regression_ceil_overhang_with_asymmetric_padding() {
    let s = Geom::pool2d(
        [1, 1],
        [4, 5],
        [4, 4],
        [4, 4],
        [1, 1],
        [[1, 1], [1, 2]],
        true,
    );
    check_all(&s, &[0.0; 20], &[0.0, 0.0, 0.0, 0.25]);
}

#[test]
fn regression_ceil_2x2_stride_2_on_odd_height() {
    let s = Geom::pool2d(
        [1, 1],
        [7, 6],
        [2, 2],
        [2, 2],
        [1, 1],
        [[0, 0], [0, 0]],
        true,
    );
    let x = [
        0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, -1.0,
        -INF, 1.0, -2.0, -0.0, 2.0, -0.0, -0.5, 2.0, -0.25, 0.5, -0.75, 2.0, 1.0, 1.0, -0.75, 1.75,
        -0.75, 0.25, -0.5, 1.0, INF, -1.5, -1.0, INF, NAN,
    ];
    let dy = [
        0.5, 1.75, 1.0, -1.75, 0.25, -1.0, 0.0, -0.75, 1.75, -1.25, -0.25, 2.0,
    ];
    check_all(&s, &x, &dy);
}

#[test]
fn regression_empty_batch_in_ceil_mode() {
    let s = Geom::pool2d(
        [0, 1],
        [1, 1],
        [1, 2],
        [1, 2],
        [1, 1],
        [[0, 0], [0, 0]],
        true,
    );
    check_all(&s, &[], &[]);
}

#[test]
fn regression_top_left_padding_in_ceil_mode() {
    let s = Geom::pool2d(
        [1, 1],
        [1, 4],
        [2, 2],
        [2, 2],
        [1, 1],
        [[1, 0], [1, 0]],
        true,
    );
    check_all(&s, &[0.0, 0.0, 0.25, 0.0], &[0.0, 0.0, 0.0]);
}

#[test]
fn regression_wide_padded_row_in_ceil_mode() {
    let s = Geom::pool2d(
        [1, 1],
        [1, 43],
        [2, 2],
        [2, 2],
        [1, 1],
        [[1, 1], [1, 1]],
        true,
    );
    let x = [
        0.0, 0.0, 0.0, 0.0, 0.25, -1.25, -2.0, NAN, NAN, -0.75, 2.0, 0.75, -1.75, 1.75, INF, 1.0,
        1.5, -1.5, -1.75, 0.75, 0.25, -1.0, 1.25, -1.5, 0.25, INF, 0.0, 1.75, -1.75, 1.0, 0.75,
        INF, 2.0, 0.75, -2.0, -1.0, 1.75, 1.5, -0.75, 0.75, 0.25, INF, -0.5,
    ];
    let dy = [
        0.75, 1.75, 1.75, 0.25, -1.25, 0.5, 0.0, 0.0, 1.25, 1.0, 1.25, -0.75, -1.75, -0.5, -0.5,
        1.5, 0.0, -1.25, -0.75, -0.75, 0.0, -1.0,
    ];
    check_all(&s, &x, &dy);
}

// ---------------------------------------------------------------------------------------
// Error paths: every one leaves every output untouched.

const SENTINEL: f32 = 1234.5;

fn untouched(buf: &[f32]) -> bool {
    buf.iter().all(|&v| v == SENTINEL)
}

#[test]
fn geometry_errors() {
    let x = Shape::new(1, 1, 4, 4).unwrap();
    let new = |w: Window, r| Pool2d::new(x, w, r);
    assert_eq!(
        new(Window::new(0, 2), Rounding::Floor),
        Err(Error::Zero {
            parameter: "kernel_h"
        })
    );
    assert_eq!(
        new(Window::square(2).with_stride(2, 0), Rounding::Floor),
        Err(Error::Zero {
            parameter: "stride_w"
        })
    );
    assert_eq!(
        new(Window::square(2).with_dilation(0, 1), Rounding::Ceil),
        Err(Error::Zero {
            parameter: "dilation_h"
        })
    );
    assert_eq!(
        new(Window::new(5, 1), Rounding::Floor),
        Err(Error::WindowTooLarge {
            axis: "height",
            field: 5,
            padded: 4
        })
    );
    for (side, p) in [
        (
            "top",
            Padding {
                top: 2,
                ..Padding::ZERO
            },
        ),
        (
            "bottom",
            Padding {
                bottom: 2,
                ..Padding::ZERO
            },
        ),
        (
            "left",
            Padding {
                left: 2,
                ..Padding::ZERO
            },
        ),
        (
            "right",
            Padding {
                right: 2,
                ..Padding::ZERO
            },
        ),
    ] {
        assert_eq!(
            new(Window::square(3).with_padding(p), Rounding::Floor),
            Err(Error::PaddingTooLarge {
                side,
                padding: 2,
                limit: 1
            })
        );
    }
    // The undilated kernel sets the limit: dilation does not relax it.
    assert_eq!(
        new(
            Window::square(2)
                .with_dilation(3, 3)
                .with_padding(Padding::uniform(2)),
            Rounding::Floor
        ),
        Err(Error::PaddingTooLarge {
            side: "top",
            padding: 2,
            limit: 1
        })
    );
    let huge = Shape::new(1, 1, 1, usize::MAX / 2).unwrap();
    assert_eq!(
        Pool2d::new(
            huge,
            Window::new(1, 1).with_padding(Padding::ZERO),
            Rounding::Floor
        )
        .map(|_| ()),
        Ok(())
    );
    // The output (4 x (W + 1)) is larger than the input (4 x W) and overflows.
    let wide = Shape::new(4, 1, 1, usize::MAX / 4).unwrap();
    let pad = Window::new(1, 2).with_padding(Padding::symmetric(0, 1));
    assert_eq!(
        Pool2d::new(wide, pad, Rounding::Floor),
        Err(Error::Overflow)
    );
}

#[test]
fn avg_errors() {
    let g = Pool2d::new(
        Shape::new(1, 1, 4, 4).unwrap(),
        Window::square(2).with_dilation(1, 2),
        Rounding::Floor,
    )
    .unwrap();
    assert_eq!(
        AvgPool2d::new(g, Divisor::CountExcludePad),
        Err(Error::Unsupported {
            operation: "average pooling",
            parameter: "dilation_w",
            value: 2
        })
    );
    let g = Pool2d::new(
        Shape::new(1, 1, 4, 4).unwrap(),
        Window::square(2),
        Rounding::Floor,
    )
    .unwrap();
    assert_eq!(
        AvgPool2d::new(g, Divisor::Override(0)),
        Err(Error::Zero {
            parameter: "divisor_override"
        })
    );
}

#[test]
fn buffer_errors_leave_outputs_untouched() {
    let s = square([2, 3, 4, 4], 2, 2, 0, false); // in 96, out 24
    let g = s.pool().unwrap();
    let a = AvgPool2d::new(g, Divisor::CountIncludePad).unwrap();
    let x = vec![1.0f32; 96];
    let len = |buffer, expected, actual| {
        Err(Error::BufferLength {
            buffer,
            expected,
            actual,
        })
    };
    let (mut y, mut dx) = (vec![SENTINEL; 24], vec![SENTINEL; 96]);
    let mut idx = vec![7u32; 24];

    assert_eq!(max_pool2d(&g, &x[1..], &mut y), len("input", 96, 95));
    assert_eq!(max_pool2d(&g, &x, &mut y[1..]), len("output", 24, 23));
    assert_eq!(
        max_pool2d_with_indices(&g, &x, &mut y, &mut idx[1..]),
        len("indices", 24, 23)
    );
    assert_eq!(
        max_pool2d_with_indices(&g, &x, &mut y[1..], &mut idx),
        len("output", 24, 23)
    );
    assert!(untouched(&y) && idx.iter().all(|&i| i == 7));

    let dy = vec![1.0f32; 24];
    assert_eq!(
        max_pool2d_backward(&g, &dy[1..], &idx, &mut dx, Accum::Replace),
        len("grad_output", 24, 23)
    );
    assert_eq!(
        max_pool2d_backward(&g, &dy, &idx[1..], &mut dx, Accum::Replace),
        len("indices", 24, 23)
    );
    assert_eq!(
        max_pool2d_backward(&g, &dy, &idx, &mut dx[1..], Accum::Add),
        len("grad_input", 96, 95)
    );
    let mut bad = idx.clone();
    bad[23] = 16; // planes are 4x4
    assert_eq!(
        max_pool2d_backward(&g, &dy, &bad, &mut dx, Accum::Replace),
        Err(Error::IndexOutOfRange {
            buffer: "indices",
            position: 23,
            index: 16,
            len: 16
        })
    );
    assert_eq!(
        max_pool2d_backward_recompute(&g, &x[1..], &dy, &mut dx, Accum::Replace),
        len("input", 96, 95)
    );
    assert_eq!(
        max_pool2d_backward_recompute(&g, &x, &dy[1..], &mut dx, Accum::Replace),
        len("grad_output", 24, 23)
    );
    assert_eq!(
        max_pool2d_backward_recompute(&g, &x, &dy, &mut dx[1..], Accum::Replace),
        len("grad_input", 96, 95)
    );
    assert!(untouched(&dx));

    assert_eq!(avg_pool2d(&a, &x[1..], &mut y), len("input", 96, 95));
    assert_eq!(avg_pool2d(&a, &x, &mut y[1..]), len("output", 24, 23));
    assert_eq!(
        avg_pool2d_backward(&a, &dy[1..], &mut dx, Accum::Replace),
        len("grad_output", 24, 23)
    );
    assert_eq!(
        avg_pool2d_backward(&a, &dy, &mut dx[1..], Accum::Replace),
        len("grad_input", 96, 95)
    );
    assert!(untouched(&y) && untouched(&dx));

    let shape = s.shape();
    let mut gy = vec![SENTINEL; 6];
    assert_eq!(
        global_avg_pool2d(shape, &x[1..], &mut gy),
        len("input", 96, 95)
    );
    assert_eq!(
        global_avg_pool2d(shape, &x, &mut gy[1..]),
        len("output", 6, 5)
    );
    assert_eq!(
        global_avg_pool2d_backward(shape, &gy[1..], &mut dx, Accum::Add),
        len("grad_output", 6, 5)
    );
    assert_eq!(
        global_avg_pool2d_backward(shape, &gy, &mut dx[1..], Accum::Add),
        len("grad_input", 96, 95)
    );
    let empty = Shape::new(1, 2, 3, 0).unwrap();
    assert_eq!(
        global_avg_pool2d::<f32>(empty, &[], &mut gy[..2]),
        Err(Error::EmptyWindow {
            axis: "width",
            output: 0
        })
    );
    assert_eq!(
        global_avg_pool2d_backward::<f32>(
            Shape::new(1, 1, 0, 3).unwrap(),
            &gy[..1],
            &mut [],
            Accum::Add
        ),
        Err(Error::EmptyWindow {
            axis: "height",
            output: 0
        })
    );
    assert!(untouched(&gy) && untouched(&dx));
}

#[test]
fn planes_beyond_u32_indices_are_refused() {
    // 2^16 x (2^16 + 1) > 2^32 positions: checked before the (tiny) buffers.
    let x = Shape::new(1, 1, 1 << 16, (1 << 16) + 1).unwrap();
    let g = Pool2d::new(x, Window::square(2).with_stride(2, 2), Rounding::Floor).unwrap();
    let err = Err(Error::Unsupported {
        operation: "max pooling with u32 indices",
        parameter: "plane_len",
        value: (1 << 32) + (1 << 16),
    });
    let (mut y, mut idx, mut dx) = ([SENTINEL; 1], [7u32; 1], [SENTINEL; 1]);
    assert_eq!(max_pool2d_with_indices(&g, &[], &mut y, &mut idx), err);
    assert_eq!(
        max_pool2d_backward_recompute(&g, &[], &[], &mut dx, Accum::Replace),
        err
    );
    assert!(untouched(&y) && untouched(&dx) && idx == [7]);
    // Exactly 2^32 positions still fit.
    let x = Shape::new(1, 1, 1 << 16, 1 << 16).unwrap();
    let g = Pool2d::new(x, Window::square(2).with_stride(2, 2), Rounding::Floor).unwrap();
    assert_eq!(
        max_pool2d_with_indices(&g, &[], &mut y, &mut idx),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 1 << 32,
            actual: 0
        })
    );
}
