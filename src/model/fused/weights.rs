//! The fused engine's parts, built from host tensors: products with their
//! weights laid out for `gemm` (Q, K and V side by side) or packed as int8,
//! LayerNorms, the layers with their relative-embedding projections
//! precomputed, the embedding table and the head.

use std::cell::RefCell;

use crate::config::BackboneConfig;
use crate::model::kernels::int8::{PackedQ8, QuantizedRows};
use crate::model::kernels::{self, matmul, Threads, View};
use crate::quant::Q8Matrix;
use crate::weights::{HeadTensors, HostTensor, LayerTensors, LinearTensors, NormTensors, Weight};

/// A product's weights: f32 `[in, out]` row-major for `gemm`, or int8 packed.
#[derive(Debug, Clone)]
pub(super) enum Matrix {
    F32(Vec<f32>),
    Q8(PackedQ8),
}

/// `y = x · W + b`.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    pub(super) w: Matrix,
    pub(super) b: Vec<f32>,
    pub(super) inp: usize,
    pub(super) out: usize,
}

thread_local! {
    /// The activations of the current int8 product, quantized (kept between calls).
    static QUANTIZED: RefCell<QuantizedRows> = RefCell::default();
}

impl Dense {
    /// From PyTorch Linears (`[out, in]` each) sharing an input: their outputs
    /// side by side. int8 weights stay int8 (their rows stacked); a mix is
    /// computed in f32.
    pub(super) fn from_torch(parts: Vec<LinearTensors>) -> Self {
        if parts.iter().all(|p| matches!(p.weight, Weight::Q8(_))) {
            let mats: Vec<&Q8Matrix> = parts
                .iter()
                .filter_map(|p| match &p.weight {
                    Weight::Q8(q) => Some(q),
                    Weight::F32(_) => None,
                })
                .collect();
            // One part (all but Q, K and V) is packed as it is, not copied first.
            let packed = match mats.as_slice() {
                [one] => PackedQ8::pack(one),
                _ => PackedQ8::pack(&Q8Matrix::stack(&mats)),
            };
            return Self {
                inp: packed.inp,
                out: packed.out,
                w: Matrix::Q8(packed),
                b: parts
                    .iter()
                    .flat_map(|p| p.bias.data.iter().copied())
                    .collect(),
            };
        }
        let parts: Vec<(HostTensor, HostTensor)> = parts
            .into_iter()
            .map(|p| (p.weight.into_f32(), p.bias))
            .collect();
        Self::from_f32(&parts)
    }

    /// As [`Self::from_torch`] for f32 weights.
    pub(super) fn from_f32(parts: &[(HostTensor, HostTensor)]) -> Self {
        let inp = parts[0].0.shape[1];
        let out: usize = parts.iter().map(|(w, _)| w.shape[0]).sum();
        let mut w = vec![0.0f32; inp * out];
        let mut b = Vec::with_capacity(out);
        let mut col = 0;
        for (pw, pb) in parts {
            let rows = pw.shape[0];
            for r in 0..rows {
                for k in 0..inp {
                    w[k * out + col + r] = pw.data[r * inp + k];
                }
            }
            b.extend_from_slice(&pb.data);
            col += rows;
        }
        Self {
            w: Matrix::F32(w),
            b,
            inp,
            out,
        }
    }

    /// `dst (+)= x · W` over `rows` rows; the bias is left to the caller's fused pass.
    pub(super) fn product(&self, x: &[f32], rows: usize, dst: &mut [f32], accumulate: bool) {
        match &self.w {
            Matrix::F32(w) => {
                let x = View::new(x, 0, rows, self.inp, self.inp);
                let w = View::new(w, 0, self.inp, self.out, self.out);
                matmul(dst, self.out, x, w, accumulate, Threads::All);
            }
            Matrix::Q8(w) => QUANTIZED.with(|cell| {
                let x = &x[..rows * self.inp];
                // Taken already only if this thread re-entered a product while
                // waiting in one (rayon work-stealing): then a buffer of its own.
                match cell.try_borrow_mut() {
                    Ok(mut q) => {
                        q.quantize(x, rows, self.inp);
                        w.product(&q, rows, dst, accumulate);
                    }
                    Err(_) => {
                        let mut q = QuantizedRows::default();
                        q.quantize(x, rows, self.inp);
                        w.product(&q, rows, dst, accumulate);
                    }
                }
            }),
        }
    }

    /// `x · W` for the outputs in `outs` only, `[rows, outs.len()]`, when the
    /// weights are int8 (None for f32).
    pub(super) fn product_outputs_q8(
        &self,
        x: &[f32],
        rows: usize,
        outs: std::ops::Range<usize>,
    ) -> Option<Vec<f32>> {
        let Matrix::Q8(w) = &self.w else {
            return None;
        };
        let mut q = QuantizedRows::default();
        q.quantize(&x[..rows * self.inp], rows, self.inp);
        let mut dst = vec![0.0f32; rows * outs.len()];
        w.product_outputs(&q, rows, &mut dst, outs, false);
        Some(dst)
    }

