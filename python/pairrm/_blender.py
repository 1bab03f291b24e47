"""``Blender``: LLM-Blender's class for code that ranks and compares, so
``import pairrm as llm_blender`` runs unchanged (``Blender()``,
``loadranker(...)``, then the ranking methods). Fusion (``loadfuser``,
``fuse``, ``*_generate``) is not PairRM and is not here."""

import functools

from ._model import PairRM

_METHODS = ("rank", "rank_with_ref", "compare", "compare_conversations", "get_best_of_n",
            "get_worst_of_n", "evaluate_pairs", "tokenize")


class Blender:
    def __init__(self, *args, **kwargs):
        self.ranker = None

    def loadranker(self, ranker_path, device=None, **kwargs):
        """Load PairRM from a folder or a hub repo id (``"llm-blender/PairRM"``).
        ``device``: None (a GPU when there is one, as LLM-Blender), "cpu",
        "cuda"/"gpu" or "auto"; ``dtype`` and ``batch_size`` as ``PairRM.load``."""
        self.ranker = PairRM.load(ranker_path, device=device, **kwargs)

    def __getattr__(self, name):
        if name not in _METHODS:
            raise AttributeError(f"Blender has no attribute {name!r}")
        if self.__dict__.get("ranker") is None:
            raise RuntimeError("No ranker loaded: call loadranker() first")
        return getattr(self.ranker, name)


for _name in _METHODS:
    # Visible to help() and dir(), with PairRM's docs.
    def _method(self, *args, _name=_name, **kwargs):
        return self.__getattr__(_name)(*args, **kwargs)

    functools.update_wrapper(_method, getattr(PairRM, _name))
    setattr(Blender, _name, _method)
