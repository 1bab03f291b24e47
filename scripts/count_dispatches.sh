#!/usr/bin/env bash
# GPU kernel dispatches per PairRM forward pass on native wgpu, counted from
# cubecl's own kernel log (profiling level "minimal": one "Executing" line per
# launch). Two runs of `pairrm bench` that differ by one timed pass; their
# difference is one forward pass, without warm-up, compilation or autotuning.
#   scripts/count_dispatches.sh [PAIRRM_BINARY] [--layers 24] [--tokens 256] [--batch-size 1]
# Compare two builds (e.g. without and with burn's fusion) by passing each binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/pairrm"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then bin="$(realpath "$1")"; shift; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/cubecl.toml" <<EOF
[profiling.logger]
level = "minimal"
file = "$work/kernels.log"
EOF
count() {
  local iters=$1
  shift
  rm -f "$work/kernels.log"
  (cd "$work" && "$bin" bench --device wgpu --iters "$iters" "$@" >/dev/null 2>&1)
  grep -c '^Executing' "$work/kernels.log" || true
}
one=$(count 1 "$@")
two=$(count 2 "$@")
echo "$(basename "$bin"): $((two - one)) dispatches per forward pass ($*)"
