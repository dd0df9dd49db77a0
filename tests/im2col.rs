//! im2col and col2im against the naive definitions.

mod common;

use common::foundation::{self as reference, geom};
use common::Geom;
use common::{dot, ints, nan, to, Real};
use nchw::{
    col2im, col2im_columns, im2col, im2col_columns, Accum, Error, Im2col, Padding, Shape, Window,
};
use proptest::prelude::*;

/// One image's geometry: `Im2col::new` on a `1 x c x h x w` batch.
fn one(c: usize, h: usize, w: usize, window: Window) -> Result<Im2col, Error> {
    Im2col::new(Shape::new(1, c, h, w)?, window)
}

/// The geometry of one image of `g` (for the column tiles).
fn build(g: &Geom) -> Im2col {
    g.im2col().expect("strategy yields valid geometries")
}

/// The geometry of `g`'s whole batch.
fn batch(g: &Geom) -> Im2col {
    let geo = g.im2col_batch().expect("strategy yields valid geometries");
    assert_eq!((geo.batch(), geo.matrix_len()), (g.n, build(g).col_len()));
    geo
}

fn check_im2col<T: Real>(g: &Geom, seed: u64) {
    let geo = batch(g);
    assert_eq!((geo.out_h(), geo.out_w()), g.out_hw());
    let input: Vec<T> = to(&ints(seed, geo.input_len(), 8));
    let mut col = vec![T::from_usize(1) / T::ZERO; geo.col_len()]; // poisoned with inf
    im2col(&geo, &input, &mut col).unwrap();
    // Image by image, the matrices one after the other.
    let expected: Vec<T> = input
        .chunks(geo.image_len())
        .flat_map(|image| reference::im2col(g, image))
        .collect();
    assert_eq!(col, expected);
}

fn check_col2im<T: Real>(g: &Geom, seed: u64) {
    let geo = batch(g);
    let col: Vec<T> = to(&ints(seed, geo.col_len(), 8));
    let base: Vec<T> = to(&ints(seed ^ 1, geo.input_len(), 8));
    let fold = |mut expected: Vec<T>| {
        let images = expected.chunks_mut(geo.image_len());
        for (image, matrix) in images.zip(col.chunks(geo.matrix_len())) {
            reference::col2im(g, matrix, image);
        }
        expected
    };

    let mut replaced = vec![nan::<T>(); geo.input_len()]; // Replace must not read
    col2im(&geo, &col, &mut replaced, Accum::Replace).unwrap();
    assert_eq!(replaced, fold(vec![T::ZERO; geo.input_len()]));

    let mut added = base.clone();
    col2im(&geo, &col, &mut added, Accum::Add).unwrap();
    assert_eq!(added, fold(base));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 400 }))]

    #[test]
    fn im2col_matches_definition(g in geom(), seed: u64) {
        check_im2col::<f32>(&g, seed);
        check_im2col::<f64>(&g, seed);
    }

    #[test]
    fn col2im_matches_definition(g in geom(), seed: u64) {
        check_col2im::<f32>(&g, seed);
        check_col2im::<f64>(&g, seed);
    }

    /// `<im2col(x), y> == <x, col2im(y)>`, exactly, with integer data.
    #[test]
    fn col2im_is_the_adjoint(g in geom(), seed: u64) {
        check_adjoint(&g, seed);
    }

    /// Any split of the columns into consecutive ranges gives the definition's matrices, and
    /// folds back as the whole does.
    #[test]
    fn column_tiles_reproduce_the_whole(g in geom(), seed: u64, cuts in proptest::collection::vec(0.0..1.0f64, 0..5)) {
        check_tiles(&g, seed, &cuts);
    }

    /// Tiles of one and two columns (the minimum workspace's, which gather column by
    /// column), every column of the matrix, against the definition.
    #[test]
    fn narrow_tiles_match_definition(g in geom(), seed: u64, width in 1..=3usize) {
        check_narrow_tiles(&g, seed, width);
    }

    /// The row-copy paths (stride 1 along the width; with stride 1 down and `OW == W`, the
    /// shifted planes), which `geom()` reaches a quarter of the time and the shifted
    /// planes rarely: whole matrices and tiles cut anywhere against the definition.
    #[test]
    fn row_copies_match_definition(g in row_copies(), seed: u64, cuts in proptest::collection::vec(0.0..1.0f64, 0..5)) {
        check_im2col::<f32>(&g, seed);
        check_tiles(&g, seed, &cuts);
    }
}

