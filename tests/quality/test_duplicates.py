"""The hash searches: exact copies, pigeonhole near search (checked against brute force), leakage."""

from __future__ import annotations

import numpy as np
import pytest

from genqc.quality import duplicates


def _brute_pairs(a: np.ndarray, b: np.ndarray | None, max_distance: int) -> set[tuple[int, int]]:
    ua = duplicates.as_uint64(a)
    ub = ua if b is None else duplicates.as_uint64(b)
    distance = np.bitwise_count(ua[:, None] ^ ub[None, :])  # (N, 1) ^ (1, M) -> (N, M)
    close = distance <= max_distance
    if b is None:
        close = np.triu(close, k=1)
    return set(zip(*(x.tolist() for x in np.nonzero(close)), strict=True))


def _clustered_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Hashes in tight clusters (a few flipped bits), like real pHashes of similar images."""
    centres = rng.integers(-(2**63), 2**63 - 1, size=max(n // 8, 1), dtype=np.int64).view(np.uint64)
    picked = centres[rng.integers(0, len(centres), size=n)]
    flips = np.zeros(n, dtype=np.uint64)
    for _ in range(3):
        bit = rng.integers(0, 64, size=n).astype(np.uint64)
        flips ^= np.where(rng.random(n) < 0.5, np.uint64(1) << bit, np.uint64(0))
    return (picked ^ flips).view(np.int64)


@pytest.mark.parametrize("max_distance", [0, 1, 4, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_hamming_pairs_match_brute_force(max_distance: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = _clustered_hashes(rng, 400), _clustered_hashes(rng, 150)
    left, right = duplicates.hamming_pairs(a, max_distance=max_distance)
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == _brute_pairs(a, None, max_distance)
    assert np.all(left < right)
    left, right = duplicates.hamming_pairs(b, a, max_distance=max_distance)
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == _brute_pairs(b, a, max_distance)


def test_hamming_pairs_survive_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Candidate generation in many small batches (skewed buckets) finds the same pairs."""
    rng = np.random.default_rng(3)
    a = _clustered_hashes(rng, 300)
    expected = duplicates.hamming_pairs(a, max_distance=4)
    monkeypatch.setattr(duplicates, "PAIR_BATCH", 7)
    got = duplicates.hamming_pairs(a, max_distance=4)
    assert np.array_equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])


def test_exact_duplicates_keep_the_first_copy() -> None:
    assert duplicates.exact_duplicates(np.array(["a", "b", "a", "c", "b", "a"])).tolist() == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)


def test_near_duplicates_need_close_pixels_not_only_close_hashes() -> None:
    rng = np.random.default_rng(0)
    images = _images(rng, 3)
    images[1] = images[0]
    images[1, 0, 0, 0] ^= 1  # a near copy of row 0: one pixel off by one
    phashes = np.array([5, 5, 5], dtype=np.int64)  # all three share a pHash; row 2 has different pixels
    flagged = duplicates.near_duplicates(
        phashes, images, max_distance=0, max_pixel_diff=1.0, eligible=np.ones(3, dtype=bool)
    )
    assert flagged.tolist() == [False, True, False]


def test_near_duplicates_keep_first_and_break_chains() -> None:
    """A~B and B~C but A far from C: B is flagged (near the kept A), C stays (its only neighbour B is flagged)."""
    base = np.zeros((3, 4, 4, 1), dtype=np.uint8)
    base[1, :2] = 8  # B differs from A by 8 on half the pixels: mean diff 4
    base[2, :] = 8  # C differs from B by 4 on average and from A by 8
    phashes = np.zeros(3, dtype=np.int64)
    flagged = duplicates.near_duplicates(
        phashes, base, max_distance=0, max_pixel_diff=4.0, eligible=np.ones(3, dtype=bool)
    )
    assert flagged.tolist() == [False, True, False]


def test_ineligible_rows_neither_flag_nor_get_flagged() -> None:
    images = np.zeros((3, 4, 4, 1), dtype=np.uint8)
    flagged = duplicates.near_duplicates(
        np.zeros(3, dtype=np.int64), images, max_distance=0, max_pixel_diff=0.0, eligible=np.array([False, True, True])
    )
    assert flagged.tolist() == [False, False, True]


def test_leakage_flags_the_test_side() -> None:
    assert duplicates.leaked(np.array(["a", "b"]), np.array(["c", "a", "d"])).tolist() == [False, True, False]
    rng = np.random.default_rng(1)
    train, test = _images(rng, 4), _images(rng, 2)
    test[1] = train[3]
    test[1, 0, 0, 0] ^= 1
    near = duplicates.near_leaked(
        np.arange(4, dtype=np.int64),
        train,
        np.ones(4, dtype=bool),
        np.array([0, 3], dtype=np.int64),
        test,
        np.ones(2, dtype=bool),
        max_distance=0,
        max_pixel_diff=1.0,
    )
    assert near.tolist() == [False, True]  # row 0 shares train row 0's hash but not its pixels
