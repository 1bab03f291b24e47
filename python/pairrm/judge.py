"""``PairRMJudge``: TRL's pairwise judge (removed from TRL in 2026) with the
same signature and results, on this package instead of llm-blender."""

import numpy as np

from ._blender import Blender
from ._model import PairRM, _sequence, _texts


class PairRMJudge:
    """Judges pairs of completions with PairRM.

    ``model``: a folder, a hub repo id, or a loaded ``PairRM``/``Blender``.
    ``seed`` seeds the order shuffle (``shuffle_order``): the same seed gives
    the flips TRL made after ``np.random.seed(seed)``. PairRM compares both
    orders, so the shuffle does not change its results."""

    def __init__(self, model="llm-blender/PairRM", device="auto", dtype=None, seed=0):
        if isinstance(model, Blender):
            if model.ranker is None:
                raise ValueError("the Blender has no ranker: call loadranker() first")
            model = model.ranker
        if not isinstance(model, PairRM):
            model = PairRM.load(model, device=device, dtype=dtype)
        self.model = model
        self._random = np.random.RandomState(seed)

    def judge(self, prompts, completions, shuffle_order=True, return_scores=False,
              temperature=1.0):
        """For each prompt and its two completions: the index of the preferred
        one (0 or 1), or with ``return_scores`` the probability that the first
        is preferred, ``softmax(scores / temperature)[0]``."""
        prompts = _texts("prompts", prompts)
        completions = [_texts("completions", c) for c in _sequence("completions", completions, "pairs")]
        if len(prompts) != len(completions):
            raise ValueError(f"{len(completions)} completion pairs for {len(prompts)} prompts")
        if any(len(c) != 2 for c in completions):
            raise ValueError("PairRM judge requires exactly 2 completions per prompt.")
        if not prompts:
            return []
        if shuffle_order:
            flip = self._random.choice([True, False], size=len(prompts))
            completions = [pair[::-1] if f else pair for f, pair in zip(flip, completions)]
        ranks = self.model.rank(prompts, completions, return_scores=return_scores,
                                disable_tqdm=True)
        if return_scores:
            ranks = ranks / temperature
        else:
            ranks = ranks - 1
        if shuffle_order:
            ranks[flip] = ranks[flip][:, ::-1]
        if not return_scores:
            return ranks[:, 0].tolist()
        shifted = np.exp(ranks - ranks.max(axis=-1, keepdims=True))
        return (shifted / shifted.sum(axis=-1, keepdims=True))[:, 0].tolist()
