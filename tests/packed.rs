//! Pre-packed operands: the packed GEMM and the packed convolution against the naive
//! references and against the plain calls, on every instruction set this machine runs.

mod common;

use common::gemm::{dim, gemm_ref, int, layout, scalar, Layout, Strided, GUARD};
use common::same;
use nchw::{gemm, gemm_pack_a, gemm_packed, Error, Float, Gemm, Isa, MatMut};
use proptest::prelude::*;

/// Deterministic small integers in `-4..=4`: every summation order gives the same sums.
fn noise(seed: u64, salt: u64, i: usize, j: usize) -> i64 {
    let stream = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    common::int_at(stream, ((i as u64) << 32) ^ j as u64, 4)
}

#[derive(Debug, Clone)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    layouts: [Layout; 3],
    alpha: i64,
    beta: i64,
    seed: u64,
    /// Scratch elements as a fraction (in 1/64) of the full size, or exactly this many.
    scratch: Result<usize, usize>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (dim(), dim(), dim()),
        [layout(), layout(), layout()],
        (scalar(), scalar()),
        any::<u64>(),
        prop_oneof![
            2 => Just(Ok(64)),
            1 => (0usize..=64).prop_map(Ok),
            1 => (0usize..600).prop_map(Err),
        ],
    )
        .prop_map(|((m, n, k), layouts, (alpha, beta), seed, scratch)| Case {
            m,
            n,
            k,
            layouts,
            alpha,
            beta,
            seed,
            scratch,
        })
}

