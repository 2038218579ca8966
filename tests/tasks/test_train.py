"""The train stage end to end on tiny params: outputs, resume, refusal, SIGKILL and DDP runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genqc.cli import main as genqc
from genqc.data.table import images_to_table
from genqc.io import write_parquet
from genqc.training.checkpoint import EMA_FILE, LAST, load_checkpoint, read_checkpoint
from tests.conftest import REPO, write_params


def write_train_table(directory: Path, *, n: int = 48, size: int = 16, seed: int = 0) -> None:
    """A small image table at data/augment/train.parquet (blurred noise, labels 0..9): no other stage needed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(n, size // 4, size // 4, 1), dtype=np.uint8)
    images = coarse.repeat(4, axis=1).repeat(4, axis=2)  # (n, s/4, s/4, 1) -> (n, s, s, 1)
    table = images_to_table(images, np.arange(n) % 10, [f"img{i}" for i in range(n)])
    write_parquet(table, directory / "data" / "augment" / "train.parquet")


@pytest.fixture
def train_dir(tiny_workdir: Path) -> Path:
    write_train_table(tiny_workdir)
    return tiny_workdir


def _set(directory: Path, params: dict, **train) -> None:
    params = {**params, "train": {**params["train"], **train}}
    write_params(directory, params)


@pytest.mark.parametrize("family", ["dcgan", "vae", "ddpm"])
def test_train_writes_checkpoints_curves_and_samples(train_dir: Path, family: str, tiny_params: dict, capsys) -> None:
    if family == "ddpm":  # a tiny U-Net and 2 DDIM steps: the stage is under test here, not diffusion quality
        ddpm = {**tiny_params["train"].get("ddpm", {}), "width": 8, "sample_steps": 2, "timesteps": 10}
        _set(train_dir, tiny_params, ddpm=ddpm)
    assert genqc(["train", "--model", family]) == 0
    out = capsys.readouterr().out
    assert f"train {family} on cpu x1: steps 0 -> 2 of 2" in out
    run, log = train_dir / "data" / "train" / family, train_dir / "reports" / "train" / family
    state = read_checkpoint(run / LAST)
    assert state["step"] == 2 and state["family"] == family
    assert {"model", "optimizers", "ema"} <= set(state) and "rng" not in state  # the loop reseeds every step
    loaded = load_checkpoint(run / EMA_FILE)
    assert loaded.ema and loaded.config["image_size"] == 16
    assert (log / "metrics.json").is_file() and (log / "samples.png").is_file()
    assert (log / "plots" / "images" / "samples.png").is_file()
    curves = sorted(p.relative_to(log / "plots" / "metrics").as_posix() for p in (log / "plots").rglob("*.tsv"))
    assert "images_per_s.tsv" in curves and any(c.endswith("/loss.tsv") for c in curves)
    assert any(c.endswith("/grad_norm.tsv") for c in curves) and any(c.startswith("lr/") for c in curves)
    assert not (train_dir / "dvc.yaml").exists()  # DVCLive must not write a dvc.yaml


def test_training_and_its_logging_never_reach_for_the_network(train_dir: Path, monkeypatch) -> None:
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("DVC_NO_ANALYTICS", raising=False)
    monkeypatch.delenv("DVC_STUDIO_OFFLINE", raising=False)
    assert genqc(["train", "--model", "vae"]) == 0
    assert attempts == []


def test_raising_steps_continues_and_curves_do_not_repeat(train_dir: Path, tiny_params: dict, capsys) -> None:
    assert genqc(["train", "--model", "vae"]) == 0
    _set(train_dir, tiny_params, steps=3)
    assert genqc(["train", "--model", "vae"]) == 0
    assert "resuming from data/train/vae/last.pt at step 2 of 3" in capsys.readouterr().out
    assert read_checkpoint(train_dir / "data/train/vae/last.pt")["step"] == 3
    loss = next((train_dir / "reports/train/vae/plots/metrics").rglob("loss.tsv")).read_text().splitlines()
    assert loss[0].split("\t")[0] == "step" and [row.split("\t")[0] for row in loss[1:]] == ["1", "2", "3"]


def test_a_checkpoint_from_other_params_is_refused_with_the_changed_keys(train_dir: Path, tiny_params, capsys) -> None:
    assert genqc(["train", "--model", "vae"]) == 0
    vae = {**tiny_params["train"]["vae"], "latent_dim": 3, "lr": 0.002}
    _set(train_dir, {**tiny_params, "train": {**tiny_params["train"], "vae": vae}}, l1=0.001)
    capsys.readouterr()
    assert genqc(["train", "--model", "vae"]) == 2
    err = capsys.readouterr().err
    assert "data/train/vae/last.pt was trained with other settings" in err
    assert "train.l1: 0.0 -> 0.001" in err and "train.vae.latent_dim: 16 -> 3" in err
    assert "train.vae.lr: 0.001 -> 0.002" in err
    assert "To start fresh delete data/train/vae/last.pt" in err and "train.resume" in err


def test_resume_false_starts_over(train_dir: Path, tiny_params: dict, capsys) -> None:
    assert genqc(["train", "--model", "vae"]) == 0
    _set(train_dir, tiny_params, l1=0.001, resume=False)
    assert genqc(["train", "--model", "vae"]) == 0
    assert "steps 0 -> 2 of 2" in capsys.readouterr().out


def test_cuda_without_cuda_is_exit_2(train_dir: Path, tiny_params: dict, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _set(train_dir, tiny_params, device="cuda")
    assert genqc(["train"]) == 2
    assert "train.device='cuda' but this machine has no CUDA device" in capsys.readouterr().err


def test_images_of_the_wrong_size_are_a_data_error(train_dir: Path, tiny_params: dict, capsys) -> None:
    write_params(train_dir, {**tiny_params, "ingest": {**tiny_params["ingest"], "image_size": 32}})
    assert genqc(["train", "--model", "vae"]) == 1
    assert "holds 16x16x1 images but ingest.image_size=32" in capsys.readouterr().err


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return env


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_ends_with_identical_weights(tmp_path: Path, tiny_params: dict) -> None:
    runs = {}
    for name in ("straight", "killed"):
        directory = tmp_path / name
        directory.mkdir()
        write_train_table(directory)
        _set(directory, tiny_params, steps=12, checkpoint_every=1, image_every=100, log_every=1)
        runs[name] = directory
    command = [sys.executable, "-m", "genqc.cli", "train", "--model", "vae"]
    done = subprocess.run(command, cwd=runs["straight"], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr

    last = runs["killed"] / "data/train/vae/last.pt"
    victim = subprocess.Popen(
        command, cwd=runs["killed"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if last.is_file() and read_checkpoint(last)["step"] >= 4:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    killed_at = read_checkpoint(last)["step"]
    assert 4 <= killed_at < 12, f"the run was not killed mid-way (checkpoint at step {killed_at})"

    rerun = subprocess.run(command, cwd=runs["killed"], env=_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from data/train/vae/last.pt at step {killed_at}" in rerun.stdout
    straight, resumed = _weights(runs["straight"] / "data/train/vae/last.pt"), _weights(last)
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


@pytest.mark.slow
def test_two_cpu_processes_under_torchrun_complete(train_dir: Path, tiny_params: dict) -> None:
    _set(train_dir, tiny_params, nproc=2, steps=3)
    done = subprocess.run(
        [sys.executable, "-m", "genqc.cli", "train", "--model", "vae"],
        cwd=train_dir,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 processes under torchrun, global batch 16 (8 per process)" in done.stdout
    assert "train vae on cpu x2: steps 0 -> 3 of 3" in done.stdout
    assert read_checkpoint(train_dir / "data/train/vae/last.pt")["step"] == 3
