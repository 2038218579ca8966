"""KID against an independent NumPy float64 formula (as clean-fid writes it) on the same subsets."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from genqc.metrics import KID_MEAN, KID_STD, SubsetSizeWarning, bootstrap_ci, kid_from_features
from genqc.metrics.bootstrap import kid_bootstrap_ci
from genqc.metrics.kid import kid_subset_indices
from genqc.metrics.kid_blocks import KernelBlocks, kernel_blocks_pay, subset_counts


def clean_fid_kid(real, fake, subsets):
    """clean-fid's kernel_distance loop, per subset, in float64; returns the per-subset MMD²."""
    n = real.shape[1]
    out = []
    for ri, fi in subsets:
        m = len(ri)
        x, y = fake[fi], real[ri]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        out.append(((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m)
    return np.array(out)


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    real = np.abs(rng.standard_normal((300, 64)))
    fake = np.abs(rng.standard_normal((250, 64)) * 1.1 + 0.05)
    return real, fake


@pytest.mark.parametrize("matmul_dtype", ["float64", "float32"])
def test_matches_reference_on_the_same_subsets(sets, matmul_dtype):
    real, fake = sets
    ours = kid_from_features(real, fake, subset_size=100, subsets=20, seed=3, matmul_dtype=matmul_dtype)
    ref = clean_fid_kid(real, fake, kid_subset_indices(300, 250, subset_size=100, subsets=20, seed=3))
    rel = 1e-12 if matmul_dtype == "float64" else 1e-6
    assert ours[KID_MEAN] == pytest.approx(ref.mean(), rel=rel)
    assert ours[KID_STD] == pytest.approx(ref.std(), rel=rel * 10)


def test_torch_input_matches_numpy(sets):
    torch = pytest.importorskip("torch")
    real, fake = sets
    a = kid_from_features(real, fake, subset_size=50, subsets=5, matmul_dtype="float64")
    b = kid_from_features(
        torch.from_numpy(real), torch.from_numpy(fake), subset_size=50, subsets=5, matmul_dtype="float64"
    )
    assert b[KID_MEAN] == pytest.approx(a[KID_MEAN], rel=1e-10)


def test_same_distribution_gives_about_zero_and_seed_reproduces():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    out = kid_from_features(x, y, subset_size=200, subsets=10, seed=7)
    assert abs(out[KID_MEAN]) < 3 * out[KID_STD]
    assert kid_from_features(x, y, subset_size=200, subsets=10, seed=7) == out
    assert kid_from_features(x, y + 1.0, subset_size=200, subsets=10, seed=7)[KID_MEAN] > 10 * out[KID_STD]


def test_subset_size_is_clamped_with_a_warning(sets):
    real, fake = sets
    with pytest.warns(SubsetSizeWarning, match="subset_size=1000 exceeds the 250 samples"):
        out = kid_from_features(real, fake, subsets=2)
    ref = clean_fid_kid(real, fake, kid_subset_indices(300, 250, subset_size=250, subsets=2, seed=0))
    assert out[KID_MEAN] == pytest.approx(ref.mean(), rel=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="real features have 1 samples; this metric needs at least 2"):
        kid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="subset_size must be >= 2"):
        kid_from_features(np.zeros((5, 4)), np.zeros((5, 4)), subset_size=1)
    with pytest.raises(ValueError, match="matmul_dtype must be"):
        kid_from_features(np.zeros((5, 4)), np.zeros((5, 4)), matmul_dtype="float16")
    with pytest.raises(ValueError, match="KID: real features are complex"):
        kid_from_features(np.ones((5, 4)) + 1j, np.zeros((5, 4)))


def exact_kid(real, fake, subsets, step):
    """Exact rational KID of features on the grid ``step`` (integers times ``step``): no rounding anywhere.

    With x = X step, k(x, y) = (X·Y step² / D + 1)³: integer products, then Fractions.
    """
    factor = Fraction(step) ** 2 / real.shape[1]
    ints = lambda a: np.array([[int(v) for v in row] for row in np.rint(a / step)], dtype=object)  # noqa: E731
    total = Fraction(0)
    for ri, fi in subsets:
        x, y = ints(real[ri]), ints(fake[fi])
        m = len(ri)
        kxx, kyy, kxy = ((a @ b.T * factor + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        within = (kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))
        total += within / (m * (m - 1)) - 2 * kxy.sum() / (m * m)
    return float(total / len(subsets))


@pytest.mark.parametrize("mean,scale", [(0.0, 1.0), (10.0, 1.0), (1e3, 1.0), (1e7, 1.0), (0.0, 1e7), (1e7, 1e5)])
@pytest.mark.parametrize("matmul_dtype", ["auto", "float64"])
def test_accurate_for_offset_and_large_features_against_an_exact_reference(mean, scale, matmul_dtype):
    """clean-fid's float32 loop is 73% off at mean 1e3 and NaN at 1e7; ours stays within 1e-6 of the exact value."""
    rng = np.random.default_rng(5)
    step = scale / 1024  # features on a dyadic grid, so the reference is exact rational arithmetic
    dim = 8
    real = np.rint((rng.standard_normal((60, dim)) * scale + mean) / step) * step
    fake = np.rint((rng.standard_normal((60, dim)) * scale * 1.2 + mean + 0.2 * scale) / step) * step
    subsets = kid_subset_indices(60, 60, subset_size=40, subsets=2, seed=1)
    ref = exact_kid(real, fake, subsets, step)
    ours = kid_from_features(real, fake, subset_size=40, subsets=2, seed=1, matmul_dtype=matmul_dtype)[KID_MEAN]
    assert ours == pytest.approx(ref, rel=1e-6)
    if np.array_equal(real.astype(np.float32), real) and np.array_equal(fake.astype(np.float32), fake):
        ours32 = kid_from_features(
            real.astype(np.float32),
            fake.astype(np.float32),
            subset_size=40,
            subsets=2,
            seed=1,
            matmul_dtype=matmul_dtype,
        )
        assert ours32[KID_MEAN] == pytest.approx(ref, rel=1e-6)  # the same values as float32 input


def test_auto_keeps_float32_products_where_they_are_accurate(sets):
    """Well-conditioned features (the extractors' case) run on float32 products; auto equals the float32 mode."""
    real, fake = sets
    auto = kid_from_features(real, fake, subset_size=200, subsets=3)
    assert auto == kid_from_features(real, fake, subset_size=200, subsets=3, matmul_dtype="float32")
    assert auto[KID_MEAN] == pytest.approx(
        kid_from_features(real, fake, subset_size=200, subsets=3, matmul_dtype="float64")[KID_MEAN], rel=1e-6
    )


def test_overflowing_features_are_an_error_not_nan():
    x = np.random.default_rng(0).standard_normal((20, 4))
    with pytest.raises(ValueError, match="metric 'kid': output 'kid_mean' is not finite"):
        kid_from_features(x * 1e200, x[::-1] * 1e200, subset_size=10, subsets=2)


@pytest.mark.gpu
def test_cuda_tensors_give_the_cpu_values(sets):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    real, fake = sets
    cpu = kid_from_features(real, fake, subset_size=100, subsets=5, matmul_dtype="float64")
    gpu = kid_from_features(
        torch.from_numpy(real).cuda(), torch.from_numpy(fake).cuda(), subset_size=100, subsets=5, matmul_dtype="float64"
    )
    assert gpu[KID_MEAN] == pytest.approx(cpu[KID_MEAN], rel=1e-9)


@pytest.mark.parametrize("mean,scale", [(0.0, 1.0), (10.0, 1.0), (1e3, 1.0), (1e7, 1.0), (0.0, 1e7), (1e7, 1e5)])
def test_kernel_blocks_formed_once_match_the_exact_reference(mean, scale):
    """The precomputed-blocks route (every subset as counts over the whole sets' kernel) is float64-exact."""
    rng = np.random.default_rng(5)
    step = scale / 1024
    real = np.rint((rng.standard_normal((60, 8)) * scale + mean) / step) * step
    fake = np.rint((rng.standard_normal((50, 8)) * scale * 1.2 + mean + 0.2 * scale) / step) * step
    subsets = kid_subset_indices(60, 50, subset_size=40, subsets=3, seed=1)
    ours = KernelBlocks(real, fake).mmd(*subset_counts(subsets, 60, 50)).mean()
    assert ours == pytest.approx(exact_kid(real, fake, subsets, step), rel=1e-9)


def test_many_subsets_take_the_blocks_route_and_give_the_per_subset_values(sets):
    real, fake = sets
    subsets = kid_subset_indices(300, 250, subset_size=200, subsets=40, seed=3)
    assert kernel_blocks_pay(300, 250, 64, subsets)  # 40 subsets of 200 from 300 and 250 rows
    assert not kernel_blocks_pay(300, 250, 64, subsets[:1])  # one subset: its own products are cheaper
    ref = clean_fid_kid(real, fake, subsets)
    ours = kid_from_features(real, fake, subset_size=200, subsets=40, seed=3)
    assert ours[KID_MEAN] == pytest.approx(ref.mean(), rel=1e-9)
    assert ours[KID_STD] == pytest.approx(ref.std(), rel=1e-8)


def test_kid_bootstrap_equals_the_generic_bootstrap_of_kid(sets):
    """Resample subsets as multisets of the original rows: the same intervals as resampling copies."""
    real, fake = sets

    def reference(r, f):  # float64 loop on the resampled copies, the subsets kid_from_features draws
        return float(clean_fid_kid(r, f, kid_subset_indices(300, 250, subset_size=200, subsets=5, seed=2)).mean())

    assert kernel_blocks_pay(300, 250, 64, kid_subset_indices(300, 250, subset_size=200, subsets=5, seed=2) * 30)
    generic = bootstrap_ci(reference, real, fake, n_resamples=30, seed=2)
    fast = kid_bootstrap_ci(real, fake, subset_size=200, subsets=5, n_resamples=30, seed=2)
    for end in generic:
        assert fast[end] == pytest.approx(generic[end], rel=1e-8, abs=1e-12)


def test_kid_bootstrap_refuses_subsets_larger_than_a_set(sets):
    real, fake = sets
    with pytest.raises(ValueError, match="subset_size=251: between 2 and the smaller set's 250 rows"):
        kid_bootstrap_ci(real, fake, subset_size=251, subsets=5)
