"""flows/artifacts.py: what a run shows in the Prefect UI, built from the stage outputs."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from prefect import flow
from prefect.artifacts import Artifact

import flows.artifacts as artifacts
from flows.artifacts import (
    find_sample_grid,
    image_markdown,
    metric_rows,
    publish_run_artifacts,
    ran_in,
    report_markdown,
    validation_markdown,
)


def test_metric_rows_pair_each_metric_with_its_interval_and_list_gates_last() -> None:
    metrics = {
        "fd_classifier": 12.5,
        "fd_classifier_ci_low": 11.0,
        "fd_classifier_ci_high": 14.0,
        "precision": 0.8,
        "gate_max_fd_classifier": "pass",
        "gates": {"min_recall": "fail"},
    }
    rows = metric_rows(metrics)
    assert rows[0] == {"key": "fd_classifier", "value": 12.5, "ci_low": 11.0, "ci_high": 14.0, "kind": "metric"}
    assert rows[1] == {"key": "precision", "value": 0.8, "ci_low": None, "ci_high": None, "kind": "metric"}
    assert [(r["key"], r["value"], r["kind"]) for r in rows[2:]] == [
        ("gate_max_fd_classifier", "pass", "gate"),
        ("gates.min_recall", "fail", "gate"),
    ]


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


def test_image_is_inlined_as_a_data_uri_labelled_with_its_family(tmp_path: Path, monkeypatch) -> None:
    png = tmp_path / "reports" / "samples.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG fake")
    text = image_markdown(png, tmp_path, "vae")
    assert base64.b64encode(b"\x89PNG fake").decode() in text and "data:image/png;base64," in text
    assert text.startswith("# Samples: vae (train.model, the primary family)")
    monkeypatch.setattr(artifacts, "MAX_INLINE_BYTES", 4)
    too_big = image_markdown(png, tmp_path, "vae")
    assert "over the 4-byte inline limit" in too_big and "file://" not in too_big


def test_sample_grid_is_the_primary_familys_never_the_newest(tmp_path: Path) -> None:
    assert find_sample_grid(tmp_path, "dcgan") is None
    for name, mtime in (("dcgan", 100), ("vae", 200)):
        grid = tmp_path / "reports" / "train" / name / "samples.png"
        grid.parent.mkdir(parents=True)
        grid.write_bytes(b"png")
        os.utime(grid, (mtime, mtime))
    assert find_sample_grid(tmp_path, "dcgan") == tmp_path / "reports/train/dcgan/samples.png"  # vae's is newer
    final = tmp_path / "reports" / "sample" / "dcgan" / "grid.png"  # the sample stage's grid beats training's
    final.parent.mkdir(parents=True)
    final.write_bytes(b"png")
    assert find_sample_grid(tmp_path, "dcgan") == final
    assert find_sample_grid(tmp_path, "ddpm") is None


def test_report_markdown_gives_the_verdict_and_each_headline_metric_with_its_interval() -> None:
    metrics = {
        "fd_classifier": 12.5,
        "fd_classifier_ci_low": 11.0,
        "fd_classifier_ci_high": 14.0,
        "precision": 0.8,
        "gate_max_fd_classifier": True,
        "gate_min_recall": False,
        "gates_passed": False,
    }
    text = report_markdown(metrics, {"passed": True}, "dcgan")
    assert text.startswith("# genqc report: FAIL")
    assert "Primary family: **dcgan**" in text and "Failed gates: `min_recall`." in text
    assert "Data validation: passed." in text
    assert "| fd_classifier | 12.5 | [11, 14] |" in text
    assert "| precision |" not in text  # no interval: not a headline number
    assert "file://" not in text
    assert report_markdown({"x": 1}, None, "vae").startswith("# genqc report: UNKNOWN")


def test_an_artifact_is_refreshed_only_by_a_run_of_its_own_stage() -> None:
    assert ran_in(None, "genqc-metrics")  # every stage ran
    assert ran_in(["ingest", "validate"], "genqc-validation")
    assert not ran_in(["ingest", "validate"], "genqc-metrics")
    assert ran_in(["sample@vae", "sample@dcgan"], "genqc-samples")
    assert not ran_in(["evaluate@dcgan"], "genqc-report")


@pytest.mark.slow
def test_a_validate_only_run_keeps_the_last_good_artifacts(prefect_server, tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("train:\n  model: dcgan\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps({"fd_classifier": 3.0, "gates_passed": True}))

    @flow
    def run(stages: list[str] | None) -> list[str]:
        return publish_run_artifacts(str(tmp_path), stages, "dcgan")

    validation_before = Artifact.get("genqc-validation")  # the session's server is shared: maybe another test's
    run(None)  # a full run: the metrics table is published
    good = Artifact.get("genqc-metrics")
    (tmp_path / "reports" / "metrics.json").unlink()
    notes = run(["ingest", "validate"])  # validate only: no summary there, metrics not this run's business
    assert notes == ["no validation summary at reports/validation/summary.json"]
    assert Artifact.get("genqc-metrics").id == good.id
    after = Artifact.get("genqc-validation")  # never replaced by a placeholder
    assert (after and after.id) == (validation_before and validation_before.id)
