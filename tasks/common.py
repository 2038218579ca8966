"""What every stage module shares: params loading, seeding and the printed summary table.

Paths live in tasks/paths.py.
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from genqc.config import SECTIONS, Params, load_params
from genqc.io import print_table  # noqa: F401  (the stages' summary table; defined once, in the library)
from genqc.threads import apply_threads, available_cores, per_process_threads


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
