"""Row checks without Great Expectations: each problem flags its row, and only its row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genqc.data.table import IMAGE, LABEL, PHASH, SHA256, images_to_table
from genqc.quality import checks as qc
from genqc.quality.suite import row_checks

RULES = qc.RowRules(
    image_size=8,
    channels=1,
    expected_labels=(0, 1),
    blank_max_mean=2.0,
    saturated_min_mean=253.0,
    min_std=2.0,
    hamming=4,
    max_pixel_diff=1.0,
    attributes=("group",),
)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = rng.integers(20, 230, size=(6, 8, 8, 1), dtype=np.uint8)
    frame = images_to_table(images, [0, 1, 0, 1, 0, 1], [f"r{i}" for i in range(6)], extra={"group": list("ababab")})
    rgb = images_to_table(
        np.full((1, 8, 8, 3), 90, dtype=np.uint8) + rng.integers(0, 50, (1, 8, 8, 3), dtype=np.uint8),
        [0],
        ["rgb"],
        extra={"group": ["a"]},
    )
    frame = pd.concat([frame, rgb], ignore_index=True)
    frame.loc[1, LABEL] = 7  # not an expected label
    frame.loc[2, "group"] = None  # a null attribute
    frame.loc[3, SHA256] = None  # a null hash
    frame[PHASH] = frame[PHASH].astype(object)
    frame.loc[4, PHASH] = "not a hash"  # a hand-made table with a text pHash
    return frame


def _flags(frame: pd.DataFrame) -> dict[str, list[str]]:
    filled = qc.with_required_columns(frame, RULES.attributes)
    measured = qc.measure(filled, image_size=RULES.image_size, channels=RULES.channels)
    flags = qc.row_flags(filled, measured, RULES)
    return {
        row_id: [c for c in qc.ROW_CHECKS if flags.loc[i, qc.flag_column(c)]] for i, row_id in enumerate(frame["id"])
    }


def test_each_row_problem_flags_its_row_only() -> None:
    found = _flags(_frame())
    assert found == {
        "r0": [],
        "r1": ["labels"],
        "r2": ["nulls"],
        "r3": ["nulls"],
        "r4": ["nulls"],
        "r5": [],
        "rgb": ["channels"],
    }


def test_a_missing_column_fails_every_row_on_nulls_and_undecodable_bytes_on_decode() -> None:
    frame = _frame().drop(columns="group")
    frame.loc[0, IMAGE] = b"garbage"
    found = _flags(frame)
    assert all("nulls" in reasons for reasons in found.values())
    assert found["r0"] == ["nulls", "decode"]


def test_measured_statistics_come_from_pixels_not_from_the_table() -> None:
    frame = _frame()
    frame["mean"] = 0.0  # a table claiming every image is blank
    measured = qc.measure(frame, image_size=8, channels=1)
    assert (measured.stats[qc.PIXEL_MEAN] > 20).all()


def test_severity_off_removes_the_expectation_and_max_row_fraction_sets_mostly() -> None:
    severities = {c: "error" for c in (*qc.ROW_CHECKS, qc.SCHEMA)} | {qc.BLANK: "off"}
    found = {c.name: c for c in row_checks("train", RULES, severities, 0.01)}
    assert "train.blank" not in found and "train.leakage" not in found  # leakage exists for the test split only
    assert found["train.exact_duplicate"].kwargs["mostly"] == 0.99
    assert "test.leakage" in {c.name for c in row_checks("test", RULES, severities, 0.0)}
