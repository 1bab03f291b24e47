//! `DebertaV2Encoder` (transformers v4.35.2 `modeling_deberta_v2.py`
//! L416–L546) and `DebertaV2Model` (L1002–L1110): post-LN layers sharing one
//! relative-embedding table, normalised by the encoder's LayerNorm
//! (`norm_rel_ebd: layer_norm`). The table depends only on weights: it is
//! normalised once at load ([`crate::model::relative::normalized_table`]) and
//! each layer projects it then, so the encoder keeps only its layers.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

use super::attention::RelativeIndex;
use super::embeddings::DebertaV2Embeddings;
use super::layer::DebertaV2Layer;
use crate::model::relative::BucketTable;

/// Added to attention scores of padding keys: softmax gives them exactly zero weight.
const MASKED: f32 = -1.0e9;

#[derive(Module, Debug)]
pub struct DebertaV2Encoder {
    pub layer: Vec<DebertaV2Layer>,
}

impl DebertaV2Encoder {
    /// `x`: the embeddings `[batch, len, hidden]`; row `k` has `lengths[k]`
    /// real tokens, then padding. First what HF's forward builds: the attention
    /// mask (`get_attention_mask`, L452; here a bias on padding keys, which is
    /// what `XSoftmax` amounts to for every row that is read) and the relative
    /// positions (`get_rel_pos`, L461).
    pub fn forward(&self, mut x: Tensor<3>, lengths: &[usize], buckets: &BucketTable) -> Tensor<3> {
        let len = x.dims()[1];
        let device = x.device();
        let mask_bias = attention_bias(lengths, len, &device);
        let rel_index = RelativeIndex::new(buckets, len, &device);
        for layer in &self.layer {
            x = layer.forward(x, mask_bias.clone(), &rel_index);
        }
        x
    }
}

/// `[n, 1, 1, len]`: 0 on each row's `lengths[k]` real keys, [`MASKED`] on its padding.
pub(crate) fn attention_bias(lengths: &[usize], len: usize, device: &Device) -> Tensor<4> {
    let bias = per_token(lengths, len, 0.0, MASKED);
    Tensor::<4>::from_data(TensorData::new(bias, [lengths.len(), 1, 1, len]), device)
}

/// Row-major `[n, len]`: `real` on each row's `lengths[k]` real tokens, `pad` after.
fn per_token(lengths: &[usize], len: usize, real: f32, pad: f32) -> Vec<f32> {
    lengths
        .iter()
        .flat_map(|&n| std::iter::repeat_n(real, n).chain(std::iter::repeat_n(pad, len - n)))
        .collect()
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
        let mask = per_token(lengths, len, 1.0, 0.0);
        let x = self
            .embeddings
            .forward(ids, &mask, lengths.len(), len, device);
        self.encoder.forward(x, lengths, buckets)
    }
}
