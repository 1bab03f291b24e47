"""``PairRM``: a loaded model with the methods of LLM-Blender 0.0.2's
``Blender`` (same signatures, defaults and return shapes), computed by the
Rust core with the GIL released.

Differences from LLM-Blender, all deliberate:
- ``batch_size`` is accepted and does not change results; the core batches
  comparisons itself (``PairRM.load(..., batch_size=)`` sets how many).
- The bubble best-of-n visits candidates in a seeded order (``seed``), not in
  torch's global random order, so results are reproducible.
- Marker strings typed in user text (``<|candidate1|>``, ``[CLS]``) are text,
  never control tokens.
- ``source_max_length``/``candidate_max_length`` overrides are not supported:
  the model's config sets them.
- As LLM-Blender, an unknown compare ``mode`` scores both orders and an
  unknown ``pairrm_cmp_type`` ranks fully; here with a warning.
"""

import warnings

import numpy as np

from . import _pairrm
from ._hub import resolve
from ._progress import progress

_DEVICES = {"cpu": "cpu", "gpu": "gpu", "wgpu": "gpu", "auto": "auto", "cuda": "gpu", "mps": "gpu"}


def _device(device):
    if device is None:
        return "auto"
    name = str(device).split(":")[0].lower()
    if name not in _DEVICES:
        raise ValueError(f"unknown device {device!r} (expected cpu, gpu or auto)")
    return _DEVICES[name]


def _sequence(name, values, of="strings"):
    # A bare string is a sequence of characters: a common slip (one candidate
    # list given as a string) that would otherwise rank single characters.
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of {of}, not a single {type(values).__name__}")
    return list(values)


def _texts(name, values):
    values = _sequence(name, values)
    for v in values:
        if not isinstance(v, str):
            raise TypeError(f"{name} must hold strings, got {type(v).__name__}")
    return values


def _instructions(instructions, n):
    if instructions is None:
        return [""] * n
    instructions = _texts("instructions", instructions)
    if len(instructions) != n:
        raise ValueError(f"{len(instructions)} instructions for {n} inputs")
    return instructions


def _candidate_lists(candidates, n):
    candidates = [_texts("candidates", c) for c in candidates]
    if len(candidates) != n:
        raise ValueError(f"{len(candidates)} candidate lists for {n} inputs")
    if any(len(c) == 0 for c in candidates):
        raise ValueError("each input must have at least one candidate")
    return candidates


def _same_count(candidates):
    if any(len(c) != len(candidates[0]) for c in candidates):
        raise ValueError("each input must have the same number of candidates")


