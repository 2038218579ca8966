"""genqc: a reproducible, quality-gated pipeline for image generative models.

The package is the library: it knows nothing of params.yaml or repository paths.
Importing it is cheap: its public names load their modules (and torch, pandas or
great_expectations) on first use, so the CLI starts fast.

``genqc.evaluate(samples, test, train=..., extractors=...)`` measures generated
images against real ones (see :mod:`genqc.evaluation`); it loads on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "evaluate": "genqc.evaluation",
    "EvalSet": "genqc.evaluation",
    "EvaluationResult": "genqc.evaluation",
    "validate": "genqc.quality.validation",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:  # PEP 562: cheap `import genqc`; torch, pandas and GX load on first use
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genqc' has no attribute {name!r}")
