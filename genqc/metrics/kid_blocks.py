"""KID from kernel blocks formed once: every subset (and every bootstrap resample's subset) as counts.

KID's default draws 100 subsets of 1,000 rows from sets of 2,000 and 1,000: each subset
multiplies three (1,000, D) x (D, 1,000) blocks, 7.7 GFLOP at D = 1,280, so the subsets
redo the same row pairs' products about 30 times over. Here the kernel of every pair of
rows is formed once, and a subset is a vector of counts ``c`` (how often each row is in
it: 0/1 for a subset, more for a subset of a bootstrap resample), so its kernel sums are
quadratic forms ``cᵀ K c``, all subsets at once in one matrix product.

Accuracy, as :mod:`genqc.metrics.kid`: the rows are centred by the pooled float64 mean
``c`` of both sets and the cubic kernel expanded, ``k = (a + s)³`` with
``a = 1 + |c|²/D`` and ``s_ij = r_ij + p_i + q_j``; the ``a³`` terms cancel exactly in
the unbiased MMD² and are never added, so each block holds ``H = 3a² r + s² (3a + s)``
in float64 (the ``3a² (p + q)`` parts also cancel exactly and are left out). The result
agrees with exact rational arithmetic to 1e-9 at feature means 0 to 1e7
(tests/metrics/test_kid.py), with float64 products throughout.

Cost: ``(n1 + n2)² D`` once, plus ``2 (n1 + n2)²`` per subset; memory: the three
blocks, ``(n1 + n2)²`` float64 values (72 MB for 2,000 + 1,000 rows).
:func:`kernel_blocks_pay` says when that beats the per-subset products.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The three kernel blocks hold (n1 + n2)² float64 values: beyond this many (128 MB) subsets are computed one by one.
MAX_BLOCK_ENTRIES = 2**24
# Subsets' count vectors multiplied at once (bounds the (n, columns) products' memory).
_COLUMNS = 256


def kernel_blocks_pay(n_real: int, n_fake: int, dim: int, subsets: Sequence[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether forming the kernel blocks once costs fewer operations than the subsets' own products.

    Per-subset products: three (m, D) x (D, m) products, ``6 m² D`` operations in float32
    (counted at half the cost of float64); blocks: ``(n1 + n2)² (D + 10)`` float64 once,
    then ``2 (n1 + n2)²`` per subset.
    """
    total = (n_real + n_fake) ** 2
    if total > MAX_BLOCK_ENTRIES or not subsets:
        return False
    per_subset = sum(3.0 * len(ri) * len(fi) * dim for ri, fi in subsets)
    return total * (dim + 10 + 2 * len(subsets)) < per_subset


def subset_counts(
    subsets: Sequence[tuple[np.ndarray, np.ndarray]], n_real: int, n_fake: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(n_real, S) and (n_fake, S) float64 counts of each subset's rows, and the subset size."""
    real = np.stack([np.bincount(ri, minlength=n_real) for ri, _ in subsets], axis=1).astype(np.float64)
    fake = np.stack([np.bincount(fi, minlength=n_fake) for _, fi in subsets], axis=1).astype(np.float64)
    return real, fake, len(subsets[0][0])


class KernelBlocks:
    """The cubic kernel's blocks (real-real, fake-fake, real-fake) of two feature sets, for subsets as counts."""

    def __init__(self, real: np.ndarray, fake: np.ndarray) -> None:
        x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
        dim = x.shape[1]
        center = (x.sum(axis=0) + y.sum(axis=0)) / (len(x) + len(y))
        u, v = x - center, y - center
        a = 1.0 + float(center @ center) / dim
        p, q = (u @ center) / dim, (v @ center) / dim
        self.real_real = _block(u, u, p, p, a, dim)
        self.fake_fake = _block(v, v, q, q, a, dim)
        self.real_fake = _block(u, v, p, q, a, dim)

    def mmd(self, real_counts: np.ndarray, fake_counts: np.ndarray, size: int) -> np.ndarray:
        """Unbiased MMD² of each subset: columns of counts (n, S) with ``size`` rows per set; (S,) float64.

        Within a set, pairs of a row with itself at the same position leave the estimator
        (``cᵀ K c - Σ c_i K_ii``); a row drawn twice still pairs with its other copy.
        """
        out = np.empty(real_counts.shape[1])
        within, across = 1.0 / (size * (size - 1)), 2.0 / (size * size)
        for s in range(0, len(out), _COLUMNS):
            cx, cy = real_counts[:, s : s + _COLUMNS], fake_counts[:, s : s + _COLUMNS]
            kxx = _quadratic(self.real_real, cx, cx) - np.diagonal(self.real_real) @ cx
            kyy = _quadratic(self.fake_fake, cy, cy) - np.diagonal(self.fake_fake) @ cy
            kxy = _quadratic(self.real_fake, cx, cy)
            out[s : s + _COLUMNS] = (kxx + kyy) * within - kxy * across
        return out


def _block(u: np.ndarray, v: np.ndarray, p: np.ndarray, q: np.ndarray, a: float, dim: int) -> np.ndarray:
    """``3a² r + s² (3a + s)`` with ``r = u vᵀ / D`` and ``s = r + p_i + q_j``: the kernel less its cancelling parts."""
    r = u @ v.T  # (n1, D) @ (D, n2) -> (n1, n2); u @ u.T runs as a symmetric rank-k update
    r /= dim
    s = r + p[:, None]
    s += q[None, :]
    r *= 3.0 * a * a
    square = np.multiply(s, s)
    s += 3.0 * a
    square *= s
    r += square
    return r


def _quadratic(block: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left[:, k]ᵀ block right[:, k]`` for every column k."""
    return np.einsum("ik,ik->k", left, block @ right)
