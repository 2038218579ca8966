"""Precision, recall, density and coverage (k-NN manifold estimates), and realism score.

Conventions:

- precision / recall use k = 3 neighbours (Kynkäänniemi et al. 2019), density / coverage
  k = 5 (Naeem et al. 2020). A point's radius is the distance to its k-th nearest
  neighbour in its own set, the point itself not counted.
- ``inclusion`` says whether a point at exactly the radius is inside the ball:
  ``"<="`` (default, closed balls, as StyleGAN2 and torch-fidelity) or ``"<"`` (open
  balls, as the ``prdc`` package). With ``"<"`` and the same k, results are identical to
  ``prdc.compute_prdc`` on float64 features (tested). The two differ only on exact ties
  (duplicates, quantised features).
- Every output is a ratio or a count of neighbour decisions, so it does not change when
  all features are multiplied by one number; features of extreme magnitude (|x| ~ 1e200,
  whose squared distances overflow; 1e-200, which underflow) are first scaled by a power of
  two (exact), so they give the same results as the same features near 1.
- Distances are exact float64 decisions over float32 screening, in tiles of
  ``chunk_size`` rows (see :mod:`genqc.metrics.neighbors`); the N×M matrix is never held.
  CUDA tensors are processed on their device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genqc.metrics.checks import check_pair
from genqc.metrics.neighbors import (
    GROUP,
    Prepared,
    Tiles,
    add_columns_,
    add_rows,
    amin,
    as_tensor,
    block_rows,
    column_mean,
    count_below,
    exact_sq_pairs,
    fill_tile,
    in_range,
    kth_sq_bounds,
    kth_sq_distances,
    padded,
    pick_device,
    prepare,
    submatrix,
    tile_shape,
)

# torch is imported inside the functions that use it (deferred on purpose): `import genqc.metrics` must not
# load torch, so NumPy features are measured without it (tests/features/test_registry.py checks this).

PRECISION, RECALL, DENSITY, COVERAGE = "precision", "recall", "density", "coverage"
INCLUSIONS = ("<=", "<")
_U32 = 2.0**-24


def _check_k(name: str, k: int, real: Any, fake: Any) -> None:
    if k < 1:
        raise ValueError(f"{name} must be >= 1; got {k}")
    for label, x in (("real", real), ("fake", fake)):
        if k >= x.shape[0]:
            raise ValueError(
                f"{name}={k} needs more than {k} {label} samples (a point's k-th neighbour excludes itself); "
                f"got {x.shape[0]}"
            )


class _Radii:
    """One set's k-NN radii at some ranks, known to ± a bound; exact float64 values only where needed."""

    def __init__(self, points: Prepared, bounds: dict[int, tuple[Any, Any]], chunk_size: int | None) -> None:
        import torch

        self.points, self.chunk_size = points, chunk_size
        self.lo: dict[int, Any] = {}
        self.hi: dict[int, Any] = {}
        self.exact: dict[int, Any] = {}
        for rank, (value, bound) in bounds.items():
            # Widened by 1e-6 relative on top of the float32 bound: a margin that only sends a few more pairs to exact.
            self.lo[rank] = (value - bound) - 1e-6 * value.abs()
            self.hi[rank] = (value + bound) + 1e-6 * value.abs()
            self.exact[rank] = value.clone()
        self.known = torch.zeros(points.n, dtype=torch.bool, device=points.sqnorm.device)

    def exact_at(self, rank: int, index: Any) -> Any:
        """Exact squared radii at ``index``; every rank is computed for the rows it needs, in one pass."""
        import torch

        need = torch.unique(index[~self.known[index]])
        if need.numel():
            ranks = tuple(self.exact)
            values, _ = kth_sq_distances(self.points, self.points, ranks, rows=need, chunk_size=self.chunk_size)
            for r in ranks:
                self.exact[r][need] = values[r]
            self.known[need] = True
        return self.exact[rank][index]


