#!/usr/bin/env bash
# The real-weights tier (needs internet; not run by CI): downloads the published
# llm-blender/PairRM (1.74 GB, resumable) into DIR and checks our CLI against
# the examples on its model card (https://huggingface.co/llm-blender/PairRM):
#   compare: "hello!" hi! vs f**k off! -> A better; "I love you!" I hate you! vs
#            I love you, too! -> B better
#   rank:    "hello, how are you!" [get out!, hi! I am fine, thanks!, bye!] -> [3, 1, 2]
#            "I love you!" [I love you too!, I hate you!, Thanks! You're a good guy!] -> [1, 3, 2]
# Usage: scripts/real_model_check.sh [DIR] [--device cpu|wgpu]   (after cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-$HOME/.cache/pairrm-web/PairRM}"
device="cpu"
if [ "${2:-}" = "--device" ]; then device="${3:-cpu}"; fi
base="${PAIRRM_BASE:-https://huggingface.co/llm-blender/PairRM/resolve/main}"
bin="${PAIRRM_BIN:-target/release/pairrm}"
mkdir -p "$dir"
for f in config.json spm.model added_tokens.json model.safetensors; do
  echo "fetching $f" >&2
  curl -fL --retry 5 --retry-delay 2 -C - -o "$dir/$f" "$base/$f"
done

compare=$(printf '%s\n' \
  '{"instruction": "hello!", "a": "hi!", "b": "f**k off!"}' \
  '{"instruction": "I love you!", "a": "I hate you!", "b": "I love you, too!"}' \
  | "$bin" compare --model "$dir" --device "$device")
rank=$(printf '%s\n' \
  '{"instruction": "hello, how are you!", "candidates": ["get out!", "hi! I am fine, thanks!", "bye!"]}' \
  '{"instruction": "I love you!", "candidates": ["I love you too!", "I hate you!", "Thanks! You'"'"'re a good guy!"]}' \
  | "$bin" rank --model "$dir" --device "$device")

COMPARE="$compare" RANK="$rank" python3 - <<'PY'
import json, os, sys
compare = [json.loads(l) for l in os.environ["COMPARE"].splitlines()]
rank = [json.loads(l) for l in os.environ["RANK"].splitlines()]
ok = True
for got, want in zip([c["result"] for c in compare], [True, False]):
    print(f"compare: result {got} (model card: {want})")
    ok &= got == want
for got, want in zip([r["ranks"] for r in rank], [[3, 1, 2], [1, 3, 2]]):
    print(f"rank: {got} (model card: {want})")
    ok &= got == want
print("real PairRM matches its model card" if ok else "MISMATCH with the model card")
sys.exit(0 if ok else 1)
PY
