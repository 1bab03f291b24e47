//! The DeBERTa-v3 encoder: post-LN transformer layers sharing one normalised
//! relative-embedding table.

use burn::tensor::{activation, Device, Tensor};

use crate::config::BackboneConfig;
use crate::model::attention::{DisentangledAttention, RelativeIndex};
use crate::model::nn::{upload, LayerNorm, Linear};
use crate::weights::PairRmWeights;

#[derive(Debug, Clone)]
pub struct EncoderLayer {
    attention: DisentangledAttention,
    attn_out: Linear,
    attn_ln: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    ffn_ln: LayerNorm,
}

impl EncoderLayer {
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        let ctx = self.attention.forward(x.clone(), mask_bias, rel_index);
        let a = self.attn_ln.forward(self.attn_out.forward3(ctx) + x);
        let inner = activation::gelu(self.ffn_in.forward3(a.clone()));
        self.ffn_ln.forward(self.ffn_out.forward3(inner) + a)
    }
}

/// The relative-embedding table after the encoder's LayerNorm: computed once,
/// then projected by every layer's own query/key weights.
pub fn normalized_rel_embeddings(
    config: &BackboneConfig,
    weights: &mut PairRmWeights,
    device: &Device,
) -> Tensor<2> {
    let rel_ln = LayerNorm::new(
        &weights.take("rel_ln.weight"),
        &weights.take("rel_ln.bias"),
        config.layer_norm_eps,
        device,
    );
    rel_ln.forward(upload(&weights.take("rel_embeddings"), device))
}

impl EncoderLayer {
    /// Takes layer `i`'s tensors out of `weights`.
    pub fn load(
        i: usize,
        config: &BackboneConfig,
        weights: &mut PairRmWeights,
        rel: &Tensor<2>,
        device: &Device,
    ) -> Self {
        let mut take = |name: &str| weights.take(&format!("layer.{i}.{name}"));
        let mut linear = |name: &str| {
            let (w, b) = (
                take(&format!("{name}.weight")),
                take(&format!("{name}.bias")),
            );
            Linear::from_torch(&w, &b, device)
        };
        let (query, key, value) = (linear("query"), linear("key"), linear("value"));
        let (attn_out, ffn_in, ffn_out) = (linear("attn_out"), linear("ffn_in"), linear("ffn_out"));
        let mut norm = |name: &str| {
            let (g, b) = (
                take(&format!("{name}.weight")),
                take(&format!("{name}.bias")),
            );
            LayerNorm::new(&g, &b, config.layer_norm_eps, device)
        };
        let (attn_ln, ffn_ln) = (norm("attn_ln"), norm("ffn_ln"));
        Self {
            attention: DisentangledAttention::new(
                query,
                key,
                value,
                rel,
                config.num_attention_heads,
            ),
            attn_out,
            attn_ln,
            ffn_in,
            ffn_out,
            ffn_ln,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub fn new(layers: Vec<EncoderLayer>) -> Self {
        Self { layers }
    }

    pub fn forward(
        &self,
        mut x: Tensor<3>,
        mask_bias: Tensor<4>,
        rel_index: &RelativeIndex,
    ) -> Tensor<3> {
        for layer in &self.layers {
            x = layer.forward(x, mask_bias.clone(), rel_index);
        }
        x
    }
}