/// Packs A on `isa`, runs `gemm_packed` with the case's scratch, and checks: the result
/// equals the reference exactly (integer data), nothing outside C or past any buffer is
/// written, A's packing buffer is used within its length, and B is unchanged.
fn run_case<T: Float>(case: &Case, isa: Isa) -> Result<(), TestCaseError> {
    let Case {
        m,
        n,
        k,
        layouts,
        seed,
        ..
    } = *case;
    let nan = T::from_usize(0) / T::from_usize(0);
    let a = Strided::new(m, k, layouts[0], nan, |i, j| int(noise(seed, 1, i, j)));
    let b = Strided::new(k, n, layouts[1], nan, |i, j| int(noise(seed, 2, i, j)));
    let (alpha, beta) = (int::<T>(case.alpha), int::<T>(case.beta));
    let c = Strided::new(m, n, layouts[2], T::from_usize(77), |i, j| {
        if case.beta == 0 {
            nan
        } else {
            int(noise(seed, 3, i, j))
        }
    });
    let g = Gemm::new(m, n, k).unwrap().with_isa(isa).unwrap();
    let full = g.packed_scratch_len::<T>();
    prop_assert!(full <= g.scratch_len::<T>());
    let scratch_len = match case.scratch {
        Ok(frac) => full * frac / 64,
        Err(exact) => exact.min(full),
    };
    let mut packed = vec![nan; g.packed_a_len::<T>() + GUARD];
    let len = g.packed_a_len::<T>();
    let pa = gemm_pack_a(&g, a.view(), &mut packed[..len]).unwrap();
    prop_assert_eq!((pa.rows(), pa.cols(), pa.isa()), (m, k, isa));
    let mut want = c.clone();
    gemm_ref(alpha, &a, &b, beta, &mut want);
    let mut got = c.clone();
    let mut scratch = vec![nan; scratch_len + GUARD];
    let b0 = b.clone();
    gemm_packed(
        &g,
        alpha,
        &pa,
        b.view(),
        beta,
        got.view_mut(),
        &mut scratch[..scratch_len],
    )
    .map_err(|e| TestCaseError::fail(format!("{isa:?}: {e}")))?;
    prop_assert!(
        scratch[scratch_len..].iter().all(|x| x.is_nan()),
        "scratch guard"
    );
    prop_assert!(packed[len..].iter().all(|x| x.is_nan()), "packed guard");
    prop_assert!(b.buf.iter().zip(&b0.buf).all(|(&x, &y)| same(x, y)));
    prop_assert!(got.untouched_outside(), "{isa:?}: wrote outside C");
    for i in 0..m {
        for j in 0..n {
            prop_assert!(
                same(got.at(i, j), want.at(i, j)),
                "{isa:?} C[{i}][{j}] = {:?}, want {:?} (m={m} n={n} k={k}, scratch {scratch_len})",
                got.at(i, j),
                want.at(i, j),
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 64 }))]

    #[test]
    fn packed_gemm_matches_reference_f32(case in case()) {
        for isa in common::isa::available() {
            run_case::<f32>(&case, isa)?;
        }
    }

    #[test]
    fn packed_gemm_matches_reference_f64(case in case()) {
        for isa in common::isa::available() {
            run_case::<f64>(&case, isa)?;
        }
    }

    /// Real-valued data, full scratch, row-major C with more than one row and column: the
    /// packed product is bitwise the plain one (same depth blocks, same order of sums).
    #[test]
    fn packed_gemm_is_bitwise_the_plain_one(
        (m, n, k) in (2usize..80, 2usize..80, 1usize..900),
        (a_layout, b_layout, c_pad) in (layout(), layout(), 0usize..3),
        seed in any::<u64>(),
        beta in prop::sample::select(vec![0.0f32, 1.0, -0.5]),
    ) {
        let real = |s: u64, i: usize, j: usize| {
            (common::draw(seed ^ s, ((i as u64) << 32) ^ j as u64) >> 40) as f32 / 16777216.0 - 0.5
        };
        let a = Strided::new(m, k, a_layout, f32::NAN, |i, j| real(1, i, j));
        let b = Strided::new(k, n, b_layout, f32::NAN, |i, j| real(2, i, j));
        let c = Strided::new(m, n, Layout::RowMajor(c_pad), 0.0, |i, j| real(3, i, j));
        let ran = common::isa::each_isa(|isa| {
            let g = Gemm::new(m, n, k).unwrap().with_isa(isa).unwrap();
            let mut packed = vec![0.0f32; g.packed_a_len::<f32>()];
            let pa = gemm_pack_a(&g, a.view(), &mut packed).unwrap();
            let (mut plain, mut fast) = (c.clone(), c.clone());
            let mut scratch = vec![0.0f32; g.scratch_len::<f32>()];
            gemm(&g, 0.75, a.view(), b.view(), beta, plain.view_mut(), &mut scratch).unwrap();
            let mut scratch = vec![0.0f32; g.packed_scratch_len::<f32>()];
            gemm_packed(&g, 0.75, &pa, b.view(), beta, fast.view_mut(), &mut scratch).unwrap();
            for (x, y) in plain.buf.iter().zip(&fast.buf) {
                assert_eq!(x.to_bits(), y.to_bits(), "{isa:?} m={m} n={n} k={k}");
            }
        });
        prop_assert!(!ran.is_empty());
    }
}

