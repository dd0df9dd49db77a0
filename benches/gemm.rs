//! GEMM throughput in FLOP/s (2 m n k per product), next to this core's measured peak FMA
//! throughput, so every figure reads as a fraction of peak from the same run.
//!
//! `cargo bench --bench gemm`; filter with e.g. `cargo bench --bench gemm -- f32/square`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nchw::{gemm, gemm_scratch_len, Element, Kernel, MatMut, MatRef};

/// Independent FMA chains: enough to cover latency x ports on any current core, and few
/// enough to stay in registers (32 with AVX-512, 16 with AVX2).
const CHAINS: [usize; 2] = [24, 12];
/// FMA rounds per call.
const ROUNDS: usize = 1 << 12;

macro_rules! peak_fn {
    ($name:ident, $feat:literal, $chains:expr, $v:ty, $splat:ident, $fma:ident, $t:ty) => {
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
            let mut lanes = [0.0 as $t; 64 / size_of::<$t>()];
            let mut s = acc[0];
            for v in &acc[1..] {
                s = $fma(*v, m, s);
            }
            // SAFETY: `lanes` holds one full vector.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    &s as *const $v as *const $t,
                    lanes.as_mut_ptr(),
                    size_of::<$v>() / size_of::<$t>(),
                )
            };
            lanes[0]
        }
    };
}
peak_fn!(
    peak_avx512_f32,
    "avx512f",
    CHAINS[0],
    __m512,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    f32
);
peak_fn!(
    peak_avx512_f64,
    "avx512f",
    CHAINS[0],
    __m512d,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    f64
);
peak_fn!(
    peak_avx2_f32,
    "avx2,fma",
    CHAINS[1],
    __m256,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    f32
);
peak_fn!(
    peak_avx2_f64,
    "avx2,fma",
    CHAINS[1],
    __m256d,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    f64
);

/// Peak FMA throughput of each vector unit this core has.
fn peak(c: &mut Criterion) {
    let mut g = c.benchmark_group("peak");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    #[cfg(target_arch = "x86_64")]
    {
        type Peak = (fn(f32) -> f32, fn(f64) -> f64, u64);
        // SAFETY: each entry runs only when its kernel (hence its features) is available.
        let units: [(Kernel, Peak); 2] = [
            (
                Kernel::Avx512,
                (
                    |x| unsafe { peak_avx512_f32(x) },
                    |x| unsafe { peak_avx512_f64(x) },
                    16,
                ),
            ),
            (
                Kernel::Avx2,
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

fn bench_shape<T: Element>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    (m, n, k): (usize, usize, usize),
) {
    let a: Vec<T> = (0..m * k)
        .map(|i| T::from_usize(i % 7) - T::from_usize(3))
        .collect();
    let b: Vec<T> = (0..k * n)
        .map(|i| T::from_usize(i % 5) - T::from_usize(2))
        .collect();
    let mut c = vec![T::ZERO; m * n];
    let mut scratch = vec![T::ZERO; gemm_scratch_len::<T>(m, n, k)];
    g.throughput(Throughput::Elements(2 * (m * n * k) as u64));
    g.bench_function(BenchmarkId::new(name, format!("{m}x{n}x{k}")), |bench| {
        bench.iter(|| {
            let a = MatRef::row_major(&a, m, k).unwrap();
            let b = MatRef::row_major(&b, k, n).unwrap();
            let c = MatMut::row_major(&mut c, m, n).unwrap();
            gemm(T::ONE, a, b, T::ZERO, c, &mut scratch).unwrap();
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

fn products<T: Element>(c: &mut Criterion, ty: &str) {
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

fn f32s(c: &mut Criterion) {
    products::<f32>(c, "f32");
}

fn f64s(c: &mut Criterion) {
    products::<f64>(c, "f64");
}

criterion_group!(benches, peak, f32s, f64s);
criterion_main!(benches);
