#!/usr/bin/env python3
"""The int8 anchor: an exported PairRM (export_onnx.py) quantized the way
transformers.js makes its default `model_quantized.onnx`, so ONNX Runtime's
int8 numbers are what a web developer picking transformers.js would get.

    scripts/reference/run.sh scripts/reference/quantize_onnx.py \\
        --model target/onnx/pairrm-large.onnx --out target/onnx/pairrm-large-int8.onnx

The recipe (transformers.js scripts/quantize.py, dtype q8): ONNX Runtime's
dynamic quantization, `QuantizationMode.IntegerOps`, weights QInt8 per
channel with reduce_range, activations QUInt8 quantized per call,
`MatMulConstBOnly`, over the op types of `IntegerOpsRegistry` (MatMul,
Gather, ...). The result is saved with external data (ORT Web cannot read a
large model as one protobuf).
"""
import argparse
import time
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType
from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer
from onnxruntime.quantization.quant_utils import QuantizationMode
from onnxruntime.quantization.registry import IntegerOpsRegistry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="target/onnx/pairrm-large.onnx")
    ap.add_argument("--out", default="target/onnx/pairrm-large-int8.onnx")
    args = ap.parse_args()
    t0 = time.time()
    model = onnx.load(args.model)  # external data next to it loads too
    quantizer = ONNXQuantizer(
        model,
        per_channel=True,
        reduce_range=True,
        mode=QuantizationMode.IntegerOps,
        static=False,
        weight_qType=QuantType.QInt8,
        activation_qType=QuantType.QUInt8,
        tensors_range=None,
        nodes_to_quantize=[],
        nodes_to_exclude=[],
        op_types_to_quantize=list(IntegerOpsRegistry.keys()),
        extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True},
    )
    quantizer.quantize_model()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = out.with_name(out.name + ".data")
    data.unlink(missing_ok=True)
    onnx.save_model(quantizer.model.model, str(out), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=data.name)
    size = out.stat().st_size + data.stat().st_size
    print(f"wrote {out} + {data.name}: {size / 1e6:.0f} MB in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
