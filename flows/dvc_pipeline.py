"""DVC's stage graph seen from Python: the order DVC runs stages in, and one stage reproduced.

Orchestrators (the Prefect flow, a cron job, a notebook) must never keep a second
copy of the pipeline graph: dvc.yaml is the single source of truth. This module
asks DVC itself for the order (``plan_repro`` over the same graph ``dvc repro``
uses, frozen stages cut loose exactly as DVC does) and reproduces one stage at a
time with ``dvc repro --single-item`` in a subprocess, so DVC still decides what
is stale, skips what is up to date and versions every output.

Matrix / foreach stages appear under DVC's own address (``train@dcgan``);
:func:`base_name` maps an address back to its dvc.yaml name (``train``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dvc.exceptions import DvcException, NotDvcRepoError
from dvc.repo import Repo
from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro
from dvc.stage import PipelineStage

from genqc.errors import ConfigError, GenqcError

TAIL_LINES = 25  # lines of a failed command's stderr kept in the error: enough for a traceback's end
TAIL_CHARS = 4000  # and never more than this, so a flow state message stays readable


# DVC's message when a stage command fails: "failed to run: genqc train, exited with 2".
_STAGE_EXIT = re.compile(r"failed to run: .*, exited with (-?\d+)")


def stage_exit_code(returncode: int, output: str) -> int:
    """The failing stage's own exit code, read from DVC's message (``dvc repro`` itself exits 255).

    Falls back to DVC's code when its output names none (DVC failed before running a command).
    """
    found = _STAGE_EXIT.findall(output)
    return int(found[-1]) if found else returncode


class StageFailed(GenqcError):
    """A DVC command (one stage, or an experiment) exited non-zero; carries the tail of its stderr.

    ``returncode`` is the stage's own exit code when DVC names it, so ``genqc run`` exits the
    way ``genqc <stage>`` did (1: data or gate failure, 2: config error, any other code the
    stage chose); DVC's own failure (255) and a killed stage (negative) become 1.
    """

    def __init__(self, what: str, returncode: int, tail: str) -> None:
        self.what = what
        self.returncode = returncode
        self.tail = tail
        self.exit_code = returncode if 0 < returncode < 255 else 1
        detail = f":\n{tail}" if tail else " (no output on stderr)"
        super().__init__(f"{what} failed with exit code {returncode}{detail}")

    def __reduce__(self):  # keep the three fields when pickled (Prefect results, Dask workers)
        return (type(self), (self.what, self.returncode, self.tail))


@dataclass(frozen=True)
class StageRun:
    """What reproducing one stage did: ``ran`` is False when DVC found it up to date and skipped it."""

    stage: str
    ran: bool
    seconds: float
    stdout: str


def base_name(address: str) -> str:
    """``train@dcgan`` -> ``train``: the dvc.yaml name behind a matrix/foreach stage address."""
    return address.split("@", 1)[0]


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text`` (at most ``chars`` characters): where an error message is."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def dvc_env() -> dict[str, str]:
    """The environment DVC subprocesses run in.

    The interpreter's bin directory goes first on PATH so stage commands (``genqc ingest``)
    find this installation's console scripts even when the venv is not activated, and DVC
    never phones home (analytics off; DVC checks for updates only in ``dvc version``).
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def run_dvc(
    args: Sequence[str], cwd: str | Path, what: str, *, wait_for_lock: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``dvc ARGS`` with this interpreter in ``cwd``; raise :class:`StageFailed` on a non-zero exit.

    ``wait_for_lock``: wait for another DVC process's repo lock instead of failing with
    "Unable to acquire lock" (experiments started side by side in one repository).
    """
    command = [sys.executable, "-m", "dvc", *(["--wait-for-lock"] if wait_for_lock else []), *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=dvc_env(), check=False)
    if done.returncode != 0:
        output = (done.stderr or "") + (done.stdout or "")
        raise StageFailed(what, stage_exit_code(done.returncode, output), tail(done.stderr or done.stdout))
    return done


def _target_in(root: str, target: str) -> str:
    """A stage target made absolute: DVC resolves ``train`` against the *current* directory's dvc.yaml."""
    path, sep, name = target.rpartition(":")
    if not sep:
        return f"{os.path.join(root, 'dvc.yaml')}:{target}"
    return f"{os.path.join(root, path)}:{name}"


def _address(root: str, stage) -> str:
    """The stage's address relative to the repo root (``train@vae``; ``sub/dvc.yaml:x`` elsewhere)."""
    relative = os.path.relpath(stage.path, root)
    return stage.name if relative == "dvc.yaml" else f"{relative}:{stage.name}"


def stage_order(repo_dir: str | Path = ".", targets: Sequence[str] | None = None) -> list[str]:
    """Stage addresses in the order ``dvc repro [TARGETS]`` would run them (upstream first).

    ``targets`` are dvc.yaml names or addresses; a matrix name (``train``) stands for all of
    its items. Like ``dvc repro train``, the stages a target depends on come too (DVC skips
    the fresh ones). Only pipeline stages with a command are returned (``.dvc`` data files
    are not stages one reproduces).
    """
    try:
        repo = Repo(str(repo_dir))
    except NotDvcRepoError:
        raise ConfigError(
            f"{Path(repo_dir).resolve()} is not a DVC repository (no .dvc/ directory); "
            "run from the project root or pass its path"
        ) from None
    with repo:
        try:
            graph = get_active_graph(repo.index.graph)
            stages = None
            if targets:
                stages = collect_stages(repo, [_target_in(repo.root_dir, t) for t in targets])
        except DvcException as exc:
            known = sorted(_address(repo.root_dir, s) for s in repo.index.stages if isinstance(s, PipelineStage))
            raise ConfigError(
                f"unknown stage in {list(targets or [])}: {exc}; dvc.yaml has: {', '.join(known)}"
            ) from None
        planned = plan_repro(graph, stages)
        return [_address(repo.root_dir, s) for s in planned if isinstance(s, PipelineStage) and s.cmd]


def reproduce(stage: str, repo_dir: str | Path = ".", *, force: bool = False) -> StageRun:
    """``dvc repro --single-item STAGE``: run one stage if DVC finds it stale, else skip it.

    Raises :class:`StageFailed` with the tail of the stage's stderr when it fails.
    """
    args = ["repro", "--single-item", stage] + (["--force"] if force else [])
    start = time.perf_counter()
    done = run_dvc(args, repo_dir, f"dvc stage {stage!r}")
    ran = f"Running stage '{stage}'" in done.stdout
    return StageRun(stage=stage, ran=ran, seconds=time.perf_counter() - start, stdout=done.stdout)
