"""Bias statistics: expected shares, the tolerance band, and KL divergence as GX computes it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import entropy

from genqc.quality import balance


def test_expected_shares_uniform_or_normalised_weights() -> None:
    assert balance.expected_shares([2, 0, 1, 0]) == {2: 1 / 3, 0: 1 / 3, 1: 1 / 3}
    assert balance.expected_shares([0, 1], {0: 3, 1: 1}) == {0: 0.75, 1: 0.25}


def test_balance_table_flags_shares_outside_the_band_and_unexpected_categories() -> None:
    values = pd.Series([0] * 50 + [1] * 40 + [2] * 10 + [None] * 5, dtype="Int64")
    table = balance.balance_table(values, {0: 0.5, 1: 0.5}, tolerance=0.25).set_index(balance.CATEGORY)
    assert table[balance.COUNT].tolist() == [50, 40, 10]  # nulls left out
    assert table[balance.WITHIN].tolist() == [True, True, False]  # 2 was never expected
    strict = balance.balance_table(values, {0: 0.5, 1: 0.5}, tolerance=0.1).set_index(balance.CATEGORY)
    assert strict.loc["1", balance.WITHIN] == np.False_  # 0.40 < 0.45
    assert balance.worst_deviation(table.reset_index()) == "2: share 0.100 vs expected 0.000"


def test_kl_matches_scipy_and_is_zero_on_the_expected_distribution() -> None:
    observed, expected = [10, 30, 60], [1 / 3, 1 / 3, 1 / 3]
    assert math.isclose(balance.kl_divergence(observed, expected), entropy([0.1, 0.3, 0.6], expected), rel_tol=1e-12)
    assert balance.kl_divergence([5, 5], [0.5, 0.5]) == 0.0
    assert balance.kl_divergence([5, 5], [1.0, 0.0]) == math.inf
