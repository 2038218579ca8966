"""Mergeable running mean and covariance in float64.

Features of 50,000 images never need to sit in memory at once: each batch is folded
into (n, mean, M2) with the parallel update of Chan, Golub & LeVeque (1979), which is
exact up to round-off and lets per-worker statistics be merged. The covariance is the
unbiased one (divides by n - 1), as pytorch-fid's ``np.cov`` does.

Precision of the products (``matmul_dtype``): the mean, the centring shift and every
accumulation are float64. The (D, D) product of a block's centred rows follows the
input's precision by default (``"auto"``): float32 features (what every extractor
gives) are multiplied in float32 in blocks of at most 8,192 rows, each block's product
added to the float64 total; float64 input is multiplied in float64. Float32 products of
float32 data lose nothing the data had, run at twice the speed, and move a Fréchet
distance at 50k x 2048 by ~1e-8 relative (bench/metrics.py measures it against the
float64 route and scipy's ``sqrtm``). ``"float64"`` forces float64 products throughout.

A batch on a CUDA device is reduced on that device in float64 (GPU float32 products may
silently run as TF32) and only the (D,) mean and (D, D) scatter matrix come back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg.blas import dger

from genqc.metrics.checks import check_features, is_torch

# torch is imported inside the functions that use it (deferred on purpose): `import genqc.metrics` must not
# load torch, so NumPy features are measured without it (tests/features/test_registry.py checks this).

MATMUL_DTYPES = ("auto", "float32", "float64")


def _product_dtype(batch: Any, matmul_dtype: str) -> str:
    """The precision of a batch's scatter product: 'auto' follows the input's precision."""
    if matmul_dtype != "auto":
        return matmul_dtype
    if is_torch(batch):
        import torch

        if batch.is_cuda:
            return "float64"
        return "float64" if batch.dtype == torch.float64 else "float32"
    return "float64" if np.asarray(batch).dtype == np.float64 else "float32"


def _moments(batch: Any, product_dtype: str, chunk_size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, mean, M2) of a batch; mean and M2 float64, M2 the centred scatter matrix.

    Two passes: the float64 mean of the whole batch, then the rows centred by it (rounded
    to the product's precision) multiplied ``chunk_size`` rows at a time, each block's
    product added to a float64 total. The centred rows' own mean ``r = mean - shift``
    is not exactly zero; ``n r rᵀ`` is taken off, so M2 is exact up to the products'
    round-off.
    """
    if is_torch(batch) and not batch.is_cuda:
        import torch

        # NumPy runs X.T @ X as a rank-k update (half of torch's general matmul's flops).
        batch = batch.detach()
        batch = (batch if batch.dtype in (torch.float32, torch.float64) else batch.float()).numpy()
    if is_torch(batch):
        return _moments_cuda(batch.detach(), chunk_size)
    b = np.asarray(batch)
    n, d = b.shape
    dtype = np.float32 if product_dtype == "float32" else np.float64
    mean = b.mean(axis=0, dtype=np.float64)
    shift = mean.astype(dtype)
    total = np.zeros((d, d))
    block = np.empty((min(chunk_size, n), d), dtype)  # reused: no fresh pages per block
    product = np.empty((d, d), dtype)
    for start in range(0, n, chunk_size):
        rows = b[start : start + chunk_size]
        centred = block[: rows.shape[0]]
        np.subtract(rows, shift, out=centred)
        np.matmul(centred.T, centred, out=product)  # NumPy runs X.T @ X as syrk: half the flops
        total += product  # float64 accumulation across blocks
    r = mean - shift.astype(np.float64)
    if r.any():
        _rank1_update(total, r, -float(n))
    return n, mean, total


def _moments_cuda(batch: Any, chunk_size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The same on a CUDA device, all in float64 (float32 products there may silently run as TF32)."""
    import torch

    n = batch.shape[0]
    mean = sum(batch[s : s + chunk_size].to(torch.float64).sum(dim=0) for s in range(0, n, chunk_size)) / n
    total = torch.zeros((batch.shape[1], batch.shape[1]), dtype=torch.float64, device=batch.device)
    for start in range(0, n, chunk_size):
        centred = batch[start : start + chunk_size].to(torch.float64) - mean
        total.addmm_(centred.T, centred)
    return n, mean.cpu().numpy(), total.cpu().numpy()


def _rank1_update(m2: np.ndarray, v: np.ndarray, alpha: float) -> None:
    """``m2 += alpha * v vᵀ`` in place (BLAS dger: no (D, D) temporary)."""
    # A C-ordered symmetric matrix is its own transpose: hand BLAS the Fortran-ordered view.
    out = dger(alpha, v, v, a=m2.T, overwrite_a=True)
    if not np.shares_memory(out, m2):  # BLAS could not work in place (not contiguous): copy back
        m2[...] = out.T


class RunningStats:
    """Running float64 mean and unbiased covariance of D-dimensional features.

    >>> rs = RunningStats(); rs.update(x[:1000]); rs.update(x[1000:]); rs.cov
    """

    def __init__(self, dim: int | None = None, *, matmul_dtype: str = "auto") -> None:
        if matmul_dtype not in MATMUL_DTYPES:
            raise ValueError(f"matmul_dtype must be one of {', '.join(MATMUL_DTYPES)}; got {matmul_dtype!r}")
        self.matmul_dtype = matmul_dtype
        self.n = 0
        self.dim = dim
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, batch: Any, *, chunk_size: int = 8192) -> RunningStats:
        """Fold a (B, D) batch in; products run ``chunk_size`` rows at a time (bounds temporaries and float32 sums)."""
        check_features(batch, "batch")
        return self._update_checked(batch, chunk_size)

    def _update_checked(self, batch: Any, chunk_size: int) -> RunningStats:
        """:meth:`update` for a batch the caller has already checked (saves a pass over 50k x 2048)."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
        self._fold(*_moments(batch, _product_dtype(batch, self.matmul_dtype), chunk_size))
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold another RunningStats in (e.g. from another worker); returns self."""
        if other.n:
            self._fold(other.n, other._mean, other._m2.copy())
        return self

    def _fold(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        """Chan's merge; takes ownership of ``m2_b`` (it may become the running total)."""
        if self.dim is not None and mean_b.shape[0] != self.dim:
            raise ValueError(f"batch has {mean_b.shape[0]} dimensions; these statistics have {self.dim}")
        self.dim = mean_b.shape[0]
        if self.n == 0:
            self.n, self._mean, self._m2 = n_b, mean_b.copy(), np.ascontiguousarray(m2_b)
            return
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 += m2_b
        _rank1_update(self._m2, delta, n_a * n_b / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        if self.n == 0:
            raise ValueError("no samples have been added to these statistics")
        return self._mean

    @property
    def cov(self) -> np.ndarray:
        """Unbiased (ddof=1) covariance; needs at least 2 samples."""
        if self.n < 2:
            raise ValueError(f"a covariance needs at least 2 samples; these statistics have {self.n}")
        return self._m2 / (self.n - 1)
