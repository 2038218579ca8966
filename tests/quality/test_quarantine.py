"""The quarantine never loses or invents a row, and lists exactly the reasons that apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genqc.errors import DataError
from genqc.quality.checks import ROW_CHECKS, flag_column
from genqc.quality.quarantine import REASONS, SPLIT, check_accounting, split_rows


@settings(max_examples=25, deadline=None)
@given(
    flags=st.lists(st.lists(st.booleans(), min_size=len(ROW_CHECKS), max_size=len(ROW_CHECKS)), max_size=40),
    enabled=st.sets(st.sampled_from(ROW_CHECKS)),
)
def test_clean_plus_quarantined_is_every_input_row(flags: list[list[bool]], enabled: set[str]) -> None:
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(len(flags))], "label": np.arange(len(flags))})
    matrix = np.array(flags, dtype=bool).reshape(len(flags), len(ROW_CHECKS))
    flag_frame = pd.DataFrame(matrix, columns=[flag_column(c) for c in ROW_CHECKS])
    checks = [c for c in ROW_CHECKS if c in enabled]
    clean, quarantined = split_rows(frame, flag_frame, checks, "train")
    assert len(clean) + len(quarantined) == len(frame)
    assert sorted(clean["id"].tolist() + quarantined["id"].tolist()) == sorted(frame["id"].tolist())
    check_accounting({"train": len(frame)}, {"train": len(clean)}, len(quarantined))
    by_id = dict(zip(quarantined["id"], quarantined[REASONS], strict=True))
    for row, fails in enumerate(matrix):
        expected = [c for c, f in zip(ROW_CHECKS, fails, strict=True) if f and c in enabled]
        assert by_id.get(f"r{row}", []) == expected  # every reason that applies, none that does not
    assert set(quarantined[SPLIT]) <= {"train"}
    assert clean["id"].tolist() == [i for i in frame["id"] if i not in by_id]  # table order kept


def test_accounting_mismatch_is_a_data_error() -> None:
    with pytest.raises(DataError, match="3 ingested rows"):
        check_accounting({"train": 2, "test": 1}, {"train": 1, "test": 0}, 1)
