//! DeBERTa-v2/v3 attention, as transformers v4.35.2 `modeling_deberta_v2.py`
//! builds it: `DisentangledSelfAttention` (L612–L830: content→content,
//! content→position, position→content), `DebertaV2SelfOutput` (L262–L273) and
//! `DebertaV2Attention` (L277–L310), which joins the two.

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{activation, Device, FloatDType, Int, Tensor, TensorData};

use super::params::{norm, Ctx};
use crate::model::relative::BucketTable;
use crate::weights::{LinearTensors, NormTensors};

/// Position indices for one padded length, ready for `gather`.
pub struct RelativeIndex {
    /// `δ(i - j)` at `[i][j]`, for content→position.
    pub c2p: Tensor<4, Int>,
    /// `δ(j - i)`-transposed: `δ(i - j)` at `[j][i]`, for position→content.
    pub p2c: Tensor<4, Int>,
}

impl RelativeIndex {
    pub fn new(table: &BucketTable, len: usize, device: &Device) -> Self {
        let idx = table.index(len);
        let mut transposed = vec![0i64; len * len];
        for i in 0..len {
            for j in 0..len {
                transposed[j * len + i] = idx[i * len + j];
            }
        }
        let make =
            |v: Vec<i64>| Tensor::<4, Int>::from_data(TensorData::new(v, [1, 1, len, len]), device);
        Self {
            c2p: make(idx),
            p2c: make(transposed),
        }
    }
}

/// `DisentangledSelfAttention` with `share_att_key: true` (the relative
/// embeddings are projected by the layer's own query/key weights) and
/// `pos_att_type: p2c|c2p`.
#[derive(Module, Debug)]
pub struct DisentangledSelfAttention {
    pub query_proj: Linear,
    pub key_proj: Linear,
    pub value_proj: Linear,
    pub num_attention_heads: usize,
    /// `key_proj(rel_embeddings)` per head, transposed: `[1, heads, head_dim, 2·span]`.
    /// HF recomputes it in every forward (`disentangled_attention_bias`,
    /// L750–L830); it depends only on weights, so it is computed once at load.
    pos_key_t: Tensor<4>,
    /// `query_proj(rel_embeddings)` per head, transposed, likewise.
    pos_query_t: Tensor<4>,
}

impl DisentangledSelfAttention {
    /// `rel` is the encoder's normalised relative-embedding table `[2·span, hidden]`.
    pub(crate) fn load(
        (query, key, value): (LinearTensors, LinearTensors, LinearTensors),
        rel: &Tensor<2>,
        ctx: Ctx,
    ) -> Self {
        let heads = ctx.heads;
        let (query_proj, key_proj, value_proj) =
            (ctx.linear(query), ctx.linear(key), ctx.linear(value));
        let [rows, hidden] = rel.dims();
        let per_head_t = |proj: &Linear| {
            proj.forward(rel.clone())
                .reshape([1, rows, heads, hidden / heads])
                .swap_dims(1, 2)
                .swap_dims(2, 3)
        };
        Self {
            pos_key_t: per_head_t(&key_proj),
            pos_query_t: per_head_t(&query_proj),
            query_proj,
            key_proj,
            value_proj,
            num_attention_heads: heads,
        }
    }

    /// One value of the projections computed at load: reading it back waits
    /// for the device to finish them (see [`crate::model::ModelBuilder::settle`]).
    pub(crate) fn load_probe(&self) -> Tensor<1> {
        self.pos_query_t.clone().flatten::<1>(0, 3).slice(0..1)
    }

