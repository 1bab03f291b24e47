//! The PairRM network: embeddings → DeBERTa-v3 encoder → PairRM head. Input is
//! already assembled ([`crate::segments::PairInput`]); output is one logit per
//! comparison.
//!
//! Two engines compute it. On a burn device (wgpu, or burn's CPU backend) the
//! network is a tree of `#[derive(Module)]` structs that mirror the Hugging
//! Face modules one to one, with burn-nn's `Linear` and `LayerNorm`:
//!
//! ```text
//! DebertaV2PairRm                       pairrm.rs   (LLM-Blender's DebertaV2PairRM)
//! ├── pretrained_model: DebertaV2Model  encoder.rs
//! │   ├── embeddings: DebertaV2Embeddings           embeddings.rs
//! │   └── encoder: DebertaV2Encoder                 encoder.rs
//! │       ├── layer[i]: DebertaV2Layer              layer.rs
//! │       │   ├── attention: DebertaV2Attention     attention.rs
//! │       │   │   ├── self_attention: DisentangledSelfAttention
//! │       │   │   └── output: DebertaV2SelfOutput
//! │       │   ├── intermediate: DebertaV2Intermediate
//! │       │   └── output: DebertaV2Output
//! │       ├── rel_embeddings, layer_norm
//! └── head_layer: PairRmHead
//! ```
//!
//! On the CPU the fused engine ([`cpu`]) computes the same network on host
//! buffers, faster (its module docs say why). Relative-position buckets
//! ([`relative`]) are backend-free and shared by both.

pub mod attention;
pub mod cpu;
pub mod embeddings;
pub mod encoder;
pub mod kernels;
pub mod layer;
pub mod pairrm;
pub mod params;
pub mod relative;

use burn::tensor::{Device, Tensor};

use crate::config::{BackboneConfig, PairRmConfig};
use crate::error::{Error, Result, WeightsError};
use crate::segments::PairInput;
use crate::weights::{PairRmWeights, Part};
use embeddings::DebertaV2Embeddings;
use encoder::{DebertaV2Encoder, DebertaV2Model};
use layer::DebertaV2Layer;
use pairrm::{DebertaV2PairRm, PairRmHead};
use params::PartWeights;
use relative::BucketTable;

/// Largest attention-score tensor computed at once, in f32 elements (128 MiB):
/// within WebGPU's default storage-binding limit and lavapipe's allocations.
/// Batches and heads are split to stay below it.
pub const SCORE_BUDGET: usize = 32 * 1024 * 1024;

/// How the forward pass is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// burn tensor ops on the model's device (any burn backend: wgpu, Flex).
    Tensors,
    /// The fused CPU engine ([`cpu`]) on host buffers.
    FusedCpu,
}

impl Engine {
    /// The fused engine on the CPU device, burn's tensor ops elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if *device == crate::device::cpu() {
            Self::FusedCpu
        } else {
            Self::Tensors
        }
    }
}

#[derive(Debug)]
pub struct PairRmModel {
    network: Network,
    pad_id: u32,
    device: Device,
}

// One per loaded model: the size difference between the variants is noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Network {
    Tensors {
        model: DebertaV2PairRm,
        buckets: BucketTable,
    },
    FusedCpu(cpu::CpuModel),
}

/// Builds a [`PairRmModel`] part by part, in [`load_groups`] order, so that a
/// caller streaming weights (a browser) holds one part's host tensors at a time.
pub struct ModelBuilder {
    config: PairRmConfig,
    pad_id: u32,
    device: Device,
    engine: Engine,
    embeddings: Option<DebertaV2Embeddings>,
    encoder: Option<DebertaV2Encoder>,
    /// The encoder's normalised relative embeddings, projected by each layer at load.
    rel: Option<Tensor<2>>,
    head: Option<PairRmHead>,
    cpu_embeddings: Option<cpu::CpuEmbeddings>,
    cpu_rel: Vec<f32>,
    cpu_layers: Vec<cpu::CpuLayer>,
    cpu_head: Option<cpu::CpuHead>,
    /// Groups of [`load_groups`] consumed so far.
    groups_added: usize,
}

impl ModelBuilder {
    /// A builder for the device's default engine ([`Engine::for_device`]).
    pub fn new(config: &PairRmConfig, pad_id: u32, device: &Device) -> Self {
        Self::with_engine(config, pad_id, device, Engine::for_device(device))
    }

