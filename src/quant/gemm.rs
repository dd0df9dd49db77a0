//! int8 matrix multiply: `i8 x i8 -> i32` with zero points, and requantized to `i8` (the
//! fully-connected layer).

use super::conv::{check_accumulator, dot};
use super::requant::{Output, QuantParams};
use crate::error::Error;
use crate::gemm::Gemm;
use crate::matrix::{MatMut, MatRef};

/// The largest magnitude of `(a - a_zp) * (b - b_zp)` over all zero points.
const PRODUCT_MAX: u32 = 255 * 255;

/// The largest magnitude of `w * (x - x_zp)` with symmetric weights.
const WEIGHTED_MAX: u32 = 255 * 128;

/// Checks the operands' dimensions against the geometry, as the float [`gemm`](crate::gemm())
/// does.
fn check_dims<A, B, C>(
    g: &Gemm,
    a: &MatRef<'_, A>,
    b: &MatRef<'_, B>,
    c: &MatMut<'_, C>,
) -> Result<(), Error> {
    let dims = [
        ("a rows", a.rows, g.m()),
        ("a columns", a.cols, g.k()),
        ("b rows", b.rows, g.k()),
        ("b columns", b.cols, g.n()),
        ("c rows", c.rows, g.m()),
        ("c columns", c.cols, g.n()),
    ];
    for (what, left, right) in dims {
        if left != right {
            return Err(Error::DimensionMismatch { what, left, right });
        }
    }
    Ok(())
}

/// Row `i` of `a` as a slice, if its columns are contiguous.
fn row<'a>(a: &MatRef<'a, i8>, i: usize) -> Option<&'a [i8]> {
    if a.col_stride != 1 && a.cols > 1 {
        return None;
    }
    let start = i.checked_mul(a.row_stride)?;
    a.data.get(start..start.checked_add(a.cols)?)
}

/// Column `j` of `b` as a slice, if its rows are contiguous.
fn column<'a>(b: &MatRef<'a, i8>, j: usize) -> Option<&'a [i8]> {
    row(&b.t(), j)
}

/// `sum_k a[i, k] * b[k, j]` and the sums of the row and the column, over any strides.
#[inline]
fn sums(a: &MatRef<'_, i8>, b: &MatRef<'_, i8>, i: usize, j: usize) -> (i32, i32, i32) {
    if let (Some(r), Some(c)) = (row(a, i), column(b, j)) {
        return (dot(r, c), sum(r), sum(c));
    }
    (0..a.cols).fold((0i32, 0i32, 0i32), |(ab, sa, sb), k| {
        let x = i32::from(a.at(i, k).unwrap_or(0));
        let y = i32::from(b.at(k, j).unwrap_or(0));
        (
            ab.wrapping_add(x * y),
            sa.wrapping_add(x),
            sb.wrapping_add(y),
        )
    })
}

fn sum(v: &[i8]) -> i32 {
    v.iter().fold(0i32, |s, &x| s.wrapping_add(i32::from(x)))
}

/// `c[i, j]`, mutable.
fn at<'a, T>(c: &'a mut MatMut<'_, T>, i: usize, j: usize) -> Option<&'a mut T> {
    c.data.get_mut(i * c.row_stride + j * c.col_stride)
}

/// int8 matrix multiply into `i32`: `c[i, j] = sum_k (a[i, k] - a_zero_point) * (b[k, j] -
/// b_zero_point)`, exactly, for the `m x k` `a`, `k x n` `b` and `m x n` `c` of `g`,
/// overwriting `c` (never read). The portable kernel runs whatever `g`'s instruction set.
///
/// The operands are strided views; the fastest layout has `a` rows and `b` columns
/// contiguous (`b` given transposed, as CMSIS-NN's `arm_nn_mat_mult_nt_t_s8` takes it).
///
/// # Errors
/// [`Error::DimensionMismatch`] if an operand's dimensions are not `g`'s;
/// [`Error::AccumulatorOverflow`] if `k` products of up to `255 * 255` can leave the `i32`
/// range (`k > 33025`). `c` is then untouched.
///
/// ```
/// use nchw::{gemm_i8, Gemm, MatMut, MatRef};
/// let a = [1i8, 2, 3, 4]; // [[1, 2], [3, 4]]
/// let b = [5i8, 6, 7, 8];
/// let mut c = [0i32; 4];
/// let (a, b) = (MatRef::row_major(&a, 2, 2)?, MatRef::row_major(&b, 2, 2)?);
/// gemm_i8(&Gemm::new(2, 2, 2)?, a, 1, b, -1, MatMut::row_major(&mut c, 2, 2)?)?;
/// assert_eq!(c, [8, 9, 36, 41]); // [[0, 1], [2, 3]] * [[6, 7], [8, 9]]
/// # Ok::<(), nchw::Error>(())
/// ```
pub fn gemm_i8(
    g: &Gemm,
    a: MatRef<'_, i8>,
    a_zero_point: i8,
    b: MatRef<'_, i8>,
    b_zero_point: i8,
    mut c: MatMut<'_, i32>,
) -> Result<(), Error> {
    check_dims(g, &a, &b, &c)?;
    check_accumulator(a.cols, PRODUCT_MAX, None)?;
    let (za, zb) = (i32::from(a_zero_point), i32::from(b_zero_point));
    // sum (x - za)(y - zb) = sum xy - zb sum x - za sum y + k za zb, exact modulo 2^32 and
    // the true value fits.
    let k_zz = (a.cols as i32).wrapping_mul(za).wrapping_mul(zb);
    for i in 0..a.rows {
        for j in 0..b.cols {
            let (ab, sa, sb) = sums(&a, &b, i, j);
            let v = ab
                .wrapping_sub(zb.wrapping_mul(sa))
                .wrapping_sub(za.wrapping_mul(sb))
                .wrapping_add(k_zz);
            if let Some(dst) = at(&mut c, i, j) {
                *dst = v;
            }
        }
    }
    Ok(())
}

