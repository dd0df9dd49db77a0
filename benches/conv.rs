//! Convolution throughput on classic CNN layers, in FLOP/s (criterion's "elem/s" here are
//! FLOPs: `2 * N * OC * OH * OW * (C / groups) * KH * KW` per pass).
//!
//! Run with `cargo bench --bench conv`; filter with e.g. `cargo bench --bench conv -- 3x3`.
//! `forward_packed` is the forward pass with the weights packed once beforehand
//! ([`conv2d_pack_weight`], untimed), beside `forward`, which packs them on every call.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use nchw::{
    conv2d, conv2d_backward_data, conv2d_backward_filter, conv2d_pack_weight, conv2d_packed, Accum,
    Conv2d, Float, Padding, Shape, Window,
};

/// A layer: name, channels, side, output channels, kernel, stride, padding, groups.
struct Layer(
    &'static str,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

const LAYERS: &[Layer] = &[
    Layer("tutorial_1x28_5x5_30", 1, 28, 30, 5, 1, 0, 1),
    Layer("resnet_7x7s2_3x224_64", 3, 224, 64, 7, 2, 3, 1),
    Layer("resnet_3x3_64x56", 64, 56, 64, 3, 1, 1, 1),
    Layer("resnet_3x3_128x28", 128, 28, 128, 3, 1, 1, 1),
    Layer("resnet_3x3_256x14", 256, 14, 256, 3, 1, 1, 1),
    Layer("resnet_3x3_512x7", 512, 7, 512, 3, 1, 1, 1),
    Layer("pointwise_1x1_256x56_64", 256, 56, 64, 1, 1, 0, 1),
    Layer("depthwise_3x3_32x112", 32, 112, 32, 3, 1, 1, 32),
    Layer("depthwise_3x3_512x14", 512, 14, 512, 3, 1, 1, 512),
];

impl Layer {
    fn conv(&self, n: usize) -> Conv2d {
        let &Layer(_, c, side, oc, k, s, p, groups) = self;
        let window = Window::square(k)
            .with_stride(s, s)
            .with_padding(Padding::uniform(p));
        Conv2d::new(Shape::new(n, c, side, side).unwrap(), oc, window, groups).unwrap()
    }
}

/// Forward, backward-data and backward-filter of one layer at batch `n`.
fn passes<T: Float>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    layer: &Layer,
    n: usize,
    ty: &str,
) {
    let conv = layer.conv(n);
    let flops = 2 * conv.macs() as u64;
    group.throughput(Throughput::Elements(flops));
    let fill = |len: usize, k: usize| -> Vec<T> {
        (0..len)
            .map(|i| T::from_usize((i * k) % 17) - T::from_usize(8))
            .collect()
    };
    let x = fill(conv.input_len(), 7);
    let w = fill(conv.weight_len(), 3);
    let b = fill(conv.bias_len(), 5);
    let dy = fill(conv.output_len(), 11);
    let mut y = vec![T::ZERO; conv.output_len()];
    let mut dx = vec![T::ZERO; conv.input_len()];
    let mut dw = vec![T::ZERO; conv.weight_len()];
    let mut scratch = vec![T::ZERO; conv.scratch_len::<T>()];
    let id = |pass: &str| format!("{}/{pass}/{ty}/n{n}", layer.0);
    group.bench_function(id("forward"), |bench| {
        bench.iter(|| {
            conv2d(
                &conv,
                black_box(&x),
                &w,
                Some(&b),
                None,
                &mut y,
                &mut scratch,
            )
            .unwrap();
        })
    });
    // The weights packed once, outside the timing (as a model's are when it is loaded).
    let mut buffer = vec![T::ZERO; conv.packed_weight_len::<T>()];
    let packed = conv2d_pack_weight(&conv, &w, &mut buffer).unwrap();
    let mut packed_scratch = vec![T::ZERO; conv.packed_scratch_len::<T>()];
    group.bench_function(id("forward_packed"), |bench| {
        bench.iter(|| {
            conv2d_packed(
                &conv,
                black_box(&x),
                &packed,
                Some(&b),
                None,
                &mut y,
                &mut packed_scratch,
            )
            .unwrap();
        })
    });
    group.bench_function(id("backward_data"), |bench| {
        bench.iter(|| {
            conv2d_backward_data(
                &conv,
                &w,
                black_box(&dy),
                &mut dx,
                Accum::Replace,
                &mut scratch,
            )
            .unwrap();
        })
    });
    group.bench_function(id("backward_filter"), |bench| {
        bench.iter(|| {
            conv2d_backward_filter(
                &conv,
                black_box(&x),
                &dy,
                &mut dw,
                Accum::Replace,
                &mut scratch,
            )
            .unwrap();
        })
    });
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
    for layer in LAYERS {
        passes::<f32>(&mut group, layer, 1, "f32");
    }
    for layer in &LAYERS[2..4] {
        passes::<f32>(&mut group, layer, 8, "f32");
    }
    for layer in [&LAYERS[0], &LAYERS[2], &LAYERS[7]] {
        passes::<f64>(&mut group, layer, 1, "f64");
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
