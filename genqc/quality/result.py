"""The outcome of one expectation and of the whole gate: status words, the summary and the DVC metric."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PASSED, WARNINGS, FAILED = "passed", "passed with warnings", "failed"  # the same words as genqc.quality.datadocs

# reports/validation/metrics.json: a handful of scalars `dvc metrics diff` and `dvc exp show` compare.
EXPECTATIONS_PASSED, ERRORS_FAILED, WARNINGS_FAILED = "expectations_passed", "errors_failed", "warnings_failed"
ROWS_CLEAN, ROWS_QUARANTINED = "rows_clean", "rows_quarantined"


@dataclass(frozen=True)
class CheckResult:
    name: str  # e.g. "test.leakage"
    check: str  # the severity key in params.yaml's validate.severity
    split: str
    severity: str  # error | warning
    success: bool
    observed: Any  # GX's observed value, or a row count / worst category in words
    allowed: str
    rows: int | None = None  # rows failing a row check; None for table-level checks

    @property
    def fails_gate(self) -> bool:
        return self.severity == "error" and not self.success


def gate_passed(results: list[CheckResult]) -> bool:
    """The gate passes when no error-level expectation failed; warnings never fail it."""
    return not any(r.fails_gate for r in results)


def status(results: list[CheckResult]) -> str:
    """passed, passed with warnings, or failed: the word stdout, summary.json and Data Docs all use."""
    if not gate_passed(results):
        return FAILED
    return WARNINGS if any(not r.success for r in results) else PASSED


def metrics(results: list[CheckResult], counts: dict[str, int]) -> dict[str, int]:
    """The DVC metric: five scalars, so `dvc exp show` stays a few columns wide."""
    return {
        EXPECTATIONS_PASSED: sum(r.success for r in results),
        ERRORS_FAILED: sum(r.fails_gate for r in results),
        WARNINGS_FAILED: sum(r.severity == "warning" and not r.success for r in results),
        ROWS_CLEAN: sum(v for k, v in counts.items() if k.startswith("clean_")),
        ROWS_QUARANTINED: counts["quarantined"],
    }


def summary(results: list[CheckResult], counts: dict[str, int]) -> dict[str, Any]:
    """reports/validation/summary.json (a plain output, not a metric): the verdict and one entry per expectation."""
    return {
        "passed": gate_passed(results),
        "status": status(results),
        **{k: v for k, v in metrics(results, counts).items() if k in (ERRORS_FAILED, WARNINGS_FAILED)},
        "rows": counts,
        "expectations": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
    }


def failure_rows(results: list[CheckResult]) -> list[tuple]:
    """(check, severity, observed, allowed, rows) for every failed expectation, errors first."""
    failed = sorted((r for r in results if not r.success), key=lambda r: (r.severity != "error", r.name))
    return [(r.name, r.severity, r.observed, r.allowed, "-" if r.rows is None else r.rows) for r in failed]
