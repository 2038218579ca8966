"""flows/pipeline.py: the flow runs dvc.yaml's stages in DVC's order, retries, fails readably, runs experiments.

These tests share one Prefect test server (the session fixture ``prefect_server``)
and run over toy DVC repos with cheap stages; one end-to-end test runs the real
first stages of the project over tiny params.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.artifacts import Artifact
from prefect.settings import PREFECT_API_URL

from flows.dvc_pipeline import stage_order
from flows.pipeline import genqc_pipeline, reproduce_stage, with_retries
from genqc.cli import main as cli_main
from genqc.config import PrefectParams, parse_params
from genqc.errors import ConfigError
from tests.conftest import copy_repo, write_params
from tests.flows.toyrepo import TOY_PARAMS, init_git_dvc, make_toy_repo


def test_retries_apply_to_the_named_stages_and_their_matrix_items() -> None:
    cfg = PrefectParams(retry_stages=["train"], retries=3, retry_delay_s=1.5)
    for stage in ("train", "train@vae"):
        task = with_retries(reproduce_stage, stage, cfg)
        assert (task.retries, task.retry_delay_seconds) == (3, 1.5)
    assert with_retries(reproduce_stage, "validate", cfg) is reproduce_stage
    assert with_retries(reproduce_stage, "train", PrefectParams(retries=0)) is reproduce_stage


def test_reproduce_stage_task_body(toy_repo: Path) -> None:
    result = reproduce_stage.fn("prep", str(toy_repo))  # outside a flow run: a plain logger, same result
    assert result["stage"] == "prep" and result["ran"] is True and result["seconds"] > 0


@pytest.mark.slow  # each flow pays for DVC subprocesses; the server start is shared
def test_flow_runs_every_stage_in_dvc_order_and_publishes_what_exists(prefect_server, toy_repo: Path) -> None:
    state = genqc_pipeline(repo_dir=str(toy_repo), return_state=True)
    result = state.result()
    assert [r["stage"] for r in result["runs"]] == ["prep", "train@dcgan", "train@vae", "publish"]
    assert all(r["ran"] for r in result["runs"])
    assert json.loads((toy_repo / "reports/metrics.json").read_text())["score"] == 3
    # the toy's publish stage wrote the metrics: their table is this run's artifact; the toy has no
    # validate, sample or report stage, so those artifacts are not this run's to touch (no notes either)
    assert result["notes"] == []
    metrics = Artifact.get("genqc-metrics")
    assert metrics is not None and metrics.flow_run_id == state.state_details.flow_run_id
    assert json.loads(metrics.data)[0] == {"key": "score", "value": 3, "ci_low": 2, "ci_high": 4, "kind": "metric"}


@pytest.mark.slow
def test_a_transient_failure_is_retried_and_a_failing_stage_fails_the_flow(prefect_server, tmp_path: Path) -> None:
    marker = tmp_path / "tries"
    stages = {
        "train": {"matrix": {"model": ["gpu"]}, "cmd": f"python step.py flaky {marker}", "outs": ["out/flaky.json"]},
        "broken": {"cmd": "python step.py fail", "deps": ["out/flaky.json"]},
    }
    repo = make_toy_repo(tmp_path / "r", stages=stages)  # TOY_PARAMS: retry train once, no delay; not broken
    state = genqc_pipeline(repo_dir=str(repo), return_state=True)
    assert marker.read_text() == "2"  # train@gpu failed once and passed on its retry
    assert state.is_failed()  # broken is not in prefect.retry_stages: it fails the flow at once
    assert "dvc stage 'broken' failed" in state.message
    assert "disk on fire: cannot write out/fail.json" in state.message


@pytest.mark.slow
def test_overrides_run_as_a_dvc_experiment(prefect_server, toy_repo: Path) -> None:
    result = genqc_pipeline(repo_dir=str(toy_repo), overrides=["seed=2"], experiment_name="seed-two")
    assert result["experiment"] == "seed-two"
    assert json.loads((toy_repo / "reports/metrics.json").read_text())["score"] == 23
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=toy_repo, capture_output=True, text=True, check=True
    ).stdout
    assert "seed-two" in shown


@pytest.mark.slow
def test_a_bad_override_stops_before_dvc_runs(prefect_server, toy_repo: Path) -> None:
    state = genqc_pipeline(repo_dir=str(toy_repo), overrides=["train.modle=vae"], return_state=True)
    assert state.is_failed() and "unknown key 'train.modle'" in state.message
    assert not (toy_repo / "out").exists()


@pytest.mark.slow
def test_end_to_end_first_stages_over_tiny_params(prefect_server, tmp_path: Path, tiny_params: dict) -> None:
    repo = copy_repo(tmp_path / "repo")
    for scratch in (".dvc/cache", ".dvc/tmp", "reports"):
        shutil.rmtree(repo / scratch, ignore_errors=True)
    write_params(repo, tiny_params)
    init_git_dvc(repo, dvc_init=False)
    known = stage_order(repo)
    target = "validate" if "validate" in known else "ingest"
    result = genqc_pipeline(repo_dir=str(repo), stages=[target])
    ran = [r["stage"] for r in result["runs"]]
    assert ran[-1] == target and ran[0] == "ingest"
    assert (repo / "data/ingest/train.parquet").is_file()
    if target == "validate":
        assert not any("validation" in n for n in result["notes"])  # its summary became an artifact


def test_toy_params_are_valid_genqc_params() -> None:
    assert parse_params(yaml.safe_load(yaml.safe_dump(TOY_PARAMS))).prefect.retry_stages == ["train"]


@pytest.mark.slow
def test_genqc_run_prints_the_stages_and_exits_like_the_stage(
    prefect_server, toy_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(toy_repo)
    assert cli_main(["run", "--stages", "prep"]) == 0
    assert re.search(r"^prep\s+ran\s", capsys.readouterr().out, re.MULTILINE)
    assert cli_main(["run", "--stages", "trian"]) == 2
    assert "genqc run: error: unknown stage in ['trian']" in capsys.readouterr().err


@pytest.mark.slow
def test_genqc_run_exits_with_the_failing_stages_own_code(
    prefect_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_toy_repo(tmp_path / "r", stages={"usage": {"cmd": "python step.py usage"}})
    monkeypatch.chdir(repo)
    assert cli_main(["run", "--stages", "usage"]) == 2  # the stage exited 2; dvc repro itself exits 255
    assert "train.steps=-1 is not allowed: must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_two_runs_on_one_checkout_take_turns(prefect_server, tmp_path: Path) -> None:
    log = tmp_path / "stage.log"
    repo = make_toy_repo(tmp_path / "r", stages={"slow": {"cmd": f"python step.py slow {log}", "always_changed": True}})
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's test server
    command = [sys.executable, "-m", "genqc.cli", "run", "--stages", "slow"]
    runs = [
        subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs  # without the slot: "Unable to acquire lock"
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["start", "end", "start", "end"]  # the checkout's slot: the second run waited for the first


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--set", "train.steps"], "genqc run: error: param override 'train.steps' is not KEY=VALUE"),
        (["--set", "train.modle=vae"], "unknown key 'train.modle'"),
        (["--stages", "trian"], "genqc run: error: unknown stage in ['trian']"),
    ],
)
def test_genqc_run_checks_set_and_stages_before_any_flow_run(
    toy_repo: Path, arguments: list[str], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    done = subprocess.run(
        [sys.executable, "-m", "genqc.cli", "run", *arguments],
        cwd=toy_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no traceback, no flow run logs
    assert "flow run" not in done.stdout + done.stderr
    assert not (toy_repo / "out").exists()


def test_retry_stages_take_dvc_yaml_names_not_matrix_items() -> None:
    message = r"prefect.retry_stages: stage names must be dvc.yaml names .*got \['train@vae'\]"
    with pytest.raises(ConfigError, match=message):
        parse_params({"prefect": {"retry_stages": ["train@vae"]}})
