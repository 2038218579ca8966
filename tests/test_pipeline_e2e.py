"""The whole chain under `dvc repro` on tiny params, from a fresh copy of the repository.

One family (dcgan) keeps it short; the other families' sample/evaluate paths are
covered by tests/tasks. That dvc.yaml and tasks/paths.py agree on every path is
tests/tasks/test_paths.py's job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_repo, write_params


def _dvc(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cwd) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.slow
def test_dvc_repro_runs_the_whole_chain_and_a_second_run_does_nothing(tmp_path: Path, tiny_params: dict) -> None:
    repo = copy_repo(tmp_path / "repo")
    tiny_params["train"] = {**tiny_params["train"], "model": "dcgan", "models": ["dcgan"]}
    write_params(repo, tiny_params)
    _git("init", "-q", cwd=repo)
    _git("-c", "user.email=t@t", "-c", "user.name=t", "add", "-A", cwd=repo)
    _git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy", cwd=repo)

    first = _dvc("repro", cwd=repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in (
        "ingest",
        "validate",
        "augment",
        "classifier",
        "features",
        "train@dcgan",
        "sample@dcgan",
        "evaluate@dcgan",
        "publish",
    ):
        assert f"Running stage '{stage}'" in first.stdout, stage
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert metrics["model"] == "dcgan" and metrics["n_samples"] == 8
    assert "fd_classifier" in metrics and "fd_classifier_floor" in metrics and "gates_passed" in metrics
    assert metrics == {
        **json.loads((repo / "reports" / "evaluate" / "dcgan" / "metrics.json").read_text()),
        "model": "dcgan",
    }
    assert (repo / "data" / "sample" / "dcgan" / "samples.parquet").is_file()
    assert (repo / "data" / "evaluate" / "dcgan" / "nearest.parquet").is_file()

    second = _dvc("repro", cwd=repo)
    assert second.returncode == 0 and "Running stage" not in second.stdout, second.stdout

    plots = _dvc("plots", "show", "--json", cwd=repo)
    assert plots.returncode == 0, plots.stderr
    shown = json.loads(plots.stdout)
    assert not shown.get("errors"), shown.get("errors")
    for name in ("class_histogram", "spectrum", "prdc"):
        assert f"reports/evaluate/dcgan/plots/{name}.json" in shown["data"], name
