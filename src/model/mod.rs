//! The PairRM network: embeddings → DeBERTa-v3 encoder → PairRM head. Input is
//! already assembled ([`crate::segments::PairInput`]); output is one logit per
//! comparison.
//!
//! Both engines build from the checkpoint's typed groups
//! ([`crate::weights::Group`]: globals, one per layer, the head), fed in load
//! order through one [`ModelBuilder`]; what depends only on weights and is
//! the same for both (the normalised relative-embedding table,
//! [`relative::normalized_table`]) is computed once, here.
//!
//! ```text
//! model/
//! ├── mod.rs        Engine, ModelBuilder, PairRmModel
//! ├── relative.rs   relative positions and the normalised table (both engines)
//! ├── kernels/      host kernels: products, fused row passes, int8
//! ├── tensors/      burn's tensor ops on a burn device (wgpu, Flex; feature `tensors`)
//! └── fused/        the fused CPU engine on host buffers
//! ```
//!
//! `tensors` (feature `tensors`) is a tree of `#[derive(Module)]` structs that
//! mirror the Hugging Face modules one to one; [`fused`] computes the same
//! network on the CPU, faster (its module docs say why).

pub mod fused;
pub mod kernels;
pub mod relative;
#[cfg(feature = "tensors")]
pub mod tensors;

#[cfg(test)]
mod tests;

use crate::config::{BackboneConfig, PairRmConfig};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::segments::PairInput;
use crate::weights::{Group, PairRmWeights};
use relative::BucketTable;

pub use crate::weights::group_names as load_groups;

/// Largest attention-score tensor computed at once, in f32 elements (128 MiB):
/// within WebGPU's default storage-binding limit and lavapipe's allocations.
/// Batches and heads are split to stay below it.
pub const SCORE_BUDGET: usize = 32 * 1024 * 1024;

/// How the forward pass is computed: chosen by the device's variant
/// ([`Device::engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// burn tensor ops on a burn device: `Device::Wgpu`, `Device::BurnCpu`.
    Tensors,
    /// The fused CPU engine ([`fused`]) on host buffers: [`Device::Cpu`].
    FusedCpu,
}

#[derive(Debug)]
pub struct PairRmModel {
    network: Network,
    device: Device,
}

// One per loaded model: the size difference between the variants is noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Network {
    #[cfg(feature = "tensors")]
    Tensors(tensors::TensorsModel),
    FusedCpu(fused::FusedModel),
}

/// One engine's model under construction.
// One per load: the size difference between the variants is noise.
#[allow(clippy::large_enum_variant)]
enum EngineBuilder {
    #[cfg(feature = "tensors")]
    Tensors(tensors::Builder),
    FusedCpu(fused::Builder),
}

impl EngineBuilder {
    /// `pad_id` fills the burn engine's padded batches; the fused engine
    /// does not pad.
    fn new(config: &BackboneConfig, pad_id: u32, device: &Device) -> Self {
        #[cfg(feature = "tensors")]
        if let Some(d) = device.burn() {
            return Self::Tensors(tensors::Builder::new(config, pad_id, d));
        }
        let _ = (pad_id, device);
        Self::FusedCpu(fused::Builder::new(config))
    }
}

/// Builds a [`PairRmModel`] group by group, in [`load_groups`] order, so that
/// a caller streaming weights (a browser) holds one group's host tensors at a
/// time.
pub struct ModelBuilder {
    config: PairRmConfig,
    device: Device,
    engine: EngineBuilder,
    /// Groups of [`load_groups`] consumed so far.
    groups_added: usize,
}

impl ModelBuilder {
    /// A builder for the device's engine ([`Device::engine`]).
    pub fn new(config: &PairRmConfig, pad_id: u32, device: &Device) -> Self {
        Self {
            config: config.clone(),
            device: device.clone(),
            engine: EngineBuilder::new(&config.backbone, pad_id, device),
            groups_added: 0,
        }
    }

    /// What the weights were converted to (default f32): on burn's engine,
    /// f16 weights compute in f16 where the device has f16 arithmetic. Set
    /// before the first group.
    pub fn with_weight_dtype(mut self, dtype: crate::quant::WeightDtype) -> Self {
        debug_assert_eq!(self.groups_added, 0, "the dtype comes before the weights");
        #[cfg(feature = "tensors")]
        if let EngineBuilder::Tensors(b) = &mut self.engine {
            b.set_weight_dtype(dtype);
        }
        let _ = dtype;
        self
    }

    /// Consume the next group's tensors from `weights` (see [`load_groups`]);
    /// an error names a tensor of the group that `weights` lacks, or says every
    /// group was added already.
    pub fn add_group(&mut self, weights: &mut PairRmWeights) -> Result<()> {
        let group = weights.take_group(&self.config.backbone, self.groups_added)?;
        self.add(group);
        Ok(())
    }

