"""augment_table: row accounting, provenance columns, inherited metadata, batch-size independence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genqc.augment import AUGMENT_COPY, AUGMENT_OPS, SOURCE_ID, OpConfig, augment_table
from genqc.data.table import IMAGE, LABEL, SHA256, decode_images, images_to_table
from genqc.errors import DataError

OPS = {"rotate": OpConfig(0.7, 15.0), "brightness": OpConfig(0.5, 0.3), "noise": OpConfig(0.3, 0.05)}


def _table(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    site = pd.Series(["a", "b", "c"] * (n // 3), dtype="category")
    return images_to_table(
        images, np.arange(n) % 4, [f"x{i}" for i in range(n)], extra={"site": site, "age": np.arange(n) * 2}
    )


def test_rows_are_the_originals_plus_copies_with_provenance() -> None:
    frame = _table()
    out, counts = augment_table(frame, copies=2, seed=0, ops=OPS)
    assert len(out) == len(frame) * 3
    assert out["id"].tolist()[:3] == ["x0", "x0#aug1", "x0#aug2"]
    assert out[SOURCE_ID].tolist() == [i for i in frame["id"] for _ in range(3)]
    assert out[AUGMENT_COPY].tolist() == [0, 1, 2] * len(frame)
    originals = out[out[AUGMENT_COPY] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(originals[frame.columns.tolist()], frame)  # originals untouched
    assert (originals[AUGMENT_OPS] == "[]").all()
    augmented = out[out[AUGMENT_COPY] > 0]
    fired = sum(len(json.loads(r)) for r in augmented[AUGMENT_OPS])
    assert fired == sum(counts.values()) and set(counts) == set(OPS)


def test_labels_and_metadata_are_inherited_and_pixel_columns_recomputed() -> None:
    frame = _table()
    out, _ = augment_table(frame, copies=1, seed=0, ops=OPS)
    by_source = frame.set_index("id")
    for column in (LABEL, "site", "age", "class_name"):
        assert (out[column].to_numpy() == by_source.loc[out[SOURCE_ID], column].to_numpy()).all()
    assert out["site"].dtype == frame["site"].dtype and out["age"].dtype == frame["age"].dtype
    changed = out[(out[AUGMENT_COPY] == 1) & (out[AUGMENT_OPS] != "[]")]
    sources = frame.set_index("id").loc[changed[SOURCE_ID]]
    assert (changed[SHA256].to_numpy() != sources[SHA256].to_numpy()).all()
    assert decode_images(out).dtype == np.uint8


def test_batch_size_does_not_change_the_output() -> None:
    frame = _table()
    one, _ = augment_table(frame, copies=2, seed=4, ops=OPS, batch_size=1)
    many, _ = augment_table(frame, copies=2, seed=4, ops=OPS, batch_size=64)
    pd.testing.assert_frame_equal(one, many)
    assert (one[IMAGE] != frame[IMAGE].repeat(3).to_numpy()).any()


def test_zero_copies_keeps_the_originals_only() -> None:
    frame = _table()
    out, counts = augment_table(frame, copies=0, seed=0, ops=OPS)
    assert len(out) == len(frame) and set(counts.values()) == {0}


def test_duplicate_ids_and_already_augmented_tables_are_data_errors() -> None:
    frame = _table()
    duplicated = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    with pytest.raises(DataError, match=r"duplicate ids \['x0'\]"):
        augment_table(duplicated, copies=1, seed=0, ops=OPS)
    out, _ = augment_table(frame, copies=1, seed=0, ops=OPS)
    with pytest.raises(DataError, match="already has augmentation columns"):
        augment_table(out, copies=1, seed=0, ops=OPS)


def test_chunked_augmentation_concatenates_to_the_in_memory_table() -> None:
    from genqc.augment import augment_chunks, empty_counts

    frame = _table()
    whole, whole_counts = augment_table(frame, copies=2, seed=4, ops=OPS)
    counts = empty_counts(OPS)
    parts = list(
        augment_chunks(
            (frame.iloc[b : b + 5] for b in range(0, len(frame), 5)), copies=2, seed=4, ops=OPS, counts=counts
        )
    )
    assert [len(p) for p in parts] == [15, 15, 15, 15, 12]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    assert counts == whole_counts
