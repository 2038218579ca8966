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
- Distances are exact float64 decisions over float32 screening, in row blocks of
  ``chunk_size`` (see :mod:`genqc.metrics.neighbors`); the N×M matrix is never held.
  CUDA tensors are processed on their device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genqc.metrics.checks import check_pair
from genqc.metrics.neighbors import (
    Prepared,
    as_tensor,
    block_rows,
    column_mean,
    exact_sq_pairs,
    kth_sq_bounds,
    kth_sq_distances,
    pick_device,
    prepare,
    screened_block,
)

PRECISION, RECALL, DENSITY, COVERAGE = "precision", "recall", "density", "coverage"
INCLUSIONS = ("<=", "<")


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
    """k-NN radii known to ± a bound; exact float64 values computed only where a decision needs them."""

    def __init__(self, points: Prepared, rank: int, bounds: tuple[Any, Any], chunk_size: int | None) -> None:
        import torch

        value, bound = bounds
        self.points, self.rank, self.chunk_size = points, rank, chunk_size
        # Widened by 1e-6 relative so rounding to float32 later cannot cross the interval.
        self.lo = (value - bound) - 1e-6 * value.abs()
        self.hi = (value + bound) + 1e-6 * value.abs()
        self.exact = value.clone()
        self.known = torch.zeros(value.shape[0], dtype=torch.bool, device=value.device)

    def exact_at(self, index: Any) -> Any:
        import torch

        need = torch.unique(index[~self.known[index]])
        if need.numel():
            values, _ = kth_sq_distances(self.points, self.points, (self.rank,), rows=need, chunk_size=self.chunk_size)
            self.exact[need] = values[self.rank]
            self.known[need] = True
        return self.exact[index]


def _settle(inside: Any, unsure: Any, owner_of: Any, radii: _Radii, exact_of: Any, inclusive: bool) -> Any:
    """Re-decide the ``unsure`` entries of a block with exact float64 distances and radii."""
    import torch

    pairs = torch.nonzero(unsure)
    if pairs.shape[0]:
        t = radii.exact_at(owner_of(pairs))
        exact = exact_of(pairs)
        inside[pairs[:, 0], pairs[:, 1]] = exact <= t if inclusive else exact < t
    return inside


def _decide_rows(
    partial: Any, shift: Any, bound: Any, radii: _Radii, rows: slice, exact_of: Any, inclusive: bool
) -> Any:
    """``d(i, j) <= r_i`` (or ``<``) for a block, with d² = partial + shift_i (per-row radius)."""
    lo = (radii.lo[rows] - shift - bound).float()[:, None]
    hi = (radii.hi[rows] - shift + bound).float()[:, None]
    inside = partial < lo
    unsure = (partial >= lo) & (partial <= hi)
    return _settle(inside, unsure, lambda p: p[:, 0] + rows.start, radii, exact_of, inclusive)


def _decide_cols(dist: Any, bound: float, radii: _Radii, exact_of: Any, inclusive: bool) -> Any:
    """``d(i, j) <= r_j`` (or ``<``) for a block of squared distances (per-column radius)."""
    lo = (radii.lo - bound).float()[None, :]
    hi = (radii.hi + bound).float()[None, :]
    inside = dist < lo
    unsure = (dist >= lo) & (dist <= hi)
    return _settle(inside, unsure, lambda p: p[:, 1], radii, exact_of, inclusive)


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
    import torch

    check_pair(real, fake)
    if inclusion not in INCLUSIONS:
        raise ValueError(f"inclusion must be '<=' (StyleGAN, torch-fidelity) or '<' (prdc); got {inclusion!r}")
    _check_k("k_prc", k_prc, real, fake)
    _check_k("k_dc", k_dc, real, fake)
    dev = pick_device(real, fake, device=device)
    real_t, fake_t = as_tensor(real, dev), as_tensor(fake, dev)
    center = column_mean(real_t)
    r, f = prepare(real_t, center), prepare(fake_t, center)
    real_bounds = kth_sq_bounds(r, r, (k_prc + 1, k_dc + 1), chunk_size=chunk_size)
    fake_bounds = kth_sq_bounds(f, f, (k_prc + 1,), chunk_size=chunk_size)
    r_prc = _Radii(r, k_prc + 1, real_bounds[k_prc + 1], chunk_size)
    r_dc = _Radii(r, k_dc + 1, real_bounds[k_dc + 1], chunk_size)
    f_prc = _Radii(f, k_prc + 1, fake_bounds[k_prc + 1], chunk_size)

    n, m = real_t.shape[0], fake_t.shape[0]
    inclusive = inclusion == "<="
    precise = torch.zeros(m, dtype=torch.bool, device=dev)  # fake j inside some real k_prc-ball
    density_count = torch.zeros(m, dtype=torch.float64, device=dev)
    recalled = torch.zeros(n, dtype=torch.bool, device=dev)  # real i inside some fake k_prc-ball
    covered = torch.zeros(n, dtype=torch.bool, device=dev)  # real i's k_dc-ball holds a fake
    step = block_rows(m, chunk_size)
    for s in range(0, n, step):
        e = min(n, s + step)
        partial, na, bound = screened_block(r, f, slice(s, e))

        def exact_of(pairs: Any, s: int = s) -> Any:
            return exact_sq_pairs(real_t, pairs[:, 0] + s, fake_t, pairs[:, 1])

        in_prc = _decide_rows(partial, na, bound, r_prc, slice(s, e), exact_of, inclusive)
        precise |= in_prc.any(dim=0)
        del in_prc
        in_dc = _decide_rows(partial, na, bound, r_dc, slice(s, e), exact_of, inclusive)
        density_count += in_dc.sum(dim=0)
        covered[s:e] = in_dc.any(dim=1)
        del in_dc
        partial += na.float()[:, None]  # now the squared distances
        in_fake = _decide_cols(partial, float(bound.max()), f_prc, exact_of, inclusive)
        recalled[s:e] = in_fake.any(dim=1)
    return {
        PRECISION: float(precise.double().mean()),
        RECALL: float(recalled.double().mean()),
        DENSITY: float(density_count.mean() / k_dc),
        COVERAGE: float(covered.double().mean()),
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

    check_pair(real, fake)
    _check_k("k", k, real, real)
    dev = pick_device(real, fake, device=device)
    real_t, fake_t = as_tensor(real, dev), as_tensor(fake, dev)
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
