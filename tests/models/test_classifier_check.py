"""The evaluator verdict: ok above classifier.min_accuracy, useless at or below a constant guess."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.models.classifier_check import EVALUATOR_OK, judge_accuracy


def test_verdict_levels_against_the_threshold_and_the_constant_guess() -> None:
    labels = np.array([0] * 6 + [1] * 3 + [2])  # a constant "0" scores 0.6
    good = judge_accuracy(0.9, labels, min_accuracy=0.8)
    assert good.ok and not good.no_better_than_guessing and good.metrics()[EVALUATOR_OK] is True
    weak = judge_accuracy(0.7, labels, min_accuracy=0.8)
    assert not weak.ok and not weak.no_better_than_guessing
    assert "WARNING" in weak.warning() and "classifier.min_accuracy=0.8" in weak.warning()
    useless = judge_accuracy(0.6, labels, min_accuracy=0.8)
    assert useless.no_better_than_guessing and useless.metrics()["baseline_accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="test labels"):
        judge_accuracy(0.5, np.array([]), min_accuracy=0.8)
