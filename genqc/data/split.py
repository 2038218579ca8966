"""Deterministic, stratified train/test split."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> np.ndarray:
    """Return a boolean mask, True for test rows.

    Within each class the rows are permuted by a generator seeded with ``seed``
    and the class label, and ``round(n_class * test_fraction)`` go to test, so
    every class keeps the dataset's proportions and the split does not depend on
    row order within other classes. A class with at least two rows always keeps
    one row on each side.
    """
    labels = np.asarray(labels)
    is_test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rng = np.random.default_rng([seed, int(label) & 0x7FFFFFFF])
        rows = rows[rng.permutation(len(rows))]
        n_test = round(len(rows) * test_fraction)
        if len(rows) >= 2:
            n_test = min(max(n_test, 1), len(rows) - 1)
        is_test[rows[:n_test]] = True
    return is_test
