"""flows/sweep.py: a grid of DVC experiments in temp workspaces, compared in one table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from prefect.task_runners import ThreadPoolTaskRunner

from flows.sweep import comparison_rows, genqc_sweep, make_task_runner
from flows.sweep import main as sweep_main
from genqc.errors import ConfigError
from tests.flows.toyrepo import TOY_PARAMS


def test_local_runs_use_a_thread_pool_of_the_asked_size() -> None:
    runner = make_task_runner(None, 3)
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3
    with pytest.raises(ConfigError, match="--workers=0: need at least 1"):
        make_task_runner(None, 0)
    with pytest.raises(ConfigError, match="expected tcp://HOST:PORT"):
        make_task_runner("localhost:8786")


@pytest.mark.skipif(importlib.util.find_spec("prefect_dask") is not None, reason="prefect-dask is installed")
def test_a_cluster_address_without_prefect_dask_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match="pip install prefect-dask"):
        make_task_runner("tcp://127.0.0.1:8786")


@pytest.mark.skipif(importlib.util.find_spec("prefect_ray") is not None, reason="prefect-ray is installed")
def test_a_ray_address_without_prefect_ray_says_what_to_install() -> None:
    with pytest.raises(ConfigError, match="pip install prefect-ray"):
        make_task_runner("ray://127.0.0.1:10001")


def test_comparison_rows_keep_failures_visible() -> None:
    rows = comparison_rows([["seed=1"], ["seed=2"]], ["e1", None], [None, "dvc experiment seed=2 failed\nboom"],
                           {"e1": {"score": 13}})  # fmt: skip
    assert rows == [{"experiment": "e1", "status": "done", "seed": "1", "score": 13},
                    {"experiment": "-", "status": "failed", "seed": "2", "error": "boom"}]  # fmt: skip


def test_sweep_cli_rejects_a_bad_axis_with_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert sweep_main(["--set", "seed", "--repo", str(tmp_path)]) == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_two_experiments_run_concurrently_and_both_reach_the_table(prefect_server, toy_repo: Path) -> None:
    before = (toy_repo / "params.yaml").read_text()
    sweep = genqc_sweep.with_options(task_runner=make_task_runner(None, 2))
    rows = sweep(grid=["seed=1,2"], label="seeds", repo_dir=str(toy_repo))
    steps = TOY_PARAMS["train"]["steps"]
    assert sorted((row["seed"], row["score"], row["status"]) for row in rows) == [
        ("1", 10 + steps, "done"), ("2", 20 + steps, "done")]  # fmt: skip
    assert all(row["experiment"] != "-" and row["score_ci_low"] == row["score"] - 1 for row in rows)
    # --temp: the workspace is untouched (params unchanged, no stage outputs)
    assert (toy_repo / "params.yaml").read_text() == before
    assert not (toy_repo / "out").exists()
    assert yaml.safe_load(before)["seed"] == 0
