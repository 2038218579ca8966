"""Chunked image-table IO: same rows and dtypes as pandas, file bytes independent of the chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from genqc.data.batch import ImageBatch
from genqc.data.stream import (
    TableWriter,
    read_table_chunks,
    table_column,
    table_rows,
    write_split_tables,
    write_table_chunks,
)
from genqc.data.table import images_to_table
from genqc.errors import DataError


def _table(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)
    site = pd.Series(["a", "b", "c", "d", "e"] * (n // 5), dtype="category")
    return images_to_table(
        images, np.arange(n) % 4, [f"x{i}" for i in range(n)], extra={"site": site, "age": np.arange(n) * 2.5}
    )


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[b : b + size] for b in range(0, len(frame), size)]


@pytest.mark.parametrize("size", [1, 7, 50, 64])
def test_written_bytes_do_not_depend_on_the_chunk_size(tmp_path: Path, size: int) -> None:
    frame = _table()
    reference = tmp_path / "reference.parquet"
    write_table_chunks([frame], reference, row_group_rows=16)
    target = tmp_path / "chunked.parquet"
    assert write_table_chunks(_chunks(frame, size), target, row_group_rows=16) == len(frame)
    assert target.read_bytes() == reference.read_bytes()
    assert [pq.ParquetFile(target).metadata.row_group(i).num_rows for i in range(4)] == [16, 16, 16, 2]
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame.reset_index(drop=True))


def test_chunks_read_back_with_pandas_dtypes(tmp_path: Path) -> None:
    frame = _table()
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    chunks = list(read_table_chunks(path, 16))
    assert [len(c) for c in chunks] == [16, 16, 16, 2]
    whole = pd.read_parquet(path)
    assert all((c.dtypes == whole.dtypes).all() for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert table_rows(path) == 50
    assert table_column(path, "id").tolist() == frame["id"].tolist()


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    frame = _table()
    target = tmp_path / "out.parquet"
    write_table_chunks([frame], target)
    before = target.read_bytes()

    def broken():
        yield frame.iloc[:10]
        raise DataError("decode failed in chunk 2")

    with pytest.raises(DataError, match="chunk 2"):
        write_table_chunks(broken(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_missing_and_foreign_tables_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run the stage that writes it"):
        table_rows(tmp_path / "none.parquet")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"not an image table: missing columns \['id', 'label', 'image'\]"):
        list(read_table_chunks(tmp_path / "x.parquet", 4))


def _batches(images: np.ndarray, labels: np.ndarray, size: int, site: list[str]) -> list[ImageBatch]:
    ids = [f"r{i}" for i in range(len(images))]
    return [
        ImageBatch(images[b : b + size], labels[b : b + size], ids[b : b + size], extra={"site": site[b : b + size]})
        for b in range(0, len(images), size)
    ]


@pytest.mark.parametrize("batch", [1, 9, 40])
def test_split_tables_from_batches_equal_the_whole_table_split_by_a_mask(tmp_path: Path, batch: int) -> None:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (40, 5, 5, 3), dtype=np.uint8)
    labels = np.arange(40) % 3
    site = [None if i < 12 else f"s{i % 4}" for i in range(40)]  # the first batches hold no value to type it by
    is_test = rng.random(40) < 0.3
    whole = images_to_table(images, labels, [f"r{i}" for i in range(40)], extra={"site": site})
    for side, mask in (("train", ~is_test), ("test", is_test)):
        whole[mask].reset_index(drop=True).to_parquet(tmp_path / f"whole-{side}.parquet", index=False)
    counts = write_split_tables(
        _batches(images, labels, batch, site),
        lambda: is_test,
        train=tmp_path / "train.parquet",
        test=tmp_path / "test.parquet",
        staging=tmp_path / "staging.parquet",
    )
    assert counts == ((~is_test).sum(), is_test.sum())
    for side in ("train", "test"):  # the same file, byte for byte, as the table built at once and split
        assert (tmp_path / f"{side}.parquet").read_bytes() == (tmp_path / f"whole-{side}.parquet").read_bytes()


def test_split_tables_are_written_in_row_groups_whatever_the_batches(tmp_path: Path) -> None:
    images = np.random.default_rng(4).integers(0, 256, (50, 4, 4, 1), dtype=np.uint8)
    labels = np.arange(50) % 2
    is_test = np.arange(50) % 5 == 0
    paths = {}
    for batch in (3, 50):
        paths[batch] = [tmp_path / f"{batch}-{side}.parquet" for side in ("train", "test")]
        write_split_tables(
            _batches(images, labels, batch, ["a"] * 50),
            lambda: is_test,
            train=paths[batch][0],
            test=paths[batch][1],
            staging=tmp_path / f"{batch}-staging.parquet",
            row_group_rows=16,
        )
    assert [p.read_bytes() for p in paths[3]] == [p.read_bytes() for p in paths[50]]
    assert [pq.ParquetFile(paths[3][0]).metadata.row_group(i).num_rows for i in range(3)] == [16, 16, 8]


def test_a_split_decided_wrong_is_refused(tmp_path: Path) -> None:
    images = np.zeros((4, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match=r"split mask has shape \(3,\) for 4 rows"):
        write_split_tables(
            _batches(images, np.zeros(4), 2, list("abcd")),
            lambda: np.zeros(3, bool),
            train=tmp_path / "a",
            test=tmp_path / "b",
            staging=tmp_path / "s",
        )


def test_the_table_writer_writes_row_groups_as_chunks_arrive(tmp_path: Path) -> None:
    frame = _table()
    writer = TableWriter(tmp_path / "t.parquet", row_group_rows=16)
    for chunk in _chunks(frame, 10):
        writer.write(chunk)
    assert writer.chunks == 5 and writer.rows == 48  # three full row groups already on disk, two rows buffered
    assert writer.close() == 50
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame)
