"""Throwaway git + DVC repositories with cheap stages, for testing the flows without the ML pipeline.

``dvc exp run`` needs a git repo with a commit, so every toy repo is committed.
Its stages are ``python step.py NAME`` commands that read params.yaml and write a
little JSON, a metrics file and a 1x1 PNG: seconds, not minutes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from dvc.repo import Repo

# A stand-in stage: reads params.yaml, writes a small JSON. ``fail`` fails with a clear message;
# ``usage`` exits 2 like a genqc stage with a config error; ``flaky MARKER`` fails the first time only
# (the marker file remembers the first try).
STEP = """
import json, pathlib, sys
import yaml

name = sys.argv[1]
params = yaml.safe_load(open("params.yaml"))
if name == "fail":
    sys.stderr.write("disk on fire: cannot write out/fail.json\\n")
    sys.exit(1)
if name == "usage":
    sys.stderr.write("train.steps=-1 is not allowed: must be >= 1 (params.yaml)\\n")
    sys.exit(2)
if name == "slow":  # slow LOG: a stage long enough for two runs to overlap, logging when it starts and ends
    import os, time
    with open(sys.argv[2], "a") as log:
        log.write(f"start {os.getpid()}\\n")
    time.sleep(3)
    with open(sys.argv[2], "a") as log:
        log.write(f"end {os.getpid()}\\n")
    sys.exit(0)
if name == "flaky":
    marker = pathlib.Path(sys.argv[2])
    first = not marker.exists()
    marker.write_text(str(int(marker.read_text() or 0) + 1) if marker.exists() else "1")
    if first:
        sys.stderr.write("transient: GPU preempted\\n")
        sys.exit(1)
out = pathlib.Path("out")
out.mkdir(exist_ok=True)
if name == "publish":
    score = params["seed"] * 10 + params["train"]["steps"]
    pathlib.Path("reports").mkdir(exist_ok=True)
    metrics = {"score": score, "score_ci_low": score - 1, "score_ci_high": score + 1, "gate_min_score": "pass"}
    json.dump(metrics, open("reports/metrics.json", "w"))
    # a 1x1 PNG: the primary family's sample grid, which the flow inlines as an artifact
    pathlib.Path("reports/sample/dcgan").mkdir(parents=True, exist_ok=True)
    pathlib.Path("reports/sample/dcgan/grid.png").write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"))
suffix = "_" + sys.argv[2] if name == "train" else ""
json.dump({"stage": name, "args": sys.argv[2:]}, open(out / f"{name}{suffix}.json", "w"))
"""

TOY_PARAMS = {
    "seed": 0,
    "train": {"model": "dcgan", "steps": 3},
    "prefect": {"retry_stages": ["train"], "retries": 1, "retry_delay_s": 0},
}

TOY_STAGES = {
    "prep": {"cmd": "python step.py prep", "deps": ["step.py"], "params": ["seed"], "outs": ["out/prep.json"]},
    "train": {
        "matrix": {"model": ["dcgan", "vae"]},
        "cmd": "python step.py train ${item.model}",
        "deps": ["step.py", "out/prep.json"],
        "params": ["train.steps"],
        "outs": ["out/train_${item.model}.json"],
    },
    "publish": {
        "cmd": "python step.py publish",
        "deps": ["out/train_dcgan.json", "out/train_vae.json"],
        "params": ["seed", "train.steps"],
        "outs": ["out/publish.json"],
        "metrics": [{"reports/metrics.json": {"cache": False}}],
    },
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def init_git_dvc(repo: Path, *, dvc_init: bool = True) -> Path:
    """git init + (dvc init) + one commit of everything: what ``dvc exp run`` needs."""
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "tests@genqc.invalid")
    git(repo, "config", "user.name", "genqc tests")
    git(repo, "config", "commit.gpgsign", "false")
    if dvc_init:
        Repo.init(str(repo)).close()  # in-process: a `dvc init` subprocess costs seconds on 2 cores
        with open(repo / ".dvc" / "config", "a") as config:
            config.write("[core]\n    analytics = false\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    return repo


def make_toy_repo(path: Path, stages: dict | None = None, params: dict | None = None) -> Path:
    """A committed git + DVC repo with cheap stages (defaults: prep -> train@{dcgan,vae} -> publish)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "step.py").write_text(STEP)
    (path / "params.yaml").write_text(yaml.safe_dump(params or TOY_PARAMS, sort_keys=False))
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages or TOY_STAGES}, sort_keys=False))
    return init_git_dvc(path)
