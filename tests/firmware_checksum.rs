//! The host half of the firmware test (`tests/firmware/`): runs the very same network source
//! on the host, checks it against the same naive loops, and derives the checksums that the
//! firmware must reproduce bit for bit on the Cortex-M4F and the Cortex-M0 from a second,
//! independent naive network (`tests/common`'s references), not from the crate.

mod common;

#[macro_use]
#[path = "firmware/src/ok.rs"]
mod ok;
#[path = "firmware/src/bad_args.rs"]
mod bad_args;
#[path = "firmware/src/int8.rs"]
mod int8;
#[path = "firmware/src/int8_reference.rs"]
mod int8_reference;
#[path = "firmware/src/model.rs"]
mod model;
#[path = "firmware/src/pooling.rs"]
mod pooling;
#[path = "firmware/src/reference.rs"]
mod reference;

use model::{Buffers, Runner};
use nchw::Error;

/// Collects the names of failed kernels and checks.
#[derive(Default)]
struct Host {
    passed: usize,
    failed: Vec<&'static str>,
}

impl Runner for Host {
    fn call<T>(&mut self, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        call()
    }

    fn check(&mut self, name: &'static str, ok: bool) {
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(name);
        }
    }
}

/// Forward pass and training step, as the firmware runs them.
fn run() -> (Host, Box<Buffers>) {
    let mut host = Host::default();
    let mut b = Box::new(Buffers::new());
    b.init();
    model::forward(&mut host, &mut b);
    reference::check_forward(&mut host, &b);
    let w0 = b.params;
    model::backward(&mut host, &mut b);
    reference::check_backward(&mut host, &b, &w0);
    (host, b)
}

/// The firmware's checks, exactly: a change in their number is a change of the test.
const REFERENCE_CHECKS: usize = 12;
const BAD_ARGUMENT_CHECKS: usize = 52;

#[test]
fn network_matches_the_naive_loops() {
    let (host, _) = run();
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert_eq!(host.passed, REFERENCE_CHECKS);
}

/// The whole network from `tests/common`'s naive references, in f64 (every value is a small
/// multiple of 1/8, exact in f32 and f64): the results the crate must reproduce.
fn naive_network() -> Vec<(&'static str, Vec<f32>)> {
    use common::conv as conv_ref;
    use common::pool::{self as pool_ref, Div};
    use common::{foundation, Geom};
    let mut b = Box::new(Buffers::new());
    b.init();
    let f = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (x, w, bias, wd, bd, dg) = (
        f(&b.x),
        f(&b.params.w),
        f(&b.params.b),
        f(&b.params.wd),
        f(&b.params.bd),
        f(&b.dg),
    );
    // Forward: pad 1, 3x3 conv 2 -> 4 + bias + ReLU, 2x2/2 max pool, depthwise 3x3 pad 1,
    // 2x2/1 average pool, global average pool.
    let x_pad = foundation::pad(2, 2, 6, 6, nchw::Padding::uniform(1), 0.0, &x);
    let conv = Geom::conv2d(2, 2, 8, 8, 4, 1, (3, 3), (1, 1), (1, 1), [0; 4]);
    let y = conv_ref::forward(&conv, &x_pad, &w, Some(&bias), Some((0.0, f64::INFINITY)));
    let pool = Geom::pool2d([2, 4], [6, 6], [2, 2], [2, 2], [1, 1], [[0; 2]; 2], false);
    let (p, idx) = pool_ref::max_pool::<f64>(&pool, &y);
    let dw = Geom::conv2d(2, 4, 3, 3, 4, 4, (3, 3), (1, 1), (1, 1), [1; 4]);
    let z = conv_ref::forward(&dw, &p, &wd, Some(&bd), None);
    let avg = Geom::pool2d([2, 4], [3, 3], [2, 2], [1, 1], [1, 1], [[0; 2]; 2], false);
    let a = pool_ref::avg_pool::<f64>(&avg, Div::IncludePad, &z);
    let g = pool_ref::global_avg::<f64>(4, &a);
    // Backward from dg, then SGD.
    let da: Vec<f64> = (0..a.len()).map(|i| dg[i / 4] / 4.0).collect();
    let dz = pool_ref::avg_pool_backward::<f64>(&avg, Div::IncludePad, &da, &vec![0.0; z.len()]);
    let dp = conv_ref::backward_data(&dw, &dz, &wd);
    let gwd = conv_ref::backward_filter(&dw, &p, &dz);
    let gbd = conv_ref::backward_bias(&dw, &dz);
    let mut dy = pool_ref::max_pool_backward::<f64>(&pool, &dp, &idx, &vec![0.0; y.len()]);
    for (d, &y) in dy.iter_mut().zip(&y) {
        if y <= 0.0 {
            *d = 0.0;
        }
    }
    let dx_pad = conv_ref::backward_data(&conv, &dy, &w);
    let dx: Vec<f64> = (0..x.len())
        .map(|i| {
            let (plane, h, w) = (i / 36, i / 6 % 6, i % 6);
            dx_pad[(plane * 8 + h + 1) * 8 + w + 1]
        })
        .collect();
    let gw = conv_ref::backward_filter(&conv, &x_pad, &dy);
    let gb = conv_ref::backward_bias(&conv, &dy);
    let lr = f64::from(model::LR);
    let sgd =
        |p: &[f64], g: &[f64]| -> Vec<f64> { p.iter().zip(g).map(|(p, g)| p - lr * g).collect() };
    let idx: Vec<f32> = idx.iter().map(|&i| f32::from_bits(i)).collect();
    vec![
        ("checksum x_pad", to32(&x_pad)),
        ("checksum y", to32(&y)),
        ("checksum p", to32(&p)),
        ("checksum idx", idx),
        ("checksum z", to32(&z)),
        ("checksum a", to32(&a)),
        ("checksum g", to32(&g)),
        ("checksum da", to32(&da)),
        ("checksum dz", to32(&dz)),
        ("checksum dp", to32(&dp)),
        ("checksum dy", to32(&dy)),
        ("checksum dx_pad", to32(&dx_pad)),
        ("checksum dx", to32(&dx)),
        ("checksum grad w", to32(&gw)),
        ("checksum grad b", to32(&gb)),
        ("checksum grad wd", to32(&gwd)),
        ("checksum grad bd", to32(&gbd)),
        ("checksum new w", to32(&sgd(&w, &gw))),
        ("checksum new b", to32(&sgd(&bias, &gb))),
        ("checksum new wd", to32(&sgd(&wd, &gwd))),
        ("checksum new bd", to32(&sgd(&bd, &gbd))),
    ]
}

