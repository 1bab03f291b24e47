//! The CLI's commands that need no model: the benchmark and the stand-in model.

use std::path::Path;

use crate::bench::{self, BenchOptions};
use pairrm_web::device::{self, DeviceChoice};
use pairrm_web::Error;

/// A stand-in for the real checkpoint (see `weights::write_stand_in_model`).
pub fn make_random_model(from: &Path, out: &Path, layers: usize, seed: u64) -> Result<(), Error> {
    pairrm_web::weights::write_stand_in_model(from, out, layers, seed)
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
        let (dev, label) = match name {
            "cpu-burn" => (device::burn_cpu()?, name),
            other => device::select(other.parse::<DeviceChoice>()?)?,
        };
        let r = bench::run(&dev, opts)?;
        println!(
            "{label:>8}: {:.3} pairs/s  {:.1} GFLOP/s  ({} pairs in {:.2} s; load + warm-up {:.1} s){}{}",
            r.pairs_per_second,
            r.gflops_per_second,
            r.pairs,
            r.seconds,
            r.load_seconds,
            r.dispatches
                .map(|n| format!("; {n} GPU dispatches per forward pass"))
                .unwrap_or_default(),
            r.device_bytes
                .map(|b| format!("; {:.0} MB in device tensors", b as f64 / 1e6))
                .unwrap_or_default()
        );
    }
    Ok(())
}
