"""PairRM, LLM-Blender's pairwise reward model, without torch.

``PairRM.load(path_or_repo)`` gives a model with LLM-Blender's ``Blender``
methods (``rank``, ``compare``, ``rank_with_ref``, ``compare_conversations``,
``get_best_of_n``, ``get_worst_of_n``) and ``evaluate_pairs`` for dataset win
rates. ``Blender`` and ``PairRMJudge`` are drop-ins for LLM-Blender's class and
TRL's removed judge; ``pairrm.ray`` scores Ray Datasets.
"""

from ._pairrm import __version__
from ._model import PairRM
from ._blender import Blender
from .judge import PairRMJudge

__all__ = ["PairRM", "Blender", "PairRMJudge", "__version__"]
