"""The genqc pipeline as a Prefect flow: dvc.yaml's stages, in DVC's order, one task each.

DVC owns the graph and the caching: the flow asks DVC for the stage order and
runs ``dvc repro --single-item`` per stage, so a fresh stage is skipped by DVC,
not by Prefect. Prefect adds what DVC lacks: retries for transient failures
(``prefect.retry_stages`` in params.yaml), logs, schedules and artifacts
(validation summary, metrics with intervals and gates, the sample grid, the
report's verdict). Each run holds its checkout's concurrency slot (one run per
checkout at a time, see docs/orchestration.md).

With param overrides the whole run is one DVC experiment (``dvc exp run -S``):
the results land in the workspace as usual and are recorded under the
experiment's name, which the flow returns.

Run it with ``genqc run`` (or ``python -m flows.pipeline``); serve it on a
schedule with ``genqc serve`` (flows/deploy.py) or ``prefect deploy`` (prefect.yaml).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists
from prefect.runtime import flow_run

from flows import run_logger
from flows.artifacts import publish_run_artifacts
from flows.dvc_pipeline import base_name, reproduce, stage_order, tail
from flows.experiments import check_overrides, parse_override, run_experiment
from genqc.config import Params, PrefectParams, load_params


@task(name="reproduce-stage", task_run_name="reproduce-{stage}", cache_policy=NO_CACHE)
def reproduce_stage(stage: str, repo_dir: str = ".") -> dict[str, Any]:
    """Reproduce one DVC stage (DVC skips it when up to date); raise StageFailed with its stderr's tail."""
    run = reproduce(stage, repo_dir)
    logger = run_logger()
    verdict = f"ran in {run.seconds:.1f} s" if run.ran else "up to date, skipped by DVC"
    logger.info("stage %s %s\n%s", stage, verdict, tail(run.stdout))
    return {"stage": stage, "ran": run.ran, "seconds": round(run.seconds, 3)}


@task(name="run-experiment", task_run_name="experiment-{label}", cache_policy=NO_CACHE)
def run_dvc_experiment(
    label: str,
    overrides: list[str],
    repo_dir: str = ".",
    targets: list[str] | None = None,
    name: str | None = None,
    temp: bool = False,
) -> str:
    """One ``dvc exp run -S ...`` (``--temp``: in a scratch copy of the repo); returns the experiment name."""
    experiment = run_experiment(overrides, repo_dir, targets=targets, name=name, temp=temp)
    run_logger().info("experiment %s: %s", experiment, " ".join(overrides))
    return experiment


def checkout_limit_name(root: Path) -> str:
    """The global concurrency limit that serialises runs on one checkout: ``genqc-checkout-<hash of its path>``."""
    return "genqc-checkout-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]


def ensure_checkout_limit(root: Path) -> str:
    """Create the checkout's limit (1 slot) on the server unless it exists; return its name.

    Two runs on the same checkout (two schedules, a schedule and ``genqc run``) would race on
    DVC's repo lock and its workspace outputs, so each run holds the one slot while its stages
    run; the second waits. Prefect only enforces limits that exist, hence the create.
    """
    name = checkout_limit_name(root)
    # ObjectAlreadyExists: an earlier run (or a user, with another limit) created it first
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    return name


def with_retries(task_fn: Any, stage: str, cfg: PrefectParams) -> Any:
    """``task_fn`` with ``prefect.retries`` retries when the stage's base name is in ``prefect.retry_stages``.

    ``train@vae`` counts as ``train``: retry policy follows the dvc.yaml name, not the matrix item.
    """
    if base_name(stage) in cfg.retry_stages and cfg.retries > 0:
        return task_fn.with_options(retries=cfg.retries, retry_delay_seconds=cfg.retry_delay_s)
    return task_fn


def _run_name() -> str:
    """``genqc-all``, ``genqc-validate+train`` or ``genqc-exp-seed=1``: what the run did, at a glance."""
    parameters = flow_run.parameters or {}
    stages = "+".join(parameters.get("stages") or []) or "all"
    overrides = ",".join(parameters.get("overrides") or [])
    return f"genqc-exp-{overrides}" if overrides else f"genqc-{stages}"


