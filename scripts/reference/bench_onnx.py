#!/usr/bin/env python3
"""CPU throughput of the PairRM forward on ONNX Runtime (CPUExecutionProvider,
f32), the model exported by export_onnx.py (random weights, deberta-v3-large
dims). Same inputs and output format as bench_reference.py, so
scripts/bench_compare.sh greps `pairs/s:` the same way.

    scripts/reference/run.sh scripts/reference/export_onnx.py     # once
    scripts/reference/run.sh scripts/reference/bench_onnx.py --threads 2 --batch-size 4

Each "pair" is one sequence of --seq-len tokens:
[CLS] <|source|> ... [SEP] [CLS] <|candidate1|> ... [SEP] [CLS] <|candidate2|> ... [SEP]
with random ordinary token ids (40% source, 30% each candidate). Session:
intra_op_num_threads=--threads, inter_op 1, sequential, graph optimisation ALL.
"""
import time

import numpy as np
import onnxruntime as ort

from timing import bench_args, time_and_report


def main():
    ap = bench_args()
    ap.add_argument("--model", default="target/onnx/pairrm-large.onnx")
    ap.add_argument("--n-spm", type=int, default=128000, help="markers are n_spm+1..n_spm+3")
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.time()
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    print(f"onnxruntime {ort.__version__}: loaded {args.model} in {time.time() - t0:.1f}s; "
          f"threads {args.threads}, batch {args.batch_size}, seq {args.seq_len}", flush=True)

    rng = np.random.default_rng(0)
    n, L, B = args.n_spm, args.seq_len, args.batch_size
    ls = int(L * 0.4)
    la = (L - ls) // 2
    lb = L - ls - la

    def segment(marker, k):
        return [1, marker] + rng.integers(10, n, k - 3).tolist() + [2]

    ids = np.array([segment(n + 1, ls) + segment(n + 2, la) + segment(n + 3, lb) for _ in range(B)],
                   dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    assert ids.shape == (B, L)

    out = time_and_report(lambda: sess.run(None, feed)[0], B, L, args.warmup, args.iters)
    assert out.shape == (B,)

if __name__ == "__main__":
    main()
