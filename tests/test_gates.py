"""genqc.gates: verdicts from metrics and limits, conservative judging, unknown keys, NaN, the printed rows."""

from __future__ import annotations

import math

import pytest

from genqc.config import parse_params
from genqc.errors import ConfigError
from genqc.gates import evaluate_gates, gate_rows, gateable_keys, verdicts

METRICS = {
    "model": "dcgan",
    "fd_classifier": 12.0,
    "fd_classifier_ci_low": 10.0,
    "fd_classifier_ci_high": 15.0,
    "fd_classifier_se": 1.2,
    "precision_classifier": 0.62,
    "precision_classifier_ci_low": 0.55,
    "precision_classifier_ci_high": 0.7,
    "class_kl": 0.02,
    "modes_missing": "",
    "fd_classifier_floor": 3.0,
}


def test_max_and_min_gates_pass_and_fail_on_the_point_value() -> None:
    results = evaluate_gates(
        METRICS, maxima={"fd_classifier": 14.0, "class_kl": 0.01}, minima={"precision_classifier": 0.6}
    )
    assert [(r.name, r.passed) for r in results] == [
        ("max_fd_classifier", True),
        ("max_class_kl", False),
        ("min_precision_classifier", True),
    ]
    out = verdicts(results)
    assert out == {
        "gate_max_fd_classifier": True,
        "gate_max_class_kl": False,
        "gate_min_precision_classifier": True,
        "gates_passed": False,
        "gates_failed": 1,
    }


def test_a_value_exactly_at_the_limit_passes() -> None:
    results = evaluate_gates(METRICS, maxima={"fd_classifier": 12.0}, minima={"precision_classifier": 0.62})
    assert all(r.passed for r in results)


def test_conservative_gates_judge_the_pessimistic_end_of_the_interval() -> None:
    lenient = evaluate_gates(METRICS, maxima={"fd_classifier": 14.0}, minima={"precision_classifier": 0.6})
    strict = evaluate_gates(
        METRICS, maxima={"fd_classifier": 14.0}, minima={"precision_classifier": 0.6}, conservative=True
    )
    assert [r.passed for r in lenient] == [True, True]
    assert [r.passed for r in strict] == [False, False]
    assert [r.judged for r in strict] == [15.0, 0.55]
    no_interval = evaluate_gates(METRICS, maxima={"class_kl": 0.05}, minima={}, conservative=True)
    assert no_interval[0].passed and no_interval[0].judged == 0.02  # no interval recorded: the point is judged


def test_missing_or_nan_values_fail_their_gate() -> None:
    metrics = {**METRICS, "fd_classifier": float("nan"), "recall_classifier": None}
    results = evaluate_gates(metrics, maxima={"fd_classifier": 1e9}, minima={"recall_classifier": 0.0})
    assert [r.passed for r in results] == [False, False]
    assert gate_rows(results)[0][1] == "n/a [10, 15]"


def test_unknown_gate_keys_are_config_errors_listing_the_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        evaluate_gates(METRICS, maxima={"fd_clasifier": 1.0}, minima={"precison": 0.5})
    message = str(info.value)
    assert "gates.max.fd_clasifier, gates.min.precison: no such metric" in message
    assert "Valid keys: class_kl, fd_classifier, precision_classifier" in message
    assert "fd_classifier_ci_low" not in message and "model" not in message.split("Valid keys:")[1]


def test_gateable_keys_exclude_intervals_verdicts_and_text() -> None:
    keys = gateable_keys({**METRICS, "gate_max_x": True, "gates_passed": True, "kid_classifier_std": 0.1})
    assert keys == ["class_kl", "fd_classifier", "precision_classifier"]


def test_failure_rows_show_value_interval_limit_and_verdict() -> None:
    results = evaluate_gates(METRICS, maxima={"fd_classifier": 11.0}, minima={})
    assert gate_rows(results) == [("max_fd_classifier", "12 [10, 15]", "<= 11", "FAIL")]
    assert gate_rows(results, only_failed=True) == gate_rows(results)
    assert gate_rows(evaluate_gates(METRICS, maxima={}, minima={"class_kl": 0}), only_failed=True) == []


def test_params_reject_malformed_gate_keys_and_infinite_limits() -> None:
    with pytest.raises(ConfigError, match="gate key 'FD-classifier' is not a metric key"):
        parse_params({"gates": {"max": {"FD-classifier": 1.0}}})
    with pytest.raises(ConfigError, match="must be a finite number"):
        parse_params({"gates": {"min": {"precision_classifier": math.inf}}})