def _float32(x: Any, *, up: bool) -> Any:
    """float64 -> float32 rounded toward +inf (``up``) or -inf, so a screening threshold errs on the safe side."""
    import torch

    y = x.float()
    off = y.double() < x if up else y.double() > x
    return torch.where(off, torch.nextafter(y, torch.full_like(y, torch.inf if up else -torch.inf)), y)


def _pad(x: Any, fill: float) -> Any:
    """Append GROUP entries of ``fill``: the padded rows or columns of a tile."""
    import torch

    return torch.cat([x, x.new_full((GROUP,), fill)])


class _Cross:
    """The real×fake distances, tile by tile: precision, density, coverage and recall.

    A tile holds ``D = |y_j|² - 2 x_i·y_j - L_i`` in float32 (one product; the
    per-real-row ``L_i`` goes in through the product's ``beta``). ``L_i`` is set so that
    ``D < 0`` proves ``d(i, j)`` below the density radius of real ``i`` and ``D > W_i``
    proves it above; counts per column (density, precision), row minima (coverage) and
    two shifted copies of ``D`` (precision's own radius, the fake radii for recall)
    decide everything else, and only entries inside the windows are re-decided with
    exact float64 distances and radii, after the last tile, in one batch.

    Error model: ``err_i`` bounds the float32 error of any screened value of row ``i``:
    the product's, by the bound of :mod:`genqc.metrics.neighbors` with ``L_i`` as the
    threshold ``t``, plus four float32 roundings of values below ``mag_i``. Thresholds
    are rounded to float32 outward and their float64 sums carry ``1e-12 mag_i``.
    """

    def __init__(
        self, real: _Radii, fake: _Radii, prc_rank: int, dc_rank: int, inclusive: bool, chunk_size: int | None
    ) -> None:
        import torch

        self.real_radii, self.fake_radii, self.inclusive, self.chunk_size = real, fake, inclusive, chunk_size
        self.real, self.fake, self.prc_rank, self.dc_rank = real.points, fake.points, prc_rank, dc_rank
        self.same = prc_rank == dc_rank
        lo, hi = real.lo[dc_rank], real.hi[dc_rank]
        lo_p, hi_p = real.lo[prc_rank], real.hi[prc_rank]
        fake_lo, fake_hi = fake.lo[prc_rank], fake.hi[prc_rank]
        na, nb_max = self.real.sqnorm, float(self.fake.sqnorm.max())
        fake_mag = float(torch.maximum(fake_lo.abs(), fake_hi.abs()).max())
        mag = 2.0 * (na + nb_max + lo.abs() + hi.abs() + lo_p.abs() + hi_p.abs() + fake_mag)
        slack = 1e-12 * mag
        err = 1.01 * self.real.tol * (na + nb_max + (lo - na).abs()) + 4.0 * _U32 * mag
        shift = _float32(lo - na - err - slack, up=False)  # L_i: D < 0 => d² < lo_i <= r_i²
        self.shift = _pad(shift, -torch.inf)  # padded rows: D = +inf, never near
        self.width = _float32(hi - na + err - shift + slack, up=True)  # W_i: D > W_i => d² > hi_i >= r_i²
        self.width_max = float(self.width.max())
        if not self.same:  # precision's own radius: P = D + delta_i, read like D
            delta = _float32(shift - (lo_p - na - err) + slack, up=True)
            self.delta = _pad(delta, 0.0)
            self.prc_width = _float32(hi_p - na - shift + delta + err + slack, up=True)
            self.prc_width_max = float(self.prc_width.max())
        # Recall, per real row i: R = D - F_j with F_j at most fake j's radius lower bound;
        # a row minimum below `inside` puts i in some fake ball, one above `outside` in none.
        fake_floor = _float32(fake_lo, up=False)
        self.minus_floor = _pad(-fake_floor, 0.0)
        self.inside = -(shift + na + err) - slack
        self.outside = float((fake_hi - fake_floor).max()) - shift - na + err + slack

        n, m, dev = self.real.n, self.fake.n, na.device
        self.precise = torch.zeros(m, dtype=torch.bool, device=dev)  # fake j inside some real k_prc-ball
        self.density_count = torch.zeros(m, dtype=torch.float64, device=dev)
        self.recalled = torch.zeros(n, dtype=torch.bool, device=dev)  # real i inside some fake k_prc-ball
        self.covered = torch.zeros(n, dtype=torch.bool, device=dev)  # real i's k_dc-ball holds a fake
        # (real i, fake j) pairs the screening left open: decided exactly after the last
        # tile, in one batch, because exact radii cost a pass over the set however few.
        self.unsure: dict[str, list[tuple[Any, Any]]] = {DENSITY: [], PRECISION: [], RECALL: []}

    def run(self) -> None:
        n, m = self.real.n, self.fake.n
        rows, cols = tile_shape(n, m, self.chunk_size)
        tiles = Tiles(rows, cols, self.precise.device, spare=not self.same, mask=True)
        for s in range(0, n, rows):
            e = min(n, s + rows)
            for c in range(0, m, cols):
                c_end = min(m, c + cols)
                h, w = padded(e - s), padded(c_end - c)
                d = Tiles.view(tiles.values, h, w)
                fill_tile(d, self.real, self.fake, s, c, self.shift[s : s + h], self.fake.norm32[c : c + w], add=False)
                self._density_coverage(d, Tiles.view(tiles.mask, h, w), s, e, c, c_end)
                if not self.same:
                    self._precision(add_rows(Tiles.view(tiles.spare, h, w), d, self.delta[s : s + h]), s, e, c, c_end)
                self._recall(add_columns_(d, self.minus_floor[c : c + w]), s, e, c, c_end)  # d is done with after
        self._decide_unsure()

    def _density_coverage(self, d: Any, mask: Any, s: int, e: int, c: int, c_end: int) -> None:
        import torch

        sure = count_below(d, 0.0, mask, strict=True)[: c_end - c]
        maybe = count_below(d, self.width_max, mask, strict=False)[: c_end - c]
        self.density_count[c:c_end] += sure
        if self.same:
            self.precise[c:c_end] |= sure > 0
        self.covered[s:e] |= amin(d, 1)[: e - s] < 0
        cols = torch.nonzero(maybe != sure).flatten()
        if cols.numel():
            sub = submatrix(d, slice(0, e - s), cols)  # (rows, unsure columns)
            ii, kk = torch.nonzero((sub >= 0) & (sub <= self.width[s:e, None]), as_tuple=True)
            self.unsure[DENSITY].append((ii + s, cols[kk] + c))

    def _precision(self, p: Any, s: int, e: int, c: int, c_end: int) -> None:
        import torch

        low = amin(p, 0)[: c_end - c]
        self.precise[c:c_end] |= low < 0
        cols = torch.nonzero((low <= self.prc_width_max) & ~self.precise[c:c_end]).flatten()
        if cols.numel():
            sub = submatrix(p, slice(0, e - s), cols)
            ii, kk = torch.nonzero((sub >= 0) & (sub <= self.prc_width[s:e, None]), as_tuple=True)
            self.unsure[PRECISION].append((ii + s, cols[kk] + c))

    def _recall(self, r: Any, s: int, e: int, c: int, c_end: int) -> None:
        import torch

        low = amin(r, 1)[: e - s].double()
        self.recalled[s:e] |= low < self.inside[s:e]
        rows = torch.nonzero((low <= self.outside[s:e]) & ~self.recalled[s:e]).flatten()
        if rows.numel():
            sub = submatrix(r, rows, slice(0, c_end - c)).double()
            ii, jj = torch.nonzero(sub <= self.outside[s + rows, None], as_tuple=True)
            self.unsure[RECALL].append((rows[ii] + s, jj + c))

    def _decide_unsure(self) -> None:
        """Exact float64 distances against exact radii for the pairs the screening left open."""
        import torch

        pairs = {key: [torch.cat(p) for p in zip(*parts, strict=True)] for key, parts in self.unsure.items() if parts}
        if DENSITY in pairs or PRECISION in pairs:  # one pass for the real radii of both ranks
            self.real_radii.exact_at(self.dc_rank, torch.cat([pairs[k][0] for k in (DENSITY, PRECISION) if k in pairs]))
        for key, (i, j) in pairs.items():
            dist = exact_sq_pairs(self.real.source, i, self.fake.source, j)
            if key == RECALL:
                radius = self.fake_radii.exact_at(self.prc_rank, j)
            else:
                radius = self.real_radii.exact_at(self.dc_rank if key == DENSITY else self.prc_rank, i)
            inside = dist <= radius if self.inclusive else dist < radius
            i, j = i[inside], j[inside]
            if key == DENSITY:
                self.density_count.index_add_(0, j, torch.ones_like(j, dtype=torch.float64))
                self.covered[i] = True
            if key == RECALL:
                self.recalled[i] = True
            elif key == PRECISION or self.same:
                self.precise[j] = True


