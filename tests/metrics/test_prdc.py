"""Precision/recall/density/coverage against the prdc package, conventions and bad input."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from prdc import compute_prdc

from genqc.metrics import COVERAGE, DENSITY, PRECISION, RECALL, prdc, realism_score


def reference(real, fake, k_prc=3, k_dc=5):
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the set sizes
        a, b = compute_prdc(real, fake, k_prc), compute_prdc(real, fake, k_dc)
    return {PRECISION: a["precision"], RECALL: a["recall"], DENSITY: b["density"], COVERAGE: b["coverage"]}


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 128)), rng.standard_normal((240, 128)) * 1.05 + 0.1


def test_identical_to_prdc_package_with_its_convention(sets):
    real, fake = sets
    ours, ref = prdc(real, fake, inclusion="<"), reference(real, fake)
    for key in (PRECISION, RECALL, DENSITY, COVERAGE):
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_chunk_size_does_not_change_results(sets):
    real, fake = sets
    assert prdc(real, fake, chunk_size=13) == prdc(real, fake, chunk_size=100_000)


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


def test_duplicates_from_a_collapsed_generator_match_prdc():
    # 150 identical fake samples and a real point repeated 30 times: every rank is a tie.
    rng = np.random.default_rng(4)
    real = rng.standard_normal((200, 16))
    real = np.vstack([real, np.repeat(real[:1], 30, axis=0)])
    fake = np.vstack([np.repeat(rng.standard_normal((1, 16)), 150, axis=0), rng.standard_normal((50, 16))])
    ours, ref = prdc(real, fake, inclusion="<"), reference(real, fake)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


@pytest.mark.gpu
def test_cuda_tensors_give_the_cpu_values(sets):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    real, fake = sets
    assert prdc(torch.from_numpy(real).cuda(), torch.from_numpy(fake).cuda()) == prdc(real, fake)
