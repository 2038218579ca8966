"""genqc.threads and the ``threads`` param: every stage's thread pools follow it, defaulting to the affinity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genqc.threads import available_cores, per_process_threads
from tests.conftest import REPO, write_params

# Loads params the way every stage does, then reports what torch, the environment and the BLAS pools use.
PROBE = """
import argparse, json, os, sys
if len(sys.argv) > 1:
    os.sched_setaffinity(0, {0})  # as `taskset -c 0` or a one-core container would
import torch
from threadpoolctl import threadpool_info
from tasks.common import params_from_args
params_from_args(argparse.Namespace(params="params.yaml"))
blas = sorted({pool["num_threads"] for pool in threadpool_info()})
print(json.dumps({"torch": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
                  "omp": os.environ["OMP_NUM_THREADS"], "blas": blas}))
"""


def _probe(directory: Path, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("OMP_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=directory, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_threads_param_sets_torch_openmp_and_blas_pools(tmp_path: Path, tiny_params: dict) -> None:
    write_params(tmp_path, {**tiny_params, "threads": 3})
    assert _probe(tmp_path) == {"torch": 3, "interop": 3, "omp": "3", "blas": [3]}


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_the_default_is_the_cores_this_process_may_use(tmp_path: Path, tiny_params: dict) -> None:
    write_params(tmp_path, {**tiny_params, "threads": None})
    assert _probe(tmp_path, "one-core") == {"torch": 1, "interop": 1, "omp": "1", "blas": [1]}


def test_torchrun_workers_share_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert (per_process_threads(8), per_process_threads(2)) == (2, 1)
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    assert per_process_threads(8) == 8


def test_threads_below_one_is_a_config_error(
    tmp_path: Path, tiny_params: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from genqc.cli import main as genqc

    write_params(tmp_path, {**tiny_params, "threads": 0})
    monkeypatch.chdir(tmp_path)
    assert genqc(["augment"]) == 2
    assert "threads=0: Input should be greater than or equal to 1" in capsys.readouterr().err
