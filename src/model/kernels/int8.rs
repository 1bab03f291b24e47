//! int8 products for the fused CPU engine: `dst (+)= x · Wᵀ` where `W` is int8
//! with a scale per output row ([`crate::quant::Q8Matrix`]) and `x` is
//! quantized per row on the fly. The sum over the inputs runs in int32 and
//! is scaled once per output, `sx[r] · sw[o]`, so the inner loop is nothing
//! but int8 multiply-adds:
//! - x86-64 with AVX-512 VNNI: `vpdpbusd`, 64 multiply-adds per instruction
//!   (it takes unsigned × signed bytes: `x + 128` is fed in and `128 · Σₖ w`
//!   taken off afterwards);
//! - x86-64 with AVX2 only: `vpmaddubsw` on `x + 128` and the weights
//!   rounded to 7 bits (`round(w / 2)`, scale × 2: pairs of products in i16
//!   stay within 2·255·64, no saturation), then `vpmaddwd` into int32. As
//!   ONNX Runtime's `reduce_range`: exact 8-bit weights need `vpsignb` per
//!   product (|w| against x·sign(w)), which ran at 0.74–0.85× of this, and
//!   the activations, not the weights, bound int8's accuracy (the README's
//!   table). `avx2-w8` keeps that exact-weight form, for comparison;
//! - wasm simd128: `i32x4.dot_i16x8_s` on sign-extended bytes;
//! - elsewhere a portable loop the compiler vectorises.
//!
//! Weights are packed once at load into panels of [`PANEL`] outputs: for each
//! step of 4 inputs, the 4 bytes of output 0, then of output 1, … so one
//! 64-byte load feeds 16 outputs × 4 inputs.

use crate::quant::{quantize_row, Q8Matrix};

/// Outputs per panel: sixteen int32 lanes, one 512-bit register.
pub const PANEL: usize = 16;
/// Inputs per step.
const STEP: usize = 4;
/// Rows of `x` per tile, and panels per tile (the tile's accumulators stay in registers).
const TILE_ROWS: usize = 6;
const TILE_PANELS: usize = 4;

/// Int8 weights `[out, in]` packed for [`PackedQ8::product`].
#[derive(Debug, Clone)]
pub struct PackedQ8 {
    pub inp: usize,
    pub out: usize,
    /// `inp` rounded up to a whole step; the padding holds zeros.
    steps: usize,
    /// `panels × steps × PANEL × STEP` bytes.
    data: Vec<i8>,
    /// One per output (zero for the padding outputs of the last panel).
    scales: Vec<f32>,
    /// `Σₖ w[o, k]` per output: the correction for the unsigned-input product
    /// (the AVX-512 VNNI and AVX2 kernels take `x + 128`).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    sums: Vec<i32>,
    /// The kernel the bytes are laid out for.
    kernel: Kernel,
}

/// How many of an output's inputs lie side by side in a `(panel, step)`'s
/// 64 bytes: the block holds, for each run of `unit` inputs in turn, that
/// run for output 0, then for output 1, … AVX-512 VNNI (and the portable
/// loop) take an output's 4 inputs together (`j·4 + t`), one `vpdpbusd` lane
/// each. wasm takes inputs in pairs, each pair for all 16 outputs
/// (`(t/2)·32 + j·2 + t%2`): a 16-byte load is 8 outputs × 2 inputs, and
/// `i32x4.dot_i16x8_s` of its halves with a broadcast input pair gives 4
/// outputs' sums directly.
fn unit(kernel: Kernel) -> usize {
    match kernel {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 => 2,
        _ => STEP,
    }
}

/// Where input `k` of output `j` (0..16) of a panel sits in the panel's
/// bytes (its steps one after another), for runs of `unit` inputs.
#[cfg(test)]
fn byte_at(unit: usize, j: usize, k: usize) -> usize {
    (k / unit) * PANEL * unit + j * unit + k % unit
}

/// One panel's rows (at most [`PANEL`], each `inp` long) into its bytes
/// (zeroed, `steps · PANEL · STEP` long) in runs of `U` inputs, as
/// [`byte_at`] says: a transpose of `U`-byte runs, each one copy.
fn scatter_panel<const U: usize>(rows: &[i8], inp: usize, panel: &mut [i8]) {
    for (j, row) in rows.chunks_exact(inp).enumerate() {
        let mut runs = row.chunks_exact(U);
        for (c, run) in (&mut runs).enumerate() {
            let at = c * PANEL * U + j * U;
            panel[at..at + U].copy_from_slice(run);
        }
        let rest = runs.remainder();
        if !rest.is_empty() {
            let at = (inp / U) * PANEL * U + j * U;
            panel[at..at + rest.len()].copy_from_slice(rest);
        }
    }
}

