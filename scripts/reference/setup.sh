#!/usr/bin/env bash
# Builds the Python reference stack in .venv-ref (gitignored). Only needed to
# regenerate tests/fixtures; CI never runs it. Needs PyPI (no Hugging Face hub).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
python3 -m venv .venv-ref
.venv-ref/bin/pip install --upgrade pip
# torch from PyPI (pulls the nvidia-* wheels, ~5 GB; only the CPU is used);
# onnx + onnxruntime for export_onnx.py / bench_onnx.py (the ONNX Runtime anchor).
.venv-ref/bin/pip install torch numpy sentencepiece protobuf safetensors dataclasses-json accelerate \
    onnx onnxruntime
# transformers 4.x pinned, first on PYTHONPATH (see run.sh): llm-blender needs
# transformers >= 4.35 and < 5, and 5.x changed the DeBERTa tokenizer.
.venv-ref/bin/pip install --target .venv-ref/pinned \
    transformers==4.35.2 tokenizers==0.15.2 huggingface_hub==0.19.4
# llm-blender 0.0.2 without its heavy optional dependencies.
tmp="$(mktemp -d)"
.venv-ref/bin/pip download --no-deps llm-blender==0.0.2 -d "$tmp"
.venv-ref/bin/pip install --no-deps "$tmp"/llm_blender-0.0.2-py3-none-any.whl
rm -rf "$tmp"
scripts/reference/run.sh -c "import torch, transformers, llm_blender; import onnx, onnxruntime; print('torch', torch.__version__, 'transformers', transformers.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
