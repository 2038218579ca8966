"""Quality gates: verdicts from a flat metrics mapping and per-key limits.

A gate is a metric key (any key in metrics.json) with a limit: ``max`` gates
pass when the value is at most the limit, ``min`` gates when it is at least the
limit. ``conservative`` judges the pessimistic end of the key's bootstrap
interval (``<key>_ci_high`` for a max gate, ``<key>_ci_low`` for a min gate),
so a pass then holds at the interval's confidence level rather than for one
lucky draw. A missing or non-finite value fails its gate: a NaN must never pass.

The library returns results; stages decide whether a failure exits non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from genqc.errors import ConfigError

GATES_PASSED = "gates_passed"
GATES_FAILED = "gates_failed"
GATE_PREFIX = "gate_"
# Suffixes that qualify another key (its interval, error or reference floor) rather than name a metric of its own.
QUALIFIER_SUFFIXES = ("_ci_low", "_ci_high", "_se", "_std", "_floor")

Kind = Literal["max", "min"]


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict with everything a failure table shows."""

    kind: Kind
    key: str
    limit: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    judged: float | None  # the number compared with the limit (value, or an interval end when conservative)
    passed: bool

    @property
    def name(self) -> str:
        """``max_fd_classifier``: the gate's name; metrics.json records it as ``gate_max_fd_classifier``."""
        return f"{self.kind}_{self.key}"

    @property
    def condition(self) -> str:
        return f"{'<=' if self.kind == 'max' else '>='} {format_number(self.limit)}"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def gateable_keys(metrics: Mapping[str, Any]) -> list[str]:
    """Keys a gate may name: numeric metrics, not intervals, not verdicts."""
    return sorted(
        key
        for key, value in metrics.items()
        if isinstance(value, int | float | type(None))
        and not isinstance(value, bool)
        and not key.startswith(GATE_PREFIX)
        and key not in (GATES_PASSED, GATES_FAILED)
        and not key.endswith(QUALIFIER_SUFFIXES)
    )


def check_gate_keys(metrics: Mapping[str, Any], maxima: Mapping[str, float], minima: Mapping[str, float]) -> None:
    """ConfigError naming every gated key that is not a metric, and the keys that are."""
    valid = gateable_keys(metrics)
    unknown = [
        f"gates.{kind}.{key}"
        for kind, limits in (("max", maxima), ("min", minima))
        for key in limits
        if key not in valid
    ]
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)}: no such metric in this run's metrics.json; fix the key in params.yaml "
            f"(gates section). Valid keys: {', '.join(valid)}"
        )


def evaluate_gates(
    metrics: Mapping[str, Any],
    *,
    maxima: Mapping[str, float],
    minima: Mapping[str, float],
    conservative: bool = False,
) -> list[GateResult]:
    """One result per gate, max gates first, each in the order given; unknown keys raise ConfigError."""
    check_gate_keys(metrics, maxima, minima)
    results = []
    for kind, limits in (("max", maxima), ("min", minima)):
        for key, limit in limits.items():
            value = _finite(metrics.get(key))
            low, high = _finite(metrics.get(f"{key}_ci_low")), _finite(metrics.get(f"{key}_ci_high"))
            judged = value
            if conservative and value is not None:
                bound = high if kind == "max" else low
                judged = bound if bound is not None else value  # no interval recorded: the point is all we have
            passed = judged is not None and (judged <= limit if kind == "max" else judged >= limit)
            results.append(GateResult(kind, key, float(limit), value, low, high, judged, passed))  # type: ignore[arg-type]
    return results


def verdicts(results: list[GateResult]) -> dict[str, Any]:
    """Flat metrics.json keys: ``gate_<name>`` per gate, ``gates_passed``, ``gates_failed``."""
    out: dict[str, Any] = {f"{GATE_PREFIX}{r.name}": r.passed for r in results}
    out[GATES_PASSED] = all(r.passed for r in results)
    out[GATES_FAILED] = sum(not r.passed for r in results)
    return out


def format_number(value: float | None) -> str:
    """Four significant digits, or ``n/a`` for a missing value."""
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def format_value(value: float | None, low: float | None, high: float | None) -> str:
    """``12.3 [11.1, 13.6]``: a value with its interval when there is one."""
    if low is None or high is None:
        return format_number(value)
    return f"{format_number(value)} [{format_number(low)}, {format_number(high)}]"


def gate_rows(results: list[GateResult], *, only_failed: bool = False) -> list[tuple[str, str, str, str]]:
    """Rows (gate, value [interval], limit, verdict) for a printed table."""
    return [
        (r.name, format_value(r.value, r.ci_low, r.ci_high), r.condition, "pass" if r.passed else "FAIL")
        for r in results
        if not (only_failed and r.passed)
    ]