/// The weight `q` as `kernel` computes with it (see [`weight_scale`]):
/// the AVX2 kernel rounds it to 7 bits, half to even (−64..=64).
#[inline(always)]
fn weight_value(kernel: Kernel, q: i8) -> i8 {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => seven_bit(q),
        _ => q,
    }
}

/// `q / 2`, ties to even: an odd `q` whose half rounds down to an odd number
/// (`q ≡ 3 mod 4`) goes up instead.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn seven_bit(q: i8) -> i8 {
    let q = q as i32;
    ((q + (q & 3 == 3) as i32) >> 1) as i8
}

/// A row's weight scale as `kernel` computes with it: doubled where the
/// values were halved ([`weight_value`]).
#[inline(always)]
fn weight_scale(kernel: Kernel, scale: f32) -> f32 {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => scale * 2.0,
        _ => scale,
    }
}

/// Rows of activations quantized for one product: `steps · STEP` bytes a row.
#[derive(Debug, Default)]
pub struct QuantizedRows {
    values: Vec<i8>,
    scales: Vec<f32>,
    /// The values plus 128, as the AVX2 kernel reads them.
    #[cfg(target_arch = "x86_64")]
    unsigned: Vec<u8>,
    /// The values as i16 (wasm: an input pair is then one 32-bit broadcast).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    wide: Vec<i16>,
}

/// One task's rows in [`QuantizedRows::quantize`].
struct Part<'a> {
    x: &'a [f32],
    values: &'a mut [i8],
    scales: &'a mut [f32],
    /// Empty where no kernel reads `x + 128`.
    unsigned: &'a mut [u8],
}

impl QuantizedRows {
    /// Quantize `rows` rows of `inp` values, each row with its own scale
    /// (rows in parallel where threads exist).
    pub fn quantize(&mut self, x: &[f32], rows: usize, inp: usize) {
        let width = inp.div_ceil(STEP) * STEP;
        self.values.clear();
        self.values.resize(rows * width, 0);
        self.scales.clear();
        self.scales.resize(rows, 0.0);
        #[cfg(target_arch = "x86_64")]
        let unsigned = {
            self.unsigned.clear();
            self.unsigned.resize(rows * width, 0);
            &mut self.unsigned
        };
        // Elsewhere no kernel reads `x + 128`: chunks of nothing.
        #[cfg(not(target_arch = "x86_64"))]
        let unsigned = &mut Vec::<u8>::new();
        if rows == 0 || inp == 0 {
            return;
        }
        let per_task = 16;
        let work = |part: Part| {
            quantize_rows(part.x, part.values, part.scales, inp, width);
            for (u, &v) in part.unsigned.iter_mut().zip(part.values.iter()) {
                *u = (v as u8) ^ 0x80;
            }
        };
        let mut unsigned_chunks = unsigned.chunks_mut(per_task * width);
        let chunks = self
            .values
            .chunks_mut(per_task * width)
            .zip(self.scales.chunks_mut(per_task))
            .zip(x.chunks(per_task * inp))
            .map(|((values, scales), x)| Part {
                x,
                values,
                scales,
                unsigned: unsigned_chunks.next().unwrap_or_default(),
            });
        super::for_each(chunks, work);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            self.wide.clear();
            self.wide.extend(self.values.iter().map(|&v| v as i16));
        }
    }
}

/// [`quantize_row`] over rows, compiled again for AVX2 and AVX-512 (picked at run time).
fn quantize_rows(x: &[f32], values: &mut [i8], scales: &mut [f32], inp: usize, width: usize) {
    #[inline(always)]
    fn body(x: &[f32], values: &mut [i8], scales: &mut [f32], inp: usize, width: usize) {
        for ((row, out), scale) in x
            .chunks_exact(inp)
            .zip(values.chunks_exact_mut(width))
            .zip(scales)
        {
            *scale = quantize_row(row, &mut out[..inp]);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2,fma")]
        unsafe fn avx512(
            x: &[f32],
            values: &mut [i8],
            scales: &mut [f32],
            inp: usize,
            width: usize,
        ) {
            body(x, values, scales, inp, width)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(x: &[f32], values: &mut [i8], scales: &mut [f32], inp: usize, width: usize) {
            body(x, values, scales, inp, width)
        }
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has the features this copy was compiled for.
            return unsafe { avx512(x, values, scales, inp, width) };
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { avx2(x, values, scales, inp, width) };
        }
    }
    body(x, values, scales, inp, width)
}

/// Which int8 kernel this machine runs (picked once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    /// AVX2 on the weights as stored (`vpsignb` per product).
    #[cfg(target_arch = "x86_64")]
    Avx2W8,
    /// AVX2 on the weights rounded to 7 bits.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Vnni512,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

impl Kernel {
    /// The fastest kernel this CPU has, unless `PAIRRM_INT8_KERNEL` names
    /// another one it has (natively; for benchmarks and diagnosis).
    pub fn detect() -> Self {
        let available = Self::available();
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(name) = std::env::var("PAIRRM_INT8_KERNEL") {
            if let Some(&k) = available.iter().find(|k| k.name() == name) {
                return k;
            }
        }
        available[available.len() - 1]
    }

    /// The kernels this CPU can run, slowest first.
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut kernels = vec![Self::fallback()];
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2W8);
                kernels.push(Kernel::Avx2);
            }
            if is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
            {
                kernels.push(Kernel::Vnni512);
            }
        }
        kernels
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    fn fallback() -> Self {
        Kernel::Simd128
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    fn fallback() -> Self {
        Kernel::Portable
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2W8 => "avx2-w8",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni512 => "avx512-vnni",
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => "wasm-simd128",
        }
    }
}

