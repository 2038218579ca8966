"""Two CPU processes (gloo) under torchrun train like one process with the same global batch."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genqc.errors import ConfigError
from genqc.training.checkpoint import LAST, read_checkpoint
from genqc.training.distributed import split_batch
from genqc.training.loop import train
from tests.conftest import REPO
from tests.training.ddp_worker import CONFIG, FIELDS, TOY
from tests.training.toy import ToyModel, toy_images

#: fp32 all-reduce sums in another order than one process's mean: agreement to 1e-4 relative is float noise
RTOL = 1e-4


def _curve(log: Path, name: str) -> list[float]:
    column = name.rsplit("/", 1)[-1].removesuffix(".tsv")
    with (log / "plots" / "metrics" / name).open() as handle:
        return [float(row[column]) for row in csv.DictReader(handle, delimiter="\t")]


def test_the_global_batch_must_split_evenly() -> None:
    assert split_batch(64, 4) == 16
    with pytest.raises(ConfigError, match=r"train.batch_size=10 is the global batch .* train.nproc=4"):
        split_batch(10, 4)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "tests.training.ddp_worker",
        str(tmp_path / "ddp"),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    torch.manual_seed(0)
    single = ToyModel(TOY)
    train(
        single,
        toy_images(),
        None,
        CONFIG,
        fields=FIELDS,
        run_dir=tmp_path / "one" / "run",
        log_dir=tmp_path / "one" / "log",
        device=torch.device("cpu"),
    )
    for curve in ("enc/loss.tsv", "dec/loss.tsv", "dec/grad_norm.tsv"):
        ddp, one = _curve(tmp_path / "ddp" / "log", curve), _curve(tmp_path / "one" / "log", curve)
        assert len(ddp) == len(one) == CONFIG.steps
        assert torch.allclose(torch.tensor(ddp), torch.tensor(one), rtol=RTOL, atol=1e-7), (curve, ddp, one)
    assert read_checkpoint(tmp_path / "ddp" / "run" / LAST)["step"] == CONFIG.steps