class PairRM:
    """A loaded PairRM. Thread-safe: one model serves several Python threads."""

    def __init__(self, model):
        if not isinstance(model, _pairrm.Model):
            raise TypeError("use PairRM.load(path_or_repo)")
        self._model = model

    @classmethod
    def load(cls, path_or_repo, device="cpu", dtype=None, batch_size=None, revision=None,
             cache_dir=None):
        """Load a folder of ``llm-blender/PairRM`` or ``PairRM-hf`` files (or one
        written by ``pairrm convert``), or fetch a hub repo id with
        ``huggingface_hub``. ``device``: "cpu", "gpu" (wgpu: Vulkan, Metal,
        DX12) or "auto"; ``dtype``: None (as stored), "f32", "f16" or "q8"
        (converted while loading); ``batch_size``: comparisons per forward pass;
        ``revision``, ``cache_dir``: for a hub repo id."""
        folder = resolve(path_or_repo, revision, cache_dir)
        return cls(_pairrm.Model.load(folder, device=_device(device), dtype=dtype,
                                      batch_size=batch_size))

    @property
    def device(self):
        return self._model.device

    @property
    def dtype(self):
        return self._model.dtype

    def __repr__(self):
        return f"PairRM(device={self.device!r}, dtype={self.dtype!r})"

    def tokenize(self, text):
        """The token ids PairRM sees for one text."""
        return self._model.tokenize(text)

    def rank(self, inputs, candidates, instructions=None, return_scores=False, batch_size=8,
             disable_tqdm=False):
        """Rank each input's candidates: int32 ranks (1 is best; ties share the
        better rank), or float32 scores (higher is better) with
        ``return_scores``, shape (inputs, candidates)."""
        inputs = _texts("inputs", inputs)
        candidates = _candidate_lists(candidates, len(inputs))
        _same_count(candidates)
        instructions = _instructions(instructions, len(inputs))
        # One candidate ranks first with score 0, as in the reference; the core
        # only ranks two or more.
        work = [k for k, c in enumerate(candidates) if len(c) > 1]
        scores = np.zeros((len(inputs), len(candidates[0]) if candidates else 0), dtype=np.float32)
        ranks = np.ones(scores.shape, dtype=np.int32)
        if work:
            rows = [(instructions[k], inputs[k], candidates[k]) for k in work]
            with progress("Ranking candidates", disable_tqdm) as report:
                ranked = self._model.rank(rows, report)
            for k, (_, s, _, _) in zip(work, ranked):
                scores[k] = s
                # Ranks from the float32 scores, as the reference ranks them:
                # scores equal in float32 share a rank there.
                ranks[k] = _pairrm.ranks([float(x) for x in scores[k]])
        return scores if return_scores else ranks

    def compare(self, inputs, candidates_A, candidates_B, instructions=None, batch_size=4,
                return_logits=False, mode="[A,B]+[B,A]", disable_tqdm=False):
        """Is A better than B, per input: a bool array, or float32 logits with
        ``return_logits`` (> 0: A is better). ``mode``: "[A,B]" (logit(A,B)),
        "[B,A]" (logit(B,A)) or "[A,B]+[B,A]" (logit(A,B) − logit(B,A))."""
        inputs = _texts("inputs", inputs)
        a = _texts("candidates_A", candidates_A)
        b = _texts("candidates_B", candidates_B)
        if len(a) != len(b):
            raise ValueError("candidates_A and candidates_B must have the same length")
        if len(a) != len(inputs):
            raise ValueError(f"{len(a)} candidate pairs for {len(inputs)} inputs")
        instructions = _instructions(instructions, len(inputs))
        values = self._compare(list(zip(instructions, inputs, a, b)), mode, disable_tqdm)
        return values if return_logits else values > 0

    def _compare(self, rows, mode, disable_tqdm=True):
        try:
            mode = _pairrm.compare_mode(mode)
        except ValueError as e:
            # LLM-Blender scores both orders for any mode but "[A,B]" and
            # "[B,A]"; so does this drop-in, saying so.
            warnings.warn(f"{e}; scoring both orders, as LLM-Blender does", stacklevel=3)
            mode = "both"
        with progress("Comparing candidates", disable_tqdm) as report:
            if mode == "both":
                values = [s[0] for s in self._model.score_pairs(rows, report)]
            elif mode == "ab":
                values = self._model.logits(rows, report)
            else:
                values = self._model.logits([(i, x, b, a) for i, x, a, b in rows], report)
        return np.asarray(values, dtype=np.float32)

    def compare_conversations(self, conversations_a, conversations_b, batch_size=4,
                              return_logits=False, mode="[A,B]+[B,A]"):
        """Compare two conversations with the same USER turns, judging the
        ASSISTANT turns (each a list of ``{"role", "content"}``)."""
        conversations_a, conversations_b = list(conversations_a), list(conversations_b)
        if len(conversations_a) != len(conversations_b):
            raise ValueError("conversations_a and conversations_b must have the same length")

        def turns(conversation):
            try:
                return [(m["role"], m["content"]) for m in conversation]
            except (KeyError, TypeError) as e:
                raise TypeError("a conversation turn is a dict with 'role' and 'content'") from e

        rows = [_pairrm.conversation_pair(turns(a), turns(b))
                for a, b in zip(conversations_a, conversations_b)]
        values = self._compare(rows, mode)
        return values if return_logits else values > 0

    def rank_with_ref(self, inputs, candidates, instructions=None, return_scores=False,
                      batch_size=8, ref_mode="longest", ref_candidates=None, **rank_kwargs):
        """Score each candidate against a reference answer: ``score =
        −compare(reference, candidate)`` in "[A,B]+[B,A]" mode; float64 scores
        with ``return_scores``, else int32 ranks. The reference is
        ``ref_candidates[i]``, else picked from the candidates by ``ref_mode``:
        "longest", "shortest", "median_length", "first" or "last". Other keywords
        go to ``compare`` as in the reference (``mode``)."""
        inputs = _texts("inputs", inputs)
        candidates = _candidate_lists(candidates, len(inputs))
        _same_count(candidates)
        instructions = _instructions(instructions, len(inputs))
        if ref_candidates is None:
            pick = {
                "longest": lambda c: max(c, key=len),
                "shortest": lambda c: min(c, key=len),
                "median_length": lambda c: sorted(c, key=len)[len(c) // 2],
                "first": lambda c: c[0],
                "last": lambda c: c[-1],
            }.get(ref_mode)
            if pick is None:
                raise ValueError(f"Unknown ref_mode: {ref_mode}")
            refs = [pick(c) for c in candidates]
        else:
            refs = _texts("ref_candidates", ref_candidates)
            if len(refs) != len(inputs):
                raise ValueError("Number of ref_candidates must be the same as inputs")
        rows = [(instructions[i], inputs[i], refs[i], c)
                for i in range(len(inputs)) for c in candidates[i]]
        values = self._compare(rows, rank_kwargs.get("mode", "[A,B]+[B,A]")).astype(np.float64)
        scores = -values.reshape(len(inputs), -1)
        if return_scores:
            return scores
        return np.array([_pairrm.ranks(list(row)) for row in scores], dtype=np.int32).reshape(scores.shape)

    def get_best_of_n(self, inputs, candidates, instructions=None, pairrm_cmp_type="bubble",
                      return_all=False, batch_size=8, seed=0):
        """The best candidate of each input (or all, best first, with
        ``return_all``). "bubble": one pass in a seeded order (n − 1
        comparisons); "full": from the full ranking."""
        return self._extreme_of_n(inputs, candidates, instructions, pairrm_cmp_type,
                                  return_all, seed, worst=False)

    def get_worst_of_n(self, inputs, candidates, instructions=None, pairrm_cmp_type="bubble",
                       return_all=False, batch_size=8, seed=0):
        """As ``get_best_of_n``, for the worst candidate (worst first)."""
        return self._extreme_of_n(inputs, candidates, instructions, pairrm_cmp_type,
                                  return_all, seed, worst=True)

    def _extreme_of_n(self, inputs, candidates, instructions, cmp_type, return_all, seed, worst):
        inputs = _texts("inputs", inputs)
        candidates = _candidate_lists(candidates, len(inputs))
        instructions = _instructions(instructions, len(inputs))
        if all(len(c) == 1 for c in candidates):
            return candidates if return_all else [c[0] for c in candidates]
        if cmp_type == "bubble":
            orders = []
            for i, c in enumerate(candidates):
                order = _pairrm.permutation(len(c), seed)
                orders.append(self._model.bubble(instructions[i], inputs[i], c, order, worst))
            picked = [[c[j] for j in order] for c, order in zip(candidates, orders)]
            return picked if return_all else [p[0] for p in picked]
        # Anything but "bubble" ranks fully, as the reference, and returns its
        # types: an array of all candidates, or a list of the first of each.
        if cmp_type != "full":
            warnings.warn(f"unknown pairrm_cmp_type {cmp_type!r}; ranking fully, as LLM-Blender does",
                          stacklevel=3)
        _same_count(candidates)
        ranks = self.rank(inputs, candidates, instructions=instructions, disable_tqdm=True)
        orders = np.argsort(-ranks if worst else ranks, axis=1)
        picked = np.array(candidates)[np.arange(len(candidates))[:, None], orders]
        return picked if return_all else [p[0] for p in picked]

    def evaluate_pairs(self, rows, tie_band=0.0, seed=0, disable_tqdm=False):
        """Score a pairs dataset (rows with instruction, input (optional),
        output_a, output_b: dicts, or a pandas DataFrame) in both orders, as
        ``pairrm winrate`` does. Returns (rows, summary): per row value,
        probability (A beats B), winner ("a", "b" or "tie"), token counts and
        truncation; the summary's win rate of A has a seeded bootstrap interval."""
        if hasattr(rows, "to_dict"):
            rows = rows.to_dict("records")
        pairs = []
        for k, r in enumerate(rows):
            try:
                pairs.append((r["instruction"], r.get("input") or "", r["output_a"], r["output_b"]))
            except (KeyError, TypeError, AttributeError) as e:
                raise ValueError(
                    f"row {k}: a pairs row has instruction, output_a, output_b (and input)") from e
        with progress("Scoring pairs", disable_tqdm) as report:
            scores = self._model.score_pairs(pairs, report)
        return results(scores, tie_band, seed)


def results(scores, tie_band=0.0, seed=0):
    """Rows and summary from the core's ``(value, tokens_a, tokens_b, truncated)``."""
    import json

    verdicts = _pairrm.verdicts([s[0] for s in scores], tie_band)
    rows = [{"value": v, "probability": p, "winner": w, "tokens_a": ta, "tokens_b": tb,
             "truncated": t} for (v, ta, tb, t), (p, w) in zip(scores, verdicts)]
    return rows, json.loads(_pairrm.summarize(scores, tie_band, seed))
