#!/usr/bin/env python3
"""Throughput of the Python package (pairrm.PairRM, the whole call: texts in,
logits out) at PairRM-large dims: pairs of about --tokens tokens (40% source,
30% each candidate, as scripts/reference/bench_reference.py), one forward
pass of --batch-size pairs per call. Run with the package installed
(target/py-venv after ./build.sh test); scripts/bench_python.sh runs it beside
the reference and ONNX Runtime.

    python scripts/bench_python.py --model /tmp/pairrm-large --batch-size 8
"""
import argparse
import random
import time

import pairrm


def text_of(model, n_tokens, rng):
    """Words added until the text tokenizes to n_tokens ids."""
    words = "the of and to in is was for on that with as by at from his an were are which this".split()
    words += "model answer question candidate reward pairwise language summary paris autumn".split()
    text = ""
    while len(model.tokenize(text)) < n_tokens:
        text += rng.choice(words) + " "
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/tmp/pairrm-large")
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dtype", default=None)
    args = ap.parse_args()
    t0 = time.time()
    model = pairrm.PairRM.load(args.model, batch_size=args.batch_size, dtype=args.dtype)
    print(f"pairrm {pairrm.__version__}: loaded {args.model} ({model.dtype}) in {time.time() - t0:.1f}s",
          flush=True)
    rng = random.Random(0)
    ls = int(args.tokens * 0.4)
    la = (args.tokens - ls) // 2
    lb = args.tokens - ls - la
    # Each segment adds [CLS], its marker and [SEP] around the text.
    sources = [text_of(model, ls - 3, rng) for _ in range(args.batch_size)]
    a = [text_of(model, la - 3, rng) for _ in range(args.batch_size)]
    b = [text_of(model, lb - 3, rng) for _ in range(args.batch_size)]
    call = lambda: model.compare(sources, a, b, mode="[A,B]", return_logits=True, disable_tqdm=True)  # noqa: E731
    for _ in range(args.warmup):
        call()
    times = []
    for _ in range(args.iters):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    best, mean = min(times), sum(times) / len(times)
    print(f"iteration times (s): {', '.join(f'{x:.3f}' for x in times)}")
    print(f"pairs/s: {args.batch_size / mean:.3f} (mean), {args.batch_size / best:.3f} (best)")


if __name__ == "__main__":
    main()