fn kernel() -> Kernel {
    static KERNEL: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(Kernel::detect)
}

impl PackedQ8 {
    /// Pack `w` (`[out, in]`, a scale per output row) for this machine's kernel.
    pub fn pack(w: &Q8Matrix) -> Self {
        Self::pack_for(kernel(), w)
    }

    /// Pack `w` for `kernel`: each `(panel, step)` is 64 bytes, in runs of
    /// [`unit`] inputs per output.
    /// Panics when this CPU lacks `kernel` (its products would run
    /// instructions the CPU does not have).
    pub fn pack_for(kernel: Kernel, w: &Q8Matrix) -> Self {
        assert!(
            Kernel::available().contains(&kernel),
            "this CPU has no {} int8 kernel",
            kernel.name()
        );
        let (out, inp) = (w.rows, w.cols);
        let steps = inp.div_ceil(STEP);
        let panels = out.div_ceil(PANEL);
        let block = PANEL * STEP;
        let mut data = vec![0i8; panels * steps * block];
        let mut sums = vec![0i32; panels * PANEL];
        let mut scales = vec![0.0f32; panels * PANEL];
        // Panel by panel (each panel's bytes, sums and scales are its own), in
        // parallel natively: a load packs every weight of the model. Not in
        // the threaded wasm build, where a layer is built on the pool while
        // the loader reads the next one: warm page loads measured slower so
        // (3.2-4.3 s against 2.8-3.6 s, 10 each).
        let parts = data
            .chunks_mut((steps * block).max(1))
            .zip(sums.chunks_mut(PANEL))
            .zip(scales.chunks_mut(PANEL))
            .enumerate();
        let pack_panel =
            |(p, ((panel, sums), scales)): (usize, ((&mut [i8], &mut [i32]), &mut [f32]))| {
                let first = p * PANEL;
                let n = PANEL.min(out - first);
                let rows = &w.values[first * inp..(first + n) * inp];
                match unit(kernel) {
                    2 => scatter_panel::<2>(rows, inp, panel),
                    _ => scatter_panel::<STEP>(rows, inp, panel),
                }
                // The padding's zeros stay zeros.
                #[cfg(target_arch = "x86_64")]
                if kernel == Kernel::Avx2 {
                    panel.iter_mut().for_each(|q| *q = seven_bit(*q));
                }
                for (j, row) in rows.chunks_exact(inp).enumerate() {
                    sums[j] = row.iter().map(|&q| weight_value(kernel, q) as i32).sum();
                    scales[j] = weight_scale(kernel, w.scales[first + j]);
                }
            };
        #[cfg(not(target_arch = "wasm32"))]
        super::for_each(parts, pack_panel);
        #[cfg(target_arch = "wasm32")]
        parts.for_each(pack_panel);
        Self {
            inp,
            out,
            steps,
            data,
            scales,
            sums,
            kernel,
        }
    }

    /// Bytes held (the packed values and the per-output scales and sums).
    pub fn bytes(&self) -> usize {
        self.data.len() + 8 * self.scales.len()
    }

    /// `dst (+)= x · Wᵀ` for `rows` rows of `x` (`[rows, inp]`), `dst` `[rows, out]`.
    /// The kernel is the one the weights were packed for ([`Self::pack_for`]).
    pub fn product(&self, x: &QuantizedRows, rows: usize, dst: &mut [f32], accumulate: bool) {
        self.product_outputs(x, rows, dst, 0..self.out, accumulate)
    }

