"""Distribution checks for bias: each category's share against an expected distribution, and their KL divergence.

Used for the label column and for any metadata column named in
``validate.attributes`` (e.g. a group attribute), so a dataset can be gated on
attribute bias, not only on class balance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

CATEGORY, COUNT, SHARE, EXPECTED, LOWER, UPPER, WITHIN = (
    "category",
    "count",
    "share",
    "expected",
    "lower",
    "upper",
    "within",
)


def expected_shares(categories: Sequence, weights: Mapping | None = None) -> dict:
    """The expected share of each category: ``weights`` normalised to sum 1, or uniform when None.

    Categories given weights but absent from ``categories`` still count: a class
    the user expects and the data lacks is exactly what the check must catch.
    """
    if weights:
        total = float(sum(weights.values()))
        return {k: float(v) / total for k, v in weights.items()}
    unique = list(dict.fromkeys(categories))
    return {k: 1.0 / len(unique) for k in unique} if unique else {}


def balance_table(values: pd.Series, expected: Mapping, *, tolerance: float) -> pd.DataFrame:
    """One row per category (expected or observed): count, share, expected share and the allowed band.

    A category is within tolerance when ``|share - expected| <= tolerance * expected``;
    a category observed but not expected (expected share 0) is never within.
    Null values are left out (the null check reports them).
    """
    observed = values.dropna().value_counts()
    total = int(observed.sum())
    categories = list(expected) + [c for c in observed.index if c not in expected]
    rows = []
    for category in categories:
        count = int(observed.get(category, 0))
        share = count / total if total else 0.0
        want = float(expected.get(category, 0.0))
        lower, upper = want * (1 - tolerance), want * (1 + tolerance)
        rows.append((str(category), count, share, want, lower, upper, want > 0 and lower <= share <= upper))
    return pd.DataFrame(rows, columns=[CATEGORY, COUNT, SHARE, EXPECTED, LOWER, UPPER, WITHIN])


def kl_divergence(observed: Sequence[float], expected: Sequence[float]) -> float:
    """KL(observed || expected) in nats; infinite when a category is observed but not expected.

    The same quantity Great Expectations' ``expect_column_kl_divergence_to_be_less_than``
    computes (scipy.stats.entropy(observed, expected)); kept here so it is testable without GX.
    """
    p, q = np.asarray(observed, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    if np.any((p > 0) & (q == 0)):
        return float("inf")
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def worst_deviation(table: pd.DataFrame) -> str:
    """A one-line observed value for reports: the category furthest from its expected share."""
    if table.empty:
        return "no values"
    relative = (table[SHARE] - table[EXPECTED]).abs() / table[EXPECTED].where(table[EXPECTED] > 0, np.nan)
    relative = relative.fillna(np.inf)
    worst = table.loc[relative.idxmax()]
    return f"{worst[CATEGORY]}: share {worst[SHARE]:.3f} vs expected {worst[EXPECTED]:.3f}"
