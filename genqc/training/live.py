"""Training curves and sample grids through DVCLive, kept local and resumable.

DVCLive writes ``<dir>/metrics.json`` (latest values) and ``<dir>/plots/metrics/*.tsv``
(one row per logged step), which dvc.yaml declares as metrics and plots, so
``dvc plots show`` draws the curves. It is opened with ``save_dvc_exp=False`` and
``dvcyaml=None``: it never edits dvc.yaml or touches git. Analytics and DVC Studio
are switched off (``DVC_NO_ANALYTICS``, ``DVC_STUDIO_OFFLINE``) unless the user set
those variables, so training never reaches for the network.

On resume the curves continue: rows logged after the checkpoint being resumed
(the steps a crash threw away) are dropped first, so every step appears once.
Each trimmed file is replaced atomically, so a crash mid-trim never leaves half a curve.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
from dvclive import Live

from genqc.io import atomic_path
from genqc.training.grid import save_png

SAMPLES_PNG = "samples.png"


def _quiet_dvc_environment() -> None:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("DVC_STUDIO_OFFLINE", "true")


def truncate_history(plots_dir: Path, last_step: int) -> int:
    """Drop rows with step > ``last_step`` from DVCLive's metric histories; return how many were dropped."""
    dropped = 0
    for tsv in sorted((plots_dir / "metrics").rglob("*.tsv")):
        with tsv.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
            fields = list(rows[0].keys()) if rows else None
        if fields is None or "step" not in fields:
            continue
        kept = [row for row in rows if int(row["step"]) <= last_step]
        if len(kept) == len(rows):
            continue
        dropped += len(rows) - len(kept)
        with atomic_path(tsv) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, delimiter="\t", lineterminator="\n")  # as DVCLive
            writer.writeheader()
            writer.writerows(kept)
    return dropped


class TrainLog:
    """Rank 0's DVCLive run in ``directory``; ``resume_step`` > 0 continues an earlier run's curves."""

    def __init__(self, directory: Path, *, resume_step: int) -> None:
        _quiet_dvc_environment()
        self.directory = Path(directory)
        resume = resume_step > 0 and (self.directory / "metrics.json").is_file()
        if resume:
            truncate_history(self.directory / "plots", resume_step)
        self.live = Live(dir=str(self.directory), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)

    def log(self, step: int, values: dict[str, float]) -> None:
        self.live.step = step
        for name, value in values.items():
            self.live.log_metric(name, float(value))
        self.live.make_summary()

    def log_params(self, params: dict[str, Any]) -> None:
        self.live.log_params(params)

    def image(self, grid: np.ndarray) -> Path:
        """Log the sample grid (DVCLive image plot) and keep a copy at ``<dir>/samples.png``."""
        target = self.directory / SAMPLES_PNG
        save_png(grid, target)
        self.live.log_image(SAMPLES_PNG, str(target))
        return target

    def close(self) -> None:
        self.live.make_summary()
        self.live.end()