/// One row or one column of C (a fully connected layer at batch 1): the packed product runs
/// the same dot products or row updates as the plain one, bitwise.
#[test]
fn thin_products_are_bitwise_the_plain_ones() {
    let ran = common::isa::each_isa(|isa| {
        for (m, n, k) in [(37, 1, 1000), (1, 50, 700), (1, 1, 33), (300, 1, 64)] {
            let real = |s: u64, i: usize, j: usize| {
                (common::draw(s, ((i as u64) << 32) ^ j as u64) >> 40) as f32 / 16777216.0 - 0.5
            };
            let a = Strided::new(m, k, Layout::RowMajor(0), f32::NAN, |i, j| real(1, i, j));
            let b = Strided::new(k, n, Layout::RowMajor(0), f32::NAN, |i, j| real(2, i, j));
            let c = Strided::new(m, n, Layout::RowMajor(0), 0.0, |i, j| real(3, i, j));
            let g = Gemm::new(m, n, k).unwrap().with_isa(isa).unwrap();
            let mut packed = vec![0.0f32; g.packed_a_len::<f32>()];
            let pa = gemm_pack_a(&g, a.view(), &mut packed).unwrap();
            let (mut plain, mut fast) = (c.clone(), c.clone());
            let mut scratch = vec![0.0f32; g.scratch_len::<f32>()];
            gemm(
                &g,
                1.5,
                a.view(),
                b.view(),
                0.5,
                plain.view_mut(),
                &mut scratch,
            )
            .unwrap();
            let mut scratch = vec![0.0f32; g.packed_scratch_len::<f32>()];
            gemm_packed(&g, 1.5, &pa, b.view(), 0.5, fast.view_mut(), &mut scratch).unwrap();
            for (x, y) in plain.buf.iter().zip(&fast.buf) {
                assert_eq!(x.to_bits(), y.to_bits(), "{isa:?} m={m} n={n} k={k}");
            }
        }
    });
    assert!(!ran.is_empty());
}

/// Every edge of the register tile on every instruction set: `m` and `n` one below, at and
/// one above multiples of the tile, last column slivers of 1 to 8 columns (run transposed),
/// with `k = 1`, a depth past one KC block and `n = 1`.
#[test]
fn every_edge_tile_on_every_isa() {
    let ran = common::isa::each_isa(|isa| {
        let (mr, nr) = common::isa::tile(isa, 4);
        for m in [1, mr - 1, mr, mr + 1, 2 * mr + 1] {
            for n in [
                1,
                2,
                nr - 1,
                nr,
                nr + 1,
                nr + 3,
                nr + 4,
                2 * nr + 8,
                3 * nr + 5,
            ] {
                for k in [1, 3, 385, 800] {
                    let case = Case {
                        m,
                        n,
                        k,
                        layouts: [Layout::RowMajor(0); 3],
                        alpha: 1,
                        beta: 2,
                        seed: (m * 1000 + n * 10 + k) as u64,
                        scratch: Ok(64),
                    };
                    run_case::<f32>(&case, isa).unwrap();
                    run_case::<f64>(&case, isa).unwrap();
                }
            }
        }
    });
    common::isa::report("gemm_packed", &ran);
}

/// Every scratch size from none to the full size gives the exact result.
#[test]
fn every_scratch_size_is_correct() {
    for isa in common::isa::available() {
        let g = Gemm::new(13, 37, 29).unwrap();
        for len in 0..=g.packed_scratch_len::<f32>() {
            let case = Case {
                m: 13,
                n: 37,
                k: 29,
                layouts: [
                    Layout::RowMajor(0),
                    Layout::ColMajor(1),
                    Layout::RowMajor(2),
                ],
                alpha: 2,
                beta: -1,
                seed: len as u64,
                scratch: Err(len),
            };
            run_case::<f32>(&case, isa).unwrap();
        }
    }
}

/// Packing an A of no rows reads nothing, whatever its strides (a column-major empty view
/// over an empty slice once had its columns sliced past the end; debug assertions and Miri
/// catch that).
#[test]
fn empty_a_packs_nothing() {
    for isa in common::isa::available() {
        for k in [1, 3, 17] {
            let g = Gemm::new(0, 5, k).unwrap().with_isa(isa).unwrap();
            let empty: [f32; 0] = [];
            for (rs, cs) in [(1, 0), (1, 7), (k, 1), (0, 0)] {
                let a = nchw::MatRef::new(&empty, 0, k, rs, cs).unwrap();
                let mut buffer = vec![f32::NAN; g.packed_a_len::<f32>()];
                let packed = gemm_pack_a(&g, a, &mut buffer).unwrap();
                let b = vec![1.0f32; k * 5];
                let b = nchw::MatRef::row_major(&b, k, 5).unwrap();
                let c = MatMut::row_major(&mut [], 0, 5).unwrap();
                gemm_packed(&g, 1.0, &packed, b, 0.0, c, &mut []).unwrap();
            }
        }
    }
}

