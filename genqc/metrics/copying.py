"""Data copying that survives small translations and crops, and the C_T data-copying test.

Two complements to :mod:`genqc.metrics.memorization` (nearest neighbours in feature space,
which a training image moved by one pixel escapes: 200 such copies scored a near-copy
share of 0.005):

``shifted_copies`` (pixel space, translation- and crop-robust)
    Each sample is compared with every training image at every translation of up to
    ``max_shift`` pixels per axis, on the central window (``max_shift`` pixels trimmed on
    each side, so the pixels a shift or a small crop pushes out of frame never count):
    ``d(s) = min over shifts and training images t of |window_shift(s) - window(t)|``,
    and ``ratio(s) = d(s) / d(t, t')`` with ``t'`` the nearest other training image of the
    matched ``t`` (same window, unshifted): the local scale at which two distinct training
    images sit, as in :mod:`genqc.metrics.memorization`. A training image translated by up to
    ``max_shift`` pixels (or cropped by as much and padded back) has ``d = 0``; a sample is a
    *shifted near copy* when ``ratio < threshold`` (default 0.5). Cost: ``(2 max_shift + 1)²``
    nearest-neighbour searches over the pixels (exact float64 decisions over float32
    screening, :mod:`genqc.metrics.neighbors`).

``data_copying_ct`` (Meehan, Chaudhuri & Dasgupta, AISTATS 2020; as in dgm-eval and FLD)
    The training set is cut into ``cells`` k-means cells. In each cell, the distances from
    held-out test images and from samples to their nearest training image are compared by
    a Mann-Whitney U test (``Z_U``: negative when samples sit closer to the training set
    than unseen real images do). ``C_T`` is the average of the cells' ``Z_U`` weighted by the
    test images' share of each cell, over cells holding at least ``min_cell_samples`` of
    both. Held-out images give ``C_T`` about 0 (a weighted mean of roughly standard normal
    scores); ``C_T`` well below 0 (say < -3) means data copying, well above 0 an
    under-fitting model whose samples stay far from any training image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from genqc.metrics.checks import check_pair, check_result, to_numpy
from genqc.metrics.neighbors import as_tensor, column_mean, kth_sq_distances, pick_device, prepare

SHIFTED_NEAR_COPY_SHARE = "memorization_shifted_near_copy_share"
SHIFTED_MEDIAN_RATIO = "memorization_shifted_median_ratio"
COPYING_CT = "memorization_ct"
DEFAULT_MAX_SHIFT = 2
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ShiftedCopyReport:
    """Summary keys for metrics.json and per-sample arrays for the report."""

    summary: dict[str, float]
    nearest_train_index: np.ndarray  # (M,) int64, the training image matched at the best shift
    shift: np.ndarray  # (M, 2) int64, (dy, dx) of the best shift
    distance: np.ndarray  # (M,) float64, windowed pixel distance at the best shift (0-255 scale)
    ratio: np.ndarray  # (M,) float64


def _pixels(images: Any, name: str) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[..., None]  # (N, H, W) -> (N, H, W, 1)
    if array.ndim != 4 or array.shape[0] == 0:
        raise ValueError(f"shifted copies: {name} images must be one (N, H, W[, C]) array; got shape {array.shape}")
    if np.iscomplexobj(array) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"shifted copies: {name} images must be real numbers; got dtype {array.dtype}")
    return array.astype(np.float32)


def _window(images: np.ndarray, margin: int, dy: int, dx: int) -> np.ndarray:
    """The central window moved by (dy, dx), flattened: (N, H, W, C) -> (N, (H - 2m)(W - 2m)C)."""
    _, h, w, _ = images.shape
    return np.ascontiguousarray(images[:, margin + dy : h - margin + dy, margin + dx : w - margin + dx]).reshape(
        len(images), -1
    )


def shifted_copies(
    train_images: Any,
    sample_images: Any,
    *,
    max_shift: int = DEFAULT_MAX_SHIFT,
    threshold: float = DEFAULT_THRESHOLD,
    chunk_size: int | None = None,
) -> ShiftedCopyReport:
    """Translation- and crop-robust near copies of training images among the samples (see the module docstring)."""
    train, samples = _pixels(train_images, "train"), _pixels(sample_images, "sample")
    if train.shape[1:] != samples.shape[1:]:
        raise ValueError(
            f"shifted copies: train images are {train.shape[1:]} and samples {samples.shape[1:]}; "
            "compare images of one size"
        )
    if len(train) < 2:
        raise ValueError("shifted copies need at least 2 training images (the scale is their neighbour distance)")
    if max_shift < 0 or 2 * max_shift >= min(train.shape[1:3]):
        raise ValueError(f"max_shift={max_shift} must be >= 0 and leave a window inside {train.shape[1:3]} images")
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0; got {threshold}")
    dev = pick_device()
    train_window = as_tensor(_window(train, max_shift, 0, 0), dev)
    center = column_mean(train_window)
    train_prepared = prepare(train_window, center)
    own, _ = kth_sq_distances(train_prepared, train_prepared, (2,), chunk_size=chunk_size)  # rank 1: itself
    scale_all = own[2].sqrt().cpu().numpy()
    best = np.full(len(samples), np.inf)
    index = np.zeros(len(samples), dtype=np.int64)
    shift = np.zeros((len(samples), 2), dtype=np.int64)
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            moved = prepare(as_tensor(_window(samples, max_shift, dy, dx), dev), center)
            near, nearest = kth_sq_distances(moved, train_prepared, (1,), chunk_size=chunk_size)
            distance = near[1].sqrt().cpu().numpy()
            better = distance < best
            best[better], index[better] = distance[better], nearest.cpu().numpy()[better]
            shift[better] = (dy, dx)
    scale = scale_all[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(best == 0, 0.0, best / np.where(scale == 0, np.inf, scale))
    summary = {
        SHIFTED_NEAR_COPY_SHARE: float((ratio < threshold).mean()),
        SHIFTED_MEDIAN_RATIO: float(np.median(ratio)),
    }
    return ShiftedCopyReport(summary, index, shift, best, ratio)


def _mann_whitney_z(samples: np.ndarray, test: np.ndarray) -> float:
    """Normal-approximation z of Mann-Whitney's U for 'samples > test' (ties count one half)."""
    m, n = len(samples), len(test)
    ranks = _average_ranks(np.concatenate([samples, test]))
    u = ranks[:m].sum() - m * (m + 1) / 2.0  # pairs (sample, test) with sample > test
    return float((u - m * n / 2.0) / np.sqrt(m * n * (m + n + 1) / 12.0))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    return rankdata(values, method="average")


