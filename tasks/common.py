"""What every stage module shares: params loading, seeding, the printed summary table, evaluation's extractors.

Paths live in tasks/paths.py.
"""

from __future__ import annotations

import argparse
import random
from typing import TYPE_CHECKING

import numpy as np

from genqc.config import SECTIONS, EvaluateParams, Params, load_params
from genqc.errors import ConfigError
from genqc.features import build_extractor
from genqc.io import print_table  # noqa: F401  (the stages' summary table; defined once, in the library)
from genqc.threads import apply_threads, available_cores, per_process_threads
from tasks.paths import CLASSIFIER_CHECKPOINT

if TYPE_CHECKING:
    from genqc.features.base import FeatureExtractor


def params_from_args(args: argparse.Namespace) -> Params:
    """Load and validate the params file named by ``--params`` (a stage needs every section), and size the threads.

    Every stage loads its params here, so this is the one place the ``threads``
    setting is applied (torch, OpenMP, BLAS; split between torchrun's workers).
    """
    params = load_params(getattr(args, "params", "params.yaml"), required=SECTIONS)
    apply_threads(per_process_threads(params.threads or available_cores()))
    return params


def seed_everything(seed: int) -> None:
    """Seed Python and NumPy's legacy global generators (torch is seeded where it is used)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def evaluation_extractors(cfg: EvaluateParams) -> tuple[list[FeatureExtractor], FeatureExtractor | None]:
    """``evaluate.extractors`` built (the distance spaces), and the classifier when ``evaluate.classifier`` is on.

    The features stage and evaluate build them here, so the store holds the spaces evaluate
    reads; one classifier instance serves both roles when it is also a distance space.
    """
    built = {
        name: _extractor(name, cfg)
        for name in dict.fromkeys([*cfg.extractors, *(["classifier"] if cfg.classifier else [])])
    }
    return [built[name] for name in cfg.extractors], built.get("classifier") if cfg.classifier else None


def _extractor(name: str, cfg: EvaluateParams) -> FeatureExtractor:
    if name == "classifier":
        if not CLASSIFIER_CHECKPOINT.is_file():
            raise ConfigError(
                f"evaluate.extractors lists 'classifier' (or evaluate.classifier is true) but {CLASSIFIER_CHECKPOINT} "
                "is missing; run `dvc repro classifier` first, or remove it from evaluate.extractors and set "
                "evaluate.classifier: false"
            )
        return build_extractor("classifier", checkpoint=CLASSIFIER_CHECKPOINT)
    if name == "inception":
        if not cfg.inception_weights:
            raise ConfigError(
                "evaluate.extractors lists 'inception' but evaluate.inception_weights is null; give "
                "the path of the pt_inception-2015-12-05 weights file"
            )
        return build_extractor("inception", weights=cfg.inception_weights)
    return build_extractor(name)
