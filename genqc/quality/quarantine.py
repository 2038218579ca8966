"""Split a table into clean and quarantined rows; rows are never dropped.

A quarantined row keeps all its columns and gains the split it came from and
every reason that applies, so a user can inspect, fix and re-ingest it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from genqc.errors import DataError
from genqc.quality.checks import flag_column

SPLIT, REASONS = "split", "reasons"


def reasons_per_row(flags: pd.DataFrame, checks: Iterable[str]) -> list[list[str]]:
    """For each row, the names of the given checks it fails, in the order given."""
    checks = list(checks)
    matrix = flags[[flag_column(c) for c in checks]].to_numpy(dtype=bool) if checks else np.zeros((len(flags), 0))
    return [[checks[k] for k in np.flatnonzero(row)] for row in matrix]


def split_rows(
    frame: pd.DataFrame, flags: pd.DataFrame, checks: Iterable[str], split: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean, quarantined): a row failing any of ``checks`` is quarantined with its reasons and split.

    ``checks`` are the enabled row checks (severity ``error`` or ``warning``); a
    check set to ``off`` neither reports nor quarantines.
    """
    if len(flags) != len(frame):
        raise DataError(f"{split}: {len(frame)} rows but {len(flags)} rows of check results")
    reasons = reasons_per_row(flags, checks)
    bad = np.array([bool(r) for r in reasons], dtype=bool)
    clean = frame[~bad].reset_index(drop=True)
    quarantined = frame[bad].reset_index(drop=True)
    quarantined.insert(0, REASONS, pd.Series([r for r in reasons if r], dtype=object))
    quarantined.insert(0, SPLIT, pd.Series([split] * len(quarantined), dtype="string"))
    return clean, quarantined


def check_accounting(ingested: dict[str, int], clean: dict[str, int], quarantined: int) -> None:
    """Rows in == clean rows + quarantined rows, or the stage refuses to write (a row was lost or invented)."""
    total_in, total_out = sum(ingested.values()), sum(clean.values()) + quarantined
    if total_in != total_out:
        raise DataError(
            f"validate accounting mismatch: {total_in} ingested rows ({ingested}) != "
            f"{sum(clean.values())} clean ({clean}) + {quarantined} quarantined"
        )
