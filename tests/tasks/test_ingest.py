"""The ingest stage as a user runs it: outputs, accounting, exit codes, dvc repro."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import copy_repo, run_genqc, write_params


def test_ingest_writes_stratified_deterministic_tables(tiny_workdir: Path) -> None:
    result = run_genqc("ingest", cwd=tiny_workdir)
    assert result.returncode == 0, result.stderr
    train = pd.read_parquet(tiny_workdir / "data/ingest/train.parquet")
    test = pd.read_parquet(tiny_workdir / "data/ingest/test.parquet")
    assert len(train) + len(test) == 1797
    assert set(train["id"]).isdisjoint(test["id"])
    shares = test["label"].value_counts(normalize=True)
    assert (shares - 0.1).abs().max() < 0.02  # every class keeps its share
    for column in ("id", "label", "image", "height", "width", "channels", "sha256", "phash", "mean", "std",
                   "orig_height", "orig_width"):  # fmt: skip
        assert column in train.columns
    assert set(train["height"]) == {16} and set(train["orig_height"]) == {8}
    first = (tiny_workdir / "data/ingest/train.parquet").read_bytes()
    assert run_genqc("ingest", cwd=tiny_workdir).returncode == 0
    assert (tiny_workdir / "data/ingest/train.parquet").read_bytes() == first
    assert "inputs    1797" in result.stdout


def test_ingest_of_a_corrupt_folder_lists_rejects_and_exits_0(tmp_path: Path, tiny_params: dict) -> None:
    data = tmp_path / "images"
    for label in ("a", "b"):
        for i in range(3):
            (data / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((10, 10), 40 * i + 20, np.uint8)).save(data / label / f"{i}.png")
    (data / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (data / "b" / "zero.png").write_bytes(b"")
    tiny_params["ingest"].update(source=f"folder:{data}", test_fraction=0.34)
    write_params(tmp_path, tiny_params)
    result = run_genqc("ingest", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rejected = pd.read_parquet(tmp_path / "data/ingest/rejected.parquet")
    assert sorted(rejected["path"]) == ["a/broken.png", "b/zero.png"]
    assert "rejected  2" in result.stdout and "inputs    8" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ingest": {"test_fraction": 1.5}}, "ingest.test_fraction=1.5: Input should be less than 1"),
        ({"ingest": {"channels": 2}}, "ingest.channels=2"),
        ({"ingest": {"colour": "rgb"}}, "unknown key 'ingest.colour'; allowed here: channels, class_map, image_size"),
        ({"ingest": {"source": "folder:/does/not/exist"}}, "directory not found"),
    ],
)
def test_bad_params_exit_2_naming_the_key(tmp_path: Path, tiny_params: dict, override: dict, message: str) -> None:
    tiny_params["ingest"].update(override["ingest"])
    write_params(tmp_path, tiny_params)
    result = run_genqc("ingest", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_params_file_exits_2(tmp_path: Path) -> None:
    result = run_genqc("ingest", "--params", "nope.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "params file nope.yaml not found" in result.stderr


@pytest.mark.slow
def test_dvc_repro_ingest_in_a_fresh_copy_of_the_repo(tmp_path: Path, tiny_params: dict) -> None:
    repo = copy_repo(tmp_path / "repo")
    write_params(repo, tiny_params)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               DVC_NO_ANALYTICS="1")  # fmt: skip
    git = shutil.which("git")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run([git, *args], cwd=repo, check=True, env=env)
    result = subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "ingest"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "data/ingest/train.parquet").is_file() and (repo / "dvc.lock").is_file()
    again = subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "ingest"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert "didn't change, skipping" in again.stdout
