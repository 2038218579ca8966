"""flows/artifacts.py: what a run shows in the Prefect UI, built from the stage outputs."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import flows.artifacts as artifacts
from flows.artifacts import find_sample_grid, image_markdown, metric_rows, validation_markdown


def test_metric_rows_pair_each_metric_with_its_interval_and_list_gates_last() -> None:
    metrics = {"fd_classifier": 12.5, "fd_classifier_ci_low": 11.0, "fd_classifier_ci_high": 14.0,
               "precision": 0.8, "gate_max_fd_classifier": "pass", "gates": {"min_recall": "fail"}}  # fmt: skip
    rows = metric_rows(metrics)
    assert rows[0] == {"key": "fd_classifier", "value": 12.5, "ci_low": 11.0, "ci_high": 14.0, "kind": "metric"}
    assert rows[1] == {"key": "precision", "value": 0.8, "ci_low": None, "ci_high": None, "kind": "metric"}
    assert [(r["key"], r["value"], r["kind"]) for r in rows[2:]] == [
        ("gate_max_fd_classifier", "pass", "gate"), ("gates.min_recall", "fail", "gate")]  # fmt: skip


def test_an_orphan_interval_key_is_still_shown() -> None:
    assert [r["key"] for r in metric_rows({"x_ci_low": 1.0})] == ["x_ci_low"]


def test_validation_markdown_shows_scalars_and_each_list_as_a_table() -> None:
    summary = {
        "passed": False,
        "rows": {"train": 900, "test": 300},
        "checks": [{"check": "blank", "severity": "error", "failed": 3}, {"check": "labels", "failed": 0}],
    }
    text = validation_markdown(summary)
    assert "| passed | False |" in text
    assert "| rows.train | 900 |" in text
    assert "## checks" in text and "| check | severity | failed |" in text
    assert "| labels |  | 0 |" in text


def test_image_is_inlined_as_a_data_uri_or_linked_when_too_big(tmp_path: Path, monkeypatch) -> None:
    png = tmp_path / "reports" / "samples.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG fake")
    text = image_markdown(png, tmp_path)
    assert base64.b64encode(b"\x89PNG fake").decode() in text and "data:image/png;base64," in text
    monkeypatch.setattr(artifacts, "MAX_INLINE_BYTES", 4)
    assert "over the 4-byte inline limit" in image_markdown(png, tmp_path)


def test_sample_grid_search_order_and_newest_first(tmp_path: Path) -> None:
    assert find_sample_grid(tmp_path) is None
    for name, mtime in (("dcgan", 100), ("vae", 200)):
        grid = tmp_path / "reports" / "train" / name / "samples.png"
        grid.parent.mkdir(parents=True)
        grid.write_bytes(b"png")
        os.utime(grid, (mtime, mtime))
    assert find_sample_grid(tmp_path) == tmp_path / "reports/train/vae/samples.png"
    final = tmp_path / "reports" / "sample" / "dcgan" / "grid.png"  # the sample stage's grid beats training's
    final.parent.mkdir(parents=True)
    final.write_bytes(b"png")
    os.utime(final, (50, 50))
    assert find_sample_grid(tmp_path) == final
