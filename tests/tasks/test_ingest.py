"""The ingest stage as a user runs it: outputs, accounting, exit codes, dvc repro."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import REPO, copy_repo, run_genqc, write_params


def test_ingest_writes_stratified_deterministic_tables(tiny_workdir: Path) -> None:
    result = run_genqc("ingest", cwd=tiny_workdir)
    assert result.returncode == 0, result.stderr
    train = pd.read_parquet(tiny_workdir / "data/ingest/train.parquet")
    test = pd.read_parquet(tiny_workdir / "data/ingest/test.parquet")
    assert len(train) + len(test) == 1797
    assert set(train["id"]).isdisjoint(test["id"])
    shares = test["label"].value_counts(normalize=True)
    assert (shares - 0.1).abs().max() < 0.02  # every class keeps its share
    for column in (
        "id",
        "label",
        "image",
        "height",
        "width",
        "channels",
        "sha256",
        "phash",
        "mean",
        "std",
        "orig_height",
        "orig_width",
    ):
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
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    git = shutil.which("git")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run([git, *args], cwd=repo, check=True, env=env)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "repro", "ingest"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "data/ingest/train.parquet").is_file() and (repo / "dvc.lock").is_file()
    again = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "repro", "ingest"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "didn't change, skipping" in again.stdout


def _folder(root: Path, names: tuple[str, ...]) -> None:
    for name in names:
        for i in range(2):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((6, 6), 30 * i + 40, np.uint8)).save(root / name / f"{i}.png")


def test_pinned_class_mapping_keeps_labels_when_a_class_is_added(tmp_path: Path, tiny_params: dict) -> None:
    data = tmp_path / "images"
    _folder(data, ("cat", "dog"))
    tiny_params["ingest"].update(source=f"folder:{data}", test_fraction=0.5)
    write_params(tmp_path, tiny_params)
    first = run_genqc("ingest", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 class names were numbered in sorted order (cat, dog)" in first.stdout
    classes = json.loads((tmp_path / "data/ingest/classes.json").read_text())
    assert classes["classes"] == [
        {"label": 0, "name": "cat", "rule": "assigned"},
        {"label": 1, "name": "dog", "rule": "assigned"},
    ]
    tiny_params["ingest"]["class_map"] = classes["class_map"]  # what the hint tells the user to do
    _folder(data, ("aardvark",))
    write_params(tmp_path, tiny_params)
    second = run_genqc("ingest", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    rows = pd.concat([pd.read_parquet(tmp_path / f"data/ingest/{s}.parquet") for s in ("train", "test")])
    assert dict(zip(rows["class_name"], rows["label"], strict=True)) == {"cat": 0, "dog": 1, "aardvark": 2}
    recorded = json.loads((tmp_path / "data/ingest/classes.json").read_text())["classes"]
    assert [c["rule"] for c in recorded] == ["pinned", "pinned", "assigned"]


def test_a_class_map_giving_two_names_one_label_exits_2(tmp_path: Path, tiny_params: dict) -> None:
    tiny_params["ingest"]["class_map"] = {"cat": 0, "dog": 0}
    write_params(tmp_path, tiny_params)
    result = run_genqc("ingest", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ingest.class_map" in result.stderr and "'cat' and 'dog' both map to label 0" in result.stderr


def _limit_file_size(limit: int):
    def apply() -> None:  # runs in the child before exec; Python itself ignores SIGXFSZ, so writes get EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_write_error_is_one_line_exit_1_and_keeps_the_previous_outputs(tmp_path: Path, tiny_params: dict) -> None:
    images = np.random.default_rng(0).integers(0, 256, (16, 16, 16), dtype=np.uint8)  # noise: ~5 KiB of PNG
    np.savez(tmp_path / "d.npz", images=images, labels=np.arange(16) % 2)
    tiny_params["ingest"].update(source=f"npz:{tmp_path / 'd.npz'}", test_fraction=0.5)
    write_params(tmp_path, tiny_params)
    assert run_genqc("ingest", cwd=tmp_path).returncode == 0
    out = tmp_path / "data/ingest"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(before["train.parquet"]) > 4096
    tiny_params["seed"] = 1  # new outputs would differ from the old ones
    write_params(tmp_path, tiny_params)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-m", "genqc.cli", "ingest"],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        preexec_fn=_limit_file_size(4096),
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "genqc ingest: error: cannot write data/ingest/ (the rows staged for train.parquet and test.parquet): File "
        "too large; the previous outputs are left as they were"
    ]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing half-written, no temporary left


def test_an_output_directory_that_is_a_file_is_one_line_exit_1(tiny_workdir: Path) -> None:
    (tiny_workdir / "data").mkdir()
    (tiny_workdir / "data/ingest").write_text("not a directory")
    result = run_genqc("ingest", cwd=tiny_workdir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "genqc ingest: error: cannot write data/ingest/train.parquet: File exists; the previous outputs are left as "
        "they were"
    ]
