#!/usr/bin/env bash
# One prepared check for a machine with a real GPU (run it when one is lent;
# CI never does): native wgpu over Vulkan (or Metal/DX12), then Chromium's
# WebGPU if a browser and a built dist/ are there.
#   scripts/gpu_bench.sh [--layers 24] [--iters 5]
# Prints: the adapter, parity on every fixture on wgpu, pairs/s at 256 tokens
# for batch 1 and 16 with GPU dispatches per forward pass, and the CPU engine
# beside them for scale.
set -uo pipefail
cd "$(dirname "$0")/.."
layers=24 iters=5
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) layers=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName' | head -4
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null

cargo build --release --bin pairrm || exit 1
echo "== parity on wgpu (every fixture)"
cargo test --release --test parity fixtures_match_the_reference_on_wgpu 2>&1 | grep -E 'test result|panicked|FAILED'
echo "== native wgpu, $layers layers, 256 tokens"
for b in 1 16; do
  target/release/pairrm bench --device wgpu --layers "$layers" --tokens 256 --batch-size "$b" --iters "$iters" | tail -1 | sed "s/^/batch $b: /"
done
target/release/pairrm bench --device cpu --layers "$layers" --tokens 256 --batch-size 1 --iters 2 | tail -1 | sed "s/^/batch 1: /"

if [ -f dist/pkg/index.js ] && command -v chromium >/dev/null && [ -d node_modules/playwright-core ]; then
  echo "== Chromium WebGPU (tiny fixture: parity and per-comparison time)"
  timeout 600 node scripts/browser_bench.mjs 2>&1 | tail -20
fi
