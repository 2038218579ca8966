"""Evaluation: samples vs real images -> metrics with intervals and floors, plot rows, nearest pairs.

``evaluate`` takes image sets (:class:`EvalSet`, from image tables or arrays),
built feature extractors and plain keyword knobs, and returns an
:class:`EvaluationResult`; no paths, no params file. The evaluate stage and
``genqc metrics`` both call it, so they cannot disagree. The policy (floors,
copies, covered modes, KID subsets) is in :mod:`genqc.evaluation.policy`; the keys
evaluation can produce, for validating gates early, in :mod:`genqc.evaluation.keys`.

Attributes load on first use, so ``import genqc.evaluation`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate": "genqc.evaluation.evaluator",
    "ALL_METRICS": "genqc.evaluation.evaluator",
    "EvalSet": "genqc.evaluation.inputs",
    "EvaluationResult": "genqc.evaluation.result",
    "known_metric_keys": "genqc.evaluation.keys",
    "is_metric_key": "genqc.evaluation.keys",
    "distance_metrics": "genqc.evaluation.policy",
    "model_reconstructor": "genqc.evaluation.reconstruction",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'genqc.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
