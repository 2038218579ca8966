"""flows/sweep.py: a grid of DVC experiments (DVC's queue, or Prefect tasks on Dask), compared in one table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from prefect_dask import DaskTaskRunner

from flows.experiments import load_points, queue_statuses
from flows.sweep import comparison_rows, genqc_sweep, make_task_runner
from flows.sweep import main as sweep_main
from genqc.errors import ConfigError
from tests.flows.toyrepo import TOY_PARAMS, make_toy_repo


def test_dask_runner_is_a_local_cluster_or_the_given_scheduler() -> None:
    local = make_task_runner(None, 3)
    assert isinstance(local, DaskTaskRunner) and local.cluster_kwargs["n_workers"] == 3
    assert make_task_runner("tcp://127.0.0.1:8786").address == "tcp://127.0.0.1:8786"
    with pytest.raises(ConfigError, match="--workers=0: need at least 1"):
        make_task_runner(None, 0)
    with pytest.raises(ConfigError, match="expected tcp://HOST:PORT"):
        make_task_runner("localhost:8786")


def test_queue_status_table_is_read_by_name() -> None:
    output = (
        "Task     Name        Created    Status\n551665c  plump-tuns  11:09 AM   Success\n"
        "fb73abf  pithy-ryas  11:09 AM   Running\n\nWorker status: 1 active, 0 idle\n"
    )
    assert queue_statuses(output) == {"plump-tuns": "Success", "pithy-ryas": "Running"}


def test_comparison_rows_keep_failures_visible() -> None:
    rows = comparison_rows(
        [["seed=1"], ["seed=2"]], ["e1", None], [None, "dvc experiment seed=2 failed\nboom"], {"e1": {"score": 13}}
    )
    assert rows == [
        {"experiment": "e1", "status": "done", "seed": "1", "score": 13},
        {"experiment": "-", "status": "failed", "seed": "2", "error": "boom"},
    ]


def test_sweep_cli_rejects_a_bad_axis_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert sweep_main(["--set", "seed", "--repo", str(tmp_path)]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
    assert sweep_main(["--repo", str(tmp_path)]) == 2
    assert "give either --set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("points: {}", "non-empty 'points"),
        ("[1, 2]", "non-empty 'points"),
        ("points: {a: [seed=1]}\nbasis: []", "unknown top-level key"),
        ("points: {a: seed=1}", "point 'a' must be a list"),
        ("points: {a: [seed]}", "is not KEY=VALUE"),
        ("base: seed=1\npoints: {a: []}", "base must be a list"),
        ("points: {a b: []}", "must be letters, digits"),
        ("points: {a: [", "not valid YAML"),
    ],
)
def test_a_bad_points_file_exits_2_naming_what_to_fix(
    text: str, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    points = tmp_path / "points.yaml"
    points.write_text(text)
    assert sweep_main(["--points", str(points), "--repo", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_points_start_from_the_base_and_replace_its_keys(tmp_path: Path) -> None:
    points = tmp_path / "points.yaml"
    points.write_text("base: [seed=5, train.steps=3]\npoints:\n  default:\n  other_seed: [seed=1]\n")
    assert load_points(points) == [
        ("default", ["seed=5", "train.steps=3"]),
        ("other_seed", ["train.steps=3", "seed=1"]),
    ]
    assert sweep_main(["--points", str(tmp_path / "missing.yaml"), "--repo", str(tmp_path)]) == 2


def _assert_both_points_done(rows: list[dict], repo: Path, before: str) -> None:
    steps = TOY_PARAMS["train"]["steps"]
    assert sorted((row["seed"], row["score"], row["status"]) for row in rows) == [
        ("1", 10 + steps, "done"),
        ("2", 20 + steps, "done"),
    ]
    assert all(row["experiment"] != "-" and row["score_ci_low"] == row["score"] - 1 for row in rows)
    # the workspace is untouched (params unchanged, no stage outputs)
    assert (repo / "params.yaml").read_text() == before
    assert not (repo / "out").exists()
    assert yaml.safe_load(before)["seed"] == 0


@pytest.mark.slow
def test_two_named_points_on_dvcs_queue_both_complete_and_reach_the_table(
    prefect_server, toy_repo: Path, tmp_path: Path
) -> None:
    before = (toy_repo / "params.yaml").read_text()
    points = tmp_path / "points.yaml"
    points.write_text("base: [seed=5, train.steps=3]\npoints:\n  low: [seed=1]\n  high: [seed=2]\n")
    rows = genqc_sweep(grid=[], repo_dir=str(toy_repo), executor="queue", workers=2, points_file=str(points))
    _assert_both_points_done(rows, toy_repo, before)
    assert [(row["point"], row["seed"]) for row in rows] == [("low", "1"), ("high", "2")]  # the point's value wins


@pytest.mark.slow
def test_two_points_on_a_dask_local_cluster_both_complete(prefect_server, toy_repo: Path) -> None:
    before = (toy_repo / "params.yaml").read_text()
    sweep = genqc_sweep.with_options(task_runner=make_task_runner(None, 2))
    rows = sweep(grid=["seed=1,2"], label="seeds", repo_dir=str(toy_repo), executor="dask")
    _assert_both_points_done(rows, toy_repo, before)


@pytest.mark.slow
def test_a_failing_point_is_in_the_table_with_its_stage_message(prefect_server, tmp_path: Path) -> None:
    repo = make_toy_repo(tmp_path / "r", stages={"check": {"cmd": "python step.py ${seed}", "params": ["seed"]}})
    (repo / "step.py").write_text((repo / "step.py").read_text().replace('if name == "fail":', 'if name == "1":'))
    init_commit = subprocess.run(["git", "commit", "-qam", "seed 1 fails"], cwd=repo, check=False)
    assert init_commit.returncode == 0
    state = genqc_sweep(grid=["seed=0,1"], repo_dir=str(repo), return_state=True)
    assert state.is_failed() and "1 of 2 sweep experiments failed" in state.message
    assert "disk on fire: cannot write out/fail.json" in state.message
