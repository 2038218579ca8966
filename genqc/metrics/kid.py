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
are ~1e18 and MMD² is the small difference of their sums (a float32 loop, clean-fid's
dtype, was 73% off on issue #16's data; at |x| ~ 1e7 float32 overflows to NaN). So each subset pair is centred by its
pooled float64 mean ``c`` (``x = c + u``, ``y = c + v``) and the kernel expanded exactly::

    x·y/D + 1 = a + s,   a = 1 + |c|²/D,   s = p_i + q_j + r_ij,
    p_i = c·u_i/D,  q_j = c·v_j/D,  r_ij = u_i·v_j/D
    (a + s)³ = a³ + 3a²s + s²(3a + s)

In MMD² (a signed mean over the three blocks whose weights sum to 0) the ``a³`` terms
cancel exactly and the ``p``/``q`` parts of ``3a²s`` cancel exactly, leaving
``3a²·MMD²_linear(u, v)`` (closed form from row sums, float64) plus the blocks' sums of
``s²(3a + s)``. Those are expanded too: every term linear in ``r`` is a float64
matrix-vector product of the centred rows, the ``p``/``q``-only terms are power sums, and
only ``Σ r²`` (per row) and ``Σ r³`` need the Gram matrix ``U Vᵀ`` of the centred rows.

Precision (``matmul_dtype``): ``"auto"`` (default) forms that Gram matrix in float32 (half
the memory traffic, twice the BLAS speed of float64; the rows are first scaled by a power of
two, exact, so no magnitude can overflow or underflow float32), estimates the float32
error of each subset's MMD² from the kernel's slope and the entries' magnitudes, and redoes
the subset in float64 when that estimate exceeds 1e-6 of the result (a MMD² near 0 at a
large kernel scale). ``"float32"`` never redoes; ``"float64"`` is float64 throughout.
Relative error of ``"auto"`` against an exact rational reference: below 1e-8 at mean 0,
10, 1e3 and 1e7 and at scale 1e7 (tested to 1e-6); the float32 loop is 2x off at mean 1e3
on bench/metrics.py's features. A result that is not finite (|x| ~ 1e200: the kernel itself
exceeds float64) is a ValueError, never a NaN in metrics.json.

Speed: three (m, D) x (D, m) products per subset, like the plain loop, plus O(m²)
float32 elementwise passes and O(mD) float64 ones; bench/metrics.py measures it against
clean-fid's float32 loop. When the subsets overlap heavily (100 subsets of 1,000 from
2,000 and 1,000 rows) and the sets are small enough, NumPy input takes another exact route
instead: the kernel of every pair of rows is formed once, in float64, and each subset is a
vector of counts over it (:mod:`genqc.metrics.kid_blocks`, chosen by operation count;
``matmul_dtype="float32"`` keeps the per-subset products).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genqc.metrics.checks import SubsetSizeWarning, check_pair, check_result, is_torch, warn
from genqc.metrics.kid_blocks import KernelBlocks, kernel_blocks_pay, subset_counts

# torch is imported inside the functions that use it (deferred on purpose): `import genqc.metrics` must not
# load torch, so NumPy features are measured without it (tests/features/test_registry.py checks this).

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


