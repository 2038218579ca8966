"""DVC experiments from Python: param overrides, grids of them, and their metrics side by side.

A param override is DVC's own ``KEY=VALUE`` (``dvc exp run -S train.model=vae``):
the run is an experiment, recorded as a git ref next to the commit it started
from, so a sweep never needs a copy of the pipeline and never edits params.yaml
by hand. ``temp=True`` runs the experiment in a temporary copy of the repository
(``dvc exp run --temp``), so several can run at once without clobbering the
workspace or each other; they wait for each other's repo lock (``dvc
--wait-for-lock``) instead of failing with "Unable to acquire lock".

DVC's own way to run many is its experiment queue: :func:`queue_experiment`
(``dvc exp run --queue``), :func:`start_queue` (``dvc queue start -j N``: N
workers, each experiment in its own temporary copy) and :func:`wait_for_queue`
(``dvc queue status`` until every queued one has finished).

Overrides are checked against genqc's params schema before DVC starts, so a
typo (``train.modle=vae``) stops with the key and what is allowed instead of a
run that silently ignores it.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from flows.dvc_pipeline import StageFailed, run_dvc, tail
from genqc.config import load_params, load_params_text, parse_params
from genqc.errors import ConfigError

_RAN = re.compile(r"Ran experiment\(s\):\s*(.+)")
_QUEUED = re.compile(r"Queued experiment '([^']+)'")
FINISHED = ("Success", "Failed")  # `dvc queue status` states after which an experiment no longer changes


def parse_override(text: str) -> tuple[str, str]:
    """``"train.model=vae"`` -> ``("train.model", "vae")``; anything else is a ConfigError."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or any(c.isspace() for c in key.strip()):
        raise ConfigError(f"param override {text!r} is not KEY=VALUE (e.g. train.model=vae or seed=1)")
    return key.strip(), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of the params mapping with ``KEY=VALUE`` overrides applied, values parsed as YAML (as DVC does).

    Overrides of another params file (``other.yaml:key=value``) are left to DVC.
    """
    out = copy.deepcopy(data)
    for text in overrides:
        key, value = parse_override(text)
        if ":" in key:
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            if node.get(part) is None:
                node[part] = {}
            child = node[part]
            if not isinstance(child, dict):
                raise ConfigError(f"param override {text!r}: {part!r} is not a section")
            node = child
        node[leaf] = load_params_text(value) if value else value
    return out


def check_overrides(params_file: str | Path, overrides: Sequence[str]) -> None:
    """Validate ``overrides`` applied to ``params_file`` against genqc's schema (ConfigError if bad)."""
    load_params(params_file)  # the file itself must be valid before we blame an override
    data = load_params_text(Path(params_file).read_text(encoding="utf-8")) or {}
    parse_params(apply_overrides(data, overrides), f"{params_file} with overrides {list(overrides)}")


def split_values(text: str) -> list[str]:
    """``"dcgan,vae"`` -> ``["dcgan", "vae"]``; commas inside brackets stay (``"[a,b],[c]"`` is two values)."""
    values, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    values.append(current)
    return values


def expand_grid(sets: Sequence[str]) -> list[list[str]]:
    """``["train.model=dcgan,vae", "seed=0,1"]`` -> the 4 override lists of the cartesian product."""
    axes = []
    for text in sets:
        key, values = parse_override(text)
        choices = [v.strip() for v in split_values(values)]
        if any(not v for v in choices):
            raise ConfigError(f"sweep axis {text!r} has an empty value; write KEY=V1,V2,...")
        axes.append([f"{key}={v}" for v in choices])
    keys = [parse_override(t)[0] for t in sets]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"sweep axes repeat a key: {keys}; give each key once with all its values")
    return [list(combo) for combo in itertools.product(*axes)] if axes else []


