//! Random stand-ins for the real checkpoint (benchmarks, `make-random-model`):
//! a `model.safetensors` with LLM-Blender's key names, written tensor by tensor.

use super::keys::{expected_tensors, TensorSpec, BACKBONE_PREFIXES};
use crate::config::BackboneConfig;
use crate::random::SplitMix64;

/// Write a `model.safetensors` of random F32 weights (uniform ±0.05, LayerNorm
/// scales near 1) with LLM-Blender's key names, tensor by tensor, so a
/// stand-in for the 1.74 GB checkpoint never sits in memory whole.
pub fn write_random_safetensors(
    path: &std::path::Path,
    config: &BackboneConfig,
    vocab_size: usize,
    seed: u64,
) -> std::io::Result<()> {
    use std::io::Write;
    let specs = expected_tensors(config, vocab_size, 1);
    let full_key = |t: &TensorSpec| {
        if t.in_backbone {
            format!("{}{}", BACKBONE_PREFIXES[0], t.key)
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
    for t in &specs {
        let n: usize = t.shape.iter().product();
        let offset_one = if t.name.ends_with("ln.weight") {
            1.0f32
        } else {
            0.0
        };
        let mut random = SplitMix64::new(seed ^ n as u64);
        let mut buf = Vec::with_capacity(n * 4);
        for _ in 0..n {
            let x = offset_one + random.symmetric(0.05);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    out.flush()
}
