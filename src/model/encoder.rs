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

#[derive(Debug, Clone)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// Takes the layer and relative-embedding tensors out of `weights`.
    pub fn load(config: &BackboneConfig, weights: &mut PairRmWeights, device: &Device) -> Self {
        let eps = config.layer_norm_eps;
        let rel_ln = LayerNorm::new(
            &weights.take("rel_ln.weight"),
            &weights.take("rel_ln.bias"),
            eps,
            device,
        );
        // Normalised once; every layer projects it with its own query/key weights.
        let rel: Tensor<2> = rel_ln.forward(upload(&weights.take("rel_embeddings"), device));
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let mut t = |name: &str| weights.take(&format!("layer.{i}.{name}"));
                let mut linear = |name: &str| {
                    let (w, b) = (t(&format!("{name}.weight")), t(&format!("{name}.bias")));
                    Linear::from_torch(&w, &b, device)
                };
                let (query, key, value) = (linear("query"), linear("key"), linear("value"));
                let attn_out = linear("attn_out");
                let ffn_in = linear("ffn_in");
                let ffn_out = linear("ffn_out");
                let mut norm = |name: &str| {
                    let (g, b) = (
                        weights.take(&format!("layer.{i}.{name}.weight")),
                        weights.take(&format!("layer.{i}.{name}.bias")),
                    );
                    LayerNorm::new(&g, &b, eps, device)
                };
                EncoderLayer {
                    attention: DisentangledAttention::new(
                        query,
                        key,
                        value,
                        &rel,
                        config.num_attention_heads,
                    ),
                    attn_out,
                    attn_ln: norm("attn_ln"),
                    ffn_in,
                    ffn_out,
                    ffn_ln: norm("ffn_ln"),
                }
            })
            .collect();
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
