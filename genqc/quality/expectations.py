"""genqc's own checks as Great Expectations Expectation classes: GX evaluates them and Data Docs say them in words.

Importing this module registers the classes with GX (it imports great_expectations,
which costs seconds: import it only where a suite is built, run or opened). A GX user
opening the genqc project does ``import genqc.quality.expectations`` first, then
``context.suites.get("genqc")`` works with GX's own API.

Each metric calls the same genqc function the quarantine uses (genqc.quality.duplicates,
genqc.quality.balance, genqc.data.table.decode_png), so the suite and the quarantine
cannot disagree about a row. Rows are scoped to a split with GX's own ``row_condition``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnAggregateExpectation,
    ColumnMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics import ColumnAggregateMetricProvider, column_aggregate_value
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    multicolumn_condition_partial,
)
from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
from great_expectations.render.renderer.renderer import renderer

from genqc.data.table import decode_png
from genqc.quality import balance, duplicates

TRAIN = "train"  # the value of the split column that marks reference (train) rows for the leakage checks
# Defaults (GX leaves a kwarg equal to its default out of the saved configuration, so renderers fall back to these).
MAX_DISTANCE, MAX_PIXEL_DIFF, TOLERANCE = 4, 1.0, 0.25
_DOMAIN = ("batch_id", "table", "column_list", "row_condition", "condition_parser", "ignore_row_if")


def _decodes(value: Any) -> bool:
    """True when a PNG decodes, or when there is no value (the null check reports missing images)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return True
    try:
        decode_png(bytes(value))
    except Exception:  # any failure to decode is the finding itself (PIL raises many types)
        return False
    return True


def _pixels(images: pd.Series) -> np.ndarray:
    """(N, S, S, C) uint8 from a column of decoded images of one shape (genqc's ``qc_pixels``, rows scoped by
    ``qc_usable``): the PNGs are decoded once, by genqc.quality.checks.measure, not again per expectation."""
    decoded = images.tolist()
    if not decoded:
        return np.zeros((0, 1, 1, 1), dtype=np.uint8)
    return np.stack(decoded)


def _hashes(phash: pd.Series) -> np.ndarray:
    return phash.fillna(0).astype(np.int64).to_numpy()


def _later_copies(values: pd.Series) -> pd.Series:
    return values.notna() & values.duplicated(keep="first")


# ----------------------------------------------------------------------------- metrics
class DecodablePng(ColumnMapMetricProvider):
    condition_metric_name = "column_values.genqc_decodable_png"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return column.map(_decodes).astype(bool)


class FirstOccurrence(ColumnMapMetricProvider):
    condition_metric_name = "column_values.genqc_first_occurrence"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return ~_later_copies(column)


class NoEarlierNearDuplicate(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.genqc_no_earlier_near_duplicate"
    condition_domain_keys = _DOMAIN
    condition_value_keys = ("max_distance", "max_pixel_diff")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, max_distance: int, max_pixel_diff: float, **kwargs: Any) -> pd.Series:
        sha, phash, pixels = column_list.columns
        eligible = (~_later_copies(column_list[sha]) & column_list[phash].notna()).to_numpy()
        near = duplicates.near_duplicates(
            _hashes(column_list[phash]),
            _pixels(column_list[pixels]),
            max_distance=max_distance,
            max_pixel_diff=max_pixel_diff,
            eligible=eligible,
        )
        return pd.Series(~near, index=column_list.index)


