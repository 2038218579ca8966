"""DVC stage ``augment``: data/validate/train.parquet -> data/augment/train.parquet (+ summary.json).

Writes the originals plus ``augment.copies`` augmented versions of each image;
every row records its source id and the ops applied (see genqc.augment.table).
The table streams through in chunks of ``augment.batch_size`` source rows, so
memory stays bounded at any dataset size, and the output file's bytes do not
depend on the chunk size (genqc.data.stream).
"""

from __future__ import annotations

import argparse

from genqc.augment import OPS, augment_chunks, check_augmentable, empty_counts, label_unsafe_ops, validate_ops
from genqc.data.stream import read_table_chunks, table_column, table_columns, table_rows, write_table_chunks
from genqc.data.table import ID
from genqc.errors import DataError
from genqc.io import write_json
from genqc.progress import Progress
from tasks.common import params_from_args, print_table
from tasks.paths import AUGMENT_SUMMARY, AUGMENTED_TRAIN, VALIDATED_TRAIN


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.augment
    ops = validate_ops(cfg.ops, key="augment.ops")  # ConfigError (exit 2) before any data is read
    source = VALIDATED_TRAIN
    rows_in = table_rows(source)
    if rows_in == 0:
        raise DataError(
            f"{source} has no rows: nothing to augment (did validate quarantine everything? see reports/validation/)"
        )
    check_augmentable(table_columns(source), table_column(source, ID).astype(str).tolist())
    counts = empty_counts(ops)
    with Progress(rows_in * cfg.copies, "augment", unit="img") as progress:
        chunks = augment_chunks(
            read_table_chunks(source, cfg.batch_size),
            copies=cfg.copies,
            seed=params.seed,
            ops=ops,
            counts=counts,
            progress=progress,
        )
        rows_out = write_table_chunks(chunks, AUGMENTED_TRAIN)
    if rows_out != rows_in * (1 + cfg.copies):
        raise DataError(
            f"augment accounting mismatch: {rows_in} rows in x (1 + {cfg.copies} copies) != {rows_out} rows out"
        )

    augmented = rows_in * cfg.copies
    summary = {"rows_in": rows_in, "copies": cfg.copies, "rows_out": rows_out}
    summary |= {f"applied_{name}": count for name, count in counts.items()}
    write_json(summary, AUGMENT_SUMMARY)

    print(
        f"augment {source} -> {AUGMENTED_TRAIN} (copies={cfg.copies}, seed={params.seed}, "
        f"{cfg.batch_size} rows per chunk)"
    )
    for name in label_unsafe_ops(ops):
        print(
            f"note: {name} is on <augment.ops.{name}.p={ops[name].p:g}>: it changes what a digit means; "
            "keep it for data whose labels survive mirroring"
        )
    print(f"{rows_in} originals + {augmented} augmented = {rows_out} rows\n")
    rows = [
        (
            name,
            f"{op.p:g}",
            f"{op.magnitude:g} ({OPS[name].unit})",
            counts[name],
            f"{counts[name] / augmented:.1%}" if augmented else "-",
        )
        for name, op in ops.items()
    ]
    print_table(rows, ("op", "p", "magnitude", "applied", "share"))
    return 0
