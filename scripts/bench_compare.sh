#!/usr/bin/env bash
# Side-by-side forward-pass benchmark at PairRM-large dims, one run:
# pairrm-web (the fused CPU engine with f32, f16 and int8 weights; plus burn
# wgpu with --gpu), the PyTorch reference (LLM-Blender on transformers 4.35.2,
# f32, CPU) and ONNX Runtime (CPUExecutionProvider) on the f32 export and on its
# int8 quantization as transformers.js makes it, on the same thread count and
# inputs. Needs the reference venv (scripts/reference/setup.sh) and a release
# build of the CLI; exports target/onnx/pairrm-large.onnx and quantizes it to
# target/onnx/pairrm-large-int8.onnx first if they are missing (~3 min).
#   scripts/bench_compare.sh [--tokens 256] [--batch-size 4] [--iters 3] [--threads 2] [--gpu] [--before BIN]
# --before BIN also times another build of the CLI (e.g. the previous commit's), f32 and q8, in the same run.
# --kernels "avx2-w8 portable" also times q8 on those int8 kernels (PAIRRM_INT8_KERNEL; each
# only where the CPU has it), e.g. the AVX2 kernel on a machine that has AVX-512 VNNI, or
# AVX2 on the stored 8-bit weights (avx2-w8) beside the default 7-bit one.
# Ratios are pairs/s over pairs/s: > 1 means pairrm-web is faster.
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=256 batch=4 iters=3 threads=$(nproc) device=cpu before= kernels=
while [ $# -gt 0 ]; do
  case "$1" in
    --tokens) tokens=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --gpu) device=all; shift ;;
    --before) before=$2; shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source scripts/reference/onnx_anchors.sh
ours=$(RAYON_NUM_THREADS=$threads target/release/pairrm bench --device "$device" --tokens "$tokens" --batch-size "$batch" --iters "$iters")
echo "$ours"
declare -A lowp
for dt in f16 q8; do
  out=$(RAYON_NUM_THREADS=$threads target/release/pairrm bench --device cpu --dtype "$dt" --tokens "$tokens" --batch-size "$batch" --iters "$iters")
  echo "== pairrm-web $dt"; echo "$out"
  lowp[$dt]=$(echo "$out" | awk '$1 == "cpu:" {print $2}')
done
declare -A kernel_ps
for k in $kernels; do
  out=$(PAIRRM_INT8_KERNEL=$k RAYON_NUM_THREADS=$threads target/release/pairrm bench --device cpu --dtype q8 --tokens "$tokens" --batch-size "$batch" --iters "$iters")
  echo "== pairrm-web q8, int8 kernel $k"; echo "$out"
  kernel_ps[$k]=$(echo "$out" | awk '$1 == "cpu:" {print $2}')
done
if [ -n "$before" ]; then
  echo "== $before"
  old=$(RAYON_NUM_THREADS=$threads "$before" bench --device cpu --tokens "$tokens" --batch-size "$batch" --iters "$iters")
  echo "$old"
  echo "== $before q8"
  old8=$(RAYON_NUM_THREADS=$threads "$before" bench --device cpu --dtype q8 --tokens "$tokens" --batch-size "$batch" --iters "$iters")
  echo "$old8"
fi
echo "== PyTorch reference"
ref=$(scripts/reference/run.sh scripts/reference/bench_reference.py --threads "$threads" --batch-size "$batch" --seq-len "$tokens" --iters "$iters")
echo "$ref"
echo "== ONNX Runtime"
ortout=$(scripts/reference/run.sh scripts/reference/bench_onnx.py --model "$onnx" --threads "$threads" --batch-size "$batch" --seq-len "$tokens" --iters "$iters")
echo "$ortout"
echo "== ONNX Runtime int8"
ort8out=$(scripts/reference/run.sh scripts/reference/bench_onnx.py --model "$int8" --threads "$threads" --batch-size "$batch" --seq-len "$tokens" --iters "$iters")
echo "$ort8out"
cpu=$(echo "$ours" | awk '$1 == "cpu:" {print $2}')
gpu=$(echo "$ours" | awk '$1 == "wgpu:" {print $2}')
pairs() { grep -oE 'pairs/s: [0-9.]+' | head -1 | awk '{print $2}'; }
refps=$(echo "$ref" | pairs)
ortps=$(echo "$ortout" | pairs)
ort8ps=$(echo "$ort8out" | pairs)
oldps=$( [ -n "$before" ] && echo "$old" | awk '$1 == "cpu:" {print $2}' || true)
old8ps=$( [ -n "$before" ] && echo "$old8" | awk '$1 == "cpu:" {print $2}' || true)
awk -v c="$cpu" -v g="$gpu" -v r="$refps" -v o="$ortps" -v b="$oldps" -v b8="$old8ps" -v o8="$ort8ps" \
    -v h="${lowp[f16]}" -v q="${lowp[q8]}" -v ks="$(for k in $kernels; do printf '%s=%s ' "$k" "${kernel_ps[$k]}"; done)" 'BEGIN {
  printf "ratio pairrm-web cpu / PyTorch: %.2fx\n", c / r;
  printf "ratio pairrm-web cpu / ONNX Runtime: %.2fx\n", c / o;
  printf "ratio pairrm-web cpu f16 / ONNX Runtime f32: %.2fx\n", h / o;
  printf "ratio pairrm-web cpu q8 / ONNX Runtime int8: %.2fx\n", q / o8;
  printf "ratio pairrm-web cpu q8 / pairrm-web cpu f32: %.2fx\n", q / c;
  if (b != "") printf "ratio pairrm-web cpu / --before build: %.2fx\n", c / b;
  if (b8 != "") printf "ratio pairrm-web cpu q8 / --before build q8: %.2fx; --before q8 / ONNX Runtime int8: %.2fx\n", q / b8, b8 / o8;
  n = split(ks, kv, " ");
  for (i = 1; i <= n; i++) {
    split(kv[i], pair, "=");
    printf "ratio pairrm-web cpu q8 on %s / ONNX Runtime int8: %.2fx; / pairrm-web f32: %.2fx\n", pair[1], pair[2] / o8, pair[2] / c;
  }
  if (g != "") {
    printf "ratio pairrm-web wgpu / PyTorch: %.2fx\n", g / r;
    printf "ratio pairrm-web wgpu / ONNX Runtime: %.2fx\n", g / o;
  }
}'
