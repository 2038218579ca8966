"""``genqc.validate``: image tables in, clean tables, quarantine, check results and counts out.

The policy lives here, not in the stage: which labels are expected, what a uniform
attribute distribution spans, which rows are quarantined and why. genqc computes the
per-row quantities and flags (genqc.quality.checks) for the quarantine; Great
Expectations evaluates the same checks (genqc.quality.suite, genqc.quality.expectations)
through the project's Checkpoint and renders Data Docs. No params file, no repo paths:
the caller passes the settings section and, optionally, where the GX project lives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from genqc.config import ValidateParams
from genqc.data.table import LABEL, TABLE_COLUMNS
from genqc.errors import ConfigError
from genqc.quality import checks as qc
from genqc.quality.balance import expected_shares
from genqc.quality.quarantine import check_accounting, split_rows
from genqc.quality.result import CheckResult, gate_passed, metrics, status, summary
from genqc.quality.suite import SPLIT_COLUMN, BalanceRules, Check, distribution_checks, row_checks, table_checks

SPLITS = ("train", "test")


@dataclass
class ValidationResult:
    """What validation yields; nothing is written anywhere but the GX project."""

    clean: dict[str, pd.DataFrame]  # split -> rows failing no enabled row check
    quarantine: pd.DataFrame  # every other row, with its split and reasons
    checks: list[CheckResult]
    counts: dict[str, int]  # ingested_<split>, clean_<split>, quarantined
    docs: Path | None = None  # the Data Docs site this run rebuilt (None: a throwaway project's)

    @property
    def passed(self) -> bool:
        return gate_passed(self.checks)

    @property
    def status(self) -> str:
        return status(self.checks)

    def summary(self) -> dict[str, Any]:
        return summary(self.checks, self.counts)

    def metrics(self) -> dict[str, int]:
        return metrics(self.checks, self.counts)


def expected_labels(settings: ValidateParams, train: pd.DataFrame) -> tuple[int, ...]:
    """``expected_labels``, else ``class_weights``' keys, else the labels the train split holds."""
    if settings.expected_labels is not None:
        return tuple(settings.expected_labels)
    if settings.class_weights:
        return tuple(sorted(settings.class_weights))
    labels = train[LABEL].dropna() if LABEL in train.columns else pd.Series([], dtype="int64")
    return tuple(sorted(int(v) for v in labels.unique()))


def _check_attributes(attributes: list[str], frames: Mapping[str, pd.DataFrame]) -> None:
    for split, frame in frames.items():
        missing = [a for a in attributes if a not in frame.columns]
        if missing:
            extra = sorted(set(frame.columns) - set(TABLE_COLUMNS))
            raise ConfigError(
                f"validate.attributes names {missing}, not columns of the {split} table; "
                f"its metadata columns are {extra or 'none'}"
            )


def _rules(settings: ValidateParams, train: pd.DataFrame, image_size: int, channels: int) -> qc.RowRules:
    return qc.RowRules(
        image_size=image_size,
        channels=channels,
        expected_labels=expected_labels(settings, train),
        blank_max_mean=settings.blank_max_mean,
        saturated_min_mean=settings.saturated_min_mean,
        min_std=settings.min_std,
        hamming=settings.near_duplicate_hamming,
        max_pixel_diff=settings.near_duplicate_max_pixel_diff,
        attributes=tuple(settings.attributes),
    )


def _observed(check: Check, result: Any) -> tuple[Any, int | None]:
    """(observed value, rows failing) from a GX expectation result."""
    info = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"error: {result.exception_info.get('exception_message')}", None
    if check.row_check:
        unexpected = int(info.get("unexpected_count") or 0)
        return f"{unexpected} of {int(info.get('element_count') or 0)} rows", unexpected
    value = info.get("observed_value")
    if hasattr(value, "item"):
        value = value.item()
    if check.expectation == "ExpectTableColumnsToMatchSet":
        missing = (info.get("details") or {}).get("mismatched", {}).get("missing", [])
        value = f"missing {missing}" if missing else "all present"
    return value, None


