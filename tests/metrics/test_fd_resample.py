"""FD of count-weighted resamples: both routes give the resampled sets' exact FD, and the bootstrap uses them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from genqc.metrics import FD, bootstrap_ci, fd_bootstrap_ci, fd_from_features
from genqc.metrics.fd_resample import ResampledFrechet, resample_weights, route_costs
from genqc.metrics.fid import fd_from_centred_rows


def _sets(n1: int, n2: int, dim: int, *, rank: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two shifted, rescaled Gaussian sets; with ``rank``, both inside one ``rank``-dimensional subspace;
    with ``rank=0``, non-negative features whose spectrum decays over six decades, as CNN features' do."""
    rng = np.random.default_rng(seed)
    if rank == 0:
        scales = 10.0 ** -np.linspace(0.0, 6.0, dim)
        return np.abs(rng.standard_normal((n1, dim))) * scales, np.abs(rng.standard_normal((n2, dim))) * scales * 1.1
    if rank is None:
        return rng.standard_normal((n1, dim)), rng.standard_normal((n2, dim)) * 1.1 + 0.2
    basis = rng.standard_normal((rank, dim))
    return rng.standard_normal((n1, rank)) @ basis, rng.standard_normal((n2, rank)) @ basis * 1.2 + 0.1


def _exact_fd(x: np.ndarray, y: np.ndarray) -> float:
    """FD of two explicit sets from the SVD of their centred cross product: exact for any rank."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    return fd_from_centred_rows(mx - my, x - mx, len(x), y - my, len(y))


SHAPES = [
    pytest.param(50, 40, 100, None, id="fewer-samples-than-dimensions"),
    pytest.param(200, 100, 320, None, id="evaluate-like-n1-above-n2"),
    pytest.param(120, 90, 30, None, id="more-samples-than-dimensions"),
    pytest.param(60, 60, 200, 10, id="rank-deficient-n-below-d"),
    pytest.param(300, 200, 64, 5, id="rank-deficient-n-above-d"),
    pytest.param(160, 120, 256, 0, id="decaying-spectrum"),  # eigenvalues of CᵀC (squaring C) lost 4e-9 here
]


@pytest.mark.parametrize(("n1", "n2", "dim", "rank"), SHAPES)
def test_gram_route_gives_the_exact_fd_of_each_resample(n1: int, n2: int, dim: int, rank: int | None) -> None:
    x, y = _sets(n1, n2, dim, rank=rank)
    fd = ResampledFrechet(x, y, route="gram")
    rng = np.random.default_rng(1)
    for _ in range(4):
        ix, iy = rng.integers(0, n1, n1), rng.integers(0, n2, n2)
        wx, wy = np.bincount(ix, minlength=n1).astype(float), np.bincount(iy, minlength=n2).astype(float)
        assert fd(wx, wy) == pytest.approx(_exact_fd(x[ix], y[iy]), rel=1e-10)


def test_the_two_routes_agree_on_full_rank_covariances() -> None:
    x, y = _sets(150, 120, 40, seed=3)
    gram, covariance = ResampledFrechet(x, y, route="gram"), ResampledFrechet(x, y, route="covariance")
    rng = np.random.default_rng(2)
    for _ in range(4):
        wx, wy = resample_weights(rng, 150), resample_weights(rng, 120)
        assert gram(wx, wy) == pytest.approx(covariance(wx, wy), rel=1e-10)


def test_unit_weights_give_the_fd_of_the_sets_themselves() -> None:
    x, y = _sets(80, 70, 150, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular covariances: expected at these sizes
        expected = fd_from_features(x, y)[FD]
    assert ResampledFrechet(x, y)(np.ones(80), np.ones(70)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(("n1", "n2", "dim", "rank"), SHAPES)
def test_fd_bootstrap_equals_the_generic_bootstrap_of_fd(n1: int, n2: int, dim: int, rank: int | None) -> None:
    real, fake = _sets(n1, n2, dim, rank=rank, seed=5)
    # Rank-deficient covariances with n > D take the covariance route, whose eigenvalues of S1·S2 that
    # should be 0 come out at ±ε λ_max and add sqrt(ε λ_max) each: FD's documented 1e-6 holds there.
    tolerance = 1e-6 if rank and max(n1, n2) > dim else 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generic = bootstrap_ci(_exact_fd, real, fake, n_resamples=12, seed=7)
        fast = fd_bootstrap_ci(real, fake, n_resamples=12, seed=7, estimate=_exact_fd(real, fake))
    for end in generic:
        assert fast[end] == pytest.approx(generic[end], rel=tolerance)


def test_the_cheaper_route_is_chosen() -> None:
    # EfficientNet-like: 2,000 test vs 1,000 samples in 1,280-d -> the Gram route, many times cheaper
    costs = route_costs(2000, 1000, 1280, 100)
    assert costs["gram"] * 5 < costs["covariance"]
    # classifier-like: many samples in 128-d -> the covariance route
    costs = route_costs(2000, 1000, 128, 100)
    assert costs["covariance"] < costs["gram"]
    assert ResampledFrechet(*_sets(200, 100, 320)).route == "gram"
    assert ResampledFrechet(*_sets(400, 300, 16)).route == "covariance"


def test_an_unknown_route_is_refused() -> None:
    with pytest.raises(ValueError, match="route must be 'gram' or 'covariance'"):
        ResampledFrechet(*_sets(10, 10, 4), route="svd")
