"""Deployments of the pipeline flow: ``genqc serve --cron`` here, ``prefect deploy`` via prefect.yaml.

Both declare the same thing: the flow ``genqc-pipeline`` under the name
``genqc-nightly`` on a cron schedule. ``serve`` is the zero-infrastructure way
(this process polls the server and runs the flow itself); prefect.yaml is for a
process work pool with workers. Deployment code lives here and in prefect.yaml,
never in the flow body.

Both limit the deployment to one run at a time (a second scheduled run waits in
the queue), and every run also holds its checkout's concurrency slot
(flows/pipeline.py), so two runs never work on one checkout at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import PREFECT_API_URL
from pydantic import ValidationError

from flows.dvc_pipeline import stage_order
from flows.pipeline import genqc_pipeline
from genqc.errors import ConfigError

DEFAULT_NAME = "genqc-nightly"  # prefect.yaml declares the same name; a test keeps them in step
DEFAULT_CRON = "0 3 * * *"  # 03:00 daily: the machine is idle and the night's data has landed
RUNS_AT_ONCE = 1  # one run of the deployment at a time: its stages share one checkout and its CPU/GPU


def check_cron(cron: str) -> str:
    """``cron`` if it is a valid 5-field cron expression, else a ConfigError naming the flag."""
    try:
        valid = len(cron.split()) == 5 and CronSchedule(cron=cron) is not None
    except ValidationError:
        valid = False
    if not valid:
        raise ConfigError(
            f"--cron {cron!r} is not a 5-field cron expression (minute hour day month weekday), "
            f"e.g. {DEFAULT_CRON!r} for 03:00 daily"
        )
    return cron


def build_deployment(name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON, parameters: dict[str, Any] | None = None):
    """The pipeline's deployment object with its cron schedule (building it needs no server)."""
    return genqc_pipeline.to_deployment(
        name=name,
        cron=check_cron(cron),
        parameters=parameters or {},
        concurrency_limit=RUNS_AT_ONCE,
        description="dvc.yaml's stages in DVC's order, with artifacts",
    )


def main(args: argparse.Namespace) -> int:
    """``genqc serve``: serve the pipeline on its schedule until interrupted (Ctrl-C)."""
    cron = check_cron(args.cron)
    if not PREFECT_API_URL.value():  # from the environment or the active profile (`prefect config set`)
        print(
            "genqc serve: PREFECT_API_URL is not set, so Prefect starts a temporary server that forgets the "
            "schedule and its runs when this process exits. For a lasting one: `prefect server start` and "
            "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (see README).",
            file=sys.stderr,
        )
    parameters: dict[str, Any] = {"params_file": args.params} if args.params != "params.yaml" else {}
    if args.stages:
        stage_order(Path.cwd(), args.stages)  # an unknown stage: one line and exit 2, before serving
        parameters["stages"] = list(args.stages)
    genqc_pipeline.serve(name=args.name, cron=cron, parameters=parameters, global_limit=RUNS_AT_ONCE)
    return 0