/// The checksum of a naive result: the indices hashed as `u32`s, the values as `f32`s.
fn naive_checksum(name: &str, v: &[f32]) -> u32 {
    if name == "checksum idx" {
        let idx: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        model::checksum_u32(&idx)
    } else {
        model::checksum(v)
    }
}

#[test]
fn expected_checksums_are_the_naive_network_s() {
    let naive = naive_network();
    // In the form of `model::EXPECTED`, to update it when the network changes.
    for (name, v) in &naive {
        println!("    (\"{name}\", 0x{:08x}),", naive_checksum(name, v));
    }
    assert_eq!(naive.len(), model::EXPECTED.len());
    for ((name, v), (want_name, want)) in naive.iter().zip(model::EXPECTED) {
        assert_eq!(*name, want_name);
        assert_eq!(naive_checksum(name, v), want, "{name}");
    }
}

#[test]
fn checksums_match_what_the_firmware_expects() {
    let (_, b) = run();
    let mut host = Host::default();
    model::check_checksums(&mut host, &b);
    assert!(host.failed.is_empty(), "differ: {:?}", host.failed);
    assert_eq!(host.passed, model::CHECKSUMS);
}

#[test]
fn bad_arguments_are_refused_and_outputs_untouched() {
    let mut host = Host::default();
    bad_args::check(&mut host);
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert_eq!(host.passed, BAD_ARGUMENT_CHECKS);
}

/// Pooling around the windows with their own kernels on the microcontroller.
const POOLING_CHECKS: usize = 21;

#[test]
fn pooling_matches_the_naive_loops() {
    let mut host = Host::default();
    pooling::check(&mut host);
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert_eq!(host.passed, POOLING_CHECKS);
}

/// The int8 kernels against the naive loops the firmware runs (the portable paths here).
#[test]
fn int8_matches_the_naive_loops() {
    let mut host = Host::default();
    let mut b = Box::new(int8::Int8::new());
    int8::run(&mut host, &mut b, int8_reference::check);
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert_eq!(host.passed, INT8_CHECKS);
    // The outputs spread over the range (no check passes on a constant).
    assert!(b.y.iter().any(|&v| v > 3) && b.y.iter().any(|&v| v < -3));
}

/// The firmware's int8 checks, exactly.
const INT8_CHECKS: usize = 30;

/// What the network lacks, on its buffers once their checksums are taken.
const FEATURE_CHECKS: usize = 10;

#[test]
fn features_match_the_naive_loops() {
    let (mut host, mut b) = run();
    model::check_checksums(&mut host, &b);
    let f = model::features(&mut host, &mut b);
    let mut checked = Host::default();
    reference::check_features(&mut checked, &f);
    assert!(host.failed.is_empty(), "kernels failed: {:?}", host.failed);
    assert!(checked.failed.is_empty(), "failed: {:?}", checked.failed);
    assert_eq!(checked.passed, FEATURE_CHECKS);
    // Every feature output holds something to compare (no check passes on zeros).
    for out in [
        &f.y[..],
        &f.z[..],
        &f.m[..],
        &f.a[0][..],
        &f.a[1][..],
        &f.a[2][..],
    ] {
        assert!(out.iter().any(|v| *v != 0.0));
    }
}

#[test]
fn inputs_exercise_both_sides_of_the_relu() {
    let (_, b) = run();
    let positive = b.y.iter().filter(|v| **v > 0.0).count();
    assert!(
        positive > b.y.len() / 4 && positive < b.y.len() * 3 / 4,
        "{positive}"
    );
    // Every gradient the step computes is non-zero somewhere, so no check is vacuous.
    let grads = [
        &b.dz[..],
        &b.dp[..],
        &b.dy[..],
        &b.dx[..],
        &b.grads.w[..],
        &b.grads.b[..],
    ];
    for g in grads.into_iter().chain([&b.grads.wd[..], &b.grads.bd[..]]) {
        assert!(g.iter().any(|v| *v != 0.0));
    }
    // Max pooling picks each of the four positions of a 2 x 2 window somewhere.
    let corners = b
        .idx
        .iter()
        .map(|&i| (i as usize / model::Y.w() % 2, i as usize % 2));
    let mut seen = [false; 4];
    corners.for_each(|(r, c)| seen[r * 2 + c] = true);
    assert_eq!(seen, [true; 4]);
}
