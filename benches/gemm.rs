//! GEMM throughput in FLOP/s (2 m n k per product), next to this core's measured peak FMA
//! throughput, so every figure reads as a fraction of peak from the same run.
//!
//! `cargo bench --bench gemm`; filter with e.g. `cargo bench --bench gemm -- f32/square`.
//!
//! Time is the benchmark thread's CPU time (on Linux), not wall time: on a shared machine it
//! leaves out the slices the scheduler gives to other processes (their cache pollution
//! remains). On a quiet machine the two agree.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nchw::{gemm, Float, Gemm, Isa, MatMut, MatRef};

/// Thread CPU time, in nanoseconds.
struct CpuTime;

#[cfg(target_os = "linux")]
fn now() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `ts` is a valid out-parameter; the clock id is Linux's thread CPU clock.
    let ok = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    assert!(ok, "clock_gettime failed");
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn now() -> Duration {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

impl Measurement for CpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        now()
    }
    fn end(&self, start: Duration) -> Duration {
        now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuTimeFormatter
    }
}

/// Nanoseconds shown as ns/us/ms/s; element throughput as G/s (GFLOP/s here).
struct CpuTimeFormatter;

impl ValueFormatter for CpuTimeFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e3, "us"),
            t if t < 1e9 => (1e6, "ms"),
            _ => (1e9, "s"),
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(
        &self,
        _: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per_iter, unit) = match *throughput {
            Throughput::Elements(e) | Throughput::ElementsAndBytes { elements: e, .. } => {
                (e as f64, "GFLOP/s")
            }
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => (b as f64, "GB/s"),
            Throughput::Bits(b) => (b as f64, "Gbit/s"),
        };
        // per_iter / (ns * 1e-9) / 1e9
        values.iter_mut().for_each(|v| *v = per_iter / *v);
        unit
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

type Group<'a> = criterion::BenchmarkGroup<'a, CpuTime>;

/// Independent FMA chains: enough to cover latency x ports on any current core, and few
/// enough to stay in registers (32 with AVX-512, 16 with AVX2).
const CHAINS: [usize; 2] = [24, 12];
/// FMA rounds per call.
const ROUNDS: usize = 1 << 12;

macro_rules! peak_fn {
    ($name:ident, $feat:literal, $chains:expr, $t:ty, $splat:ident, $fma:ident, $add:ident,
     $first:ident) => {
        /// `ROUNDS * chains` independent vector FMAs.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        fn $name(x: $t) -> $t {
            use std::arch::x86_64::*;
            let mut acc = [$splat(x); $chains];
            let (m, a) = ($splat(black_box(0.999_9)), $splat(black_box(1e-6)));
            for _ in 0..ROUNDS {
                for v in acc.iter_mut() {
                    *v = $fma(*v, m, a);
                }
            }
            let sum = acc.into_iter().reduce(|s, v| $add(s, v)).unwrap_or(m);
            $first(sum)
        }
    };
}
peak_fn!(
    peak_avx512_f32,
    "avx512f",
    CHAINS[0],
    f32,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_reduce_add_ps
);
peak_fn!(
    peak_avx512_f64,
    "avx512f",
    CHAINS[0],
    f64,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd,
    _mm512_reduce_add_pd
);
peak_fn!(
    peak_avx2_f32,
    "avx2,fma",
    CHAINS[1],
    f32,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    first_f32x8
);
peak_fn!(
    peak_avx2_f64,
    "avx2,fma",
    CHAINS[1],
    f64,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_add_pd,
    first_f64x4
);

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn first_f32x8(v: std::arch::x86_64::__m256) -> f32 {
    std::arch::x86_64::_mm256_cvtss_f32(v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn first_f64x4(v: std::arch::x86_64::__m256d) -> f64 {
    std::arch::x86_64::_mm256_cvtsd_f64(v)
}

/// Peak FMA throughput of each vector unit this core has.
fn peak(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("peak");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    #[cfg(target_arch = "x86_64")]
    {
        type Peak = (fn(f32) -> f32, fn(f64) -> f64, u64);
        // SAFETY: each entry runs only when its kernel (hence its features) is available.
        let units: [(Isa, Peak); 2] = [
            (
                Isa::Avx512,
                (
                    |x| unsafe { peak_avx512_f32(x) },
                    |x| unsafe { peak_avx512_f64(x) },
                    16,
                ),
            ),
            (
                Isa::Avx2,
                (
                    |x| unsafe { peak_avx2_f32(x) },
                    |x| unsafe { peak_avx2_f64(x) },
                    8,
                ),
            ),
        ];
        for ((kernel, (f32_fn, f64_fn, lanes)), chains) in units.into_iter().zip(CHAINS) {
            if !kernel.is_available() {
                continue;
            }
            let fmas = (ROUNDS * chains) as u64;
            g.throughput(Throughput::Elements(2 * fmas * lanes));
            g.bench_function(format!("{}/f32", kernel.name()), |b| {
                b.iter(|| f32_fn(black_box(1.0)))
            });
            g.throughput(Throughput::Elements(fmas * lanes));
            g.bench_function(format!("{}/f64", kernel.name()), |b| {
                b.iter(|| f64_fn(black_box(1.0)))
            });
        }
    }
    g.finish();
}

fn bench_shape<T: Float>(g: &mut Group<'_>, name: &str, (m, n, k): (usize, usize, usize)) {
    let a: Vec<T> = (0..m * k)
        .map(|i| T::from_usize(i % 7) - T::from_usize(3))
        .collect();
    let b: Vec<T> = (0..k * n)
        .map(|i| T::from_usize(i % 5) - T::from_usize(2))
        .collect();
    let mut c = vec![T::ZERO; m * n];
    let geometry = Gemm::new(m, n, k).unwrap();
    let mut scratch = vec![T::ZERO; geometry.scratch_len::<T>()];
    g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
    g.bench_function(BenchmarkId::new(name, format!("{m}x{n}x{k}")), |bench| {
        bench.iter(|| {
            let a = MatRef::row_major(&a, m, k).unwrap();
            let b = MatRef::row_major(&b, k, n).unwrap();
            let c = MatMut::row_major(&mut c, m, n).unwrap();
            gemm(&geometry, T::ONE, a, b, T::ZERO, c, &mut scratch).unwrap();
        })
    });
}

const SQUARES: [usize; 8] = [16, 32, 64, 128, 256, 512, 1024, 2048];
/// Convolution GEMMs: (out channels, output pixels, in channels x kernel area).
const CONVS: [(usize, usize, usize); 4] = [
    (64, 3136, 576),
    (256, 196, 2304),
    (512, 49, 4608),
    (32, 12544, 27),
];

fn products<T: Float>(c: &mut Criterion<CpuTime>, ty: &str) {
    let mut g = c.benchmark_group(ty);
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for s in SQUARES {
        g.sample_size(if s >= 1024 { 10 } else { 30 });
        bench_shape::<T>(&mut g, "square", (s, s, s));
    }
    g.sample_size(20);
    for shape in CONVS {
        bench_shape::<T>(&mut g, "conv", shape);
    }
    g.finish();
}

fn f32s(c: &mut Criterion<CpuTime>) {
    products::<f32>(c, "f32");
}

fn f64s(c: &mut Criterion<CpuTime>) {
    products::<f64>(c, "f64");
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = peak, f32s, f64s
}
criterion_main!(benches);
