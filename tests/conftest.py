"""Shared fixtures: the real params.yaml, shrunk, and a scratch working directory.

We test the real config, only smaller: ``tiny_params`` loads the repository's
params.yaml and overrides just enough to make every stage run in seconds
(scikit-learn digits at 16x16, a few steps, a few samples, CPU).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# Stage tests run `genqc <stage>` in scratch work directories outside the project; the CLI finds the
# project's tasks/ and flows/ through GENQC_PROJECT there (genqc/cli.py), and so do their subprocesses.
os.environ.setdefault("GENQC_PROJECT", str(REPO))

# Overrides applied on top of params.yaml; each stage's section is shrunk here only.
TINY_OVERRIDES: dict = {
    "ingest": {"source": "builtin:digits", "image_size": 16, "resize": "stretch", "test_fraction": 0.25},
    "augment": {"copies": 1},
    "classifier": {"epochs": 1, "batch_size": 64, "device": "cpu"},
    "train": {
        "steps": 2,
        "batch_size": 16,
        "device": "cpu",
        "checkpoint_every": 1,
        "image_every": 2,
        "grid_size": 16,
        "log_every": 1,
    },
    "sample": {"n": 8, "batch_size": 8, "device": "cpu"},
    "evaluate": {
        "bootstrap": 5,
        "kid_subsets": 5,
        "kid_subset_size": 4,
        "device": "cpu",
        "max_train": 64,
        "extractors": ["classifier"],
    },
    "gates": {"fail": False},  # two training steps make a bad model: record the verdicts, do not fail the chain
}


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def real_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text()) or {}


@pytest.fixture
def tiny_params() -> dict:
    """The repository's params.yaml with every stage shrunk to seconds (a plain dict)."""
    params = real_params()
    for section, override in TINY_OVERRIDES.items():
        if section in params or section in ("ingest",):
            params[section] = _merge(params.get(section, {}), override)
    return params


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory the test runs in (stage outputs land under it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(directory: Path, params: dict) -> Path:
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture
def tiny_workdir(workdir: Path, tiny_params: dict) -> Path:
    """A working directory holding the tiny params.yaml."""
    write_params(workdir, tiny_params)
    return workdir


def run_genqc(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``genqc`` console entry point in a subprocess (exit codes and output as users see them)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "genqc.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def copy_repo(destination: Path) -> Path:
    """Copy the tracked project files (no venv, no data) to ``destination`` for end-to-end runs."""
    anywhere = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", ".hypothesis")
    top_level = {".venv", ".git", "data", "dvclive", "bench", "reports", "dvc.lock"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(anywhere(directory, names))
        if Path(directory) == REPO:
            skipped |= top_level & set(names)
        if Path(directory) == REPO / ".dvc":
            skipped |= {"cache", "tmp"} & set(names)
        return skipped

    shutil.copytree(REPO, destination, ignore=ignore)
    (destination / "reports").mkdir(exist_ok=True)
    return destination