def prdc(
    real: Any,
    fake: Any,
    *,
    k_prc: int = 3,
    k_dc: int = 5,
    inclusion: str = "<=",
    chunk_size: int | None = None,
    device: str | None = None,
) -> dict[str, float]:
    """``{"precision", "recall", "density", "coverage"}`` of fake against real features."""
    check_pair(real, fake, metric="PRDC")
    if inclusion not in INCLUSIONS:
        raise ValueError(f"inclusion must be '<=' (StyleGAN, torch-fidelity) or '<' (prdc); got {inclusion!r}")
    _check_k("k_prc", k_prc, real, fake)
    _check_k("k_dc", k_dc, real, fake)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    dev = pick_device(real, fake, device=device)
    real_t, fake_t = in_range(as_tensor(real, dev), as_tensor(fake, dev))
    center = column_mean(real_t)
    r, f = prepare(real_t, center), prepare(fake_t, center)
    real_radii = _Radii(r, kth_sq_bounds(r, r, (k_prc + 1, k_dc + 1), chunk_size=chunk_size), chunk_size)
    fake_radii = _Radii(f, kth_sq_bounds(f, f, (k_prc + 1,), chunk_size=chunk_size), chunk_size)
    cross = _Cross(real_radii, fake_radii, k_prc + 1, k_dc + 1, inclusion == "<=", chunk_size)
    cross.run()
    return {
        PRECISION: float(cross.precise.double().mean()),
        RECALL: float(cross.recalled.double().mean()),
        DENSITY: float(cross.density_count.mean() / k_dc),
        COVERAGE: float(cross.covered.double().mean()),
    }


