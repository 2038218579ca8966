"""genqc: a reproducible, quality-gated pipeline for image generative models.

The package is the library: it knows nothing of params.yaml or repository paths.
Importing it is cheap; heavy dependencies (torch, great_expectations, prefect) are
imported inside the functions that need them so the CLI starts fast.

``genqc.evaluate(samples, test, train=..., extractors=...)`` measures generated
images against real ones (see :mod:`genqc.evaluation`); it loads on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {"evaluate", "EvalSet", "EvaluationResult"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from genqc import evaluation

        return getattr(evaluation, name)
    raise AttributeError(f"module 'genqc' has no attribute {name!r}")