    /// `transpose_for_scores`: `[b, l, hidden]` → `[b, heads, l, head_dim]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, l, h] = x.dims();
        let heads = self.num_attention_heads;
        x.reshape([b, l, heads, h / heads]).swap_dims(1, 2)
    }

    /// `x`: `[batch, len, hidden]`; `mask_bias`: `[batch, 1, 1, len]` (0 or a large negative).
    /// Heads are processed in groups so that no score tensor exceeds
    /// [`crate::model::SCORE_BUDGET`] elements.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        let [b, l, hidden] = x.dims();
        let heads = self.num_attention_heads;
        let q = self.split_heads(self.query_proj.forward(x.clone()));
        let k = self.split_heads(self.key_proj.forward(x.clone()));
        let v = self.split_heads(self.value_proj.forward(x));
        let group = (crate::model::SCORE_BUDGET / (b * l * l).max(1)).clamp(1, heads);
        let mut contexts = Vec::with_capacity(heads.div_ceil(group));
        for start in (0..heads).step_by(group) {
            let end = (start + group).min(heads);
            let part = |t: &Tensor<4>| t.clone().slice([0..t.dims()[0], start..end]);
            contexts.push(self.attend(
                [part(&q), part(&k), part(&v)],
                [part(&self.pos_key_t), part(&self.pos_query_t)],
                mask_bias.clone(),
                rel_index,
            ));
        }
        let ctx = if contexts.len() == 1 {
            contexts.pop().expect("one group")
        } else {
            Tensor::cat(contexts, 1)
        };
        ctx.swap_dims(1, 2).reshape([b, l, hidden])
    }

    /// Attention for a group of heads: `[batch, heads, len, head_dim]` in and
    /// out. Scores are `(c2c + c2p + p2c) / sqrt(3 · head_dim)` (L712–L733:
    /// one scale factor per term), plus the mask bias, then softmax.
    fn attend(
        &self,
        [q, k, v]: [Tensor<4>; 3],
        [pos_key_t, pos_query_t]: [Tensor<4>; 2],
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<4> {
        let [b, h, l, d] = q.dims();
        let full = [b, h, l, l];
        let scale = 1.0 / ((d * 3) as f64).sqrt();
        let c2c = q.clone().matmul(k.clone().swap_dims(2, 3));
        let c2p = q
            .matmul(pos_key_t)
            .gather(3, rel_index.c2p.clone().expand(full));
        let p2c = k
            .matmul(pos_query_t)
            .gather(3, rel_index.p2c.clone().expand(full))
            .swap_dims(2, 3);
        // Softmax in f32 (the mask bias is f32, and f16 would round the
        // exponentials' sum), its weights back in the values' dtype.
        let dtype = FloatDType::from(v.dtype());
        let scores = ((c2c + c2p + p2c) * scale).cast(FloatDType::F32) + mask_bias;
        activation::softmax(scores, 3).cast(dtype).matmul(v)
    }
}

/// `DebertaV2SelfOutput`: `LayerNorm(dense(context) + input)`.
#[derive(Module, Debug)]
pub struct DebertaV2SelfOutput {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl DebertaV2SelfOutput {
    pub fn forward(&self, hidden: Tensor<3>, input: Tensor<3>) -> Tensor<3> {
        norm(&self.layer_norm, self.dense.forward(hidden) + input)
    }
}

/// `DebertaV2Attention`: self-attention, then its output projection.
/// (HF names the first field `self`, a Rust keyword.)
#[derive(Module, Debug)]
pub struct DebertaV2Attention {
    pub self_attention: DisentangledSelfAttention,
    pub output: DebertaV2SelfOutput,
}

impl DebertaV2Attention {
    /// From a layer's attention tensors: Q, K, V, the output projection and
    /// its LayerNorm.
    pub(crate) fn load(
        qkv: (LinearTensors, LinearTensors, LinearTensors),
        (attn_out, attn_ln): (LinearTensors, NormTensors),
        rel: &Tensor<2>,
        ctx: Ctx,
    ) -> Self {
        Self {
            self_attention: DisentangledSelfAttention::load(qkv, rel, ctx),
            output: DebertaV2SelfOutput {
                dense: ctx.linear(attn_out),
                layer_norm: ctx.layer_norm(attn_ln),
            },
        }
    }

    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        let context = self.self_attention.forward(x.clone(), mask_bias, rel_index);
        self.output.forward(context, x)
    }
}
