"""The pieces of the one-shot accelerator check (``bench/device_check.sh``), each runnable on its own.

A lent GPU machine gives minutes, not hours, so every piece writes its results as
it goes and stops at its own budget; a piece cut short leaves what it measured.
Everything here is the product's own code path: stages run as ``genqc <stage>``
processes (``python -m genqc.cli``) in a scratch directory, so the same commands
work on a CPU with tiny settings (how the script is checked before it travels).

- ``params``: the repository's params.yaml with an override file and ``KEY=VALUE``
  settings merged in (the GPU-sized run is an override, never a second copy);
- ``pipeline``: stages in order, each with its wall time, exit code and, for
  ``train``, the step its checkpoint reached; a stage over its budget is killed
  (checkpoints are atomic, so sampling goes on from the last one);
- ``resume``: train, SIGKILL mid-run, re-run, and compare the weights with an
  uninterrupted run (and that run with a second one, to tell a resume bug from
  run-to-run nondeterminism);
- ``summary``: one JSON and one markdown page from whatever the pieces wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

# torch and genqc's modules are imported inside the pieces that use them: `params` and `summary` run several
# times inside the device's few minutes and need neither (each import of torch costs seconds there).

REPO = Path(__file__).resolve().parent.parent
#: headline keys of an evaluation (the issue's list), each with its interval when the stage computed one
HEADLINE = (
    "fd_classifier_ratio",
    "precision_classifier",
    "recall_classifier",
    "coverage_classifier",
    "fd_effnet_lite0_ratio",
    "precision_effnet_lite0",
    "recall_effnet_lite0",
    "coverage_effnet_lite0",
    "class_kl",
    "modes_covered_share",
)
NONDETERMINISM_WARNING = re.compile(r"does not have a deterministic implementation[^\n]*")


# --------------------------------------------------------------------------- small helpers
def _write_json(data: Any, path: Path) -> None:
    """Atomic enough for a results file read after the fact: write aside, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _set_key(tree: dict, dotted: str, value: Any) -> None:
    node = tree
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _genqc(stage: str, params: Path, family: str | None) -> list[str]:
    """``genqc <stage>`` through the interpreter running this script (the console script may not be installed)."""
    return [sys.executable, "-m", "genqc.cli", stage, "--params", str(params), *(["--model", family] if family else [])]


def _child_env() -> dict[str, str]:
    """The repository importable from the scratch directory, output unbuffered (a killed stage keeps its log)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    # the scratch directory holds no dvc.yaml: GENQC_PROJECT tells the CLI where tasks/ and flows/ live
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", GENQC_PROJECT=str(REPO))


# --------------------------------------------------------------------------- params
def build_params(override: Path | None, settings: list[str], target: Path) -> dict:
    """params.yaml + override file + ``KEY=VALUE`` (values parsed as YAML), written to ``target``."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    if override is not None:
        params = _merge(params, yaml.safe_load(override.read_text(encoding="utf-8")) or {})
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise SystemExit(f"--set {setting!r}: expected KEY=VALUE, e.g. train.steps=20")
        _set_key(params, key, yaml.safe_load(value))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return params


# --------------------------------------------------------------------------- pipeline
def _stage_list(params: dict, spec: list[str]) -> list[tuple[str, str | None]]:
    """Expand ``primary`` (train.model) and ``others`` (the rest of train.models) to train, sample, evaluate each.

    The primary family goes first so that a run cut short by its deadline still has the
    contract metrics (``publish`` reads only train.model's).
    """
    primary = params["train"]["model"]
    groups = {"primary": [primary], "others": [m for m in params["train"]["models"] if m != primary]}
    stages: list[tuple[str, str | None]] = []
    for item in spec:
        if item in groups:
            stages += [(stage, family) for family in groups[item] for stage in ("train", "sample", "evaluate")]
        else:
            stages.append((item, None))
    return stages


def _checkpoint_step(path: Path) -> int | None:
    from genqc.training.checkpoint import read_checkpoint

    try:
        return int(read_checkpoint(path)["step"])
    except Exception:  # missing or unreadable: the record says None
        return None


def _evaluation(workdir: Path, family: str) -> dict[str, Any]:
    metrics = _read_json(workdir / "reports" / "evaluate" / family / "metrics.json") or {}
    return metrics


