"""DVC stage ``ingest``: the configured source -> data/ingest/{train,test,rejected}.parquet + classes.json.

Every input ends as a train row, a test row or a rejected row with its reason,
and the stage checks ``inputs == train + test + rejected`` before writing. The
class mapping (label, name, and the rule that gave the label) goes to
``classes.json`` so it can be pinned in ``ingest.class_map``. All outputs are
written as one set: each to a temporary file first, renamed only when every one
of them was written, so a full disk or a read-only directory leaves the previous
outputs whole.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from genqc.data.bounded import MIB
from genqc.data.labels import ASSIGNED, MAX_LABEL
from genqc.data.sources import LoadedSource, load_source
from genqc.data.split import stratified_split
from genqc.data.table import images_to_table
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


def class_record(loaded: LoadedSource) -> dict:
    """classes.json: every class with its label and the rule behind it, and how to pin them."""
    classes = sorted(loaded.classes.values(), key=lambda c: (c.label, c.name))
    return {
        "rule": "ingest.class_map pins names; a canonical integer name is its number; other names follow the "
        f"largest of those in sorted order (labels 0..{MAX_LABEL})",
        "classes": [{"label": c.label, "name": c.name, "rule": c.rule} for c in classes],
        "class_map": {c.name: c.label for c in classes if c.rule != "as given"},
    }


def shown(text: str) -> str:
    """A path or reason safe for a terminal: control characters (escape sequences, newlines) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def write_outputs(frames: dict[Path, pd.DataFrame], classes: dict, summary: dict) -> None:
    """Write every output to a temporary file, then rename them all: all new or all old, never a mix."""
    target = INGEST_DIR
    try:
        with contextlib.ExitStack() as stack:
            for target, frame in frames.items():
                frame.to_parquet(stack.enter_context(atomic_path(target)), index=False)
            for target, data in ((INGEST_CLASSES, classes), (INGEST_SUMMARY, summary)):
                write_json(data, stack.enter_context(atomic_path(target)))
    except OSError as exc:  # pyarrow's messages omit the path; the previous outputs are untouched
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise DataError(f"cannot write {target}: {reason}; the previous outputs are left as they were") from exc


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.ingest
    loaded = load_source(
        cfg.source,
        size=cfg.image_size,
        channels=cfg.channels,
        resize=cfg.resize,
        class_map=cfg.class_map,
        max_bytes=cfg.max_array_mib * MIB,
    )
    is_test = _split_mask(loaded.split_hints, loaded.labels, cfg.split, cfg.test_fraction, params.seed)
    table = images_to_table(
        loaded.images,
        loaded.labels,
        loaded.ids,
        class_names=loaded.class_names,
        orig_sizes=loaded.orig_sizes,
        orig_modes=loaded.orig_modes,
        sources=loaded.sources,
        extra=loaded.metadata,
    )
    rejected = pd.DataFrame(
        {"path": [p for p, _ in loaded.rejected], "reason": [r for _, r in loaded.rejected]}, dtype="string"
    )
    train, test = table[~is_test].reset_index(drop=True), table[is_test].reset_index(drop=True)
    if len(train) + len(test) + len(rejected) != loaded.n_inputs:
        raise DataError(
            f"ingest accounting mismatch: {loaded.n_inputs} inputs != {len(train)} train + "
            f"{len(test)} test + {len(rejected)} rejected"
        )
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(
            f"ingest.test_fraction={cfg.test_fraction} leaves {len(train)} train and {len(test)} "
            "test images; both splits need at least one"
        )
    summary = {
        "inputs": loaded.n_inputs,
        "train": len(train),
        "test": len(test),
        "rejected": len(rejected),
        "classes": len(np.unique(loaded.labels)),
    }
    write_outputs({INGEST_TRAIN: train, INGEST_TEST: test, INGEST_REJECTED: rejected}, class_record(loaded), summary)
    print(
        f"ingest {shown(cfg.source)} -> {INGEST_DIR}/ ({cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
        f"resize={cfg.resize}, seed={params.seed})"
    )
    print_table([(k, v) for k, v in summary.items()], ("", "count"))
    for note in loaded.notes:
        print(f"note: {shown(note)}")
    assigned = sorted(c.name for c in loaded.classes.values() if c.rule == ASSIGNED)
    if assigned:
        print(
            f"note: {len(assigned)} class names were numbered in sorted order ({shown(', '.join(assigned[:5]))}"
            f"{', ...' if len(assigned) > 5 else ''}); a new class sorting before them would renumber them: "
            f"pin {INGEST_CLASSES}'s class_map in ingest.class_map"
        )
    if len(rejected):
        print(f"\nrejected inputs ({len(rejected)}; all listed in {INGEST_REJECTED}):")
        print_table([(shown(p), shown(r)) for p, r in loaded.rejected[:10]], ("path", "reason"))
        if len(rejected) > 10:
            print(f"... and {len(rejected) - 10} more")
    return 0
