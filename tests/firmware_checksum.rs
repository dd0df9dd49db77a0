//! The host half of the firmware test (`tests/firmware/`): runs the very same network source
//! on the host, checks it against the same naive loops, and pins the checksums that the
//! firmware must reproduce bit for bit on the Cortex-M4F and the Cortex-M0.

#[path = "firmware/src/bad_args.rs"]
mod bad_args;
#[path = "firmware/src/model.rs"]
mod model;
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

#[test]
fn network_matches_the_naive_loops() {
    let (host, _) = run();
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert!(host.passed >= 13);
}

#[test]
fn checksums_match_what_the_firmware_expects() {
    let (_, b) = run();
    // In the form of `model::EXPECTED`, to update it when the network changes.
    for (name, sum) in model::checksums(&b) {
        println!("    (\"{name}\", 0x{sum:08x}),");
    }
    let mut host = Host::default();
    model::check_checksums(&mut host, &b);
    assert!(host.failed.is_empty(), "differ: {:?}", host.failed);
    assert_eq!(host.passed, model::EXPECTED.len());
}

#[test]
fn bad_arguments_are_refused_and_outputs_untouched() {
    let mut host = Host::default();
    bad_args::check(&mut host);
    assert!(host.failed.is_empty(), "failed: {:?}", host.failed);
    assert!(host.passed >= 35);
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