def run_pipeline(
    workdir: Path,
    params_file: Path,
    spec: list[str],
    record: Path,
    log: Path,
    budgets: dict[str, float],
    deadline: float | None,
) -> dict:
    """Run the stages one by one in ``workdir``; ``record`` holds every finished stage (appended across calls)."""
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    state = _read_json(record) or {"stages": [], "metrics": {}}
    workdir.mkdir(parents=True, exist_ok=True)
    for stage, family in _stage_list(params, spec):
        name = f"{stage}@{family}" if family else stage
        budget = budgets.get(name, budgets.get(stage, budgets.get("default", 600.0)))
        if deadline is not None:
            budget = min(budget, deadline - time.time())
        entry: dict[str, Any] = {"stage": name, "budget_s": round(budget, 1)}
        if budget < 5:
            entry.update(rc=None, seconds=0.0, skipped="no time left under the script's deadline")
            state["stages"].append(entry)
            _write_json(state, record)
            continue
        start = time.perf_counter()
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"\n===== genqc {name} (budget {budget:.0f} s) =====\n")
            handle.flush()
            process = subprocess.Popen(
                _genqc(stage, params_file, family),
                cwd=workdir,
                env=_child_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
            try:
                rc: int | None = process.wait(timeout=budget)
                entry["timed_out"] = False
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                rc, entry["timed_out"] = None, True
        entry.update(rc=rc, seconds=round(time.perf_counter() - start, 2))
        if stage == "train" and family:
            entry["step"] = _checkpoint_step(workdir / "data" / "train" / family / "last.pt")
            entry["steps_asked"] = params["train"]["steps"]
        if stage == "evaluate" and family:
            state["metrics"][family] = _evaluation(workdir, family)
        state["stages"].append(entry)
        _write_json(state, record)
        print(
            f"{name}: rc {rc}{' (over budget, killed)' if entry['timed_out'] else ''} in {entry['seconds']:.1f} s",
            flush=True,
        )
    return state


# --------------------------------------------------------------------------- resume after kill
def _train_table(directory: Path, size: int) -> None:
    """data/augment/train.parquet from scikit-learn's digits at ``size``: the train stage's input, nothing else."""
    from genqc.data.sources import load_source
    from genqc.data.table import images_to_table
    from genqc.io import write_parquet

    loaded = load_source("builtin:digits", size=size, channels=1, resize="stretch")
    table = images_to_table(loaded.images, loaded.labels, loaded.ids)
    write_parquet(table, directory / "data" / "augment" / "train.parquet")


def _states(path: Path) -> dict[str, Any]:
    from genqc.training.checkpoint import read_checkpoint

    state = read_checkpoint(path)
    tensors = {f"model.{k}": v for k, v in state["model"].items()}
    ema = state.get("ema") or {}
    for key, value in (ema.get("module") or ema).items() if isinstance(ema, dict) else ():
        if hasattr(value, "dtype"):
            tensors[f"ema.{key}"] = value
    return tensors


def _compare(a: Path, b: Path) -> dict[str, Any]:
    """Bit-identical tensors, and the largest absolute difference where they are not."""
    import torch

    left, right = _states(a), _states(b)
    if left.keys() != right.keys():
        return {"same_keys": False, "only_left": sorted(left.keys() - right.keys())[:5]}
    unequal = [k for k in left if not torch.equal(left[k], right[k])]
    diffs = [float((left[k].double() - right[k].double()).abs().max()) for k in unequal if left[k].is_floating_point()]
    return {
        "same_keys": True,
        "tensors": len(left),
        "bit_identical": len(left) - len(unequal),
        "max_abs_diff": max(diffs, default=0.0),
        "first_unequal": unequal[:5],
    }


def _run_train(workdir: Path, params_file: Path, family: str, log: Path, timeout: float) -> subprocess.CompletedProcess:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n===== resume check: genqc train --model {family} in {workdir.name} =====\n")
        handle.flush()
        return subprocess.run(
            _genqc("train", params_file, family),
            cwd=workdir,
            env=_child_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )


def resume_check(root: Path, params_file: Path, family: str, kill_at: int, log: Path, timeout: float) -> dict:
    """Straight run twice, and a run killed at >= ``kill_at`` steps then re-run; compare the final checkpoints."""
    from genqc.training.checkpoint import LAST

    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    steps = int(params["train"]["steps"])
    size = int(params["ingest"]["image_size"])
    dirs = {name: root / f"{family}-{name}" for name in ("straight", "straight2", "killed")}
    for directory in dirs.values():
        _train_table(directory, size)
    out: dict[str, Any] = {
        "family": family,
        "steps": steps,
        "kill_at": kill_at,
        "device": params["train"]["device"],
        "deterministic": params["train"]["deterministic"],
        "bf16": params["train"]["bf16"],
        "batch_size": params["train"]["batch_size"],
    }
    for name in ("straight", "straight2"):
        start = time.perf_counter()
        done = _run_train(dirs[name], params_file, family, log, timeout)
        out[f"{name}_rc"], out[f"{name}_s"] = done.returncode, round(time.perf_counter() - start, 2)
    last = dirs["killed"] / "data" / "train" / family / LAST
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n===== resume check: {family} run to be killed at step >= {kill_at} =====\n")
        handle.flush()
        victim = subprocess.Popen(
            _genqc("train", params_file, family),
            cwd=dirs["killed"],
            env=_child_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and victim.poll() is None:
            step = _checkpoint_step(last) if last.is_file() else None
            if step is not None and step >= kill_at:
                break
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    out["killed_at"] = _checkpoint_step(last)
    out["killed_mid_run"] = out["killed_at"] is not None and out["killed_at"] < steps
    start = time.perf_counter()
    done = _run_train(dirs["killed"], params_file, family, log, timeout)
    out["resumed_rc"], out["resumed_s"] = done.returncode, round(time.perf_counter() - start, 2)
    out["resumed_from_log"] = f"resuming from data/train/{family}/last.pt at step {out['killed_at']}" in log.read_text(
        encoding="utf-8", errors="replace"
    )
    finals = {name: directory / "data" / "train" / family / LAST for name, directory in dirs.items()}
    if all(path.is_file() for path in finals.values()):
        out["straight_vs_straight2"] = _compare(finals["straight"], finals["straight2"])
        out["straight_vs_resumed"] = _compare(finals["straight"], finals["killed"])
    text = log.read_text(encoding="utf-8", errors="replace")
    out["nondeterministic_ops_warned"] = sorted(set(NONDETERMINISM_WARNING.findall(text)))[:10]
    return out


# --------------------------------------------------------------------------- summary
def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        query = "name,driver_version,memory.total,clocks.max.sm"
        smi = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        env["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        env["nvidia_smi"] = f"not available: {exc}"
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            env["device"] = props.name
            env["multiprocessors"] = props.multi_processor_count
            env["memory_gib"] = round(props.total_memory / 2**30, 1)
    except ImportError:
        env["torch"] = None
    return env


def _junit(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        suite = ET.parse(path).getroot()
    except ET.ParseError:
        return {"error": "unreadable junit file (run cut short?)"}
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    keys = ("tests", "failures", "errors", "skipped", "time")
    out: dict[str, Any] = {k: suite.get(k) for k in keys} if suite is not None else {}
    failed = []
    for case in suite.iter("testcase") if suite is not None else ():
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname')}::{case.get('name')}")
    out["failed"] = failed
    return out


def _fmt(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    if value is None:
        return "-"
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    return f"{value:.4g} [{low:.4g}, {high:.4g}]" if low is not None and high is not None else f"{value:.4g}"


def _identical(check: dict[str, Any], key: str) -> str:
    result = check.get(key)
    if not result or not result.get("same_keys"):
        return "not compared"
    return f"{result['bit_identical']}/{result['tensors']} bit-identical (max |diff| {result['max_abs_diff']:.3g})"


def write_summary(out: Path, junit: Path) -> dict:
    bench = _read_json(out / "bench_gpu.json")
    summary: dict[str, Any] = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": _environment(),
        "tests": _junit(junit),
        "bench_gpu": bench.get("figures") if isinstance(bench, dict) else None,
        "pipeline": _read_json(out / "pipeline.json"),
        "resume": _read_json(out / "resume.json"),
    }
    _write_json(summary, out / "summary.json")
    lines = ["# genqc device check", "", f"Written {summary['written']}.", ""]
    env = summary["environment"]
    lines += [
        f"- nvidia-smi: {env.get('nvidia_smi')}",
        f"- torch {env.get('torch')} (CUDA {env.get('torch_cuda')}, "
        f"cuDNN {env.get('cudnn')}), Python {env.get('python')}, {env.get('cpus')} CPUs",
        "",
    ]
    tests = summary["tests"]
    if tests:
        lines += [
            f"## GPU tests: {tests.get('tests')} run, {tests.get('failures')} failed, {tests.get('errors')} "
            f"errors, {tests.get('skipped')} skipped",
            *[f"- FAILED {name}" for name in tests.get("failed", [])],
            "",
        ]
    bench = summary["bench_gpu"]
    if bench and "table" in bench:
        lines += ["## bench/gpu.py", "", "| what | genqc | peer | ratio |", "|---|---|---|---|"]
        lines += [f"| {r['what']} | {r['genqc']} | {r['peer']} | {r['ratio']} |" for r in bench["table"]] + [""]
    pipeline = summary["pipeline"]
    if pipeline:
        lines += ["## Pipeline, stage by stage", "", "| stage | rc | seconds | note |", "|---|---|---|---|"]
        for entry in pipeline["stages"]:
            note = entry.get("skipped") or ("over budget, killed" if entry.get("timed_out") else "")
            if "step" in entry:
                note = f"{note} step {entry['step']} of {entry['steps_asked']}".strip()
            lines.append(f"| {entry['stage']} | {entry['rc']} | {entry['seconds']} | {note} |")
        total = sum(e["seconds"] for e in pipeline["stages"])
        lines += [f"| total | | {total:.1f} | |", "", "## Headline metrics (value [95% interval])", ""]
        lines += ["| family | " + " | ".join(HEADLINE) + " | gates_passed |", "|---" * (len(HEADLINE) + 2) + "|"]
        for family, metrics in pipeline["metrics"].items():
            cells = [_fmt(metrics, key) for key in HEADLINE]
            lines.append(f"| {family} | " + " | ".join(cells) + f" | {metrics.get('gates_passed', '-')} |")
        lines.append("")
    resume = summary["resume"]
    if resume:
        lines += ["## Resume after SIGKILL (final last.pt: model + EMA tensors)", ""]
        for check in resume if isinstance(resume, list) else [resume]:
            lines.append(
                f"- {check['family']} on {check['device']} (deterministic {check['deterministic']}, bf16 "
                f"{check['bf16']}): killed at step {check.get('killed_at')} of {check['steps']}, resumed rc "
                f"{check.get('resumed_rc')}; {_identical(check, 'straight_vs_resumed')} resumed vs "
                f"uninterrupted; {_identical(check, 'straight_vs_straight2')} two uninterrupted runs; "
                f"nondeterminism warnings: {check.get('nondeterministic_ops_warned') or 'none'}"
            )
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary


# --------------------------------------------------------------------------- command line
def _budgets(items: list[str]) -> dict[str, float]:
    budgets = {}
    for item in items:
        key, _, value = item.partition("=")
        budgets[key] = float(value)
    return budgets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("params", help="write params.yaml + override + KEY=VALUE settings to --out")
    p.add_argument("--override", type=Path)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("pipeline", help="run stages in --workdir, recording each one's time")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--params", type=Path, required=True)
    p.add_argument("--record", type=Path, required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument(
        "--budget",
        action="append",
        default=[],
        metavar="STAGE=SECONDS",
        help="per stage (train@ddpm, train, default); a stage over it is killed",
    )
    p.add_argument("--deadline", type=float, default=None, help="Unix time by which every stage must end")
    p.add_argument(
        "stages",
        nargs="+",
        help="stage names in order; 'primary', 'others': train, sample, evaluate of "
        "train.model, of the other families in train.models",
    )
    p = sub.add_parser("resume", help="SIGKILL a training run mid-way, re-run it, compare with uninterrupted runs")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--params", type=Path, required=True)
    p.add_argument("--record", type=Path, required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--kill-at", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120.0, help="per training process")
    p.add_argument("families", nargs="+")
    p = sub.add_parser("summary", help="summary.json and summary.md in --out from what the pieces wrote")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--junit", type=Path, required=True, help="pytest's --junitxml file of the GPU tests")
    args = parser.parse_args(argv)

    if args.command == "params":
        build_params(args.override, args.settings, args.out)
    elif args.command == "pipeline":
        run_pipeline(
            args.workdir.resolve(),
            args.params.resolve(),
            args.stages,
            args.record,
            args.log,
            _budgets(args.budget),
            args.deadline,
        )
    elif args.command == "resume":
        results = _read_json(args.record) or []
        for family in args.families:
            results.append(
                resume_check(args.root.resolve(), args.params.resolve(), family, args.kill_at, args.log, args.timeout)
            )
            _write_json(results, args.record)
            print(json.dumps(results[-1], default=str), flush=True)
    else:
        write_summary(args.out, args.junit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
