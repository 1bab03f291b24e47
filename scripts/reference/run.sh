#!/usr/bin/env bash
# Run a Python script with the reference stack (see README.md):
# .venv-ref (torch etc.) + .venv-ref/pinned (transformers 4.35.2,
# tokenizers 0.15.2, huggingface_hub 0.19.4) first on PYTHONPATH, offline.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export PYTHONPATH="$ROOT/.venv-ref/pinned${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$ROOT/.venv-ref/bin/python" "$@"
