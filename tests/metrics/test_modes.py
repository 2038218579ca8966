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


def test_class_kl_is_kl_of_real_against_samples_in_nats():
    """Pins the direction (a swapped KL(samples || real) fails) and the 0.5 smoothing of the sample counts."""
    real = np.array([0] * 50 + [1] * 50)  # p_real = (0.5, 0.5)
    samples = np.array([0] * 90 + [1] * 10)  # smoothed p_sample = (90.5, 10.5) / 101
    p_sample = np.array([90.5, 10.5]) / 101.0
    expected = 0.5 * np.log(0.5 / p_sample[0]) + 0.5 * np.log(0.5 / p_sample[1])
    reverse = float(np.sum(p_sample * np.log(p_sample / 0.5)))
    kl = mode_coverage(samples, real).summary[CLASS_KL]
    assert kl == pytest.approx(expected, rel=1e-12)
    assert abs(kl - reverse) > 0.1  # the two directions differ clearly here: 0.494 vs 0.359 nats