/// Geometries with stride 1 along the width. Half of them have stride 1 down and the width
/// padded so that `OW == W` (`left + right == (KW - 1) * DW`, split anywhere): their tap
/// rows are shifted input planes. The height is padded anyhow (rows wholly in the padding
/// included).
fn row_copies() -> impl Strategy<Value = Geom> {
    (
        (0..=2usize, 1..=3usize, 1..=4usize, 1..=4usize, 1..=3usize),
        (1..=3usize, 1..=3usize, 0..=4usize, 0..=4usize),
        (
            0..=8usize,
            1..=9usize,
            proptest::option::of((0..=3usize, 0..=3usize)),
            0.0..=1.0f64,
        ),
    )
        .prop_map(
            |((n, c, kh, kw, sh), (dh, dw, top, bottom), (extra_h, w, sides, split))| {
                let span = (kw - 1) * dw;
                let (sh, left, right) = match sides {
                    Some((left, right)) => (sh, left, right),
                    None => {
                        let left = (span as f64 * split) as usize;
                        (1, left, span - left)
                    }
                };
                let padding = Padding {
                    top,
                    bottom,
                    left,
                    right,
                };
                let h = ((kh - 1) * dh + 1).saturating_sub(top + bottom).max(1) + extra_h;
                let w = (span + 1).saturating_sub(left + right).max(1) + w - 1;
                let window = Window::new(kh, kw)
                    .with_stride(sh, 1)
                    .with_dilation(dh, dw)
                    .with_padding(padding);
                Geom::of_window(n, c, h, w, window)
            },
        )
}

fn check_adjoint(g: &Geom, seed: u64) {
    let geo = batch(g);
    let x: Vec<f64> = ints(seed, geo.input_len(), 8);
    let y: Vec<f64> = ints(!seed, geo.col_len(), 8);
    let mut col = vec![0.0; geo.col_len()];
    im2col(&geo, &x, &mut col).unwrap();
    let mut back = vec![0.0; geo.input_len()];
    col2im(&geo, &y, &mut back, Accum::Replace).unwrap();
    assert_eq!(dot(&col, &y), dot(&x, &back), "{g:?}");
}

fn check_tiles(g: &Geom, seed: u64, cuts: &[f64]) {
    let geo = build(g);
    let bounds = tile_bounds(geo.cols(), cuts);

    let image: Vec<f32> = to(&ints(seed, geo.image_len(), 8));
    let expected = reference::im2col(g, &image);
    let mut full = vec![0.0; geo.col_len()];
    im2col(&geo, &image, &mut full).unwrap();
    let mut folded = vec![0.0; geo.image_len()];
    col2im(&geo, &full, &mut folded, Accum::Replace).unwrap();

    let mut tiled_fold = vec![0.0; geo.image_len()];
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let tile = tile_of(g, &image, &expected, a..b);
        col2im_columns(&geo, &tile, a..b, &mut tiled_fold, Accum::Add).unwrap();
    }
    assert_eq!(tiled_fold, folded, "{g:?}");
}

/// Every column of the matrix in tiles of `width` columns (a last one narrower), against
/// the definition.
fn check_narrow_tiles(g: &Geom, seed: u64, width: usize) {
    let geo = build(g);
    let image: Vec<f32> = to(&ints(seed, geo.image_len(), 8));
    let expected = reference::im2col(g, &image);
    for a in (0..geo.cols()).step_by(width) {
        tile_of(g, &image, &expected, a..geo.cols().min(a + width));
    }
}

