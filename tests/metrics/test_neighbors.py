"""Float32-screened k-NN: bounds hold, exact values equal brute force, chunking changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genqc.metrics.neighbors import column_mean, kth_sq_bounds, kth_sq_distances, prepare  # noqa: E402


@pytest.mark.parametrize("chunk_size", [None, 1, 17])
def test_bounds_and_exact_values_match_brute_force(chunk_size):
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((90, 40))) + 5.0  # offset: norms much larger than distances
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    expected = np.sort(dist, axis=1)
    t = torch.from_numpy(x)
    p = prepare(t, column_mean(t))
    bounds = kth_sq_bounds(p, p, (2, 6), chunk_size=chunk_size)
    exact, nearest = kth_sq_distances(p, p, (2, 6), chunk_size=chunk_size)
    for rank in (2, 6):
        value, bound = (v.numpy() for v in bounds[rank])
        assert (np.abs(value - expected[:, rank - 1]) <= bound).all()
        np.testing.assert_allclose(exact[rank].numpy(), expected[:, rank - 1], rtol=1e-12)
    np.testing.assert_array_equal(nearest.numpy(), np.arange(90))  # each point is its own nearest
