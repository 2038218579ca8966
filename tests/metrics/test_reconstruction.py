"""MSE/PSNR/SSIM against scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genqc.metrics.reconstruction import PSNR_CAP_DB, RECON_MSE, RECON_PSNR, RECON_SSIM, reconstruction_metrics


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)
    noisy = np.clip(x.astype(int) + rng.integers(-30, 30, x.shape), 0, 255).astype(np.uint8)
    return x, noisy


def test_ssim_matches_skimage_gaussian_window(pair):
    x, y = pair
    expected = np.mean(
        [
            structural_similarity(
                a / 255.0,
                b / 255.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
                channel_axis=-1,
            )
            for a, b in zip(x, y, strict=True)
        ]
    )
    assert reconstruction_metrics(x, y)[RECON_SSIM] == pytest.approx(expected, rel=1e-10)


def test_mse_and_psnr(pair):
    x, y = pair
    out = reconstruction_metrics(x, y)
    assert out[RECON_MSE] == pytest.approx(np.mean((x / 255.0 - y / 255.0) ** 2))
    assert out[RECON_PSNR] == pytest.approx(peak_signal_noise_ratio(x / 255.0, y / 255.0, data_range=1.0))


def test_uint8_and_float_agree_and_identity_is_perfect(pair):
    x, y = pair
    assert reconstruction_metrics(x, y) == pytest.approx(reconstruction_metrics(x / 255.0, y / 255.0))
    same = reconstruction_metrics(x[..., 0], x[..., 0])  # (N, H, W) grey
    assert same == {RECON_MSE: 0.0, RECON_PSNR: PSNR_CAP_DB, RECON_SSIM: pytest.approx(1.0)}


def test_bad_input(pair):
    x, _ = pair
    with pytest.raises(ValueError, match="differ in shape"):
        reconstruction_metrics(x, x[:2])
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        reconstruction_metrics(x / 255.0, x / 255.0 * 2)
    with pytest.raises(ValueError, match="at least 11×11 pixels"):
        reconstruction_metrics(np.zeros((1, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8))