def _buffer(pool: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
    """A reusable NumPy work array (fresh megabyte arrays per subset cost page faults than the arithmetic)."""
    if pool is None:
        return None
    found = pool.get(name)
    if found is None or found.shape != shape or found.dtype != np.dtype(dtype):
        found = pool[name] = np.empty(shape, dtype)
    return found


def _block_sum(
    low: tuple[Any, Any],
    factor: float,
    p: Any,
    q: Any,
    rows: Any,
    cols: Any,
    pgq: float,
    a: float,
    *,
    diagonal: bool,
    pool: dict[str, np.ndarray] | None = None,
) -> float:
    """``Σ_ij s²(3a + s)`` over one block, ``s_ij = g_ij + p_i + q_j`` with ``g = left·rightᵀ / D``.

    Expanded so that only the terms quadratic and cubic in ``g`` need the (m, m) product:
    every term linear in ``g`` comes in as float64 matrix-vector products of the centred rows
    (``rows_i = Σ_j g_ij = left_i · Σ right / D``, ``cols``, ``pgq = pᵀ g q = (leftᵀp)·(rightᵀq) / D``),
    and the ``p``/``q``-only terms are power sums. The product ``low[0] @ low[1]ᵀ`` (float32 or
    float64 rows pre-scaled by a power of two; ``factor`` brings it to ``u·v / D``) is
    squared and cubed elementwise in its own dtype and summed in float64. Without the
    diagonal unless ``diagonal`` (within-set blocks leave it out).
    """
    m_rows, m_cols = low[0].shape[0], low[1].shape[0]
    torch_input = is_torch(low[0])
    symmetric = low[0] is low[1]  # X·Xᵀ: BLAS's rank-k update gives an exactly symmetric product
    if torch_input:
        gram = low[0] @ low[1].T
        square = gram * gram
    else:
        shape = (m_rows, m_cols)
        gram = np.matmul(low[0], low[1].T, out=_buffer(pool, "gram", shape, low[0].dtype))
        square = np.multiply(gram, gram, out=_buffer(pool, "square", shape, low[0].dtype))
    if torch_input:
        import torch

        f64 = torch.float64
        row_sq = square.sum(dim=1, dtype=f64) * factor**2  # Σ_j g_ij²
        col_sq = row_sq if symmetric else square.sum(dim=0, dtype=f64) * factor**2
        square *= gram
        cube = float(square.sum(dtype=f64)) * factor**3  # Σ g³
        diag = torch.diagonal(gram).to(f64) * factor if not diagonal else None
    else:
        row_sq = square.sum(axis=1, dtype=np.float64) * factor**2
        col_sq = row_sq if symmetric else square.sum(axis=0, dtype=np.float64) * factor**2
        square *= gram
        cube = float(square.sum(dtype=np.float64)) * factor**3
        diag = np.diagonal(gram).astype(np.float64) * factor if not diagonal else None
    del gram, square
    sum_sq = float(row_sq.sum())  # Σ g²
    sp, sq = float(p.sum()), float(q.sum())
    sp2, sq2 = float((p * p).sum()), float((q * q).sum())
    sp3, sq3 = float((p * p * p).sum()), float((q * q * q).sum())
    # Σ (p_i + q_j)² and Σ (p_i + q_j)³ over the block, as power sums.
    pp2 = m_cols * sp2 + 2.0 * sp * sq + m_rows * sq2
    pp3 = m_cols * sp3 + 3.0 * sp2 * sq + 3.0 * sp * sq2 + m_rows * sq3
    linear = float(p @ rows) + float(q @ cols)
    s2 = sum_sq + 2.0 * linear + pp2
    s3 = (
        cube
        + 3.0 * (float(p @ row_sq) + float(q @ col_sq))
        + 3.0 * (float((p * p) @ rows) + 2.0 * pgq + float((q * q) @ cols))
        + pp3
    )
    total = 3.0 * a * s2 + s3
    if diag is not None:  # within-set block: the diagonal (i = j) leaves the unbiased estimator
        d = diag + p + q
        total -= float((d * d * (3.0 * a + d)).sum())
    return total


# Float32 Gram entries are off by about 2**-24 |u_i| |v_j| / sqrt(D) each (input rounding plus blocked
# accumulation), with signs that vary; _F32_ERROR scales that into a generous estimate of the error
# of one subset's MMD² (calibrated: above the measured error in every case of tests/metrics/test_kid.py).
_F32_ERROR = 16.0 * 2.0**-24
# A subset whose float32 error estimate exceeds this share of its MMD² is recomputed in float64.
_F32_TOLERANCE = 1e-6


def _subset_mmd(x: Any, y: Any, matmul_dtype: str, pool: dict[str, np.ndarray] | None = None) -> float:
    """Unbiased MMD² of two (m, D) float64 subsets (see the module docstring for the expansion).

    ``"auto"`` multiplies in float32 and redoes the subset in float64 when the float32
    error estimate is not negligible against the result (a MMD² near 0 at a large kernel scale).
    NumPy subsets are centred in place (they are the caller's work arrays).
    """
    m, dim = x.shape
    torch_input = is_torch(x)
    center = (x.sum(0) + y.sum(0)) / (2 * m)
    if torch_input:
        u, v = x - center, y - center
    else:
        u, v = np.subtract(x, center, out=x), np.subtract(y, center, out=y)
    a = 1.0 + float(center @ center) / dim
    p, q = (u @ center) / dim, (v @ center) / dim
    # Linear-kernel MMD² of the centred rows (the 3a²s term; p and q cancel), from row sums in float64.
    su, sv = u.sum(0), v.sum(0)
    if torch_input:
        uu, vv = float((u * u).sum()), float((v * v).sum())
    else:
        uu, vv = float(np.einsum("ij,ij->", u, u)), float(np.einsum("ij,ij->", v, v))
    linear = ((float(su @ su) - uu) + (float(sv @ sv) - vv)) / (m * (m - 1) * dim) - 2.0 * float(su @ sv) / (
        m * m * dim
    )
    # Power-of-two scale (exact) so a float32 product can neither overflow nor underflow.
    top = max(float(u.max()), -float(u.min()), float(v.max()), -float(v.min()))
    # Terms linear in the Gram matrix, as float64 matrix-vector products (see _block_sum).
    u_su, u_sv, v_su, v_sv = (u @ su) / dim, (u @ sv) / dim, (v @ su) / dim, (v @ sv) / dim
    up, vq = u.T @ p, v.T @ q
    scale = 2.0 ** -np.floor(np.log2(top)) if top > 0 else 1.0
    back = 1.0 / (scale * scale * dim)  # products are u·v scale²; the kernel wants u·v / D

    def mmd(low: str) -> float:
        if torch_input:
            import torch

            dtype = torch.float32 if low == "float32" else torch.float64
            u_low, v_low = (u * scale).to(dtype), (v * scale).to(dtype)
        else:
            u_low = np.multiply(u, scale, out=_buffer(pool, "u_low", u.shape, low), casting="same_kind")
            v_low = np.multiply(v, scale, out=_buffer(pool, "v_low", v.shape, low), casting="same_kind")
        kxx = _block_sum((u_low, u_low), back, p, p, u_su, u_su, float(up @ up) / dim, a, diagonal=False, pool=pool)
        kyy = _block_sum((v_low, v_low), back, q, q, v_sv, v_sv, float(vq @ vq) / dim, a, diagonal=False, pool=pool)
        kxy = _block_sum((u_low, v_low), back, p, q, u_sv, v_su, float(up @ vq) / dim, a, diagonal=True, pool=pool)
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

        def take(x: Any, idx: np.ndarray, role: str) -> Any:
            return x[torch.from_numpy(idx).to(device)].to(torch.float64)

        pool = None
    else:
        real, fake = np.asarray(real), np.asarray(fake)
        pool: dict[str, np.ndarray] | None = {}

        def take(x: np.ndarray, idx: np.ndarray, role: str) -> np.ndarray:
            rows = np.take(x, idx, axis=0, out=_buffer(pool, role + "_rows", (len(idx), x.shape[1]), x.dtype))
            out = _buffer(pool, role, rows.shape, np.float64)
            out[...] = rows
            return out

    indices = kid_subset_indices(n_real, n_fake, subset_size=subset_size, subsets=subsets, seed=seed)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if pool is not None and matmul_dtype != "float32" and kernel_blocks_pay(n_real, n_fake, real.shape[1], indices):
            blocks = KernelBlocks(real, fake)
            estimates = blocks.mmd(*subset_counts(indices, n_real, n_fake))
        else:
            estimates = np.array(
                [_subset_mmd(take(real, ri, "real"), take(fake, fi, "fake"), matmul_dtype, pool) for ri, fi in indices]
            )
        result = {KID_MEAN: float(estimates.mean()), KID_STD: float(estimates.std())}
    return check_result("kid", result)