    /// As [`Self::product`] for the outputs in `outs` only (its start a
    /// multiple of [`PANEL`]), `dst` `[rows, outs.len()]`: one part of
    /// weights stacked side by side (the key rows of Q, K and V).
    pub fn product_outputs(
        &self,
        x: &QuantizedRows,
        rows: usize,
        dst: &mut [f32],
        outs: std::ops::Range<usize>,
        accumulate: bool,
    ) {
        let kernel = self.kernel;
        assert!(x.scales.len() >= rows && x.values.len() >= rows * self.steps * STEP);
        assert!(outs.start.is_multiple_of(PANEL) && outs.start <= outs.end && outs.end <= self.out);
        assert!(dst.len() >= rows * outs.len(), "destination too small");
        let first_panel = outs.start / PANEL;
        let panels = outs.len().div_ceil(PANEL);
        let blocks = panels.div_ceil(TILE_PANELS);
        let dst_ptr = SharedMut(dst.as_mut_ptr());
        super::map_indexed(blocks, |b| {
            let first = first_panel + b * TILE_PANELS;
            let count = TILE_PANELS.min(first_panel + panels - first);
            let mut acc = [0i32; TILE_ROWS * TILE_PANELS * PANEL];
            for r0 in (0..rows).step_by(TILE_ROWS) {
                let tile_rows = TILE_ROWS.min(rows - r0);
                self.tile(kernel, x, r0, tile_rows, first, count, &mut acc);
                // SAFETY: block `b` writes only outputs of its own panels, so
                // no two tasks write the same element; the bounds were
                // checked above.
                unsafe {
                    self.store(
                        &acc, x, r0, tile_rows, first, count, &outs, &dst_ptr, accumulate,
                    )
                };
            }
        });
    }

