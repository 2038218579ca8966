"""FD∞: bias removed against Gaussians with an analytic FD, interval coverage by simulation, keys, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.metrics import MetricWarning, compute, fd_from_features
from genqc.metrics.fd_infinity import FD_INF, fd_infinity

DIM = 4
SIGMA = np.linspace(0.6, 1.4, DIM)  # the second Gaussian: N(SHIFT, diag(SIGMA²)); the first N(0, I)
SHIFT = 0.15
# FD between N(0, I) and N(SHIFT 1, diag(SIGMA²)): |Δμ|² + Σ (1 - σ)², exactly.
POPULATION_FD = DIM * SHIFT**2 + float(np.sum((1.0 - SIGMA) ** 2))


def gaussian_sets(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + seed)
    return rng.standard_normal((n, DIM)), rng.standard_normal((n, DIM)) * SIGMA + SHIFT


def test_extrapolation_removes_the_finite_sample_bias():
    """FD_n is biased up by ~k/n; FD∞ averages to the population FD over many draws, FD_n does not."""
    fd_n, fd_inf = [], []
    for seed in range(60):
        x, y = gaussian_sets(seed, 100)
        fd_n.append(fd_from_features(x, y)["fd"])
        fd_inf.append(fd_infinity(x, y, n_resamples=0, seed=seed)[FD_INF])
    standard_error = np.std(fd_inf) / np.sqrt(len(fd_inf))
    assert np.mean(fd_n) - POPULATION_FD > 0.08  # the bias (about 2 D / n) the estimator must remove
    assert abs(np.mean(fd_inf) - POPULATION_FD) < 3 * standard_error
    assert abs(np.mean(fd_inf) - POPULATION_FD) < 0.25 * (np.mean(fd_n) - POPULATION_FD)


@pytest.mark.slow
def test_95_percent_interval_covers_the_population_fd_95_percent_of_the_time():
    """Coverage by simulation: 300 data sets, a 100-resample interval each.

    Measured: 0.963 at the nominal 95% (and 0.913 when the same code is asked for 90%). The
    bounds [0.935, 0.99] fail an interval that is really 90% (or 99%) wide; with 300 draws
    the standard error of a coverage of 0.95 is 0.013.
    """
    hits = 0
    for seed in range(300):
        x, y = gaussian_sets(seed, 200)
        out = fd_infinity(x, y, n_resamples=100, level=0.95, seed=seed)
        hits += out["low"] <= POPULATION_FD <= out["high"]
    assert 0.935 <= hits / 300 <= 0.99


def test_the_plain_fd_interval_is_not_an_interval_for_the_population_fd():
    """16-d Gaussians, n=150: FD_n's interval (the spread of FD_n at this n) sits above the population FD
    every time, as documented; FD∞'s interval covers it. Measured: 0 of 20 and 20 of 20."""
    dim, shift = 16, 0.1
    sigma = np.linspace(0.7, 1.3, dim)
    population = dim * shift**2 + float(np.sum((1.0 - sigma) ** 2))
    plain = extrapolated = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((150, dim)), rng.standard_normal((150, dim)) * sigma + shift
        out = compute(["fd", "fd_inf"], real_features=x, fake_features=y, n_bootstrap=40, seed=seed)
        plain += out["fd_features_ci_low"] <= population <= out["fd_features_ci_high"]
        extrapolated += out["fd_features_inf_ci_low"] <= population <= out["fd_features_inf_ci_high"]
    assert plain <= 2
    assert extrapolated >= 17


def test_compute_gives_the_fd_inf_keys_of_the_function():
    x, y = gaussian_sets(0, 120)
    out = compute(["fd_inf"], real_features=x, fake_features=y, n_bootstrap=20, seed=3, space="classifier")
    direct = fd_infinity(x, y, n_resamples=20, seed=3)
    assert out["fd_classifier_inf"] == pytest.approx(direct[FD_INF], rel=1e-12)
    assert out["fd_classifier_inf_ci_low"] == pytest.approx(direct["low"], rel=1e-12)
    assert out["fd_classifier_inf_ci_high"] == pytest.approx(direct["high"], rel=1e-12)
    assert out["fd_classifier_inf_se"] == pytest.approx(direct["se"], rel=1e-12)
    assert fd_infinity(x, y, n_resamples=20, seed=3) == direct  # seeded


def test_more_dimensions_than_samples_use_the_exact_small_route():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 50)), rng.standard_normal((30, 50)) + 0.2
    with pytest.warns(MetricWarning, match="only indicative here"):
        out = fd_infinity(x, y, n_resamples=5)
    assert np.isfinite(out[FD_INF]) and out["low"] <= out["high"]


def test_bad_input():
    x, y = gaussian_sets(0, 20)
    with pytest.raises(ValueError, match="at least two distinct values"):
        fd_infinity(x, y, fractions=(1.0,))
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        fd_infinity(x, y, fractions=(1.0, 1.5))
    with pytest.raises(ValueError, match="n_resamples must be 0"):
        fd_infinity(x, y, n_resamples=1)
    with pytest.raises(ValueError, match="FD∞: real features are complex"):
        fd_infinity(x + 1j, y)
