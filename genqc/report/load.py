"""Read pipeline outputs into plain containers, tolerating any of them being absent or damaged.

A user may run ``genqc report`` after only some stages. Every loader here returns
``None`` (or an empty container) for a file that is missing or unreadable and
records a :class:`Missing` entry naming the file, why, and the stage that makes
it, so the page says plainly what it lacks instead of crashing or hiding it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# Column names of the nearest-pairs table (genqc.evaluation's EvaluationResult.nearest).
NEAREST_COLUMNS = ("sample_image", "train_image", "ratio", "distance")


@dataclass(frozen=True)
class Missing:
    """A part of the report that could not be filled: what, the file, why, and the command that makes it."""

    section: str
    path: str
    reason: str
    remedy: str


@dataclass(frozen=True)
class NearestPair:
    """A sample next to its nearest training image (memorisation check)."""

    sample_png: bytes
    train_png: bytes
    ratio: float | None  # distance to the nearest train image over that image's own neighbour distance
    distance: float | None
    exact_copy: bool
    sample_id: str = ""
    train_id: str = ""


@dataclass
class FamilyOutputs:
    """Everything the pipeline wrote for one model family; any field may be absent."""

    name: str
    metrics: dict[str, Any] | None = None
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # "generator/loss" -> (step, value)
    train_grid_png: bytes | None = None  # EMA samples logged during training
    sample_grid_png: bytes | None = None  # the sample stage's grid
    class_rows: list[tuple[str, list[bytes]]] = field(default_factory=list)  # conditional: (class, PNGs) per class
    sample_summary: dict[str, Any] | None = None
    class_histogram: list[dict[str, Any]] | None = None
    spectrum: list[dict[str, Any]] | None = None
    prdc: list[dict[str, Any]] | None = None
    nearest: list[NearestPair] | None = None


@dataclass(frozen=True)
class Revision:
    """What produced the report: the git commit (if any), uncommitted changes, and dvc.lock's content hash.

    Plain values: the report stage reads them from git and dvc.lock; the library only renders them.
    """

    commit: str | None
    dirty: bool | None
    dvc_lock_sha256: str | None


@dataclass
class ReportData:
    """All inputs of the page: pure data, so rendering is a pure function of it."""

    families: list[FamilyOutputs]
    primary: str
    validation: dict[str, Any] | None = None
    data_docs_href: str | None = None  # relative link from the report to the GX Data Docs index
    ingest_summary: dict[str, Any] | None = None
    augment_summary: dict[str, Any] | None = None
    classifier_metrics: dict[str, Any] | None = None
    class_names: dict[int, str] = field(default_factory=dict)
    gate_limits: dict[str, dict[str, float]] = field(default_factory=dict)  # {"max": {key: limit}, "min": {...}}
    params_text: str = ""
    revision: Revision = Revision(None, None, None)
    created: str = ""
    missing: list[Missing] = field(default_factory=list)


class Loader:
    """Reads files and collects :class:`Missing` entries for the ones it could not use."""

    def __init__(self) -> None:
        self.missing: list[Missing] = []

    def _miss(self, section: str, path: Path, reason: str, remedy: str) -> None:
        self.missing.append(Missing(section, str(path), reason, remedy))

    def json(self, path: Path, section: str, remedy: str) -> Any:
        """Parsed JSON, or None (recorded) when the file is missing or not valid JSON."""
        path = Path(path)
        if not path.is_file():
            self._miss(section, path, "not found", remedy)
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._miss(section, path, f"unreadable ({type(exc).__name__})", remedy)
            return None

    def json_dict(self, path: Path, section: str, remedy: str) -> dict[str, Any] | None:
        value = self.json(path, section, remedy)
        if value is not None and not isinstance(value, dict):
            self._miss(section, path, f"holds a {type(value).__name__}, not an object", remedy)
            return None
        return value

    def json_rows(self, path: Path, section: str, remedy: str) -> list[dict[str, Any]] | None:
        value = self.json(path, section, remedy)
        if value is not None and not (isinstance(value, list) and all(isinstance(r, dict) for r in value)):
            self._miss(section, path, "is not a list of rows", remedy)
            return None
        return value

    def png(self, path: Path, section: str, remedy: str) -> bytes | None:
        """PNG bytes, checked by signature (a damaged file must not become a broken <img>)."""
        path = Path(path)
        if not path.is_file():
            self._miss(section, path, "not found", remedy)
            return None
        data = path.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            self._miss(section, path, "is not a PNG file", remedy)
            return None
        return data

    def curves(self, directory: Path, section: str, remedy: str) -> dict[str, list[tuple[float, float]]]:
        """DVCLive histories: every ``*.tsv`` under ``directory`` -> {relative name: [(step, value), ...]}.

        DVCLive writes ``timestamp, step, <name>`` columns; the value column is the
        one that is neither timestamp nor step. Unparseable rows are skipped.
        """
        directory = Path(directory)
        if not directory.is_dir():
            self._miss(section, directory, "not found", remedy)
            return {}
        curves: dict[str, list[tuple[float, float]]] = {}
        for tsv in sorted(directory.rglob("*.tsv")):
            try:
                with tsv.open(newline="", encoding="utf-8") as handle:
                    rows = list(csv.DictReader(handle, delimiter="\t"))
            except (OSError, UnicodeDecodeError, csv.Error):
                self._miss(section, tsv, "unreadable", remedy)
                continue
            value_columns = [c for c in (rows[0].keys() if rows else []) if c not in ("timestamp", "step")]
            if not value_columns or "step" not in rows[0]:
                continue
            points = []
            for row in rows:
                try:
                    points.append((float(row["step"]), float(row[value_columns[-1]])))
                except (TypeError, ValueError):
                    continue
            if points:
                curves[tsv.relative_to(directory).with_suffix("").as_posix()] = points
        if not curves:
            self._miss(section, directory, "holds no DVCLive .tsv histories", remedy)
        return curves

    def nearest(self, path: Path, section: str, remedy: str, *, limit: int) -> list[NearestPair] | None:
        """The nearest-copy pairs, closest first (at most ``limit``)."""
        frame = self._parquet(path, section, remedy)
        if frame is None:
            return None
        if len(frame) == 0:
            return []
        absent = [c for c in NEAREST_COLUMNS if c not in frame.columns]
        if absent:
            self._miss(section, Path(path), f"lacks columns {absent}", remedy)
            return None
        frame = frame.sort_values("ratio", kind="stable").head(limit)
        pairs = []
        for row in frame.to_dict("records"):
            pairs.append(
                NearestPair(
                    sample_png=bytes(row["sample_image"]),
                    train_png=bytes(row["train_image"]),
                    ratio=_float_or_none(row["ratio"]),
                    distance=_float_or_none(row["distance"]),
                    exact_copy=bool(row.get("exact_copy", False)),
                    sample_id=str(row.get("sample_id", "")),
                    train_id=str(row.get("train_id", "")),
                )
            )
        return pairs

    def class_rows(self, path: Path, *, per_class: int, class_names: dict[int, str]) -> list[tuple[str, list[bytes]]]:
        """Conditional samples grouped by requested class (first ``per_class`` each); [] when unconditional.

        Not recording a Missing entry: the sample grid PNG is the primary view, this is a refinement.
        """
        path = Path(path)
        if not path.is_file():
            return []
        try:
            frame = pd.read_parquet(path, columns=["label", "image"])
        except Exception:  # pyarrow raises several types for a damaged or foreign file
            return []
        frame = frame[frame["label"] >= 0]
        rows = []
        for label, group in frame.groupby("label", sort=True):
            name = class_names.get(int(label), str(int(label)))
            rows.append((name, [bytes(b) for b in group["image"].head(per_class)]))
        return rows

    def class_names(self, path: Path) -> dict[int, str]:
        """label -> class_name from an image table (only those two columns are read)."""
        path = Path(path)
        if not path.is_file():
            return {}
        try:
            frame = pd.read_parquet(path, columns=["label", "class_name"]).drop_duplicates("label")
        except Exception:  # no class_name column, or a damaged file: fall back to numeric labels
            return {}
        return {int(k): str(v) for k, v in zip(frame["label"], frame["class_name"], strict=True) if str(v)}

    def _parquet(self, path: Path, section: str, remedy: str) -> Any:
        path = Path(path)
        if not path.is_file():
            self._miss(section, path, "not found", remedy)
            return None
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            self._miss(section, path, f"unreadable ({type(exc).__name__})", remedy)
            return None


def _float_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
