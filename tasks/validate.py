"""DVC stage ``validate``: data/ingest/{train,test}.parquet -> clean tables, quarantine, reports/validation/, gx/.

The data-quality and bias gate (and the CI gate). ``genqc.validate`` does the work
(row checks, quarantine, the Great Expectations Checkpoint with its Data Docs); this
stage reads the tables, writes every output before the verdict (so a failing run still
leaves its report for CI to upload) and prints one screen.
"""

from __future__ import annotations

import argparse

import pandas as pd

from genqc.errors import ConfigError, DataError, GateFailure
from genqc.io import write_json, write_parquet
from genqc.quality.result import FAILED, failure_rows
from genqc.quality.validation import SPLITS, ValidationResult, validate
from tasks.common import params_from_args, print_table
from tasks.paths import (
    DATA_DOCS as DOCS,
)
from tasks.paths import (
    GX_PROJECT,
    INGEST_DIR,
    INGEST_TEST,
    INGEST_TRAIN,
    QUARANTINE,
    VALIDATE_DIR,
    VALIDATED_TEST,
    VALIDATED_TRAIN,
    VALIDATION_REPORTS,
)
from tasks.paths import (
    VALIDATION_METRICS as METRICS,
)
from tasks.paths import (
    VALIDATION_SUMMARY as SUMMARY,
)

INPUTS = {"train": INGEST_TRAIN, "test": INGEST_TEST}
OUTPUTS = {"train": VALIDATED_TRAIN, "test": VALIDATED_TEST}


def _read_split(split: str) -> pd.DataFrame:
    path = INPUTS[split]
    if not path.is_file():
        raise ConfigError(f"{path} not found; run `genqc ingest` (or `dvc repro ingest`) before `genqc validate`")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path} is not a readable Parquet table ({exc}); re-run `genqc ingest`") from None


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    frames = {split: _read_split(split) for split in SPLITS}
    result = validate(
        frames["train"],
        frames["test"],
        params.validate_,
        image_size=params.ingest.image_size,
        channels=params.ingest.channels,
        project=GX_PROJECT,
        docs=DOCS,
    )
    for split, frame in result.clean.items():
        write_parquet(frame, OUTPUTS[split])
    write_parquet(result.quarantine, QUARANTINE)
    write_json(result.summary(), SUMMARY)
    write_json(result.metrics(), METRICS)
    _print_summary(result)
    if result.status == FAILED:
        failed = result.metrics()["errors_failed"]
        raise GateFailure(
            f"{failed} error-level expectation(s) failed; details in {SUMMARY} and {DOCS}/index.html; "
            f"quarantined rows in {QUARANTINE}"
        )
    return 0


def _print_summary(result: ValidationResult) -> None:
    counts, checks = result.counts, result.checks
    print(f"validate {INGEST_DIR}/ -> {VALIDATE_DIR}/, {VALIDATION_REPORTS}/ ({len(checks)} expectations)")
    print_table(
        [
            (s, counts[f"ingested_{s}"], counts[f"clean_{s}"], counts[f"ingested_{s}"] - counts[f"clean_{s}"])
            for s in SPLITS
        ],
        ("split", "ingested", "clean", "quarantined"),
    )
    if len(result.quarantine):
        reasons = result.quarantine["reasons"].explode().value_counts()
        print("\nquarantine reasons: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    print(
        f"\ngate {result.status.upper()}: {sum(r.success for r in checks)} of {len(checks)} expectations met; "
        f"Data Docs: {DOCS}/index.html"
    )
    failed = failure_rows(checks)
    if failed:
        print_table(failed, ("check", "severity", "observed", "allowed", "rows"))
