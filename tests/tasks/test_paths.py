"""tasks/paths.py and dvc.yaml name the same paths; stages never import each other; dvc.yaml's deps are narrow.

The last test runs real DVC on a copy of the repository: every output stands in
as a placeholder file, ``dvc commit`` records the pipeline as up to date, and
``dvc status`` then says which stages an edit to one source file makes stale.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.dvc_pipeline import stage_order
from tasks import paths
from tests.conftest import REPO, copy_repo, write_params

MODEL = "<model>"
FAMILY_VARS = re.compile(r"\$\{(item|train)\.model\}")


def _entries(stage: dict) -> list[str]:
    out = []
    for kind in ("deps", "outs", "metrics", "plots"):
        for entry in stage.get(kind, []):
            out.append(entry if isinstance(entry, str) else next(iter(entry)))
    return out


def _dvc_data_paths() -> set[str]:
    """Every data/ and reports/ path dvc.yaml names (stages and top-level plots), ${...model} as <model>."""
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    names = [e for stage in pipeline["stages"].values() for e in _entries(stage)]
    names += [e if isinstance(e, str) else next(iter(e)) for e in pipeline.get("plots", [])]
    return {FAMILY_VARS.sub(MODEL, n) for n in names if n.startswith(("data/", "reports/"))}


def test_dvc_yaml_and_tasks_paths_name_the_same_paths() -> None:
    declared = {str(p) for p in paths.declared(MODEL)}
    in_dvc = _dvc_data_paths()
    assert in_dvc - declared == set(), "paths in dvc.yaml that tasks/paths.py does not declare"
    assert declared - in_dvc == set(), "paths in tasks/paths.py that dvc.yaml does not name"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_stages_import_no_other_stage_and_the_library_no_application() -> None:
    shared = {"tasks", "tasks.common", "tasks.paths"}
    for module in sorted((REPO / "tasks").glob("*.py")):
        stages = {n for n in _imports(module) if n.split(".")[0] == "tasks"} - shared
        assert stages == set(), f"{module.name} imports {stages}"
    for module in sorted((REPO / "genqc").rglob("*.py")):
        application = {n for n in _imports(module) if n.split(".")[0] in ("tasks", "flows")}
        assert application == set(), f"{module.relative_to(REPO)} imports {application}"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False)


def _placeholders(repo: Path, families: list[str], primary: str) -> None:
    """A stand-in file (or folder with one file) for every output, so `dvc commit` can record the pipeline."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for stage in pipeline.values():
        outs = [
            e if isinstance(e, str) else next(iter(e)) for k in ("outs", "metrics", "plots") for e in stage.get(k, [])
        ]
        for family in families if "matrix" in stage else [primary]:
            for name in outs:
                path = repo / name.replace("${item.model}", family).replace("${train.model}", primary)
                if path.suffix:  # a file
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"{name}\n")
                else:  # a folder output
                    path.mkdir(parents=True, exist_ok=True)
                    (path / "placeholder.txt").write_text(f"{name}\n")


def _stale(repo: Path, edited: str) -> set[str]:
    """The stages `dvc status` reports after appending a comment to ``edited`` (the edit is undone after)."""
    target = repo / edited
    original = target.read_text()
    target.write_text(original + "\n# an edit\n")
    try:
        status = _run(sys.executable, "-m", "dvc", "status", "--json", cwd=repo)
    finally:
        target.write_text(original)
    assert status.returncode == 0, status.stderr
    return set(json.loads(status.stdout or "{}"))


@pytest.mark.slow  # about ten DVC invocations on a copy of the repository
def test_an_edit_reruns_only_the_stages_that_use_the_file(tmp_path: Path, tiny_params: dict) -> None:
    repo = copy_repo(tmp_path / "repo")
    families = ["dcgan", "vae"]
    tiny_params["train"] = {**tiny_params["train"], "model": "dcgan", "models": families}
    write_params(repo, tiny_params)
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"],
    ):
        assert _run(*command, cwd=repo).returncode == 0
    _placeholders(repo, families, "dcgan")  # after the git commit: DVC outputs must not be tracked by git
    commit = _run(sys.executable, "-m", "dvc", "commit", "-f", cwd=repo)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert _stale(repo, "README.md") == set()  # up to date: a file no stage uses changes nothing
    # sample.ensemble may mix in another family's ema.pt: DVC trains every family before any family samples
    assert {"train@dcgan", "train@vae"} <= set(stage_order(repo, ["sample@dcgan"]))

    assert _stale(repo, "genqc/models/dcgan.py") == {"train@dcgan", "sample@dcgan", "evaluate@dcgan"}
    assert _stale(repo, "genqc/models/vae.py") == {"train@vae", "sample@vae", "evaluate@vae"}
    assert _stale(repo, "genqc/sampling.py") == {"sample@dcgan", "sample@vae"}
    assert _stale(repo, "genqc/evaluation/policy.py") == {"evaluate@dcgan", "evaluate@vae"}
    assert _stale(repo, "tasks/evaluate.py") == {"evaluate@dcgan", "evaluate@vae"}
    # the real reference features: their own code re-extracts them; no generator's or metric's code does
    assert _stale(repo, "tasks/features.py") == {"features"}
    readers = {"features", "sample@dcgan", "sample@vae", "evaluate@dcgan", "evaluate@vae"}
    assert _stale(repo, "genqc/evaluation/references.py") == readers
    assert "features" not in _stale(repo, "genqc/metrics/kid.py") | _stale(repo, "genqc/sampling.py")
    assert _stale(repo, "genqc/report/html.py") == {"report"}
