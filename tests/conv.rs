//! Convolution against the naive references in `common/conv.rs`.

mod common;

use common::conv as naive;
use common::isa::{self, any_isa};
use common::{from, ints, reals, to, Geom, Real};
use nchw::{
    conv2d, conv2d_backward_bias, conv2d_backward_data, conv2d_backward_filter, Accum, Clamp,
    Conv2d, Error, Padding, Shape, Window,
};
use proptest::prelude::*;

/// Runs all four operations on integer data with `scratch_len` scratch elements, both
/// [`Accum`] modes, outputs and scratch poisoned with NaN, and checks them exactly.
fn check_all<T: Real>(g: &Geom, scratch_len: usize, seed: u64) {
    let conv = g.conv().expect("valid geometry");
    assert!(scratch_len >= conv.min_scratch_len());
    let (x, w, b, dy) = (
        ints(seed, g.x_len(), 3),
        ints(seed + 1, g.w_len(), 3),
        ints(seed + 2, g.oc, 3),
        ints(seed + 3, g.y_len(), 3),
    );
    let (tx, tw, tb, tdy) = (to::<T>(&x), to::<T>(&w), to::<T>(&b), to::<T>(&dy));
    let mut scratch = vec![T::of(f64::NAN); scratch_len];

    // Forward, with and without bias and clamp.
    let clamps = [
        None,
        Some((-2.0, 5.0)),
        Some((0.0, f64::INFINITY)),
        Some((3.0, 1.0)),
    ];
    let clamp = clamps[(seed % 4) as usize];
    for bias in [None, Some(&b[..])] {
        let mut y = vec![T::of(f64::NAN); g.y_len()];
        let tbias = bias.map(|_| &tb[..]);
        let tclamp = clamp.map(|(lo, hi)| Clamp::new(T::of(lo), T::of(hi)));
        conv2d(&conv, &tx, &tw, tbias, tclamp, &mut y, &mut scratch).unwrap();
        assert_eq!(
            from(&y),
            naive::forward(g, &x, &w, bias, clamp),
            "forward {g:?}"
        );
    }

    // Backward-data, replacing and adding.
    let want = naive::backward_data(g, &dy, &w);
    let mut dx = vec![T::of(f64::NAN); g.x_len()];
    conv2d_backward_data(&conv, &tw, &tdy, &mut dx, Accum::Replace, &mut scratch).unwrap();
    assert_eq!(from(&dx), want, "backward_data {g:?}");
    let init = ints(seed + 4, g.x_len(), 5);
    let mut dx = to::<T>(&init);
    conv2d_backward_data(&conv, &tw, &tdy, &mut dx, Accum::Add, &mut scratch).unwrap();
    let sum: Vec<f64> = init.iter().zip(&want).map(|(a, b)| a + b).collect();
    assert_eq!(from(&dx), sum, "backward_data add {g:?}");

    // Backward-filter, replacing and adding.
    let want = naive::backward_filter(g, &x, &dy);
    let mut dw = vec![T::of(f64::NAN); g.w_len()];
    conv2d_backward_filter(&conv, &tx, &tdy, &mut dw, Accum::Replace, &mut scratch).unwrap();
    assert_eq!(from(&dw), want, "backward_filter {g:?}");
    let init = ints(seed + 5, g.w_len(), 5);
    let mut dw = to::<T>(&init);
    conv2d_backward_filter(&conv, &tx, &tdy, &mut dw, Accum::Add, &mut scratch).unwrap();
    let sum: Vec<f64> = init.iter().zip(&want).map(|(a, b)| a + b).collect();
    assert_eq!(from(&dw), sum, "backward_filter add {g:?}");

    // Bias gradient.
    let want = naive::backward_bias(g, &dy);
    let mut db = vec![T::of(f64::NAN); g.oc];
    conv2d_backward_bias(&conv, &tdy, &mut db, Accum::Replace).unwrap();
    assert_eq!(from(&db), want, "backward_bias {g:?}");
    let mut db = to::<T>(&b);
    conv2d_backward_bias(&conv, &tdy, &mut db, Accum::Add).unwrap();
    let sum: Vec<f64> = b.iter().zip(&want).map(|(a, b)| a + b).collect();
    assert_eq!(from(&db), sum, "backward_bias add {g:?}");
}

/// Where in `0..=1000` between the minimum and full workspace to run: often the two ends,
/// where the kernel paths switch.
fn workspace_fraction() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), Just(1000usize), 0..=1000usize]
}

/// A scratch length `frac / 1000` of the way from the minimum to full speed.
fn scratch_between<T: nchw::Float>(conv: &Conv2d, frac: usize) -> usize {
    let (lo, hi) = (conv.min_scratch_len(), conv.scratch_len::<T>());
    lo + (hi - lo) * frac / 1000
}

