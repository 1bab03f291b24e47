//! Row-wise passes on f32 slices (bias, GELU, LayerNorm, softmax), fused and
//! written so that the compiler vectorises them, plus the scalar `exp`/`erf`
//! they use (accurate to a few ulp; tested against f64).

/// Compiles `$body` (a function of slices) once for the build's baseline and
/// again with AVX2 and AVX-512 enabled, and picks the best one the CPU has.
macro_rules! multiversion {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$m])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) { body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) { body($($arg),*) }
                if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
                    // SAFETY: the CPU has the features this copy was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// Lanes of independent accumulators: enough for one AVX-512 register.
const LANES: usize = 16;

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let mut s = 0.0;
    for &v in tail {
        s += v;
    }
    acc.iter().sum::<f32>() + s
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    let mut m = f32::NEG_INFINITY;
    for &v in tail.iter().chain(acc.iter()) {
        m = if v > m { v } else { m };
    }
    m
}

/// `e^x` in f32 without branches (so it vectorises): Cody–Waite range
/// reduction and a degree-6 polynomial; relative error about 2e-7.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `erf(x)` without branches: its Taylor series below |x| = 0.5 (truncation
/// error about 1e-8), Abramowitz & Stegun 7.1.26 above (absolute error below
/// 1.5e-7, where erf is no longer small).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let x2 = x * x;
    // 2/√π · (x − x³/3 + x⁵/10 − x⁷/42 + x⁹/216 − x¹¹/1320)
    let series = x
        * std::f32::consts::FRAC_2_SQRT_PI
        * (1.0
            + x2 * (-1.0 / 3.0
                + x2 * (1.0 / 10.0
                    + x2 * (-1.0 / 42.0 + x2 * (1.0 / 216.0 + x2 * (-1.0 / 1320.0))))));
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    let tail = (1.0 - poly * exp(-x2)).copysign(x);
    if a < 0.5 {
        series
    } else {
        tail
    }
}

/// Exact (erf) GELU, as PyTorch's default `gelu`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

multiversion! {
    /// `row += bias` for every row of `rows` (row length = `bias.len()`).
    pub fn add_bias(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

multiversion! {
    /// `row = gelu(row + bias)` for every row.
    pub fn bias_gelu(rows: &mut [f32], bias: &[f32]) {
        for row in rows.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = gelu(*v + b);
            }
        }
    }
}

multiversion! {
    /// `row = LayerNorm(row + bias)·gamma + beta` for every row (bias may be
    /// empty): the residual sum has already been accumulated into `rows`.
    pub fn bias_layer_norm(rows: &mut [f32], bias: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let h = gamma.len();
        for row in rows.chunks_exact_mut(h) {
            if !bias.is_empty() {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            let mean = sum(row) / h as f32;
            let mut sq = [0.0f32; LANES];
            let chunks = row.chunks_exact(LANES);
            let mut tail = 0.0f32;
            for &v in chunks.remainder() {
                tail += (v - mean) * (v - mean);
            }
            for c in chunks {
                for i in 0..LANES {
                    let d = c[i] - mean;
                    sq[i] += d * d;
                }
            }
            let var = (sq.iter().sum::<f32>() + tail) / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

multiversion! {
    /// Softmax of each row of `rows` (row length `len`), in place.
    pub fn softmax_rows(rows: &mut [f32], len: usize) {
        for row in rows.chunks_exact_mut(len) {
            let m = max(row);
            for v in row.iter_mut() {
                *v = exp(*v - m);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series in f64 (converges fast for |x| ≤ 3).
    fn erf64(x: f64) -> f64 {
        let (mut term, mut s, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -x * x / n;
            s += term / (2.0 * n + 1.0);
        }
        s * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_and_erf_are_accurate() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.04;
            let want = (x as f64).exp();
            assert!(((exp(x) as f64 - want) / want).abs() < 5e-7, "exp({x})");
        }
        let mut worst = 0.0f64;
        for i in -3000..=3000 {
            let x = i as f32 * 0.001;
            let err = (erf(x) as f64 - erf64(x as f64)).abs();
            worst = worst.max(err);
            assert!(err < 3e-7, "erf({x}): error {err:e}");
        }
        eprintln!("erf: worst error {worst:e}");
        assert_eq!(erf(10.0), 1.0);
        assert_eq!(exp(-200.0), exp(-87.0));
    }

    #[test]
    fn fused_passes_match_plain_formulas() {
        let h = 37; // not a multiple of the lane count
        let rows: Vec<f32> = (0..3 * h)
            .map(|i| ((i * 7919) % 23) as f32 * 0.3 - 3.0)
            .collect();
        let bias: Vec<f32> = (0..h).map(|i| i as f32 * 0.01).collect();
        let gamma: Vec<f32> = (0..h).map(|i| 1.0 + i as f32 * 0.02).collect();
        let beta: Vec<f32> = (0..h).map(|i| -(i as f32) * 0.03).collect();

        let mut ln = rows.clone();
        bias_layer_norm(&mut ln, &bias, &gamma, &beta, 1e-7);
        let mut sm = rows.clone();
        softmax_rows(&mut sm, h);
        let mut g = rows.clone();
        bias_gelu(&mut g, &bias);
        for r in 0..3 {
            let x: Vec<f64> = (0..h).map(|c| (rows[r * h + c] + bias[c]) as f64).collect();
            let mean = x.iter().sum::<f64>() / h as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
            let raw: Vec<f64> = (0..h).map(|c| rows[r * h + c] as f64).collect();
            let m = raw.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = raw.iter().map(|v| (v - m).exp()).sum();
            for c in 0..h {
                let want = (x[c] - mean) / (var + 1e-7).sqrt() * gamma[c] as f64 + beta[c] as f64;
                assert!((ln[r * h + c] as f64 - want).abs() < 1e-5);
                let want = (raw[c] - m).exp() / z;
                assert!((sm[r * h + c] as f64 - want).abs() < 1e-6);
                let want = 0.5 * x[c] * (1.0 + erf64(x[c] / 2f64.sqrt()));
                assert!((g[r * h + c] as f64 - want).abs() < 1e-5);
            }
        }
    }
}
