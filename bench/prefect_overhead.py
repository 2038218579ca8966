"""What running the DVC stages under Prefect costs, measured against plain ``dvc repro`` in one run.

A toy DVC pipeline of N trivial chained stages (each a ``python -c`` that writes
one file; a bumped ``seed`` makes every stage stale on every repetition, so no
run cache hides the work) is reproduced three ways:

- ``dvc repro``: plain DVC, one process for the whole chain (the peer a user would pick);
- ``dvc repro --single-item STAGE`` once per stage, no Prefect: what the flow runs underneath;
- the ``genqc-pipeline`` flow against a Prefect server already up on localhost.

Prefect's own cost per stage is (flow - single-item loop) / N; the cost of the
flow's design (a DVC process per stage, plus Prefect) is (flow - dvc repro) / N.
Separately, the one-off start of the temporary server Prefect launches when
PREFECT_API_URL is unset: a trivial flow in a fresh process without a server,
minus the same process pointed at the running server.

    python -m bench.prefect_overhead [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from dvc.repo import Repo
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness

import flows  # noqa: F401  (Prefect telemetry off before prefect is imported)
from bench.common import write_result
from flows.dvc_pipeline import reproduce, run_dvc
from flows.pipeline import genqc_pipeline

TRIVIAL_FLOW = "import flows\nfrom prefect import flow\n\n@flow\ndef ping() -> int:\n    return 1\n\nping()\n"


def _toy_repo(root: Path, n_stages: int) -> list[str]:
    """A committed git + DVC repo with a chain of ``n_stages`` trivial stages; returns their names."""
    stages: dict[str, Any] = {}
    for i in range(n_stages):
        stage: dict[str, Any] = {
            "cmd": f"python -c \"open('o{i}.txt', 'w').write('{i}')\"",
            "params": ["seed"],
            "outs": [f"o{i}.txt"],
        }
        if i:
            stage["deps"] = [f"o{i - 1}.txt"]
        stages[f"s{i}"] = stage
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    (root / "params.yaml").write_text("seed: 0\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    Repo.init(str(root)).close()
    with open(root / ".dvc" / "config", "a") as config:
        config.write("[core]\n    analytics = false\n")
    for args in (["add", "-A"], ["-c", "user.email=b@genqc.invalid", "-c", "user.name=bench", "commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return list(stages)


def _bump(root: Path, counter: list[int]) -> None:
    """A new seed: every stage is stale and no run-cache entry matches, so every command really runs."""
    counter[0] += 1
    (root / "params.yaml").write_text(f"seed: {counter[0]}\n")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(quick: bool = False) -> dict[str, Any]:
    n_stages, repeat = (3, 1) if quick else (5, 3)
    figures: dict[str, Any] = {"stages": n_stages, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="genqc-bench-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        names = _toy_repo(root, n_stages)
        counter = [0]

        def plain() -> None:
            _bump(root, counter)
            run_dvc(["repro"], root, "dvc repro")

        def single_items() -> None:
            _bump(root, counter)
            for name in names:
                assert reproduce(name, root).ran, name

        def via_flow() -> None:
            _bump(root, counter)
            result = genqc_pipeline(repo_dir=str(root))
            assert all(r["ran"] for r in result["runs"]), result

        with prefect_test_harness(server_startup_timeout=180):
            api_url = PREFECT_API_URL.value()
            via_flow()  # warm-up: first flow registration, imports
            timings = {"dvc_repro_s": [], "single_item_loop_s": [], "flow_s": []}
            for _ in range(repeat):  # interleaved, so machine load hits all three alike
                timings["dvc_repro_s"].append(_timed(plain))
                timings["single_item_loop_s"].append(_timed(single_items))
                timings["flow_s"].append(_timed(via_flow))
            best = {key: min(values) for key, values in timings.items()}
            figures.update({key: round(value, 3) for key, value in best.items()})
            figures["prefect_overhead_per_stage_s"] = round((best["flow_s"] - best["single_item_loop_s"]) / n_stages, 3)
            figures["flow_vs_dvc_repro_per_stage_s"] = round((best["flow_s"] - best["dvc_repro_s"]) / n_stages, 3)
            figures["flow_over_dvc_repro_ratio"] = round(best["flow_s"] / best["dvc_repro_s"], 2)

            script = Path(tmp) / "ping.py"
            script.write_text(TRIVIAL_FLOW)
            home = Path(tmp) / "prefect-home"  # a scratch database, so the user's is never touched

            def ping(**env: str) -> float:
                return _timed(
                    lambda: subprocess.run(
                        [sys.executable, str(script)],
                        check=True,
                        capture_output=True,
                        env=_python_env(PREFECT_HOME=str(home), **env),
                    )
                )

            figures["temp_server_first_ever_s"] = round(ping(), 3)  # creates and migrates the database too
            with_temp = min(ping() for _ in range(repeat))
            with_server = min(ping(PREFECT_API_URL=api_url) for _ in range(repeat))
        figures["trivial_flow_with_temp_server_s"] = round(with_temp, 3)
        figures["trivial_flow_with_running_server_s"] = round(with_server, 3)
        figures["temp_server_start_s"] = round(with_temp - with_server, 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prefect_overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 stages, one repetition")
    args = parser.parse_args(argv)
    figures = run(quick=args.quick)
    path = write_result("prefect_overhead", figures)
    for key, value in figures.items():
        print(f"{key:<40} {value}")
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
