//! `DebertaV2Embeddings` (transformers v4.35.2 `modeling_deberta_v2.py`
//! L834–L907): word embeddings → LayerNorm → × mask. PairRM's backbone has no
//! absolute positions (`position_biased_input: false`) and no token types.
//!
//! The table stays in host memory and rows are gathered there: the full PairRM
//! table (128005 × 1024 f32 = 524 MB) is larger than WebGPU's default
//! storage-binding limit, and a lookup is a copy.

use burn::module::Module;
use burn::nn::LayerNorm;
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::params::PartWeights;

/// `nn.Embedding`'s weight, kept on the host (see the module docs).
#[derive(Debug, Clone)]
pub struct HostTable {
    rows: Vec<f32>,
    width: usize,
}

#[derive(Module, Debug)]
pub struct DebertaV2Embeddings {
    #[module(skip)]
    pub word_embeddings: HostTable,
    pub layer_norm: LayerNorm,
}

impl DebertaV2Embeddings {
    /// From the globals part (`word_embeddings`, `embeddings_ln.*`).
    pub(crate) fn load(w: &mut PartWeights) -> Self {
        let table = w.take("word_embeddings");
        Self {
            word_embeddings: HostTable {
                width: table.shape[1],
                rows: table.data,
            },
            layer_norm: w.layer_norm("embeddings_ln"),
        }
    }

    pub fn vocab_size(&self) -> usize {
        self.word_embeddings.rows.len() / self.word_embeddings.width
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
        let h = self.word_embeddings.width;
        let mut rows = Vec::with_capacity(ids.len() * h);
        for &id in ids {
            let start = id as usize * h;
            rows.extend_from_slice(&self.word_embeddings.rows[start..start + h]);
        }
        let x = Tensor::<3>::from_data(TensorData::new(rows, [batch, len, h]), device);
        let mask = Tensor::<3>::from_data(TensorData::new(mask.to_vec(), [batch, len, 1]), device);
        self.layer_norm.forward(x) * mask
    }
}