@flow(name="genqc-pipeline", flow_run_name=_run_name, log_prints=True)
def genqc_pipeline(
    stages: list[str] | None = None,
    overrides: list[str] | None = None,
    repo_dir: str = ".",
    params_file: str = "params.yaml",
    experiment_name: str | None = None,
) -> dict[str, Any]:
    """Reproduce the dvc.yaml stages in DVC's order, or run them as one DVC experiment with ``overrides``.

    Args:
        stages: dvc.yaml stage names or addresses (``train``, ``train@vae``); their upstream
            stages come too, as with ``dvc repro STAGE``. None or empty: every stage.
        overrides: ``KEY=VALUE`` param overrides (``train.model=vae``); the run becomes a DVC
            experiment and the result's ``experiment`` names it.
        repo_dir: the project root (holds dvc.yaml).
        params_file: where the ``prefect:`` section (retries) is read, relative to ``repo_dir``;
            the stages themselves read the params file dvc.yaml names.
        experiment_name: name for the experiment (DVC picks one when None).
    """
    root = Path(repo_dir).resolve()
    params = load_params(root / params_file)
    order = stage_order(root, stages or None)
    result: dict[str, Any] = {"stages": order, "experiment": None, "runs": []}
    limit = ensure_checkout_limit(root)
    run_logger().info("waiting for the checkout's slot (%s) so no other run works on %s at once", limit, root)
    with concurrency(limit, occupy=1, strict=True):
        _run_stages(result, root, order, params, stages, overrides, params_file, experiment_name)
    return result


def _run_stages(
    result: dict[str, Any],
    root: Path,
    order: list[str],
    params: Params,
    stages: list[str] | None,
    overrides: list[str] | None,
    params_file: str,
    experiment_name: str | None,
) -> None:
    """The stages (or the one experiment), then the artifacts of whatever they produced, even after a failure."""
    cfg = params.prefect
    try:
        if overrides:
            check_overrides(root / params_file, overrides)
            retried = [s for s in order if base_name(s) in cfg.retry_stages]
            runner = with_retries(run_dvc_experiment, retried[0], cfg) if retried else run_dvc_experiment
            result["experiment"] = runner(
                ",".join(overrides), list(overrides), str(root), targets=stages or None, name=experiment_name
            )
            print(f"experiment {result['experiment']}: {' '.join(overrides)} (dvc exp show lists it)")
        else:
            for stage in order:
                result["runs"].append(with_retries(reproduce_stage, stage, cfg)(stage, str(root)))
    finally:
        result["notes"] = publish_run_artifacts(str(root), order, params.train.model)


def check_run_arguments(root: Path, params_file: str, overrides: list[str], stages: list[str] | None) -> None:
    """ConfigError unless every override is a valid ``KEY=VALUE`` and every stage is in dvc.yaml."""
    for text in overrides:
        parse_override(text)
    if overrides:
        check_overrides(root / params_file, overrides)
    stage_order(root, stages)


def main(args: argparse.Namespace) -> int:
    """``genqc run``: run the flow in this directory; a failed stage exits with the stage's own code.

    ``--set`` and ``--stages`` are checked first, so a typo costs one line and exit 2, not a flow run.
    """
    check_run_arguments(Path.cwd(), args.params, list(args.overrides or []), args.stages or None)
    result = genqc_pipeline(
        stages=args.stages or None,
        overrides=list(args.overrides or []) or None,
        params_file=args.params,
        experiment_name=getattr(args, "experiment_name", None),
    )
    for run in result["runs"]:
        print(f"{run['stage']:<24} {'ran' if run['ran'] else 'up to date':<11} {run['seconds']:8.1f} s")
    if result["experiment"]:
        print(f"experiment: {result['experiment']}  (dvc exp show; dvc exp apply {result['experiment']})")
    return 0


if __name__ == "__main__":
    from genqc.cli import main as cli_main

    sys.exit(cli_main(["run", *sys.argv[1:]]))
