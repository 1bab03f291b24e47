//! The network as burn modules, computed by burn's tensor ops on any burn
//! device (wgpu natively and in browsers; burn's CPU backend for tests and
//! the bench). The modules mirror the Hugging Face ones one to one:
//!
//! ```text
//! DebertaV2PairRm                       pairrm.rs   (LLM-Blender's DebertaV2PairRM)
//! ├── pretrained_model: DebertaV2Model  encoder.rs
//! │   ├── embeddings: DebertaV2Embeddings           embeddings.rs
//! │   └── encoder: DebertaV2Encoder                 encoder.rs
//! │       └── layer[i]: DebertaV2Layer              layer.rs
//! │           ├── attention: DebertaV2Attention     attention.rs
//! │           │   ├── self_attention: DisentangledSelfAttention
//! │           │   └── output: DebertaV2SelfOutput
//! │           ├── intermediate: DebertaV2Intermediate
//! │           └── output: DebertaV2Output
//! └── head_layer: PairRmHead
//! ```

pub mod attention;
pub mod embeddings;
pub mod encoder;
pub mod layer;
pub mod pairrm;
mod params;

use burn::tensor::{Device, FloatDType, Tensor};

use crate::config::BackboneConfig;
use crate::error::{Error, Result};
use crate::model::relative::BucketTable;
use crate::segments::PairInput;
use crate::weights::{HeadTensors, HostTensor, LayerTensors, NormTensors, Weight};
use embeddings::DebertaV2Embeddings;
use encoder::{DebertaV2Encoder, DebertaV2Model};
use layer::DebertaV2Layer;
use pairrm::{DebertaV2PairRm, PairRmHead};
use params::{compute_dtype, Ctx};

/// The burn engine's model, the relative-position buckets it reads and the
/// device it lives on.
#[derive(Debug)]
pub struct TensorsModel {
    pub model: DebertaV2PairRm,
    pub buckets: BucketTable,
    pub pad_id: u32,
    pub device: Device,
}

impl TensorsModel {
    pub fn vocab_size(&self) -> usize {
        self.model.pretrained_model.embeddings.vocab_size()
    }

    /// `logit(A, B)` per comparison, `[batch]`, on the device, in f32.
    pub fn forward(&self, batch: &[PairInput]) -> Tensor<1> {
        self.model
            .forward(batch, self.pad_id, &self.buckets, &self.device)
            .cast(FloatDType::F32)
    }

    /// [`Self::forward`], read back to the host.
    pub async fn logits(&self, batch: &[PairInput]) -> Result<Vec<f32>> {
        let data = self
            .forward(batch)
            .into_data_async()
            .await
            .map_err(|e| Error::device(format!("reading results back failed: {e:?}")))?;
        data.try_into_vec()
            .map_err(|e| Error::device(format!("unexpected result type: {e:?}")))
    }
}

/// The burn engine's side of [`crate::model::ModelBuilder`].
pub(crate) struct Builder {
    eps: f64,
    heads: usize,
    pad_id: u32,
    device: Device,
    /// The products' dtype ([`Self::set_weight_dtype`]).
    dtype: FloatDType,
    embeddings: Option<DebertaV2Embeddings>,
    /// The normalised relative-embedding table, on the device: each layer
    /// projects it at load.
    rel: Option<Tensor<2>>,
    layers: Vec<DebertaV2Layer>,
    head: Option<PairRmHead>,
}

impl Builder {
    pub(crate) fn new(config: &BackboneConfig, pad_id: u32, device: &Device) -> Self {
        Self {
            eps: config.layer_norm_eps,
            heads: config.num_attention_heads,
            pad_id,
            device: device.clone(),
            dtype: FloatDType::F32,
            embeddings: None,
            rel: None,
            layers: Vec::new(),
            head: None,
        }
    }

    /// The weights' dtype, before any group is added: f16 weights compute
    /// in f16 where the device can ([`compute_dtype`]).
    pub(crate) fn set_weight_dtype(&mut self, weights: crate::quant::WeightDtype) {
        self.dtype = compute_dtype(weights, &self.device);
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            eps: self.eps,
            heads: self.heads,
            device: &self.device,
            dtype: self.dtype,
        }
    }

    pub(crate) fn add_globals(&mut self, table: Weight, norm: NormTensors, rel: HostTensor) {
        self.embeddings = Some(DebertaV2Embeddings::load(table, norm, self.ctx()));
        self.rel = Some(self.ctx().upload(rel));
    }

    pub(crate) fn add_layer(&mut self, layer: LayerTensors) {
        let rel = self.rel.as_ref().expect("the globals come first");
        let layer = DebertaV2Layer::load(layer, rel, self.ctx());
        self.layers.push(layer);
    }

    pub(crate) fn add_head(&mut self, head: HeadTensors) {
        self.head = Some(PairRmHead::load(head, self.ctx().f32()));
    }

    /// Waits for the device's work of the groups added so far (see
    /// [`crate::model::ModelBuilder::settle`]).
    pub(crate) async fn settle(&self) -> Result<()> {
        let probe = match (self.layers.last(), &self.rel) {
            (Some(layer), _) => layer.attention.self_attention.load_probe(),
            (None, Some(rel)) => rel.clone().flatten::<1>(0, 1).slice(0..1),
            (None, None) => return Ok(()),
        };
        probe
            .into_data_async()
            .await
            .map(drop)
            .map_err(|e| Error::device(format!("the device failed while loading: {e:?}")))
    }

    /// The model, or None before the globals or the head were added.
    pub(crate) fn finish(self, buckets: BucketTable) -> Option<TensorsModel> {
        let pretrained_model = DebertaV2Model {
            embeddings: self.embeddings?,
            encoder: DebertaV2Encoder { layer: self.layers },
        };
        Some(TensorsModel {
            model: DebertaV2PairRm {
                pretrained_model,
                head_layer: self.head?,
            },
            buckets,
            pad_id: self.pad_id,
            device: self.device,
        })
    }
}
