"""Radial power spectra: same images give 0, an up-sampling checkerboard raises the distance."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from genqc.metrics.spectral import SPECTRAL_DISTANCE, radial_power_spectrum, spectral_distance


@pytest.fixture(scope="module")
def digits():
    x = load_digits().images / 16.0  # (N, 8, 8) in [0, 1]
    return np.kron(x, np.ones((1, 4, 4)))  # (N, 32, 32), smooth upscale


def test_same_images_give_zero_and_spectra_come_back(digits):
    report = spectral_distance(digits[:200], digits[:200])
    assert report.summary[SPECTRAL_DISTANCE] == 0.0
    assert report.real_spectrum.shape == report.radius.shape == (17,)


def test_checkerboard_artifact_raises_the_distance(digits):
    real, other = digits[:300], digits[300:600]
    # Zero-insertion up-sampling (a transposed convolution with stride 2) leaves a checkerboard.
    low = other[:, ::2, ::2]
    checker = np.zeros_like(other)
    checker[:, ::2, ::2] = low
    checker = np.clip(checker * 1.0, 0, 1)
    clean = spectral_distance(real, other).summary[SPECTRAL_DISTANCE]
    artefact = spectral_distance(real, checker).summary[SPECTRAL_DISTANCE]
    assert artefact > 3 * clean
    # The artefact lives at high frequency: the outer rings gain power.
    assert radial_power_spectrum(checker)[-4:].sum() > 5 * radial_power_spectrum(other)[-4:].sum()


def test_bad_input(digits):
    with pytest.raises(ValueError, match="same height and width"):
        spectral_distance(digits[:5], digits[:5, :16, :16])
