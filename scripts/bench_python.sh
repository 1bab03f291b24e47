#!/usr/bin/env bash
# The Python package beside the PyTorch reference and ONNX Runtime (f32 and
# int8), one run, PairRM-large dims, pairs of 256 tokens, batch 1 and 8, same
# thread count. Needs target/py-venv with the package (./build.sh test makes
# it), the reference venv (scripts/reference/setup.sh) and the release CLI;
# makes the 1.74 GB stand-in (/tmp/pairrm-large) and the ONNX exports
# (target/onnx/) first if they are missing.
#   scripts/bench_python.sh [--threads 2] [--iters 3]
# Ratios are pairs/s over pairs/s (means): > 1 means the package is faster.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=$(nproc) iters=3 model=/tmp/pairrm-large
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -d "$model" ] || target/release/pairrm make-random-model --model tests/fixtures/tiny-hf --out "$model" --seed 42
source scripts/reference/onnx_anchors.sh
mean() { grep -oE 'pairs/s: [0-9.]+' | head -1 | awk '{print $2}'; }
declare -A ps
for b in 1 8; do
  for dt in f32 q8; do
    out=$(RAYON_NUM_THREADS=$threads target/py-venv/bin/python scripts/bench_python.py --model "$model" \
          --batch-size "$b" --iters "$iters" --dtype "$dt")
    echo "== pairrm (Python) $dt, batch $b"; echo "$out"; ps[py-$dt-$b]=$(echo "$out" | mean)
  done
  out=$(scripts/reference/run.sh scripts/reference/bench_reference.py --threads "$threads" --batch-size "$b" --iters "$iters")
  echo "== PyTorch reference, batch $b"; echo "$out"; ps[torch-$b]=$(echo "$out" | mean)
  for m in "$onnx" "$int8"; do
    out=$(scripts/reference/run.sh scripts/reference/bench_onnx.py --model "$m" --threads "$threads" --batch-size "$b" --iters "$iters")
    echo "== ONNX Runtime $(basename "$m"), batch $b"; echo "$out"; ps[ort-$(basename "$m")-$b]=$(echo "$out" | mean)
  done
done
echo
echo "| engine | batch 1 pairs/s | batch 8 pairs/s |"
echo "|---|---|---|"
row() { printf '| %s | %s | %s |\n' "$1" "${ps[$2-1]}" "${ps[$2-8]}"; }
row "pairrm (Python), f32" py-f32
row "pairrm (Python), q8" py-q8
row "PyTorch reference (LLM-Blender), f32" torch
row "ONNX Runtime, f32" ort-pairrm-large.onnx
row "ONNX Runtime, int8" ort-pairrm-large-int8.onnx
for b in 1 8; do
  awk -v p="${ps[py-f32-$b]}" -v q="${ps[py-q8-$b]}" -v t="${ps[torch-$b]}" -v o="${ps[ort-pairrm-large.onnx-$b]}" \
      -v o8="${ps[ort-pairrm-large-int8.onnx-$b]}" -v b="$b" 'BEGIN {
    printf "batch %d: f32 / PyTorch %.2fx, f32 / ORT f32 %.2fx, q8 / ORT int8 %.2fx\n", b, p / t, p / o, q / o8 }'
done