/// Wrong dimensions, buffer lengths and instruction sets are refused, and nothing is written.
#[test]
fn bad_packing_and_mismatched_calls_are_refused() {
    let g = Gemm::new(7, 5, 3).unwrap();
    let a = [1.0f32; 21];
    let a = nchw::MatRef::row_major(&a, 7, 3).unwrap();
    let len = g.packed_a_len::<f32>();
    for wrong in [0, len - 1, len + 1] {
        let mut buffer = vec![9.0f32; wrong];
        assert_eq!(
            gemm_pack_a(&g, a, &mut buffer).unwrap_err(),
            Error::BufferLength {
                buffer: "packed",
                expected: len,
                actual: wrong
            }
        );
        assert!(buffer.iter().all(|&x| x == 9.0));
    }
    let mut buffer = vec![9.0f32; len];
    assert_eq!(
        gemm_pack_a(&g, a.t(), &mut buffer).unwrap_err(),
        Error::DimensionMismatch {
            what: "a rows",
            left: 3,
            right: 7
        }
    );
    assert!(buffer.iter().all(|&x| x == 9.0));
    let pa = gemm_pack_a(&g, a, &mut buffer).unwrap();
    let b = [1.0f32; 15];
    let b = nchw::MatRef::row_major(&b, 3, 5).unwrap();
    let mut c = [5.0f32; 35];
    // A product of another shape.
    let other = Gemm::new(7, 5, 4).unwrap();
    let b4 = [1.0f32; 20];
    let b4 = nchw::MatRef::row_major(&b4, 4, 5).unwrap();
    let err = gemm_packed(
        &other,
        1.0,
        &pa,
        b4,
        0.0,
        MatMut::row_major(&mut c, 7, 5).unwrap(),
        &mut [],
    );
    assert_eq!(
        err.unwrap_err(),
        Error::DimensionMismatch {
            what: "a columns",
            left: 3,
            right: 4
        }
    );
    assert!(c.iter().all(|&x| x == 5.0));
    // Another instruction set.
    for isa in common::isa::available() {
        let h = g.with_isa(isa).unwrap();
        let c = MatMut::row_major(&mut c, 7, 5).unwrap();
        let r = gemm_packed(&h, 1.0, &pa, b, 0.0, c, &mut []);
        if isa == g.isa() {
            r.unwrap();
        } else {
            assert_eq!(
                r.unwrap_err(),
                Error::PackedMismatch {
                    packed: g.isa().name(),
                    call: isa.name()
                }
            );
        }
    }
    assert!(c.iter().all(|&x| x == 3.0));
}

#[test]
fn packed_mismatch_displays_both_sides() {
    let e = Error::PackedMismatch {
        packed: "avx512",
        call: "avx2",
    };
    assert_eq!(
        e.to_string(),
        "the operand was packed for avx512, the call runs avx2: pack it again with the \
         call's geometry"
    );
    let dynamic: &dyn std::error::Error = &e;
    assert!(dynamic.source().is_none());
}

/// The sizes are `const fn`s, and bound every instruction set's packing.
#[test]
fn packed_sizes_are_const_and_bounded() {
    const G: Gemm = match Gemm::new(100, 49, 4608) {
        Ok(g) => g,
        Err(_) => panic!(),
    };
    const LEN: usize = G.packed_a_len::<f32>();
    const SCRATCH: usize = G.packed_scratch_len::<f64>();
    assert!(SCRATCH > 0 && SCRATCH <= G.scratch_len::<f64>());
    for isa in common::isa::available() {
        let (mr, _) = common::isa::tile(isa, 4);
        assert!(LEN >= 100usize.div_ceil(mr) * mr * 4608);
    }
    assert_eq!(Gemm::new(5, 5, 0).unwrap().packed_a_len::<f32>(), 0);
}