    /// Build from one group (the groups in load order).
    fn add(&mut self, group: Group) {
        self.groups_added += 1;
        let eps = self.config.backbone.layer_norm_eps;
        match (&mut self.engine, group) {
            (engine, Group::Globals(g)) => {
                let rel = relative::normalized_table(g.rel_embeddings, &g.rel_ln, eps);
                let (table, norm) = (g.word_embeddings, g.embeddings_ln);
                match engine {
                    #[cfg(feature = "tensors")]
                    EngineBuilder::Tensors(b) => b.add_globals(table, norm, rel),
                    EngineBuilder::FusedCpu(b) => b.add_globals(table, norm, rel),
                }
            }
            #[cfg(feature = "tensors")]
            (EngineBuilder::Tensors(b), Group::Layer(_, l)) => b.add_layer(l),
            (EngineBuilder::FusedCpu(b), Group::Layer(_, l)) => b.add_layer(l),
            #[cfg(feature = "tensors")]
            (EngineBuilder::Tensors(b), Group::Head(h)) => b.add_head(h),
            (EngineBuilder::FusedCpu(b), Group::Head(h)) => b.add_head(h),
        }
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
        match &self.engine {
            #[cfg(feature = "tensors")]
            EngineBuilder::Tensors(b) => b.settle().await,
            EngineBuilder::FusedCpu(_) => Ok(()),
        }
    }

    pub fn finish(self) -> Result<PairRmModel> {
        let incomplete = || Error::weights("the model was built from an incomplete set of tensors");
        let longest = self.config.source_maxlength
            + 2 * (self.config.candidate_maxlength + self.config.source_maxlength / 2);
        let buckets = BucketTable::new(&self.config.backbone, longest);
        // Every group, in order: the globals, each layer, the head.
        if self.groups_added != self.config.backbone.num_hidden_layers + 2 {
            return Err(incomplete());
        }
        let network = match self.engine {
            #[cfg(feature = "tensors")]
            EngineBuilder::Tensors(b) => {
                Network::Tensors(b.finish(buckets).ok_or_else(incomplete)?)
            }
            EngineBuilder::FusedCpu(b) => {
                Network::FusedCpu(b.finish(buckets).ok_or_else(incomplete)?)
            }
        };
        Ok(PairRmModel {
            network,
            device: self.device,
        })
    }
}

impl PairRmModel {
    /// Upload checked weights to `device`.
    pub fn load(
        config: &PairRmConfig,
        weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        Self::load_as(
            config,
            weights,
            pad_id,
            device,
            crate::quant::WeightDtype::F32,
        )
    }

    /// [`Self::load`] for weights converted to `dtype`
    /// ([`PairRmWeights::convert`]; see [`ModelBuilder::with_weight_dtype`]).
    pub fn load_as(
        config: &PairRmConfig,
        mut weights: PairRmWeights,
        pad_id: u32,
        device: &Device,
        dtype: crate::quant::WeightDtype,
    ) -> Result<Self> {
        let mut builder = ModelBuilder::new(config, pad_id, device).with_weight_dtype(dtype);
        for _ in load_groups(&config.backbone) {
            builder.add_group(&mut weights)?;
        }
        builder.finish()
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn engine(&self) -> Engine {
        self.device.engine()
    }

    /// Bytes of weights the fused CPU engine holds (None on burn's engine,
    /// whose tensors live on the device).
    pub fn host_weight_bytes(&self) -> Option<usize> {
        match &self.network {
            Network::FusedCpu(m) => Some(m.weight_bytes()),
            #[cfg(feature = "tensors")]
            Network::Tensors(_) => None,
        }
    }

    pub fn vocab_size(&self) -> usize {
        match &self.network {
            #[cfg(feature = "tensors")]
            Network::Tensors(m) => m.vocab_size(),
            Network::FusedCpu(m) => m.vocab_size(),
        }
    }

    /// `logit(A, B)` of each comparison in `batch`, read back to the host.
    pub async fn logits(&self, batch: &[PairInput]) -> Result<Vec<f32>> {
        if batch.is_empty() {
            return Err(Error::input("empty batch".into()));
        }
        self.check_ids(batch)?;
        match &self.network {
            Network::FusedCpu(m) => Ok(m.forward(batch)),
            #[cfg(feature = "tensors")]
            Network::Tensors(m) => m.logits(batch).await,
        }
    }

    fn check_ids(&self, batch: &[PairInput]) -> Result<()> {
        let rows = self.vocab_size();
        match batch.iter().flat_map(|p| &p.ids).find(|&&id| id as usize >= rows) {
            Some(bad) => Err(Error::input(format!(
                "token id {bad} is outside the embedding table ({rows} rows): tokenizer and weights do not match"
            ))),
            None => Ok(()),
        }
    }
}
