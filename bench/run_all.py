"""Run every benchmark and write bench/results/README.md, the table README's Performance section shows.

Run: ``python -m bench.run_all [--quick] [--only NAME ...] [--table-only]`` (``make bench``,
``make bench QUICK=1``). Each benchmark runs in its own process
(``python -m bench.<name> [--quick]``), so one's threads, caches and peak-memory
figures never leak into the next, and a crash in one does not stop the others.
Each writes ``bench/results/<name>.json`` itself (bench/common.py:write_result);
this runner then builds the markdown table from every result JSON present,
including results of earlier runs (their date is in the table).

The table rows come from the figures: a benchmark may give explicit rows as
``figures["table"] = [{"what", "genqc", "peer", "ratio"}, ...]``; otherwise each
group of figures holding a ratio-like key (``ratio*``, ``*_ratio``, ``speedup*``)
becomes one row, its ``genqc*`` timings and throughputs in the genqc column and
the other ones in the peer column.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genqc.io import write_text

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TABLE = RESULTS / "README.md"
NOT_BENCHMARKS = {"__init__", "__main__", "common", "run_all", "device_check"}  # device_check: the GPU-loan script
# Preferred order (cheap and data-related first, GPU last); any other bench/<name>.py runs after these.
ORDER = ("augment", "validate", "metrics", "features", "train", "prefect_overhead", "gpu")
TIMING = re.compile(r"(_s|_seconds|_images_per_s|_per_s)$|^(seconds|peer_s|genqc_s)$")
RATIO = re.compile(r"^(ratio|speedup|overhead)(_.*)?$|_ratio$")
IGNORED_RATIOS = {"target_ratio"}


def discover() -> list[str]:
    """Benchmark module names: every bench/<name>.py but the helpers, in ORDER first."""
    found = {p.stem for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHMARKS}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def run_one(name: str, *, quick: bool, timeout: float) -> dict[str, Any]:
    """Run ``python -m bench.<name>`` in a child process; the outcome for the summary."""
    command = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if quick else [])]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BENCH.parent) + os.pathsep + env.get("PYTHONPATH", "")
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    try:
        child = subprocess.run(command, cwd=BENCH.parent, env=env, timeout=timeout)
        code = child.returncode
    except subprocess.TimeoutExpired:
        code = None
    seconds = time.perf_counter() - start
    status = "timeout" if code is None else "ok" if code == 0 else f"exit {code}"
    print(f"== {name}: {status} in {seconds:.0f} s", flush=True)
    return {"name": name, "status": status, "seconds": round(seconds, 1)}


# --------------------------------------------------------------------------- the table
def _groups(figures: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every dict in ``figures`` (depth-first), with its key path."""
    if isinstance(figures, dict):
        yield path, figures
        for key, value in figures.items():
            yield from _groups(value, (*path, str(key)))


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if value == 0 or 0.01 <= abs(value) < 100000:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.2e}"


def _unit(key: str) -> str:
    part = next((p for p in reversed(key.split(".")) if TIMING.search(p)), key)
    return " img/s" if part.endswith("per_s") else " s" if part.endswith(("_s", "seconds")) else ""


def _times(key: str) -> str:
    """An ``x`` after a ratio; none after an overhead (a fraction: 0.5 means 50 % slower)."""
    return "" if key.startswith("overhead") else "x"


def _timing(key: str) -> bool:
    """``genqc_s``, ``pil_loop_images_per_s``, or a figure inside one (``images_per_s.plain``)."""
    return any(TIMING.search(part) for part in key.split("."))