def realism_score(
    real: Any, fake: Any, *, k: int = 3, chunk_size: int | None = None, device: str | None = None
) -> np.ndarray:
    """Per-fake-sample realism (Kynkäänniemi et al. 2019), a (M,) float64 array.

    ``max_i r_i / d(real_i, fake_j)`` over the real points whose k-NN radius ``r_i`` is
    at most the median radius (the paper drops the half with the largest balls, which
    are outliers). Above 1 means inside some kept real ball; an exact copy of a kept
    real point scores ``inf``.
    """
    import torch

    check_pair(real, fake, metric="PRDC")
    _check_k("k", k, real, real)
    dev = pick_device(real, fake, device=device)
    real_t, fake_t = in_range(as_tensor(real, dev), as_tensor(fake, dev))
    center = column_mean(real_t)
    r = prepare(real_t, center)
    # Float32 radii are plenty for a score (no threshold decision rests on them).
    radii_sq = kth_sq_bounds(r, r, (k + 1,), chunk_size=chunk_size)[k + 1][0].clamp_(min=0.0)
    keep = radii_sq <= radii_sq.median()
    radius = radii_sq[keep].sqrt()
    kept = r.centred32[keep]
    scores = torch.empty(fake_t.shape[0], dtype=torch.float64, device=dev)
    step = block_rows(kept.shape[0], chunk_size)
    for s in range(0, fake_t.shape[0], step):
        block = (fake_t[s : s + step].double() - center).float()
        dist = torch.cdist(block, kept).double()  # (b, K); float32 is plenty for a score
        ratio = torch.where(dist == 0, torch.inf, radius[None, :] / dist)  # 0/0 for duplicated real points
        scores[s : s + step] = ratio.max(dim=1).values
    return scores.cpu().numpy()
