"""Memorisation: how close samples sit to their nearest training image.

For each sample s with nearest training image t (Euclidean, in feature space):
``ratio(s) = d(s, t) / d(t, t')`` where t' is t's own nearest *other* training image.
The denominator is the local scale at which two distinct images of the data sit, so
the ratio is comparable across dense and sparse regions of the training set.

A sample is a *near copy* when ``ratio < threshold``; the default 0.5 means the sample
is more than twice as close to a training image as that image's closest distinct
neighbour in the training set, which held-out real images rarely are (on the scikit-learn
digits, a held-out split scores a near-copy share of a few percent, tested) while copies
and lightly perturbed copies score ~0. *Exact copies* are samples whose content hash
appears among the training hashes (or, without hashes, whose distance is exactly 0).

*Authenticity* (Alaa et al., "How Faithful is your Synthetic Data?", ICML 2022) is the share
of samples with ``ratio > 1``: farther from their nearest training image than that image is
from its own nearest training neighbour. Held-out real images score about 0.5-0.7 (it is
read against the floor, the same number for test images); a memorising model scores
near 0. Translated or cropped copies escape feature-space neighbours: see
:mod:`genqc.metrics.copying` for the shift-robust check and the C_T test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genqc.metrics.checks import check_pair
from genqc.metrics.neighbors import as_tensor, column_mean, in_range, kth_sq_distances, pick_device, prepare

NEAR_COPY_SHARE = "memorization_near_copy_share"
EXACT_COPIES = "memorization_exact_copies"
MEDIAN_RATIO = "memorization_median_ratio"
MIN_RATIO = "memorization_min_ratio"
AUTHENTICITY = "memorization_authenticity"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class MemorizationReport:
    """Summary keys for metrics.json and per-sample arrays for the report."""

    summary: dict[str, float]
    nearest_train_index: np.ndarray  # (M,) int64
    distance: np.ndarray  # (M,) float64, sample to its nearest training image
    ratio: np.ndarray  # (M,) float64
    exact_copy: np.ndarray  # (M,) bool


def memorization(
    train_features: Any,
    sample_features: Any,
    *,
    train_hashes: Sequence[str] | None = None,
    sample_hashes: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    chunk_size: int | None = None,
) -> MemorizationReport:
    """Nearest-training-image ratios, near-copy share and exact copies (see module docstring)."""
    check_pair(train_features, sample_features, metric="memorization")
    if train_features.shape[0] < 2:
        raise ValueError("memorization needs at least 2 training images (the scale is their neighbour distance)")
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0; got {threshold}")
    if (train_hashes is None) != (sample_hashes is None):
        raise ValueError("pass both train_hashes and sample_hashes, or neither")
    if sample_hashes is not None and len(sample_hashes) != sample_features.shape[0]:
        raise ValueError(f"{len(sample_hashes)} sample hashes for {sample_features.shape[0]} samples")
    if train_hashes is not None and len(train_hashes) != train_features.shape[0]:
        raise ValueError(f"{len(train_hashes)} train hashes for {train_features.shape[0]} training images")
    dev = pick_device(train_features, sample_features)
    train_t, sample_t = as_tensor(train_features, dev), as_tensor(sample_features, dev)
    unit = float(max(train_t.abs().max(), sample_t.abs().max()))
    train_t, sample_t = in_range(train_t, sample_t)  # extreme magnitudes: scaled by a power of two (exact)
    unit = unit / float(max(train_t.abs().max(), sample_t.abs().max())) if unit else 1.0  # undoes the scale
    center = column_mean(train_t)
    train, samples = prepare(train_t, center), prepare(sample_t, center)
    own, _ = kth_sq_distances(train, train, (2,), chunk_size=chunk_size)  # rank 1 is the image itself
    near, index = kth_sq_distances(samples, train, (1,), chunk_size=chunk_size)
    distance = near[1].sqrt().cpu().numpy() * unit
    index_np = index.cpu().numpy()
    scale = own[2].sqrt().cpu().numpy()[index_np] * unit
    with np.errstate(divide="ignore", invalid="ignore"):
        # A training image with a duplicate has scale 0: any sample on it is a copy (ratio 0).
        ratio = np.where(distance == 0, 0.0, distance / np.where(scale == 0, np.inf, scale))
    if sample_hashes is not None:
        known = set(train_hashes)
        exact = np.array([h in known for h in sample_hashes], dtype=bool)
    else:
        exact = distance == 0
    summary = {
        NEAR_COPY_SHARE: float((ratio < threshold).mean()),
        EXACT_COPIES: float(exact.sum()),
        MEDIAN_RATIO: float(np.median(ratio)),
        MIN_RATIO: float(ratio.min()),
        AUTHENTICITY: float((ratio > 1.0).mean()),
    }
    return MemorizationReport(summary, index_np, distance, ratio, exact)
