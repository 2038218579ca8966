"""Exact nearest-neighbour distances in bounded memory, fast.

Distances are screened in float32 (matrix products, the fast path on CPU and GPU) and
every decision that the float32 error could flip is re-decided with exact float64
distances: a k-th nearest-neighbour radius, and a comparison ``d(i, j) < r``. So the
results equal those of a float64 computation (e.g. the ``prdc`` package fed float64)
while the N×M distance matrix is never held: rows are processed ``chunk_size`` at a time.

Data are centred (by the first set's mean) before the float32 products: distances do
not change, but the round-off of ``|x|² + |y|² - 2 x·y`` shrinks with the norms.

The float32 error bound used for screening is ``(4 sqrt(D) + 16) u (|x|² + |y|² + t)``
(``u = 2**-24``, ``t`` the threshold): several times the round-off that blocked float32
dot products show in practice, far below a typical gap between neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from genqc.metrics.checks import is_torch

_U32 = 2.0**-24
# Extra candidates taken beyond the k-th: rows whose window holds more fall back to exact.
_EXTRA = 8
# Default block: about 8M float32 entries (32 MB) per temporary; a handful are alive at once.
_BLOCK_ENTRIES = 2**23


@dataclass
class Prepared:
    """A feature set ready for screening: float32 centred rows, float64 squared norms, the source."""

    source: Any  # (N, D) tensor in the caller's precision, for exact re-computation
    centred32: Any  # (N, D) float32
    sqnorm: Any  # (N,) float64
    center: Any  # (D,) float64
    tol: float  # relative float32 error bound factor


def as_tensor(x: Any, device: Any) -> Any:
    import torch

    return torch.as_tensor(x).to(device) if not is_torch(x) else x.detach().to(device)


def pick_device(*arrays: Any, device: str | None = None) -> Any:
    import torch

    if device is not None:
        return torch.device(device)
    for a in arrays:
        if is_torch(a) and a.is_cuda:
            return a.device
    return torch.device("cpu")


def column_mean(x: Any, chunk: int = 8192) -> Any:
    import torch

    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for s in range(0, x.shape[0], chunk):
        total += x[s : s + chunk].double().sum(dim=0)
    return total / x.shape[0]


def prepare(x: Any, center: Any, *, chunk: int = 8192) -> Prepared:
    import torch

    n, d = x.shape
    centred32 = torch.empty((n, d), dtype=torch.float32, device=x.device)
    sqnorm = torch.empty(n, dtype=torch.float64, device=x.device)
    for s in range(0, n, chunk):
        c = x[s : s + chunk].double() - center
        centred32[s : s + chunk] = c.float()
        sqnorm[s : s + chunk] = (c * c).sum(dim=1)
    return Prepared(x, centred32, sqnorm, center, (4.0 * math.sqrt(d) + 16.0) * _U32)


def exact_sq_pairs(a_src: Any, rows: Any, b_src: Any, cols: Any, *, chunk: int = 4096) -> Any:
    """Exact float64 squared distances of pairs (rows[p], cols[p])."""
    import torch

    out = torch.empty(rows.shape[0], dtype=torch.float64, device=a_src.device)
    for s in range(0, rows.shape[0], chunk):
        diff = a_src[rows[s : s + chunk]].double() - b_src[cols[s : s + chunk]].double()
        out[s : s + chunk] = torch.einsum("pd,pd->p", diff, diff)
    return out


def block_rows(n_cols: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
        return chunk_size
    return max(1, _BLOCK_ENTRIES // max(n_cols, 1))


def screened_block(a: Prepared, b: Prepared, rows: Any) -> tuple[Any, Any, Any]:
    """Float32 screening of ``a``'s ``rows`` (a slice or index tensor) against all of ``b``.

    Returns ``(partial, row_norm, bound)``: ``partial = |y|² - 2 x·y`` (r, M) float32, so
    the squared distance is ``partial + row_norm[:, None]``; a row constant never changes
    a row's ranking, so callers add it only where they must. ``bound`` (r,) float64
    bounds the float32 error of every squared distance in the row.
    """
    import torch

    na = a.sqnorm[rows]
    nb32 = b.sqnorm.float()
    block = a.centred32[rows]
    partial = torch.addmm(nb32.expand(block.shape[0], -1), block, b.centred32.T, alpha=-2.0)  # (r, M)
    bound = (na + float(b.sqnorm.max())) * a.tol
    return partial, na, bound


def _merge_smallest(best: Any, candidates: Any, top: int) -> Any:
    """Row-wise ``top`` smallest of two (r, *) value sets, sorted ascending."""
    import torch

    both = torch.cat([best, candidates], dim=1)
    return torch.topk(both, top, dim=1, largest=False, sorted=True).values


def kth_sq_bounds(
    a: Prepared, b: Prepared, ranks: tuple[int, ...], *, chunk_size: int | None = None
) -> dict[int, tuple[Any, Any]]:
    """Float32 k-th smallest squared distances and a bound on their error, per row of ``a``.

    ``ranks`` are 1-based positions in each row's sorted distances, the row's own point
    included when ``a`` is ``b`` (so rank k+1 is the k-th neighbour, as ``prdc`` counts).
    Returns ``{rank: (value, bound)}`` (float64 tensors): the exact value lies within
    ``value ± bound`` because an order statistic moves no more than the largest error.
    When ``a`` is ``b`` only the upper triangle of the distance matrix is computed
    (half the products): each block also serves the rows of its columns.
    """
    import torch

    n, m = a.centred32.shape[0], b.centred32.shape[0]
    top = max(ranks)
    if top > m:
        raise ValueError(f"rank {top} needs at least {top} points; got {m}")
    step = block_rows(m, chunk_size)
    if a is b:
        best = torch.full((n, top), torch.inf, dtype=torch.float32, device=a.source.device)
        for s in range(0, n, step):
            e = min(n, s + step)
            partial, na, _ = _screen_columns(a, s, e, s)
            dist = partial.add_(na.float()[:, None])  # (r, n - s): rows s:e against columns s:
            k_rows = min(top, dist.shape[1])
            best[s:e] = _merge_smallest(best[s:e], torch.topk(dist, k_rows, dim=1, largest=False).values, top)
            if e < n:  # the same block, read by column, holds distances of rows e: to rows s:e
                tail = dist[:, e - s :]
                k_cols = min(top, tail.shape[0])
                col_vals = torch.topk(tail, k_cols, dim=0, largest=False).values.T  # (n - e, k)
                best[e:] = _merge_smallest(best[e:], col_vals, top)
        vals_all = best.double()
        out = {r: vals_all[:, r - 1].clone() for r in ranks}
    else:
        out = {r: torch.empty(n, dtype=torch.float64, device=a.source.device) for r in ranks}
        for s in range(0, n, step):
            partial, na, _ = screened_block(a, b, slice(s, min(n, s + step)))
            vals = torch.topk(partial, top, dim=1, largest=False, sorted=True).values.double() + na[:, None]
            for r in ranks:
                out[r][s : s + step] = vals[:, r - 1]
    bound = (a.sqnorm + float(b.sqnorm.max())) * a.tol
    return {r: (v, bound) for r, v in out.items()}


def _screen_columns(a: Prepared, start: int, stop: int, col_start: int) -> tuple[Any, Any, Any]:
    """Like :func:`screened_block` for ``a`` against itself, columns ``col_start:`` only."""
    import torch

    na = a.sqnorm[start:stop]
    cols = a.centred32[col_start:]
    nb32 = a.sqnorm[col_start:].float()
    partial = torch.addmm(nb32.expand(stop - start, -1), a.centred32[start:stop], cols.T, alpha=-2.0)
    return partial, na, None


def _float64_topk(a: Prepared, b: Prepared, rows: Any, take: int, *, col_chunk: int = 8192) -> tuple[Any, Any]:
    """The ``take`` smallest squared distances of ``rows`` of ``a`` to all of ``b``, in float64."""
    import torch

    x = a.source[rows].double() - a.center
    dist = torch.empty((rows.shape[0], b.source.shape[0]), dtype=torch.float64, device=x.device)
    for c in range(0, b.source.shape[0], col_chunk):
        y = b.source[c : c + col_chunk].double() - b.center
        dist[:, c : c + col_chunk] = torch.addmm(b.sqnorm[c : c + col_chunk].expand(x.shape[0], -1), x, y.T, alpha=-2.0)
    dist += a.sqnorm[rows][:, None]
    values, index = torch.topk(dist.clamp_(min=0.0), take, dim=1, largest=False, sorted=True)
    return values, index


def kth_sq_distances(
    a: Prepared, b: Prepared, ranks: tuple[int, ...], *, rows: Any = None, chunk_size: int | None = None
) -> tuple[dict[int, Any], Any]:
    """Exact float64 k-th smallest squared distances (ranks as in :func:`kth_sq_bounds`) for ``rows`` of ``a``.

    Also returns the index in ``b`` of each row's nearest point. ``rows`` defaults to all.
    """
    import torch

    dev = a.source.device
    rows = torch.arange(a.centred32.shape[0], device=dev) if rows is None else rows
    n, m = rows.shape[0], b.centred32.shape[0]
    top = max(ranks)
    if top > m:
        raise ValueError(f"rank {top} needs at least {top} points; got {m}")
    take = min(m, top + _EXTRA)
    out = {r: torch.empty(n, dtype=torch.float64, device=dev) for r in ranks}
    nearest = torch.empty(n, dtype=torch.long, device=dev)
    step = block_rows(m, chunk_size)
    for s in range(0, n, step):
        block = rows[s : s + step]
        partial, _, tol = screened_block(a, b, block)
        vals, idx = torch.topk(partial, take, dim=1, largest=False, sorted=True)  # row shift: same order
        del partial
        # Every point whose exact distance could be among the `top` smallest lies within
        # 2*tol of the float32 top-th value; if that window is wider than `take`, go exact.
        complete = (vals[:, -1].double() > vals[:, top - 1].double() + 2.0 * tol) | (take == m)
        exact = exact_sq_pairs(a.source, block[:, None].expand(-1, take).reshape(-1), b.source, idx.reshape(-1)).view(
            -1, take
        )
        incomplete = torch.nonzero(~complete).flatten()
        if incomplete.numel():
            # Many near-ties (duplicates, a collapsed generator): rank these rows in float64.
            exact[incomplete], idx[incomplete] = _float64_topk(a, b, block[incomplete], take)
        exact, order = exact.sort(dim=1)
        for r in ranks:
            out[r][s : s + step] = exact[:, r - 1]
        nearest[s : s + step] = idx.gather(1, order[:, :1]).squeeze(1)
    return out, nearest
