"""Mode coverage: histograms, missing modes and the smoothed KL."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.metrics.modes import CLASS_KL, CLASS_TV, MODES_COVERED, MODES_TOTAL, mode_coverage


def test_matching_histograms():
    labels = np.arange(1000) % 10
    report = mode_coverage(labels, labels)
    assert report.summary[CLASS_TV] == 0.0
    assert report.summary[CLASS_KL] == pytest.approx(0.0, abs=1e-3)  # only the 0.5 smoothing remains
    assert report.summary[MODES_COVERED] == report.summary[MODES_TOTAL] == 10.0
    assert report.missing == []


def test_collapsed_samples():
    real = np.arange(1000) % 10
    samples = np.array([3] * 90 + [4] * 10)
    report = mode_coverage(samples, real)
    assert report.summary[MODES_COVERED] == 2.0
    assert report.missing == [0, 1, 2, 5, 6, 7, 8, 9]
    assert report.summary[CLASS_TV] == pytest.approx(0.8)  # 0.5 * (0.8 extra on class 3 + 8 missing * 0.1)
    assert np.isfinite(report.summary[CLASS_KL]) and report.summary[CLASS_KL] > 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="non-negative integers"):
        mode_coverage(np.array([0.5]), np.array([0]))
    with pytest.raises(ValueError, match="num_classes=2"):
        mode_coverage(np.array([3]), np.array([0]), num_classes=2)