    pub fn with_engine(
        config: &PairRmConfig,
        pad_id: u32,
        device: &Device,
        engine: Engine,
    ) -> Self {
        Self {
            config: config.clone(),
            pad_id,
            device: device.clone(),
            engine,
            embeddings: None,
            encoder: None,
            rel: None,
            head: None,
            cpu_embeddings: None,
            cpu_rel: Vec::new(),
            cpu_layers: Vec::new(),
            cpu_head: None,
            groups_added: 0,
        }
    }

    /// Consume the next group's tensors from `weights` (see [`load_groups`]);
    /// an error names a tensor of the group that `weights` lacks, or says every
    /// group was added already.
    pub fn add_group(&mut self, weights: &mut PairRmWeights) -> Result<()> {
        let groups = load_groups(&self.config.backbone);
        let group = groups.get(self.groups_added).ok_or_else(|| {
            Error::weights(format!(
                "all {} weight groups were added already",
                groups.len()
            ))
        })?;
        if let Some(missing) = group.iter().find(|name| !weights.contains(name)) {
            return Err(Error::Weights(WeightsError::MissingTensor {
                key: missing.to_string(),
            }));
        }
        self.groups_added += 1;
        if self.engine == Engine::FusedCpu {
            self.add_cpu_group(weights);
            return Ok(());
        }
        let bb = &self.config.backbone;
        let heads = bb.num_attention_heads;
        let mut w = PartWeights {
            weights,
            prefix: String::new(),
            eps: bb.layer_norm_eps,
            device: &self.device,
        };
        match (&mut self.encoder, &self.rel) {
            (None, _) => {
                self.embeddings = Some(DebertaV2Embeddings::load(&mut w));
                let encoder = DebertaV2Encoder::load_globals(&mut w);
                self.rel = Some(encoder.rel_embedding());
                self.encoder = Some(encoder);
            }
            (Some(encoder), Some(rel)) if encoder.layer.len() < bb.num_hidden_layers => {
                w.prefix = format!("layer.{}.", encoder.layer.len());
                encoder.layer.push(DebertaV2Layer::load(&mut w, rel, heads));
            }
            _ => self.head = Some(PairRmHead::load(&mut w)),
        }
        Ok(())
    }

    /// Wait until the device has done the work the groups added so far gave
    /// it (the relative-position projections, a GPU matrix product per layer).
    /// burn queues that work and returns at once, so without this a browser
    /// load would report ready while the GPU still computes (minutes on a
    /// software adapter such as SwiftShader), the first ranking would wait for
    /// it, and a page reloaded meanwhile would find the GPU busy with the old
    /// page's work. Called between groups, it also bounds what a cancelled
    /// load leaves queued to one group. The fused CPU engine computes eagerly.
    pub async fn settle(&self) -> Result<()> {
        let probe = match (&self.encoder, &self.rel) {
            (Some(encoder), _) if !encoder.layer.is_empty() => encoder.layer
                [encoder.layer.len() - 1]
                .attention
                .self_attention
                .load_probe(),
            (_, Some(rel)) => rel.clone().flatten::<1>(0, 1).slice(0..1),
            _ => return Ok(()),
        };
        probe
            .into_data_async()
            .await
            .map(drop)
            .map_err(|e| Error::Device(format!("the device failed while loading: {e:?}")))
    }

    fn add_cpu_group(&mut self, weights: &mut PairRmWeights) {
        let bb = &self.config.backbone;
        if self.cpu_embeddings.is_none() {
            self.cpu_embeddings = Some(cpu::CpuEmbeddings::load(bb, weights));
            self.cpu_rel = cpu::normalized_rel_embeddings(bb, weights);
        } else if self.cpu_layers.len() < bb.num_hidden_layers {
            let layer = cpu::CpuLayer::load(self.cpu_layers.len(), bb, weights, &self.cpu_rel);
            self.cpu_layers.push(layer);
        } else {
            self.cpu_head = Some(cpu::CpuHead::load(weights));
        }
    }

