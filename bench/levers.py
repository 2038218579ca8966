"""The lever study: what each of genqc's levers does to the error rate, as DVC experiments.

Run from the project root after ``dvc repro validate`` (the clean and dirty data sets are
made from its validated tables):

    python -m bench.levers              # make the data sets, run the sweep, write the table
    python -m bench.levers --table      # rewrite docs/levers.md from bench/results/levers.json
    python -m bench.levers --collect peaty-lush,shier-plow,...   # the table from the experiments the
                                        # sweep queued (names in point order) that have finished so far

Each point of bench/levers.yaml is one lever changed against the default pipeline (data
quality, augmentation, model family and fusion, loss, weight decay and L1, EMA, rejection).
The points run through the project's own sweep (``flows.sweep`` on DVC's experiment queue),
so every number is a real ``dvc exp run`` of the whole pipeline, recorded as an experiment
and read back from ``dvc exp show --json``. bench/results/levers.json keeps those rows;
docs/levers.md's table is generated from it, never typed.

The data-quality pair uses the same test split: ``clean`` is the default pipeline's
validated train and test split written as IDX files; ``dirty`` has the same test split and a
train split with classes 0-4 cut to 40 % and 1,000 exact repeats of 100 images.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.common import RESULTS, write_result
from genqc.data.table import LABEL, decode_images, read_table
from tasks.paths import VALIDATED_TEST, VALIDATED_TRAIN

ROOT = Path(__file__).resolve().parents[1]
POINTS = Path(__file__).with_name("levers.yaml")
DATA = ROOT / "data" / "levers"  # the clean/dirty IDX sets (git-ignored: data/ is DVC's)
DOCS = ROOT / "docs" / "levers.md"
TABLE_START, TABLE_END = "<!-- levers-table:start -->", "<!-- levers-table:end -->"
PUBLISHED = "reports/metrics.json:"  # the primary family's metrics (the publish stage's copy)
#: the headline columns: (metric key, whether it has an interval, whether a floor exists)
COLUMNS = (
    ("fd_classifier_ratio", True),
    ("fd_classifier", True),  # the distance itself: a worse floor (a dirty train split) flatters the ratio
    ("precision_classifier", True),
    ("recall_classifier", True),
    ("coverage_classifier", True),
    ("class_kl", False),
    ("modes_covered_share", False),
)
DIRTY_CUT_CLASSES = (0, 1, 2, 3, 4)
DIRTY_KEEP_SHARE = 0.4
DIRTY_REPEATED, DIRTY_REPEATS = 100, 1000


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file (the MNIST format): big-endian dims after a uint8 type code."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_split(directory: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> None:
    """``directory`` as an ``idx:`` source with its own train/t10k split (``ingest.split: source``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte", images[..., 0])  # (N, H, W): grey images
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))


