"""Azimuthally averaged power spectra, real against generated (Durall et al. 2020).

Up-sampling layers leave periodic high-frequency artefacts (checkerboards) that
feature-space metrics barely see; the radial power spectrum shows them. Convention:
images to grey (channel mean) in [0, 1], per-image mean removed, ``|FFT2|²`` averaged
over the batch, then averaged over rings of integer radius (in frequency bins, centred
spectrum) up to the largest full circle ``min(H, W) // 2``.
``spectral_distance`` is the mean absolute difference of the ``log10`` spectra over
radii 1.. (the DC ring is excluded: it is zero after mean removal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genqc.metrics.reconstruction import to_unit_float

SPECTRAL_DISTANCE = "spectral_distance"
_FLOOR = 1e-20  # keeps log10 finite for a band with no power at all


@dataclass(frozen=True)
class SpectralReport:
    summary: dict[str, float]
    radius: np.ndarray  # (R,) frequency bin radius
    real_spectrum: np.ndarray  # (R,) mean power
    fake_spectrum: np.ndarray  # (R,) mean power


def radial_power_spectrum(images: Any, *, name: str = "images") -> np.ndarray:
    """(min(H, W)//2 + 1,) azimuthal mean of the batch's mean power spectrum."""
    x = to_unit_float(images, name).mean(axis=3)  # (N, H, W, C) -> (N, H, W)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(1, 2))) ** 2
    power = power.mean(axis=0)  # (H, W)
    h, w = power.shape
    yy, xx = np.indices((h, w))
    radius = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(np.int64)
    n_r = min(h, w) // 2 + 1
    keep = radius < n_r
    sums = np.bincount(radius[keep], weights=power[keep], minlength=n_r)
    counts = np.bincount(radius[keep], minlength=n_r)
    return sums / counts


def spectral_distance(real: Any, fake: Any) -> SpectralReport:
    """Mean |log10 S_real - log10 S_fake| over radii >= 1, with both spectra for plots."""
    real_s = radial_power_spectrum(real, name="real")
    fake_s = radial_power_spectrum(fake, name="fake")
    if real_s.shape != fake_s.shape:
        raise ValueError("real and fake images must have the same height and width for spectra to compare")
    diff = np.abs(np.log10(real_s[1:] + _FLOOR) - np.log10(fake_s[1:] + _FLOOR))
    return SpectralReport({SPECTRAL_DISTANCE: float(diff.mean())}, np.arange(real_s.shape[0]), real_s, fake_s)
