"""Bootstrap intervals: coverage of the truth, seeding, the FD fast path, flat keys."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.metrics import FD, bootstrap_ci, compute, fd_bootstrap_ci, fd_from_features, with_ci
from genqc.metrics.bootstrap import centred_interval


def mean_gap(real, fake):
    return float(np.mean(fake) - np.mean(real))


def test_interval_contains_the_value_and_se_matches_theory():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((400, 1)), rng.standard_normal((400, 1)) + 1.0
    ci = bootstrap_ci(mean_gap, real, fake, n_resamples=400, seed=1)
    assert ci["low"] < mean_gap(real, fake) < ci["high"]
    assert ci["se"] == pytest.approx(np.sqrt(2 / 400), rel=0.15)  # se of a difference of two means
    assert bootstrap_ci(mean_gap, real, fake, n_resamples=400, seed=1) == ci
    assert bootstrap_ci(mean_gap, real, fake, n_resamples=400, level=0.5, seed=1)["high"] < ci["high"]


def test_fd_fast_path_equals_the_generic_one():
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((120, 5)), rng.standard_normal((100, 5)) + 0.3
    generic = bootstrap_ci(fd_from_features, real, fake, n_resamples=20, seed=4, key=FD)
    fast = fd_bootstrap_ci(real, fake, n_resamples=20, seed=4)
    for key in generic:
        assert fast[key] == pytest.approx(generic[key], rel=1e-8)


def test_with_ci_makes_flat_keys():
    out = with_ci("fd_classifier", 3.0, {"low": 2.0, "high": 4.0, "se": 0.5})
    assert out == {
        "fd_classifier": 3.0,
        "fd_classifier_ci_low": 2.0,
        "fd_classifier_ci_high": 4.0,
        "fd_classifier_se": 0.5,
    }


def test_bad_input():
    x = np.zeros((10, 2))
    with pytest.raises(ValueError, match="n_resamples must be >= 2"):
        bootstrap_ci(mean_gap, x, x, n_resamples=1)
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        bootstrap_ci(mean_gap, x, x, level=95)
    with pytest.raises(ValueError, match="pass key= naming the one to bootstrap"):
        bootstrap_ci(fd_from_features, np.random.default_rng(0).standard_normal((10, 2)), x + 1, n_resamples=2)


def test_interval_is_centred_on_the_estimate_even_when_resampling_shifts_the_metric() -> None:
    """Duplicated rows inflate FD in every resample; the interval must still contain the reported FD."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(200, 20)), rng.normal(size=(200, 20))
    estimate = fd_from_features(real, fake)["fd"]
    ci = fd_bootstrap_ci(real, fake, n_resamples=30, seed=0)
    assert ci["low"] <= estimate <= ci["high"]
    assert ci["low"] >= 0.0


def test_bounded_metrics_keep_their_interval_inside_the_range() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    ci = bootstrap_ci(lambda r, f: float(np.mean(f[:, 0] > -3.0)), real, fake, n_resamples=20, bounds=(0.0, 1.0))
    assert 0.0 <= ci["low"] <= ci["high"] <= 1.0


def test_a_95_percent_interval_spans_the_central_95_percent_of_the_resamples() -> None:
    """Kills the '95% that is really 90%' mutant: the interval ends are the 2.5% and 97.5% quantiles' offsets."""
    values = np.linspace(0.0, 1.0, 10_001)  # median 0.5; q_0.025 = 0.025, q_0.975 = 0.975
    ci = centred_interval(values, 10.0, level=0.95)
    assert ci["low"] == pytest.approx(10.0 - 0.475, abs=1e-9)
    assert ci["high"] == pytest.approx(10.0 + 0.475, abs=1e-9)
    narrower = centred_interval(values, 10.0, level=0.90)
    assert narrower["high"] - narrower["low"] == pytest.approx(0.90, abs=1e-9)


def test_compute_passes_its_level_to_every_interval() -> None:
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + 0.3
    out = compute(["fd"], real_features=real, fake_features=fake, n_bootstrap=50, ci_level=0.95, seed=2)
    direct = fd_bootstrap_ci(real, fake, n_resamples=50, level=0.95, seed=2)
    assert (out["fd_features_ci_low"], out["fd_features_ci_high"]) == pytest.approx((direct["low"], direct["high"]))
    at_90 = fd_bootstrap_ci(real, fake, n_resamples=50, level=0.90, seed=2)
    assert out["fd_features_ci_high"] - out["fd_features_ci_low"] > at_90["high"] - at_90["low"]
