"""``Blender``: LLM-Blender's class for code that ranks and compares, so
``import pairrm as llm_blender`` runs unchanged (``Blender()``,
``loadranker(...)``, then the ranking methods). Fusion (``loadfuser``,
``fuse``, ``*_generate``) is not PairRM and is not here."""

import functools
import warnings

from ._model import PairRM

_METHODS = ("rank", "rank_with_ref", "compare", "compare_conversations", "get_best_of_n",
            "get_worst_of_n", "evaluate_pairs", "tokenize")


class Blender:
    def __init__(self, *args, **kwargs):
        self.ranker = None

    def loadranker(self, ranker_path, device=None, **kwargs):
        """Load PairRM from a folder or a hub repo id (``"llm-blender/PairRM"``).
        ``device``: None (a GPU when there is one, as LLM-Blender), "cpu",
        "cuda"/"gpu" or "auto"; ``cache_dir``, ``dtype``, ``batch_size`` and
        ``revision`` as ``PairRM.load``; ``fp16=True`` loads f16 weights.
        LLM-Blender's other ``RankerConfig`` settings are ignored, with a warning
        (the model's config sets the lengths)."""
        load = {k: kwargs.pop(k) for k in ("cache_dir", "dtype", "batch_size", "revision") if k in kwargs}
        if kwargs.pop("fp16", False) and load.get("dtype") is None:
            load["dtype"] = "f16"
        if kwargs:
            warnings.warn(f"loadranker ignores {', '.join(sorted(kwargs))}", stacklevel=2)
        self.ranker = PairRM.load(ranker_path, device=device, **load)

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