/// The int8 fully-connected layer: `c[i, j] = clamp(requant_i(bias[i] + sum_k w[i, k] *
/// (x[k, j] - input_zero_point)) + output_zero_point)`, overwriting `c` (never read).
///
/// Row `i` is output channel `i`: `w` is `m x k` symmetric int8 weights (zero point 0),
/// `x` the `k x n` inputs (`n` samples as columns), `bias` `m` values, `c` `m x n`; the
/// requantization of [`QuantParams`] is per row. For TFLite's and PyTorch's layout
/// (`input` `batch x k`, `weight` `units x k`, `output` `batch x units`), view the input and
/// the output transposed:
///
/// ```
/// use nchw::{gemm_i8_requant, Gemm, MatMut, MatRef, Multiplier, QuantParams, Requant};
/// let weight = [1i8, -1, 2, 0, 0, 3]; // 2 units x 3 inputs
/// let input = [10i8, 4, 6, 0, 0, 0]; // 2 samples x 3 inputs, zero point 2
/// let mut output = [0i8; 4]; // 2 samples x 2 units
/// let m = [Multiplier::from_scale(1.0)?];
/// let q = QuantParams::new(2, Requant::TfLite(&m), 0);
/// let x = MatRef::new(&input, 3, 2, 1, 3)?; // input^T: 3 x 2
/// let y = MatMut::new(&mut output, 2, 2, 1, 2)?; // output^T: 2 x 2
/// let w = MatRef::row_major(&weight, 2, 3)?;
/// gemm_i8_requant(&Gemm::new(2, 2, 3)?, w, x, Some(&[0, 1]), &q, y)?;
/// assert_eq!(output, [14, 13, -4, -5]); // 8 - 2 + 8, 12 + 1; -2 + 2 - 4, -6 + 1
/// # Ok::<(), nchw::Error>(())
/// ```
///
/// # Errors
/// [`Error::DimensionMismatch`] if an operand's dimensions are not `g`'s; [`Error::BufferLength`]
/// unless `bias` holds `m` values and the requantization 1 or `m`; [`Error::InvalidScale`]
/// for a bad float scale; [`Error::AccumulatorOverflow`] if `k` products of up to `255 *
/// 128` plus a bias can leave the `i32` range. `c` is then untouched.
pub fn gemm_i8_requant(
    g: &Gemm,
    w: MatRef<'_, i8>,
    x: MatRef<'_, i8>,
    bias: Option<&[i32]>,
    quant: &QuantParams<'_>,
    mut c: MatMut<'_, i8>,
) -> Result<(), Error> {
    check_dims(g, &w, &x, &c)?;
    if let Some(b) = bias {
        crate::error::check_len("bias", w.rows, b.len())?;
    }
    quant.requant.check(w.rows)?;
    check_accumulator(w.cols, WEIGHTED_MAX, bias)?;
    let out = Output::new(quant);
    #[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
    if requant_dsp(&w, &x, bias, quant, &out, &mut c) {
        return Ok(());
    }
    let zp = i32::from(quant.input_zero_point);
    for i in 0..w.rows {
        let scale = quant.requant.channel(i);
        let b = bias.and_then(|b| b.get(i)).copied().unwrap_or(0);
        for j in 0..x.cols {
            let (wx, sw, _) = sums(&w, &x, i, j);
            let acc = b.wrapping_add(wx).wrapping_sub(zp.wrapping_mul(sw));
            if let Some(dst) = at(&mut c, i, j) {
                *dst = out.apply(scale, acc);
            }
        }
    }
    Ok(())
}

