"""Sharing through a DVC remote as a team does: push from one clone, pull into another, nothing to redo.

A local-directory remote stands in for S3/GCS/Azure (same commands, see docs/dvc.md). The
tiny pipeline is ingest + validate on builtin:digits, so the test runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_repo, write_params

GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]


def _run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cwd) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{args}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def _dvc(*args: str, cwd: Path) -> str:
    return _run(sys.executable, "-m", "dvc", *args, cwd=cwd).stdout


@pytest.mark.slow
def test_push_to_a_local_remote_and_pull_into_a_second_clone(tmp_path: Path, tiny_params: dict) -> None:
    origin = copy_repo(tmp_path / "origin")
    write_params(origin, tiny_params)
    _run("git", "init", "-q", cwd=origin)
    _dvc("repro", "validate", cwd=origin)  # ingest + validate only
    _dvc("remote", "add", "-d", "shared", str(tmp_path / "remote"), cwd=origin)
    _run(*GIT, "add", "-A", cwd=origin)
    _run(*GIT, "commit", "-qm", "validated digits", cwd=origin)
    _dvc("push", "--with-deps", "validate", cwd=origin)

    clone = tmp_path / "clone"
    _run("git", "clone", "-q", str(origin), str(clone), cwd=tmp_path)
    committed = json.loads((clone / "reports/validation/metrics.json").read_text())  # in git: cache: false
    assert committed["rows_clean"] > 0 and committed["errors_failed"] == 0
    _dvc("pull", "--with-deps", "validate", cwd=clone)
    assert (clone / "data/validate/train.parquet").is_file()
    assert (clone / "reports/validation/docs/index.html").is_file()

    status = _dvc("status", "--with-deps", "validate", cwd=clone)
    assert "up to date" in status.lower(), status
    shown = json.loads(_dvc("metrics", "show", "--json", cwd=clone))
    numbers = next(iter(shown.values()))["data"]["reports/validation/metrics.json"]["data"]
    assert numbers == committed
    repro = _dvc("repro", "validate", cwd=clone)  # ingest too (a dependency)
    assert "Running stage" not in repro, repro  # the pulled outputs satisfy dvc.lock: nothing to do
