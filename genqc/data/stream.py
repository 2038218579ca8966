"""Image tables read and written in chunks, so a stage's memory does not grow with the dataset.

A stage that maps rows to rows (augment) never needs the whole table: it reads
row chunks with ``read_table_chunks`` and hands the output chunks to
``write_table_chunks``, which streams them into one Parquet file through a
temporary file renamed at the end (an interrupted run leaves the old output).

The written bytes do not depend on how the rows were chunked: the schema is
fixed by the first chunk and every row group holds exactly ``row_group_rows``
rows (the last one the remainder), so the file is the same whatever chunk size
produced it. That keeps DVC's content hashes stable when a user changes a
memory knob such as ``augment.batch_size``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genqc.data.table import ID, IMAGE, LABEL
from genqc.errors import DataError
from genqc.io import atomic_path

ROW_GROUP_ROWS = 8192  # rows per Parquet row group: ~8 MB of 32 px PNGs, a few dozen MB at 64 px RGB


def table_rows(path: str | os.PathLike[str]) -> int:
    """Row count of an image table from its footer, without reading the images."""
    return _open(path).metadata.num_rows


def table_column(path: str | os.PathLike[str], column: str) -> pd.Series:
    """One column of an image table (e.g. the ids), without reading the images."""
    handle = _open(path)
    if column not in handle.schema_arrow.names:
        raise DataError(f"{path} has no column {column!r}; found {handle.schema_arrow.names}")
    return handle.read(columns=[column]).to_pandas()[column]


def table_columns(path: str | os.PathLike[str]) -> list[str]:
    """Column names of an image table, in order."""
    return list(_open(path).schema_arrow.names)


def read_table_chunks(path: str | os.PathLike[str], rows: int) -> Iterator[pd.DataFrame]:
    """Yield the table as DataFrames of at most ``rows`` rows, with the dtypes ``pandas.read_parquet`` gives."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    handle = _open(path)
    schema = handle.schema_arrow
    for batch in handle.iter_batches(batch_size=rows):
        yield pa.Table.from_batches([batch], schema=schema).to_pandas()


def write_table_chunks(
    chunks: Iterable[pd.DataFrame], target: str | os.PathLike[str], *, row_group_rows: int = ROW_GROUP_ROWS
) -> int:
    """Write DataFrame chunks (same columns and dtypes) as one Parquet file, atomically; return the row count.

    Rows are buffered and written in row groups of exactly ``row_group_rows``,
    so the file's bytes depend on the rows, never on the chunk boundaries.
    Memory is one row group plus one chunk.
    """
    if row_group_rows < 1:
        raise ValueError(f"row_group_rows must be >= 1, got {row_group_rows}")
    written = 0
    with atomic_path(target) as tmp:
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        pending: list[pa.Table] = []
        buffered = 0
        try:
            for chunk in chunks:
                if schema is None:
                    schema = pa.Schema.from_pandas(chunk, preserve_index=False)
                    writer = pq.ParquetWriter(tmp, schema)
                table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
                pending.append(table)
                buffered += table.num_rows
                while buffered >= row_group_rows:
                    merged = pa.concat_tables(pending)
                    writer.write_table(merged.slice(0, row_group_rows), row_group_size=row_group_rows)
                    rest = merged.slice(row_group_rows)
                    pending, buffered = [rest], rest.num_rows
                    written += row_group_rows
            if writer is None:
                raise ValueError("write_table_chunks got no chunks; an empty table has no schema to write")
            if buffered:
                writer.write_table(pa.concat_tables(pending), row_group_size=row_group_rows)
                written += buffered
        finally:
            if writer is not None:
                writer.close()
    return written


def _open(path: str | os.PathLike[str]) -> pq.ParquetFile:
    if not Path(path).is_file():
        raise FileNotFoundError(f"image table {path} not found; run the stage that writes it (see dvc.yaml)")
    handle = pq.ParquetFile(path)
    missing = [c for c in (ID, LABEL, IMAGE) if c not in handle.schema_arrow.names]
    if missing:
        raise DataError(f"{path} is not an image table: missing columns {missing}")
    return handle
