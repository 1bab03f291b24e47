#!/usr/bin/env bash
# GPU kernel dispatches per PairRM forward pass on native wgpu.
#   scripts/count_dispatches.sh [PAIRRM_BINARY] [--layers 24] [--tokens 256] [--batch-size 1]
# A current build counts them itself (`pairrm bench --device wgpu` observes
# cubecl's kernel launches during one pass after warm-up). For an older build
# (e.g. before burn's fusion) they are counted from cubecl's kernel log
# (profiling level "minimal": one "Executing" line per launch): two runs that
# differ by one timed pass. That only works without autotuning, whose tuning
# launches vary from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/pairrm"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then bin="$(realpath "$1")"; shift; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out=$("$bin" bench --device wgpu --iters 1 "$@" 2>/dev/null | tail -1)
if echo "$out" | grep -q 'dispatches per forward pass'; then
  echo "$(basename "$bin"): $(echo "$out" | grep -oE '[0-9]+ GPU dispatches per forward pass') ($*)"
  exit 0
fi
cat > "$work/cubecl.toml" <<CFG
[profiling.logger]
level = "minimal"
file = "$work/kernels.log"
CFG
count() {
  local iters=$1
  shift
  rm -f "$work/kernels.log"
  (cd "$work" && "$bin" bench --device wgpu --iters "$iters" "$@" >/dev/null 2>&1)
  grep -c '^Executing' "$work/kernels.log" || true
}
one=$(count 1 "$@")
two=$(count 2 "$@")
echo "$(basename "$bin"): $((two - one)) GPU dispatches per forward pass, from the kernel log ($*)"