class NotInTrain(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.genqc_not_in_train"
    condition_domain_keys = _DOMAIN

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        split, sha = column_list.columns
        is_train = column_list[split] == TRAIN
        return ~(~is_train & column_list[sha].notna() & column_list[sha].isin(set(column_list.loc[is_train, sha])))


class NotNearTrain(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.genqc_not_near_train"
    condition_domain_keys = _DOMAIN
    condition_value_keys = ("max_distance", "max_pixel_diff")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, max_distance: int, max_pixel_diff: float, **kwargs: Any) -> pd.Series:
        split, sha, phash, pixels = column_list.columns
        is_train = (column_list[split] == TRAIN).to_numpy()
        train, test = column_list[is_train], column_list[~is_train]
        leaked = test[sha].notna() & test[sha].isin(set(train[sha]))
        train_ok, test_ok = train[phash].notna().to_numpy(), (test[phash].notna() & ~leaked).to_numpy()
        near = duplicates.near_leaked(
            _hashes(train[phash]),
            _pixels(train[pixels]),
            train_ok,
            _hashes(test[phash]),
            _pixels(test[pixels]),
            test_ok,
            max_distance=max_distance,
            max_pixel_diff=max_pixel_diff,
        )
        flags = pd.Series(False, index=column_list.index)
        flags[test.index] = near
        return ~flags


class WorstShareDeviation(ColumnAggregateMetricProvider):
    metric_name = "column.genqc_share_check"
    value_keys = ("weights", "tolerance")

    @column_aggregate_value(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, weights: dict, tolerance: float, **kwargs: Any) -> dict[str, Any]:
        table = balance.balance_table(
            column.astype("string"), {str(k): v for k, v in weights.items()}, tolerance=tolerance
        )
        return {"within": bool(table[balance.WITHIN].all()), "observed": balance.worst_deviation(table)}


# ----------------------------------------------------------------------------- expectations
def _no_bytes(value: Any) -> Any:
    """A result value with image bytes and pixels replaced by their size: results and Data Docs stay small."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, np.ndarray):
        return f"<{'x'.join(map(str, value.shape))} pixels>"
    if isinstance(value, list | tuple):
        return [_no_bytes(v) for v in value]
    if isinstance(value, dict):  # a multicolumn row: {column: value}
        return {k: _no_bytes(v) for k, v in value.items()}
    return value


class _WithoutImageBytes:
    """Row values GX reports for failing rows (partial_unexpected_*) carry no PNG bytes, only their size."""

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None) -> Any:
        outcome = super()._validate(metrics, runtime_configuration, execution_engine)  # type: ignore[misc]
        result = outcome.get("result", {}) if isinstance(outcome, dict) else {}
        for key in ("partial_unexpected_list", "unexpected_list"):
            if key in result:
                result[key] = [_no_bytes(v) for v in result[key]]
        for item in result.get("partial_unexpected_counts") or []:
            item["value"] = _no_bytes(item["value"])
        return outcome


def _condition_words(condition: Any) -> str:
    """A GX 1.x row condition (object or its dict) as ``qc_split == train and qc_usable == True``."""
    if hasattr(condition, "dict"):
        condition = condition.dict()
    if isinstance(condition, dict) and condition.get("type") == "and":
        return " and ".join(_condition_words(c) for c in condition.get("conditions", []))
    if isinstance(condition, dict) and "column" in condition:
        column = condition["column"].get("name") if isinstance(condition["column"], dict) else condition["column"]
        return f"{column} {condition.get('operator')} {condition.get('parameter')}"
    return str(condition)


def _words(template: str, params: dict[str, Any], configuration: Any) -> list[RenderedStringTemplateContent]:
    """One sentence for Data Docs; the split a check is scoped to is named by its row condition."""
    condition = (configuration.kwargs.get("row_condition") if configuration else None) or ""
    if condition:
        template = f"If $row_condition, then {template}"
        params = {**params, "row_condition": _condition_words(condition)}
    return [
        RenderedStringTemplateContent(
            content_block_type="string_template", string_template={"template": template, "params": params}
        )
    ]


def _mostly(configuration: Any) -> str:
    mostly = configuration.kwargs.get("mostly", 1.0) if configuration else 1.0
    return "" if mostly is None or mostly >= 1 else f" (at least {mostly:.2%} of rows)"


class ExpectImagesToDecode(_WithoutImageBytes, ColumnMapExpectation):
    """Every image's bytes decode as a PNG (missing images are left to the null check)."""

    map_metric = "column_values.genqc_decodable_png"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        column = configuration.kwargs.get("column") if configuration else "image"
        return _words(
            f"every $column value decodes as a PNG image{_mostly(configuration)}.", {"column": column}, configuration
        )


class ExpectColumnValuesToBeFirstOccurrences(ColumnMapExpectation):
    """No value repeats an earlier row's value: the first copy passes, every later copy fails (and is quarantined)."""

    map_metric = "column_values.genqc_first_occurrence"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        column = configuration.kwargs.get("column") if configuration else "value"
        return _words(
            f"no $column value repeats an earlier row's; the first copy is kept{_mostly(configuration)}.",
            {"column": column},
            configuration,
        )


def _near_copy_limits(kwargs: dict) -> dict[str, Any]:
    """The two near-copy thresholds an expectation was configured with, for its sentence in the Data Docs."""
    return {
        "max_distance": kwargs.get("max_distance", MAX_DISTANCE),
        "max_pixel_diff": kwargs.get("max_pixel_diff", MAX_PIXEL_DIFF),
    }


class ExpectImagesToHaveNoEarlierNearDuplicate(_WithoutImageBytes, MulticolumnMapExpectation):
    """No image is a near-copy of an earlier one: pHashes within ``max_distance`` bits and pixels within
    ``max_pixel_diff`` (mean absolute difference, 0-255). ``column_list`` is [content hash, pHash, pixels]."""

    map_metric = "multicolumn_values.genqc_no_earlier_near_duplicate"
    success_keys = ("mostly", "max_distance", "max_pixel_diff")
    max_distance: int = MAX_DISTANCE
    max_pixel_diff: float = MAX_PIXEL_DIFF
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        kw = configuration.kwargs if configuration else {}
        return _words(
            "no image is a near-duplicate of an earlier image: perceptual hashes within $max_distance "
            f"bits of 64 and a mean pixel difference of at most $max_pixel_diff{_mostly(configuration)}.",
            _near_copy_limits(kw),
            configuration,
        )


class ExpectTestImagesNotInTrain(MulticolumnMapExpectation):
    """No test image is pixel-identical to a train image. ``column_list`` is [split, content hash]."""

    map_metric = "multicolumn_values.genqc_not_in_train"
    success_keys = ("mostly",)
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        return _words(
            f"no test image is identical to a train image (train/test leakage){_mostly(configuration)}.",
            {},
            configuration,
        )


class ExpectTestImagesNotNearTrain(_WithoutImageBytes, MulticolumnMapExpectation):
    """No test image is a near-copy of a train image. ``column_list`` is [split, content hash, pHash, pixels]."""

    map_metric = "multicolumn_values.genqc_not_near_train"
    success_keys = ("mostly", "max_distance", "max_pixel_diff")
    max_distance: int = MAX_DISTANCE
    max_pixel_diff: float = MAX_PIXEL_DIFF
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        kw = configuration.kwargs if configuration else {}
        return _words(
            "no test image is a near-copy of a train image: perceptual hashes within $max_distance bits "
            f"and a mean pixel difference of at most $max_pixel_diff{_mostly(configuration)}.",
            _near_copy_limits(kw),
            configuration,
        )


class ExpectColumnSharesToMatchWeights(ColumnAggregateExpectation):
    """Each category's share of the column lies within ``tolerance`` (relative) of its expected share."""

    metric_dependencies = ("column.genqc_share_check",)
    success_keys = ("weights", "tolerance")
    weights: dict
    tolerance: float = TOLERANCE
    library_metadata: ClassVar[dict] = {"tags": ["genqc"], "contributors": ["genqc"]}

    def _validate(
        self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None
    ) -> dict[str, Any]:
        found = metrics["column.genqc_share_check"]
        return {"success": found["within"], "result": {"observed_value": found["observed"]}}

    @classmethod
    @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
    def _prescriptive_renderer(cls, configuration: Any = None, result: Any = None, **kwargs: Any) -> list:
        kw = configuration.kwargs if configuration else {}
        weights = kw.get("weights") or {}
        total = float(sum(weights.values())) or 1.0
        shares = ", ".join(f"{k}: {float(v) / total:.3f}" for k, v in weights.items())
        return _words(
            "each $column value's share lies within ±$tolerance_pct % of its expected share ($shares).",
            {
                "column": kw.get("column"),
                "tolerance_pct": f"{100 * float(kw.get('tolerance', TOLERANCE)):g}",
                "shares": shares,
            },
            configuration,
        )


CUSTOM = {
    cls.__name__: cls
    for cls in (
        ExpectImagesToDecode,
        ExpectColumnValuesToBeFirstOccurrences,
        ExpectImagesToHaveNoEarlierNearDuplicate,
        ExpectTestImagesNotInTrain,
        ExpectTestImagesNotNearTrain,
        ExpectColumnSharesToMatchWeights,
    )
}
