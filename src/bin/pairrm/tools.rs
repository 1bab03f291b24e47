//! The CLI's commands that need no model: the benchmark and the stand-in model.

use std::path::Path;

use pairrm_web::bench::{self, BenchOptions};
use pairrm_web::device::{self, DeviceChoice};
use pairrm_web::model::Engine;
use pairrm_web::Error;

/// A stand-in for the real checkpoint: the `llm-blender/PairRM` layout
/// (`model_name` deberta-v3-large, so built-in dims) with random weights and
/// the tokenizer files of `from` (a fixture), at full size (1.74 GB).
pub fn make_random_model(from: &Path, out: &Path, layers: usize) -> Result<(), Error> {
    let io = |what: &std::path::Path, e: std::io::Error| Error::Io {
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
    let mut backbone = pairrm_web::config::BackboneConfig::deberta_v3_large();
    backbone.num_hidden_layers = layers;
    let path = out.join("model.safetensors");
    pairrm_web::weights::write_random_safetensors(&path, &backbone, bench::PAIRRM_VOCAB, 42)
        .map_err(|e| io(&path, e))
}

pub fn run_bench(device: &str, opts: &BenchOptions) -> Result<(), Error> {
    let devices: Vec<&str> = match device {
        "all" => vec!["cpu", "wgpu"],
        d => d.split(',').collect(),
    };
    println!(
        "PairRM forward, random weights: {} layers x 1024 hidden, 16 heads, vocab {}, {} tokens per pair, batch {}, {} timed batches",
        opts.layers, bench::PAIRRM_VOCAB, opts.tokens, opts.batch_size, opts.iters
    );
    for name in devices {
        // `cpu-burn`: burn's tensor ops on the CPU, for comparison with the fused engine.
        let (choice, engine) = match name {
            "cpu-burn" => ("cpu", Some(Engine::Tensors)),
            other => (other, None),
        };
        let (dev, label) = device::select(choice.parse::<DeviceChoice>()?)?;
        let engine = engine.unwrap_or_else(|| Engine::for_device(&dev));
        let label = if name == "cpu-burn" { name } else { label };
        let r = bench::run(&dev, engine, opts)?;
        println!(
            "{label:>8}: {:.3} pairs/s  {:.1} GFLOP/s  ({} pairs in {:.2} s; load + warm-up {:.1} s){}",
            r.pairs_per_second,
            r.gflops_per_second,
            r.pairs,
            r.seconds,
            r.load_seconds,
            r.dispatches
                .map(|n| format!("; {n} GPU dispatches per forward pass"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
