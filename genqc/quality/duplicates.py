"""Exact and near-duplicate search over the hashes the image table already carries.

Exact duplicates compare the content hash (SHA-256 over decoded pixels, column
``sha256``). Near-duplicates are found in two steps:

1. candidates: pairs whose 64-bit perceptual hashes (column ``phash``) differ in
   at most ``max_distance`` bits, found with a pigeonhole (multi-index) search:
   split the 64 bits into ``max_distance + 1`` blocks; two hashes within that
   distance must agree exactly on at least one block, so only rows sharing a
   block value are compared. Every step is a sort, a ``searchsorted`` or a
   vectorised ``np.bitwise_count`` on uint64 XOR; there is no loop per pair.
2. confirmation: the candidates' decoded pixels must also be close (mean
   absolute difference on the 0-255 scale). A pHash of a small, centred image
   (a 28x28 digit padded to 32x32) mostly encodes its class silhouette: on MNIST
   about 1 image in 60 shares its exact pHash with a different digit, so the hash
   alone would quarantine genuine, distinct images.

Which copy is kept is part of the contract: the first occurrence in table order
stays clean and every later copy is flagged, so re-running on the same table
flags the same rows.
"""

from __future__ import annotations

import numpy as np

# Candidate pairs generated per step: bounds the temporaries to a few hundred MB whatever the hash skew.
PAIR_BATCH = 4_000_000
# Pairs whose pixels are compared per step (each pair reads two images).
PIXEL_BATCH = 8192


def as_uint64(phashes: np.ndarray) -> np.ndarray:
    """The table stores pHashes as int64 (pandas has no default uint64 Parquet type); view them unsigned."""
    return np.ascontiguousarray(np.asarray(phashes, dtype=np.int64)).view(np.uint64)


def exact_duplicates(hashes: np.ndarray) -> np.ndarray:
    """True for every row whose content hash already appeared earlier in the array (first copy stays False)."""
    _, first = np.unique(np.asarray(hashes).astype(str), return_index=True)
    mask = np.ones(len(hashes), dtype=bool)
    mask[first] = False
    return mask


def _blocks(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of the ``max_distance + 1`` bit blocks the pigeonhole search keys on."""
    count = max_distance + 1
    widths = [64 // count + (1 if k < 64 % count else 0) for k in range(count)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(shifts, widths, strict=True))


def _expand(left_start: np.ndarray, right_start: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (left_start[k], right_start[k] + o) for o in range(counts[k]), for every k, without a Python loop."""
    total = int(counts.sum())
    left = np.repeat(left_start, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return left, np.repeat(right_start, counts) + offsets


def _batches(counts: np.ndarray) -> list[slice]:
    """Split positions so each slice generates at most about PAIR_BATCH candidate pairs."""
    cumulative = np.cumsum(counts)
    slices, start = [], 0
    while start < len(counts):
        base = cumulative[start - 1] if start else 0
        stop = max(int(np.searchsorted(cumulative, base + PAIR_BATCH, side="right")), start + 1)
        slices.append(slice(start, stop))
        start = stop
    return slices


def hamming_pairs(a: np.ndarray, b: np.ndarray | None = None, *, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) whose 64-bit hashes differ in at most ``max_distance`` bits.

    With ``b`` None, searches within ``a`` and returns each unordered pair once
    with i < j; otherwise returns every pair (i into ``a``, j into ``b``). Pairs
    come back sorted by (i, j).
    """
    ua = as_uint64(a)
    ub = ua if b is None else as_uint64(b)
    found_left, found_right = [], []
    for shift, width in _blocks(max_distance):
        mask = np.uint64((1 << width) - 1)
        key_a = (ua >> np.uint64(shift)) & mask
        key_b = key_a if b is None else (ub >> np.uint64(shift)) & mask
        order_b = np.argsort(key_b, kind="stable")
        sorted_b = key_b[order_b]
        if b is None:
            # Position p in the sorted order pairs with the later positions of its bucket.
            positions = np.arange(len(ua))
            ends = np.searchsorted(sorted_b, sorted_b, side="right")
            counts, left_pos, right_pos = ends - positions - 1, positions, positions + 1
        else:
            left_pos = np.arange(len(ua))
            right_pos = np.searchsorted(sorted_b, key_a, side="left")
            counts = np.searchsorted(sorted_b, key_a, side="right") - right_pos
        for part in _batches(counts):
            left, right = _expand(left_pos[part], right_pos[part], counts[part])
            left = order_b[left] if b is None else left
            right = order_b[right]
            close = np.bitwise_count(ua[left] ^ ub[right]) <= max_distance
            left, right = left[close], right[close]
            if b is None:
                left, right = np.minimum(left, right), np.maximum(left, right)
            found_left.append(left)
            found_right.append(right)
    if not found_left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    left, right = np.concatenate(found_left).astype(np.int64), np.concatenate(found_right).astype(np.int64)
    # A pair agreeing on several blocks was found once per block: keep one copy.
    width = max(len(ub), 1)
    unique = np.unique(left * width + right)
    return unique // width, unique % width


def pixel_distance(a: np.ndarray, b: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255 scale) between images ``a[left[k]]`` and ``b[right[k]]``."""
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), PIXEL_BATCH):
        stop = start + PIXEL_BATCH
        diff = a[left[start:stop]].astype(np.int16) - b[right[start:stop]].astype(np.int16)  # (P, H, W, C)
        out[start:stop] = np.abs(diff).reshape(len(diff), -1).mean(axis=1)  # (P, H, W, C) -> (P,)
    return out