/// Elements of `k` per widened chunk of a pair of columns on the DSP path (a 512-byte stack
/// buffer).
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
const CHUNK: usize = 128;

/// [`gemm_i8_requant`] on the DSP extension, for `w` with contiguous rows and `x` with
/// contiguous columns (TFLite's fully-connected layout): pairs of columns of `x` are widened
/// (zero point subtracted) into a stack buffer, `CHUNK` elements at a time, and every pair of
/// rows of `w` takes them in the assembly `2 x 2` kernel. False (nothing written) for other
/// layouts.
#[cfg(all(target_arch = "arm", target_abi = "eabihf", target_os = "none"))]
fn requant_dsp(
    w: &MatRef<'_, i8>,
    x: &MatRef<'_, i8>,
    bias: Option<&[i32]>,
    quant: &QuantParams<'_>,
    out: &Output,
    c: &mut MatMut<'_, i8>,
) -> bool {
    use super::cortex_m::Rq;
    use super::dsp::{dot_2x2, offset, pair_words, widen_pair};
    let (m, n, k) = (w.rows, x.cols, w.cols);
    if (w.col_stride != 1 || x.row_stride != 1) && k > 1 || m == 0 || n == 0 {
        return false;
    }
    let off = offset(quant.input_zero_point);
    // A per-tensor requantization, resolved once.
    let tensor = (quant.requant.len() == 1).then(|| Rq::new(out, quant.requant.channel(0)));
    let mut buffer = [0u32; CHUNK];
    let bias = |i: usize| bias.and_then(|b| b.get(i)).copied().unwrap_or(0);
    let column = |j: usize| column(x, j).unwrap_or_default();
    let whole = k <= CHUNK;
    for j in (0..n).step_by(2) {
        let j1 = if j + 1 < n { j + 1 } else { j };
        let (x0, x1) = (column(j), column(j1));
        if whole {
            widen_pair(x0, x1, k, off, &mut buffer);
        }
        for i in (0..m).step_by(2) {
            let i1 = if i + 1 < m { i + 1 } else { i };
            let filters = w.data.get(i * w.row_stride..).unwrap_or_default();
            let fs = (i1 - i) * w.row_stride;
            let (b0, b1) = (bias(i), bias(i1));
            let mut acc = [b0, b0, b1, b1];
            let mut done = 0;
            while done < k {
                let len = (k - done).min(CHUNK);
                let (a, b) = (
                    x0.get(done..).unwrap_or_default(),
                    x1.get(done..).unwrap_or_default(),
                );
                if !whole {
                    widen_pair(a, b, len, off, &mut buffer);
                }
                let f = filters.get(done..).unwrap_or_default();
                let d = dot_2x2(
                    f,
                    fs,
                    len,
                    buffer.get(..pair_words(len)).unwrap_or_default(),
                );
                let [a0, a1, a2, a3] = acc;
                acc = [
                    a0.wrapping_add(d[0]),
                    a1.wrapping_add(d[1]),
                    a2.wrapping_add(d[2]),
                    a3.wrapping_add(d[3]),
                ];
                done += len;
            }
            let channels;
            let (r0, r1) = match &tensor {
                Some(r) => (r, r),
                None => {
                    let rq = |i: usize| Rq::new(out, quant.requant.channel(i));
                    channels = (rq(i), rq(i1));
                    (&channels.0, &channels.1)
                }
            };
            // The four outputs, checked once; the twins of an odd last row or column write
            // the same values again.
            let (down, right) = ((i1 - i) * c.row_stride, (j1 - j) * c.col_stride);
            let first = i * c.row_stride + j * c.col_stride;
            let span = first.checked_add(down).and_then(|e| e.checked_add(right));
            if let Some(block) = span.and_then(|last| c.data.get_mut(first..=last)) {
                let v = [
                    r0.apply(out, acc[0]),
                    r0.apply(out, acc[1]),
                    r1.apply(out, acc[2]),
                    r1.apply(out, acc[3]),
                ];
                let p = block.as_mut_ptr();
                // SAFETY: `block` holds the `down + right + 1` elements from `first` (the
                // sum did not overflow), so `0`, `right`, `down` and `down + right` are in it.
                unsafe {
                    *p = v[0];
                    *p.add(right) = v[1];
                    *p.add(down) = v[2];
                    *p.add(down + right) = v[3];
                }
            }
        }
    }
    true
}