mod conv {
    use super::common::conv as naive;
    use super::common::isa::{self, any_isa};
    use super::common::{from, ints, reals, to, Geom, Real};
    use nchw::{
        conv2d, conv2d_pack_weight, conv2d_packed, Clamp, Conv2d, Error, Padding, Shape, Window,
    };
    use proptest::prelude::*;

    const GUARD: usize = super::GUARD;

    /// Packs the weights on the geometry's instruction set, runs `conv2d_packed` with
    /// `scratch_len` scratch elements (outputs and scratch poisoned with NaN), with and
    /// without bias, and checks the result exactly against the reference, and every guard.
    fn check<T: Real>(g: &Geom, scratch_len: usize, seed: u64) {
        let conv = g.conv().expect("valid geometry");
        assert!(scratch_len >= conv.min_scratch_len());
        let (x, w, b) = (
            ints(seed, g.x_len(), 3),
            ints(seed + 1, g.w_len(), 3),
            ints(seed + 2, g.oc, 3),
        );
        let (tx, tw, tb) = (to::<T>(&x), to::<T>(&w), to::<T>(&b));
        let len = conv.packed_weight_len::<T>();
        let mut buffer = vec![T::of(f64::NAN); len + GUARD];
        let packed = conv2d_pack_weight(&conv, &tw, &mut buffer[..len]).unwrap();
        assert_eq!(packed.isa(), conv.isa());
        let mut scratch = vec![T::of(f64::NAN); scratch_len + GUARD];
        let clamps = [None, Some((-2.0, 5.0)), Some((0.0, f64::INFINITY))];
        let clamp = clamps[(seed % 3) as usize];
        for bias in [None, Some(&b[..])] {
            let mut y = vec![T::of(f64::NAN); g.y_len() + GUARD];
            let tbias = bias.map(|_| &tb[..]);
            let tclamp = clamp.map(|(lo, hi)| Clamp::new(T::of(lo), T::of(hi)));
            let out = g.y_len();
            let s = &mut scratch[..scratch_len];
            conv2d_packed(&conv, &tx, &packed, tbias, tclamp, &mut y[..out], s).unwrap();
            assert_eq!(
                from(&y[..out]),
                naive::forward(g, &x, &w, bias, clamp),
                "{:?} {g:?} scratch {scratch_len}",
                conv.isa()
            );
            assert!(from(&y[out..]).iter().all(|v| v.is_nan()), "output guard");
        }
        assert!(
            from(&scratch[scratch_len..]).iter().all(|v| v.is_nan()),
            "scratch guard"
        );
        assert!(
            from(&buffer[len..]).iter().all(|v| v.is_nan()),
            "packed guard"
        );
    }

    /// The geometries drawn here: planes up to 9 x 9, padding and dilation up to 2, up to
    /// 14 output channels per group (more than a register tile's rows).
    fn geom() -> impl Strategy<Value = Geom> {
        naive::geom(naive::Limits {
            plane: 9,
            pad: 2,
            dilation: 2,
            out_per_group: 14,
        })
    }

