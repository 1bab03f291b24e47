//! Forward-pass benchmark at PairRM-large dims with random weights (native only).

use std::time::Instant;

use pairrm_web::config::{BackboneConfig, PairRmConfig};
use pairrm_web::device::Device;
use pairrm_web::error::Result;
use pairrm_web::model::PairRmModel;
use pairrm_web::segments::{assemble, Limits, PairInput};
use pairrm_web::tokenize::SpecialIds;
use pairrm_web::weights::PairRmWeights;

/// The published checkpoint's vocabulary: 128000 pieces, `[MASK]` and four markers.
pub const PAIRRM_VOCAB: usize = pairrm_web::weights::STAND_IN_VOCAB;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Total tokens per comparison (three segments together).
    pub tokens: usize,
    pub batch_size: usize,
    /// Timed batches after one warm-up batch.
    pub iters: usize,
    /// Encoder layers (24 for PairRM-large); fewer for a quick look.
    pub layers: usize,
    /// The weights' dtype (random f32 weights converted).
    pub dtype: pairrm_web::quant::WeightDtype,
}

#[derive(Debug, Clone)]
pub struct BenchResult {
    pub seconds: f64,
    pub pairs: usize,
    pub pairs_per_second: f64,
    pub gflops_per_second: f64,
    pub load_seconds: f64,
    /// GPU kernel launches in one forward pass after warm-up (None on the CPU).
    pub dispatches: Option<usize>,
    /// Bytes the burn device's allocator holds in live tensors after the
    /// warm-up (the weights, mostly); None on the fused engine.
    pub device_bytes: Option<u64>,
}

/// Counts kernel launches while installed (cubecl reports each one).
struct LaunchCount(std::sync::atomic::AtomicUsize);

impl cubecl_runtime::logging::LaunchObserver for LaunchCount {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Multiply-adds ×2 of one forward pass over `len` tokens.
pub fn flops_per_pair(c: &BackboneConfig, len: usize) -> f64 {
    let (l, h, i, s2) = (
        len as f64,
        c.hidden_size as f64,
        c.intermediate_size as f64,
        2.0 * c.attention_span() as f64,
    );
    let per_layer = 2.0 * (4.0 * l * h * h + 2.0 * l * h * i + 2.0 * l * l * h + 2.0 * l * s2 * h);
    c.num_hidden_layers as f64 * per_layer + 2.0 * 2.0 * (2.0 * h * h)
}

/// Comparisons of `tokens` tokens in all, with random ids.
pub fn synthetic_pairs(n: usize, tokens: usize, seed: u64) -> Vec<PairInput> {
    let special = SpecialIds {
        cls: 1,
        sep: 2,
        pad: 0,
        source: 128_001,
        candidate1: 128_002,
        candidate2: 128_003,
    };
    let mut random = pairrm_web::random::SplitMix64::new(seed);
    let mut id = move || 4 + random.below(127_996) as u32;
    let text = tokens.saturating_sub(9) / 3;
    let limits = Limits {
        source_maxlength: 1224,
        candidate_maxlength: 412,
    };
    (0..n)
        .map(|_| {
            let mut seg = |extra: usize| (0..text + extra).map(|_| id()).collect::<Vec<u32>>();
            let rest = tokens.saturating_sub(9) - 3 * text;
            let (s, a, b) = (seg(rest), seg(0), seg(0));
            assemble(&special, limits, &s, &a, &b)
        })
        .collect()
}

pub fn run(device: &Device, opts: &BenchOptions) -> Result<BenchResult> {
    let mut backbone = BackboneConfig::deberta_v3_large();
    backbone.num_hidden_layers = opts.layers;
    let config = PairRmConfig {
        backbone,
        source_maxlength: 1224,
        candidate_maxlength: 412,
        n_tasks: 1,
    };
    let start = Instant::now();
    let mut weights = PairRmWeights::random(&config.backbone, PAIRRM_VOCAB, 42);
    weights.convert(&config.backbone, opts.dtype);
    let model = PairRmModel::load_as(&config, weights, 0, device, opts.dtype)?;
    let pairs = synthetic_pairs(opts.batch_size, opts.tokens, 7);
    let read = |batch: &[PairInput]| -> Result<()> {
        pairrm_web::block_on(model.logits(batch)).map(|_| ())
    };
    read(&pairs)?; // warm-up: uploads finish, kernels compile
    let load_seconds = start.elapsed().as_secs_f64();
    let device_bytes = device.bytes_in_use();
    let timed = Instant::now();
    for _ in 0..opts.iters {
        read(&pairs)?;
    }
    let seconds = timed.elapsed().as_secs_f64();
    // GPU dispatches: wgpu only (on Flex and the fused engine there are none).
    let dispatches = if device.is_gpu() {
        let count = std::sync::Arc::new(LaunchCount(Default::default()));
        let guard = cubecl_runtime::logging::LaunchObservation::new(count.clone());
        read(&pairs)?; // ends with a readback, so fused work has run
        drop(guard);
        Some(count.0.load(std::sync::atomic::Ordering::Relaxed))
    } else {
        None
    };
    let n = opts.iters * opts.batch_size;
    let flops = flops_per_pair(&config.backbone, pairs[0].ids.len()) * n as f64;
    Ok(BenchResult {
        seconds,
        pairs: n,
        pairs_per_second: n as f64 / seconds,
        gflops_per_second: flops / seconds / 1e9,
        load_seconds,
        dispatches,
        device_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_pairs_have_the_requested_length() {
        let p = synthetic_pairs(3, 256, 1);
        assert!(p.iter().all(|x| x.ids.len() == 256));
        assert!(p
            .iter()
            .all(|x| x.ids.iter().all(|&id| (id as usize) < PAIRRM_VOCAB)));
    }
}
