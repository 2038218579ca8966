"""The Great Expectations suite: built in code from the check rules, run on pandas frames, rendered as Data Docs.

``build_checks`` turns the rules into a list of ``Check`` specs (pure, no GX);
``run_checks`` runs them with GX Core 1.x in an ephemeral (in-memory) context
and renders Data Docs into one folder. Nothing GX writes lands anywhere else:
the context has in-memory stores, analytics are off, and there is no network.

Row checks validate the per-row columns that genqc.quality.checks computed
(pixel statistics, decoded shape, duplicate and leakage flags) with GX's own
expectations (not-null, in-set, between), so the suite reports exactly what the
quarantine acted on. Balance checks validate a small per-category table and the
KL divergence of the column itself.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from genqc.data.table import LABEL, TABLE_COLUMNS
from genqc.quality import balance
from genqc.quality.checks import (
    ATTRIBUTE_BALANCE,
    ATTRIBUTE_KL,
    BLANK,
    CHANNELS_CHECK,
    CLASS_BALANCE,
    CLASS_KL,
    DECODE,
    DECODED_CHANNELS,
    DECODED_HEIGHT,
    DECODED_WIDTH,
    EXACT_DUPLICATE,
    LABELS,
    LEAKAGE,
    NEAR_CONSTANT,
    NEAR_DUPLICATE,
    NEAR_LEAKAGE,
    NULLS,
    PIXEL_MEAN,
    PIXEL_STD,
    REQUIRED_COLUMNS,
    SATURATED,
    SCHEMA,
    SIZE,
    RowRules,
    flag_column,
)  # fmt: skip
from genqc.quality.result import CheckResult

OFF = "off"  # the severity that removes a check


@dataclass(frozen=True)
class Check:
    """One expectation: which batch it runs on, the GX expectation class and its arguments, and how to report it."""

    name: str  # unique, e.g. "test.leakage" or "train.nulls.label"
    check: str  # the severity key in params.yaml's validate.severity
    split: str
    severity: str
    batch: str  # key of the frame it runs on
    expectation: str  # GX expectation class name
    kwargs: dict[str, Any]
    allowed: str  # what passes, in words, for the failure table
    row_check: bool = False  # True: unexpected rows are counted (and quarantined)
    observed: str | None = None  # a computed observed value that says more than GX's (balance checks)


@dataclass(frozen=True)
class BalanceRules:
    """Expected distributions and bounds for the bias checks."""

    tolerance: float
    max_kl: float
    class_weights: Mapping[int, float] | None = None
    attribute_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def balance_batch(split: str, column: str) -> str:
    return f"{split}_{column}_balance"


def _row(name: str, check: str, split: str, severities: Mapping[str, str], mostly: float, expectation: str,
         allowed: str, **kwargs: Any) -> Check:  # fmt: skip
    return Check(name=name, check=check, split=split, severity=severities[check], batch=split, expectation=expectation,
                 kwargs={**kwargs, "mostly": mostly}, allowed=allowed, row_check=True)  # fmt: skip


def _flag(check: str, split: str, severities: Mapping[str, str], mostly: float, allowed: str) -> Check:
    return _row(f"{split}.{check}", check, split, severities, mostly, "ExpectColumnValuesToBeInSet", allowed,
                column=flag_column(check), value_set=[False])  # fmt: skip


def row_checks(split: str, rules: RowRules, severities: Mapping[str, str], max_row_fraction: float) -> list[Check]:
    """The schema and per-row expectations of one split (leakage ones only for the test split)."""
    mostly = 1.0 - max_row_fraction
    share = f" (on up to {max_row_fraction:.2%} of rows)" if max_row_fraction else ""
    columns = [*TABLE_COLUMNS, *rules.attributes]
    checks = [
        Check(name=f"{split}.schema", check=SCHEMA, split=split, severity=severities[SCHEMA], batch=split,
              expectation="ExpectTableColumnsToMatchSet", kwargs={"column_set": columns, "exact_match": False},
              allowed="the image-table columns present"),
        Check(name=f"{split}.schema.label_type", check=SCHEMA, split=split, severity=severities[SCHEMA], batch=split,
              expectation="ExpectColumnValuesToBeInTypeList",
              kwargs={"column": LABEL, "type_list": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"]},
              allowed="integer labels"),
    ]  # fmt: skip
    checks += [_row(f"{split}.nulls.{c}", NULLS, split, severities, mostly, "ExpectColumnValuesToNotBeNull",
                    f"no nulls{share}", column=c) for c in (*REQUIRED_COLUMNS, *rules.attributes)]  # fmt: skip
    labels = sorted(rules.expected_labels)
    checks += [
        _row(f"{split}.labels", LABELS, split, severities, mostly, "ExpectColumnValuesToBeInSet",
             f"labels in {labels}{share}", column=LABEL, value_set=labels),
        _flag(DECODE, split, severities, mostly, f"every image decodes{share}"),
        _row(f"{split}.size.height", SIZE, split, severities, mostly, "ExpectColumnValuesToBeBetween",
             f"height {rules.image_size}{share}", column=DECODED_HEIGHT, min_value=rules.image_size,
             max_value=rules.image_size),
        _row(f"{split}.size.width", SIZE, split, severities, mostly, "ExpectColumnValuesToBeBetween",
             f"width {rules.image_size}{share}", column=DECODED_WIDTH, min_value=rules.image_size,
             max_value=rules.image_size),
        _row(f"{split}.channels", CHANNELS_CHECK, split, severities, mostly, "ExpectColumnValuesToBeInSet",
             f"{rules.channels} channel(s){share}", column=DECODED_CHANNELS, value_set=[rules.channels]),
        _row(f"{split}.blank", BLANK, split, severities, mostly, "ExpectColumnValuesToBeBetween",
             f"pixel mean > {rules.blank_max_mean}{share}", column=PIXEL_MEAN, min_value=rules.blank_max_mean,
             strict_min=True),
        _row(f"{split}.saturated", SATURATED, split, severities, mostly, "ExpectColumnValuesToBeBetween",
             f"pixel mean < {rules.saturated_min_mean}{share}", column=PIXEL_MEAN,
             max_value=rules.saturated_min_mean, strict_max=True),
        _row(f"{split}.near_constant", NEAR_CONSTANT, split, severities, mostly, "ExpectColumnValuesToBeBetween",
             f"pixel std >= {rules.min_std}{share}", column=PIXEL_STD, min_value=rules.min_std),
        _flag(EXACT_DUPLICATE, split, severities, mostly, f"no repeated content hash{share}"),
        _flag(NEAR_DUPLICATE, split, severities, mostly,
              f"no pHash within {rules.hamming} bits and pixels within {rules.max_pixel_diff}{share}"),
    ]  # fmt: skip
    if split == "test":
        checks += [
            _flag(LEAKAGE, split, severities, mostly, f"no test image also in train{share}"),
            _flag(NEAR_LEAKAGE, split, severities, mostly, f"no test image near a train image{share}"),
        ]
    return [c for c in checks if c.severity != OFF]


def distribution_checks(
    split: str, column: str, values: pd.Series, expected: Mapping, rules: BalanceRules,
    severities: Mapping[str, str], *, is_label: bool,
) -> tuple[list[Check], pd.DataFrame]:  # fmt: skip
    """Share-within-tolerance and KL checks of one column, plus the per-category table the share check runs on."""
    share_check, kl_check = (CLASS_BALANCE, CLASS_KL) if is_label else (ATTRIBUTE_BALANCE, ATTRIBUTE_KL)
    suffix = "" if is_label else f".{column}"
    table = balance.balance_table(values, expected, tolerance=rules.tolerance)
    partition = {"values": list(expected), "weights": [float(expected[k]) for k in expected]}
    checks = [
        Check(name=f"{split}.{share_check}{suffix}", check=share_check, split=split, severity=severities[share_check],
              batch=balance_batch(split, column), expectation="ExpectColumnValuesToBeInSet",
              kwargs={"column": balance.WITHIN, "value_set": [True]},
              allowed=f"each {column} share within ±{rules.tolerance:.0%} of expected",
              observed=balance.worst_deviation(table)),
        Check(name=f"{split}.{kl_check}{suffix}", check=kl_check, split=split, severity=severities[kl_check],
              batch=split, expectation="ExpectColumnKLDivergenceToBeLessThan",
              kwargs={"column": column, "partition_object": partition, "threshold": rules.max_kl},
              allowed=f"KL < {rules.max_kl} nats"),
    ]  # fmt: skip
    return [c for c in checks if c.severity != OFF], table


def _observed(check: Check, result: Any) -> tuple[Any, int | None]:
    """(observed value, rows failing) from a GX expectation result."""
    info = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"error: {result.exception_info.get('exception_message')}", None
    if check.row_check:
        unexpected = int(info.get("unexpected_count") or 0)
        return f"{unexpected} of {int(info.get('element_count') or 0)} rows", unexpected
    if check.observed is not None:
        return check.observed, None
    value = info.get("observed_value")
    if hasattr(value, "item"):
        value = value.item()
    if check.expectation == "ExpectTableColumnsToMatchSet":
        missing = (info.get("details") or {}).get("mismatched", {}).get("missing", [])
        value = f"missing {missing}" if missing else "all present"
    return value, None


def _context(docs_dir: Path) -> Any:
    """An ephemeral GX context: in-memory stores, no analytics, no progress bars, Data Docs into ``docs_dir``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )  # fmt: skip

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={"genqc": {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )  # fmt: skip
    return gx.get_context(mode="ephemeral", project_config=config)


def run_checks(frames: Mapping[str, pd.DataFrame], checks: list[Check], docs_dir: Path) -> list[CheckResult]:
    """Run every check with GX (one suite per frame) and render Data Docs into ``docs_dir``.

    The docs are built in a sibling temporary folder and swapped in at the end,
    so an interrupted run never leaves a half-written site.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"  # read when GX is imported: never send usage statistics
    import great_expectations as gx

    docs_dir = Path(docs_dir)
    building = docs_dir.with_name(f".{docs_dir.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    context = _context(building)
    source = context.data_sources.add_pandas("genqc")
    by_name: dict[str, CheckResult] = {}
    for batch, frame in frames.items():
        batch_checks = [c for c in checks if c.batch == batch]
        if not batch_checks:
            continue
        definition = source.add_dataframe_asset(batch).add_batch_definition_whole_dataframe(batch)
        suite = context.suites.add(gx.ExpectationSuite(name=f"genqc-{batch}"))
        for check in batch_checks:
            expectation_type = getattr(gx.expectations, check.expectation)
            meta = {"genqc_check": check.name, "severity": check.severity, "allowed": check.allowed}
            suite.add_expectation(expectation_type(**check.kwargs, meta=meta))
        validation = context.validation_definitions.add(gx.ValidationDefinition(name=batch, data=definition,
                                                                                suite=suite))  # fmt: skip
        outcome = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
        named = {c.name: c for c in batch_checks}
        for result in outcome.results:
            check = named[result.expectation_config.meta["genqc_check"]]
            observed, rows = _observed(check, result)
            by_name[check.name] = CheckResult(name=check.name, check=check.check, split=check.split,
                                              severity=check.severity, success=bool(result.success),
                                              observed=observed, allowed=check.allowed, rows=rows)  # fmt: skip
    context.build_data_docs()
    shutil.rmtree(docs_dir, ignore_errors=True)
    building.rename(docs_dir)
    return [by_name[c.name] for c in checks]
