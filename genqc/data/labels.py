"""Labels: validated row by row, never cast silently; class names numbered by a stable, recorded rule.

A label is an integer in ``0..MAX_LABEL``. A NaN, an infinite, fractional,
negative or too-large value is a rejected row with its reason, never a cast
(``astype(int64)`` would turn NaN into -2**63 and 1.7 into 1).

String labels and folder names are class *names*, numbered by one rule that
never renumbers a class that was already stable:

1. a name pinned in ``class_map`` (``ingest.class_map``) keeps its pinned label;
2. a name that is a canonical decimal integer in ``0..MAX_LABEL`` ("0", "7",
   "12"; not "07") is that integer;
3. every other name gets the next free labels after the largest label of rules
   1 and 2, in sorted (code point) order.

So adding a class never changes a pinned or numeric label; names numbered by
rule 3 are stable only until a new name sorts before them, which is why the
mapping is written out (``data/ingest/classes.json``) for the user to pin.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from genqc.errors import ConfigError

# 65,536 classes: more than any image dataset in use (ImageNet-21k has 21,841), small enough that a
# conditional model's class embedding stays a sane size, and far from int64 wrap-around.
MAX_LABEL = 65_535
PINNED, NUMERIC, ASSIGNED, AS_GIVEN = "pinned", "numeric", "assigned", "as given"


@dataclass(frozen=True)
class ClassInfo:
    """One class of the dataset: its label, its name and which rule gave the label."""

    label: int
    name: str
    rule: str  # PINNED, NUMERIC, ASSIGNED or AS_GIVEN (an integer label read as it is)


@dataclass
class CheckedLabels:
    """Per-row labels with the reason each rejected row was refused (None where valid)."""

    labels: np.ndarray  # (N,) int64; 0 where the row is rejected
    reasons: list[str | None]
    names: list[str]  # class name of each row ("" where rejected)
    classes: dict[str, ClassInfo]  # name -> class, for the rows' classes only


def canonical_number(name: str) -> int | None:
    """The integer a class name stands for under rule 2, or None."""
    if name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0")):
        value = int(name)
        return value if value <= MAX_LABEL else None
    return None


def assign_labels(names: Iterable[str], pinned: Mapping[str, int] | None = None) -> dict[str, ClassInfo]:
    """Number class names by the module's stable rule; a clash is a config error naming both names."""
    pinned = dict(pinned or {})
    taken: dict[int, str] = {}
    classes: dict[str, ClassInfo] = {}
    unnumbered = []
    for name in sorted(set(names)):
        if name in pinned:
            info = ClassInfo(pinned[name], name, PINNED)
        elif (number := canonical_number(name)) is not None:
            info = ClassInfo(number, name, NUMERIC)
        else:
            unnumbered.append(name)
            continue
        if info.label in taken:
            raise ConfigError(
                f"class names {taken[info.label]!r} and {name!r} both get label {info.label}; "
                "give one of them another label in ingest.class_map"
            )
        taken[info.label] = name
        classes[name] = info
    reserved = set(taken) | set(pinned.values())
    following = max(reserved) + 1 if reserved else 0
    for name in unnumbered:
        if following > MAX_LABEL:
            raise ConfigError(
                f"class {name!r} would get label {following}, above the largest allowed "
                f"{MAX_LABEL}; pin smaller labels in ingest.class_map"
            )
        classes[name] = ClassInfo(following, name, ASSIGNED)
        following += 1
    return classes


def _numeric_reason(value: float) -> str | None:
    if math.isnan(value):
        return "label is NaN (missing)"
    if math.isinf(value):
        return f"label is {value} (not a class)"
    if value != math.floor(value):
        return f"label {value!r} is not an integer"
    if not 0 <= value <= MAX_LABEL:
        return f"label {int(value)} outside the allowed 0..{MAX_LABEL}"
    return None


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def check_labels(values: np.ndarray, *, where: str, class_map: Mapping[str, int] | None = None) -> CheckedLabels:
    """Validate a source's label column (numbers or class names) row by row.

    A column that is not one label per row, or whose type is no label at all
    (booleans, complex numbers, dates, a mix of names and numbers), is a config
    error naming ``where``; everything else is decided per row.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ConfigError(f"{where}: labels must be one value per image, shape (N,); got shape {values.shape}")
    kind = values.dtype.kind
    if kind in "US":
        items: list = [_text(v) for v in values.tolist()]
    elif kind in "iuf":
        items = values.tolist()
    elif kind == "O":
        items = values.tolist()
        text = [v for v in items if isinstance(v, str | bytes)]
        numbers_ = [
            v
            for v in items
            if isinstance(v, numbers.Real)
            and not isinstance(v, bool | np.bool_)
            and not (isinstance(v, float) and math.isnan(v))
        ]  # NaN: a missing value
        if text and numbers_:
            raise ConfigError(
                f"{where}: labels mix class names and numbers (e.g. {text[0]!r} and {numbers_[0]!r}); use one kind"
            )
        items = [_text(v) if isinstance(v, str | bytes) else v for v in items]
    else:
        raise ConfigError(
            f"{where}: labels of dtype {values.dtype} are not supported; use integers "
            f"0..{MAX_LABEL} or class-name strings"
        )
    reasons: list[str | None] = []
    for value in items:
        if isinstance(value, str):
            reasons.append(None if value else "label is an empty string")
        elif value is None or (not isinstance(value, numbers.Real) and _is_missing(value)):
            reasons.append("label is missing")
        elif isinstance(value, bool | np.bool_):
            reasons.append(f"label {value!r} is a boolean, not a class")
        elif isinstance(value, numbers.Integral):  # exact: a float would round 2**63 - 1
            in_range = 0 <= int(value) <= MAX_LABEL
            reasons.append(None if in_range else f"label {int(value)} outside the allowed 0..{MAX_LABEL}")
        elif isinstance(value, numbers.Real):
            reasons.append(_numeric_reason(float(value)))
        else:
            reasons.append(f"label of type {type(value).__name__} is not a class")
    named = {v for v, r in zip(items, reasons, strict=True) if r is None and isinstance(v, str)}
    classes = assign_labels(named, class_map)
    labels = np.zeros(len(items), dtype=np.int64)
    names = []
    for i, (value, reason) in enumerate(zip(items, reasons, strict=True)):
        if reason is not None:
            names.append("")
        elif isinstance(value, str):
            labels[i] = classes[value].label
            names.append(value)
        else:
            labels[i] = int(value)
            names.append(str(int(value)))
    named_labels = {info.label for info in classes.values()}
    for label in sorted({int(v) for v, r in zip(labels, reasons, strict=True) if r is None} - named_labels):
        classes.setdefault(str(label), ClassInfo(label, str(label), AS_GIVEN))
    return CheckedLabels(labels=labels, reasons=reasons, names=names, classes=classes)


def _is_missing(value: object) -> bool:
    """pandas' NA and NaT, without importing pandas here."""
    return type(value).__name__ in ("NAType", "NaTType")