    /// A scratch length `frac / 1000` of the way from the minimum to full speed.
    fn scratch_between<T: nchw::Float>(conv: &Conv2d, frac: usize) -> usize {
        let (lo, hi) = (conv.min_scratch_len(), conv.packed_scratch_len::<T>());
        lo + (hi - lo) * frac / 1000
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 96 }))]

        #[test]
        fn packed_conv_matches_the_definition(
            g in geom(),
            frac in prop_oneof![Just(0usize), Just(1000usize), 0..=1000usize],
            seed in 0..1000u64,
            isa in any_isa(),
        ) {
            isa::on(isa, || {
                let conv = g.conv().unwrap();
                check::<f32>(&g, scratch_between::<f32>(&conv, frac), seed);
                check::<f64>(&g, scratch_between::<f64>(&conv, frac), seed);
            });
        }
    }

    /// Real-valued data with the full workspace of each call: the packed forward pass is
    /// bitwise the plain one, on every geometry family and instruction set.
    #[test]
    fn packed_conv_is_bitwise_the_plain_one() {
        let geoms = [
            Geom::conv2d(2, 16, 9, 9, 20, 1, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
            Geom::conv2d(1, 8, 7, 7, 13, 1, (1, 1), (1, 1), (1, 1), [0; 4]),
            Geom::conv2d(2, 6, 8, 5, 9, 3, (2, 3), (2, 1), (1, 2), [1, 0, 2, 1]),
            Geom::conv2d(1, 4, 6, 6, 12, 4, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
            Geom::conv2d(1, 3, 40, 30, 7, 1, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
            // One output pixel, and one output channel per group: plain copies of the filters.
            Geom::conv2d(2, 64, 3, 3, 40, 1, (3, 3), (1, 1), (1, 1), [0; 4]),
            Geom::conv2d(1, 6, 9, 9, 3, 3, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1]),
        ];
        let ran = isa::each_isa(|_| {
            for (i, g) in geoms.iter().enumerate() {
                let conv = g.conv().unwrap();
                let (x, w, b) = (
                    reals(i as u64, g.x_len()),
                    reals(i as u64 + 1, g.w_len()),
                    reals(i as u64 + 2, g.oc),
                );
                let (x, w, b) = (to::<f32>(&x), to::<f32>(&w), to::<f32>(&b));
                let mut buffer = vec![0.0f32; conv.packed_weight_len::<f32>()];
                let packed = conv2d_pack_weight(&conv, &w, &mut buffer).unwrap();
                let (mut plain, mut fast) = (vec![0.0f32; g.y_len()], vec![0.0f32; g.y_len()]);
                let mut scratch = vec![0.0f32; conv.forward_scratch_len::<f32>()];
                conv2d(&conv, &x, &w, Some(&b), None, &mut plain, &mut scratch).unwrap();
                let mut scratch = vec![0.0f32; conv.packed_scratch_len::<f32>()];
                conv2d_packed(&conv, &x, &packed, Some(&b), None, &mut fast, &mut scratch).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&plain), bits(&fast), "{:?} {g:?}", conv.isa());
            }
        });
        isa::report("conv_packed", &ran);
    }

    /// Every workspace size from the minimum to full, on the im2col path, every instruction
    /// set.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn every_workspace_size_from_minimum_to_full() {
        isa::each_isa(|_| {
            for g in [
                Geom::conv2d(1, 2, 4, 9, 7, 1, (3, 2), (1, 2), (1, 1), [1, 0, 1, 1]),
                Geom::conv2d(2, 4, 5, 6, 4, 2, (2, 3), (2, 1), (2, 1), [0, 1, 2, 0]),
            ] {
                let conv = g.conv().unwrap();
                let (lo, hi) = (conv.min_scratch_len(), conv.packed_scratch_len::<f32>());
                assert!(lo > 0 && lo < hi);
                for len in lo..=hi {
                    check::<f32>(&g, len, len as u64);
                }
                check::<f64>(&g, conv.packed_scratch_len::<f64>(), 4);
            }
            // 1x1, every scratch size from none.
            let g = Geom::conv2d(2, 6, 3, 5, 9, 3, (1, 1), (1, 1), (1, 1), [0; 4]);
            let conv = g.conv().unwrap();
            for len in 0..=conv.packed_scratch_len::<f32>() {
                check::<f32>(&g, len, len as u64);
            }
        });
    }

    /// The packed weights serve the same layer at another batch size and input size.
    #[test]
    fn packed_weights_serve_other_batches_and_inputs() {
        let same = Window::square(3).with_padding(Padding::uniform(1));
        let conv = Conv2d::new(Shape::new(1, 5, 6, 6).unwrap(), 8, same, 1).unwrap();
        let w = to::<f32>(&ints(1, conv.weight_len(), 3));
        let mut buffer = vec![0.0f32; conv.packed_weight_len::<f32>()];
        let packed = conv2d_pack_weight(&conv, &w, &mut buffer).unwrap();
        for (n, h) in [(3, 6), (2, 11)] {
            let other = Conv2d::new(Shape::new(n, 5, h, h).unwrap(), 8, same, 1).unwrap();
            let x = to::<f32>(&ints(2, other.input_len(), 3));
            let (mut y, mut want) = (vec![0.0; other.output_len()], vec![1.0; other.output_len()]);
            let mut scratch = vec![0.0; other.scratch_len::<f32>()];
            conv2d_packed(&other, &x, &packed, None, None, &mut y, &mut scratch).unwrap();
            conv2d(&other, &x, &w, None, None, &mut want, &mut scratch).unwrap();
            assert_eq!(y, want);
        }
    }

    /// Wrong buffer lengths, weights of another shape, another instruction set: an error,
    /// with every output untouched.
    #[test]
    fn wrong_packing_is_refused_with_outputs_untouched() {
        let same = Window::square(3).with_padding(Padding::uniform(1));
        let x = Shape::new(1, 4, 5, 5).unwrap();
        for (conv, w_len) in [
            (Conv2d::new(x, 6, same, 1).unwrap(), 6 * 4 * 9),
            (Conv2d::new(x, 4, same, 4).unwrap(), 4 * 9),
        ] {
            let w = vec![1.0f32; w_len];
            let len = conv.packed_weight_len::<f32>();
            for wrong in [0, len - 1, len + 1] {
                let mut buffer = vec![7.0f32; wrong];
                assert_eq!(
                    conv2d_pack_weight(&conv, &w, &mut buffer).unwrap_err(),
                    Error::BufferLength {
                        buffer: "packed weight",
                        expected: len,
                        actual: wrong
                    }
                );
                assert!(buffer.iter().all(|&v| v == 7.0));
            }
            let mut buffer = vec![7.0f32; len];
            assert_eq!(
                conv2d_pack_weight(&conv, &w[1..], &mut buffer).unwrap_err(),
                Error::BufferLength {
                    buffer: "weight",
                    expected: w_len,
                    actual: w_len - 1
                }
            );
            assert!(buffer.iter().all(|&v| v == 7.0));
            let packed = conv2d_pack_weight(&conv, &w, &mut buffer).unwrap();
            let input = vec![1.0f32; conv.input_len()];
            let mut y = vec![3.0f32; conv.output_len()];
            let mut scratch = vec![0.0f32; conv.scratch_len::<f32>()];
            // Another geometry: more output channels, another window, another group count.
            let others = [
                (
                    Conv2d::new(x, 8, same, 1).unwrap(),
                    "packed weight out_channels",
                ),
                (
                    Conv2d::new(x, conv.output().c(), Window::square(2), conv.groups()).unwrap(),
                    "packed weight kernel_h",
                ),
                (
                    Conv2d::new(x, 4, same, 2).unwrap(),
                    "packed weight channels per group",
                ),
            ];
            for (other, what) in others {
                let input = vec![1.0f32; other.input_len()];
                let mut y = vec![3.0f32; other.output_len()];
                let mut scratch = vec![0.0f32; other.scratch_len::<f32>()];
                let err = conv2d_packed(&other, &input, &packed, None, None, &mut y, &mut scratch)
                    .unwrap_err();
                assert!(
                    matches!(err, Error::DimensionMismatch { .. }),
                    "{err:?} for {what}"
                );
                assert!(y.iter().all(|&v| v == 3.0));
            }
            // Another instruction set.
            for isa in isa::available() {
                let other = conv.with_isa(isa).unwrap();
                let r = conv2d_packed(&other, &input, &packed, None, None, &mut y, &mut scratch);
                if isa == conv.isa() {
                    r.unwrap();
                    y.fill(3.0);
                } else {
                    assert_eq!(
                        r.unwrap_err(),
                        Error::PackedMismatch {
                            packed: conv.isa().name(),
                            call: isa.name()
                        }
                    );
                    assert!(y.iter().all(|&v| v == 3.0));
                }
            }
            // Wrong buffers of the call itself.
            let x_long = vec![1.0f32; conv.input_len() + 1];
            let mut y_long = vec![3.0f32; conv.output_len() + 1];
            let r = conv2d_packed(&conv, &x_long, &packed, None, None, &mut y, &mut scratch);
            assert!(matches!(
                r,
                Err(Error::BufferLength {
                    buffer: "input",
                    ..
                })
            ));
            let r = conv2d_packed(
                &conv,
                &input,
                &packed,
                None,
                None,
                &mut y_long,
                &mut scratch,
            );
            assert!(matches!(
                r,
                Err(Error::BufferLength {
                    buffer: "output",
                    ..
                })
            ));
            let bias = Some(&[1.0f32; 3][..]);
            let r = conv2d_packed(&conv, &input, &packed, bias, None, &mut y, &mut scratch);
            assert!(matches!(r, Err(Error::BufferLength { buffer: "bias", .. })));
            if conv.min_scratch_len() > 0 {
                let s = &mut scratch[..conv.min_scratch_len() - 1];
                let r = conv2d_packed(&conv, &input, &packed, None, None, &mut y, s);
                assert!(matches!(r, Err(Error::ScratchTooSmall { .. })));
            }
            assert!(y.iter().chain(&y_long).all(|&v| v == 3.0));
        }
    }

    /// The sizes are `const fn`s; the packed scratch never exceeds the plain one.
    #[test]
    fn packed_sizes_are_const_and_bounded() {
        const CONV: Conv2d = match Shape::new(1, 512, 7, 7) {
            Ok(x) => match Conv2d::new(
                x,
                512,
                Window::square(3).with_padding(Padding::uniform(1)),
                1,
            ) {
                Ok(c) => c,
                Err(_) => panic!(),
            },
            Err(_) => panic!(),
        };
        const LEN: usize = CONV.packed_weight_len::<f32>();
        const SCRATCH: usize = CONV.packed_scratch_len::<f32>();
        assert!(LEN >= CONV.weight_len());
        assert!(SCRATCH < CONV.forward_scratch_len::<f32>());
        assert!(SCRATCH >= CONV.min_scratch_len());
    }
}