    /// Bytes of weights held.
    pub(super) fn bytes(&self) -> usize {
        4 * self.b.len()
            + match &self.w {
                Matrix::F32(w) => 4 * w.len(),
                Matrix::Q8(p) => p.bytes(),
            }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Norm {
    pub(super) gamma: Vec<f32>,
    pub(super) beta: Vec<f32>,
    pub(super) eps: f32,
}

impl Norm {
    pub(super) fn new(t: NormTensors, eps: f64) -> Self {
        Self {
            gamma: t.gamma.data,
            beta: t.beta.data,
            eps: eps as f32,
        }
    }

    /// `rows = LayerNorm(rows + bias)`.
    pub(super) fn apply(&self, rows: &mut [f32], bias: &[f32]) {
        let (g, b, eps) = (&self.gamma, &self.beta, self.eps);
        kernels::for_rows(rows, g.len(), |chunk| {
            kernels::bias_layer_norm(chunk, bias, g, b, eps)
        });
    }
}

#[derive(Debug, Clone)]
pub struct FusedLayer {
    /// Query, key and value projections side by side: `[hidden, 3·hidden]`.
    pub(super) qkv: Dense,
    /// The layer's key / query projections of the normalised relative
    /// embeddings (biases included), `[2·span, hidden]` each.
    pub(super) pos_key: Vec<f32>,
    pub(super) pos_query: Vec<f32>,
    pub(super) attn_out: Dense,
    pub(super) attn_ln: Norm,
    pub(super) ffn_in: Dense,
    pub(super) ffn_out: Dense,
    pub(super) ffn_ln: Norm,
}

impl FusedLayer {
    /// From one layer's tensors; `rel` is the normalised relative-embedding
    /// table `[2·span, hidden]`.
    pub fn load(l: LayerTensors, config: &BackboneConfig, rel: &[f32]) -> Self {
        let (q, k, v) = (l.query, l.key, l.value);
        let h = config.hidden_size;
        let rows = rel.len() / h;
        let f32_projection = |t: &LinearTensors| {
            let d = Dense::from_f32(&[(t.weight.clone().into_f32(), t.bias.clone())]);
            let mut out = vec![0.0f32; rows * h];
            d.product(rel, rows, &mut out, false);
            kernels::add_bias(&mut out, &d.b);
            out
        };
        // From f32 weights in f32 (exact parity). From int8 weights with the
        // int8 product of the layer's own packed Q and K rows, as every other
        // product of that layer: most of a warm load's time per layer went
        // to these f32 projections (1.07 GFLOP each) of weights dequantized
        // and transposed for them.
        let f32_parts = (!matches!(
            (&q.weight, &k.weight, &v.weight),
            (Weight::Q8(_), Weight::Q8(_), Weight::Q8(_))
        ))
        .then(|| (f32_projection(&k), f32_projection(&q)));
        let qkv = Dense::from_torch(vec![q, k, v]);
        let (pos_key, pos_query) = f32_parts.unwrap_or_else(|| {
            // Q's and K's rows (and biases) are the first 2·h of the stack:
            // one product, quantizing `rel` once, split into its two halves.
            let mut both = qkv
                .product_outputs_q8(rel, rows, 0..2 * h)
                .expect("Q, K and V are int8, so is their stack");
            kernels::add_bias(&mut both, &qkv.b[..2 * h]);
            let (mut pk, mut pq) = (Vec::with_capacity(rows * h), Vec::with_capacity(rows * h));
            for row in both.chunks_exact(2 * h) {
                pq.extend_from_slice(&row[..h]);
                pk.extend_from_slice(&row[h..]);
            }
            (pk, pq)
        });
        let eps = config.layer_norm_eps;
        Self {
            qkv,
            pos_key,
            pos_query,
            attn_out: Dense::from_torch(vec![l.attn_out]),
            attn_ln: Norm::new(l.attn_ln, eps),
            ffn_in: Dense::from_torch(vec![l.ffn_in]),
            ffn_out: Dense::from_torch(vec![l.ffn_out]),
            ffn_ln: Norm::new(l.ffn_ln, eps),
        }
    }
}

/// Embedding table (host, f32 or int8), its LayerNorm, and the head.
#[derive(Debug, Clone)]
pub struct FusedEmbeddings {
    table: Weight,
    pub(super) norm: Norm,
}

impl FusedEmbeddings {
    pub fn load(table: Weight, norm: NormTensors, eps: f64) -> Self {
        Self {
            table,
            norm: Norm::new(norm, eps),
        }
    }

    pub(super) fn rows(&self) -> usize {
        self.table.dims().0
    }

    /// Row `id` of the table into `out`.
    pub(super) fn lookup(&self, id: usize, out: &mut [f32]) {
        self.table.row_into(id, out);
    }

    pub(super) fn bytes(&self) -> usize {
        match &self.table {
            Weight::F32(t) => 4 * t.data.len(),
            Weight::Q8(q) => q.values.len() + 4 * q.scales.len(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FusedHead {
    pub(super) dense: Dense,
    pub(super) out: Dense,
}

impl FusedHead {
    pub fn load(h: HeadTensors) -> Self {
        Self {
            dense: Dense::from_torch(vec![h.dense]),
            out: Dense::from_torch(vec![h.out]),
        }
    }

    /// Mean over tasks of `out(tanh(dense([source, cand])))`.
    pub(super) fn score(&self, source: &[f32], cand: &[f32]) -> f32 {
        let joined: Vec<f32> = source.iter().chain(cand).copied().collect();
        let mut hidden = self.dense.b.clone();
        self.dense.product(&joined, 1, &mut hidden, true);
        hidden.iter_mut().for_each(|v| *v = v.tanh());
        let mut out = self.out.b.clone();
        self.out.product(&hidden, 1, &mut out, true);
        out.iter().sum::<f32>() / out.len() as f32
    }
}
