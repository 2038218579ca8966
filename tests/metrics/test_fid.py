"""Fréchet distance against pytorch-fid's sqrtm formula, analytic cases and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from genqc.metrics import (
    FD,
    RunningStats,
    SingularCovarianceWarning,
    fd_from_features,
    frechet_distance,
    frechet_distance_details,
)


def sqrtm_reference(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's calculate_frechet_distance, written out independently."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def features(rng, n, d, shift=0.0):
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.maximum(rng.standard_normal((n, d)) @ mixing + shift, 0.0)  # ReLU-like, correlated


def test_agrees_with_sqrtm_reference_to_1e6():
    rng = np.random.default_rng(0)
    real, fake = features(rng, 600, 64), features(rng, 500, 64, shift=0.1)
    ref = sqrtm_reference(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))
    ours = fd_from_features(real, fake)[FD]
    assert ours == pytest.approx(ref, rel=1e-6)


def test_float32_and_torch_inputs_give_the_same_float64_result():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    real, fake = features(rng, 300, 32).astype(np.float32), features(rng, 300, 32, 0.2).astype(np.float32)
    ref = sqrtm_reference(
        real.astype(np.float64).mean(0),
        np.cov(real, rowvar=False),
        fake.astype(np.float64).mean(0),
        np.cov(fake, rowvar=False),
    )
    assert fd_from_features(real, fake)[FD] == pytest.approx(ref, rel=1e-6)
    assert fd_from_features(torch.from_numpy(real), torch.from_numpy(fake))[FD] == pytest.approx(ref, rel=1e-6)
    assert isinstance(fd_from_features(real, fake)[FD], float)


def test_identical_sets_give_zero():
    rng = np.random.default_rng(2)
    x = features(rng, 400, 16)
    assert fd_from_features(x, x)[FD] == pytest.approx(0.0, abs=1e-9)


def test_unit_gaussians_one_apart_in_2048_dims_give_2048():
    d = 2048
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d)) == pytest.approx(2048.0, rel=1e-12)


def test_general_path_gives_the_analytic_value_in_a_rotated_basis():
    # N(0, I) vs N(1, 4I) rotated by a random orthogonal Q: d * (1 + 1 + 4 - 2*2) = 2 d, whatever Q.
    d = 128
    q, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((d, d)))
    shift = q @ np.ones(d)
    details = frechet_distance_details(np.zeros(d), q @ q.T, shift, q @ (4 * np.eye(d)) @ q.T)
    assert details.method == "cholesky"
    assert details.value == pytest.approx(2.0 * d, rel=1e-9)


def test_scaled_identity_covariances():
    # S1 = I, S2 = 4I in 4 dims: tr sqrt(S1 S2) = 8 and d² = 4 + 16 - 2*8 = 4.
    details = frechet_distance_details(np.zeros(4), np.eye(4), np.zeros(4), 4 * np.eye(4))
    assert details.trace_sqrt == pytest.approx(8.0)
    assert details.value == pytest.approx(4.0)


def test_chunk_size_does_not_change_the_result():
    rng = np.random.default_rng(3)
    real, fake = features(rng, 257, 24), features(rng, 199, 24, 0.3)
    whole = fd_from_features(real, fake, chunk_size=10_000)[FD]
    assert fd_from_features(real, fake, chunk_size=7)[FD] == pytest.approx(whole, rel=1e-10)


def test_singular_covariance_warns_with_the_needed_count_and_stays_finite():
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((20, 50)), rng.standard_normal((30, 50))
    with pytest.warns(SingularCovarianceWarning) as record:
        value = fd_from_features(real, fake)[FD]
    messages = [str(w.message) for w in record]
    assert any(
        "real features have 20 samples for 50 dimensions" in m and "use at least 51 samples" in m for m in messages
    )
    assert any("fake features have 30 samples for 50 dimensions" in m for m in messages)
    assert np.isfinite(value) and value > 0
    details = frechet_distance_details(real.mean(0), np.cov(real.T), fake.mean(0), np.cov(fake.T))
    assert details.method == "eigh"
    assert isinstance(details.value, float)


def test_no_warning_with_enough_samples():
    rng = np.random.default_rng(5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fd_from_features(rng.standard_normal((60, 8)), rng.standard_normal((60, 8)))


@pytest.mark.parametrize(
    ("real", "fake", "message"),
    [
        (np.full((10, 3), np.nan), np.zeros((10, 3)), "real features contain NaN or Inf"),
        (np.zeros((10, 3)), np.full((10, 3), np.inf), "fake features contain NaN or Inf"),
        (np.zeros((10, 3)), np.zeros((10, 4)), r"different dimensions \(3 vs 4\)"),
        (np.zeros((0, 3)), np.zeros((10, 3)), r"real features are empty \(0 samples\)"),
        (np.zeros((1, 3)), np.zeros((10, 3)), "real features have 1 samples; this metric needs at least 2"),
        (np.zeros(3), np.zeros((10, 3)), "must be a 2-D"),
    ],
)
def test_bad_input_names_the_problem(real, fake, message):
    with pytest.raises(ValueError, match=message):
        fd_from_features(real, fake)


def test_bad_statistics_name_the_problem():
    with pytest.raises(ValueError, match=r"covariance must be \(3, 3\)"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_running_stats_merged_equals_whole():
    rng = np.random.default_rng(6)
    x = features(rng, 500, 12)
    whole = RunningStats().update(x)
    parts = RunningStats().update(x[:123]).merge(RunningStats().update(x[123:400], chunk_size=50))
    parts.merge(RunningStats().update(x[400:]))
    assert parts.n == 500
    np.testing.assert_allclose(parts.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(parts.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(whole.cov, parts.cov, rtol=1e-10, atol=1e-14)


def test_running_stats_errors():
    stats = RunningStats()
    with pytest.raises(ValueError, match="no samples have been added"):
        _ = stats.mean
    stats.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples; these statistics have 1"):
        _ = stats.cov
    with pytest.raises(ValueError, match="batch has 4 dimensions; these statistics have 3"):
        stats.update(np.zeros((2, 4)))


def test_fewer_samples_than_dimensions_matches_the_covariance_route() -> None:
    """The (n1, n2) singular-value route used when N < D gives the same distance as the D x D route."""
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(40, 64)), rng.normal(0.3, 1.2, size=(30, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = fd_from_features(real, fake)["fd"]
    a, b = RunningStats(64).update(real), RunningStats(64).update(fake)
    assert small == pytest.approx(frechet_distance(a.mean, a.cov, b.mean, b.cov), rel=1e-6)


def test_one_singular_covariance_factors_the_other_and_matches_sqrtm() -> None:
    """S1 rank-deficient, S2 positive definite: the route factors S2 and still agrees with sqrtm."""
    rng = np.random.default_rng(8)
    d = 24
    low = rng.standard_normal((d, 10))
    sigma1, sigma2 = low @ low.T, np.cov(features(rng, 400, d), rowvar=False)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    details = frechet_distance_details(mu1, sigma1, mu2, sigma2)
    assert details.method == "cholesky"
    assert details.value == pytest.approx(sqrtm_reference(mu1, sigma1, mu2, sigma2), rel=1e-6)
    assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(details.value, rel=1e-12)


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_float32_products_agree_with_float64_products_and_sqrtm(offset: float) -> None:
    """float32 features ('auto': float32 block products summed in float64) lose nothing the 1e-6 convention
    allows, even for two samples of one distribution (small FD, large traces) far from the origin."""
    rng = np.random.default_rng(9)
    mixing = rng.standard_normal((64, 64)) / 8
    real = (rng.standard_normal((3000, 64)) @ mixing + offset).astype(np.float32)
    fake = (rng.standard_normal((3000, 64)) @ mixing + offset).astype(np.float32)
    ref = sqrtm_reference(
        real.mean(0, dtype=np.float64),
        np.cov(real, rowvar=False),
        fake.mean(0, dtype=np.float64),
        np.cov(fake, rowvar=False),
    )
    fast = fd_from_features(real, fake, chunk_size=700)[FD]
    exact = fd_from_features(real, fake, matmul_dtype="float64")[FD]
    assert fast == pytest.approx(ref, rel=1e-6)
    assert exact == pytest.approx(ref, rel=1e-6)
    assert fast == pytest.approx(exact, rel=1e-6)


def test_torch_cpu_features_take_the_numpy_route_exactly() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    real, fake = features(rng, 500, 16).astype(np.float32), features(rng, 400, 16, 0.2).astype(np.float32)
    assert fd_from_features(torch.from_numpy(real), torch.from_numpy(fake))[FD] == fd_from_features(real, fake)[FD]


def test_slightly_asymmetric_covariances_are_symmetrised() -> None:
    rng = np.random.default_rng(11)
    sigma1, sigma2 = (np.cov(features(rng, 300, 12), rowvar=False) for _ in range(2))
    skew = rng.standard_normal((12, 12)) * 1e-9
    mu = np.zeros(12)
    assert frechet_distance(mu, sigma1 + skew, mu, sigma2) == pytest.approx(
        frechet_distance(mu, sigma1 + (skew + skew.T) / 2, mu, sigma2), rel=1e-12
    )


def test_unknown_product_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="matmul_dtype must be one of auto, float32, float64"):
        RunningStats(matmul_dtype="float16")


def test_invalid_covariances_are_refused_naming_the_cause() -> None:
    """A negative eigenvalue or a real asymmetry is not round-off: FD must not quietly clamp it away."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((40, 4))
    valid = np.cov(a, rowvar=False)
    negative = (
        valid
        - 2.0 * np.linalg.eigvalsh(valid)[0] * np.eye(4)
        - 1.5 * np.linalg.eigvalsh(valid)[-1] * np.outer(np.eye(4)[0], np.eye(4)[0])
    )
    assert np.linalg.eigvalsh(negative)[0] < 0
    with pytest.raises(ValueError, match="FD: the second covariance is not positive semi-definite"):
        frechet_distance(np.zeros(4), valid, np.zeros(4), negative)
    skewed = valid.copy()
    skewed[0, 1] += 0.1
    with pytest.raises(ValueError, match="FD: the first covariance is not symmetric"):
        frechet_distance(np.zeros(4), skewed, np.zeros(4), valid)
    with pytest.raises(ValueError, match="FD: the first mean is complex"):
        frechet_distance(np.zeros(4) + 1j, valid, np.zeros(4), valid)
    singular = np.outer(a[0], a[0])  # rank 1, PSD: still accepted (eigenvalues 0 up to round-off)
    assert np.isfinite(frechet_distance(np.zeros(4), singular, np.zeros(4), valid))


def test_complex_or_overflowing_features_are_errors_not_numbers() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    with pytest.raises(ValueError, match="FD: real features are complex"):
        fd_from_features(x + 1j, y)
    with pytest.raises(ValueError, match=r"metric 'fd'.*overflows float64"):
        fd_from_features(x * 1e200, y * 1e200)
