"""flows/dvc_pipeline.py: the stage order comes from DVC, and one stage is reproduced (or skipped) by DVC."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from flows.dvc_pipeline import StageFailed, base_name, reproduce, stage_exit_code, stage_order, tail
from genqc.errors import ConfigError
from tests.flows.toyrepo import TOY_STAGES, make_toy_repo


def test_order_is_dvcs_with_matrix_addresses(toy_repo: Path) -> None:
    assert stage_order(toy_repo) == ["prep", "train@dcgan", "train@vae", "publish"]


def test_targets_bring_their_upstream_and_a_matrix_name_means_all_items(toy_repo: Path) -> None:
    assert stage_order(toy_repo, ["train"]) == ["prep", "train@dcgan", "train@vae"]
    assert stage_order(toy_repo, ["train@vae"]) == ["prep", "train@vae"]
    assert stage_order(toy_repo, ["publish"]) == ["prep", "train@dcgan", "train@vae", "publish"]


def test_order_follows_dependencies_not_the_file(tmp_path: Path) -> None:
    # publish is written first in dvc.yaml but depends on the others: DVC's order wins.
    stages = {"publish": TOY_STAGES["publish"], "train": TOY_STAGES["train"], "prep": TOY_STAGES["prep"]}
    repo = make_toy_repo(tmp_path / "r", stages=stages)
    assert stage_order(repo) == ["prep", "train@dcgan", "train@vae", "publish"]


def test_unknown_stage_lists_the_known_ones(toy_repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown stage in \['trian'\].*dvc.yaml has: prep, publish, train@dcgan"):
        stage_order(toy_repo, ["trian"])


def test_not_a_dvc_repo_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a DVC repository"):
        stage_order(tmp_path)


def test_reproduce_runs_a_stale_stage_then_dvc_skips_it(toy_repo: Path) -> None:
    first = reproduce("prep", toy_repo)
    assert first.ran and (toy_repo / "out/prep.json").is_file()
    second = reproduce("prep", toy_repo)
    assert not second.ran, second.stdout


def test_a_failing_stage_raises_with_its_stderr_tail(tmp_path: Path) -> None:
    repo = make_toy_repo(tmp_path / "r", stages={"broken": {"cmd": "python step.py fail"}})
    with pytest.raises(StageFailed) as info:
        reproduce("broken", repo)
    assert "dvc stage 'broken' failed with exit code" in str(info.value)
    assert "disk on fire: cannot write out/fail.json" in info.value.tail
    assert info.value.exit_code == 1
    copy = pickle.loads(pickle.dumps(info.value))  # crosses process boundaries (Dask, Prefect results) intact
    assert (copy.what, copy.returncode, copy.tail) == (info.value.what, info.value.returncode, info.value.tail)


def test_the_stage_own_exit_code_comes_through_dvcs_255(tmp_path: Path) -> None:
    repo = make_toy_repo(tmp_path / "r", stages={"usage": {"cmd": "python step.py usage"}})
    with pytest.raises(StageFailed) as info:
        reproduce("usage", repo)
    assert (info.value.returncode, info.value.exit_code) == (2, 2)  # dvc repro itself exited 255
    assert "train.steps=-1 is not allowed" in info.value.tail


def test_stage_exit_code_2_stays_a_config_error_exit() -> None:
    assert StageFailed("dvc stage 'ingest'", 2, "bad key").exit_code == 2
    assert StageFailed("dvc stage 'ingest'", 255, "").exit_code == 1
    assert StageFailed("dvc stage 'ingest'", -9, "").exit_code == 1
    assert stage_exit_code(255, "ERROR: failed to run: genqc train, exited with 2") == 2
    assert stage_exit_code(255, "ERROR: Unable to acquire lock") == 255
    assert "(no output on stderr)" in str(StageFailed("x", 1, ""))


def test_base_name_and_tail() -> None:
    assert base_name("train@vae") == "train"
    assert base_name("train") == "train"
    assert base_name("train@lr-0.1@x") == "train"
    text = "\n".join(f"line {i}" for i in range(100))
    assert tail(text, lines=2) == "line 98\nline 99"
    assert len(tail("x" * 10000, chars=50)) == 50
