//! Both engines built from the same typed groups and run layer by layer on
//! the same hidden states, so that a divergence is found at its layer (the
//! parity tests compare only final logits with the reference).

use burn::tensor::{Tensor, TensorData};

use super::tensors::attention::RelativeIndex;
use super::tensors::encoder::attention_bias;
use super::*;
use crate::config::BackboneConfig;
use crate::random::SplitMix64;
use crate::weights::{LinearTensors, Weight};

const VOCAB: usize = 40;

fn config() -> PairRmConfig {
    PairRmConfig {
        backbone: BackboneConfig {
            hidden_size: 32,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            intermediate_size: 64,
            layer_norm_eps: 1e-7,
            // A span shorter than the sequences: log buckets and clamping at work.
            position_buckets: 8,
            max_relative_positions: 32,
        },
        source_maxlength: 16,
        candidate_maxlength: 8,
        n_tasks: 1,
    }
}

/// The stand-in's groups with the layers' products scaled up, so that
/// attention and the feed-forward block move the hidden states well beyond
/// the tolerance (at the stand-in's 0.02 the residual dominates).
fn groups(config: &PairRmConfig) -> Vec<Group> {
    let bb = &config.backbone;
    let mut weights = PairRmWeights::random(bb, VOCAB, 7);
    let scale = |t: &mut LinearTensors| match &mut t.weight {
        Weight::F32(w) => w.data.iter_mut().for_each(|v| *v *= 8.0),
        Weight::Q8(_) => unreachable!("the stand-in is f32"),
    };
    (0..bb.num_hidden_layers + 2)
        .map(|i| {
            let mut group = weights.take_group(bb, i).unwrap();
            if let Group::Layer(_, l) = &mut group {
                for t in [
                    &mut l.query,
                    &mut l.key,
                    &mut l.value,
                    &mut l.attn_out,
                    &mut l.ffn_in,
                    &mut l.ffn_out,
                ] {
                    scale(t);
                }
            }
            group
        })
        .collect()
}

fn build(config: &PairRmConfig, device: &Device) -> PairRmModel {
    let mut builder = ModelBuilder::new(config, 0, device);
    for group in groups(config) {
        builder.add(group);
    }
    builder.finish().unwrap()
}

/// Layer `i` of the burn engine on sequences laid out one after another
/// (`[Σ lens, hidden]`), padded into a batch and unpadded again.
fn burn_layer(
    model: &tensors::TensorsModel,
    i: usize,
    x: &[f32],
    lens: &[usize],
    h: usize,
) -> Vec<f32> {
    let device = &model.device;
    let len = *lens.iter().max().unwrap();
    let mut padded = vec![0.0f32; lens.len() * len * h];
    let mut start = 0;
    for (k, &n) in lens.iter().enumerate() {
        padded[k * len * h..][..n * h].copy_from_slice(&x[start * h..(start + n) * h]);
        start += n;
    }
    let x = Tensor::<3>::from_data(TensorData::new(padded, [lens.len(), len, h]), device);
    let bias = attention_bias(lens, len, device);
    let index = RelativeIndex::new(&model.buckets, len, device);
    let layer = &model.model.pretrained_model.encoder.layer[i];
    let out: Vec<f32> = layer
        .forward(x, bias, &index)
        .into_data()
        .try_into_vec()
        .unwrap();
    lens.iter()
        .enumerate()
        .flat_map(|(k, &n)| out[k * len * h..][..n * h].to_vec())
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn engines_agree_layer_by_layer() {
    let config = config();
    let h = config.backbone.hidden_size;
    let (burn, fused) = (
        build(&config, &Device::burn_cpu()),
        build(&config, &Device::Cpu),
    );
    let (Network::Tensors(burn), Network::FusedCpu(fused)) = (&burn.network, &fused.network) else {
        panic!("each model on the engine it was built for");
    };
    // Two sequences of different lengths, both longer than the span.
    let lens = [24, 17];
    let mut rng = SplitMix64::new(3);
    let x: Vec<f32> = (0..lens.iter().sum::<usize>() * h)
        .map(|_| rng.symmetric(1.5))
        .collect();
    for i in 0..config.backbone.num_hidden_layers {
        let (a, b) = (
            burn_layer(burn, i, &x, &lens, h),
            fused.forward_layer(i, &x, &lens),
        );
        let diff = max_diff(&a, &b);
        assert!(diff < 2e-5, "layer {i}: the engines differ by up to {diff}");
        // The layer did work: far more than the tolerance away from its input.
        assert!(max_diff(&a, &x) > 0.5, "layer {i} left its input as it was");
    }
}

/// The engines also agree end to end, from embeddings to the head.
#[test]
fn engines_agree_on_logits() {
    let config = config();
    let (burn, fused) = (
        build(&config, &Device::burn_cpu()),
        build(&config, &Device::Cpu),
    );
    let mut rng = SplitMix64::new(5);
    let batch: Vec<PairInput> = [20, 31]
        .iter()
        .map(|&len| PairInput {
            ids: (0..len).map(|_| rng.below(VOCAB as u64) as u32).collect(),
            markers: [1, 6, 14],
        })
        .collect();
    let a = crate::block_on(burn.logits(&batch)).unwrap();
    let b = crate::block_on(fused.logits(&batch)).unwrap();
    assert!(max_diff(&a, &b) < 1e-5, "{a:?} vs {b:?}");
    assert!(a[0] != a[1]);
}
