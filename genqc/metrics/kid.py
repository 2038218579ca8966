"""Kernel Inception Distance (KID): unbiased MMD² with a cubic polynomial kernel.

Conventions (as StyleGAN, clean-fid and torch-fidelity):

- kernel ``k(x, y) = (x·y / D + 1) ** 3`` (degree 3, gamma = 1/D, coef0 = 1);
- per subset the *unbiased* MMD² estimator (diagonals of the within-set kernel matrices
  left out);
- ``subsets`` (default 100) seeded subsets of ``subset_size = min(1000, n_real, n_fake)``
  rows drawn without replacement from each set (:func:`kid_subset_indices` gives them);
- ``kid_mean`` is the mean over subsets; ``kid_std`` is the population std (ddof=0) of
  the per-subset estimates: the spread of one subset's estimate, not the standard error
  of the mean (divide by sqrt(subsets) for that), as torch-fidelity reports it.

Accuracy for any input. The kernel is not translation invariant, and computed as written
it is ill-conditioned away from the origin: with features of mean 1e3 the kernel values
are ~1e18 and MMD² is the small difference of their sums (clean-fid's float32 loop is then
73% off; at |x| ~ 1e7 float32 overflows to NaN). So each subset pair is centred by its
pooled float64 mean ``c`` (``x = c + u``, ``y = c + v``) and the kernel expanded exactly::

    x·y/D + 1 = a + s,   a = 1 + |c|²/D,   s = p_i + q_j + r_ij,
    p_i = c·u_i/D,  q_j = c·v_j/D,  r_ij = u_i·v_j/D
    (a + s)³ = a³ + 3a²s + s²(3a + s)

In MMD² (a signed mean over the three blocks whose weights sum to 0) the ``a³`` terms
cancel exactly and the ``p``/``q`` parts of ``3a²s`` cancel exactly, leaving
``3a²·MMD²_linear(u, v)`` (closed form from row sums, float64) plus the mean of
``s²(3a + s)``, summed elementwise in float64. Only the Gram matrix ``U Vᵀ`` of the
*centred* rows is a float32 product (``matmul_dtype="float32"``, the default: half the
memory traffic and twice the BLAS speed of float64), and before it the rows are scaled by a
power of two (exact) so that no magnitude can overflow or underflow float32. Relative
error against an exact rational reference: ~1e-9 at mean 0, 1e3 and 1e7 and at scale 1e7
(tested to 1e-6); ``matmul_dtype="float64"`` computes the Gram in float64 as well. A
result that is not finite (|x| ~ 1e200: the kernel itself exceeds float64) is a
ValueError, never a NaN in metrics.json.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genqc.metrics.checks import SubsetSizeWarning, check_pair, check_result, is_torch, warn

KID_MEAN, KID_STD = "kid_mean", "kid_std"


def kid_subset_indices(
    n_real: int, n_fake: int, *, subset_size: int, subsets: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (real rows, fake rows) of every subset: a seeded draw without replacement per subset."""
    rng = np.random.default_rng(seed)
    return [
        (rng.choice(n_real, subset_size, replace=False), rng.choice(n_fake, subset_size, replace=False))
        for _ in range(subsets)
    ]


def _block_sum(gram: Any, factor: float, p: Any, q: Any, a: float, *, diagonal: bool) -> float:
    """``Σ s²(3a + s)`` over a block, ``s = factor·gram + p_i + q_j`` in float64; no diagonal unless ``diagonal``.

    ``gram`` is the (scaled) product ``U Vᵀ`` (float32 or float64); ``factor`` brings it
    to ``u·v / D`` in float64; ``p``/``q`` are float64 per-row offsets.
    """
    if is_torch(gram):
        import torch

        s = gram.to(torch.float64)
        s *= factor
        s += p[:, None]
        s += q[None, :]
        t = s * s
        s += 3.0 * a
        t *= s
        total = t.sum()
        if not diagonal:
            total = total - t.diagonal().sum()
        return float(total)
    s = gram.astype(np.float64)
    s *= factor
    s += p[:, None]
    s += q[None, :]
    t = s * s
    s += 3.0 * a
    t *= s
    total = float(t.sum())
    if not diagonal:
        total -= float(np.trace(t))
    return total


# Float32 Gram entries are off by about 2**-24 |u_i| |v_j| / sqrt(D) each (input rounding plus blocked
# accumulation), with signs that vary; _F32_ERROR scales that into a generous estimate of the error
# of one subset's MMD² (calibrated: above the measured error in every case of tests/metrics/test_kid.py).
_F32_ERROR = 16.0 * 2.0**-24
# A subset whose float32 error estimate exceeds this share of its MMD² is recomputed in float64.
_F32_TOLERANCE = 1e-6


