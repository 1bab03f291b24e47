//! `DebertaV2Embeddings` (transformers v4.35.2 `modeling_deberta_v2.py`
//! L834–L907): word embeddings → LayerNorm → × mask. PairRM's backbone has no
//! absolute positions (`position_biased_input: false`) and no token types.
//!
//! The table stays in host memory and rows are gathered there: the full PairRM
//! table (128005 × 1024 f32 = 524 MB) is larger than WebGPU's default
//! storage-binding limit, and a lookup is a copy. An int8 table stays int8
//! (131 MB) and only the looked-up rows are dequantized.

use burn::module::Module;
use burn::nn::LayerNorm;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};

use super::params::Ctx;
use crate::weights::{NormTensors, Weight};

#[derive(Module, Debug)]
pub struct DebertaV2Embeddings {
    /// `nn.Embedding`'s weight, kept on the host in its loaded dtype (see
    /// the module docs).
    #[module(skip)]
    pub word_embeddings: Weight,
    pub layer_norm: LayerNorm,
    /// The layers' dtype, which the embeddings are handed on in.
    #[module(skip)]
    pub dtype: FloatDType,
}

impl DebertaV2Embeddings {
    /// From the globals' table and its LayerNorm.
    pub(crate) fn load(table: Weight, norm: NormTensors, ctx: Ctx) -> Self {
        Self {
            word_embeddings: table,
            layer_norm: ctx.layer_norm(norm),
            dtype: ctx.dtype,
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.word_embeddings.dims().0
    }

    /// `ids`: row-major `[batch, len]` (ids already checked `< vocab_size`);
    /// `mask`: 1 for real tokens, 0 for padding, same layout.
    pub fn forward(
        &self,
        ids: &[u32],
        mask: &[f32],
        batch: usize,
        len: usize,
        device: &Device,
    ) -> Tensor<3> {
        let h = self.word_embeddings.dims().1;
        let mut rows = vec![0.0; ids.len() * h];
        for (&id, row) in ids.iter().zip(rows.chunks_exact_mut(h)) {
            self.word_embeddings.row_into(id as usize, row);
        }
        let x = Tensor::<3>::from_data(TensorData::new(rows, [batch, len, h]), device);
        let mask = Tensor::<3>::from_data(TensorData::new(mask.to_vec(), [batch, len, 1]), device);
        (self.layer_norm.forward(x) * mask).cast(self.dtype)
    }
}
