"""Mergeable running mean and covariance in float64.

Features of 50,000 images never need to sit in memory at once: each batch is folded
into (n, mean, M2) with the parallel update of Chan, Golub & LeVeque (1979), which is
exact up to round-off and lets per-worker statistics be merged. The covariance is the
unbiased one (divides by n - 1), as pytorch-fid's ``np.cov`` does.

A batch on a CUDA device is reduced on that device (in float64) and only the
(D,) mean and (D, D) scatter matrix come back to the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genqc.metrics.checks import check_features, is_torch


def _batch_moments(batch: Any, matmul_dtype: str) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, mean, M2) of one batch in float64; M2 is the centred scatter matrix.

    With ``matmul_dtype="float32"`` only the scatter product runs in float32 (on centred
    data, so no catastrophic cancellation); mean, centring and accumulation stay float64.
    """
    if is_torch(batch):
        import torch

        b = batch.detach().to(torch.float64)
        mean = b.mean(dim=0)
        centred = b - mean
        if matmul_dtype == "float32":
            centred = centred.float()
        m2 = (centred.T @ centred).double()
        return b.shape[0], mean.cpu().numpy(), m2.cpu().numpy()
    b = np.asarray(batch, dtype=np.float64)
    mean = b.mean(axis=0)
    centred = b - mean
    if matmul_dtype == "float32":
        centred = centred.astype(np.float32)
    m2 = (centred.T @ centred).astype(np.float64)  # NumPy runs X.T @ X as a rank-k update (half the flops)
    return b.shape[0], mean, m2


class RunningStats:
    """Running float64 mean and unbiased covariance of D-dimensional features.

    >>> rs = RunningStats(); rs.update(x[:1000]); rs.update(x[1000:]); rs.cov
    """

    def __init__(self, dim: int | None = None, *, matmul_dtype: str = "float64") -> None:
        if matmul_dtype not in ("float32", "float64"):
            raise ValueError(f"matmul_dtype must be 'float32' or 'float64'; got {matmul_dtype!r}")
        self.matmul_dtype = matmul_dtype
        self.n = 0
        self.dim = dim
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, batch: Any, *, chunk_size: int = 4096) -> RunningStats:
        """Fold a (B, D) batch in; rows are processed ``chunk_size`` at a time to bound float64 copies."""
        check_features(batch, "batch")
        for start in range(0, batch.shape[0], chunk_size):
            n, mean, m2 = _batch_moments(batch[start : start + chunk_size], self.matmul_dtype)
            self._fold(n, mean, m2)
        return self

    def merge(self, other: RunningStats) -> RunningStats:
        """Fold another RunningStats in (e.g. from another worker); returns self."""
        if other.n:
            self._fold(other.n, other._mean, other._m2)
        return self

    def _fold(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if self.dim is not None and mean_b.shape[0] != self.dim:
            raise ValueError(f"batch has {mean_b.shape[0]} dimensions; these statistics have {self.dim}")
        self.dim = mean_b.shape[0]
        if self.n == 0:
            self.n, self._mean, self._m2 = n_b, mean_b.copy(), m2_b.copy()
            return
        n_a = self.n
        n = n_a + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
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