def validate(
    train: pd.DataFrame,
    test: pd.DataFrame,
    settings: ValidateParams | None = None,
    *,
    image_size: int,
    channels: int,
    project: Path | None = None,
    docs: Path | None = None,
    run_name: str = "genqc-validate",
) -> ValidationResult:
    """Validate a train and a test image table; quarantine failing rows with their reasons.

    ``project`` is the directory holding (or to hold) the ``gx/`` project whose Data Docs
    site and history this run updates; None validates in a throwaway project. ``docs`` is
    where a newly created project puts its Data Docs site (an existing one keeps its own).
    Raises ConfigError when ``settings.attributes`` names a column the tables lack.
    """
    settings = settings or ValidateParams()
    frames = {"train": train, "test": test}
    _check_attributes(settings.attributes, frames)
    severity = settings.severity.model_dump(by_alias=True)
    rules = _rules(settings, train, image_size, channels)

    # genqc's own pass: per-row measurements and failure flags, then cross-split leakage (the quarantine's source).
    filled = {s: qc.with_required_columns(f, rules.attributes) for s, f in frames.items()}
    measured = {s: qc.measure(f, image_size=image_size, channels=channels) for s, f in filled.items()}
    flags = {s: qc.row_flags(filled[s], measured[s], rules) for s in SPLITS}
    leaked, near_leaked = qc.leakage_flags(filled["train"], measured["train"], filled["test"], measured["test"], rules)
    flags["test"][qc.flag_column(qc.LEAKAGE)] = leaked
    flags["test"][qc.flag_column(qc.NEAR_LEAKAGE)] = near_leaked

    # The suite, evaluated by GX on both splits stacked (each check scoped to its split by a row condition).
    bias = BalanceRules(
        tolerance=settings.balance_tolerance,
        max_kl=settings.max_kl,
        class_weights=settings.class_weights,
        attribute_weights=settings.attribute_weights,
    )
    label_expected = expected_shares(rules.expected_labels, settings.class_weights)
    # Uniform attribute expectations span the categories seen in either split, so a group missing from one shows.
    attribute_expected = {
        a: expected_shares(
            sorted(pd.concat([f[a] for f in frames.values()]).dropna().astype(str).unique()),
            settings.attribute_weights.get(a),
        )
        for a in settings.attributes
    }
    checks = table_checks(rules, severity)
    stacked = []
    for split, frame in frames.items():
        checks += row_checks(split, rules, severity, settings.max_row_fraction)
        if LABEL in frame.columns:
            checks += distribution_checks(split, LABEL, label_expected, bias, severity, is_label=True)
        for attribute in settings.attributes:
            checks += distribution_checks(
                split, attribute, attribute_expected[attribute], bias, severity, is_label=False
            )
        columns = [frame, measured[split].stats, measured[split].pixel_column()]
        stacked.append(pd.concat(columns, axis=1).assign(**{SPLIT_COLUMN: split}))
    batch = pd.concat(stacked, ignore_index=True)
    for attribute in settings.attributes:
        batch[attribute] = batch[attribute].astype("string")
    results, site = _run_suite(checks, batch, project=project, docs=docs, run_name=run_name, history=settings.history)

    # Quarantine every row failing an enabled row check.
    enabled = [c for c in qc.ROW_CHECKS if severity[c] != "off"]
    clean, quarantined = {}, []
    for split, frame in frames.items():
        clean[split], bad = split_rows(frame, flags[split], enabled, split)
        quarantined.append(bad)
    quarantine = pd.concat(quarantined, ignore_index=True)
    counts = {"ingested_" + s: len(f) for s, f in frames.items()} | {"clean_" + s: len(f) for s, f in clean.items()}
    counts["quarantined"] = len(quarantine)
    check_accounting({s: len(f) for s, f in frames.items()}, {s: len(f) for s, f in clean.items()}, len(quarantine))
    return ValidationResult(clean=clean, quarantine=quarantine, checks=results, counts=counts, docs=site)


def _run_suite(
    checks: list[Check], batch: pd.DataFrame, *, project: Path | None, docs: Path | None, run_name: str, history: int
) -> tuple[list[CheckResult], Path | None]:
    """Run the checks through the GX project's Checkpoint: one CheckResult per check (in order), the docs site."""
    from genqc.quality import project as gx_project  # imports great_expectations (seconds): only when validating

    with tempfile.TemporaryDirectory(prefix="genqc-gx-") as scratch:
        root = Path(project) if project is not None else Path(scratch)
        context = gx_project.open_project(root, Path(docs) if docs is not None else root / "docs")
        site = gx_project.docs_dir(context)
        outcome = gx_project.run(context, checks, batch, run_name=run_name, history=history, docs_dir=site)
    named = {c.name: c for c in checks}
    by_name = {}
    for result in outcome.results:
        check = named[result.expectation_config.meta["genqc_check"]]
        observed, rows = _observed(check, result)
        by_name[check.name] = CheckResult(
            name=check.name,
            check=check.check,
            split=check.split,
            severity=check.severity,
            success=bool(result.success),
            observed=observed,
            allowed=check.allowed,
            rows=rows,
        )
    return [by_name[c.name] for c in checks], (site if project is not None else None)