def data_copying_ct(
    train_features: Any,
    test_features: Any,
    sample_features: Any,
    *,
    cells: int = 10,
    min_cell_samples: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """``{"memorization_ct": C_T}`` (Meehan et al. 2020; see the module docstring): < 0 means copying.

    Raises ValueError when no cell holds ``min_cell_samples`` test images and samples
    (too few of either: lower ``cells`` or give more images).
    """
    from sklearn.cluster import KMeans  # deferred: 1-3 s; `import genqc.metrics` stays cheap for the other metrics

    check_pair(train_features, sample_features, metric="C_T")
    check_pair(train_features, test_features, metric="C_T")
    if cells < 1 or min_cell_samples < 1:
        raise ValueError(f"C_T: cells and min_cell_samples must be >= 1; got {cells}, {min_cell_samples}")
    if len(train_features) < cells:
        raise ValueError(f"C_T: {cells} cells need at least {cells} training images; got {len(train_features)}")
    dev = pick_device()
    train_t = as_tensor(train_features, dev)
    center = column_mean(train_t)
    train = prepare(train_t, center)
    distances = {}
    for role, x in (("test", test_features), ("samples", sample_features)):
        near, _ = kth_sq_distances(prepare(as_tensor(x, dev), center), train, (1,))
        distances[role] = near[1].sqrt().cpu().numpy()
    kmeans = KMeans(n_clusters=cells, n_init=3, random_state=seed).fit(to_numpy(train_features).astype(np.float64))
    cell_of = {
        role: kmeans.predict(to_numpy(x).astype(np.float64))
        for role, x in (("test", test_features), ("samples", sample_features))
    }
    weighted, weights = 0.0, 0.0
    for c in range(cells):
        test_c, samples_c = distances["test"][cell_of["test"] == c], distances["samples"][cell_of["samples"] == c]
        if len(test_c) < min_cell_samples or len(samples_c) < min_cell_samples:
            continue
        share = len(test_c) / len(distances["test"])
        weighted += share * _mann_whitney_z(samples_c, test_c)
        weights += share
    if weights == 0.0:
        raise ValueError(
            f"C_T: no cell holds {min_cell_samples} test images and {min_cell_samples} samples "
            f"({len(distances['test'])} test, {len(distances['samples'])} samples, {cells} cells); "
            "lower cells or give more images"
        )
    return check_result("C_T", {COPYING_CT: weighted / weights})