/// The geometries drawn here: planes up to 7 x 7, padding and dilation up to 3.
fn geom() -> impl Strategy<Value = Geom> {
    naive::geom(naive::Limits {
        plane: 7,
        pad: 3,
        dilation: 3,
        out_per_group: 3,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn all_ops_match_the_definitions_f32(g in geom(), frac in workspace_fraction(), seed in 0..1000u64, isa in any_isa()) {
        isa::on(isa, || {
            let conv = g.conv().unwrap();
            check_all::<f32>(&g, scratch_between::<f32>(&conv, frac), seed);
        });
    }

    #[test]
    fn all_ops_match_the_definitions_f64(g in geom(), frac in workspace_fraction(), seed in 0..1000u64, isa in any_isa()) {
        isa::on(isa, || {
            let conv = g.conv().unwrap();
            check_all::<f64>(&g, scratch_between::<f64>(&conv, frac), seed);
        });
    }

    #[test]
    fn adjoint_identity(g in geom(), frac in workspace_fraction(), seed in 0..1000u64, isa in any_isa()) {
        isa::on(isa, || adjoint::<f64>(&g, frac, seed));
    }
}

/// `<conv(x), y> == <x, backward_data(y)>` on real-valued data.
fn adjoint<T: Real>(g: &Geom, frac: usize, seed: u64) {
    let conv = g.conv().unwrap();
    let mut scratch = vec![T::of(f64::NAN); scratch_between::<T>(&conv, frac)];
    let (x, w, y) = (
        to::<T>(&reals(seed, g.x_len())),
        to::<T>(&reals(seed + 1, g.w_len())),
        to::<T>(&reals(seed + 2, g.y_len())),
    );
    let mut cx = vec![T::of(f64::NAN); g.y_len()];
    conv2d(&conv, &x, &w, None, None, &mut cx, &mut scratch).unwrap();
    let mut ty = vec![T::of(f64::NAN); g.x_len()];
    conv2d_backward_data(&conv, &w, &y, &mut ty, Accum::Replace, &mut scratch).unwrap();
    let dot = |a: &[T], b: &[T]| -> (f64, f64) {
        let terms = a.iter().zip(b).map(|(&p, &q)| p.into() * q.into());
        (terms.clone().sum(), terms.map(f64::abs).sum())
    };
    let ((l, la), (r, ra)) = (dot(&cx, &y), dot(&x, &ty));
    let scale = (la + ra) * g.w_len() as f64 + 1.0;
    assert!((l - r).abs() <= 1e-12 * scale, "{l} != {r} for {g:?}");
}

#[test]
fn adjoint_identity_f32() {
    // ResNet-like 3x3 with padding and stride 2, and a dilated grouped one.
    for (i, g) in [
        Geom::conv2d(2, 8, 9, 9, 6, 1, (3, 3), (2, 2), (1, 1), [1, 1, 1, 1]),
        Geom::conv2d(1, 6, 11, 7, 9, 3, (3, 2), (1, 2), (2, 3), [2, 0, 1, 3]),
    ]
    .iter()
    .enumerate()
    {
        let conv = g.conv().unwrap();
        let mut scratch = vec![f32::NAN; conv.scratch_len::<f32>()];
        let x = to::<f32>(&reals(i as u64, g.x_len()));
        let w = to::<f32>(&reals(7 + i as u64, g.w_len()));
        let y = to::<f32>(&reals(11 + i as u64, g.y_len()));
        let mut cx = vec![f32::NAN; g.y_len()];
        conv2d(&conv, &x, &w, None, None, &mut cx, &mut scratch).unwrap();
        let mut ty = vec![f32::NAN; g.x_len()];
        conv2d_backward_data(&conv, &w, &y, &mut ty, Accum::Replace, &mut scratch).unwrap();
        let l: f64 = cx.iter().zip(&y).map(|(a, b)| (a * b) as f64).sum();
        let r: f64 = x.iter().zip(&ty).map(|(a, b)| (a * b) as f64).sum();
        assert!((l - r).abs() <= 1e-4 * (l.abs() + 1.0), "{l} != {r}");
    }
}

/// Geometries for the sweeps and named cases, one per kernel path and edge.
fn named() -> Vec<(&'static str, Geom)> {
    vec![
        (
            "resnet_3x3_pad1",
            Geom::conv2d(2, 4, 6, 5, 3, 1, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ),
        (
            "stride2_asymmetric",
            Geom::conv2d(1, 3, 7, 8, 2, 1, (3, 2), (2, 3), (1, 1), [0, 2, 1, 0]),
        ),
        (
            "dilated_groups",
            Geom::conv2d(2, 4, 7, 6, 6, 2, (2, 3), (1, 2), (3, 2), [1, 0, 2, 2]),
        ),
        (
            "pointwise",
            Geom::conv2d(2, 6, 3, 4, 4, 1, (1, 1), (1, 1), (1, 1), [0; 4]),
        ),
        (
            "pointwise_groups",
            Geom::conv2d(1, 6, 2, 3, 9, 3, (1, 1), (1, 1), (1, 1), [0; 4]),
        ),
        (
            "pointwise_strided",
            Geom::conv2d(1, 3, 5, 5, 2, 1, (1, 1), (2, 2), (1, 1), [0; 4]),
        ),
        (
            "depthwise",
            Geom::conv2d(2, 3, 6, 7, 3, 3, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ),
        (
            "depthwise_multiplier",
            Geom::conv2d(1, 2, 5, 6, 6, 2, (3, 2), (2, 1), (1, 2), [2, 1, 0, 1]),
        ),
        (
            "window_is_padded_input",
            Geom::conv2d(2, 2, 3, 2, 3, 1, (5, 4), (1, 1), (1, 1), [1, 1, 1, 1]),
        ),
        (
            "stride_beyond_window",
            Geom::conv2d(1, 2, 9, 9, 2, 1, (2, 2), (4, 5), (1, 1), [0, 0, 1, 0]),
        ),
        (
            "single_channel_many_filters",
            Geom::conv2d(2, 1, 7, 6, 10, 1, (3, 2), (1, 1), (1, 1), [1, 1, 0, 1]),
        ),
        (
            "depthwise_large_multiplier",
            Geom::conv2d(1, 2, 5, 5, 18, 2, (2, 2), (1, 1), (1, 1), [0, 1, 1, 0]),
        ),
        (
            "empty_batch",
            Geom::conv2d(0, 4, 5, 5, 2, 2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ),
    ]
}

/// Every dispatch boundary of the convolution on every instruction set this machine has:
/// depthwise multipliers 1 to 9 (the direct kernel up to 8, im2col + GEMM at 9: pinned by
/// the minimum workspace, zero only on the direct paths), rows of every width around the
/// vector widths, the 1x1 path, and im2col tiles of every width (each workspace size from the
/// minimum to full). Prints the tiers it ran.
#[test]
#[cfg_attr(miri, ignore)]
fn every_path_on_every_isa() {
    let ran = isa::each_isa(|isa| {
        for multiplier in 1..=9 {
            for (w, stride, dilation) in [(1, 1, 1), (7, 1, 2), (9, 2, 1), (17, 1, 1), (33, 1, 1)] {
                let g = Geom::conv2d(
                    2,
                    3,
                    5,
                    w,
                    3 * multiplier,
                    3,
                    (3, 3),
                    (1, stride),
                    (1, dilation),
                    [1, 1, 1, 1],
                );
                let conv = g.conv().unwrap();
                assert_eq!(conv.isa(), isa);
                let direct = conv.min_scratch_len() == 0;
                assert_eq!(direct, multiplier <= 8, "multiplier {multiplier}");
                let seed = (multiplier * 100 + w) as u64;
                check_all::<f32>(&g, conv.min_scratch_len(), seed);
                check_all::<f32>(&g, conv.scratch_len::<f32>(), seed);
                check_all::<f64>(&g, conv.scratch_len::<f64>(), seed);
            }
        }
        // 1x1, grouped and not, on rows around every vector width.
        for w in [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33] {
            for groups in [1, 3] {
                let g = Geom::conv2d(2, 6, 2, w, 9, groups, (1, 1), (1, 1), (1, 1), [0; 4]);
                let conv = g.conv().unwrap();
                assert_eq!(conv.min_scratch_len(), 0);
                check_all::<f32>(&g, 0, w as u64);
                check_all::<f64>(&g, conv.scratch_len::<f64>(), w as u64);
            }
        }
        // im2col tiles of every width: every workspace size from the minimum to full.
        for g in [
            Geom::conv2d(1, 2, 4, 9, 3, 1, (3, 2), (1, 2), (1, 1), [1, 0, 1, 1]),
            Geom::conv2d(2, 4, 5, 6, 4, 2, (2, 3), (2, 1), (2, 1), [0, 1, 2, 0]),
        ] {
            let conv = g.conv().unwrap();
            let (lo, hi) = (conv.min_scratch_len(), conv.scratch_len::<f32>());
            assert!(lo > 0 && lo < hi);
            for len in lo..=hi {
                check_all::<f32>(&g, len, len as u64);
            }
            check_all::<f64>(&g, conv.min_scratch_len(), 3);
            check_all::<f64>(&g, conv.scratch_len::<f64>(), 4);
        }
        // The named paths.
        for (_, g) in named() {
            let conv = g.conv().unwrap();
            check_all::<f32>(&g, conv.min_scratch_len(), 5);
            check_all::<f64>(&g, conv.scratch_len::<f64>(), 6);
        }
    });
    isa::report("conv", &ran);
}

/// Every named case at the minimum and the full-speed workspace: the fast subset CI runs
/// under Miri.
#[test]
fn each_path_at_minimum_and_full_workspace() {
    for (_, g) in named() {
        let conv = g.conv().unwrap();
        check_all::<f32>(&g, conv.min_scratch_len(), 11);
        check_all::<f64>(&g, conv.scratch_len::<f64>(), 12);
    }
}

#[test]
fn every_workspace_size_from_minimum_to_full() {
    for (name, g) in named() {
        let conv = g.conv().unwrap();
        let (lo, hi) = (conv.min_scratch_len(), conv.scratch_len::<f32>());
        assert!(lo <= hi, "{name}");
        for len in lo..=hi.min(lo + 400) {
            check_all::<f32>(&g, len, len as u64);
        }
        check_all::<f64>(&g, conv.scratch_len::<f64>(), 1);
        check_all::<f64>(&g, conv.scratch_len::<f64>() + 17, 2);
    }
}

/// Real-valued data: every workspace size gives the full-speed result up to rounding (the
/// GEMM's blocking, hence its summation order, depends on the scratch it is given).
#[test]
fn every_workspace_size_agrees_up_to_rounding() {
    for (name, g) in named() {
        let conv = g.conv().unwrap();
        let (x, w, b, dy) = (
            to::<f32>(&reals(1, g.x_len())),
            to::<f32>(&reals(2, g.w_len())),
            to::<f32>(&reals(3, g.oc)),
            to::<f32>(&reals(4, g.y_len())),
        );
        let run = |len: usize| {
            let mut scratch = vec![f32::NAN; len];
            let mut y = vec![f32::NAN; g.y_len()];
            conv2d(&conv, &x, &w, Some(&b), None, &mut y, &mut scratch).unwrap();
            let mut dx = vec![f32::NAN; g.x_len()];
            conv2d_backward_data(&conv, &w, &dy, &mut dx, Accum::Replace, &mut scratch).unwrap();
            let mut dw = vec![f32::NAN; g.w_len()];
            conv2d_backward_filter(&conv, &x, &dy, &mut dw, Accum::Replace, &mut scratch).unwrap();
            [y, dx, dw]
        };
        let full = run(conv.scratch_len::<f32>());
        let terms = (g.w_len() + g.y_len()) as f32;
        for len in conv.min_scratch_len()..conv.scratch_len::<f32>().min(300) {
            for (got, want) in run(len).iter().zip(&full) {
                for (a, b) in got.iter().zip(want) {
                    let tol = 1e-6 * terms * (1.0 + b.abs());
                    assert!(
                        (a - b).abs() <= tol,
                        "{name} with {len} scratch: {a} != {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn workspace_sizes_follow_the_kernel_paths() {
    let [_, _, _, pointwise, ..] = &named()[..] else {
        unreachable!()
    };
    let conv = pointwise.1.conv().unwrap();
    assert_eq!(conv.min_scratch_len(), 0);
    // Depthwise: nothing needed; one padded input plane for the all-vector forward, its
    // rows split by the phases of the stride along the width (rows rounded up to a
    // multiple of the stride). With stride 1 on hosts the plane is padded on every side
    // and followed by the flat outputs, rows of the padded width but the last.
    let depthwise = named()[6].1.conv().unwrap();
    assert_eq!(depthwise.min_scratch_len(), 0);
    let flat = (1 + 6 + 1) * (1 + 7 + 1) + 5 * (1 + 7 + 1) + 7;
    assert_eq!(depthwise.scratch_len::<f32>(), flat);
    let strided = Geom::conv2d(1, 2, 5, 6, 2, 2, (2, 2), (1, 2), (1, 1), [1, 1, 1, 1]);
    assert_eq!(
        strided.conv().unwrap().scratch_len::<f64>(),
        5 * (1 + 6 + 1)
    );
    let odd = Geom::conv2d(1, 2, 5, 7, 2, 2, (2, 2), (1, 3), (1, 1), [1, 1, 1, 1]);
    assert_eq!(odd.conv().unwrap().scratch_len::<f64>(), 5 * 9);
    let general = named()[0].1.conv().unwrap();
    assert_eq!(general.min_scratch_len(), 4 * 3 * 3);
    assert!(general.scratch_len::<f32>() >= 4 * 3 * 3 * 6 * 5);
}

#[test]
fn depthwise_planes_taller_than_one_band() {
    // 150 x 40 outputs per plane: several L1 bands of rows.
    let g = Geom::conv2d(1, 2, 150, 40, 4, 2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    check_all::<f32>(&g, 0, 5);
    let g = Geom::conv2d(1, 1, 301, 20, 1, 1, (3, 2), (2, 1), (2, 1), [0, 2, 1, 0]);
    check_all::<f64>(&g, 0, 6);
    // Rows wide enough for every block width of the vector forward, with and without the
    // padded-plane workspace.
    // Strides above 1 along the width take the vector forward through the phase-split
    // padded plane.
    for (w, stride, kernel) in [
        (67, 1, 3),
        (150, 1, 3),
        (67, 2, 3),
        (150, 2, 3),
        (101, 3, 5),
    ] {
        let g = Geom::conv2d(
            2,
            2,
            5,
            w,
            4,
            2,
            (3, kernel),
            (1, stride),
            (1, 2),
            [1, 0, 2, 1],
        );
        let full = g.conv().unwrap().scratch_len::<f32>();
        check_all::<f32>(&g, 0, 7);
        check_all::<f32>(&g, full, 8);
        check_all::<f64>(&g, full, 9);
        let g = Geom::conv2d(
            1,
            3,
            4,
            w,
            3,
            3,
            (3, kernel),
            (2, stride),
            (1, 1),
            [1, 1, 1, 1],
        );
        let full = g.conv().unwrap().scratch_len::<f32>();
        check_all::<f32>(&g, full, 10);
    }
}

#[test]
fn batch_split_across_threads_gives_the_same_result() {
    let g = Geom::conv2d(6, 4, 9, 8, 6, 2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    let conv = g.conv().unwrap();
    let (x, w, dy) = (
        to::<f32>(&reals(1, g.x_len())),
        to::<f32>(&reals(2, g.w_len())),
        to::<f32>(&reals(3, g.y_len())),
    );
    let mut scratch = vec![0.0; conv.scratch_len::<f32>()];
    let mut y = vec![f32::NAN; g.y_len()];
    conv2d(&conv, &x, &w, None, None, &mut y, &mut scratch).unwrap();
    let mut dx = vec![f32::NAN; g.x_len()];
    conv2d_backward_data(&conv, &w, &dy, &mut dx, Accum::Replace, &mut scratch).unwrap();

    // Three threads of two images each.
    let part = conv.with_batch(2).unwrap();
    let mut y_par = vec![f32::NAN; g.y_len()];
    let mut dx_par = vec![f32::NAN; g.x_len()];
    let mut dw_parts = vec![vec![f32::NAN; g.w_len()]; 3];
    std::thread::scope(|s| {
        for ((((x, dy), y), dx), dw) in x
            .chunks(part.input_len())
            .zip(dy.chunks(part.output_len()))
            .zip(y_par.chunks_mut(part.output_len()))
            .zip(dx_par.chunks_mut(part.input_len()))
            .zip(dw_parts.iter_mut())
        {
            let w = &w;
            s.spawn(move || {
                let mut scratch = vec![f32::NAN; part.scratch_len::<f32>()];
                conv2d(&part, x, w, None, None, y, &mut scratch).unwrap();
                conv2d_backward_data(&part, w, dy, dx, Accum::Replace, &mut scratch).unwrap();
                conv2d_backward_filter(&part, x, dy, dw, Accum::Replace, &mut scratch).unwrap();
            });
        }
    });
    assert_eq!(y_par, y);
    assert_eq!(dx_par, dx);
    // The per-thread weight gradients sum to the whole batch's (up to rounding).
    let mut dw = vec![f32::NAN; g.w_len()];
    conv2d_backward_filter(&conv, &x, &dy, &mut dw, Accum::Replace, &mut scratch).unwrap();
    for (i, v) in dw.iter().enumerate() {
        let s: f32 = dw_parts.iter().map(|p| p[i]).sum();
        assert!((s - v).abs() <= 1e-4 * (v.abs() + 1.0), "{s} != {v}");
    }
}

#[test]
fn clamp_follows_torch_clamp() {
    let c = Clamp::new(1.0f32, 3.0);
    assert_eq!([0.0, 2.0, 4.0].map(|v| c.apply(v)), [1.0, 2.0, 3.0]);
    assert!(c.apply(f32::NAN).is_nan());
    let inverted = Clamp::new(3.0f64, 1.0);
    assert_eq!([0.0, 2.0, 4.0].map(|v| inverted.apply(v)), [1.0, 1.0, 1.0]);
    assert_eq!(Clamp::<f32>::relu().apply(f32::MAX), f32::MAX);
    assert_eq!(Clamp::<f64>::relu6().apply(7.0), 6.0);
}

/// C, H or W = 0 is `Error::Empty`, reported before any window check; N = 0 is valid.
#[test]
fn empty_inputs_are_refused_before_the_window() {
    let too_large = Window::square(9);
    for (c, h, w, what) in [
        (0, 5, 5, "channels"),
        (4, 0, 5, "height"),
        (4, 5, 0, "width"),
    ] {
        let g = Conv2d::new(Shape::new(1, c, h, w).unwrap(), 4, too_large, 1);
        assert_eq!(g, Err(Error::Empty { what }));
        let padded = Window::square(1).with_padding(Padding::uniform(1));
        let g = Conv2d::new(Shape::new(0, c, h, w).unwrap(), 4, padded, 1);
        assert_eq!(g, Err(Error::Empty { what }));
    }
    let g = Geom::conv2d(0, 4, 5, 5, 2, 2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]);
    assert_eq!(g.conv().unwrap().output_len(), 0);
}

/// Planes with no elements are refused before any window check, even where padding alone
/// would give windows (the former named cases `all_padding_input` and
/// `depthwise_zero_width_input`).
#[test]
fn empty_planes_are_refused() {
    for (h, w, groups, what) in [(0, 0, 1, "height"), (3, 0, 2, "width"), (0, 3, 2, "height")] {
        let x = Shape::new(1, 2, h, w).unwrap();
        let window = Window::square(2).with_padding(Padding::uniform(2));
        assert_eq!(
            Conv2d::new(x, 2, window, groups),
            Err(Error::Empty { what })
        );
    }
    // An empty batch is valid.
    assert!(Conv2d::new(Shape::new(0, 2, 3, 3).unwrap(), 2, Window::square(2), 1).is_ok());
}

#[test]
fn invalid_geometries_are_refused() {
    let x = Shape::new(1, 4, 5, 5).unwrap();
    let k3 = Window::square(3);
    assert_eq!(
        Conv2d::new(x, 4, k3, 0),
        Err(Error::Zero {
            parameter: "groups"
        })
    );
    assert_eq!(
        Conv2d::new(Shape::new(1, 0, 5, 5).unwrap(), 4, k3, 1),
        Err(Error::Empty { what: "channels" })
    );
    assert_eq!(
        Conv2d::new(x, 0, k3, 1),
        Err(Error::Zero {
            parameter: "out_channels"
        })
    );
    assert_eq!(
        Conv2d::new(x, 6, k3, 3),
        Err(Error::NotDivisible {
            what: "channels",
            value: 4,
            divisor: 3
        })
    );
    assert_eq!(
        Conv2d::new(x, 6, k3, 4),
        Err(Error::NotDivisible {
            what: "out_channels",
            value: 6,
            divisor: 4
        })
    );
    assert_eq!(
        Conv2d::new(x, 4, Window::square(6), 1),
        Err(Error::WindowTooLarge {
            axis: "height",
            field: 6,
            padded: 5
        })
    );
    assert_eq!(
        Conv2d::new(x, 4, Window::new(3, 2).with_dilation(1, 5), 1),
        Err(Error::WindowTooLarge {
            axis: "width",
            field: 6,
            padded: 5
        })
    );
    assert_eq!(
        Conv2d::new(x, 4, k3.with_stride(1, 0), 1),
        Err(Error::Zero {
            parameter: "stride_w"
        })
    );
    assert_eq!(
        Conv2d::new(x, 4, k3.with_dilation(0, 1), 1),
        Err(Error::Zero {
            parameter: "dilation_h"
        })
    );
    assert_eq!(
        Conv2d::new(x, 4, Window::new(3, 0), 1),
        Err(Error::Zero {
            parameter: "kernel_w"
        })
    );
    // Output or weights that overflow usize.
    let big = Shape::new(1 << 20, 1, 1 << 20, 1).unwrap();
    assert_eq!(
        Conv2d::new(big, 1 << 30, Window::square(1), 1),
        Err(Error::Overflow)
    );
    let wide = Shape::new(1, 1 << 32, 1, 1).unwrap();
    assert_eq!(
        Conv2d::new(wide, 1 << 32, Window::square(1), 1),
        Err(Error::Overflow)
    );
    let huge_pad = Window::square(1).with_padding(Padding::uniform(usize::MAX / 2));
    assert_eq!(Conv2d::new(x, 4, huge_pad, 1), Err(Error::Overflow));
    assert_eq!(
        Conv2d::new(x, 4, k3, 1).unwrap().with_batch(usize::MAX),
        Err(Error::Overflow)
    );
}

/// Every buffer of every operation, one wrong length at a time: the right error, and no
/// output touched.
#[test]
fn wrong_buffers_are_refused_with_outputs_untouched() {
    for (name, g) in named() {
        let conv = g.conv().unwrap();
        let min = conv.min_scratch_len();
        let full = conv.scratch_len::<f32>();
        let (xl, wl, yl, bl) = (g.x_len(), g.w_len(), g.y_len(), g.oc);
        const S: f32 = 12345.0;
        for bad in 0..6 {
            let len = |i: usize, l: usize| if i == bad { l + 1 } else { l };
            let scratch_len = if bad == 5 { min.wrapping_sub(1) } else { full };
            if bad == 5 && min == 0 {
                continue;
            }
            let x = vec![1.0f32; len(0, xl)];
            let w = vec![1.0f32; len(1, wl)];
            let b = vec![1.0f32; len(2, bl)];
            let dy = vec![1.0f32; len(3, yl)];
            let mut y = vec![S; len(4, yl)];
            let fresh = || vec![S; scratch_len];
            let untouched = |s: &[f32]| s.iter().all(|&v| v == S);
            let mut scratch = fresh();
            let want = |buffer: &'static str, expected: usize, actual: usize| {
                if bad == 5 {
                    Err(Error::ScratchTooSmall {
                        needed: min,
                        actual: scratch_len,
                    })
                } else {
                    Err(Error::BufferLength {
                        buffer,
                        expected,
                        actual,
                    })
                }
            };
            let r = conv2d(&conv, &x, &w, Some(&b), None, &mut y, &mut scratch);
            let e = match bad {
                0 => want("input", xl, x.len()),
                1 => want("weight", wl, w.len()),
                2 => want("bias", bl, b.len()),
                4 => want("output", yl, y.len()),
                _ => want("", 0, 0),
            };
            if bad != 3 {
                assert_eq!(r, e, "{name} forward, bad {bad}");
                assert!(untouched(&y) && untouched(&scratch), "{name}");
            }

            // Backward-data: grad_output (3), weight (1), grad_input (0).
            let mut dx = vec![S; len(0, xl)];
            let mut scratch = fresh();
            let r = conv2d_backward_data(&conv, &w, &dy, &mut dx, Accum::Replace, &mut scratch);
            let e = match bad {
                3 => want("grad_output", yl, dy.len()),
                1 => want("weight", wl, w.len()),
                0 => want("grad_input", xl, dx.len()),
                _ => want("", 0, 0),
            };
            if bad != 2 && bad != 4 {
                assert_eq!(r, e, "{name} backward_data, bad {bad}");
                assert!(untouched(&dx) && untouched(&scratch), "{name}");
            }

            // Backward-filter: input (0), grad_output (3), grad_weight (1).
            let mut dw = vec![S; len(1, wl)];
            let mut scratch = fresh();
            let r = conv2d_backward_filter(&conv, &x, &dy, &mut dw, Accum::Replace, &mut scratch);
            let e = match bad {
                0 => want("input", xl, x.len()),
                3 => want("grad_output", yl, dy.len()),
                1 => want("grad_weight", wl, dw.len()),
                _ => want("", 0, 0),
            };
            if bad != 2 && bad != 4 {
                assert_eq!(r, e, "{name} backward_filter, bad {bad}");
                assert!(untouched(&dw) && untouched(&scratch), "{name}");
            }

            // Bias gradient: grad_output (3), grad_bias (2).
            let mut db = vec![S; len(2, bl)];
            let r = conv2d_backward_bias(&conv, &dy, &mut db, Accum::Add);
            match bad {
                3 => assert_eq!(r, want("grad_output", yl, dy.len())),
                2 => assert_eq!(r, want("grad_bias", bl, db.len())),
                _ => {}
            }
            if bad == 2 || bad == 3 {
                assert!(db.iter().all(|&v| v == S), "{name}");
            }
        }
    }
}

/// Depthwise 3 x 3 with stride 1 on every instruction set this CPU has, the portable one
/// included (it has a kernel of its own for this filter): widths from 1 to 11, four
/// paddings, a channel multiplier of 1 and 2, both workspaces, no clamp, a clamp and ReLU
/// (whose rows skip the upper bound), against the naive reference. The same for an ordinary
/// 3 x 3 convolution (one group).
#[test]
fn depthwise_3x3_on_every_isa() {
    let clamps = [None, Some((-20.0, 30.0)), Some((0.0, f64::INFINITY))];
    for isa in nchw::Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        for w in 1..=11 {
            for pad in [[0, 0, 0, 0], [1, 1, 1, 1], [2, 0, 1, 2], [0, 2, 2, 1]] {
                for (oc, groups) in [(3, 3), (6, 3), (4, 1)] {
                    let g = Geom::conv2d(1, 3, 5, w, oc, groups, (3, 3), (1, 1), (1, 1), pad);
                    let Ok(conv) = g.conv() else { continue };
                    let conv = conv.with_isa(isa).unwrap();
                    let (x, wt, b) = (
                        ints(1, g.x_len(), 3),
                        ints(2, g.w_len(), 3),
                        ints(3, g.oc, 3),
                    );
                    let (tx, tw, tb) = (to::<f32>(&x), to::<f32>(&wt), to::<f32>(&b));
                    for (scratch_len, clamp) in [conv.min_scratch_len(), conv.scratch_len::<f32>()]
                        .into_iter()
                        .flat_map(|len| clamps.map(|c| (len, c)))
                    {
                        for bias in [None, Some(&b[..])] {
                            let mut y = vec![f32::NAN; g.y_len()];
                            let mut scratch = vec![f32::NAN; scratch_len];
                            let tclamp = clamp.map(|(lo, hi)| Clamp::new(lo as f32, hi as f32));
                            let tbias = bias.map(|_| &tb[..]);
                            conv2d(&conv, &tx, &tw, tbias, tclamp, &mut y, &mut scratch).unwrap();
                            let want = naive::forward(&g, &x, &wt, bias, clamp);
                            assert_eq!(from(&y), want, "{isa:?} {g:?} {scratch_len} {clamp:?}");
                        }
                    }
                }
            }
        }
    }
}

/// The depthwise forward on flat planes (stride 1 with the full workspace, on hosts) at its
/// edges, on every instruction set: fewer flat positions than a vector (scalar), fewer
/// than a block (one vector at a time), a kernel wider than the vector path takes
/// (scalar), dilation with asymmetric padding, a channel multiplier above 1. The scalar
/// cases also with dilation (a tap `kw` at `kw * DW` of its row, `kh` at `kh * DH` rows).
#[test]
fn depthwise_flat_planes_on_every_isa() {
    let cases = [
        // (h, w, multiplier, kernel, dilation, padding)
        (1, 1, 1, (1, 1), (1, 1), [0, 0, 0, 0]),
        (2, 3, 2, (2, 2), (1, 1), [0, 0, 0, 0]),
        (3, 4, 1, (3, 3), (1, 1), [1, 1, 1, 1]),
        (2, 40, 1, (1, 33), (1, 1), [0, 1, 3, 2]),
        (6, 9, 2, (3, 3), (2, 3), [2, 0, 1, 3]),
        (7, 7, 3, (5, 5), (1, 1), [2, 2, 2, 2]),
        (1, 5, 1, (1, 2), (1, 3), [0, 0, 0, 0]),
        (3, 70, 2, (2, 33), (2, 2), [1, 0, 2, 3]),
    ];
    for isa in nchw::Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        for (h, w, m, kernel, dilation, pad) in cases {
            let g = Geom::conv2d(2, 3, h, w, 3 * m, 3, kernel, (1, 1), dilation, pad);
            let conv = g.conv().unwrap().with_isa(isa).unwrap();
            let (x, wt, b) = (
                ints(1, g.x_len(), 3),
                ints(2, g.w_len(), 3),
                ints(3, g.oc, 3),
            );
            let mut y = vec![f32::NAN; g.y_len()];
            let mut scratch = vec![f32::NAN; conv.scratch_len::<f32>()];
            let (tx, tw, tb) = (to::<f32>(&x), to::<f32>(&wt), to::<f32>(&b));
            let clamp = Some(Clamp::new(-20.0f32, 30.0));
            conv2d(&conv, &tx, &tw, Some(&tb), clamp, &mut y, &mut scratch).unwrap();
            let want = naive::forward(&g, &x, &wt, Some(&b), Some((-20.0, 30.0)));
            assert_eq!(from(&y), want, "{isa:?} {g:?}");
        }
    }
}

// Shrunk proptest failures (conv.proptest-regressions), kept by name. Each ran at the
// minimum workspace (`frac = 0`); here every property of the three property tests runs.

fn regression(g: Geom, seed: u64) {
    let conv = g.conv().unwrap();
    check_all::<f32>(&g, scratch_between::<f32>(&conv, 0), seed);
    check_all::<f64>(&g, scratch_between::<f64>(&conv, 0), seed);
    check_all::<f32>(&g, scratch_between::<f32>(&conv, 1000), seed);
    adjoint::<f64>(&g, 0, seed);
}

/// A named test per shrunk case: `name: (n, c, h, w, oc, groups, kernel, stride, dilation,
/// pad), seed`.
macro_rules! regressions {
    ($($(#[$doc:meta])* $name:ident: ($($g:expr),*), $seed:expr;)*) => {$(
        $(#[$doc])*
        #[test]
        fn $name() {
            regression(Geom::conv2d($($g),*), $seed);
        }
    )*};
}

regressions! {
    regression_2x1_window_over_bottom_padding:
        (1, 1, 1, 1, 1, 1, (2, 1), (1, 1), (1, 1), [0, 1, 0, 0]), 16;
    regression_pointwise_2x2_plane: (1, 1, 2, 2, 1, 1, (1, 1), (1, 1), (1, 1), [0; 4]), 104;
    /// Two cases of the file shrank to this one.
    regression_pointwise_two_channels_one_pixel:
        (1, 2, 1, 1, 1, 1, (1, 1), (1, 1), (1, 1), [0; 4]), 0;
    regression_pointwise_column_with_right_padding:
        (1, 2, 5, 1, 1, 1, (1, 1), (1, 1), (1, 1), [0, 0, 0, 1]), 0;
    regression_pointwise_stride_2_along_the_width:
        (1, 2, 2, 2, 1, 1, (1, 1), (1, 2), (1, 1), [0; 4]), 0;
    regression_pointwise_stride_2_with_top_and_right_padding:
        (1, 2, 1, 5, 1, 1, (1, 1), (1, 2), (1, 1), [2, 0, 0, 2]), 0;
}

/// Shrunk cases with an empty plane: refused since API v0.2 (a no-op with padding before).
#[test]
fn regression_empty_planes_with_padding_are_refused() {
    for (n, h, w, pad, what) in [
        (1, 0, 0, [0, 1, 1, 1], "height"),
        (0, 2, 0, [0, 0, 0, 1], "width"),
        (0, 0, 0, [0, 1, 0, 1], "height"),
    ] {
        let g = Geom::conv2d(n, 2, h, w, 1, 1, (1, 1), (1, 1), (1, 1), pad);
        assert_eq!(g.conv(), Err(Error::Empty { what }));
    }
}
