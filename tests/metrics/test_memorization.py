"""Memorisation on real digits: held-out images are novel, copies are caught."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from genqc.metrics.memorization import AUTHENTICITY, EXACT_COPIES, MEDIAN_RATIO, NEAR_COPY_SHARE, memorization


@pytest.fixture(scope="module")
def digits():
    x = load_digits().data.astype(np.float64)
    return x[:1200], x[1200:1500]


def test_held_out_images_are_rarely_near_copies(digits):
    train, held_out = digits
    report = memorization(train, held_out)
    assert report.summary[NEAR_COPY_SHARE] < 0.1
    assert report.summary[EXACT_COPIES] == 0.0
    assert report.summary[MEDIAN_RATIO] > 0.7


def test_copies_and_noisy_copies_are_near_copies(digits):
    train, _ = digits
    rng = np.random.default_rng(0)
    samples = np.vstack([train[:50], train[50:100] + rng.normal(0, 0.1, (50, 64))])
    report = memorization(train, samples)
    assert report.summary[NEAR_COPY_SHARE] == 1.0
    assert report.summary[EXACT_COPIES] == 50.0
    np.testing.assert_array_equal(report.nearest_train_index[:50], np.arange(50))
    assert (report.ratio[:50] == 0).all()


def test_hashes_define_exact_copies(digits):
    train, held_out = digits
    report = memorization(
        train[:100], held_out[:3], train_hashes=[f"h{i}" for i in range(100)], sample_hashes=["h5", "x", "h7"]
    )
    assert report.summary[EXACT_COPIES] == 2.0
    assert report.exact_copy.tolist() == [True, False, True]


def test_bad_input(digits):
    train, held_out = digits
    with pytest.raises(ValueError, match="pass both train_hashes and sample_hashes"):
        memorization(train, held_out, train_hashes=["a"] * len(train))
    with pytest.raises(ValueError, match="at least 2 training images"):
        memorization(train[:1], held_out)


def test_authenticity_is_the_share_farther_than_the_training_neighbour(digits):
    """Alaa et al. 2022: copies are never authentic; held-out images mostly are."""
    train, held_out = digits
    held = memorization(train, held_out)
    assert held.summary[AUTHENTICITY] == pytest.approx(float((held.ratio > 1.0).mean()))
    assert held.summary[AUTHENTICITY] > 0.5
    assert memorization(train, train[:40] + 0.01).summary[AUTHENTICITY] == 0.0
