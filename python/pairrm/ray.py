"""PairRM over Ray Data: datasets larger than one machine.

Each actor of a pool loads the model once and scores whole blocks of rows
(``map_batches``); Ray spreads the blocks over the actors of the cluster. The
summary (win rate, seeded bootstrap interval) is computed by the same core
code as ``pairrm winrate`` and ``PairRM.evaluate_pairs``, over the rows in
dataset order::

    import ray, pairrm.ray
    ds = ray.data.read_json("pairs.jsonl")       # instruction, input, output_a, output_b
    scored, summary = pairrm.ray.winrate(ds, "PairRM/", concurrency=8)
"""

import numpy as np

from . import _pairrm
from ._model import PairRM, results

try:
    import ray
    import ray.data
except ImportError as e:  # pragma: no cover - shown to users without ray
    raise ImportError("pairrm.ray needs Ray Data: pip install 'pairrm[ray]'") from e

PAIR_COLUMNS = ("value", "probability", "winner", "tokens_a", "tokens_b", "truncated")


class _Scorer:
    """One actor: the model, loaded once, scoring batch after batch."""

    def __init__(self, model, device, dtype, tie_band):
        self.model = PairRM.load(model, device=device, dtype=dtype)
        self.tie_band = tie_band

    def __call__(self, batch):
        n = len(batch["instruction"])
        inputs = batch["input"] if "input" in batch else [""] * n
        rows = [(str(i), "" if x is None else str(x), str(a), str(b)) for i, x, a, b in
                zip(batch["instruction"], inputs, batch["output_a"], batch["output_b"])]
        scores = self.model._model.score_pairs(rows)
        verdicts = _pairrm.verdicts([s[0] for s in scores], self.tie_band)
        out = dict(batch)
        out["value"] = np.array([s[0] for s in scores], dtype=np.float64)
        out["probability"] = np.array([p for p, _ in verdicts], dtype=np.float64)
        out["winner"] = np.array([w for _, w in verdicts], dtype=object)
        out["tokens_a"] = np.array([s[1] for s in scores], dtype=np.int64)
        out["tokens_b"] = np.array([s[2] for s in scores], dtype=np.int64)
        out["truncated"] = np.array([s[3] for s in scores], dtype=bool)
        return out


class _Ranker:
    def __init__(self, model, device, dtype):
        self.model = PairRM.load(model, device=device, dtype=dtype)

    def __call__(self, batch):
        n = len(batch["instruction"])
        inputs = batch["input"] if "input" in batch else [""] * n
        rows = [(str(i), "" if x is None else str(x), [str(c) for c in cands])
                for i, x, cands in zip(batch["instruction"], inputs, batch["candidates"])]
        ranked = self.model._model.rank(rows)
        out = dict(batch)
        out["scores"] = np.array([np.array(r[1]) for r in ranked] + [None], dtype=object)[:-1]
        out["ranks"] = np.array([np.array(r[2]) for r in ranked] + [None], dtype=object)[:-1]
        out["truncated"] = np.array([r[3] for r in ranked], dtype=bool)
        return out


def _resources(device, num_cpus, num_gpus):
    if num_gpus is None:
        num_gpus = 1 if device in ("gpu", "cuda", "wgpu") else 0
    return {"num_cpus": num_cpus, "num_gpus": num_gpus}


def score_pairs(ds, model, *, device="cpu", dtype=None, tie_band=0.0, concurrency=1,
                batch_size=64, num_cpus=1, num_gpus=None):
    """A lazy Ray Dataset: the rows of ``ds`` (columns instruction, input
    (optional), output_a, output_b) with value, probability, winner,
    tokens_a, tokens_b and truncated added. ``concurrency`` actors each load
    ``model`` (a folder every node can read, or a hub repo id) once."""
    return ds.map_batches(_Scorer, fn_constructor_args=(model, device, dtype, tie_band),
                          batch_size=batch_size, batch_format="numpy", concurrency=concurrency,
                          **_resources(device, num_cpus, num_gpus))


def rank_rows(ds, model, *, device="cpu", dtype=None, concurrency=1, batch_size=16, num_cpus=1,
              num_gpus=None):
    """A lazy Ray Dataset: the rows of ``ds`` (columns instruction, input
    (optional), candidates) with scores, ranks (1 is best) and truncated."""
    return ds.map_batches(_Ranker, fn_constructor_args=(model, device, dtype),
                          batch_size=batch_size, batch_format="numpy", concurrency=concurrency,
                          **_resources(device, num_cpus, num_gpus))


def winrate(ds, model, *, tie_band=0.0, seed=0, **options):
    """Score a pairs dataset and summarise it: ``(scored, summary)``, the
    scored rows as a materialized Ray Dataset in the order of ``ds`` and the
    summary dict of ``pairrm winrate`` (same numbers for the same rows)."""
    # The bootstrap depends on the rows' order: keep the dataset's. A Dataset
    # runs with the DataContext it was made with (shared by the datasets
    # derived from it), so that one is set for this run and restored after.
    context = ds.context
    keep = context.execution_options.preserve_order
    context.execution_options.preserve_order = True
    try:
        scored = score_pairs(ds, model, tie_band=tie_band, **options).materialize()
        scores = [(float(r["value"]), int(r["tokens_a"]), int(r["tokens_b"]), bool(r["truncated"]))
                  for r in scored.iter_rows()]
    finally:
        context.execution_options.preserve_order = keep
    return scored, results(scores, tie_band, seed)[1]
