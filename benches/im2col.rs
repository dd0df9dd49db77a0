//! im2col, col2im and padding throughput, in bytes of the larger buffer written per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nchw::{col2im, im2col, pad, Accum, Im2col, Pad, Padding, Shape, Window};

/// (name, batch, channels, height, width, window)
fn layers() -> Vec<(&'static str, usize, usize, usize, usize, Window)> {
    let same3 = Window::square(3).with_padding(Padding::uniform(1));
    vec![
        ("tutorial_10x1x28x28_k5", 10, 1, 28, 28, Window::square(5)),
        (
            "resnet_conv1_3x224x224_k7s2p3",
            1,
            3,
            224,
            224,
            Window::square(7)
                .with_stride(2, 2)
                .with_padding(Padding::uniform(3)),
        ),
        ("resnet_64x56x56_k3", 1, 64, 56, 56, same3),
        ("resnet_128x28x28_k3", 1, 128, 28, 28, same3),
        ("resnet_256x14x14_k3", 1, 256, 14, 14, same3),
        ("resnet_512x7x7_k3", 1, 512, 7, 7, same3),
        ("mobilenet_dw_32x112x112_k3", 1, 32, 112, 112, same3),
    ]
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
}

fn bench(c: &mut Criterion) {
    for (name, n, ch, h, w, window) in layers() {
        let g = Im2col::new(Shape::new(n, ch, h, w).unwrap(), window).unwrap();
        let image = vec![1.0f32; g.input_len()];
        let mut col = vec![0.0f32; g.col_len()];
        let bytes = (g.col_len() * 4) as u64;

        // The ceiling: a plain copy of as many bytes as im2col writes, from a buffer as
        // large as one column matrix, once per image.
        let src = vec![1.0f32; g.matrix_len()];
        let mut group = c.benchmark_group("memcpy_f32");
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(name, |b| {
            b.iter(|| {
                for matrix in col.chunks_exact_mut(g.matrix_len()) {
                    matrix.copy_from_slice(black_box(&src));
                }
            })
        });
        group.finish();

        let mut group = c.benchmark_group("im2col_f32");
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(name, |b| {
            b.iter(|| im2col(&g, black_box(&image), &mut col).unwrap())
        });
        group.finish();

        let mut image = image;
        let mut group = c.benchmark_group("col2im_f32");
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(name, |b| {
            b.iter(|| col2im(&g, black_box(&col), &mut image, Accum::Replace).unwrap())
        });
        group.finish();

        let p = Pad::new(Shape::new(n, ch, h, w).unwrap(), window.padding).unwrap();
        let mut padded = vec![0.0f32; p.output().len()];
        let mut group = c.benchmark_group("pad_f32");
        group.throughput(Throughput::Bytes((p.output().len() * 4) as u64));
        group.bench_function(name, |b| {
            b.iter(|| pad(&p, 0.0, black_box(&image), &mut padded).unwrap())
        });
        group.finish();
    }
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
