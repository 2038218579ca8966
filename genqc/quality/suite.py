"""The suite as data: one ``Check`` spec per expectation, built from the rules (pure, no Great Expectations).

Every split is validated in one batch, the splits' rows stacked with a ``qc_split``
column, and each check is scoped to its split with GX's own ``row_condition``; the
leakage checks see both splits at once. genqc.quality.project turns these specs into
a saved GX suite and runs it through a Checkpoint.

Row checks validate the image table's own columns (decode, duplicate ids and content,
near-duplicates, leakage: genqc's custom expectations in genqc.quality.expectations)
and the per-row measurements of genqc.quality.checks (decoded shape, pixel statistics)
with GX's built-in expectations. Distribution checks validate the label and attribute
columns themselves (shares within tolerance, KL divergence).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genqc.data.table import ID, IMAGE, LABEL, PHASH, SHA256, TABLE_COLUMNS
from genqc.quality.checks import (
    ATTRIBUTE_BALANCE,
    ATTRIBUTE_KL,
    BLANK,
    CHANNELS_CHECK,
    CLASS_BALANCE,
    DECODE,
    DECODED,
    DECODED_CHANNELS,
    DECODED_HEIGHT,
    DECODED_WIDTH,
    DUPLICATE_ID,
    EXACT_DUPLICATE,
    LABEL_KL,
    LABELS,
    LEAKAGE,
    NEAR_CONSTANT,
    NEAR_DUPLICATE,
    NEAR_LEAKAGE,
    NULLS,
    PIXEL_MEAN,
    PIXEL_STD,
    PIXELS,
    REQUIRED_COLUMNS,
    SATURATED,
    SCHEMA,
    SIZE,
    USABLE,
    RowRules,
)

OFF = "off"  # the severity that removes a check
SPLIT_COLUMN = "qc_split"  # the split each stacked row came from
INTEGER_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "Int64"]


@dataclass(frozen=True)
class Check:
    """One expectation: its GX class and arguments, its severity, and how to report it."""

    name: str  # unique, e.g. "test.leakage" or "train.nulls.label"
    check: str  # the severity key in params.yaml's validate.severity
    split: str  # "train", "test" or "all"
    severity: str  # error | warning
    expectation: str  # GX expectation class name (built-in or genqc.quality.expectations)
    kwargs: dict[str, Any]
    allowed: str  # what passes, in words, for the failure table
    row_check: bool = False  # True: unexpected rows are counted (and quarantined)
    scope: tuple[tuple[str, Any], ...] = ()  # (column, value) pairs a row must match to be checked (GX row_condition)


@dataclass(frozen=True)
class BalanceRules:
    """Expected distributions and bounds for the bias checks."""

    tolerance: float
    max_kl: float
    class_weights: Mapping[int, float] | None = None
    attribute_weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def in_split(split: str, *extra: tuple[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The scope of a check on one split (and optionally only rows where each extra column has its value)."""
    return ((SPLIT_COLUMN, split), *extra)


def table_checks(rules: RowRules, severities: Mapping[str, str]) -> list[Check]:
    """The schema of the stacked table: every image-table column (and attribute) present, integer labels."""
    columns = [*TABLE_COLUMNS, *rules.attributes]
    checks = [
        Check(
            name="schema",
            check=SCHEMA,
            split="all",
            severity=severities[SCHEMA],
            expectation="ExpectTableColumnsToMatchSet",
            kwargs={"column_set": columns, "exact_match": False},
            allowed="the image-table columns present",
        ),
        Check(
            name="schema.label_type",
            check=SCHEMA,
            split="all",
            severity=severities[SCHEMA],
            expectation="ExpectColumnValuesToBeInTypeList",
            kwargs={"column": LABEL, "type_list": INTEGER_TYPES},
            allowed="integer labels",
        ),
    ]
    return [c for c in checks if c.severity != OFF]


