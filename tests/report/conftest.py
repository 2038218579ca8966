"""Synthetic pipeline outputs for the report tests: every file the report reads, tiny, written in seconds.

The report must not depend on training, so these fixtures write what the stages
would (same paths and formats as tasks/*.py), with a hostile class name and a
failing gate so escaping and verdict colours are exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genqc.data.table import encode_png
from tests.conftest import write_params

EVIL = "<script>alert('x')</script>"
FAMILIES = ("dcgan", "vae")


def _png(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    image = (rng.random((size, size, 1)) * 255).astype(np.uint8)
    image[4:12, 6:10] = 255  # a bright bar: the image is never uniform
    return encode_png(image)


def _json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _curves(directory: Path) -> None:
    """DVCLive's layout: plots/metrics/<name>.tsv with timestamp, step and the value column."""
    for name, scale in (
        ("generator/loss", 2.0),
        ("discriminator/loss", 1.0),
        ("generator/grad_norm", 5.0),
        ("lr/generator", 2e-4),
        ("images_per_s", 900.0),
    ):
        path = directory / "plots" / "metrics" / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"{1700000000 + s}\t{s}\t{scale * (1 + np.exp(-s / 10)):.6f}" for s in range(0, 50, 5)]
        path.write_text(f"timestamp\tstep\t{name.split('/')[-1]}\n" + "\n".join(rows) + "\n")


def _metrics(passed: bool) -> dict:
    fd = 12.0 if passed else 90.0
    return {
        "model": "x",
        "n_samples": 64,
        "fd_classifier": fd,
        "fd_classifier_ci_low": fd * 0.9,
        "fd_classifier_ci_high": fd * 1.1,
        "fd_classifier_se": 0.5,
        "fd_classifier_floor": 1.5,
        "fd_classifier_ratio": fd / 1.5,
        "precision_classifier": 0.71,
        "precision_classifier_ci_low": 0.65,
        "precision_classifier_ci_high": 0.77,
        "precision_classifier_floor": 0.8,
        "recall_classifier": 0.5,
        "class_kl": 0.02,
        "modes_missing": EVIL,
        "gate_max_fd_classifier_ratio": passed,
        "gate_min_precision_classifier": True,
        "gates_passed": passed,
        "gates_failed": 0 if passed else 1,
    }


def write_outputs(root: Path, *, families: tuple[str, ...] = FAMILIES) -> None:
    """Every report input under ``root``; the first family passes its gates, the others fail one."""
    labels = np.repeat(np.arange(3), 4)
    pd.DataFrame(
        {
            "label": labels,
            "class_name": [[EVIL, "one", "two"][i] for i in labels],
            "image": [_png(i) for i in range(len(labels))],
        }
    ).to_parquet(root / "train.parquet")
    (root / "data" / "validate").mkdir(parents=True)
    (root / "train.parquet").rename(root / "data" / "validate" / "train.parquet")
    for i, family in enumerate(families):
        train, sample, evaluate = (
            root / "reports/train" / family,
            root / "reports/sample" / family,
            root / "reports/evaluate" / family,
        )
        _curves(train)
        train.joinpath("samples.png").write_bytes(_png(100 + i, 32))
        sample.mkdir(parents=True)
        sample.joinpath("grid.png").write_bytes(_png(200 + i, 40))
        _json(sample / "summary.json", {"accepted": 64, "requested": 64, "drawn": 64, "acceptance_rate": 1.0})
        _json(evaluate / "metrics.json", _metrics(passed=i == 0))
        _json(
            evaluate / "plots/class_histogram.json",
            [{"class": c, "real": 1 / 3, "generated": [0.5, 0.3, 0.2][c]} for c in range(3)],
        )
        _json(
            evaluate / "plots/spectrum.json",
            [{"frequency": f, "real": 10.0 / (f + 1), "generated": 12.0 / (f + 1)} for f in range(9)],
        )
        _json(
            evaluate / "plots/prdc.json",
            [
                {"metric": f"{m}_classifier", "value": 0.6, "floor": 0.8}
                for m in ("precision", "recall", "density", "coverage")
            ],
        )
        nearest = root / "data/evaluate" / family / "nearest.parquet"
        nearest.parent.mkdir(parents=True)
        pd.DataFrame(
            {
                "sample_id": [f"{family}-0", f"{family}-1"],
                "sample_image": [_png(1), _png(2)],
                "train_id": ["t0", "t1"],
                "train_image": [_png(1), _png(3)],
                "ratio": [0.0, 0.8],
                "distance": [0.0, 3.2],
                "exact_copy": [True, False],
            }
        ).to_parquet(nearest)
        if i == 0:  # a conditional family: per-class rows come from its samples table
            table = root / "data/sample" / family / "samples.parquet"
            table.parent.mkdir(parents=True)
            pd.DataFrame({"label": labels, "image": [_png(300 + j) for j in range(len(labels))]}).to_parquet(table)
    _json(
        root / "reports/validation/summary.json",
        {
            "passed": True,
            "errors_failed": 0,
            "warnings_failed": 1,
            "rows": {"ingested_train": 12, "clean_train": 12},
            "expectations": {
                "train.decode": {
                    "check": "decode",
                    "split": "train",
                    "severity": "error",
                    "success": True,
                    "observed": 0,
                    "allowed": "0 rows",
                    "rows": 0,
                },
                "train.near_duplicate": {
                    "check": "near_duplicate",
                    "split": "train",
                    "severity": "warning",
                    "success": False,
                    "observed": EVIL,
                    "allowed": "0 rows",
                    "rows": 2,
                },
            },
        },
    )
    docs = root / "reports/validation/docs/index.html"
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text("<html><body>data docs</body></html>")
    _json(root / "data/classifier/metrics.json", {"test_accuracy": 0.97})
    _json(root / "data/ingest/summary.json", {"inputs": 16, "train": 12, "test": 4, "rejected": 0, "classes": 3})
    _json(root / "data/augment/summary.json", {"rows_in": 12, "copies": 1, "rows_out": 24, "applied_rotate": 6})


@pytest.fixture
def report_workdir(workdir: Path, tiny_params: dict) -> Path:
    """A working directory with params listing FAMILIES and every report input present."""
    params = dict(tiny_params)
    params["train"] = {**params["train"], "model": FAMILIES[0], "models": list(FAMILIES)}
    write_params(workdir, params)
    write_outputs(workdir)
    return workdir
