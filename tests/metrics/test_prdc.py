"""Precision/recall/density/coverage against the prdc package and a float64 brute force, conventions, bad input."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from prdc import compute_prdc

from genqc.metrics import COVERAGE, DENSITY, PRECISION, RECALL, neighbors, prdc, realism_score


def reference(real, fake, k_prc=3, k_dc=5):
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        a, b = compute_prdc(real, fake, k_prc), compute_prdc(real, fake, k_dc)
    return {PRECISION: a["precision"], RECALL: a["recall"], DENSITY: b["density"], COVERAGE: b["coverage"]}


def brute_force(real, fake, *, k_prc=3, k_dc=5, inclusion="<="):
    """Every distance in float64 (sums of squared differences), every decision by its definition."""

    def sq_dist(a, b):  # (len(a), len(b)), one row at a time: exact ties stay exact ties
        return np.stack([((b - row) ** 2).sum(axis=1) for row in a])

    def radii(x, k):  # k-th neighbour, the point itself at rank 1 not counted
        return np.sort(sq_dist(x, x), axis=1)[:, k]

    inside = np.less_equal if inclusion == "<=" else np.less
    cross = sq_dist(real, fake)  # (real, fake)
    in_prc = inside(cross, radii(real, k_prc)[:, None])
    in_dc = inside(cross, radii(real, k_dc)[:, None])
    in_fake = inside(cross, radii(fake, k_prc)[None, :])
    return {
        PRECISION: in_prc.any(axis=0).mean(),
        RECALL: in_fake.any(axis=1).mean(),
        DENSITY: in_dc.sum(axis=0).mean() / k_dc,
        COVERAGE: in_dc.any(axis=1).mean(),
    }


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 128)), rng.standard_normal((240, 128)) * 1.05 + 0.1


def _grid_with_duplicates():
    # Integer points: every distance is exact and many are equal; both sets repeat points.
    grid = np.array([[x, y] for x in range(7) for y in range(7)], dtype=np.float64)
    return np.vstack([grid, grid[::3]]), np.vstack([grid[1::2], grid[:10] + 1.0, grid[:10] + 1.0])


def _collapsed_fake():
    # 150 identical fake samples and a real point repeated 30 times: every rank is a tie.
    rng = np.random.default_rng(4)
    real = rng.standard_normal((200, 16))
    real = np.vstack([real, np.repeat(real[:1], 30, axis=0)])
    fake = np.vstack([np.repeat(rng.standard_normal((1, 16)), 150, axis=0), rng.standard_normal((50, 16))])
    return real, fake


def _quantised():
    # Features in {0, 1, 2}: squared distances are small integers, ties everywhere.
    rng = np.random.default_rng(5)
    return rng.integers(0, 3, (260, 6)).astype(np.float64), rng.integers(0, 3, (230, 6)).astype(np.float64)


def _fake_on_real_radii():
    # Fake points placed exactly at real points' neighbours: d(real, fake) equals real radii.
    rng = np.random.default_rng(6)
    real = rng.integers(-4, 5, (240, 3)).astype(np.float64)
    return real, np.vstack([real[rng.permutation(240)[:120]], rng.integers(-4, 5, (100, 3)).astype(np.float64)])


TIED_SETS = {
    "grid_with_duplicates": _grid_with_duplicates,
    "collapsed_fake": _collapsed_fake,
    "quantised": _quantised,
    "fake_on_real_radii": _fake_on_real_radii,
}


def test_identical_to_prdc_package_with_its_convention(sets):
    real, fake = sets
    ours, ref = prdc(real, fake, inclusion="<"), reference(real, fake)
    for key in (PRECISION, RECALL, DENSITY, COVERAGE):
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


@pytest.mark.parametrize("name", sorted(TIED_SETS))
def test_exact_ties_match_prdc_and_a_float64_brute_force(name):
    real, fake = TIED_SETS[name]()
    # The package computes one k per call: compare with k_prc = k_dc.
    for k in (3, 5):
        ours, ref = prdc(real, fake, k_prc=k, k_dc=k, inclusion="<"), reference(real, fake, k, k)
        assert ours == {key: pytest.approx(v, abs=1e-12) for key, v in ref.items()}, k
    for inclusion in ("<=", "<"):
        for k_prc, k_dc in ((3, 5), (4, 4), (5, 2)):
            ours = prdc(real, fake, k_prc=k_prc, k_dc=k_dc, inclusion=inclusion)
            expected = brute_force(real, fake, k_prc=k_prc, k_dc=k_dc, inclusion=inclusion)
            assert ours == {key: pytest.approx(v, abs=1e-12) for key, v in expected.items()}, (inclusion, k_prc, k_dc)


def test_brute_force_on_random_features_both_conventions(sets):
    real, fake = sets
    for inclusion in ("<=", "<"):
        expected = brute_force(real, fake, inclusion=inclusion)
        assert prdc(real, fake, inclusion=inclusion) == {k: pytest.approx(v, abs=1e-12) for k, v in expected.items()}


def _at_distance(rng, centres, sq_radii, rel):
    """Points at sqrt(sq_radii) * (1 + rel) from ``centres``, in random directions."""
    direction = rng.standard_normal(centres.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return centres + direction * (np.sqrt(sq_radii) * (1.0 + rel))[:, None]


def test_near_ties_below_float32_resolution_are_decided_in_float64():
    # Points 1e-9 (relative) inside, on, or outside a radius: float32 cannot tell them
    # apart, float64 can, so every such pair must go to the exact re-decision.
    rng = np.random.default_rng(8)
    d, rel = 32, np.tile([-1e-9, 0.0, 1e-9], 20)  # 60 near-tied points per boundary
    # Two clusters far apart: after centring the norms are ~1000x the neighbour distances,
    # so the float32 round-off (and its bound) is far wider than a 1e-6 relative margin.
    real = rng.standard_normal((150, d)) + 50
    own = np.sort(((real[:, None] - real[None]) ** 2).sum(-1), axis=1)
    fake = [_at_distance(rng, real[:60], own[:60, 5], rel), _at_distance(rng, real[60:120], own[60:120, 3], rel)]
    far_fake = rng.standard_normal((80, d)) - 50  # its own cluster: real points sit on its radii
    fake_own = np.sort(((far_fake[:, None] - far_fake[None]) ** 2).sum(-1), axis=1)[:60, 3]
    real = np.vstack([real, _at_distance(rng, far_fake[:60], fake_own, rel)])
    fake = np.vstack([*fake, far_fake])
    for inclusion in ("<=", "<"):
        expected = brute_force(real, fake, k_prc=3, k_dc=5, inclusion=inclusion)
        assert prdc(real, fake, inclusion=inclusion) == {k: pytest.approx(v, abs=1e-12) for k, v in expected.items()}


@pytest.mark.parametrize("name", ["random", "grid_with_duplicates", "collapsed_fake"])
def test_tile_geometry_does_not_change_results(name, sets, monkeypatch):
    real, fake = sets if name == "random" else TIED_SETS[name]()
    expected = prdc(real, fake)
    # Small tiles: many row blocks and column tiles, partial ones at the edges, the
    # diagonal tiles of each set and the tiles right of them all exercised.
    monkeypatch.setattr(neighbors, "_TILE_ENTRIES", 48 * 16)
    for chunk_size in (1, 13, 16, 100_000):
        assert prdc(real, fake, chunk_size=chunk_size) == expected, chunk_size


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("tied", [False, True])
def test_smallest_values_of_tile_rows_and_columns(dim, tied):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    tile = rng.integers(0, 4, (96, 320)) if tied else rng.standard_normal((96, 320))  # tied: equal group minima
    tile = tile.astype(np.float32)
    got = neighbors.smallest(torch.from_numpy(tile), 6, dim=dim).numpy()
    expected = np.sort(tile if dim == 1 else tile.T, axis=1)[:, :6]
    np.testing.assert_array_equal(np.sort(got, axis=1), expected)


def test_low_dimensional_features_match_too():
    # Few dimensions: many near-ties, the float32 screening must hand them to float64.
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((400, 3)), rng.standard_normal((350, 3)) + 0.2
    ours, ref = prdc(real, fake, inclusion="<"), reference(real, fake)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_inclusion_convention_matters_only_on_ties():
    # Duplicated integer points: the fake set sits exactly on real radii.
    grid = np.array([[x, y] for x in range(6) for y in range(6)], dtype=np.float64)
    closed, open_ = prdc(grid, grid, inclusion="<="), prdc(grid, grid, inclusion="<")
    assert closed[PRECISION] == 1.0 and closed[RECALL] == 1.0
    assert open_ == {k: pytest.approx(v, abs=1e-12) for k, v in reference(grid, grid).items()}
    assert closed[DENSITY] > open_[DENSITY]


def test_same_distribution_scores_high_and_a_collapsed_one_low():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((300, 8))
    good = prdc(real, rng.standard_normal((300, 8)))
    collapsed = prdc(real, rng.standard_normal((300, 8)) * 0.05)
    assert good[RECALL] > 0.5 and good[COVERAGE] > 0.8
    assert collapsed[RECALL] < 0.1 and collapsed[COVERAGE] < 0.2


def test_torch_input(sets):
    torch = pytest.importorskip("torch")
    real, fake = sets
    assert prdc(torch.from_numpy(real), torch.from_numpy(fake)) == prdc(real, fake)
    # float32 tensors: screened and decided from the float32 values themselves
    real32, fake32 = real.astype(np.float32), fake.astype(np.float32)
    ours = prdc(torch.from_numpy(real32), torch.from_numpy(fake32), inclusion="<")
    expected = brute_force(real32.astype(np.float64), fake32.astype(np.float64), inclusion="<")
    assert ours == {k: pytest.approx(v, abs=1e-12) for k, v in expected.items()}


def test_realism_score():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((200, 6))
    fake = np.vstack([rng.standard_normal((20, 6)), rng.standard_normal((20, 6)) + 20.0])
    score = realism_score(real, fake)
    assert score.shape == (40,)
    assert np.median(score[:20]) > 1.0 > score[20:].max()


def test_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="k_dc=5 needs more than 5 real samples"):
        prdc(x, np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"inclusion must be '<=' .* or '<'"):
        prdc(np.zeros((10, 2)), np.zeros((10, 2)), inclusion="=<")
    with pytest.raises(ValueError, match="fake features contain NaN or Inf"):
        prdc(np.zeros((10, 2)), np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="chunk_size must be >= 1; got 0"):
        prdc(np.zeros((10, 2)), np.zeros((10, 2)), chunk_size=0)


@pytest.mark.gpu
def test_cuda_tensors_give_the_cpu_values(sets):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    real, fake = sets
    assert prdc(torch.from_numpy(real).cuda(), torch.from_numpy(fake).cuda()) == prdc(real, fake)
    for name in sorted(TIED_SETS):
        real, fake = TIED_SETS[name]()
        for inclusion in ("<=", "<"):
            on_gpu = prdc(torch.from_numpy(real).cuda(), torch.from_numpy(fake).cuda(), inclusion=inclusion)
            assert on_gpu == prdc(real, fake, inclusion=inclusion), (name, inclusion)


@pytest.mark.parametrize("magnitude", [1e200, 1e-200, 2.0**40])
def test_extreme_magnitudes_give_the_results_of_the_same_features_near_one(magnitude):
    """Squared distances of |x| ~ 1e200 overflow: PRDC used to report 0.0 for everything, silently."""
    rng = np.random.default_rng(8)
    real, fake = rng.standard_normal((150, 6)), rng.standard_normal((120, 6)) * 1.1
    expected = prdc(real, fake)
    assert expected[PRECISION] > 0.5
    assert prdc(real * magnitude, fake * magnitude) == expected
    scores = realism_score(real * magnitude, fake * magnitude)
    np.testing.assert_allclose(scores, realism_score(real, fake), rtol=1e-6)


def test_complex_features_are_refused():
    x = np.random.default_rng(9).standard_normal((20, 3))
    with pytest.raises(ValueError, match="PRDC: real features are complex"):
        prdc(x + 1j, x)
