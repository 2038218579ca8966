"""Labels are validated row by row and never cast; class names get stable, recorded labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from genqc.data.labels import ASSIGNED, MAX_LABEL, NUMERIC, PINNED, assign_labels, canonical_number, check_labels
from genqc.errors import ConfigError


def test_nan_fractional_negative_and_huge_labels_are_refused_with_reasons_never_cast() -> None:
    checked = check_labels(np.array([np.nan, 0.7, 1.7, 2.0**40, -1.0, np.inf, 3.0]), where="t")
    assert checked.reasons == [
        "label is NaN (missing)",
        "label 0.7 is not an integer",
        "label 1.7 is not an integer",
        "label 1099511627776 outside the allowed 0..65535",
        "label -1 outside the allowed 0..65535",
        "label is inf (not a class)",
        None,
    ]
    assert checked.labels[-1] == 3


def test_integer_labels_outside_the_range_are_refused_exactly() -> None:
    checked = check_labels(np.array([0, MAX_LABEL, MAX_LABEL + 1, 2**63 - 1, -5], dtype=np.int64), where="t")
    assert checked.reasons[:2] == [None, None]
    assert checked.reasons[3] == f"label {2**63 - 1} outside the allowed 0..{MAX_LABEL}"  # no float rounding
    assert all(r is not None for r in checked.reasons[2:])


def test_string_labels_become_classes_through_the_recorded_rule() -> None:
    checked = check_labels(np.array(["dog", "cat", "7", "dog", ""]), where="t", class_map={"dog": 3})
    assert checked.labels[:4].tolist() == [3, 8, 7, 3]  # cat follows the largest pinned/numeric label
    assert checked.reasons[4] == "label is an empty string"
    assert {n: (c.label, c.rule) for n, c in checked.classes.items()} == {
        "dog": (3, PINNED),
        "7": (7, NUMERIC),
        "cat": (8, ASSIGNED),
    }


def test_object_labels_with_missing_values_and_booleans_are_rows_not_errors() -> None:
    checked = check_labels(np.array([1, None, float("nan"), True], dtype=object), where="t")
    missing, boolean = "label is missing", "label True is a boolean, not a class"
    assert checked.reasons == [None, missing, "label is NaN (missing)", boolean]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros((3, 1)), r"shape \(N,\); got shape \(3, 1\)"),
        (np.array([True, False]), "labels of dtype bool are not supported"),
        (np.array([1 + 2j]), "labels of dtype complex128 are not supported"),
        (np.array(["cat", 1], dtype=object), "labels mix class names and numbers"),
    ],
)
def test_columns_that_hold_no_labels_are_config_errors(values: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_labels(values, where="npz:x.npz")


def test_a_stray_name_never_renumbers_numeric_or_pinned_classes() -> None:
    numeric = assign_labels(["0", "1", "2", "3"])
    assert {n: c.label for n, c in numeric.items()} == {"0": 0, "1": 1, "2": 2, "3": 3}
    grown = assign_labels(["0", "1", "2", "3", "aardvark", "07"])
    assert {n: grown[n].label for n in numeric} == {"0": 0, "1": 1, "2": 2, "3": 3}
    assert (grown["07"].label, grown["aardvark"].label) == (4, 5)  # "07" is not canonical: a name


def test_a_pinned_label_clashing_with_a_numeric_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="class names '3' and 'cat' both get label 3"):
        assign_labels(["3", "cat"], {"cat": 3})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70)), max_size=30))
def test_every_numeric_label_is_kept_exactly_or_refused(values: list) -> None:
    array = np.array(values, dtype=object)
    checked = check_labels(array, where="t")
    for value, label, reason in zip(values, checked.labels, checked.reasons, strict=True):
        exact = float(value).is_integer() if isinstance(value, float) else True
        valid = value == value and exact and 0 <= value <= MAX_LABEL  # value == value: not NaN
        assert (reason is None) == valid, (value, reason)
        if valid:
            assert label == value


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.text(min_size=1, max_size=6), min_size=1, max_size=8),
    st.sets(st.text(min_size=1, max_size=6), max_size=4),
)
def test_adding_names_never_changes_a_pinned_or_numeric_label(existing: set, added: set) -> None:
    pinned = {name: 1000 + i for i, name in enumerate(sorted(existing)) if i % 2 == 0}
    assume(all(canonical_number(n) not in pinned.values() for n in existing | added))  # a clash is a config error
    before = assign_labels(existing, pinned)
    after = assign_labels(existing | added, pinned)
    labels = [c.label for c in after.values()]
    assert len(labels) == len(set(labels))  # one label per class
    for name, info in before.items():
        if info.rule in (PINNED, NUMERIC):
            assert after[name].label == info.label
