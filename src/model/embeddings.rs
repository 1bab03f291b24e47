//! Word embeddings + LayerNorm. The table stays in host memory and rows are
//! gathered there: the full PairRM table (128005 × 1024 f32 = 524 MB) is
//! larger than WebGPU's default storage-binding limit, and a lookup is a copy.

use burn::tensor::{Device, Tensor, TensorData};

use crate::model::nn::LayerNorm;
use crate::weights::HostTensor;

#[derive(Debug, Clone)]
pub struct Embeddings {
    table: Vec<f32>,
    hidden: usize,
    pub vocab_size: usize,
    norm: LayerNorm,
}

impl Embeddings {
    pub fn new(table: HostTensor, norm: LayerNorm) -> Self {
        let (vocab_size, hidden) = (table.shape[0], table.shape[1]);
        Self {
            table: table.data,
            hidden,
            vocab_size,
            norm,
        }
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
        let h = self.hidden;
        let mut rows = Vec::with_capacity(ids.len() * h);
        for &id in ids {
            let start = id as usize * h;
            rows.extend_from_slice(&self.table[start..start + h]);
        }
        let x = Tensor::<3>::from_data(TensorData::new(rows, [batch, len, h]), device);
        let mask = Tensor::<3>::from_data(TensorData::new(mask.to_vec(), [batch, len, 1]), device);
        self.norm.forward(x) * mask
    }
}
