//! The PairRM network on a burn [`Device`]: embeddings → DeBERTa-v3 encoder →
//! PairRM head. Input is already assembled ([`crate::segments::PairInput`]);
//! output is one logit per comparison, still on the device.

pub mod attention;
pub mod embeddings;
pub mod encoder;
pub mod head;
pub mod nn;

use burn::tensor::{Device, Tensor, TensorData};

use crate::config::{BackboneConfig, PairRmConfig};
use crate::error::{Error, Result};
use crate::segments::PairInput;
use crate::weights::PairRmWeights;
use attention::{BucketTable, RelativeIndex};
use embeddings::Embeddings;
use encoder::{normalized_rel_embeddings, Encoder, EncoderLayer};
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

/// Builds a [`PairRmModel`] part by part, in [`load_groups`] order, so that a
/// caller streaming weights (a browser) holds one part's host tensors at a time.
pub struct ModelBuilder {
    config: PairRmConfig,
    pad_id: u32,
    device: Device,
    embeddings: Option<Embeddings>,
    rel: Option<Tensor<2>>,
    layers: Vec<EncoderLayer>,
    head: Option<PairRmHead>,
}

impl ModelBuilder {
    pub fn new(config: &PairRmConfig, pad_id: u32, device: &Device) -> Self {
        Self {
            config: config.clone(),
            pad_id,
            device: device.clone(),
            embeddings: None,
            rel: None,
            layers: Vec::new(),
            head: None,
        }
    }

    /// Consume the next group's tensors from `weights` (see [`load_groups`]).
    pub fn add_group(&mut self, weights: &mut PairRmWeights) {
        let (bb, device) = (&self.config.backbone, &self.device);
        if self.embeddings.is_none() {
            let ln = LayerNorm::new(
                &weights.take("embeddings_ln.weight"),
                &weights.take("embeddings_ln.bias"),
                bb.layer_norm_eps,
                device,
            );
            self.embeddings = Some(Embeddings::new(weights.take("word_embeddings"), ln));
            self.rel = Some(normalized_rel_embeddings(bb, weights, device));
        } else if self.layers.len() < bb.num_hidden_layers {
            let rel = self.rel.as_ref().expect("globals come first");
            let layer = EncoderLayer::load(self.layers.len(), bb, weights, rel, device);
            self.layers.push(layer);
        } else {
            let mut linear = |name: &str| {
                let (w, b) = (
                    weights.take(&format!("{name}.weight")),
                    weights.take(&format!("{name}.bias")),
                );
                Linear::from_torch(&w, &b, device)
            };
            self.head = Some(PairRmHead::new(linear("head.dense"), linear("head.out")));
        }
    }

    pub fn finish(self) -> Result<PairRmModel> {
        let incomplete =
            || Error::Weights("the model was built from an incomplete set of tensors".into());
        let longest = self.config.source_maxlength
            + 2 * (self.config.candidate_maxlength + self.config.source_maxlength / 2);
        if self.layers.len() != self.config.backbone.num_hidden_layers {
            return Err(incomplete());
        }
        Ok(PairRmModel {
            embeddings: self.embeddings.ok_or_else(incomplete)?,
            encoder: Encoder::new(self.layers),
            head: self.head.ok_or_else(incomplete)?,
            buckets: BucketTable::new(&self.config.backbone, longest),
            pad_id: self.pad_id,
            device: self.device,
        })
    }
}

/// Our tensor names grouped in load order: globals (embeddings and relative
/// embeddings), then one group per layer, then the head.
pub fn load_groups(config: &BackboneConfig) -> Vec<Vec<String>> {
    let names = crate::weights::tensor_names(config);
    let mut groups = vec![Vec::new(); config.num_hidden_layers + 2];
    for name in names {
        let g = if let Some(rest) = name.strip_prefix("layer.") {
            1 + rest
                .split('.')
                .next()
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(0)
        } else if name.starts_with("head.") {
            config.num_hidden_layers + 1
        } else {
            0
        };
        groups[g].push(name);
    }
    groups
}

impl PairRmModel {
    /// Upload checked weights to `device`.
    pub fn load(
        config: &PairRmConfig,
        mut weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        let mut builder = ModelBuilder::new(config, pad_id, device);
        for _ in load_groups(&config.backbone) {
            builder.add_group(&mut weights);
        }
        builder.finish()
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
                    .chain(std::iter::repeat_n(self.pad_id, pad)),
            );
            mask.extend(
                std::iter::repeat_n(1.0f32, pair.ids.len()).chain(std::iter::repeat_n(0.0, pad)),
            );
            bias.extend(
                std::iter::repeat_n(0.0f32, pair.ids.len()).chain(std::iter::repeat_n(MASKED, pad)),
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