/// Weights packed for one input channel count are refused by a convolution over another
/// that agrees on everything else (output channels, window, groups): the channels per group
/// are compared on their own, named, with both counts.
#[test]
fn packed_weights_of_another_channel_count_are_refused() {
    use nchw::{conv2d_pack_weight, conv2d_packed, Conv2d, Padding, Shape, Window};
    let same = Window::square(3).with_padding(Padding::uniform(1));
    for (c, other_c, groups) in [(4, 5, 1), (4, 6, 2), (2, 1, 1)] {
        let conv = Conv2d::new(Shape::new(1, c, 5, 5).unwrap(), 6, same, groups).unwrap();
        let w = vec![1.0f32; conv.weight_len()];
        let mut buffer = vec![7.0f32; conv.packed_weight_len::<f32>()];
        let packed = conv2d_pack_weight(&conv, &w, &mut buffer).unwrap();
        let other = Conv2d::new(Shape::new(1, other_c, 5, 5).unwrap(), 6, same, groups).unwrap();
        let input = vec![1.0f32; other.input_len()];
        let mut y = vec![3.0f32; other.output_len()];
        let mut scratch = vec![0.0f32; other.scratch_len::<f32>()];
        assert_eq!(
            conv2d_packed(&other, &input, &packed, None, None, &mut y, &mut scratch).unwrap_err(),
            Error::DimensionMismatch {
                what: "packed weight channels per group",
                left: c / groups,
                right: other_c / groups
            }
        );
        assert!(y.iter().all(|&v| v == 3.0));
    }
}