/// The tile of `columns` of `image`'s matrix, checked against `expected` (the whole matrix);
/// its elements start as NaN, so one left unwritten fails.
fn tile_of(g: &Geom, image: &[f32], expected: &[f32], columns: std::ops::Range<usize>) -> Vec<f32> {
    let geo = build(g);
    let (rows, cols, (a, b)) = (geo.rows(), geo.cols(), (columns.start, columns.end));
    let mut tile = vec![f32::NAN; geo.tile_len(b - a)];
    im2col_columns(&geo, image, columns, &mut tile).unwrap();
    for r in 0..rows {
        assert_eq!(
            &tile[r * (b - a)..(r + 1) * (b - a)],
            &expected[r * cols + a..r * cols + b],
            "{g:?}, columns {a}..{b}, row {r}"
        );
    }
    tile
}

/// The bounds of the column tiles that cut `0..cols` at the fractions `cuts`, in order.
fn tile_bounds(cols: usize, cuts: &[f64]) -> Vec<usize> {
    let mut bounds: Vec<usize> = cuts.iter().map(|f| (f * cols as f64) as usize).collect();
    bounds.extend([0, cols]);
    bounds.sort();
    bounds
}

/// Every (geometry, seed) check of the property tests, for the named regressions.
fn check_everything(g: &Geom, seed: u64) {
    check_im2col::<f32>(g, seed);
    check_im2col::<f64>(g, seed);
    check_col2im::<f32>(g, seed);
    check_col2im::<f64>(g, seed);
    check_adjoint(g, seed);
    check_tiles(g, seed, &[0.5]);
}

// Shrunk proptest failures (im2col.proptest-regressions), kept by name.

/// One pixel, 1x1 window, stride 2 along the width: one column.
#[test]
fn regression_one_pixel_stride_2_wide() {
    let g = Geom::of_window(1, 1, 1, 1, Window::square(1).with_stride(1, 2));
    check_everything(&g, 1092663646915077143);
    check_everything(&g, 892194186514497);
}

/// A 1x5 row, 1x1 window, stride 2: columns 0, 2, 4, cut after the second.
#[test]
fn regression_row_of_5_stride_2_cut_in_the_middle() {
    let g = Geom::of_window(1, 1, 1, 5, Window::square(1).with_stride(1, 2));
    assert_eq!(g.out_hw(), (1, 3));
    check_tiles(&g, 334438978638111, &[0.4957760408678215]);
    check_everything(&g, 334438978638111);
}

#[test]
fn stride_one_rows_and_padding() {
    // 2 channels of 3x4, 3x3 window, "same" padding: every row mixes zeros and copies.
    let g = Geom::of_window(
        1,
        2,
        3,
        4,
        Window::square(3).with_padding(Padding::uniform(1)),
    );
    check_im2col::<f32>(&g, 7);
    check_col2im::<f64>(&g, 7);
}

#[test]
fn window_equal_to_padded_input_gives_one_column() {
    let g = one(2, 3, 2, Window::new(5, 4).with_padding(Padding::uniform(1))).unwrap();
    assert_eq!((g.out_h(), g.out_w(), g.cols()), (1, 1, 1));
}

