"""The outcome of one expectation and of the whole gate, in the shape summary.json and the failure table use."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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


def summary(results: list[CheckResult], counts: dict[str, int]) -> dict[str, Any]:
    """The content of reports/validation/summary.json: one entry per expectation, keyed by name (DVC metrics)."""
    return {
        "passed": gate_passed(results),
        "errors_failed": sum(r.fails_gate for r in results),
        "warnings_failed": sum(r.severity == "warning" and not r.success for r in results),
        "rows": counts,
        "expectations": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
    }


def failure_rows(results: list[CheckResult]) -> list[tuple]:
    """(check, severity, observed, allowed, rows) for every failed expectation, errors first."""
    failed = sorted((r for r in results if not r.success), key=lambda r: (r.severity != "error", r.name))
    return [(r.name, r.severity, r.observed, r.allowed, "-" if r.rows is None else r.rows) for r in failed]
