"""The hostile-input corpus: every malformed input to every source kind, through the real `genqc ingest`.

For every input (tests/tasks/hostile_corpus.py builds them) the stage must:
- account for it: exit 0 with inputs == train + test + rejected (each rejected row with its reason), or exit
  1/2 with exactly one line on stderr that names the file, and no output written;
- exit with the expected code in {0, 1, 2}, never a traceback;
- read no file outside its own source and working directory (symlinks and archive member names pointing at
  a planted ``outside/`` directory included);
- for decompression bombs (20 MB of gzip/deflate that inflate to ~20 GB), stay within the stated memory
  bound: peak RSS at most ``max_array_mib`` + BOMB_OVERHEAD above the process's RSS before it read anything.

All cases run in one runner process that forks one child per case (tests/tasks/ingest_runner.py says why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, TINY_OVERRIDES, real_params
from tests.tasks.hostile_corpus import Case, build

BOMB_OVERHEAD = 64 << 20  # read buffers, the decompressor's window, the error path: measured at ~10 MiB


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, dict]]:
    root = tmp_path_factory.mktemp("hostile")
    cases = build(root)
    base = real_params()
    jobs = []
    for case in cases:
        workdir = root / "runs" / case.name
        workdir.mkdir(parents=True)
        params = dict(base)
        params["ingest"] = {
            **base.get("ingest", {}),
            **TINY_OVERRIDES["ingest"],
            "image_size": 8,
            "test_fraction": 0.5,
            "source": case.source,
            **case.ingest,
        }
        (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        jobs.append({"workdir": str(workdir), "timeout": 60})
    (root / "cases.json").write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run(
        [sys.executable, "-m", "tests.tasks.ingest_runner", str(root / "cases.json"), str(root / "results.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((root / "results.json").read_text())
    return {case.name: (case, result | {"root": str(root)}) for case, result in zip(cases, results, strict=True)}


def _check_accounted(case: Case, result: dict) -> None:
    workdir = Path(result["workdir"])
    stderr = (workdir / "stderr.txt").read_text(errors="replace")
    stdout = (workdir / "stdout.txt").read_text(errors="replace")
    assert "Traceback" not in stderr, stderr
    assert result["exit"] == case.exit, f"exit {result['exit']} (expected {case.exit}); stderr: {stderr}"
    out = workdir / "data" / "ingest"
    if case.exit != 0:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("genqc ingest: error: "), stderr
        assert case.error in lines[0] and case.names in lines[0], lines[0]
        assert not out.exists() or not any(out.iterdir()), "a failed ingest wrote outputs"
        return
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"] == summary["train"] + summary["test"] + summary["rejected"] == case.inputs, summary
    train, test = pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")
    rejected = pd.read_parquet(out / "rejected.parquet")
    assert len(train) + len(test) + len(rejected) == case.inputs
    assert (rejected["reason"].str.len() > 0).all()
    reasons = dict(zip(rejected["path"], rejected["reason"], strict=True))
    for path, reason in case.rejected.items():
        assert reason in reasons.get(path, ""), f"{path}: {reasons.get(path)!r}; all: {reasons}"
    recorded = {c["name"]: c["label"] for c in json.loads((out / "classes.json").read_text())["classes"]}
    for class_name, label in case.classes.items():
        assert recorded.get(class_name) == label, recorded
    rows = pd.concat([train, test])
    assert dict(zip(rows["class_name"], rows["label"], strict=True)).items() <= recorded.items()
    assert "\x1b" not in stdout  # names with terminal escapes are printed escaped
    if case.name == "folder_escaped_names":
        assert "plain/\\x1b[2Jclear\\nscreen.txt" in stdout and "\\x1b[31mred" in stdout, stdout


def _check_reads(case: Case, result: dict) -> None:
    root, workdir = Path(result["root"]).resolve(), Path(result["workdir"]).resolve()
    source = Path(case.source.split(":", 1)[1]).resolve()
    opened = [Path(line).resolve() for line in (workdir / "opened.txt").read_text().splitlines() if line]
    assert any(p.is_relative_to(source) for p in opened), "the audit log misses the source itself"
    mine = (workdir, source)
    strays = [p for p in opened if p.is_relative_to(root) and not any(p.is_relative_to(m) for m in mine)]
    assert not strays, f"read outside the source: {strays}"


def _check_memory(case: Case, result: dict) -> None:
    growth = result["peak_rss"] - result["start_rss"]
    bound = (case.bomb_mib << 20) + BOMB_OVERHEAD
    assert growth <= bound, f"peak RSS grew {growth / 2**20:.0f} MiB; bound {bound / 2**20:.0f} MiB"


@pytest.mark.parametrize("check", [_check_accounted, _check_reads, _check_memory], ids=["accounted", "reads", "memory"])
def test_hostile_corpus(corpus: dict, check) -> None:
    failures = []
    for name, (case, result) in corpus.items():
        if check is _check_memory and case.bomb_mib is None:
            continue
        try:
            check(case, result)
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