def _subset_mmd(x: Any, y: Any, matmul_dtype: str) -> float:
    """Unbiased MMD² of two (m, D) float64 subsets (see the module docstring for the expansion).

    ``"auto"`` multiplies in float32 and redoes the subset in float64 when the float32
    error estimate is not negligible against the result (a MMD² near 0 at a large kernel scale).
    """
    m, dim = x.shape
    torch_input = is_torch(x)
    center = (x.sum(0) + y.sum(0)) / (2 * m)
    u, v = x - center, y - center
    a = 1.0 + float(center @ center) / dim
    p, q = (u @ center) / dim, (v @ center) / dim
    # Linear-kernel MMD² of the centred rows (the 3a²s term; p and q cancel), from row sums in float64.
    su, sv = u.sum(0), v.sum(0)
    uu, vv = float((u * u).sum()), float((v * v).sum())
    linear = ((float(su @ su) - uu) + (float(sv @ sv) - vv)) / (m * (m - 1) * dim) - 2.0 * float(su @ sv) / (
        m * m * dim
    )
    # Power-of-two scale (exact) so a float32 product can neither overflow nor underflow.
    top = max(float(abs(u).max()), float(abs(v).max()))
    scale = 2.0 ** -np.floor(np.log2(top)) if top > 0 else 1.0
    back = 1.0 / (scale * scale * dim)  # products are u·v scale²; the kernel wants u·v / D

    def mmd(low: str) -> float:
        if torch_input:
            import torch

            dtype = torch.float32 if low == "float32" else torch.float64
            u_low, v_low = (u * scale).to(dtype), (v * scale).to(dtype)
        else:
            u_low, v_low = (u * scale).astype(low), (v * scale).astype(low)
        kxx = _block_sum(u_low @ u_low.T, back, p, p, a, diagonal=False)
        kyy = _block_sum(v_low @ v_low.T, back, q, q, a, diagonal=False)
        kxy = _block_sum(u_low @ v_low.T, back, p, q, a, diagonal=True)
        return 3.0 * a * a * linear + (kxx + kyy) / (m * (m - 1)) - 2.0 * kxy / (m * m)

    if matmul_dtype == "float64":
        return mmd("float64")
    value = mmd("float32")
    if matmul_dtype == "float32":
        return value
    # Error estimate: d k / d r = 3 (a + s)²; entries' errors ~ _F32_ERROR |u||v| / sqrt(D), averaging over m²
    # entries of each of the three blocks (weights 1, 1, 2).
    norm = max(np.sqrt(uu / m), np.sqrt(vv / m))
    s_max = float(abs(p).max()) + float(abs(q).max()) + norm * norm / dim
    estimate = 4.0 * 3.0 * (a + s_max) ** 2 * _F32_ERROR * norm * norm / (dim * np.sqrt(dim) * m)
    return value if estimate <= _F32_TOLERANCE * abs(value) else mmd("float64")


def kid_from_features(
    real: Any,
    fake: Any,
    *,
    subset_size: int = 1000,
    subsets: int = 100,
    seed: int = 0,
    matmul_dtype: str = "auto",
) -> dict[str, float]:
    """``{"kid_mean", "kid_std"}`` over ``subsets`` seeded subsets (see module docstring).

    Raises ValueError for complex, NaN/Inf or mismatched features, and when the result is
    not finite (features so large that the cubic kernel exceeds float64).
    """
    check_pair(real, fake, min_rows=2, metric="KID")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1; got {subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2 (the unbiased estimator needs pairs); got {subset_size}")
    if matmul_dtype not in ("auto", "float32", "float64"):
        raise ValueError(f"matmul_dtype must be 'auto', 'float32' or 'float64'; got {matmul_dtype!r}")
    n_real, n_fake = real.shape[0], fake.shape[0]
    if subset_size > min(n_real, n_fake):
        warn(
            f"KID subset_size={subset_size} exceeds the {min(n_real, n_fake)} samples of the smaller set "
            f"(real {n_real}, fake {n_fake}); using subsets of {min(n_real, n_fake)}",
            SubsetSizeWarning,
        )
        subset_size = min(n_real, n_fake)
    if is_torch(real) or is_torch(fake):
        import torch

        device = real.device if is_torch(real) else fake.device
        real = torch.as_tensor(real, device=device)
        fake = torch.as_tensor(fake, device=device)

        def take(x: Any, idx: np.ndarray) -> Any:
            return x[torch.from_numpy(idx).to(device)].to(torch.float64)
    else:
        real, fake = np.asarray(real), np.asarray(fake)

        def take(x: Any, idx: np.ndarray) -> Any:
            return x[idx].astype(np.float64)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        estimates = np.array(
            [
                _subset_mmd(take(real, ri), take(fake, fi), matmul_dtype)
                for ri, fi in kid_subset_indices(n_real, n_fake, subset_size=subset_size, subsets=subsets, seed=seed)
            ]
        )
        result = {KID_MEAN: float(estimates.mean()), KID_STD: float(estimates.std())}
    return check_result("kid", result)