def near_duplicates(
    phashes: np.ndarray, images: np.ndarray, *, max_distance: int, max_pixel_diff: float, eligible: np.ndarray
) -> np.ndarray:
    """True for every eligible row that is a near copy of an earlier eligible row that is kept.

    ``images`` is the (N, H, W, C) uint8 batch aligned with ``phashes``; rows not
    ``eligible`` (exact duplicates, undecodable or wrong-sized images) take no
    part: they are never flagged here and never cause others to be. Rows are
    visited in table order and a row is kept only when no kept earlier row is
    near it, so in a chain A~B~C with A and C far apart, B is flagged and C stays.
    """
    flagged = np.zeros(len(phashes), dtype=bool)
    rows = np.flatnonzero(np.asarray(eligible, dtype=bool))
    if len(rows) < 2:
        return flagged
    left, right = hamming_pairs(np.asarray(phashes)[rows], max_distance=max_distance)
    confirmed = pixel_distance(images, images, rows[left], rows[right]) <= max_pixel_diff
    left, right = rows[left[confirmed]], rows[right[confirmed]]  # left < right: table order
    order = np.lexsort((left, right))
    left, right = left[order], right[order]
    bounds = np.flatnonzero(np.diff(right)) + 1
    for later, earlier in zip(np.split(right, bounds), np.split(left, bounds), strict=True):
        # Earlier rows are final when a later row is visited, because rows are visited in table order.
        if len(later) and not flagged[earlier].all():
            flagged[later[0]] = True
    return flagged


def leaked(train_hashes: np.ndarray, test_hashes: np.ndarray) -> np.ndarray:
    """True for every test row whose content hash also occurs in the train split."""
    return np.isin(np.asarray(test_hashes).astype(str), np.asarray(train_hashes).astype(str))


def near_leaked(
    train_phashes: np.ndarray,
    train_images: np.ndarray,
    train_eligible: np.ndarray,
    test_phashes: np.ndarray,
    test_images: np.ndarray,
    test_eligible: np.ndarray,
    *,
    max_distance: int,
    max_pixel_diff: float,
) -> np.ndarray:
    """True for every eligible test row that is a near copy of an eligible train row."""
    flagged = np.zeros(len(test_phashes), dtype=bool)
    train_rows = np.flatnonzero(np.asarray(train_eligible, dtype=bool))
    test_rows = np.flatnonzero(np.asarray(test_eligible, dtype=bool))
    if len(train_rows) == 0 or len(test_rows) == 0:
        return flagged
    hit_test, hit_train = hamming_pairs(
        np.asarray(test_phashes)[test_rows], np.asarray(train_phashes)[train_rows], max_distance=max_distance
    )
    hit_test, hit_train = test_rows[hit_test], train_rows[hit_train]
    confirmed = pixel_distance(test_images, train_images, hit_test, hit_train) <= max_pixel_diff
    flagged[hit_test[confirmed]] = True
    return flagged
