//! Weight formats (f32, f16, int8) and the int8 arithmetic, free of any backend.
//!
//! int8 is symmetric with one scale per output row ("channel" in
//! compressed-tensors' terms): `w[o, k] ≈ scale[o] · q[o, k]`, `q` in
//! −127..=127. Per row rather than per block of 32 because it lets a product
//! accumulate a whole row in int32 and scale once at the end (the form int8
//! instructions are fast at); activations are quantized the same way per token
//! row on the fly, so `x · Wᵀ ≈ sx[r] · sw[o] · Σₖ qx[r,k] · qw[o,k]`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How a model's weights are stored and computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WeightDtype {
    /// The checkpoint as published: exact parity with the reference.
    #[default]
    F32,
    /// IEEE half precision: half the bytes, logits within about 1e-3.
    F16,
    /// int8 with a scale per output row: a quarter of the bytes.
    Q8,
}

impl WeightDtype {
    pub const ALL: [WeightDtype; 3] = [WeightDtype::F32, WeightDtype::F16, WeightDtype::Q8];

    pub fn name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "f32",
            WeightDtype::F16 => "f16",
            WeightDtype::Q8 => "q8",
        }
    }

    /// Bits per stored value of a converted tensor: what "lower precision" means.
    pub fn bits(self) -> u32 {
        match self {
            WeightDtype::F32 => 32,
            WeightDtype::F16 => 16,
            WeightDtype::Q8 => 8,
        }
    }
}

impl fmt::Display for WeightDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WeightDtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(WeightDtype::F32),
            "f16" | "fp16" | "float16" => Ok(WeightDtype::F16),
            "q8" | "int8" => Ok(WeightDtype::Q8),
            _ => Err(Error::input(format!(
                "unknown dtype {s:?}: choose f32, f16 or q8"
            ))),
        }
    }
}

/// Largest magnitude of a quantized value (symmetric: −127..=127, never −128,
/// so that negating a row is exact and `q + 128` fits a `u8`).
pub const Q_MAX: f32 = 127.0;

/// A matrix `[rows, cols]` as int8 with one f32 scale per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Q8Matrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-major `rows × cols`.
    pub values: Vec<i8>,
    /// One per row: `w[r, c] ≈ scales[r] · values[r, c]`.
    pub scales: Vec<f32>,
}

/// The scale of one row and its values quantized into `out`. An all-zero row
/// gets scale 0; a row holding NaN or an infinity gets a NaN scale, so that
/// damaged weights show in the results (which refuse non-finite values) as
/// they would in f32, instead of being rounded into plausible numbers.
///
/// Written branch-free over lanes so that it vectorises: it runs on every
/// row of activations before each int8 product.
#[inline(always)]
pub fn quantize_row(row: &[f32], out: &mut [i8]) -> f32 {
    const LANES: usize = 16;
    let mut max = [0.0f32; LANES];
    // `v · 0` is NaN exactly when `v` is NaN or infinite.
    let mut poison = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let a = c[i].abs();
            max[i] = if a > max[i] { a } else { max[i] };
            poison[i] += c[i] * 0.0;
        }
    }
    let (mut m, mut p) = (0.0f32, 0.0f32);
    for &v in tail {
        m = if v.abs() > m { v.abs() } else { m };
        p += v * 0.0;
    }
    for i in 0..LANES {
        m = if max[i] > m { max[i] } else { m };
        p += poison[i];
    }
    if p.is_nan() {
        out.iter_mut().for_each(|q| *q = 0);
        return f32::NAN;
    }
    if m == 0.0 {
        out.iter_mut().for_each(|q| *q = 0);
        return 0.0;
    }
    let inv = Q_MAX / m;
    for (q, &v) in out.iter_mut().zip(row) {
        *q = round_half_even(v * inv).clamp(-Q_MAX, Q_MAX) as i8;
    }
    m / Q_MAX
}

/// Round to the nearest integer, ties to even, for |v| < 2²²: adding and
/// taking off 1.5·2²³ leaves no fraction bits. Plain arithmetic, so it
/// vectorises (the baseline x86-64 target has no rounding instruction).
#[inline(always)]
fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

impl Q8Matrix {
    /// Quantize a row-major `[rows, cols]` f32 matrix.
    pub fn quantize(rows: usize, cols: usize, data: &[f32]) -> Self {
        assert_eq!(data.len(), rows * cols, "data does not match the shape");
        let mut values = vec![0i8; rows * cols];
        let scales = if cols == 0 {
            vec![0.0; rows]
        } else {
            data.chunks_exact(cols)
                .zip(values.chunks_exact_mut(cols))
                .map(|(row, out)| quantize_row(row, out))
                .collect()
        };
        Self {
            rows,
            cols,
            values,
            scales,
        }
    }

