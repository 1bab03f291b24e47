//! The PairRM network on a burn [`Device`]: embeddings → DeBERTa-v3 encoder →
//! PairRM head. Input is already assembled ([`crate::segments::PairInput`]);
//! output is one logit per comparison, still on the device.

pub mod attention;
pub mod embeddings;
pub mod encoder;
pub mod head;
pub mod nn;

use burn::tensor::{Device, Tensor, TensorData};

use crate::config::PairRmConfig;
use crate::error::{Error, Result};
use crate::segments::PairInput;
use crate::weights::PairRmWeights;
use attention::{BucketTable, RelativeIndex};
use embeddings::Embeddings;
use encoder::Encoder;
use head::PairRmHead;
use nn::{LayerNorm, Linear};

/// Largest attention-score tensor computed at once, in f32 elements (128 MiB):
/// within WebGPU's default storage-binding limit and lavapipe's allocations.
/// Batches and heads are split to stay below it.
pub const SCORE_BUDGET: usize = 32 * 1024 * 1024;

/// Added to attention scores of padding keys: softmax gives them exactly zero weight.
const MASKED: f32 = -1.0e9;

#[derive(Debug, Clone)]
pub struct PairRmModel {
    embeddings: Embeddings,
    encoder: Encoder,
    head: PairRmHead,
    buckets: BucketTable,
    pad_id: u32,
    device: Device,
}

impl PairRmModel {
    /// Upload checked weights to `device`.
    pub fn load(
        config: &PairRmConfig,
        mut weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
    ) -> Self {
        let bb = &config.backbone;
        let eps = bb.layer_norm_eps;
        let emb_ln = LayerNorm::new(
            &weights.take("embeddings_ln.weight"),
            &weights.take("embeddings_ln.bias"),
            eps,
            device,
        );
        let embeddings = Embeddings::new(weights.take("word_embeddings"), emb_ln);
        let encoder = Encoder::load(bb, &mut weights, device);
        let mut linear = |name: &str| {
            let (w, b) = (
                weights.take(&format!("{name}.weight")),
                weights.take(&format!("{name}.bias")),
            );
            Linear::from_torch(&w, &b, device)
        };
        let head = PairRmHead::new(linear("head.dense"), linear("head.out"));
        let longest = config.source_maxlength
            + 2 * (config.candidate_maxlength + config.source_maxlength / 2);
        Self {
            embeddings,
            encoder,
            head,
            buckets: BucketTable::new(bb, longest),
            pad_id,
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn vocab_size(&self) -> usize {
        self.embeddings.vocab_size
    }

    /// Logits of a batch of comparisons, padded to the longest. `[batch]` on the device.
    pub fn forward(&self, batch: &[PairInput]) -> Result<Tensor<1>> {
        if batch.is_empty() {
            return Err(Error::Input("empty batch".into()));
        }
        let len = batch.iter().map(|p| p.ids.len()).max().unwrap_or(0);
        let n = batch.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        let mut bias = Vec::with_capacity(n * len);
        for pair in batch {
            if let Some(&bad) = pair
                .ids
                .iter()
                .find(|&&id| id as usize >= self.vocab_size())
            {
                return Err(Error::Input(format!(
                    "token id {bad} is outside the embedding table ({} rows): tokenizer and weights do not match",
                    self.vocab_size()
                )));
            }
            let pad = len - pair.ids.len();
            ids.extend(
                pair.ids
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(self.pad_id).take(pad)),
            );
            mask.extend(
                std::iter::repeat(1.0f32)
                    .take(pair.ids.len())
                    .chain(std::iter::repeat(0.0).take(pad)),
            );
            bias.extend(
                std::iter::repeat(0.0f32)
                    .take(pair.ids.len())
                    .chain(std::iter::repeat(MASKED).take(pad)),
            );
        }
        let x = self.embeddings.forward(&ids, &mask, n, len, &self.device);
        let mask_bias = Tensor::<4>::from_data(TensorData::new(bias, [n, 1, 1, len]), &self.device);
        let rel_index = RelativeIndex::new(&self.buckets, len, &self.device);
        let hidden = self.encoder.forward(x, mask_bias, &rel_index);
        let markers: Vec<[usize; 3]> = batch.iter().map(|p| p.markers).collect();
        Ok(self.head.forward(hidden, &markers, &self.device))
    }
}