def make_data(seed: int = 0) -> dict[str, Path]:
    """The clean and dirty IDX sets from the validated tables (module docstring)."""
    tables = {name: read_table(str(path)) for name, path in (("train", VALIDATED_TRAIN), ("test", VALIDATED_TEST))}
    arrays = {name: (decode_images(t), t[LABEL].to_numpy(np.int64)) for name, t in tables.items()}
    if arrays["train"][0].shape[-1] != 1:
        raise SystemExit("bench.levers: the study's IDX sets need grey images (the default mnist5k source)")
    images, labels = arrays["train"]
    rng = np.random.default_rng(seed)
    keep = np.ones(len(labels), bool)
    for label in DIRTY_CUT_CLASSES:
        rows = np.flatnonzero(labels == label)
        keep[rng.choice(rows, round(len(rows) * (1 - DIRTY_KEEP_SHARE)), replace=False)] = False
    kept = np.flatnonzero(keep)
    repeated = rng.choice(kept, DIRTY_REPEATED, replace=False)
    rows = np.concatenate([kept, np.repeat(repeated, DIRTY_REPEATS // DIRTY_REPEATED)])
    rows = rows[rng.permutation(len(rows))]
    out = {"clean": DATA / "clean", "dirty": DATA / "dirty"}
    write_split(out["clean"], arrays["train"], arrays["test"])
    write_split(out["dirty"], (images[rows], labels[rows]), arrays["test"])
    return out


def resolved_points(data: dict[str, Path]) -> Path:
    """data/levers/levers.yaml: bench/levers.yaml with {clean} and {dirty} as the data sets' absolute paths."""
    text = POINTS.read_text(encoding="utf-8")
    for name, path in data.items():
        text = text.replace("{" + name + "}", str(path))
    out = DATA / POINTS.name
    out.write_text(text, encoding="utf-8")
    return out


def headline(row: dict[str, Any]) -> dict[str, Any]:
    """A sweep row's published (primary family) headline metrics, intervals and floors, unqualified."""
    out = {}
    for key, _ in COLUMNS:
        for suffix in ("", "_ci_low", "_ci_high", "_floor"):
            for name in (f"{PUBLISHED}{key}{suffix}", f"{key}{suffix}"):
                if name in row:
                    out[key + suffix] = row[name]
                    break
    return out


def _cell(metrics: dict[str, Any], key: str, interval: bool) -> str:
    value = metrics.get(key)
    if value is None:
        return "n/a"
    text = f"{value:.3g}"
    if interval and metrics.get(f"{key}_ci_low") is not None:
        text += f" [{metrics[f'{key}_ci_low']:.3g}, {metrics[f'{key}_ci_high']:.3g}]"
    return text


def table(figures: dict[str, Any]) -> str:
    """One row per lever point; the floor row first (real held-out data: the best any model can do)."""
    rows = figures["points"]
    head = "| point | " + " | ".join(f"`{key}`" for key, _ in COLUMNS) + " | overrides |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    floors = next((r["metrics"] for r in rows if r["metrics"]), {})
    floor_row = {key: floors.get(f"{key}_floor") for key, _ in COLUMNS} | {"fd_classifier_ratio": 1.0}  # by definition
    lines.append(
        "| *floor (real train vs test)* | " + " | ".join(_cell(floor_row, key, False) for key, _ in COLUMNS) + " | |"
    )
    for row in rows:
        if row["status"] != "done":
            lines.append(f"| {row['point']} | " + " | ".join(row["status"] for _ in COLUMNS) + f" | {row['error']} |")
            continue
        cells = [_cell(row["metrics"], key, interval) for key, interval in COLUMNS]
        overrides = ", ".join(f"`{o}`" for o in row["overrides"]) or "(params.yaml)"
        lines.append(f"| {row['point']} | " + " | ".join(cells) + f" | {overrides} |")
    return "\n".join(lines)


def write_table(figures: dict[str, Any], docs: Path = DOCS) -> None:
    """Replace the text between the table markers in docs/levers.md."""
    text = docs.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    docs.write_text(text[:start] + "\n" + table(figures) + "\n" + text[end:], encoding="utf-8")


def collected_rows(points_file: Path, names: list[str]) -> list[dict[str, Any]]:
    """Sweep-style rows for experiments already queued by a sweep (``names`` in the points' order).

    A study cut short still reports what finished: the queue's state decides (Success, Failed,
    or still queued or running), and only a Success row carries metrics, never a guess.
    """
    from flows.dvc_pipeline import run_dvc  # deferred: DVC (only a run needs it)
    from flows.experiments import experiment_metrics, load_points, queue_log, queue_statuses

    points = load_points(points_file)
    if len(names) != len(points):
        raise SystemExit(f"bench.levers --collect: {len(names)} names for {len(points)} points in {points_file}")
    states = queue_statuses(run_dvc(["queue", "status"], ROOT, "dvc queue status").stdout)
    done = [name for name in names if states.get(name) == "Success"]
    found = experiment_metrics(ROOT, done, settle_s=0)
    rows = []
    for (point, _), name in zip(points, names, strict=True):
        state = states.get(name, "unknown")
        row: dict[str, Any] = {"point": point, "experiment": name}
        if state == "Success":
            row.update({"status": "done", **found[name]})
        elif state == "Failed":
            row.update({"status": "failed", "error": (queue_log(ROOT, name).strip().splitlines() or ["?"])[-1]})
        else:
            row.update({"status": "not run", "error": f"{state.lower()} in DVC's queue when the table was collected"})
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", action="store_true", help="only rewrite docs/levers.md from the stored result")
    parser.add_argument("--workers", type=int, default=1, help="experiments at once (DVC queue workers)")
    parser.add_argument("--collect", metavar="NAMES", help="comma list of a sweep's queued experiments (point order)")
    args = parser.parse_args(argv)
    if args.table:
        write_table(json.loads((RESULTS / "levers.json").read_text())["figures"])
        return 0
    from flows.experiments import load_points  # deferred: Prefect and DVC (only the run needs them)
    from flows.sweep import genqc_sweep

    start, load = time.perf_counter(), os.getloadavg()[0]
    if args.collect:
        points_file = DATA / POINTS.name  # as the sweep that queued them resolved it
        rows = collected_rows(points_file, args.collect.split(","))
    else:
        points_file = resolved_points(make_data())
        rows = genqc_sweep(
            grid=[],
            label="levers",
            repo_dir=str(ROOT),
            points_file=str(points_file),
            workers=args.workers,
            strict=False,
        )
    overrides = dict(load_points(points_file))
    base = yaml.safe_load(points_file.read_text(encoding="utf-8"))["base"]
    figures = {
        "base": base,
        "points": [
            {
                "point": row["point"],
                "experiment": row["experiment"],
                "status": row["status"],
                "error": row.get("error"),
                "overrides": [o for o in overrides[row["point"]] if o not in base],
                "metrics": headline(row),
            }
            for row in rows
        ],
        "wall_s": None if args.collect else round(time.perf_counter() - start),
        "load_1min_start": load,
        "load_1min_end": os.getloadavg()[0],
        "git_rev": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()[:12],
    }
    print(f"-> {write_result('levers', figures)}")
    write_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
