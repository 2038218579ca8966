"""What one evaluation returns: flat metrics, plot rows and the nearest sample/train pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Columns of the nearest-pairs table (the report reads them by name).
NEAREST_COLUMNS = ("sample_id", "sample_image", "train_id", "train_image", "ratio", "distance", "exact_copy")


@dataclass
class EvaluationResult:
    """``metrics`` holds the flat keys of metrics.json; the rest feeds plots and the report."""

    metrics: dict[str, Any]
    class_histogram: list[dict[str, Any]] = field(default_factory=list)  # class, real (train) share, generated share
    spectrum: list[dict[str, Any]] = field(default_factory=list)  # frequency, real power, generated power
    prdc: list[dict[str, Any]] = field(default_factory=list)  # metric, value, floor
    nearest: pd.DataFrame = field(default_factory=pd.DataFrame)  # NEAREST_COLUMNS; empty without the classifier
    floor_size: int = 0  # train images in the floor set (as many as samples); 0 without a train split
    train_size: int = 0  # train images in the capped subset (near copies, class balance)
    notes: list[str] = field(default_factory=list)  # lines to print beside the numbers (e.g. a singular covariance)
