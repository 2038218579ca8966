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

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genqc.data.batch import ImageBatch
from genqc.data.table import ID, IMAGE, LABEL, table_from_batches
from genqc.errors import DataError
from genqc.io import atomic_path
from genqc.progress import Progress

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


class TableWriter:
    """Append row chunks to one Parquet file, written in row groups of exactly ``row_group_rows`` rows.

    The push-side of ``write_table_chunks``, for a producer that feeds several
    files at once (ingest routes each row to train or test). It writes to
    ``path`` as given: make it atomic with ``genqc.io.atomic_path``. ``schema``
    fixes the columns' types up front; without it the first chunk's types are
    used. Memory is one row group plus one chunk.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, row_group_rows: int = ROW_GROUP_ROWS, schema: pa.Schema | None = None
    ) -> None:
        if row_group_rows < 1:
            raise ValueError(f"row_group_rows must be >= 1, got {row_group_rows}")
        self.path = path
        self.row_group_rows = row_group_rows
        self.schema = schema
        self.rows = 0  # rows written to the file so far
        self.chunks = 0  # chunks received
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.Table] = []
        self._buffered = 0

    def write(self, chunk: pd.DataFrame | pa.Table) -> None:
        """Buffer a chunk; write every full row group it completes."""
        if isinstance(chunk, pd.DataFrame):
            if self.schema is None:
                self.schema = pa.Schema.from_pandas(chunk, preserve_index=False)
            table = pa.Table.from_pandas(chunk, schema=self.schema, preserve_index=False)
        else:
            if self.schema is None:
                self.schema = chunk.schema
            table = chunk.cast(self.schema) if not chunk.schema.equals(self.schema) else chunk
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self.chunks += 1
        self._pending.append(table)
        self._buffered += table.num_rows
        while self._buffered >= self.row_group_rows:
            merged = pa.concat_tables(self._pending)
            self._writer.write_table(merged.slice(0, self.row_group_rows), row_group_size=self.row_group_rows)
            rest = merged.slice(self.row_group_rows)
            self._pending, self._buffered = [rest], rest.num_rows
            self.rows += self.row_group_rows

    def close(self) -> int:
        """Write the last, partial row group and close the file; return the row count."""
        if self._writer is None:
            raise ValueError("write_table_chunks got no chunks; an empty table has no schema to write")
        if self._buffered:
            self._writer.write_table(pa.concat_tables(self._pending), row_group_size=self.row_group_rows)
            self.rows += self._buffered
        self._pending, self._buffered = [], 0
        self._writer.close()
        self._writer = None
        return self.rows

    def abort(self) -> None:
        """Close the file without the rows still buffered (the caller discards it)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._pending, self._buffered = [], 0


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
    with atomic_path(target) as tmp:
        writer = TableWriter(tmp, row_group_rows=row_group_rows)
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.close()
        finally:
            writer.abort()


def write_split_tables(
    batches: Iterable[ImageBatch],
    decide_split: Callable[[], np.ndarray],
    *,
    train: str | os.PathLike[str],
    test: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    row_group_rows: int = ROW_GROUP_ROWS,
) -> tuple[int, int]:
    """Encode a stream of image batches into a train and a test table, holding one batch at a time.

    Which row goes to test can only be decided once every row is known (a
    stratified split needs each class's count, and an input is only known to be
    a row once it decoded), so rows are encoded batch by batch into ``staging``
    (a Parquet file of the standard columns), then ``decide_split()`` (True for
    test rows, over all rows in order) routes them, in order, into ``train`` and
    ``test``. Per-row extra columns (metadata) are small: they are gathered and
    typed over the whole split, as when the table was built at once, so the
    tables are the ones ``images_to_table`` and a boolean split would give.
    The paths are written as given (wrap them in ``atomic_path``); returns the
    (train, test) row counts.
    """
    extras: dict[str, list] = {}
    staged = TableWriter(staging, row_group_rows=row_group_rows)
    rows = 0
    try:
        for batch in batches:
            staged.write(table_from_batches([replace(batch, extra=None)]))
            if rows and set(batch.extra or {}) != set(extras):
                raise ValueError(
                    f"extra columns differ between batches: {sorted(extras)} then {sorted(batch.extra or {})}"
                )
            for name, values in (batch.extra or {}).items():
                extras.setdefault(name, []).extend(values)
            rows += len(batch.images)
        is_test = np.asarray(decide_split(), dtype=bool)
        if is_test.shape != (rows,):
            raise ValueError(f"the split mask has shape {is_test.shape} for {rows} rows")
        staged.close()
    finally:
        staged.abort()
    metadata = pd.DataFrame(index=pd.RangeIndex(rows))
    for name, values in extras.items():
        metadata[name] = values  # typed over all rows, as table_from_batches types a whole table's extras
    counts = []
    with Progress(2 * rows, "write train and test tables", unit="row") as bar:  # each side reads every staged row
        for target, side in ((train, False), (test, True)):
            part = metadata[is_test == side].reset_index(drop=True)
            counts.append(_write_side(staging, target, is_test == side, part, row_group_rows, bar))
    return counts[0], counts[1]


def _write_side(
    staging: str | os.PathLike[str],
    target: str | os.PathLike[str],
    take: np.ndarray,
    metadata: pd.DataFrame,
    row_group_rows: int,
    bar: Progress,
) -> int:
    """The staged rows where ``take`` holds, in order, with their metadata columns, written to ``target``."""
    handle = pq.ParquetFile(staging, pre_buffer=False)  # pre-buffered ranges stay cached: memory would grow
    schema = _with_columns(handle.schema_arrow, metadata)
    extra_schema = pa.Schema.from_pandas(metadata, preserve_index=False) if len(metadata.columns) else None
    writer = TableWriter(target, row_group_rows=row_group_rows, schema=schema)
    begin = taken = 0
    try:
        for batch in handle.iter_batches(batch_size=row_group_rows):
            mask = take[begin : begin + batch.num_rows]
            begin += batch.num_rows
            rows = pa.Table.from_batches([batch]).filter(pa.array(mask))
            if extra_schema is not None:
                extra = pa.Table.from_pandas(
                    metadata.iloc[taken : taken + rows.num_rows], schema=extra_schema, preserve_index=False
                )
                for field, column in zip(extra.schema, extra.columns, strict=True):
                    rows = rows.append_column(field, column)
            taken += rows.num_rows
            writer.write(rows)
            bar.update(batch.num_rows)
        return writer.close()
    finally:
        writer.abort()


def _with_columns(schema: pa.Schema, metadata: pd.DataFrame) -> pa.Schema:
    """``schema`` followed by ``metadata``'s columns, typed from the whole frame; pandas metadata merged."""
    if not len(metadata.columns):
        return schema
    extra = pa.Schema.from_pandas(metadata, preserve_index=False)
    pandas = json.loads(schema.metadata[b"pandas"])
    pandas["columns"] += json.loads(extra.metadata[b"pandas"])["columns"]
    return pa.schema([*schema, *extra], metadata={**schema.metadata, b"pandas": json.dumps(pandas).encode()})


def _open(path: str | os.PathLike[str]) -> pq.ParquetFile:
    if not Path(path).is_file():
        raise FileNotFoundError(f"image table {path} not found; run the stage that writes it (see dvc.yaml)")
    handle = pq.ParquetFile(path, pre_buffer=False)  # pre-buffered ranges stay cached while iterating
    missing = [c for c in (ID, LABEL, IMAGE) if c not in handle.schema_arrow.names]
    if missing:
        raise DataError(f"{path} is not an image table: missing columns {missing}")
    return handle
