"""Reconstruction quality of an autoencoder: MSE, PSNR and SSIM.

Conventions: images are (N, H, W) or (N, H, W, C) NHWC, uint8 (divided by 255) or float
in [0, 1]; data range 1.

- ``recon_mse``: mean squared error over all pixels and images.
- ``recon_psnr``: ``10 log10(1 / recon_mse)`` in dB, from the set-level MSE (so one
  perfect image does not make the mean infinite); capped at 100 dB for identical sets so
  the value stays valid JSON.
- ``recon_ssim``: SSIM of Wang et al. (2004): Gaussian window sigma 1.5 (truncated at
  3.5 sigma: 11×11), K1 = 0.01, K2 = 0.03, population statistics, averaged over the
  valid (un-padded) region, channels and images: the same numbers as
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1)`` (tested).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from genqc.metrics.checks import to_numpy

RECON_MSE, RECON_PSNR, RECON_SSIM = "recon_mse", "recon_psnr", "recon_ssim"
PSNR_CAP_DB = 100.0
_SIGMA, _TRUNCATE, _K1, _K2 = 1.5, 3.5, 0.01, 0.03


def to_unit_float(images: Any, name: str) -> np.ndarray:
    """(N, H, W, C) float64 in [0, 1] from uint8 or [0, 1] float images, (N, H, W) gaining C=1."""
    x = to_numpy(images)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} images must be (N, H, W) or (N, H, W, C) with N >= 1; got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} images must be uint8 or float in [0, 1]; got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(f"{name} float images must be finite and within [0, 1]; got [{x.min()}, {x.max()}]")
    return x


def ssim_per_image(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N,) SSIM of (N, H, W, C) float images in [0, 1], averaged over channels."""
    radius = int(_TRUNCATE * _SIGMA + 0.5)
    if min(x.shape[1:3]) < 2 * radius + 1:
        raise ValueError(f"SSIM needs images of at least {2 * radius + 1}×{2 * radius + 1} pixels; got {x.shape[1:3]}")

    def blur(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=(0, _SIGMA, _SIGMA, 0), truncate=_TRUNCATE, mode="reflect")

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = _K1**2, _K2**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    s = s[:, radius:-radius, radius:-radius, :]  # drop the border the window overhangs
    return s.mean(axis=(1, 2, 3))


def reconstruction_metrics(original: Any, reconstructed: Any) -> dict[str, float]:
    """``{"recon_mse", "recon_psnr", "recon_ssim"}`` of reconstructions against originals."""
    x, y = to_unit_float(original, "original"), to_unit_float(reconstructed, "reconstructed")
    if x.shape != y.shape:
        raise ValueError(f"original and reconstructed images differ in shape: {x.shape} vs {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    psnr = PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * np.log10(1.0 / mse))
    return {RECON_MSE: mse, RECON_PSNR: float(psnr), RECON_SSIM: float(ssim_per_image(x, y).mean())}
