"""The genqc command's start-up and exit-code contract."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from genqc.cli import PROJECT_ENV, ProjectNotFound, find_project_root, load_project_module
from tests.conftest import REPO, copy_repo, run_genqc


def test_help_lists_every_stage_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, contextlib, io\nfrom genqc.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try: main(['--help'])\n    except SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'great_expectations', 'prefect', 'pandas', 'dvc') if m in sys.modules]\n"
        "print(out.getvalue()); print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    for stage in (
        "ingest",
        "validate",
        "augment",
        "classifier",
        "train",
        "sample",
        "evaluate",
        "report",
        "metrics",
        "run",
        "serve",
    ):
        assert stage in result.stdout
    assert "HEAVY []" in result.stdout


def test_no_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = run_genqc(cwd=tmp_path)
    assert result.returncode == 2 and "usage: genqc" in result.stdout


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run_genqc("ingest", "--bogus", cwd=tmp_path)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def _without_project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PROJECT_ENV}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_a_project_command_outside_a_project_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "genqc.cli", "ingest"],
        cwd=tmp_path,
        env=_without_project_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"genqc ingest: error: not inside a genqc project: no dvc.yaml in {tmp_path.resolve()} or "
        f"any parent; run from the project root (where dvc.yaml and params.yaml are) or set "
        f"{PROJECT_ENV}\n"
    )


def test_the_project_is_found_from_a_subdirectory_or_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(PROJECT_ENV, raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "data" / "ingest").mkdir(parents=True)
    assert find_project_root(tmp_path / "data" / "ingest") == tmp_path.resolve()
    monkeypatch.setenv(PROJECT_ENV, str(REPO))
    assert find_project_root(tmp_path) == REPO.resolve()
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "data"))
    with pytest.raises(ProjectNotFound, match=f"{PROJECT_ENV}=.* has no dvc.yaml; point it at the project root"):
        find_project_root()


def test_a_project_without_the_stage_file_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(ProjectNotFound, match=r"has no tasks/train.py; is it a genqc project"):
        load_project_module(tmp_path, "tasks/train.py")


def test_the_stage_module_is_the_projects_file_and_loaded_once() -> None:
    module = load_project_module(REPO, "tasks/publish.py")
    assert Path(module.__file__).resolve() == (REPO / "tasks" / "publish.py").resolve()
    assert module.__name__ == "tasks.publish"
    assert load_project_module(REPO, "tasks/publish.py") is module


def test_the_wheel_installs_only_the_library(tmp_path: Path) -> None:
    source = copy_repo(tmp_path / "src")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run(
        [*command, "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("genqc-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/", 1)[0] for name in archive.namelist()}
    assert top_level == {"genqc", next(t for t in top_level if t.endswith(".dist-info"))}