def _numbers(group: dict[str, Any]) -> dict[str, float]:
    """The group's numbers, with one level of nested numbers as ``outer.inner`` (e.g. ``seconds.plain``)."""
    out: dict[str, float] = {}
    for key, value in group.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
        elif isinstance(value, dict):
            out |= {f"{key}.{k}": v for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return out


def _pairs(numbers: dict[str, float], keys: list[str]) -> str:
    return ", ".join(f"{k} {_number(numbers[k])}{_unit(k)}" for k in keys) or "-"


def rows_from_figures(name: str, figures: dict[str, Any]) -> list[dict[str, str]]:
    """The table rows of one result: explicit ``table`` rows, else one row per group holding a ratio."""
    if isinstance(figures.get("table"), list):
        keys = ("what", "genqc", "peer", "ratio")
        return [
            {"name": name, **{k: str(row.get(k, "-")) for k in keys}}
            for row in figures["table"]
            if isinstance(row, dict)
        ]
    rows = []
    for path, group in _groups(figures):
        numbers = _numbers(group)
        ratios = [k for k in numbers if "." not in k and RATIO.search(k) and k not in IGNORED_RATIOS]
        if not ratios:
            continue
        timings = [k for k in numbers if _timing(k) and k not in ratios]
        over = next((k.split("_over_") for k in ratios if "_over_" in k), None)  # "flow_over_dvc_repro_ratio"
        ours = [k for k in timings if (k.startswith(over[0]) if over else "genqc" in k)]
        peers = [k for k in timings if k not in ours]
        size = group.get("size") or group.get("subset") or group.get("images")
        what = " / ".join(path) or "overall"
        rows.append(
            {
                "name": name,
                "what": what + (f" ({size})" if size is not None else ""),
                "genqc": _pairs(numbers, ours),
                "peer": _pairs(numbers, peers),
                "ratio": ", ".join(f"{k} **{_number(numbers[k])}{_times(k)}**" for k in ratios),
            }
        )
    return rows


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def build_table(results: list[dict[str, Any]], outcomes: list[dict[str, Any]] | None = None) -> str:
    """Markdown: one table of every benchmark's headline ratios, then where each result was measured."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`python -m bench.run_all`) from `bench/results/*.json`; do not edit. "
        "Each ratio compares genqc with the peer a user would pick instead, measured side by side in one run "
        "(`speedup` and `ratio`: the peer's time over genqc's, so > 1 means genqc is faster; "
        "an `a_over_b_ratio` is a's time over b's). Absolute figures depend on the machine listed below each "
        "result.",
        "",
        "| benchmark | what | genqc | peer | ratio |",
        "|---|---|---|---|---|",
    ]
    machines = []
    for result in sorted(results, key=lambda r: str(r.get("name"))):
        name = str(result.get("name", "?"))
        figures = result.get("figures") if isinstance(result.get("figures"), dict) else {}
        rows = rows_from_figures(name, figures)
        if not rows:
            rows = [
                {"name": name, "what": "(no ratio recorded; see the JSON)", "genqc": "-", "peer": "-", "ratio": "-"}
            ]
        for row in rows:
            cells = (row["name"], row["what"], row["genqc"], row["peer"], row["ratio"])
            lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
        machine = result.get("machine") if isinstance(result.get("machine"), dict) else {}
        described = ", ".join(f"{k} {machine[k]}" for k in ("gpu", "cpus", "torch", "python") if k in machine)
        quick = " (quick)" if figures.get("quick") else ""
        machines.append(f"- `{name}`{quick}: {result.get('date', '?')}; {described}; [{name}.json]({name}.json)")
    lines += ["", "## Where and when", "", *machines]
    if outcomes:
        failed = [o for o in outcomes if o["status"] not in ("ok",)]
        if failed:
            lines += ["", "## Not measured in the last run", "", *(f"- `{o['name']}`: {o['status']}" for o in failed)]
    return "\n".join(lines) + "\n"


def load_results(directory: Path = RESULTS) -> list[dict[str, Any]]:
    """Every readable result JSON (a damaged one is skipped with a message)."""
    results = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"skipping {path}: {exc}", file=sys.stderr)
            continue
        if isinstance(data, dict):
            data.setdefault("name", path.stem)
            results.append(data)
    return results


def write_table(outcomes: list[dict[str, Any]] | None = None, directory: Path = RESULTS) -> Path:
    target = Path(directory) / TABLE.name
    write_text(build_table(load_results(directory), outcomes), target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (minutes, not hours)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--table-only", action="store_true", help="rebuild README.md from the existing JSONs")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark (default 3600)")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; available: {', '.join(names)}")
        names = [n for n in names if n in args.only]
    outcomes = [] if args.table_only else [run_one(n, quick=args.quick, timeout=args.timeout) for n in names]
    target = write_table(outcomes)
    print(f"\n-> {target}")
    for outcome in outcomes:
        print(f"  {outcome['name']:<18} {outcome['status']:<8} {outcome['seconds']:>7.0f} s")
    return 1 if any(o["status"] != "ok" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
