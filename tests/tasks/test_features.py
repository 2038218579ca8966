"""The features stage under real DVC: once per data version, untouched by generators, pushed and pulled.

A copy of the repository with tiny params runs ``dvc repro features`` (ingest,
validate, classifier, then the store); a generator's code or params then leave it
up to date; ``dvc push`` to a local-directory remote and ``dvc pull`` into a store
that was deleted along with the local DVC cache bring back the same files, which
evaluate then reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repo, write_params


def _run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(cwd) + os.pathsep + env.get("PYTHONPATH", "")
    env["GENQC_PROJECT"] = str(cwd)
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = _run(sys.executable, "-m", "dvc", *args, cwd=cwd)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _stale(repo: Path, *targets: str) -> set[str]:
    return set(json.loads(_dvc("status", "--json", *targets, cwd=repo).stdout or "{}"))


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.npz")}


@pytest.mark.slow  # a real `dvc repro` of four stages, push and pull
def test_the_store_is_built_once_per_data_version_and_travels_through_a_dvc_remote(
    tmp_path: Path, tiny_params: dict
) -> None:
    repo = copy_repo(tmp_path / "repo")
    write_params(repo, tiny_params)
    for command in (("init", "-q"), ("add", "-A"), ("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "c")):
        assert _run("git", *command, cwd=repo).returncode == 0

    first = _dvc("repro", "features", cwd=repo)
    ran = {line.split("'")[1] for line in first.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"ingest", "validate", "classifier", "features"}  # no generator is upstream of it
    store = repo / "data" / "features" / "store"
    summary = json.loads((repo / "data" / "features" / "summary.json").read_text())
    # test and train subsets x pool and logits of the classifier (tiny params: extractors [classifier])
    assert summary["matrices"] == summary["extracted"] == 4 and summary["n_train"] == 64
    stored = _digests(store)
    assert len(stored) == 4 and all(name.startswith("classifier/") for name in stored)

    assert "Running stage" not in _dvc("repro", "features", cwd=repo).stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["steps"] = 3  # a generator's params and code change: the store stays up to date
    params["sample"]["batch_size"] = 9
    write_params(repo, params)
    (repo / "genqc" / "models" / "dcgan.py").write_text((repo / "genqc/models/dcgan.py").read_text() + "\n# edit\n")
    assert _stale(repo, "features") == set()
    params["evaluate"]["max_train"] = 50  # a reference set's cap is part of the data version
    write_params(repo, params)
    assert _stale(repo, "features") == {"features"}
    params["evaluate"]["max_train"] = 64
    n_samples, params["sample"]["n"] = params["sample"]["n"], 9  # so is the sample count: the floor a
    write_params(repo, params)  # distance-only space stores is that many train images
    assert _stale(repo, "features") == {"features"}
    params["sample"]["n"] = n_samples
    write_params(repo, params)

    remote = tmp_path / "remote"
    _dvc("remote", "add", "-d", "local", str(remote), cwd=repo)
    _dvc("push", "features", cwd=repo)
    shutil.rmtree(store)
    shutil.rmtree(repo / ".dvc" / "cache")  # a teammate's fresh clone has neither
    _dvc("pull", "features", cwd=repo)
    assert _digests(store) == stored and _stale(repo, "features") == set()

    # evaluate reads the pulled store: the sample stage and evaluate verify its entries and extract only samples
    evaluate = _dvc("repro", "evaluate@dcgan", cwd=repo)
    assert "Running stage 'evaluate@dcgan'" in evaluate.stdout and "Running stage 'features'" not in evaluate.stdout
    assert "is not used" not in evaluate.stdout + evaluate.stderr  # no store entry was refused
    assert _digests(store) == stored  # read-only
