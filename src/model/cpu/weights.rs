//! The fused engine's parts, built from host tensors: products with their
//! weights laid out for `gemm` (Q, K and V side by side), LayerNorms, the
//! layers with their relative-embedding projections precomputed, the
//! embedding table and the head.

use crate::config::BackboneConfig;
use crate::model::kernels::{self, matmul, Threads, View};
use crate::weights::{HostTensor, PairRmWeights};

/// `y = x · W + b` with `W` stored `[in, out]` row-major.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    pub(super) w: Vec<f32>,
    pub(super) b: Vec<f32>,
    pub(super) inp: usize,
    pub(super) out: usize,
}

impl Dense {
    /// From PyTorch Linears (`[out, in]` each) sharing an input: their outputs side by side.
    pub(super) fn from_torch(parts: &[(HostTensor, HostTensor)]) -> Self {
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
        Self { w, b, inp, out }
    }

    pub(super) fn weight(&self) -> View<'_> {
        View::new(&self.w, 0, self.inp, self.out, self.out)
    }

    /// `dst (+)= x · W` over `rows` rows; the bias is left to the caller's fused pass.
    pub(super) fn product(&self, x: &[f32], rows: usize, dst: &mut [f32], accumulate: bool) {
        let x = View::new(x, 0, rows, self.inp, self.inp);
        matmul(dst, self.out, x, self.weight(), accumulate, Threads::All);
    }
}

#[derive(Debug, Clone)]
pub(super) struct Norm {
    pub(super) gamma: Vec<f32>,
    pub(super) beta: Vec<f32>,
    pub(super) eps: f32,
}

impl Norm {
    pub(super) fn new(weights: &mut PairRmWeights, name: &str, eps: f64) -> Self {
        Self {
            gamma: weights.take(&format!("{name}.weight")).data,
            beta: weights.take(&format!("{name}.bias")).data,
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
pub struct CpuLayer {
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

impl CpuLayer {
    /// Takes layer `i`'s tensors out of `weights`; `rel` is the normalised
    /// relative-embedding table `[2·span, hidden]`.
    pub fn load(
        i: usize,
        config: &BackboneConfig,
        weights: &mut PairRmWeights,
        rel: &[f32],
    ) -> Self {
        let mut linear = |name: &str| {
            (
                weights.take(&format!("layer.{i}.{name}.weight")),
                weights.take(&format!("layer.{i}.{name}.bias")),
            )
        };
        let (q, k, v) = (linear("query"), linear("key"), linear("value"));
        let (o, fi, fo) = (linear("attn_out"), linear("ffn_in"), linear("ffn_out"));
        let h = config.hidden_size;
        let rows = rel.len() / h;
        let project = |p: &(HostTensor, HostTensor)| {
            let d = Dense::from_torch(std::slice::from_ref(p));
            let mut out = vec![0.0f32; rows * h];
            d.product(rel, rows, &mut out, false);
            kernels::add_bias(&mut out, &d.b);
            out
        };
        let (pos_key, pos_query) = (project(&k), project(&q));
        let eps = config.layer_norm_eps;
        Self {
            qkv: Dense::from_torch(&[q, k, v]),
            pos_key,
            pos_query,
            attn_out: Dense::from_torch(&[o]),
            attn_ln: Norm::new(weights, &format!("layer.{i}.attn_ln"), eps),
            ffn_in: Dense::from_torch(&[fi]),
            ffn_out: Dense::from_torch(&[fo]),
            ffn_ln: Norm::new(weights, &format!("layer.{i}.ffn_ln"), eps),
        }
    }
}

/// The relative-embedding table after the encoder's LayerNorm, `[2·span, hidden]`.
pub fn normalized_rel_embeddings(config: &BackboneConfig, weights: &mut PairRmWeights) -> Vec<f32> {
    let norm = Norm::new(weights, "rel_ln", config.layer_norm_eps);
    let mut rel = weights.take("rel_embeddings").data;
    norm.apply(&mut rel, &[]);
    rel
}

/// Embedding table (host), its LayerNorm, and the head.
#[derive(Debug, Clone)]
pub struct CpuEmbeddings {
    pub(super) table: Vec<f32>,
    pub(super) norm: Norm,
}

impl CpuEmbeddings {
    pub fn load(config: &BackboneConfig, weights: &mut PairRmWeights) -> Self {
        Self {
            table: weights.take("word_embeddings").data,
            norm: Norm::new(weights, "embeddings_ln", config.layer_norm_eps),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CpuHead {
    pub(super) dense: Dense,
    pub(super) out: Dense,
}

impl CpuHead {
    pub fn load(weights: &mut PairRmWeights) -> Self {
        let mut linear = |name: &str| {
            Dense::from_torch(&[(
                weights.take(&format!("head.{name}.weight")),
                weights.take(&format!("head.{name}.bias")),
            )])
        };
        Self {
            dense: linear("dense"),
            out: linear("out"),
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