    /// Exact int32 dot products of a tile: `acc[(r · panels + p) · PANEL + j]`.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        &self,
        kernel: Kernel,
        x: &QuantizedRows,
        r0: usize,
        rows: usize,
        first: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        let width = self.steps * STEP;
        let xs = &x.values[r0 * width..(r0 + rows) * width];
        let w = &self.data
            [first * self.steps * PANEL * STEP..(first + panels) * self.steps * PANEL * STEP];
        match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni512 | Kernel::Avx2 => {
                // SAFETY: detected at run time; slices bound every read.
                unsafe {
                    if kernel == Kernel::Vnni512 {
                        vnni::tile(xs, width, w, self.steps, rows, panels, acc)
                    } else {
                        let unsigned = &x.unsigned[r0 * width..(r0 + rows) * width];
                        avx2::tile_unsigned(unsigned, width, w, self.steps, rows, panels, acc)
                    }
                };
                // Both multiplied x + 128: take 128 · Σₖ w off.
                let sums = &self.sums[first * PANEL..(first + panels) * PANEL];
                for r in 0..rows {
                    for (a, s) in acc[r * panels * PANEL..(r + 1) * panels * PANEL]
                        .iter_mut()
                        .zip(sums)
                    {
                        *a -= 128 * s;
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2W8 => {
                // SAFETY: detected at run time; slices bound every read.
                unsafe { avx2::tile(xs, width, w, self.steps, rows, panels, acc) }
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => {
                let wide = &x.wide[r0 * width..(r0 + rows) * width];
                simd128::tile(wide, width, w, self.steps, rows, panels, acc)
            }
            Kernel::Portable => portable_tile(xs, width, w, self.steps, rows, panels, acc),
        }
    }

    /// `dst[r, o − outs.start] (+)= acc · sx[r] · sw[o]` for the tile's outputs in `outs`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn store(
        &self,
        acc: &[i32],
        x: &QuantizedRows,
        r0: usize,
        rows: usize,
        first: usize,
        panels: usize,
        outs: &std::ops::Range<usize>,
        dst: &SharedMut,
        accumulate: bool,
    ) {
        let o0 = first * PANEL;
        let n = (panels * PANEL).min(outs.end - o0);
        let stride = outs.len();
        for r in 0..rows {
            let sx = x.scales[r0 + r];
            // SAFETY: (r0 + r) · stride + (o0 − outs.start) + n ≤ rows · stride
            // ≤ dst.len(), checked by the caller.
            let out =
                std::slice::from_raw_parts_mut(dst.0.add((r0 + r) * stride + o0 - outs.start), n);
            let a = &acc[r * panels * PANEL..][..n];
            let sw = &self.scales[o0..o0 + n];
            if accumulate {
                for ((d, &a), &s) in out.iter_mut().zip(a).zip(sw) {
                    *d += a as f32 * (sx * s);
                }
            } else {
                for ((d, &a), &s) in out.iter_mut().zip(a).zip(sw) {
                    *d = a as f32 * (sx * s);
                }
            }
        }
    }
}

/// The destination shared by the tasks of one product, each writing its own columns.
struct SharedMut(*mut f32);
// SAFETY: tasks write disjoint elements (see `product`).
unsafe impl Sync for SharedMut {}
unsafe impl Send for SharedMut {}

/// The bounds a tile kernel reads and writes within (checked before its
/// unchecked loads): `x` holds `rows` rows of `width` bytes, `w` holds
/// `panels` panels of `steps` steps, `acc` a tile's sums.
#[cfg(target_arch = "x86_64")]
fn check_tile<X>(
    x: &[X],
    width: usize,
    w: &[i8],
    steps: usize,
    rows: usize,
    panels: usize,
    acc: &[i32],
) {
    assert!(rows <= TILE_ROWS && panels <= TILE_PANELS);
    assert!(x.len() >= rows * width && width >= steps * STEP);
    assert!(w.len() >= panels * steps * PANEL * STEP && acc.len() >= rows * panels * PANEL);
}

/// The plain form of every kernel: `acc[(r · panels + p) · PANEL + j] = Σₖ x[r, k] · w[p·PANEL + j, k]`.
fn portable_tile(
    x: &[i8],
    width: usize,
    w: &[i8],
    steps: usize,
    rows: usize,
    panels: usize,
    acc: &mut [i32],
) {
    for r in 0..rows {
        let xr = &x[r * width..(r + 1) * width];
        for p in 0..panels {
            let mut lanes = [0i32; PANEL];
            let wp = &w[p * steps * PANEL * STEP..(p + 1) * steps * PANEL * STEP];
            for (s, ws) in wp.chunks_exact(PANEL * STEP).enumerate() {
                let xk = &xr[s * STEP..(s + 1) * STEP];
                for (lane, wj) in lanes.iter_mut().zip(ws.chunks_exact(STEP)) {
                    *lane += (0..STEP).map(|t| xk[t] as i32 * wj[t] as i32).sum::<i32>();
                }
            }
            acc[(r * panels + p) * PANEL..][..PANEL].copy_from_slice(&lanes);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{PANEL, STEP};
    use std::arch::x86_64::*;

    /// Dispatch to a tile of the exact size (accumulators as fixed arrays stay in registers).
    ///
    /// # Safety
    /// AVX-512 F/BW/VNNI must be present; `x` holds `rows` rows of `width`
    /// bytes and `w` holds `panels` panels of `steps` steps.
    pub(super) unsafe fn tile(
        x: &[i8],
        width: usize,
        w: &[i8],
        steps: usize,
        rows: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        super::check_tile(x, width, w, steps, rows, panels, acc);
        macro_rules! go {
            ($($r:literal),*; $($p:literal),*) => {
                go!(@rows [$($r),*] [$($p),*])
            };
            (@rows [$($r:literal),*] $ps:tt) => {
                match rows {
                    $($r => go!(@panels $r $ps),)*
                    _ => unreachable!(),
                }
            };
            (@panels $r:literal [$($p:literal),*]) => {
                match panels {
                    $($p => tile_n::<$r, $p>(x.as_ptr(), width, w.as_ptr(), steps, acc.as_mut_ptr()),)*
                    _ => unreachable!(),
                }
            };
        }
        go!(1, 2, 3, 4, 5, 6; 1, 2, 3, 4)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn tile_n<const R: usize, const P: usize>(
        x: *const i8,
        width: usize,
        w: *const i8,
        steps: usize,
        acc: *mut i32,
    ) {
        let flip = _mm512_set1_epi8(-128);
        let mut sums = [[_mm512_setzero_si512(); P]; R];
        for s in 0..steps {
            let mut wv = [_mm512_setzero_si512(); P];
            for (p, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(w.add((p * steps + s) * PANEL * STEP) as *const _);
            }
            for (r, row) in sums.iter_mut().enumerate() {
                let four = (x.add(r * width + s * STEP) as *const i32).read_unaligned();
                // x + 128 as unsigned bytes: vpdpbusd multiplies unsigned by signed.
                let xv = _mm512_xor_si512(_mm512_set1_epi32(four), flip);
                for (a, &wp) in row.iter_mut().zip(&wv) {
                    *a = _mm512_dpbusd_epi32(*a, xv, wp);
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            for (p, a) in row.iter().enumerate() {
                _mm512_storeu_si512(acc.add((r * P + p) * PANEL) as *mut _, *a);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{PANEL, STEP};
    use std::arch::x86_64::*;

    /// Rows at a time: 3 rows × 2 halves of a panel = 6 accumulators, with the
    /// panel's two weight registers (and their absolute values) and
    /// temporaries, within AVX2's 16 registers.
    const ROWS: usize = 3;

    /// A tile of `x + 128` (unsigned) against weights within ±64, panel by
    /// panel, `ROWS` rows at a time (same layout as VNNI's: one 256-bit load
    /// is 8 outputs × 4 inputs). The caller takes `128 · Σ w` off.
    ///
    /// # Safety
    /// AVX2 must be present; `x` holds `rows` rows of `width` bytes and `w`
    /// holds `panels` panels of `steps` steps.
    pub(super) unsafe fn tile_unsigned(
        x: &[u8],
        width: usize,
        w: &[i8],
        steps: usize,
        rows: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        super::check_tile(x, width, w, steps, rows, panels, acc);
        let stride = panels * PANEL;
        for p in 0..panels {
            let wp = w.as_ptr().add(p * steps * PANEL * STEP);
            for r in (0..rows).step_by(ROWS) {
                let xr = x.as_ptr().add(r * width);
                let out = acc.as_mut_ptr().add(r * stride + p * PANEL);
                match (rows - r).min(ROWS) {
                    3 => rows_unsigned::<3>(xr, width, wp, steps, out, stride),
                    2 => rows_unsigned::<2>(xr, width, wp, steps, out, stride),
                    _ => rows_unsigned::<1>(xr, width, wp, steps, out, stride),
                }
            }
        }
    }

    /// As [`tile_unsigned`] for signed `x` against any int8 weights (the
    /// `avx2-w8` kernel).
    ///
    /// # Safety
    /// As [`tile_unsigned`].
    pub(super) unsafe fn tile(
        x: &[i8],
        width: usize,
        w: &[i8],
        steps: usize,
        rows: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        super::check_tile(x, width, w, steps, rows, panels, acc);
        let stride = panels * PANEL;
        for p in 0..panels {
            let wp = w.as_ptr().add(p * steps * PANEL * STEP);
            for r in (0..rows).step_by(ROWS) {
                let xr = x.as_ptr().add(r * width);
                let out = acc.as_mut_ptr().add(r * stride + p * PANEL);
                match (rows - r).min(ROWS) {
                    3 => rows_n::<3>(xr, width, wp, steps, out, stride),
                    2 => rows_n::<2>(xr, width, wp, steps, out, stride),
                    _ => rows_n::<1>(xr, width, wp, steps, out, stride),
                }
            }
        }
    }

    /// `R` rows of `x + 128` (unsigned bytes, 1..=255) against one panel of
    /// weights within ±64: `vpmaddubsw`'s pair sums stay within
    /// 2·255·64 = 32,640, so nothing saturates, and no `vpsignb` is needed.
    /// `x + 128` comes ready from [`super::QuantizedRows`]: a broadcast
    /// straight from memory (adding 128 here, per row and step, cost a
    /// quarter of the speed).
    #[target_feature(enable = "avx2")]
    unsafe fn rows_unsigned<const R: usize>(
        x: *const u8,
        width: usize,
        w: *const i8,
        steps: usize,
        out: *mut i32,
        stride: usize,
    ) {
        let ones = _mm256_set1_epi16(1);
        let mut sums = [[_mm256_setzero_si256(); 2]; R];
        for s in 0..steps {
            let block = w.add(s * PANEL * STEP);
            let wv = [
                _mm256_loadu_si256(block as *const __m256i),
                _mm256_loadu_si256(block.add(32) as *const __m256i),
            ];
            for (r, row) in sums.iter_mut().enumerate() {
                let four = (x.add(r * width + s * STEP) as *const i32).read_unaligned();
                let xv = _mm256_set1_epi32(four);
                for h in 0..2 {
                    let pairs = _mm256_maddubs_epi16(xv, wv[h]);
                    row[h] = _mm256_add_epi32(row[h], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            _mm256_storeu_si256(out.add(r * stride) as *mut __m256i, row[0]);
            _mm256_storeu_si256(out.add(r * stride + 8) as *mut __m256i, row[1]);
        }
    }

    /// `R` rows against one panel. `vpmaddubsw` multiplies unsigned by
    /// signed bytes: it gets |w| (0..=128, so a weight of −128 read from a
    /// file is exact too) and x·sign(w) (x is −127..=127).
    #[target_feature(enable = "avx2")]
    unsafe fn rows_n<const R: usize>(
        x: *const i8,
        width: usize,
        w: *const i8,
        steps: usize,
        out: *mut i32,
        stride: usize,
    ) {
        let ones = _mm256_set1_epi16(1);
        let mut sums = [[_mm256_setzero_si256(); 2]; R];
        for s in 0..steps {
            let block = w.add(s * PANEL * STEP);
            let wv = [
                _mm256_loadu_si256(block as *const __m256i),
                _mm256_loadu_si256(block.add(32) as *const __m256i),
            ];
            let magnitude = [_mm256_abs_epi8(wv[0]), _mm256_abs_epi8(wv[1])];
            for (r, row) in sums.iter_mut().enumerate() {
                let four = (x.add(r * width + s * STEP) as *const i32).read_unaligned();
                let xv = _mm256_set1_epi32(four);
                for h in 0..2 {
                    let pairs = _mm256_maddubs_epi16(magnitude[h], _mm256_sign_epi8(xv, wv[h]));
                    row[h] = _mm256_add_epi32(row[h], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            _mm256_storeu_si256(out.add(r * stride) as *mut __m256i, row[0]);
            _mm256_storeu_si256(out.add(r * stride + 8) as *mut __m256i, row[1]);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{PANEL, STEP};
    use std::arch::wasm32::*;

    /// Tiles of up to 4 rows × 8 outputs (8 accumulators in registers). Per
    /// input pair: one 16-byte load of 8 outputs × 2 inputs, sign-extended into
    /// two halves of 4 outputs; per row a 32-bit broadcast of its input pair
    /// (i16) and `i32x4.dot_i16x8_s` against each half: 4 outputs' sums.
    pub(super) fn tile(
        x: &[i16],
        width: usize,
        w: &[i8],
        steps: usize,
        rows: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        assert!(x.len() >= rows * width && width >= steps * STEP);
        assert!(w.len() >= panels * steps * PANEL * STEP && acc.len() >= rows * panels * PANEL);
        let mut r = 0;
        while r < rows {
            let n = (rows - r).min(4);
            for p in 0..panels {
                for half in 0..2 {
                    // SAFETY: bounds asserted above.
                    unsafe {
                        match n {
                            4 => block::<4>(x, width, w, steps, r, p, half, panels, acc),
                            3 => block::<3>(x, width, w, steps, r, p, half, panels, acc),
                            2 => block::<2>(x, width, w, steps, r, p, half, panels, acc),
                            _ => block::<1>(x, width, w, steps, r, p, half, panels, acc),
                        }
                    }
                }
            }
            r += n;
        }
    }

    /// Rows `r0..r0+R`, outputs `half·8..half·8+8` of panel `p`.
    ///
    /// # Safety
    /// `x`, `w` and `acc` hold what [`tile`] asserts.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn block<const R: usize>(
        x: &[i16],
        width: usize,
        w: &[i8],
        steps: usize,
        r0: usize,
        p: usize,
        half: usize,
        panels: usize,
        acc: &mut [i32],
    ) {
        let mut sums = [[i32x4_splat(0); 2]; R];
        let xp = x.as_ptr().add(r0 * width);
        let wp = w.as_ptr().add(p * steps * PANEL * STEP + half * 16);
        for s in 0..steps {
            for pair in 0..2 {
                let wv = v128_load(wp.add(s * PANEL * STEP + pair * 2 * PANEL) as *const v128);
                let (lo, hi) = (i16x8_extend_low_i8x16(wv), i16x8_extend_high_i8x16(wv));
                for (r, row) in sums.iter_mut().enumerate() {
                    let xv =
                        v128_load32_splat(xp.add(r * width + s * STEP + pair * 2) as *const u32);
                    row[0] = i32x4_add(row[0], i32x4_dot_i16x8(lo, xv));
                    row[1] = i32x4_add(row[1], i32x4_dot_i16x8(hi, xv));
                }
            }
        }
        for (r, row) in sums.iter().enumerate() {
            let at = ((r0 + r) * panels + p) * PANEL + half * 8;
            v128_store(acc.as_mut_ptr().add(at) as *mut v128, row[0]);
            v128_store(acc.as_mut_ptr().add(at + 4) as *mut v128, row[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SplitMix64;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| rng.symmetric(1.0)).collect()
    }

    /// Every kernel against the plain formula, over sizes with ragged tiles,
    /// panels and steps.
    /// The AVX2 kernel's 7-bit weights: `q / 2` rounded half to even, within ±64.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn seven_bit_weights_round_half_to_even() {
        for q in i8::MIN..=i8::MAX {
            let half = q as f32 / 2.0;
            let even = if half.fract() == 0.0 {
                half
            } else {
                let down = half.floor();
                if down % 2.0 == 0.0 {
                    down
                } else {
                    down + 1.0
                }
            };
            assert_eq!(weight_value(Kernel::Avx2, q) as f32, even, "{q}");
        }
        assert_eq!(weight_value(Kernel::Avx2, 127), 64);
        assert_eq!(weight_value(Kernel::Avx2, -128), -64);
        assert_eq!(weight_scale(Kernel::Avx2, 0.5), 1.0);
    }

    /// Both layouts (runs of 2 inputs on wasm, of 4 elsewhere) against
    /// [`byte_at`] input by input, with ragged panels and steps; padding zero.
    #[test]
    fn panels_scatter_inputs_where_byte_at_says() {
        for &(n, inp) in &[(16usize, 8usize), (5, 13), (1, 1), (16, 70)] {
            let steps = inp.div_ceil(STEP);
            let rows: Vec<i8> = (0..n * inp).map(|i| (i % 251) as i8 - 125).collect();
            for (unit, scatter) in [
                (2, scatter_panel::<2> as fn(&[i8], usize, &mut [i8])),
                (4, scatter_panel::<4>),
            ] {
                let mut panel = vec![0i8; steps * PANEL * STEP];
                scatter(&rows, inp, &mut panel);
                let mut want = vec![0i8; panel.len()];
                for j in 0..n {
                    for k in 0..inp {
                        want[byte_at(unit, j, k)] = rows[j * inp + k];
                    }
                }
                assert_eq!(panel, want, "unit {unit}, {n} rows of {inp}");
            }
        }
    }

    #[test]
    fn kernels_compute_the_scaled_int8_product() {
        for &(rows, inp, out) in &[
            (1, 1, 1),
            (7, 13, 17),
            (13, 64, 80),
            (6, 48, 96),
            (2, 5, 33),
        ] {
            let x = random(rows * inp, 1 + rows as u64);
            let wf = random(out * inp, 2 + out as u64);
            let w = Q8Matrix::quantize(out, inp, &wf);

            let mut qx = QuantizedRows::default();
            qx.quantize(&x, rows, inp);
            // The product with the weights as `kernel` computes with them.
            let want_of = |kernel: Kernel| {
                let mut want = vec![0.0f32; rows * out];
                for r in 0..rows {
                    let mut xq = vec![0i8; inp];
                    let sx = quantize_row(&x[r * inp..(r + 1) * inp], &mut xq);
                    for o in 0..out {
                        let dot: i32 = (0..inp)
                            .map(|k| {
                                xq[k] as i32 * weight_value(kernel, w.values[o * inp + k]) as i32
                            })
                            .sum();
                        want[r * out + o] =
                            0.5 + dot as f32 * (sx * weight_scale(kernel, w.scales[o]));
                    }
                }
                want
            };
            for k in Kernel::available() {
                let want = want_of(k);
                let packed = PackedQ8::pack_for(k, &w);
                let mut got = vec![0.5f32; rows * out];
                packed.product(&qx, rows, &mut got, true);
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "{} ({rows}×{inp}×{out}): {g} vs {w}",
                        k.name()
                    );
                }
            }
            // Some outputs only: the same values as the whole product's.
            // Ranges that start at 0, end before `out`, or start past a panel.
            let mut ranges = vec![0..out / 2, 0..(PANEL / 2 + 1).min(out)];
            if out > PANEL {
                ranges.push(PANEL..out);
            }
            for k in Kernel::available() {
                let want = want_of(k);
                let packed = PackedQ8::pack_for(k, &w);
                for outs in ranges.clone() {
                    let mut part = vec![0.5f32; rows * outs.len()];
                    packed.product_outputs(&qx, rows, &mut part, outs.clone(), true);
                    for r in 0..rows {
                        for (i, o) in outs.clone().enumerate() {
                            let (g, w) = (part[r * outs.len() + i], want[r * out + o]);
                            assert!(
                                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                                "{} outputs {outs:?}: {g} vs {w}",
                                k.name()
                            );
                        }
                    }
                }
            }
            // A weight of −128 (int8 files may hold it; our quantizer never
            // writes it) against inputs of ±127: every kernel exact.
            let mut edge = w.clone();
            edge.values.iter_mut().step_by(3).for_each(|v| *v = -128);
            let mut ex = QuantizedRows::default();
            let xs: Vec<f32> = (0..rows * inp)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            ex.quantize(&xs, rows, inp);
            let mut results = Vec::new();
            for k in Kernel::available() {
                let mut got = vec![0.0f32; rows * out];
                PackedQ8::pack_for(k, &edge).product(&ex, rows, &mut got, false);
                results.push((k, got));
            }
            for r in 0..rows {
                for o in 0..out {
                    for (k, got) in &results {
                        let dot: i32 = (0..inp)
                            .map(|i| {
                                let x = if (r * inp + i) % 2 == 0 { 127 } else { -127 };
                                x * weight_value(*k, edge.values[o * inp + i]) as i32
                            })
                            .sum();
                        let want = dot as f32 * (ex.scales[r] * weight_scale(*k, edge.scales[o]));
                        let g = got[r * out + o];
                        assert!(
                            (g - want).abs() <= 1e-5 * want.abs().max(1.0),
                            "{}: {g} vs {want}",
                            k.name()
                        );
                    }
                }
            }
            // And close to the f32 product: int8 rounding of both sides
            // (7-bit weights on AVX2).
            for k in Kernel::available() {
                let want = want_of(k);
                for r in 0..rows {
                    for o in 0..out {
                        let exact: f32 = (0..inp).map(|i| x[r * inp + i] * wf[o * inp + i]).sum();
                        assert!(
                            (want[r * out + o] - 0.5 - exact).abs() < 0.03 * (inp as f32).sqrt(),
                            "{}",
                            k.name()
                        );
                    }
                }
            }
        }
    }
}