    pub fn finish(self) -> Result<PairRmModel> {
        let incomplete = || Error::weights("the model was built from an incomplete set of tensors");
        let longest = self.config.source_maxlength
            + 2 * (self.config.candidate_maxlength + self.config.source_maxlength / 2);
        let buckets = BucketTable::new(&self.config.backbone, longest);
        let layers = self.config.backbone.num_hidden_layers;
        let network = match self.engine {
            Engine::Tensors => {
                let encoder = self.encoder.ok_or_else(incomplete)?;
                if encoder.layer.len() != layers {
                    return Err(incomplete());
                }
                let pretrained_model = DebertaV2Model {
                    embeddings: self.embeddings.ok_or_else(incomplete)?,
                    encoder,
                };
                Network::Tensors {
                    model: DebertaV2PairRm {
                        pretrained_model,
                        head_layer: self.head.ok_or_else(incomplete)?,
                    },
                    buckets,
                }
            }
            Engine::FusedCpu => {
                if self.cpu_layers.len() != layers {
                    return Err(incomplete());
                }
                Network::FusedCpu(cpu::CpuModel::new(
                    &self.config.backbone,
                    self.cpu_embeddings.ok_or_else(incomplete)?,
                    self.cpu_layers,
                    self.cpu_head.ok_or_else(incomplete)?,
                    buckets,
                ))
            }
        };
        Ok(PairRmModel {
            network,
            pad_id: self.pad_id,
            device: self.device,
        })
    }
}

/// Our tensor names grouped in load order: globals (embeddings and relative
/// embeddings), then one group per layer, then the head.
pub fn load_groups(config: &BackboneConfig) -> Vec<Vec<String>> {
    let mut groups = vec![Vec::new(); config.num_hidden_layers + 2];
    for (name, part) in crate::weights::tensor_names(config) {
        let g = match part {
            Part::Globals => 0,
            Part::Layer(i) => 1 + i,
            Part::Head => config.num_hidden_layers + 1,
        };
        groups[g].push(name);
    }
    groups
}

impl PairRmModel {
    /// Upload checked weights to `device`.
    pub fn load(
        config: &PairRmConfig,
        weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        Self::load_with_engine(config, weights, pad_id, device, Engine::for_device(device))
    }

    /// As [`Self::load`], with the engine chosen by the caller (benchmarks, tests).
    pub fn load_with_engine(
        config: &PairRmConfig,
        mut weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
        engine: Engine,
    ) -> Result<Self> {
        let mut builder = ModelBuilder::with_engine(config, pad_id, device, engine);
        for _ in load_groups(&config.backbone) {
            builder.add_group(&mut weights)?;
        }
        builder.finish()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn engine(&self) -> Engine {
        match self.network {
            Network::Tensors { .. } => Engine::Tensors,
            Network::FusedCpu(_) => Engine::FusedCpu,
        }
    }

    /// Bytes of weights the fused CPU engine holds (None on burn's engine,
    /// whose tensors live on the device).
    pub fn host_weight_bytes(&self) -> Option<usize> {
        match &self.network {
            Network::FusedCpu(m) => Some(m.weight_bytes()),
            Network::Tensors { .. } => None,
        }
    }

    pub fn vocab_size(&self) -> usize {
        match &self.network {
            Network::Tensors { model, .. } => model.pretrained_model.embeddings.vocab_size(),
            Network::FusedCpu(m) => m.vocab_size(),
        }
    }

    /// `logit(A, B)` of each comparison in `batch`, read back to the host.
    pub async fn logits(&self, batch: &[PairInput]) -> Result<Vec<f32>> {
        if batch.is_empty() {
            return Err(Error::Input("empty batch".into()));
        }
        self.check_ids(batch)?;
        let (model, buckets) = match &self.network {
            Network::FusedCpu(m) => return Ok(m.forward(batch)),
            Network::Tensors { model, buckets } => (model, buckets),
        };
        let data = model
            .forward(batch, self.pad_id, buckets, &self.device)
            .into_data_async()
            .await
            .map_err(|e| Error::Device(format!("reading results back failed: {e:?}")))?;
        data.try_into_vec()
            .map_err(|e| Error::Device(format!("unexpected result type: {e:?}")))
    }

    fn check_ids(&self, batch: &[PairInput]) -> Result<()> {
        let rows = self.vocab_size();
        match batch.iter().flat_map(|p| &p.ids).find(|&&id| id as usize >= rows) {
            Some(bad) => Err(Error::Input(format!(
                "token id {bad} is outside the embedding table ({rows} rows): tokenizer and weights do not match"
            ))),
            None => Ok(()),
        }
    }
}