    /// Row `r` in f32 into `out` (`cols` values).
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let s = self.scales[r];
        for (o, &q) in out
            .iter_mut()
            .zip(&self.values[r * self.cols..(r + 1) * self.cols])
        {
            *o = s * q as f32;
        }
    }

    /// The whole matrix in f32, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        if self.cols > 0 {
            for (r, row) in out.chunks_exact_mut(self.cols).enumerate() {
                self.row_into(r, row);
            }
        }
        out
    }

    /// Rows of several matrices with the same `cols`, one under the other.
    pub fn stack(parts: &[&Q8Matrix]) -> Self {
        let cols = parts.first().map_or(0, |p| p.cols);
        assert!(parts.iter().all(|p| p.cols == cols), "column counts differ");
        let rows = parts.iter().map(|p| p.rows).sum();
        // Slice by slice: collecting a flat_map went byte by byte, half a
        // second of a page's load for the model's weights.
        let mut values = Vec::with_capacity(rows * cols);
        let mut scales = Vec::with_capacity(rows);
        for p in parts {
            values.extend_from_slice(&p.values);
            scales.extend_from_slice(&p.scales);
        }
        Self {
            rows,
            cols,
            values,
            scales,
        }
    }
}

/// f32 → nearest f16 → f32: the values an f16 file holds.
pub fn round_to_f16(data: &mut [f32]) {
    for v in data {
        *v = half::f16::from_f32(*v).to_f32();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtypes_parse_and_unknown_ones_are_named() {
        assert_eq!("q8".parse::<WeightDtype>().unwrap(), WeightDtype::Q8);
        assert_eq!("FP16".parse::<WeightDtype>().unwrap(), WeightDtype::F16);
        assert_eq!("f32".parse::<WeightDtype>().unwrap(), WeightDtype::F32);
        let e = "int4".parse::<WeightDtype>().unwrap_err().to_string();
        assert!(
            e.contains("\"int4\"") && e.contains("f32, f16 or q8"),
            "{e}"
        );
    }

    #[test]
    fn quantization_is_symmetric_per_row_and_within_half_a_step() {
        let data = [0.5f32, -1.0, 0.25, 0.0, 0.0, 0.0, 3.0, -0.03, 1.5];
        let q = Q8Matrix::quantize(3, 3, &data);
        assert_eq!(q.scales, vec![1.0 / 127.0, 0.0, 3.0 / 127.0]);
        assert_eq!(&q.values[..3], &[64, -127, 32]);
        assert_eq!(&q.values[3..6], &[0, 0, 0]);
        assert_eq!(&q.values[6..], &[127, -1, 64]);
        for (r, (row, back)) in data.chunks(3).zip(q.dequantize().chunks(3)).enumerate() {
            let step = q.scales[r];
            for (a, b) in row.iter().zip(back) {
                assert!((a - b).abs() <= step / 2.0 + 1e-7, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn stacking_keeps_each_rows_scale() {
        let a = Q8Matrix::quantize(1, 2, &[1.0, -2.0]);
        let b = Q8Matrix::quantize(2, 2, &[4.0, 0.0, 0.0, -0.5]);
        let s = Q8Matrix::stack(&[&a, &b]);
        assert_eq!((s.rows, s.cols), (3, 2));
        assert_eq!(s.dequantize()[..2], a.dequantize()[..]);
        assert_eq!(s.dequantize()[2..], b.dequantize()[..]);
    }

    proptest::proptest! {
        /// Any finite row: values within −127..=127, the largest magnitude
        /// at ±127, and every value back within half a step of itself.
        #[test]
        fn quantize_round_trips_within_half_a_step(
            row in proptest::collection::vec(-1.0e6f32..1.0e6, 1..200),
            zeros in proptest::bool::ANY,
        ) {
            let row: Vec<f32> = if zeros { row.iter().map(|_| 0.0).collect() } else { row };
            let q = Q8Matrix::quantize(1, row.len(), &row);
            let scale = q.scales[0];
            let largest = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            proptest::prop_assert!(q.values.iter().all(|&v| (-127..=127).contains(&v)));
            if largest == 0.0 {
                proptest::prop_assert_eq!(scale, 0.0);
            } else {
                proptest::prop_assert!(q.values.iter().any(|&v| v.abs() == 127));
            }
            for (a, b) in row.iter().zip(q.dequantize()) {
                proptest::prop_assert!((a - b).abs() <= scale / 2.0 + largest * 1e-6, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn non_finite_rows_stay_visible_as_nan() {
        let q = Q8Matrix::quantize(2, 2, &[f32::INFINITY, 1.0, f32::NAN, 0.0]);
        assert!(q.scales.iter().all(|s| s.is_nan()));
        assert!(q.dequantize().iter().all(|v| v.is_nan()));
    }
}
