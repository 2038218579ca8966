"""DVC stage ``ingest``: the configured source -> data/ingest/{train,test,rejected}.parquet."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from genqc.data.sources import load_source
from genqc.data.split import stratified_split
from genqc.data.table import images_to_table
from genqc.errors import ConfigError, DataError
from genqc.io import write_json, write_parquet
from tasks.common import params_from_args, print_table
from tasks.paths import INGEST_DIR, INGEST_REJECTED, INGEST_SUMMARY, INGEST_TEST, INGEST_TRAIN


def _split_mask(hints: list[str] | None, labels: np.ndarray, split: str, fraction: float, seed: int) -> np.ndarray:
    if split == "source":
        if hints is None:
            raise ConfigError("ingest.split='source' but this source has no train/test split of its own; "
                              "use ingest.split: stratified")  # fmt: skip
        return np.asarray(hints) == "test"
    return stratified_split(labels, fraction, seed)


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg = params.ingest
    loaded = load_source(cfg.source, size=cfg.image_size, channels=cfg.channels, resize=cfg.resize)
    is_test = _split_mask(loaded.split_hints, loaded.labels, cfg.split, cfg.test_fraction, params.seed)
    table = images_to_table(
        loaded.images, loaded.labels, loaded.ids, class_names=loaded.class_names, orig_sizes=loaded.orig_sizes,
        orig_modes=loaded.orig_modes, sources=loaded.sources, extra=loaded.metadata,
    )  # fmt: skip
    rejected = pd.DataFrame({"path": [p for p, _ in loaded.rejected], "reason": [r for _, r in loaded.rejected]},
                            dtype="string")  # fmt: skip
    train, test = table[~is_test].reset_index(drop=True), table[is_test].reset_index(drop=True)
    if len(train) + len(test) + len(rejected) != loaded.n_inputs:
        raise DataError(f"ingest accounting mismatch: {loaded.n_inputs} inputs != {len(train)} train + "
                        f"{len(test)} test + {len(rejected)} rejected")  # fmt: skip
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(f"ingest.test_fraction={cfg.test_fraction} leaves {len(train)} train and {len(test)} "
                          "test images; both splits need at least one")  # fmt: skip
    write_parquet(train, INGEST_TRAIN)
    write_parquet(test, INGEST_TEST)
    write_parquet(rejected, INGEST_REJECTED)
    summary = {"inputs": loaded.n_inputs, "train": len(train), "test": len(test), "rejected": len(rejected),
               "classes": len(np.unique(loaded.labels))}  # fmt: skip
    write_json(summary, INGEST_SUMMARY)
    print(f"ingest {cfg.source} -> {INGEST_DIR}/ ({cfg.image_size}x{cfg.image_size}x{cfg.channels}, "
          f"resize={cfg.resize}, seed={params.seed})")  # fmt: skip
    print_table([(k, v) for k, v in summary.items()], ("", "count"))
    if len(rejected):
        print(f"\nrejected inputs ({len(rejected)}; all listed in {INGEST_REJECTED}):")
        print_table([(p, r) for p, r in loaded.rejected[:10]], ("path", "reason"))
        if len(rejected) > 10:
            print(f"... and {len(rejected) - 10} more")
    return 0
