//! The one place tests choose an instruction set, and the record of which ones ran.
//!
//! [`each_isa`] runs a test body once per instruction set this machine has, with every
//! geometry made through [`force`] (as [`Geom::conv`](super::Geom::conv) and
//! [`Geom::pool`](super::Geom::pool) do) forced onto it. [`report`] prints which builds a
//! family ran, past the test harness's output capture, and fails when `NCHW_EXPECT_ISA` names
//! one that did not run.

use nchw::{Conv2d, Error, Gemm, Isa, Pool2d};
use std::cell::Cell;
use std::io::Write;

std::thread_local! {
    /// The instruction set [`force`] applies on this thread, if any.
    static FORCED: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// Every instruction set this machine runs, in [`Isa::ALL`] order.
pub fn available() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| isa.is_available())
        .collect()
}

/// One of the instruction sets this machine runs, for property tests.
pub fn any_isa() -> impl proptest::strategy::Strategy<Value = Isa> {
    proptest::sample::select(available())
}

/// Runs `f` with every geometry of this thread forced onto `isa`.
pub fn on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    let before = FORCED.with(|c| c.replace(Some(isa)));
    let r = f();
    FORCED.with(|c| c.set(before));
    r
}

/// Runs `f(isa)` once per instruction set this machine has, each time with every geometry
/// of this thread forced onto it; returns the ones it ran.
pub fn each_isa(mut f: impl FnMut(Isa)) -> Vec<Isa> {
    let all = available();
    for &isa in &all {
        on(isa, || f(isa));
    }
    all
}

/// The geometries that can be forced onto an instruction set.
pub trait Forcible: Sized {
    fn with_isa(self, isa: Isa) -> Result<Self, Error>;
    fn isa(&self) -> Isa;
}

macro_rules! forcible {
    ($($t:ty),*) => {$(
        impl Forcible for $t {
            fn with_isa(self, isa: Isa) -> Result<Self, Error> {
                <$t>::with_isa(self, isa)
            }
            fn isa(&self) -> Isa {
                <$t>::isa(self)
            }
        }
    )*};
}
forcible!(Gemm, Conv2d, Pool2d);

/// `g` on the instruction set [`on`] chose for this thread, or as it is outside [`on`].
pub fn force<G: Forcible>(g: G) -> G {
    match FORCED.with(Cell::get) {
        Some(isa) => {
            let g = g.with_isa(isa).expect("each_isa runs available ISAs only");
            assert_eq!(g.isa(), isa);
            g
        }
        None => g,
    }
}

/// The GEMM register tile `(MR, NR)` of `isa` for elements of `bytes` bytes, as the kernels
/// are documented: the edge tiles of a product are `m % MR` rows and `n % NR` columns.
pub fn tile(isa: Isa, bytes: usize) -> (usize, usize) {
    let lanes = |vector_bytes: usize| vector_bytes / bytes;
    match isa {
        Isa::Avx512 => (12, 2 * lanes(64)),
        Isa::Avx2 => (6, 2 * lanes(32)),
        Isa::Sse2 => (4, 2 * lanes(16)),
        Isa::Neon => (8, 2 * lanes(16)),
        _ => (4, 4),
    }
}

/// Prints `tiers: <family>=<isa>,...` past the output capture, with the tiers this machine
/// lacks, and panics if `NCHW_EXPECT_ISA` (names separated by commas or spaces) names a tier
/// `ran` does not hold.
pub fn report(family: &str, ran: &[Isa]) {
    let names =
        |isas: &mut dyn Iterator<Item = Isa>| isas.map(Isa::name).collect::<Vec<_>>().join(",");
    let missing = names(&mut Isa::ALL.into_iter().filter(|i| !i.is_available()));
    let exercised = names(&mut ran.iter().copied());
    let line = format!("tiers: {family}={exercised} (not on this machine: {missing})\n");
    // Straight to the process's stderr: the harness captures `eprintln!` of passing tests.
    std::io::stderr().write_all(line.as_bytes()).unwrap();
    if let Ok(expected) = std::env::var("NCHW_EXPECT_ISA") {
        for name in expected.split([',', ' ']).filter(|s| !s.is_empty()) {
            let isa = Isa::ALL.into_iter().find(|i| i.name() == name);
            assert!(isa.is_some(), "NCHW_EXPECT_ISA names {name:?}, not an ISA");
            assert!(
                ran.contains(&isa.unwrap()),
                "NCHW_EXPECT_ISA names {name}, but the {family} tests ran only {exercised}"
            );
        }
    }
}
