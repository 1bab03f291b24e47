#!/usr/bin/env python3
"""ONNX Runtime's int8 on the large stand-in, against the reference: the
accuracy anchor for our q8 (issue 15, item 5).

The stand-in (make-random-model --seed 42, see large.py) is exported to ONNX as
LLM-Blender loads it (export_onnx.py --model on large.py's PairRM-hf folder),
quantized with transformers.js's recipe (quantize_onnx.py), and both models
are run on the input ids of the 10 comparisons in
tests/fixtures/large/reference.json. Prints each one's logit and the max
|change of a logit| against the reference's, for ORT f32 and ORT int8; our own
q8 numbers on the same cases come from the ignored test
`large_stand_in_per_dtype` (native) and `large_model_check.mjs --reference`.

    target/release/pairrm make-random-model --model tests/fixtures/tiny-hf --out /tmp/pairrm-large --seed 42
    scripts/reference/run.sh scripts/reference/large_int8.py --model /tmp/pairrm-large
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import large  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="the seed-42 stand-in")
    ap.add_argument("--out", default="target/onnx/stand-in", help="prefix of the two .onnx files")
    args = ap.parse_args()
    f32, int8 = Path(f"{args.out}.onnx"), Path(f"{args.out}-int8.onnx")
    if not f32.exists():
        with tempfile.TemporaryDirectory() as td:
            hf = large.hf_folder(Path(args.model), Path(td))
            subprocess.run([sys.executable, str(HERE / "export_onnx.py"), "--model", str(hf), "--out", str(f32)],
                           check=True)
    if not int8.exists():
        subprocess.run([sys.executable, str(HERE / "quantize_onnx.py"), "--model", str(f32), "--out", str(int8)],
                       check=True)
    cases = json.loads((ROOT / "tests/fixtures/large/reference.json").read_text())["forward"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    rows = {}
    for name, path in [("ORT f32", f32), ("ORT int8", int8)]:
        sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        got = []
        for c in cases:
            ids = np.array([c["ids"]], dtype=np.int64)
            got.append(float(sess.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]))
        rows[name] = got
        del sess
    print("tokens  reference   " + "  ".join(f"{n:>10}" for n in rows))
    for k, c in enumerate(cases):
        print(f"{c['tokens']:6d}  {c['logit']:+.6f}  " + "  ".join(f"{rows[n][k]:+.6f}" for n in rows))
    for name, got in rows.items():
        change = max(abs(g - c["logit"]) for g, c in zip(got, cases))
        print(f"{name}: max |change of a logit| vs the reference {change:.3e}")


if __name__ == "__main__":
    main()
