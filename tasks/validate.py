"""DVC stage ``validate``: data/ingest/{train,test}.parquet -> clean tables, quarantine, reports/validation/.

The data-quality and bias gate (and the CI gate): row checks quarantine rows
(never drop them), balance checks measure label and attribute bias, Great
Expectations validates it all and renders Data Docs. Every output is written
before the verdict, so a failing run still leaves its report for CI to upload.
"""

from __future__ import annotations

import argparse

import pandas as pd

from genqc.config import Params
from genqc.data.table import LABEL, TABLE_COLUMNS
from genqc.errors import ConfigError, DataError, GateFailure
from genqc.io import write_json, write_parquet
from genqc.quality import checks as qc
from genqc.quality.balance import expected_shares
from genqc.quality.quarantine import check_accounting, split_rows
from genqc.quality.result import CheckResult, failure_rows, gate_passed, summary
from genqc.quality.suite import BalanceRules, Check, balance_batch, distribution_checks, row_checks, run_checks
from tasks.common import params_from_args, print_table
from tasks.paths import INGEST_DIR, VALIDATE_DIR, VALIDATION_REPORTS

SPLITS = ("train", "test")
DOCS = VALIDATION_REPORTS / "docs"


def _read_split(split: str) -> pd.DataFrame:
    path = INGEST_DIR / f"{split}.parquet"
    if not path.is_file():
        raise ConfigError(f"{path} not found; run `genqc ingest` (or `dvc repro ingest`) before `genqc validate`")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path} is not a readable Parquet table ({exc}); re-run `genqc ingest`") from None


def _expected_labels(params: Params, train: pd.DataFrame) -> tuple[int, ...]:
    cfg = params.validate_
    if cfg.expected_labels is not None:
        return tuple(cfg.expected_labels)
    if cfg.class_weights:
        return tuple(sorted(cfg.class_weights))
    labels = train[LABEL].dropna() if LABEL in train.columns else pd.Series([], dtype="int64")
    return tuple(sorted(int(v) for v in labels.unique()))


