#!/usr/bin/env bash
# Side-by-side forward-pass benchmark at PairRM-large dims, one run:
# pairrm-web (burn Flex on the CPU, burn wgpu) and the reference (LLM-Blender on
# transformers 4.35.2, f32, CPU, same thread count). Needs the reference venv
# (scripts/reference/setup.sh) and a release build of the CLI.
#   scripts/bench_compare.sh [--tokens 256] [--batch-size 4] [--iters 3] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=256 batch=4 iters=3 threads=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) tokens=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
ours=$(RAYON_NUM_THREADS=$threads target/release/pairrm bench --device all --tokens "$tokens" --batch-size "$batch" --iters "$iters")
echo "$ours"
ref=$(scripts/reference/run.sh scripts/reference/bench_reference.py --threads "$threads" --batch-size "$batch" --seq-len "$tokens" --iters "$iters")
echo "$ref"
cpu=$(echo "$ours" | awk '$1 == "cpu:" {print $2}')
gpu=$(echo "$ours" | awk '$1 == "wgpu:" {print $2}')
refps=$(echo "$ref" | grep -oE 'pairs/s: [0-9.]+' | head -1 | awk '{print $2}')
awk -v c="$cpu" -v g="$gpu" -v r="$refps" 'BEGIN {
  printf "ratio pairrm-web cpu / reference: %.2fx\n", c / r;
  if (g != "") printf "ratio pairrm-web wgpu / reference: %.2fx\n", g / r;
}'
