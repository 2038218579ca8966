"""Exact nearest-neighbour distances in bounded memory, fast.

Distances are screened in float32 (matrix products, the fast path on CPU and GPU) and
every decision that the float32 error could flip is re-decided with exact float64
distances: a k-th nearest-neighbour radius, and a comparison ``d(i, j) < r``. So the
results equal those of a float64 computation (e.g. the ``prdc`` package fed float64)
while the N×M distance matrix is never held: it is walked in tiles of ``chunk_size``
rows (rounded up to a multiple of 16; 2048 by default) by a few thousand columns, about
32 MB each: large enough for the products to run near the BLAS peak, small enough for
the passes over a tile to stay mostly in cache.

Data are centred (by the first set's mean) before the float32 products: distances do
not change, but the round-off of ``|x|² + |y|² - 2 x·y`` shrinks with the norms.

The float32 error bound used for screening is ``(4 sqrt(D) + 16) u (|x|² + |y|² + t)``
(``u = 2**-24``, ``t`` the threshold): several times the round-off that blocked float32
dot products show in practice, far below a typical gap between neighbours.

On CPU the tile products are one BLAS ``sgemm`` each (``ssyrk``, half the work, for a
set's diagonal tiles), written in place into a reused buffer with the norms already in
it (``beta=1``), and the passes over a tile are NumPy calls on views of it:
single-threaded passes do not stall on a busy machine the way a thread team does.
Other devices use the same steps in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg.blas import sgemm, sger, ssyrk

from genqc.metrics.checks import is_torch, power_of_two_scale

# torch is imported inside the functions that use it (deferred on purpose): `import genqc.metrics` must not
# load torch, so NumPy features are measured without it (tests/features/test_registry.py checks this).

_U32 = 2.0**-24
# Extra candidates taken beyond the k-th: rows whose window holds more fall back to exact.
_EXTRA = 8
# Default row block of kth_sq_distances (an (r, M) float32 block): about 8M entries, 32 MB.
_BLOCK_ENTRIES = 2**23
# Tiles: rows are padded to a multiple of GROUP (zero rows, +inf norms) so a tile can be
# cut into GROUP strided slabs; 2048 rows by default, about _TILE_ENTRIES float32 values
# (32 MB) per tile: smaller tiles run the products measurably below the BLAS peak.
GROUP = 16
_TILE_ROWS = 2048
_TILE_ENTRIES = 2**23


@dataclass
class Prepared:
    """A feature set ready for screening: float32 centred rows, float64 squared norms, the source."""

    source: Any  # (N, D) tensor in the caller's precision, for exact re-computation
    centred32: Any  # (N, D) float32, a view of rows32
    sqnorm: Any  # (N,) float64
    center: Any  # (D,) float64
    tol: float  # relative float32 error bound factor
    rows32: Any  # (N + GROUP, D) float32: centred32, then zero rows so tiles may run past the end
    norm32: Any  # (N + GROUP,) float32 squared norms, then +inf: padded entries are never near

    @property
    def n(self) -> int:
        return self.centred32.shape[0]


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


def _on_cpu(t: Any) -> bool:
    return t.device.type == "cpu"


def _numpy_rows(x: Any, start: int, stop: int) -> np.ndarray:
    """Rows of a CPU tensor as a NumPy array (a view unless NumPy lacks the dtype)."""
    import torch

    rows = x[start:stop]
    return rows.double().numpy() if rows.dtype == torch.bfloat16 else rows.numpy()


# Magnitudes whose squared distances float32 screening and float64 decisions hold without overflow or
# underflow: sets whose largest |x| lies outside are scaled by a power of two first (see in_range).
_SAFE_MAGNITUDE = (2.0**-30, 2.0**30)


def in_range(*tensors: Any) -> tuple[Any, ...]:
    """The tensors, multiplied together by one power of two when their largest |x| is outside a safe range.

    Scaling by a power of two is exact, and every neighbour decision is scale-free, so the
    results are unchanged; without it |x| ~ 1e200 gives infinite squared distances (and
    every comparison false) and |x| ~ 1e-200 gives zeros (and every comparison a tie).
    """
    top = max(float(t.abs().max()) for t in tensors)
    if top == 0.0 or _SAFE_MAGNITUDE[0] <= top <= _SAFE_MAGNITUDE[1]:
        return tensors
    scale = power_of_two_scale(*tensors)
    return tuple(t * scale for t in tensors)


def column_mean(x: Any, chunk: int = 8192) -> Any:
    import torch

    if _on_cpu(x):
        total = np.zeros(x.shape[1])
        for s in range(0, x.shape[0], chunk):
            total += _numpy_rows(x, s, s + chunk).sum(axis=0, dtype=np.float64)
        return torch.from_numpy(total / x.shape[0])
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    for s in range(0, x.shape[0], chunk):
        total += x[s : s + chunk].double().sum(dim=0)
    return total / x.shape[0]


def prepare(x: Any, center: Any, *, chunk: int = 1024) -> Prepared:
    import torch

    n, d = x.shape
    rows32 = torch.empty((n + GROUP, d), dtype=torch.float32, device=x.device)
    rows32[n:] = 0.0  # every other row is written below
    sqnorm = torch.empty(n, dtype=torch.float64, device=x.device)
    if _on_cpu(x):
        out32, out_sq, mean = rows32.numpy(), sqnorm.numpy(), center.numpy()
        buf = np.empty((min(chunk, n), d))  # reused: fresh pages per chunk cost more than the arithmetic
        for s in range(0, n, chunk):
            c = buf[: min(n, s + chunk) - s]
            np.subtract(_numpy_rows(x, s, s + chunk), mean, out=c)
            out32[s : s + c.shape[0]] = c
            out_sq[s : s + c.shape[0]] = np.einsum("ij,ij->i", c, c)
    else:
        for s in range(0, n, chunk):
            c = x[s : s + chunk].double() - center
            rows32[s : s + chunk] = c.float()
            sqnorm[s : s + chunk] = (c * c).sum(dim=1)
    norm32 = torch.full((n + GROUP,), torch.inf, dtype=torch.float32, device=x.device)
    norm32[:n] = sqnorm.float()
    return Prepared(x, rows32[:n], sqnorm, center, (4.0 * math.sqrt(d) + 16.0) * _U32, rows32, norm32)


def exact_sq_pairs(a_src: Any, rows: Any, b_src: Any, cols: Any, *, chunk: int = 4096) -> Any:
    """Exact float64 squared distances of pairs (rows[p], cols[p])."""
    import torch

    out = torch.empty(rows.shape[0], dtype=torch.float64, device=a_src.device)
    if _on_cpu(a_src) and a_src.dtype != torch.bfloat16 and b_src.dtype != torch.bfloat16:
        a_np, b_np, out_np = a_src.numpy(), b_src.numpy(), out.numpy()
        for s in range(0, rows.shape[0], chunk):
            diff = a_np[rows[s : s + chunk].numpy()].astype(np.float64) - b_np[cols[s : s + chunk].numpy()]
            out_np[s : s + chunk] = np.square(diff, out=diff).sum(axis=1)  # the same sum for equal rows
        return out
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


def padded(count: int) -> int:
    """``count`` rounded up to a multiple of GROUP."""
    return -(-count // GROUP) * GROUP


def tile_shape(n_rows: int, n_cols: int, chunk_size: int | None) -> tuple[int, int]:
    """(rows, cols) of a tile, both multiples of GROUP: ``chunk_size`` rows (default 2048), ~8M entries."""
    rows = _TILE_ROWS if chunk_size is None else block_rows(n_cols, chunk_size)
    rows = padded(min(rows, n_rows))
    cols = min(padded(max(GROUP, _TILE_ENTRIES // rows)), padded(n_cols))
    return rows, cols


class Tiles:
    """Reused tile buffers: float32 values (and a second float32 and a bool one on demand)."""

    def __init__(self, rows: int, cols: int, device: Any, *, spare: bool = False, mask: bool = False) -> None:
        import torch

        self.values = torch.empty(rows * cols, dtype=torch.float32, device=device)
        self.spare = torch.empty(rows * cols, dtype=torch.float32, device=device) if spare else None
        self.mask = torch.empty(rows * cols, dtype=torch.bool, device=device) if mask else None

    @staticmethod
    def view(storage: Any, rows: int, cols: int) -> Any:
        return storage[: rows * cols].view(rows, cols)  # contiguous (rows, cols), as BLAS needs


def fill_tile(
    out: Any, a: Prepared, b: Prepared, row: int, col: int, col_init: Any, row_init: Any, *, add: bool
) -> Any:
    """``out = col_init[:, None] ± row_init[None, :] - 2 a_i·b_j`` over the padded rows/cols of a tile.

    ``add``: ``col_init + row_init`` (squared distances from norms), else ``row_init - col_init``.
    """
    rows, cols = out.shape
    outer_(out, col_init, row_init, add=add)
    gemm_(out, a.rows32[row : row + rows], b.rows32[col : col + cols], alpha=-2.0)
    return out


def gemm_(out: Any, a: Any, b: Any, *, alpha: float, beta: float = 1.0) -> Any:
    """``out = beta * out + alpha * a @ b.T`` in place (float32; ``out`` contiguous)."""
    if not _on_cpu(out):
        return out.addmm_(a, b.T, beta=beta, alpha=alpha)

    o = out.numpy()
    # Column-major view of the row-major problem: out.T = alpha * b @ a.T + beta * out.T.
    res = sgemm(alpha, b.contiguous().numpy().T, a.contiguous().numpy().T, beta=beta, c=o.T, trans_a=1, overwrite_c=1)
    if not np.shares_memory(res, o):  # the wrapper copied instead of writing in place
        o[...] = res.T
    return out


def diagonal_tile(out: Any, a: Prepared, row: int, lower: Any) -> Any:
    """Squared distances among ``a``'s rows ``row:row + r`` on and above the diagonal of ``out``, +inf below.

    ``lower`` is a (≥r, ≥r) bool mask of the strict lower triangle. On CPU one ``ssyrk``
    computes the upper triangle only; elsewhere a full product leaves ``inf`` below.
    """
    import torch

    r = out.shape[0]
    x, norms = a.rows32[row : row + r], a.norm32[row : row + r]
    outer_(out, norms, norms, add=True)
    if not _on_cpu(out):
        out.masked_fill_(lower[:r, :r], torch.inf)
        return out.addmm_(x, x.T, alpha=-2.0)  # beta=1: inf + finite stays inf below the diagonal
    o = out.numpy()
    np.copyto(o, np.inf, where=lower.numpy()[:r, :r])

    # Column-major view: the upper triangle of the row-major tile is the lower one of o.T.
    res = ssyrk(-2.0, x.contiguous().numpy().T, beta=1.0, c=o.T, trans=1, lower=1, overwrite_c=1)
    if not np.shares_memory(res, o):  # the wrapper copied instead of writing in place
        o[...] = res.T
    return out


def strict_lower(size: int, device: Any) -> Any:
    """(size, size) bool mask of the strict lower triangle."""
    import torch

    if torch.device(device).type == "cpu":
        return torch.from_numpy(np.tri(size, k=-1, dtype=bool))
    return torch.ones((size, size), dtype=torch.bool, device=device).tril_(-1)


def outer_(out: Any, col: Any, row: Any, *, add: bool) -> Any:
    """``out = col[:, None] + row[None, :]`` (``add``) or ``row[None, :] - col[:, None]``, in place."""
    import torch

    if _on_cpu(out):
        c, r = col.numpy()[:, None], row.numpy()[None, :]
        if add:
            np.add(c, r, out=out.numpy())
        else:
            np.subtract(r, c, out=out.numpy())
        return out
    if add:
        return torch.add(col[:, None], row[None, :], out=out)
    return torch.sub(row[None, :], col[:, None], out=out)


def add_rows(out: Any, x: Any, vec: Any) -> Any:
    """``out = x + vec[:, None]`` (one value per row)."""
    import torch

    if _on_cpu(out):
        np.add(x.numpy(), vec.numpy()[:, None], out=out.numpy())
        return out
    return torch.add(x, vec[:, None], out=out)


def add_columns_(x: Any, vec: Any) -> Any:
    """``x += vec[None, :]`` in place (one value per column).

    On CPU a BLAS rank-1 update: NumPy's broadcast along rows runs several times
    slower than its per-row case here.
    """
    if not _on_cpu(x):
        return x.add_(vec[None, :])

    o = x.numpy()
    res = sger(1.0, vec.numpy(), np.ones(o.shape[0], dtype=np.float32), a=o.T, overwrite_a=1)  # o.T += vec ⊗ 1
    if not np.shares_memory(res, o):  # the wrapper copied instead of writing in place
        o[...] = res.T
    return x


def count_below(x: Any, threshold: float, mask: Any, *, strict: bool) -> Any:
    """Per-column count of ``x < threshold`` (``strict``) or ``x <= threshold`` (int64)."""
    import torch

    if _on_cpu(x):
        m = mask.numpy()
        (np.less if strict else np.less_equal)(x.numpy(), np.float32(threshold), out=m)
        small = x.shape[0] < 2**16  # uint16 sums run twice as fast as int32 ones
        counts = np.add.reduce(m.view(np.uint8), axis=0, dtype=np.uint16 if small else np.int64)
        return torch.from_numpy(counts.astype(np.int64))
    (torch.lt if strict else torch.le)(x, threshold, out=mask)
    return mask.sum(dim=0)


def submatrix(x: Any, rows: Any, cols: Any) -> Any:
    """``x[rows][:, cols]`` for a slice or index tensor each, as a new tensor (NumPy's gather on CPU, far faster)."""
    import torch

    if not _on_cpu(x):
        return x[rows][:, cols]
    pick = [i.numpy() if is_torch(i) else i for i in (rows, cols)]
    return torch.from_numpy(np.ascontiguousarray(x.numpy()[pick[0]][:, pick[1]]))


def amin(x: Any, dim: int) -> Any:
    """Minimum along ``dim`` (values only)."""
    import torch

    if _on_cpu(x):
        return torch.from_numpy(x.numpy().min(axis=dim))
    return x.amin(dim=dim)


def smallest(x: Any, m: int, dim: int) -> Any:
    """The ``m`` smallest values of each row (``dim=1``) or column (``dim=0``) of a tile, unordered.

    Returns (rows or cols, m), padded with +inf where the tile is shorter than ``m``.
    On CPU the tile is first reduced to the minima of GROUP-sized strided groups: the
    ``m`` smallest values lie in the groups whose minima are at most the ``m``-th
    smallest minimum (any other group has ``m`` chosen minima below its own), so the
    selection runs over 1/GROUP of the tile.
    """
    import torch

    length = x.shape[dim]
    if not _on_cpu(x):
        vals = torch.topk(x, min(m, length), dim=dim, largest=False, sorted=False).values
        vals = vals if dim == 1 else vals.T
    else:
        vals = torch.from_numpy(_smallest_numpy(x.numpy(), m, dim))
    if vals.shape[1] < m:
        vals = torch.cat([vals, vals.new_full((vals.shape[0], m - vals.shape[1]), torch.inf)], dim=1)
    return vals


def _smallest_numpy(x: np.ndarray, m: int, dim: int) -> np.ndarray:
    v = x if dim == 1 else x.T  # (items, length); a transposed view for columns
    items, length = v.shape
    groups = length // GROUP
    if length <= m:
        return np.array(v)
    if groups <= 2 * m or length % GROUP:
        return np.partition(v, m - 1, axis=1)[:, :m]
    if dim == 1:
        slabs = x.reshape(items, GROUP, groups)  # (items, length) -> (items, GROUP, groups)
        minima = slabs.min(axis=1)  # (items, groups)
    else:
        slabs = x.reshape(GROUP, groups, items)  # (length, items) -> (GROUP, groups, items)
        minima = np.ascontiguousarray(slabs.min(axis=0).T)  # (items, groups)
    theta = np.partition(minima, m - 1, axis=1)[:, m - 1 : m]
    chosen = minima <= theta  # m groups per row, more only on tied minima
    regular = chosen.sum(axis=1) == m
    every = bool(regular.all())
    rows = np.arange(items) if every else np.flatnonzero(regular)
    pick = np.nonzero(chosen if every else chosen[rows])[1].reshape(-1, m)  # (rows, m) group ids
    # (rows, m, GROUP) for rows; for columns (GROUP, rows, m) -> (rows, GROUP, m)
    cand = slabs[rows[:, None], :, pick] if dim == 1 else slabs[:, pick, rows[:, None]].transpose(1, 0, 2)
    found = np.partition(cand.reshape(rows.shape[0], m * GROUP), m - 1, axis=1)[:, :m]
    if every:
        return found
    out = np.empty((items, m), dtype=x.dtype)
    out[rows] = found
    ties = np.flatnonzero(~regular)  # rows with tied group minima: selected directly
    out[ties] = np.partition(v[ties], m - 1, axis=1)[:, :m]
    return out


def merge_smallest(best: Any, candidates: Any, top: int) -> Any:
    """Row-wise ``top`` smallest of two (r, *) value sets, unordered."""
    import torch

    if _on_cpu(best):
        both = np.concatenate([best.numpy(), candidates.numpy()], axis=1)
        return torch.from_numpy(np.partition(both, top - 1, axis=1)[:, :top])
    both = torch.cat([best, candidates], dim=1)
    return torch.topk(both, top, dim=1, largest=False, sorted=False).values


def kth_sq_bounds(
    a: Prepared, b: Prepared, ranks: tuple[int, ...], *, chunk_size: int | None = None
) -> dict[int, tuple[Any, Any]]:
    """Float32 k-th smallest squared distances and a bound on their error, per row of ``a``.

    ``ranks`` are 1-based positions in each row's sorted distances, the row's own point
    included when ``a`` is ``b`` (so rank k+1 is the k-th neighbour, as ``prdc`` counts).
    Returns ``{rank: (value, bound)}`` (float64 tensors): the exact value lies within
    ``value ± bound`` because an order statistic moves no more than the largest error.
    When ``a`` is ``b`` only the upper triangle of the distance matrix is computed
    (half the products): each tile also serves, read by column, the rows of its columns.
    """
    import torch

    n, m = a.n, b.n
    top = max(ranks)
    if top > m:
        raise ValueError(f"rank {top} needs at least {top} points; got {m}")
    rows, cols = tile_shape(n, m, chunk_size)
    dev = a.rows32.device
    lower = strict_lower(rows, dev) if a is b else None
    best = torch.full((n, top), torch.inf, dtype=torch.float32, device=dev)
    tiles = Tiles(rows, max(rows, cols) if a is b else cols, dev)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        r = padded(e - s)
        if a is b:
            # The diagonal tile: row i reads its distances to j >= i (itself included), then
            # column j those to i < j, so every pair counts once for each end.
            tile = diagonal_tile(Tiles.view(tiles.values, r, r), a, s, lower)
            best[s:e] = merge_smallest(best[s:e], smallest(tile, top, dim=1)[: e - s], top)
            tile.diagonal().fill_(torch.inf)
            best[s:e] = merge_smallest(best[s:e], smallest(tile, top, dim=0)[: e - s], top)
        # Right of the diagonal (a against itself) or all of b: rows s:e against columns c:c_end.
        for c in range(e if a is b else 0, m, cols):
            c_end = min(m, c + cols)
            w = padded(c_end - c)
            tile = Tiles.view(tiles.values, r, w)
            fill_tile(tile, a, b, s, c, a.norm32[s : s + r], b.norm32[c : c + w], add=True)  # squared distances
            best[s:e] = merge_smallest(best[s:e], smallest(tile, top, dim=1)[: e - s], top)
            if a is b:  # the same tile, read by column, holds distances of rows c:c_end to rows s:e
                best[c:c_end] = merge_smallest(best[c:c_end], smallest(tile, top, dim=0)[: c_end - c], top)
    if _on_cpu(best):
        vals_all = torch.from_numpy(np.sort(best.numpy(), axis=1)).double()
    else:
        vals_all = best.sort(dim=1).values.double()
    bound = (a.sqnorm + float(b.sqnorm.max())) * a.tol
    return {rank: (vals_all[:, rank - 1].clone(), bound) for rank in ranks}


def screened_block(a: Prepared, b: Prepared, rows: Any) -> tuple[Any, Any, Any]:
    """Float32 screening of ``a``'s ``rows`` (a slice or index tensor) against all of ``b``.

    Returns ``(partial, row_norm, bound)``: ``partial = |y|² - 2 x·y`` (r, M) float32, so
    the squared distance is ``partial + row_norm[:, None]``; a row constant never changes
    a row's ranking, so callers add it only where they must. ``bound`` (r,) float64
    bounds the float32 error of every squared distance in the row.
    """
    import torch

    na = a.sqnorm[rows]
    block = a.centred32[rows]
    partial = torch.empty((block.shape[0], b.n), dtype=torch.float32, device=block.device)  # (r, M)
    if _on_cpu(partial):  # NumPy's BLAS streams a few rows against many faster than scipy's sgemm
        p = partial.numpy()
        np.matmul(block.contiguous().numpy(), b.centred32.numpy().T, out=p)
        np.multiply(p, np.float32(-2.0), out=p)  # exact
        np.add(p, b.norm32[: b.n].numpy(), out=p)
    else:
        partial.copy_(b.norm32[: b.n])  # not expand().contiguous(): for one row that is a view of norm32
        gemm_(partial, block, b.centred32, alpha=-2.0)
    bound = (na + float(b.sqnorm.max())) * a.tol
    return partial, na, bound


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
    rows = torch.arange(a.n, device=dev) if rows is None else rows
    n, m = rows.shape[0], b.n
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
            # Many near-ties (duplicates, a collapsed generator): rank these rows in float64,
            # then take the exact distances of the chosen points.
            _, idx[incomplete] = _float64_topk(a, b, block[incomplete], take)
            pairs = block[incomplete][:, None].expand(-1, take).reshape(-1)
            exact[incomplete] = exact_sq_pairs(a.source, pairs, b.source, idx[incomplete].reshape(-1)).view(-1, take)
        exact, order = exact.sort(dim=1)
        for r in ranks:
            out[r][s : s + step] = exact[:, r - 1]
        nearest[s : s + step] = idx.gather(1, order[:, :1]).squeeze(1)
    return out, nearest
