"""The whole chain under `dvc repro` on tiny params, from a fresh copy of the repository.

One family (dcgan) keeps it short; the other families' sample/evaluate paths are
covered by tests/tasks. Also checks that dvc.yaml and tasks/common.py agree on
every path, so code and pipeline cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, copy_repo, write_params


def _dvc(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cwd) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


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
    for stage in ("ingest", "validate", "augment", "classifier", "train@dcgan", "sample@dcgan", "evaluate@dcgan",
                  "publish"):  # fmt: skip
        assert f"Running stage '{stage}'" in first.stdout, stage
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    assert metrics["model"] == "dcgan" and metrics["n_samples"] == 8
    assert "fd_classifier" in metrics and "fd_classifier_floor" in metrics and "gates_passed" in metrics
    assert metrics == {**json.loads((repo / "reports" / "evaluate" / "dcgan" / "metrics.json").read_text()),
                       "model": "dcgan"}  # fmt: skip
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


def _dvc_paths() -> set[str]:
    """Every deps/outs/metrics/plots path of dvc.yaml, with ${item.model} and ${train.model} as <model>."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    paths = set()
    for stage in stages.values():
        for kind in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path = entry if isinstance(entry, str) else next(iter(entry))
                paths.add(re.sub(r"\$\{(item|train)\.model\}", "<model>", path))
    return paths


@pytest.mark.parametrize("stage_module", ["sample", "evaluate", "publish"])
def test_the_paths_stages_write_are_the_ones_dvc_yaml_declares(stage_module: str) -> None:
    import importlib

    module = importlib.import_module(f"tasks.{stage_module}")
    declared = _dvc_paths()
    functions = {name: getattr(module, name) for name in ("samples_path", "rejected_path", "summary_path",
                 "grid_path", "metrics_path", "nearest_path") if hasattr(module, name)}  # fmt: skip
    for name, function in functions.items():
        assert str(function("<model>")) in declared, (stage_module, name)
    if hasattr(module, "plots_dir"):
        assert str(module.plots_dir("<model>")) in declared
    from tasks.common import METRICS_FILE

    assert str(METRICS_FILE) in declared
