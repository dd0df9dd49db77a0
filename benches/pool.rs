//! Pooling throughput, in bytes of input plus output per second, next to a memory copy of
//! the same input bytes.
//!
//! `cargo bench --bench pool`; `cargo bench --bench pool -- 'max2x2s2/fwd'` for a subset.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nchw::{
    avg_pool2d, avg_pool2d_backward, global_avg_pool2d, global_avg_pool2d_backward, max_pool2d,
    max_pool2d_backward, max_pool2d_backward_recompute, max_pool2d_with_indices, Accum, AvgPool2d,
    Divisor, Padding, Pool2d, Rounding, Shape, Window,
};

const F: usize = core::mem::size_of::<f32>();
const I: usize = core::mem::size_of::<u32>();

fn pooling(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900));
    for (ch, hw) in [(64, 112), (512, 14)] {
        for n in [1, 8] {
            let shape = Shape::new(n, ch, hw, hw).unwrap();
            let id = |what: &str| BenchmarkId::new(what, format!("{ch}x{hw}x{hw}/n{n}"));
            let x: Vec<f32> = (0..shape.len())
                .map(|i| ((i * 7919) % 1000) as f32)
                .collect();
            let mut dx = vec![0.0f32; shape.len()];

            // The yardstick: copy the input (read and write the same number of bytes).
            let mut copy = vec![0.0f32; shape.len()];
            group.throughput(Throughput::Bytes((2 * shape.len() * F) as u64));
            group.bench_function(id("memcpy"), |b| b.iter(|| copy.copy_from_slice(&x)));

            let windows = [
                ("max2x2s2", Window::square(2).with_stride(2, 2)),
                (
                    "max3x3s2p1",
                    Window::square(3)
                        .with_stride(2, 2)
                        .with_padding(Padding::uniform(1)),
                ),
            ];
            for (name, w) in windows {
                let g = Pool2d::new(shape, w, Rounding::Floor).unwrap();
                let (len_in, len_out) = (g.input_len(), g.output_len());
                let mut y = vec![0.0f32; len_out];
                let mut idx = vec![0u32; len_out];
                group.throughput(Throughput::Bytes(((len_in + len_out) * F) as u64));
                group.bench_function(id(&format!("{name}/fwd")), |b| {
                    b.iter(|| max_pool2d(&g, &x, &mut y).unwrap())
                });
                group.throughput(Throughput::Bytes(
                    ((len_in + len_out) * F + len_out * I) as u64,
                ));
                group.bench_function(id(&format!("{name}/fwd_indices")), |b| {
                    b.iter(|| max_pool2d_with_indices(&g, &x, &mut y, &mut idx).unwrap())
                });
                group.bench_function(id(&format!("{name}/bwd_indices")), |b| {
                    b.iter(|| max_pool2d_backward(&g, &y, &idx, &mut dx, Accum::Replace).unwrap())
                });
                group.throughput(Throughput::Bytes(((2 * len_in + len_out) * F) as u64));
                group.bench_function(id(&format!("{name}/bwd_recompute")), |b| {
                    b.iter(|| {
                        max_pool2d_backward_recompute(&g, &x, &y, &mut dx, Accum::Replace).unwrap()
                    })
                });
            }

            let g =
                Pool2d::new(shape, Window::square(2).with_stride(2, 2), Rounding::Floor).unwrap();
            let a = AvgPool2d::new(g, Divisor::CountIncludePad).unwrap();
            let mut y = vec![0.0f32; g.output_len()];
            group.throughput(Throughput::Bytes(
                ((g.input_len() + g.output_len()) * F) as u64,
            ));
            group.bench_function(id("avg2x2s2/fwd"), |b| {
                b.iter(|| avg_pool2d(&a, &x, &mut y).unwrap())
            });
            group.bench_function(id("avg2x2s2/bwd"), |b| {
                b.iter(|| avg_pool2d_backward(&a, &y, &mut dx, Accum::Replace).unwrap())
            });

            let mut y = vec![0.0f32; n * ch];
            group.throughput(Throughput::Bytes(((shape.len() + n * ch) * F) as u64));
            group.bench_function(id("global_avg/fwd"), |b| {
                b.iter(|| global_avg_pool2d(shape, &x, &mut y).unwrap())
            });
            group.bench_function(id("global_avg/bwd"), |b| {
                b.iter(|| global_avg_pool2d_backward(shape, &y, &mut dx, Accum::Replace).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pooling);
criterion_main!(benches);
