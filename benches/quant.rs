//! int8 convolution next to the crate's f32 convolution on the same layers, in MAC/s
//! (criterion's "elem/s" here are multiply-adds): the ratio of the two in one run is the
//! figure to quote.
//!
//! Run with `cargo bench --bench quant`; filter with e.g. `cargo bench --bench quant -- 3x3`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nchw::{
    conv2d, conv2d_i8, max_pool2d, max_pool2d_i8, Conv2d, Multiplier, Padding, Pool2d, QuantParams,
    Requant, Rounding, Shape, Window,
};

/// A layer: name, channels, side, output channels, kernel, padding, groups.
struct Layer(&'static str, usize, usize, usize, usize, usize, usize);

const LAYERS: &[Layer] = &[
    Layer("resnet_3x3_64x56", 64, 56, 64, 3, 1, 1),
    Layer("resnet_3x3_256x14", 256, 14, 256, 3, 1, 1),
    Layer("mcu_3x3_8x16", 8, 16, 8, 3, 1, 1),
    Layer("mcu_1x1_16x16", 16, 16, 16, 1, 0, 1),
    Layer("depthwise_3x3_16x16", 16, 16, 16, 3, 1, 16),
];

fn bytes(len: usize, k: usize) -> Vec<i8> {
    (0..len).map(|i| ((i * k) % 251) as i8).collect()
}

fn conv(c: &mut Criterion) {
    let mut group = c.benchmark_group("quant_conv");
    group.measurement_time(Duration::from_secs(3));
    for &Layer(name, ch, side, oc, k, p, groups) in LAYERS {
        let window = Window::square(k).with_padding(Padding::uniform(p));
        let conv = Conv2d::new(Shape::new(1, ch, side, side).unwrap(), oc, window, groups).unwrap();
        group.throughput(Throughput::Elements(conv.macs() as u64));
        let (x, w) = (bytes(conv.input_len(), 7), bytes(conv.weight_len(), 3));
        let bias: Vec<i32> = (0..oc as i32).map(|i| i * 100 - 500).collect();
        let m: Vec<Multiplier> = (0..oc)
            .map(|i| Multiplier::from_scale(1e-4 * (1.0 + i as f64 / 8.0)).unwrap())
            .collect();
        let q = QuantParams::new(-3, Requant::TfLite(&m), 5);
        let mut y = vec![0i8; conv.output_len()];
        let mut scratch = vec![0i8; conv.scratch_len_i8()];
        group.bench_function(format!("{name}/i8"), |b| {
            b.iter(|| {
                conv2d_i8(
                    &conv,
                    black_box(&x),
                    &w,
                    Some(&bias),
                    &q,
                    &mut y,
                    &mut scratch,
                )
                .unwrap()
            })
        });
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let wf: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let bf: Vec<f32> = bias.iter().map(|&v| v as f32).collect();
        let mut yf = vec![0.0f32; conv.output_len()];
        let mut sf = vec![0.0f32; conv.scratch_len::<f32>()];
        group.bench_function(format!("{name}/f32"), |b| {
            b.iter(|| {
                conv2d(
                    &conv,
                    black_box(&xf),
                    &wf,
                    Some(&bf),
                    None,
                    &mut yf,
                    &mut sf,
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

fn pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("quant_pool");
    group.measurement_time(Duration::from_secs(2));
    let g = Pool2d::new(
        Shape::new(1, 16, 16, 16).unwrap(),
        Window::pool(2),
        Rounding::Floor,
    )
    .unwrap();
    group.throughput(Throughput::Elements(g.output_len() as u64));
    let x = bytes(g.input_len(), 5);
    let mut y = vec![0i8; g.output_len()];
    group.bench_function("max_2x2s2_16x16/i8", |b| {
        b.iter(|| max_pool2d_i8(&g, black_box(&x), None, &mut y).unwrap())
    });
    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut yf = vec![0.0f32; g.output_len()];
    group.bench_function("max_2x2s2_16x16/f32", |b| {
        b.iter(|| max_pool2d(&g, black_box(&xf), &mut yf).unwrap())
    });
    group.finish();
}

criterion_group!(benches, conv, pool);
criterion_main!(benches);
