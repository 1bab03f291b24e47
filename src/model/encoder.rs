//! `DebertaV2Encoder` (transformers v4.35.2 `modeling_deberta_v2.py`
//! L416–L546) and `DebertaV2Model` (L1002–L1110): post-LN layers sharing one
//! relative-embedding table, normalised by the encoder's LayerNorm
//! (`norm_rel_ebd: layer_norm`).

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::attention::RelativeIndex;
use crate::model::embeddings::DebertaV2Embeddings;
use crate::model::layer::DebertaV2Layer;
use crate::model::params::PartWeights;
use crate::model::relative::BucketTable;

/// Added to attention scores of padding keys: softmax gives them exactly zero weight.
const MASKED: f32 = -1.0e9;

#[derive(Module, Debug)]
pub struct DebertaV2Encoder {
    pub layer: Vec<DebertaV2Layer>,
    pub rel_embeddings: Param<Tensor<2>>,
    pub layer_norm: LayerNorm,
}

impl DebertaV2Encoder {
    /// The encoder's own tensors (globals part: `rel_embeddings`, `rel_ln.*`);
    /// layers are pushed one by one as their parts arrive.
    pub(crate) fn load_globals(w: &mut PartWeights) -> Self {
        Self {
            layer: Vec::new(),
            rel_embeddings: Param::from_tensor(w.tensor("rel_embeddings")),
            layer_norm: w.layer_norm("rel_ln"),
        }
    }

    /// `get_rel_embedding`: the table every layer projects.
    pub fn rel_embedding(&self) -> Tensor<2> {
        self.layer_norm.forward(self.rel_embeddings.val())
    }

    /// `x`: the embeddings `[batch, len, hidden]`; row `k` has `lengths[k]`
    /// real tokens, then padding. First what HF's forward builds: the attention
    /// mask (`get_attention_mask`, L452; here a bias on padding keys, which is
    /// what `XSoftmax` amounts to for every row that is read) and the relative
    /// positions (`get_rel_pos`, L461).
    pub fn forward(&self, mut x: Tensor<3>, lengths: &[usize], buckets: &BucketTable) -> Tensor<3> {
        let [n, len, _] = x.dims();
        let device = x.device();
        let bias: Vec<f32> = lengths
            .iter()
            .flat_map(|&real| {
                std::iter::repeat_n(0.0f32, real).chain(std::iter::repeat_n(MASKED, len - real))
            })
            .collect();
        let mask_bias = Tensor::<4>::from_data(TensorData::new(bias, [n, 1, 1, len]), &device);
        let rel_index = RelativeIndex::new(buckets, len, &device);
        for layer in &self.layer {
            x = layer.forward(x, mask_bias.clone(), &rel_index);
        }
        x
    }
}

/// `DebertaV2Model`: embeddings, then the encoder; returns the last hidden states.
#[derive(Module, Debug)]
pub struct DebertaV2Model {
    pub embeddings: DebertaV2Embeddings,
    pub encoder: DebertaV2Encoder,
}

impl DebertaV2Model {
    /// `ids` row-major `[batch, len]`, each row `lengths[k]` real tokens then
    /// padding; padding rows are zeroed and never read.
    pub fn forward(
        &self,
        ids: &[u32],
        lengths: &[usize],
        len: usize,
        buckets: &BucketTable,
        device: &Device,
    ) -> Tensor<3> {
        let mask: Vec<f32> = lengths
            .iter()
            .flat_map(|&real| {
                std::iter::repeat_n(1.0f32, real).chain(std::iter::repeat_n(0.0, len - real))
            })
            .collect();
        let x = self
            .embeddings
            .forward(ids, &mask, lengths.len(), len, device);
        self.encoder.forward(x, lengths, buckets)
    }
}
