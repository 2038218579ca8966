"""Augment a whole image table: the originals plus ``copies`` augmented rows per image.

Every output row says where it came from: ``source_id`` (the original's id),
``augment_copy`` (0 for the original, k for ``<id>#augk``) and ``augment_ops``
(a JSON list of the ops applied and their strengths; ``[]`` for originals).
Columns the standard table recomputes from pixels (hashes, intensity stats,
size) are recomputed for augmented rows; every other column (label, class
name, provenance, bias attributes, anything a user added) is copied from the
source row with its dtype, so bias checks downstream still see each row's
attributes. Rows are grouped by source: original, #aug1, #aug2, ...

``augment_chunks`` does the work one chunk of source rows at a time, so the
augment stage streams a table of any size through bounded memory
(genqc.data.stream); ``augment_table`` is the same in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from genqc.augment.batch import augment_images
from genqc.augment.ops import OP_NAMES, OpConfig
from genqc.data import table as tbl
from genqc.errors import DataError
from genqc.progress import Progress

SOURCE_ID, AUGMENT_COPY, AUGMENT_OPS = "source_id", "augment_copy", "augment_ops"
AUGMENT_COLUMNS = (SOURCE_ID, AUGMENT_COPY, AUGMENT_OPS)

# Recomputed from the augmented pixels; every other column is inherited from the source row.
_RECOMPUTED = (
    tbl.ID,
    tbl.IMAGE,
    tbl.HEIGHT,
    tbl.WIDTH,
    tbl.CHANNELS,
    tbl.SHA256,
    tbl.PHASH,
    tbl.MEAN,
    tbl.STD,
    tbl.MIN,
    tbl.MAX,
)


def augmented_id(source_id: str, copy: int) -> str:
    return f"{source_id}#aug{copy}"


def check_augmentable(columns: Sequence[str], ids: Sequence[str]) -> None:
    """Raise DataError when a table was augmented before (its columns) or its ids are not unique (they key draws)."""
    clash = [c for c in AUGMENT_COLUMNS if c in columns]
    if clash:
        raise DataError(
            f"input table already has augmentation columns {clash}; augment the validated table, not an augmented one"
        )
    if len(set(ids)) != len(ids):
        dupes = sorted(i for i, n in Counter(ids).items() if n > 1)[:5]
        raise DataError(
            f"input table has duplicate ids {dupes}; each image needs a unique id (it keys the "
            "augmentation draws); run genqc validate first"
        )


def augment_chunks(
    chunks: Iterable[pd.DataFrame],
    *,
    copies: int,
    seed: int,
    ops: Mapping[str, OpConfig],
    counts: dict[str, int],
    progress: Progress | None = None,
) -> Iterator[pd.DataFrame]:
    """Augment a table chunk by chunk: yield each chunk's originals and copies, grouped by source.

    Callers check the whole table first (``check_augmentable``). ``counts`` (op
    name -> images it fired on) is updated as chunks go by. Every image's draws
    come from (seed, id, copy) only, so the rows do not depend on the chunking:
    concatenating the yielded frames gives the same table for any chunk size.
    """
    for chunk in chunks:
        originals = chunk.reset_index(drop=True).copy()
        ids = originals[tbl.ID].astype(str).tolist()
        originals[SOURCE_ID] = pd.Series(ids, dtype="string")
        originals[AUGMENT_COPY] = np.zeros(len(originals), dtype=np.int64)
        originals[AUGMENT_OPS] = pd.Series(["[]"] * len(originals), dtype="string")
        if copies == 0 or len(originals) == 0:
            yield originals
            continue
        images = tbl.decode_images(originals)
        parts = [originals]
        for copy in range(1, copies + 1):
            result = augment_images(images, ids, seed=seed, copy=copy, ops=ops)
            for name, count in result.draws.counts().items():
                counts[name] += count
            parts.append(_augmented_rows(originals, result.images, copy, result.records()))
            if progress is not None:
                progress.update(len(images))
        out = pd.concat(parts, ignore_index=True)
        # Group each source's rows together: original, #aug1, #aug2, ... (a stable sort keeps that order).
        position = np.tile(np.arange(len(originals)), copies + 1)
        yield out.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)


def empty_counts(ops: Mapping[str, OpConfig]) -> dict[str, int]:
    """Zero fire counts for the ops switched on, in application order."""
    return dict.fromkeys((n for n in OP_NAMES if n in ops), 0)


def augment_table(
    frame: pd.DataFrame,
    *,
    copies: int,
    seed: int,
    ops: Mapping[str, OpConfig],
    batch_size: int = 2048,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return (table with originals + augmented rows, how many images each op fired on), in memory.

    ``batch_size`` only bounds memory: the output is identical for any value.
    Raises DataError when the table already carries augmentation columns (it was
    augmented before) or when its ids are not unique (ids key the random draws).
    The augment stage streams instead (``augment_chunks`` + genqc.data.stream).
    """
    check_augmentable(list(frame.columns), frame[tbl.ID].astype(str).tolist())
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    counts = empty_counts(ops)
    frame = frame.reset_index(drop=True)
    chunks = (frame.iloc[b : b + batch_size] for b in range(0, max(len(frame), 1), batch_size))
    with Progress(copies * len(frame), "augment", unit="img") as progress:
        parts = list(augment_chunks(chunks, copies=copies, seed=seed, ops=ops, counts=counts, progress=progress))
    return pd.concat(parts, ignore_index=True), counts


def _augmented_rows(originals: pd.DataFrame, images: np.ndarray, copy: int, records: list[str]) -> pd.DataFrame:
    """Rows for one copy of every image: recomputed pixel columns, every other column inherited."""
    ids = [augmented_id(i, copy) for i in originals[SOURCE_ID]]
    rows = tbl.images_to_table(images, originals[tbl.LABEL].to_numpy(), ids, progress=False)
    for column in originals.columns:
        if column not in _RECOMPUTED:
            rows[column] = originals[column].array  # .array keeps the column's dtype (string, category, ...)
    rows[AUGMENT_COPY] = np.full(len(rows), copy, dtype=np.int64)
    rows[AUGMENT_OPS] = pd.Series(records, dtype="string")
    return rows[list(originals.columns)]
