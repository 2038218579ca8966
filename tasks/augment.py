"""DVC stage ``augment``: data/validate/train.parquet -> data/augment/train.parquet (+ summary.json).

Writes the originals plus ``augment.copies`` augmented versions of each image;
every row records its source id and the ops applied (see genqc.augment.table).
"""

from __future__ import annotations

import argparse

from genqc.augment import OPS, augment_table, label_unsafe_ops, validate_ops
from genqc.data.table import read_table
from genqc.errors import DataError
from genqc.io import write_json, write_parquet
from tasks.common import params_from_args, print_table
from tasks.paths import AUGMENT_SUMMARY, AUGMENTED_TRAIN, VALIDATED_TRAIN


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.augment
    ops = validate_ops(cfg.ops, key="augment.ops")  # ConfigError (exit 2) before any data is read
    frame = read_table(str(VALIDATED_TRAIN))
    if len(frame) == 0:
        raise DataError(f"{VALIDATED_TRAIN} has no rows: nothing to augment (did validate "
                        "quarantine everything? see reports/validation/)")  # fmt: skip
    table, counts = augment_table(frame, copies=cfg.copies, seed=params.seed, ops=ops, batch_size=cfg.batch_size)
    if len(table) != len(frame) * (1 + cfg.copies):
        raise DataError(f"augment accounting mismatch: {len(frame)} rows in x (1 + {cfg.copies} copies) != "
                        f"{len(table)} rows out")  # fmt: skip
    write_parquet(table, AUGMENTED_TRAIN)

    augmented = len(frame) * cfg.copies
    summary = {"rows_in": len(frame), "copies": cfg.copies, "rows_out": len(table)}
    summary |= {f"applied_{name}": count for name, count in counts.items()}
    write_json(summary, AUGMENT_SUMMARY)

    print(f"augment {VALIDATED_TRAIN} -> {AUGMENTED_TRAIN} "
          f"(copies={cfg.copies}, seed={params.seed})")  # fmt: skip
    for name in label_unsafe_ops(ops):
        print(f"note: {name} is on <augment.ops.{name}.p={ops[name].p:g}>: it changes what a digit means; "
              "keep it for data whose labels survive mirroring")  # fmt: skip
    print(f"{len(frame)} originals + {augmented} augmented = {len(table)} rows\n")
    rows = [(name, f"{op.p:g}", f"{op.magnitude:g} ({OPS[name].unit})", counts[name],
             f"{counts[name] / augmented:.1%}" if augmented else "-") for name, op in ops.items()]  # fmt: skip
    print_table(rows, ("op", "p", "magnitude", "applied", "share"))
    return 0
