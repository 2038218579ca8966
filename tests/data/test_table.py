"""The image table: lossless PNG round trip, hashes and statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genqc.data.table import (
    content_hash,
    decode_images,
    decode_png,
    encode_png,
    images_to_table,
    perceptual_hashes,
)

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3]))


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, shapes))
def test_png_round_trip_is_lossless_for_any_allowed_shape(image: np.ndarray) -> None:
    assert np.array_equal(decode_png(encode_png(image)), image)


def test_encode_png_rejects_what_the_table_cannot_hold() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), dtype=np.uint16))
    with pytest.raises(ValueError, match="shape"):
        encode_png(np.zeros((4, 4, 2), dtype=np.uint8))


def test_content_hash_depends_on_pixels_and_shape_not_encoding() -> None:
    image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    assert content_hash(image) == content_hash(decode_png(encode_png(image)))
    assert content_hash(image) != content_hash(image.reshape(2, 8, 1))
    changed = image.copy()
    changed[0, 0, 0] = 200
    assert content_hash(image) != content_hash(changed)


def test_perceptual_hash_is_stable_under_small_changes_and_differs_for_different_images() -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((1, 32, 32, 1)) * 255).astype(np.uint8)
    noisy = base.copy()
    noisy[0, :2, :2, 0] ^= 0x10  # a few pixels change
    other = (rng.random((1, 32, 32, 1)) * 255).astype(np.uint8)
    hashes = perceptual_hashes(np.concatenate([base, noisy, other]))
    bits = [bin(int(h) & (2**64 - 1)).count("1") for h in (hashes[0] ^ hashes[1], hashes[0] ^ hashes[2])]
    assert bits[0] <= 4 < bits[1]


def test_table_columns_and_decode_round_trip() -> None:
    images = np.random.default_rng(1).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    table = images_to_table(images, [0, 1, 0, 1, 2], [f"x{i}" for i in range(5)], extra={"group": list("aabba")})
    assert list(table["label"]) == [0, 1, 0, 1, 2]
    assert set(table["height"]) == {8} and set(table["channels"]) == {3}
    assert list(table["group"]) == list("aabba")
    assert np.array_equal(decode_images(table), images)
    assert np.allclose(table["mean"], images.reshape(5, -1).mean(axis=1))


def test_images_to_table_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        images_to_table(np.zeros((3, 4, 4, 1), np.uint8), [0, 1], ["a", "b"])


def _inputs(n: int = 10) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    return images, np.arange(n) % 3, [f"i{k}" for k in range(n)], [f"c{k % 3}" for k in range(n)]


def test_a_stream_of_batches_builds_the_same_table_as_one_array() -> None:
    from genqc.data.table import ImageBatch, table_from_batches

    images, labels, ids, names = _inputs()
    whole = images_to_table(images, labels, ids, class_names=names, extra={"site": list("abababcdcd")})
    bounds = [(0, 3), (3, 8), (8, 10)]
    batches = (
        ImageBatch(images[a:b], labels[a:b], ids[a:b], names[a:b], extra={"site": list("abababcdcd")[a:b]})
        for a, b in bounds
    )
    pd.testing.assert_frame_equal(table_from_batches(batches, total=10), whole)


def test_statistics_do_not_depend_on_the_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import genqc.data.table as table_module

    images, labels, ids, _ = _inputs(9)
    whole = images_to_table(images, labels, ids)
    monkeypatch.setattr(table_module, "BLOCK_VALUES", 2 * 12 * 12 * 3)  # two images per block
    pd.testing.assert_frame_equal(images_to_table(images, labels, ids), whole)
    assert table_module.stats_block((12, 12, 3)) == 2


def test_batches_of_different_shapes_are_refused() -> None:
    from genqc.data.table import ImageBatch, table_from_batches

    small, large = np.zeros((2, 4, 4, 1), np.uint8), np.zeros((2, 5, 5, 1), np.uint8)
    batches = [ImageBatch(small, [0, 1], ["a", "b"]), ImageBatch(large, [0, 1], ["c", "d"])]
    with pytest.raises(ValueError, match=r"batches of different image shapes: \(4, 4, 1\) then \(5, 5, 1\)"):
        table_from_batches(batches)


def test_decode_images_names_mixed_shapes() -> None:
    from genqc.errors import DataError

    mixed = pd.concat(
        [
            images_to_table(np.zeros((1, 4, 4, 1), np.uint8), [0], ["a"]),
            images_to_table(np.zeros((1, 5, 5, 1), np.uint8), [0], ["b"]),
        ],
        ignore_index=True,
    )
    with pytest.raises(DataError, match=r"images of different shapes in one table: .*\(row 1\); run genqc validate"):
        decode_images(mixed)