/// Every error leaves the outputs exactly as they were.
#[test]
#[allow(clippy::reversed_empty_ranges)]
fn errors_leave_outputs_untouched() {
    let g = one(2, 4, 4, Window::square(3)).unwrap();
    let image = vec![1.0f32; g.image_len()];
    let sentinel = -7.5f32;

    let mut col = vec![sentinel; g.col_len() + 1];
    assert_eq!(
        im2col(&g, &image, &mut col),
        Err(Error::BufferLength {
            buffer: "col",
            expected: g.col_len(),
            actual: g.col_len() + 1
        })
    );
    assert_eq!(
        im2col(&g, &image[1..], &mut col[1..]),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 32,
            actual: 31
        })
    );
    // A batch of two takes two images and two matrices, not one of each.
    let two = Im2col::new(Shape::new(2, 2, 4, 4).unwrap(), Window::square(3)).unwrap();
    assert_eq!(
        im2col(&two, &image, &mut col[..two.col_len() / 2]),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 64,
            actual: 32
        })
    );
    assert_eq!(
        im2col_columns(&g, &image, 3..2, &mut col[..0]),
        Err(Error::InvalidRange {
            start: 3,
            end: 2,
            len: 4
        })
    );
    assert_eq!(
        im2col_columns(&g, &image, 0..5, &mut col),
        Err(Error::InvalidRange {
            start: 0,
            end: 5,
            len: 4
        })
    );
    assert!(col.iter().all(|&v| v == sentinel));

    let mut img = vec![sentinel; g.image_len()];
    assert_eq!(
        col2im(&g, &col, &mut img, Accum::Replace),
        Err(Error::BufferLength {
            buffer: "col",
            expected: 72,
            actual: 73
        })
    );
    assert_eq!(
        col2im(&g, &col[1..], &mut img[1..], Accum::Add),
        Err(Error::BufferLength {
            buffer: "input",
            expected: 32,
            actual: 31
        })
    );
    assert_eq!(
        col2im_columns(&g, &col[..17], 1..2, &mut img, Accum::Add),
        Err(Error::BufferLength {
            buffer: "tile",
            expected: 18,
            actual: 17
        })
    );
    assert_eq!(
        col2im_columns(&g, &col[..0], 2..6, &mut img, Accum::Replace),
        Err(Error::InvalidRange {
            start: 2,
            end: 6,
            len: 4
        })
    );
    assert!(img.iter().all(|&v| v == sentinel));
}

#[test]
fn geometry_errors() {
    let too_big = one(1, 2, 2, Window::square(3));
    assert_eq!(
        too_big,
        Err(Error::WindowTooLarge {
            axis: "height",
            field: 3,
            padded: 2
        })
    );
    let dilated = one(1, 5, 4, Window::square(3).with_dilation(1, 2));
    assert_eq!(
        dilated,
        Err(Error::WindowTooLarge {
            axis: "width",
            field: 5,
            padded: 4
        })
    );
    assert_eq!(
        one(1, 4, 4, Window::new(0, 1)),
        Err(Error::Zero {
            parameter: "kernel_h"
        })
    );
    assert_eq!(
        one(1, 4, 4, Window::square(1).with_stride(1, 0)),
        Err(Error::Zero {
            parameter: "stride_w"
        })
    );
    assert_eq!(
        one(1, 4, 4, Window::square(1).with_dilation(0, 1)),
        Err(Error::Zero {
            parameter: "dilation_h"
        })
    );
    // Sizes that overflow usize are refused, never wrapped.
    assert_eq!(
        one(usize::MAX, 2, 1, Window::square(1)),
        Err(Error::Overflow)
    );
    assert_eq!(
        one(
            1,
            1,
            1,
            Window::square(1).with_padding(Padding::uniform(usize::MAX))
        ),
        Err(Error::Overflow)
    );
    let huge = Window::new(1 << 20, 1 << 20).with_padding(Padding::uniform(1 << 40));
    assert_eq!(one(1 << 30, 1, 1, huge), Err(Error::Overflow));
}

/// An image without elements is refused before any window check; an empty batch is not.
#[test]
fn empty_images_are_refused() {
    let window = Window::square(3).with_padding(Padding::uniform(1));
    for (shape, what) in [
        ((1, 0, 4, 4), "channels"),
        ((1, 2, 0, 4), "height"),
        ((1, 2, 4, 0), "width"),
    ] {
        let (n, c, h, w) = shape;
        let x = Shape::new(n, c, h, w).unwrap();
        assert_eq!(Im2col::new(x, window), Err(Error::Empty { what }));
    }
    let none = Im2col::new(Shape::new(0, 2, 4, 4).unwrap(), window).unwrap();
    assert_eq!((none.input_len(), none.col_len()), (0, 0));
    im2col::<f32>(&none, &[], &mut []).unwrap();
    col2im::<f32>(&none, &[], &mut [], Accum::Replace).unwrap();
}
