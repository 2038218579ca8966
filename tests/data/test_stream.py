"""Chunked image-table IO: same rows and dtypes as pandas, file bytes independent of the chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from genqc.data.stream import read_table_chunks, table_column, table_rows, write_table_chunks
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
