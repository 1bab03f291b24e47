# Sourced by the benchmarks: the ONNX Runtime anchors' files, $onnx (the f32
# export of the PairRM-large stand-in) and $int8 (its quantization as
# transformers.js makes it), each exported first if it or its .data is missing
# (~3 min; needs the reference venv, scripts/reference/setup.sh).
onnx=target/onnx/pairrm-large.onnx
int8=target/onnx/pairrm-large-int8.onnx
if [ ! -f "$onnx" ] || [ ! -f "$onnx.data" ]; then
  scripts/reference/run.sh scripts/reference/export_onnx.py --out "$onnx"
fi
if [ ! -f "$int8" ] || [ ! -f "$int8.data" ]; then
  scripts/reference/run.sh scripts/reference/quantize_onnx.py --model "$onnx" --out "$int8"
fi
