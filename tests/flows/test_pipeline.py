"""flows/pipeline.py: the flow runs dvc.yaml's stages in DVC's order, retries, fails readably, runs experiments.

These tests share one Prefect test server (the session fixture ``prefect_server``)
and run over toy DVC repos with cheap stages; one end-to-end test runs the real
first stages of the project over tiny params.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flows.pipeline import genqc_pipeline, reproduce_stage, with_retries
from genqc.cli import main as cli_main
from genqc.config import PrefectParams
from genqc.dvc_pipeline import stage_order
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
    result = genqc_pipeline(repo_dir=str(toy_repo))
    assert [r["stage"] for r in result["runs"]] == ["prep", "train@dcgan", "train@vae", "evaluate"]
    assert all(r["ran"] for r in result["runs"])
    assert json.loads((toy_repo / "reports/metrics.json").read_text())["score"] == 3
    # metrics and the sample grid exist in the toy repo; validation summary and report do not
    assert len(result["notes"]) == 2
    assert any("reports/validation/summary.json" in n for n in result["notes"])
    assert any("reports/report.html" in n for n in result["notes"])


@pytest.mark.slow
def test_a_transient_failure_is_retried_and_a_failing_stage_fails_the_flow(prefect_server, tmp_path: Path) -> None:
    marker = tmp_path / "tries"
    stages = {"train": {"matrix": {"model": ["gpu"]}, "cmd": f"python step.py flaky {marker}",
                        "outs": ["out/flaky.json"]},
              "broken": {"cmd": "python step.py fail", "deps": ["out/flaky.json"]}}  # fmt: skip
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
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=toy_repo,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
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
    from genqc.config import parse_params

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


def test_retry_stages_take_dvc_yaml_names_not_matrix_items() -> None:
    from genqc.config import parse_params
    from genqc.errors import ConfigError

    with pytest.raises(ConfigError, match=r"prefect.retry_stages=\['train@vae'\]: stage names must be dvc.yaml names"):
        parse_params({"prefect": {"retry_stages": ["train@vae"]}})
