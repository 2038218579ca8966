"""genqc.progress: lines without a terminal (one per ~5%), silence when asked, and the stages that use it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genqc.progress import Progress, format_eta, track
from tests.conftest import REPO

LINE = re.compile(r"^work: +(\d+)% \((\d+)/200 img\) [\d.]+ img/s, eta \S+$")


def test_without_a_terminal_one_line_per_five_percent_ending_at_100() -> None:
    stream = io.StringIO()
    with Progress(200, "work", unit="img", delay=0, stream=stream) as progress:
        for _ in range(100):
            progress.update(2)
    lines = stream.getvalue().splitlines()
    assert all(LINE.match(line) for line in lines), lines[:3]
    percents = [int(LINE.match(line).group(1)) for line in lines]
    assert percents == list(range(5, 101, 5))


def test_big_steps_print_once_per_step_and_the_delay_or_off_silences(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    with Progress(200, "work", unit="img", delay=0, stream=stream) as progress:
        progress.update(120)
        progress.update(80)
    assert [int(LINE.match(line).group(1)) for line in stream.getvalue().splitlines()] == [60, 100]
    quiet = io.StringIO()
    with Progress(200, "work", unit="img", delay=3600, stream=quiet) as progress:
        progress.update(200)
    assert quiet.getvalue() == ""  # loops shorter than the delay stay silent
    monkeypatch.setenv("GENQC_PROGRESS", "off")
    off = io.StringIO()
    with Progress(200, "work", unit="img", delay=0, stream=off) as progress:
        progress.update(200)
    assert off.getvalue() == ""


def test_track_yields_every_item_and_reports_weights(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("GENQC_PROGRESS_DELAY", "0")
    chunks = [np.zeros(50), np.zeros(150)]
    assert [len(c) for c in track(chunks, 200, "work", unit="img", weight=len)] == [50, 150]
    assert [int(LINE.match(line).group(1)) for line in capsys.readouterr().err.splitlines()] == [25, 100]
    assert (format_eta(5), format_eta(95), format_eta(7300), format_eta(float("nan"))) == ("5s", "1m35s", "2h01m", "?")


def test_bootstrap_and_classifier_training_report_progress(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    from genqc.metrics.bootstrap import bootstrap_ci
    from genqc.models.classifier import ClassifierConfig, ClassifierTraining, train_classifier

    monkeypatch.setenv("GENQC_PROGRESS_DELAY", "0")
    rng = np.random.default_rng(0)

    def mean_gap(a: np.ndarray, b: np.ndarray) -> float:
        return float(abs(a.mean() - b.mean()))

    bootstrap_ci(mean_gap, rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), n_resamples=20)
    assert "bootstrap mean_gap: 100% (20/20 resample)" in capsys.readouterr().err
    images, labels = torch.zeros(40, 1, 8, 8, dtype=torch.uint8), torch.arange(40) % 2
    train_classifier(
        images,
        labels,
        config=ClassifierConfig(num_classes=2, image_size=8, width=4),
        seed=0,
        training=ClassifierTraining(epochs=2, batch_size=10, lr=1e-3, weight_decay=0.0),
    )
    assert "classifier: 100% (8/8 step)" in capsys.readouterr().err


def test_a_stage_without_a_terminal_prints_progress_lines(tmp_path: Path, tiny_params: dict) -> None:
    from genqc.data.table import images_to_table
    from tests.conftest import write_params

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    table = images_to_table(images, np.arange(40) % 2, [f"v{i}" for i in range(40)])
    (tmp_path / "data/validate").mkdir(parents=True)
    table.to_parquet(tmp_path / "data/validate/train.parquet", index=False)
    write_params(tmp_path, {**tiny_params, "augment": {**tiny_params["augment"], "copies": 2, "batch_size": 8}})
    env = dict(os.environ, PYTHONPATH=str(REPO), GENQC_PROGRESS_DELAY="0")
    # stdin/stderr are pipes: no TTY
    result = subprocess.run(
        [sys.executable, "-m", "genqc.cli", "augment"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("augment:")]
    assert lines[-1].startswith("augment: 100% (80/80 img)") and len(lines) == 10  # 5 chunks x 2 copies
    assert "\r" not in result.stderr  # no bar redraws in a log
