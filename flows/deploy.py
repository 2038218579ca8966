"""Deployments of the pipeline flow: ``genqc serve --cron`` here, ``prefect deploy`` via prefect.yaml.

Both declare the same thing: the flow ``genqc-pipeline`` under the name
``genqc-nightly`` on a cron schedule. ``serve`` is the zero-infrastructure way
(this process polls the server and runs the flow itself); prefect.yaml is for a
process work pool with workers. Deployment code lives here and in prefect.yaml,
never in the flow body.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from genqc.errors import ConfigError

DEFAULT_NAME = "genqc-nightly"  # prefect.yaml declares the same name; a test keeps them in step
DEFAULT_CRON = "0 3 * * *"  # 03:00 daily: the machine is idle and the night's data has landed


def check_cron(cron: str) -> str:
    """``cron`` if it is a valid 5-field cron expression, else a ConfigError naming the flag."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        valid = len(cron.split()) == 5 and CronSchedule(cron=cron) is not None
    except ValidationError:
        valid = False
    if not valid:
        raise ConfigError(f"--cron {cron!r} is not a 5-field cron expression (minute hour day month weekday), "
                          f"e.g. {DEFAULT_CRON!r} for 03:00 daily")  # fmt: skip
    return cron


def build_deployment(name: str = DEFAULT_NAME, cron: str = DEFAULT_CRON, parameters: dict[str, Any] | None = None):
    """The pipeline's deployment object with its cron schedule (building it needs no server)."""
    from flows.pipeline import genqc_pipeline

    return genqc_pipeline.to_deployment(name=name, cron=check_cron(cron), parameters=parameters or {},
                                        description="dvc.yaml's stages in DVC's order, with artifacts")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """``genqc serve``: serve the pipeline on its schedule until interrupted (Ctrl-C)."""
    from flows.pipeline import genqc_pipeline

    cron = check_cron(args.cron)
    if not os.environ.get("PREFECT_API_URL"):
        print("genqc serve: PREFECT_API_URL is not set, so Prefect starts a temporary server that forgets the "
              "schedule and its runs when this process exits. For a lasting one: `prefect server start` and "
              "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (see README).",
              file=sys.stderr)  # fmt: skip
    parameters = {"params_file": args.params} if args.params != "params.yaml" else {}
    genqc_pipeline.serve(name=args.name, cron=cron, parameters=parameters)
    return 0
