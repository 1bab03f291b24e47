"""Timing and the FLOP estimate shared by bench_reference.py (PyTorch) and
bench_onnx.py (ONNX Runtime), so both print the same lines for
scripts/bench_compare.sh to read (`pairs/s: X (mean), Y (best)`).
Imports nothing heavy: bench_onnx.py runs without torch."""
import argparse
import time


def bench_args():
    """The options both benchmarks take (bench_compare.sh passes the same to each)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    return ap


def flops_per_seq(L, H, I, N, P):
    """FLOPs of one sequence of L tokens; the terms are explained in bench_reference.py."""
    per_layer = 2 * L * (4 * H * H + 2 * H * I) + 4 * L * L * H + 4 * L * P * H + 4 * P * H * H
    head = 2 * 2 * (2 * H * H + H)
    return N * per_layer + head


def time_and_report(run, batch, seq_len, warmup, iters):
    """Call `run()` warmup + iters times; print the timed iterations, pairs/s
    and GFLOP/s at PairRM-large dims. Returns the last output."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    best = min(times)
    mean = sum(times) / len(times)
    fl = flops_per_seq(seq_len, 1024, 4096, 24, 2 * 256) * batch
    print(f"iteration times (s): {', '.join(f'{x:.3f}' for x in times)}")
    print(f"pairs/s: {batch / mean:.3f} (mean), {batch / best:.3f} (best)")
    print(f"GFLOP per batch: {fl / 1e9:.1f}; GFLOP/s: {fl / mean / 1e9:.1f} (mean), {fl / best / 1e9:.1f} (best)")
    return out