def row_checks(split: str, rules: RowRules, severities: Mapping[str, str], max_row_fraction: float) -> list[Check]:
    """The per-row expectations of one split (the leakage ones only for the test split)."""
    mostly = 1.0 - max_row_fraction
    share = f" (on up to {max_row_fraction:.2%} of rows)" if max_row_fraction else ""

    def row(name: str, check: str, expectation: str, allowed: str, extra: tuple = (), **kwargs: Any) -> Check:
        return Check(
            name=f"{split}.{name}",
            check=check,
            split=split,
            severity=severities[check],
            expectation=expectation,
            kwargs={**kwargs, "mostly": mostly},
            allowed=allowed + share,
            row_check=True,
            scope=in_split(split, *extra),
        )

    near = {"max_distance": rules.hamming, "max_pixel_diff": rules.max_pixel_diff}
    labels = sorted(rules.expected_labels)
    checks = [
        row(f"nulls.{c}", NULLS, "ExpectColumnValuesToNotBeNull", "no nulls", column=c)
        for c in (*REQUIRED_COLUMNS, *rules.attributes)
    ]
    checks += [
        row(DUPLICATE_ID, DUPLICATE_ID, "ExpectColumnValuesToBeFirstOccurrences", "unique ids", column=ID),
        row(LABELS, LABELS, "ExpectColumnValuesToBeInSet", f"labels in {labels}", column=LABEL, value_set=labels),
        row(DECODE, DECODE, "ExpectImagesToDecode", "every image decodes", column=IMAGE),
        row(
            "size.height",
            SIZE,
            "ExpectColumnValuesToBeBetween",
            f"height {rules.image_size}",
            column=DECODED_HEIGHT,
            min_value=rules.image_size,
            max_value=rules.image_size,
        ),
        row(
            "size.width",
            SIZE,
            "ExpectColumnValuesToBeBetween",
            f"width {rules.image_size}",
            column=DECODED_WIDTH,
            min_value=rules.image_size,
            max_value=rules.image_size,
        ),
        row(
            CHANNELS_CHECK,
            CHANNELS_CHECK,
            "ExpectColumnValuesToBeInSet",
            f"{rules.channels} channel(s)",
            column=DECODED_CHANNELS,
            value_set=[rules.channels],
        ),
        row(
            BLANK,
            BLANK,
            "ExpectColumnValuesToBeBetween",
            f"pixel mean > {rules.blank_max_mean}",
            column=PIXEL_MEAN,
            min_value=rules.blank_max_mean,
            strict_min=True,
        ),
        row(
            SATURATED,
            SATURATED,
            "ExpectColumnValuesToBeBetween",
            f"pixel mean < {rules.saturated_min_mean}",
            column=PIXEL_MEAN,
            max_value=rules.saturated_min_mean,
            strict_max=True,
        ),
        row(
            NEAR_CONSTANT,
            NEAR_CONSTANT,
            "ExpectColumnValuesToBeBetween",
            f"pixel std >= {rules.min_std}",
            column=PIXEL_STD,
            min_value=rules.min_std,
        ),
        # A stored hash vouches for pixels only when they decode: a corrupt row is reported as such alone.
        row(
            EXACT_DUPLICATE,
            EXACT_DUPLICATE,
            "ExpectColumnValuesToBeFirstOccurrences",
            "no repeated content hash",
            extra=((DECODED, True),),
            column=SHA256,
        ),
        row(
            NEAR_DUPLICATE,
            NEAR_DUPLICATE,
            "ExpectImagesToHaveNoEarlierNearDuplicate",
            f"no pHash within {rules.hamming} bits and pixels within {rules.max_pixel_diff}",
            extra=((USABLE, True),),
            column_list=[SHA256, PHASH, PIXELS],
            **near,
        ),
    ]
    if split == "test":
        # Both splits in the domain (the train rows are the reference); only test rows can fail.
        both = {"mostly": mostly}
        checks += [
            Check(
                name="test.leakage",
                check=LEAKAGE,
                split="test",
                severity=severities[LEAKAGE],
                expectation="ExpectTestImagesNotInTrain",
                allowed="no test image also in train" + share,
                kwargs={"column_list": [SPLIT_COLUMN, SHA256], **both},
                row_check=True,
                scope=((DECODED, True),),
            ),
            Check(
                name="test.near_leakage",
                check=NEAR_LEAKAGE,
                split="test",
                severity=severities[NEAR_LEAKAGE],
                expectation="ExpectTestImagesNotNearTrain",
                allowed="no test image near a train image" + share,
                kwargs={"column_list": [SPLIT_COLUMN, SHA256, PHASH, PIXELS], **near, **both},
                row_check=True,
                scope=((USABLE, True),),
            ),
        ]
    return [c for c in checks if c.severity != OFF]


def distribution_checks(
    split: str, column: str, expected: Mapping, rules: BalanceRules, severities: Mapping[str, str], *, is_label: bool
) -> list[Check]:
    """Share-within-tolerance and KL checks of one column of one split."""
    share_check, kl_check = (CLASS_BALANCE, LABEL_KL) if is_label else (ATTRIBUTE_BALANCE, ATTRIBUTE_KL)
    suffix = "" if is_label else f".{column}"
    weights = {str(k): float(v) for k, v in expected.items()}
    partition = {"values": list(expected), "weights": [float(expected[k]) for k in expected]}
    checks = [
        Check(
            name=f"{split}.{share_check}{suffix}",
            check=share_check,
            split=split,
            severity=severities[share_check],
            expectation="ExpectColumnSharesToMatchWeights",
            kwargs={"column": column, "weights": weights, "tolerance": rules.tolerance},
            allowed=f"each {column} share within ±{rules.tolerance:.0%} of expected",
            scope=in_split(split),
        ),
        Check(
            name=f"{split}.{kl_check}{suffix}",
            check=kl_check,
            split=split,
            severity=severities[kl_check],
            expectation="ExpectColumnKLDivergenceToBeLessThan",
            kwargs={"column": column, "partition_object": partition, "threshold": rules.max_kl},
            allowed=f"KL < {rules.max_kl} nats",
            scope=in_split(split),
        ),
    ]
    return [c for c in checks if c.severity != OFF]
