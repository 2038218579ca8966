"""Mode coverage: the class histogram of samples against the real one.

Sample labels are the predictions of the domain classifier; real labels are the
dataset's. Conventions:

- ``class_tv``: total variation ``0.5 * sum |p_real - p_sample|`` (0 = same, 1 = disjoint).
- ``class_kl``: ``KL(p_real || p_sample) = Σ_c p_real(c) log(p_real(c) / p_sample(c))`` in
  nats: the *real* (train-label) histogram is the reference distribution and the samples'
  predicted-class histogram the approximation. This direction weighs a class by its real
  share, so a missing or starved mode costs ``p_real(c) log(p_real(c) / p_sample(c))``, large,
  while an over-produced class costs little; the reverse, KL(samples || real), would barely
  notice a missing class. The sample histogram is smoothed by adding 0.5 to every class
  count (Jeffreys prior) so a missing mode gives a large but finite value instead of
  infinity. (It is a different number from the validate stage's label KL, which compares
  the observed train labels with the *expected* shares.)
- a mode (class present in the real data) is *covered* when at least ``min_count``
  samples (default 1) are predicted as it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genqc.metrics.checks import to_numpy

CLASS_KL, CLASS_TV = "class_kl", "class_tv"
MODES_COVERED, MODES_TOTAL = "modes_covered", "modes_total"


@dataclass(frozen=True)
class ModeReport:
    summary: dict[str, float]
    real_hist: np.ndarray  # (K,) shares
    sample_hist: np.ndarray  # (K,) shares
    missing: list[int] = field(default_factory=list)  # classes in the real data with too few samples


def _labels(x: Any, name: str) -> np.ndarray:
    labels = to_numpy(x)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"{name} labels must be a non-empty 1-D array; got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        raise ValueError(f"{name} labels must be non-negative integers; got dtype {labels.dtype}")
    return labels.astype(np.int64)


def mode_coverage(
    sample_labels: Any, real_labels: Any, *, num_classes: int | None = None, min_count: int = 1
) -> ModeReport:
    """Class-histogram distances and covered/missing modes (see module docstring)."""
    samples, real = _labels(sample_labels, "sample"), _labels(real_labels, "real")
    k = int(max(samples.max(), real.max()) + 1) if num_classes is None else num_classes
    if max(samples.max(), real.max()) >= k:
        raise ValueError(f"labels go up to {max(samples.max(), real.max())} but num_classes={k}")
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1; got {min_count}")
    real_counts = np.bincount(real, minlength=k).astype(np.float64)
    sample_counts = np.bincount(samples, minlength=k).astype(np.float64)
    p_real, p_sample = real_counts / real_counts.sum(), sample_counts / sample_counts.sum()
    smoothed = (sample_counts + 0.5) / (sample_counts.sum() + 0.5 * k)
    present = real_counts > 0
    kl = float(np.sum(p_real[present] * np.log(p_real[present] / smoothed[present])))
    missing = [int(c) for c in np.flatnonzero(present & (sample_counts < min_count))]
    summary = {
        CLASS_KL: kl,
        CLASS_TV: float(0.5 * np.abs(p_real - p_sample).sum()),
        MODES_COVERED: float(present.sum() - len(missing)),
        MODES_TOTAL: float(present.sum()),
    }
    return ModeReport(summary, p_real, p_sample, missing)