def _check_attributes(attributes: list[str], frames: dict[str, pd.DataFrame]) -> None:
    for split, frame in frames.items():
        missing = [a for a in attributes if a not in frame.columns]
        if missing:
            extra = sorted(set(frame.columns) - set(TABLE_COLUMNS))
            raise ConfigError(f"validate.attributes names {missing}, not columns of {INGEST_DIR}/{split}.parquet; "
                              f"its metadata columns are {extra or 'none'}")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    cfg, severity = params.validate_, params.validate_.severity.model_dump(by_alias=True)
    frames = {split: _read_split(split) for split in SPLITS}
    _check_attributes(cfg.attributes, frames)
    rules = qc.RowRules(
        image_size=params.ingest.image_size, channels=params.ingest.channels,
        expected_labels=_expected_labels(params, frames["train"]), blank_max_mean=cfg.blank_max_mean,
        saturated_min_mean=cfg.saturated_min_mean, min_std=cfg.min_std, hamming=cfg.near_duplicate_hamming,
        max_pixel_diff=cfg.near_duplicate_max_pixel_diff, attributes=tuple(cfg.attributes),
    )  # fmt: skip
    bias = BalanceRules(tolerance=cfg.balance_tolerance, max_kl=cfg.max_kl, class_weights=cfg.class_weights,
                        attribute_weights=cfg.attribute_weights)  # fmt: skip

    # Row checks: per-row quantities and failure flags (pure NumPy), then cross-split leakage.
    filled = {s: qc.with_required_columns(f, rules.attributes) for s, f in frames.items()}
    measured = {s: qc.measure(f, image_size=rules.image_size, channels=rules.channels) for s, f in filled.items()}
    flags = {s: qc.row_flags(filled[s], measured[s], rules) for s in SPLITS}
    leaked, near_leaked = qc.leakage_flags(filled["train"], measured["train"], filled["test"], measured["test"], rules)
    flags["test"][qc.flag_column(qc.LEAKAGE)] = leaked
    flags["test"][qc.flag_column(qc.NEAR_LEAKAGE)] = near_leaked

    # The suite: row expectations on the table plus its measured columns, balance on per-category tables.
    gx_frames: dict[str, pd.DataFrame] = {}
    checks: list[Check] = []
    label_expected = expected_shares(rules.expected_labels, cfg.class_weights)
    # Uniform attribute expectations span the categories seen in either split, so a group missing from one shows.
    attribute_expected = {
        a: expected_shares(sorted(pd.concat([f[a] for f in frames.values()]).dropna().astype(str).unique()),
                           cfg.attribute_weights.get(a))
        for a in cfg.attributes
    }  # fmt: skip
    for split, frame in frames.items():
        gx_frame = pd.concat([frame, measured[split].stats, flags[split]],
                             axis=1)  # fmt: skip
        checks += row_checks(split, rules, severity, cfg.max_row_fraction)
        columns = [(LABEL, label_expected, True)] if LABEL in frame.columns else []
        for attribute in cfg.attributes:
            gx_frame[attribute] = frame[attribute].astype("string")
            columns.append((attribute, attribute_expected[attribute], False))
        for column, expected, is_label in columns:
            found, table = distribution_checks(split, column, gx_frame[column], expected, bias, severity,
                                               is_label=is_label)  # fmt: skip
            checks += found
            gx_frames[balance_batch(split, column)] = table
        gx_frames[split] = gx_frame
    results = run_checks(gx_frames, checks, DOCS)

    # Quarantine every row failing an enabled row check; write everything before the verdict.
    enabled = [c for c in qc.ROW_CHECKS if severity[c] != "off"]
    clean, quarantined = {}, []
    for split, frame in frames.items():
        clean[split], bad = split_rows(frame, flags[split], enabled, split)
        quarantined.append(bad)
    quarantine = pd.concat(quarantined, ignore_index=True)
    counts = {"ingested_" + s: len(f) for s, f in frames.items()} | {"clean_" + s: len(f) for s, f in clean.items()}
    counts["quarantined"] = len(quarantine)
    check_accounting({s: len(f) for s, f in frames.items()}, {s: len(f) for s, f in clean.items()}, len(quarantine))
    for split, frame in clean.items():
        write_parquet(frame, VALIDATE_DIR / f"{split}.parquet")
    write_parquet(quarantine, VALIDATE_DIR / "quarantine.parquet")
    write_json(summary(results, counts), VALIDATION_REPORTS / "summary.json")
    _print_summary(results, counts, quarantine)
    if not gate_passed(results):
        failed = sum(r.fails_gate for r in results)
        raise GateFailure(f"{failed} error-level expectation(s) failed; details in {VALIDATION_REPORTS}/summary.json "
                          f"and {DOCS}/index.html; quarantined rows in {VALIDATE_DIR}/quarantine.parquet")  # fmt: skip
    return 0


def _print_summary(results: list[CheckResult], counts: dict[str, int], quarantine: pd.DataFrame) -> None:
    print(f"validate {INGEST_DIR}/ -> {VALIDATE_DIR}/, {VALIDATION_REPORTS}/ ({len(results)} expectations)")
    print_table([(s, counts[f"ingested_{s}"], counts[f"clean_{s}"], counts[f"ingested_{s}"] - counts[f"clean_{s}"])
                 for s in SPLITS], ("split", "ingested", "clean", "quarantined"))  # fmt: skip
    if len(quarantine):
        reasons = quarantine["reasons"].explode().value_counts()
        print("\nquarantine reasons: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    failed = failure_rows(results)
    verdict = "PASSED" if gate_passed(results) else "FAILED"
    print(f"\ngate {verdict}: {sum(r.success for r in results)} of {len(results)} expectations met")
    if failed:
        print_table(failed, ("check", "severity", "observed", "allowed", "rows"))
