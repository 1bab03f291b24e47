//! Random stand-ins for the real checkpoint (benchmarks, `make-random-model`,
//! the large-model reference check): every tensor of the key table drawn from
//! one seeded generator, at scales that keep tokens apart through 24 layers,
//! so that a stand-in's comparisons give logits of order 0.1–1 rather than noise.

use super::keys::{expected_tensors, Init, TensorSpec};
use crate::config::BackboneConfig;
use crate::random::SplitMix64;

/// Uniform draws with these standard deviations (half-width = std · √3).
const TABLE_STD: f32 = 1.0;
const WEIGHT_STD: f32 = 0.02;
const BIAS_STD: f32 = 0.02;
const SCALE_STD: f32 = 0.05;

/// The values of `spec`'s tensor, drawn from `random`: tensors are drawn one
/// after the other in key-table order, so a seed fixes the whole model.
fn draw<'a>(spec: &TensorSpec, random: &'a mut SplitMix64) -> impl Iterator<Item = f32> + 'a {
    let n: usize = spec.shape.iter().product();
    let (centre, std) = match spec.init {
        Init::Table => (0.0, TABLE_STD),
        Init::Weight => (0.0, WEIGHT_STD),
        Init::Bias => (0.0, BIAS_STD),
        Init::Scale => (1.0, SCALE_STD),
    };
    let half_width = std * 3f32.sqrt();
    (0..n).map(move |_| centre + random.symmetric(half_width))
}

/// Write a `model.safetensors` of random F32 weights (see [`draw`]) with
/// LLM-Blender's key names, tensor by tensor, so a stand-in for the 1.74 GB
/// checkpoint never sits in memory whole.
pub fn write_random_safetensors(
    path: &std::path::Path,
    config: &BackboneConfig,
    vocab_size: usize,
    seed: u64,
) -> std::io::Result<()> {
    use std::io::Write;
    let specs = expected_tensors(config, vocab_size, 1);
    let full_key = |t: &TensorSpec| {
        if t.in_backbone() {
            format!("{}{}", super::keys::BACKBONE_PREFIXES[0], t.key)
        } else {
            t.key.clone()
        }
    };
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for t in &specs {
        let bytes = t.shape.iter().product::<usize>() * 4;
        header.insert(
            full_key(t),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let mut text = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    while (8 + text.len()) % 8 != 0 {
        text.push(b' ');
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(&text)?;
    let mut random = SplitMix64::new(seed);
    // Value by value into the buffered writer: no tensor is ever held whole.
    for t in &specs {
        for v in draw(t, &mut random) {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    out.flush()
}

/// A stand-in for the real checkpoint in `out`: the `llm-blender/PairRM`
/// layout (`model_name` deberta-v3-large, so built-in dims; max lengths
/// 1224/412) with [`write_random_safetensors`] weights (vocabulary 128,005, as
/// the real table: 1.74 GB at 24 layers) and the tokenizer files of `from` (a
/// fixture). `scripts/reference/large.py` records the reference on it.
pub fn write_stand_in_model(
    from: &std::path::Path,
    out: &std::path::Path,
    layers: usize,
    seed: u64,
) -> crate::error::Result<()> {
    let io = |what: &std::path::Path, e: std::io::Error| crate::error::Error::Io {
        what: what.display().to_string(),
        cause: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let config = serde_json::json!({
        "ranker_type": "pairranker", "model_type": "deberta", "model_name": "microsoft/deberta-v3-large",
        "source_maxlength": 1224, "candidate_maxlength": 412, "n_tasks": 1, "drop_out": 0.05, "fp16": true
    });
    std::fs::write(out.join("config.json"), config.to_string()).map_err(|e| io(out, e))?;
    for f in ["spm.model", "added_tokens.json"] {
        std::fs::copy(from.join(f), out.join(f)).map_err(|e| io(&from.join(f), e))?;
    }
    let mut backbone = BackboneConfig::deberta_v3_large();
    backbone.num_hidden_layers = layers;
    let path = out.join("model.safetensors");
    write_random_safetensors(&path, &backbone, STAND_IN_VOCAB, seed).map_err(|e| io(&path, e))
}

/// Rows of the real checkpoint's embedding table (128,000 pieces + 5 added tokens).
pub const STAND_IN_VOCAB: usize = 128_005;

/// The random weights in memory (benchmarks, tests), as [`write_random_safetensors`] writes them.
pub(super) fn random_tensors(
    config: &BackboneConfig,
    vocab_size: usize,
    seed: u64,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut random = SplitMix64::new(seed);
    expected_tensors(config, vocab_size, 1)
        .into_iter()
        .map(|spec| {
            let data = draw(&spec, &mut random).collect();
            (spec.name, spec.shape, data)
        })
        .collect()
}
