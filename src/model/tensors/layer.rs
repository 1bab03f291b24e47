//! One encoder layer as transformers v4.35.2 `modeling_deberta_v2.py` builds
//! it: `DebertaV2Intermediate` (L314–L326), `DebertaV2Output` (L330–L342) and
//! `DebertaV2Layer` (L346–L377): attention, then the feed-forward block, each
//! with a residual and a post-LayerNorm.

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{activation, Tensor};

use super::attention::{DebertaV2Attention, RelativeIndex};
use super::params::{norm, Ctx};
use crate::weights::LayerTensors;

/// `DebertaV2Intermediate`: `gelu(dense(x))` (exact erf GELU, `hidden_act: gelu`).
#[derive(Module, Debug)]
pub struct DebertaV2Intermediate {
    pub dense: Linear,
}

impl DebertaV2Intermediate {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        activation::gelu(self.dense.forward(x))
    }
}

/// `DebertaV2Output`: `LayerNorm(dense(intermediate) + attention_output)`.
#[derive(Module, Debug)]
pub struct DebertaV2Output {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl DebertaV2Output {
    pub fn forward(&self, hidden: Tensor<3>, input: Tensor<3>) -> Tensor<3> {
        norm(&self.layer_norm, self.dense.forward(hidden) + input)
    }
}

#[derive(Module, Debug)]
pub struct DebertaV2Layer {
    pub attention: DebertaV2Attention,
    pub intermediate: DebertaV2Intermediate,
    pub output: DebertaV2Output,
}

impl DebertaV2Layer {
    /// From one layer's tensors; `rel` is the encoder's normalised
    /// relative-embedding table.
    pub(crate) fn load(l: LayerTensors, rel: &Tensor<2>, ctx: Ctx) -> Self {
        Self {
            attention: DebertaV2Attention::load(
                (l.query, l.key, l.value),
                (l.attn_out, l.attn_ln),
                rel,
                ctx,
            ),
            intermediate: DebertaV2Intermediate {
                dense: ctx.linear(l.ffn_in),
            },
            output: DebertaV2Output {
                dense: ctx.linear(l.ffn_out),
                layer_norm: ctx.layer_norm(l.ffn_ln),
            },
        }
    }

    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        let attention_output = self.attention.forward(x, mask_bias, rel_index);
        let intermediate = self.intermediate.forward(attention_output.clone());
        self.output.forward(intermediate, attention_output)
    }
}
