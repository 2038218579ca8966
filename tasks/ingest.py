"""DVC stage ``ingest``: the configured source -> data/ingest/{train,test,rejected}.parquet + classes.json.

Every input ends as a train row, a test row or a rejected row with its reason,
and the stage checks ``inputs == train + test + rejected`` before renaming its
outputs into place. The source is streamed in bounded batches (memory is one
batch plus a Parquet row group per table, whatever the dataset's size): each
batch is encoded into a staging table beside the outputs, the split is decided
from the rows' labels once all are known, and the staged rows are routed into
train and test (genqc.data.stream.write_split_tables). The class mapping (label,
name, and the rule that gave the label) goes to ``classes.json`` so it can be
pinned in ``ingest.class_map``. All outputs are written as one set: each to a
temporary file first, renamed only when every one of them was written, so a full
disk or a read-only directory leaves the previous outputs whole.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from genqc.config import Params
from genqc.data.bounded import MIB
from genqc.data.labels import ASSIGNED, MAX_LABEL, ClassInfo
from genqc.data.sources import SourceStream, open_source
from genqc.data.split import stratified_split
from genqc.data.stream import write_split_tables
from genqc.errors import ConfigError, DataError
from genqc.io import atomic_path, write_json
from tasks.common import params_from_args, print_table
from tasks.paths import INGEST_CLASSES, INGEST_DIR, INGEST_REJECTED, INGEST_SUMMARY, INGEST_TEST, INGEST_TRAIN

SPLIT_VALUES = ("train", "test")


def _split_mask(hints: list[str] | None, labels: np.ndarray, split: str, fraction: float, seed: int) -> np.ndarray:
    if split == "source":
        if hints is None:
            raise ConfigError(
                "ingest.split='source' but this source has no train/test split of its own; use ingest.split: stratified"
            )
        unknown = sorted(set(hints) - set(SPLIT_VALUES))
        if unknown:
            raise ConfigError(
                f"ingest.split='source' but the source's split column holds {unknown[:5]}; "
                f"allowed: {', '.join(SPLIT_VALUES)}"
            )
        return np.asarray(hints) == "test"
    return stratified_split(labels, fraction, seed)


def class_record(classes: dict[str, ClassInfo]) -> dict:
    """classes.json: every class with its label and the rule behind it, and how to pin them."""
    ordered = sorted(classes.values(), key=lambda c: (c.label, c.name))
    return {
        "rule": "ingest.class_map pins names; a canonical integer name is its number; other names follow the "
        f"largest of those in sorted order (labels 0..{MAX_LABEL})",
        "classes": [{"label": c.label, "name": c.name, "rule": c.rule} for c in ordered],
        "class_map": {c.name: c.label for c in ordered if c.rule != "as given"},
    }


def shown(text: str) -> str:
    """A path or reason safe for a terminal: control characters (escape sequences, newlines) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _decide_split(stream: SourceStream, params: Params) -> np.ndarray:
    """Once every row is known: the accounting checked, then the test mask (both splits non-empty)."""
    cfg = params.ingest
    stream.finish()
    is_test = _split_mask(stream.split_hints, stream.labels, cfg.split, cfg.test_fraction, params.seed)
    n_test = int(is_test.sum())
    n_train = len(is_test) - n_test
    if n_train + n_test + len(stream.rejected) != stream.n_inputs:
        raise DataError(
            f"ingest accounting mismatch: {stream.n_inputs} inputs != {n_train} train + "
            f"{n_test} test + {len(stream.rejected)} rejected"
        )
    if n_train == 0 or n_test == 0:
        raise ConfigError(
            f"ingest.test_fraction={cfg.test_fraction} leaves {n_train} train and {n_test} "
            "test images; both splits need at least one"
        )
    return is_test


def write_outputs(stream: SourceStream, params: Params) -> dict:
    """Stream the source into every output's temporary file, then rename them all: all new or all old, never a mix.

    Returns the summary. The staged rows live in a hidden temporary file beside
    the outputs, removed whatever happens.
    """
    target: Path | str = INGEST_TRAIN
    try:
        with contextlib.ExitStack() as stack:
            train = stack.enter_context(atomic_path(INGEST_TRAIN))
            test = stack.enter_context(atomic_path(INGEST_TEST))
            target = f"{INGEST_DIR}/ (the rows staged for {INGEST_TRAIN.name} and {INGEST_TEST.name})"
            fd, staging = tempfile.mkstemp(prefix=".rows.", suffix=".staging.parquet", dir=INGEST_DIR)
            os.close(fd)
            stack.callback(Path(staging).unlink, missing_ok=True)
            n_train, n_test = write_split_tables(
                stream.with_progress("ingest images"),
                lambda: _decide_split(stream, params),
                train=train,
                test=test,
                staging=staging,
            )
            summary = {
                "inputs": stream.n_inputs,
                "train": n_train,
                "test": n_test,
                "rejected": len(stream.rejected),
                "classes": len(np.unique(stream.labels)),
            }
            rejected = pd.DataFrame(
                {"path": [p for p, _ in stream.rejected], "reason": [r for _, r in stream.rejected]}, dtype="string"
            )
            target = INGEST_REJECTED
            rejected.to_parquet(stack.enter_context(atomic_path(target)), index=False)
            for target, data in ((INGEST_CLASSES, class_record(stream.classes)), (INGEST_SUMMARY, summary)):
                write_json(data, stack.enter_context(atomic_path(target)))
    except OSError as exc:  # pyarrow's messages omit the path; the previous outputs are untouched
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise DataError(f"cannot write {target}: {reason}; the previous outputs are left as they were") from exc
    return summary


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.ingest
    stream = open_source(
        cfg.source,
        size=cfg.image_size,
        channels=cfg.channels,
        resize=cfg.resize,
        class_map=cfg.class_map,
        max_bytes=cfg.max_array_mib * MIB,
    )
    summary = write_outputs(stream, params)
    print(
        f"ingest {shown(cfg.source)} -> {INGEST_DIR}/ ({cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
        f"resize={cfg.resize}, seed={params.seed})"
    )
    print_table([(k, v) for k, v in summary.items()], ("", "count"))
    for note in stream.notes:
        print(f"note: {shown(note)}")
    assigned = sorted(c.name for c in stream.classes.values() if c.rule == ASSIGNED)
    if assigned:
        print(
            f"note: {len(assigned)} class names were numbered in sorted order ({shown(', '.join(assigned[:5]))}"
            f"{', ...' if len(assigned) > 5 else ''}); a new class sorting before them would renumber them: "
            f"pin {INGEST_CLASSES}'s class_map in ingest.class_map"
        )
    rejected = stream.rejected
    if rejected:
        print(f"\nrejected inputs ({len(rejected)}; all listed in {INGEST_REJECTED}):")
        print_table([(shown(p), shown(r)) for p, r in rejected[:10]], ("path", "reason"))
        if len(rejected) > 10:
            print(f"... and {len(rejected) - 10} more")
    return 0