def load_points(path: str | Path) -> list[tuple[str, list[str]]]:
    """Named grid points from a YAML file: ``[(name, base + the point's overrides), ...]`` in file order.

    A lever study is not a product of axes: each point changes one thing against a shared
    baseline. The file says so directly::

        base: [train.models=[dcgan], evaluate.extractors=[classifier]]   # every point starts here
        points:
          default: []
          no_ema: [train.ema_decay=0]

    A bad file is a ConfigError naming what to fix (exit 2 from the command line).
    """
    where = Path(path)
    try:
        data = yaml.safe_load(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--points {where}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--points {where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("points"), dict) or not data["points"]:
        raise ConfigError(f"--points {where}: expected a mapping with a non-empty 'points: {{name: [K=V, ...]}}'")
    unknown = sorted(set(data) - {"base", "points"})
    if unknown:
        raise ConfigError(f"--points {where}: unknown top-level key(s) {unknown}; allowed: base, points")
    base = data.get("base") or []

    def overrides(value: Any, what: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"--points {where}: {what} must be a list of KEY=VALUE strings")
        for text in value:
            parse_override(text)
        return list(value)

    base_overrides = overrides(base, "base")
    points = []
    for name, value in data["points"].items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", str(name)):
            raise ConfigError(f"--points {where}: point name {name!r} must be letters, digits, _ or - (a DVC name)")
        own = overrides(value or [], f"point {name!r}")
        # a point's own value replaces the base's for the same key, so the override list names each key once
        keys = {parse_override(t)[0] for t in own}
        kept = [t for t in base_overrides if parse_override(t)[0] not in keys]
        points.append((str(name), kept + own))
    return points


def run_experiment(
    overrides: Sequence[str],
    repo_dir: str | Path = ".",
    *,
    targets: Sequence[str] | None = None,
    name: str | None = None,
    temp: bool = False,
) -> str:
    """``dvc exp run -S K=V ...``; return the experiment's name. Raises StageFailed with stderr's tail."""
    args = ["exp", "run"] + (["--temp"] if temp else []) + (["--name", name] if name else [])
    args += _set_args(overrides) + list(targets or [])
    what = f"dvc experiment {' '.join(overrides) or '(no overrides)'}"
    done = run_dvc(args, repo_dir, what, wait_for_lock=temp)
    found = _RAN.search(done.stdout)
    if not found:
        raise ConfigError(f"dvc exp run succeeded but printed no experiment name; its output was:\n{done.stdout}")
    return found.group(1).strip().split(",")[0].strip()


def _set_args(overrides: Sequence[str]) -> list[str]:
    args: list[str] = []
    for text in overrides:
        parse_override(text)
        args += ["-S", text]
    return args


def queue_experiment(
    overrides: Sequence[str], repo_dir: str | Path = ".", *, targets: Sequence[str] | None = None
) -> str:
    """``dvc exp run --queue -S K=V ...``: stage one experiment in DVC's queue; return the name DVC gave it."""
    args = ["exp", "run", "--queue", *_set_args(overrides), *(targets or [])]
    done = run_dvc(args, repo_dir, f"dvc exp run --queue {' '.join(overrides)}", wait_for_lock=True)
    found = _QUEUED.search(done.stdout + done.stderr)
    if not found:
        raise ConfigError(f"dvc exp run --queue printed no experiment name; its output was:\n{done.stdout}")
    return found.group(1)


def start_queue(repo_dir: str | Path, jobs: int) -> None:
    """``dvc queue start -j JOBS``: DVC's workers run the queued experiments, JOBS at a time, then exit."""
    if jobs < 1:
        raise ConfigError(f"--workers={jobs}: need at least 1")
    run_dvc(["queue", "start", "-j", str(jobs)], repo_dir, "dvc queue start", wait_for_lock=True)


def queue_statuses(status_output: str) -> dict[str, str]:
    """Experiment name -> state from ``dvc queue status``'s table (``Task  Name  Created  Status``)."""
    states: dict[str, str] = {}
    for line in status_output.splitlines():
        cells = line.split()
        if len(cells) >= 3 and cells[0] != "Task" and not line.startswith("Worker status"):
            states[cells[1]] = cells[-1]
    return states


def wait_for_queue(
    repo_dir: str | Path, names: Sequence[str], *, poll_s: float = 2.0, timeout_s: float | None = None
) -> dict[str, str]:
    """Poll ``dvc queue status`` until every one of ``names`` is Success or Failed; return their states.

    ``timeout_s`` (None: no limit) raises StageFailed naming the experiments still queued or running.
    """
    start = time.monotonic()
    while True:
        done = run_dvc(["queue", "status"], repo_dir, "dvc queue status")
        states = queue_statuses(done.stdout)
        pending = [n for n in names if states.get(n) not in FINISHED]
        if not pending:
            return {n: states[n] for n in names}
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise StageFailed(
                f"dvc queue: {', '.join(pending)} still unfinished after {timeout_s:.0f} s", 1, tail(done.stdout)
            )
        time.sleep(poll_s)


def queue_log(repo_dir: str | Path, name: str) -> str:
    """The tail of a queued experiment's log (``dvc queue logs NAME``): where a failed one says why."""
    try:
        return tail(run_dvc(["queue", "logs", name], repo_dir, f"dvc queue logs {name}").stdout)
    except StageFailed as exc:
        return exc.tail


def flatten_keys(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``), as DVC shows them."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten_keys(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def metrics_by_experiment(show: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Flat metrics per experiment name from ``dvc exp show --json`` output.

    A metric keeps its own key (``fd_classifier``) unless two metrics files share it;
    then it is qualified with its file (``reports/metrics.json:score``), as ``dvc exp show`` does.
    """
    per_file: dict[str, dict[str, dict[str, Any]]] = {}
    for baseline in show:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                name = rev.get("name") or exp.get("name")
                metrics = ((rev.get("data") or {}).get("metrics")) or {}
                per_file[name] = {f: flatten_keys(m.get("data", {})) for f, m in metrics.items() if "data" in m}
    keys_in_files: dict[str, set[str]] = {}
    for files in per_file.values():
        for path, values in files.items():
            for key in values:
                keys_in_files.setdefault(key, set()).add(path)
    out: dict[str, dict[str, Any]] = {}
    for name, files in per_file.items():
        flat: dict[str, Any] = {}
        for path, values in files.items():
            for key, value in values.items():
                flat[key if len(keys_in_files[key]) == 1 else f"{path}:{key}"] = value
        out[name] = flat
    return out


def experiment_metrics(
    repo_dir: str | Path, names: Sequence[str], *, settle_s: float = 30.0, poll_s: float = 1.0
) -> dict[str, dict[str, Any]]:
    """The metrics DVC recorded for each named experiment (``dvc exp show --json``); missing ones map to {}.

    A queue worker reports an experiment finished a moment before ``dvc exp show`` lists its
    metrics, so names still without metrics are asked again for up to ``settle_s`` seconds.
    """
    deadline = time.monotonic() + settle_s
    while True:
        done = run_dvc(["exp", "show", "--json", "--no-pager"], repo_dir, "dvc exp show")
        found = metrics_by_experiment(json.loads(done.stdout or "[]"))
        if all(found.get(name) for name in names) or time.monotonic() > deadline:
            return {name: found.get(name, {}) for name in names}
        time.sleep(poll_s)
