"""What every stage module shares: the repository layout and params loading.

Paths are written once here and checked against dvc.yaml by a test, so code and
pipeline cannot drift. The library never sees them; stages pass them in.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from genqc.config import Params, load_params
from genqc.threads import apply_threads, available_cores, per_process_threads

DATA = Path("data")
REPORTS = Path("reports")

INGEST_DIR = DATA / "ingest"
VALIDATE_DIR = DATA / "validate"
AUGMENT_DIR = DATA / "augment"
CLASSIFIER_DIR = DATA / "classifier"
TRAIN_DIR = DATA / "train"
SAMPLE_DIR = DATA / "sample"
VALIDATION_REPORTS = REPORTS / "validation"
TRAIN_REPORTS = REPORTS / "train"
PLOTS = REPORTS / "plots"
EVALUATE_DIR = DATA / "evaluate"
FEATURE_CACHE = DATA / "cache" / "features"
SAMPLE_REPORTS = REPORTS / "sample"
EVALUATE_REPORTS = REPORTS / "evaluate"
METRICS_FILE = REPORTS / "metrics.json"  # the primary family's (train.model) metrics: the contract path


def params_from_args(args: argparse.Namespace) -> Params:
    """Load and validate the params file named by ``--params``, and size the thread pools by ``threads``.

    Every stage loads its params here, so this is the one place the thread
    setting is applied (torch, OpenMP, BLAS; split between torchrun's workers).
    """
    params = load_params(getattr(args, "params", "params.yaml"))
    apply_threads(per_process_threads(params.threads or available_cores()))
    return params


def seed_everything(seed: int) -> None:
    """Seed Python and NumPy's legacy global generators (torch is seeded where it is used)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)


def print_table(rows: list[tuple], header: tuple) -> None:
    """Print a small aligned table; the one-screen summaries of every stage use it."""
    text = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    for i, row in enumerate(text):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
