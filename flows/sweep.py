"""A grid of DVC experiments where every point completes, compared in one table from ``dvc exp show``.

Two executors, both designs DVC supports for experiments side by side:

- ``queue`` (default): DVC's experiment queue. Each point is queued with
  ``dvc exp run --queue -S KEY=VALUE``; ``dvc queue start -j N`` runs them, N at
  a time, each in its own temporary copy of the repository; the flow waits on
  ``dvc queue status``. DVC schedules, isolates and records every point.
- ``dask``: each point is a Prefect task on a Dask cluster (prefect-dask, the
  ``dask`` extra): a LocalCluster of N single-threaded workers, or a running
  scheduler given ``--address tcp://HOST:PORT``. Each task runs ``dvc
  --wait-for-lock exp run --temp``, so points that reach the repository's lock at
  once wait for it instead of failing with "Unable to acquire lock".

Either way the workspace is never touched; the flow ends with a table artifact of
every experiment's params and metrics (from ``dvc exp show --json``) and returns
the same rows.

    python -m flows.sweep --set train.model=dcgan,vae --set seed=0,1 --workers 2
    python -m flows.sweep --points bench/levers.yaml --workers 1   # named points (a lever study)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import run_logger
from flows.dvc_pipeline import StageFailed
from flows.experiments import (
    check_overrides,
    expand_grid,
    experiment_metrics,
    load_points,
    queue_experiment,
    queue_log,
    start_queue,
    wait_for_queue,
)
from flows.pipeline import run_dvc_experiment
from genqc.errors import ConfigError, GenqcError
from tasks.common import print_table

DEFAULT_WORKERS = 2  # experiments at once; each is a whole pipeline in its own processes
EXECUTORS = ("queue", "dask")


def make_task_runner(address: str | None = None, max_workers: int = DEFAULT_WORKERS) -> Any:
    """A DaskTaskRunner: on a LocalCluster of ``max_workers`` single-threaded workers, or at ``address``."""
    if max_workers < 1:
        raise ConfigError(f"--workers={max_workers}: need at least 1")
    if address and not address.startswith("tcp://"):
        raise ConfigError(f"--address {address!r}: expected tcp://HOST:PORT (a Dask scheduler)")
    try:
        from prefect_dask import DaskTaskRunner  # deferred: the optional [dask] extra
    except ImportError:
        raise ConfigError("--executor dask needs Dask's task runner: pip install -e '.[dask]' (prefect-dask)") from None
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster", cluster_kwargs={"n_workers": max_workers, "threads_per_worker": 1}
    )


def comparison_rows(
    points: list[list[str]],
    names: list[str | None],
    errors: list[str | None],
    metrics: dict[str, dict[str, Any]],
    labels: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per grid point: (its label,) experiment name, each override as a column, then its metrics or error."""
    rows = []
    for i, (overrides, name, error) in enumerate(zip(points, names, errors, strict=True)):
        row: dict[str, Any] = {"point": labels[i]} if labels else {}
        row.update({"experiment": name or "-", "status": "failed" if error else "done"})
        row.update(dict(o.split("=", 1) for o in overrides))
        if error:
            row["error"] = (error or "").strip().splitlines()[-1]
        elif metrics.get(name or ""):
            row.update(metrics[name or ""])
        else:
            row["error"] = "no metrics for this experiment in dvc exp show"
        rows.append(row)
    return rows


@task(name="queue-experiments", cache_policy=NO_CACHE)
def run_on_queue(
    root: str, points: list[list[str]], stages: list[str] | None, workers: int, timeout_s: float | None = None
) -> tuple[list[str | None], list[str | None]]:
    """Queue every point, start DVC's queue with ``workers`` jobs, wait; (names, errors) in grid order."""
    names = [queue_experiment(overrides, root, targets=stages) for overrides in points]
    run_logger().info("queued %s; starting %d DVC queue worker(s)", ", ".join(names), workers)
    start_queue(root, workers)
    states = wait_for_queue(root, names, timeout_s=timeout_s)
    errors: list[str | None] = [None if states[n] == "Success" else queue_log(root, n) or states[n] for n in names]
    return list(names), errors


def run_as_tasks(
    root: str, points: list[list[str]], stages: list[str] | None
) -> tuple[list[str | None], list[str | None]]:
    """One ``dvc exp run --temp`` task per point on the flow's task runner; (names, errors) in grid order."""
    futures = [run_dvc_experiment.submit(",".join(o), o, root, targets=stages, temp=True) for o in points]
    names: list[str | None] = []
    errors: list[str | None] = []
    for future in futures:
        try:
            names.append(future.result())
            errors.append(None)
        except GenqcError as exc:
            names.append(None)
            errors.append(str(exc))
    return names, errors


@flow(name="genqc-sweep", flow_run_name="genqc-sweep-{label}", log_prints=True)
def genqc_sweep(
    grid: list[str],
    label: str = "grid",
    repo_dir: str = ".",
    stages: list[str] | None = None,
    params_file: str = "params.yaml",
    executor: Literal["queue", "dask"] = "queue",
    workers: int = DEFAULT_WORKERS,
    points_file: str | None = None,
    strict: bool = True,
) -> list[dict[str, Any]]:
    """Run every point of ``grid`` (``["train.model=dcgan,vae", "seed=0,1"]``) as a DVC experiment.

    ``points_file`` instead names the points (:func:`flows.experiments.load_points`); each row
    then starts with its point's name. ``executor="queue"``: DVC's queue with ``workers`` jobs.
    ``"dask"``: one task per point on the flow's task runner (give it with
    ``with_options(task_runner=make_task_runner(...))``). Returns the comparison table (also the
    ``genqc-sweep`` table artifact). Raises StageFailed, after publishing the table, when any
    experiment failed, unless ``strict=False`` (the failed rows then say why).
    """
    root = Path(repo_dir).resolve()
    named = load_points(points_file) if points_file else []
    labels = [name for name, _ in named] or None
    points = [overrides for _, overrides in named] or expand_grid(grid)
    if not points:
        raise ConfigError("the sweep grid is empty; give at least one --set KEY=V1,V2 or --points FILE")
    for overrides in points:
        check_overrides(root / params_file, overrides)
    run_logger().info("sweep of %d experiments on %s: %s", len(points), executor, grid)
    if executor == "queue":
        names, errors = run_on_queue(str(root), points, stages, workers)
    else:
        names, errors = run_as_tasks(str(root), points, stages)
    metrics = experiment_metrics(root, [n for n, e in zip(names, errors, strict=True) if n and not e])
    rows = comparison_rows(points, names, errors, metrics, labels)
    what = f"points of {points_file}" if points_file else " ".join(grid)
    create_table_artifact(rows, key="genqc-sweep", description=f"sweep {label}: {what}")
    for row in rows:
        print(row)
    failed = [f"{','.join(o)}: {e}" for o, e in zip(points, errors, strict=True) if e]
    if failed and strict:
        raise StageFailed(f"{len(failed)} of {len(points)} sweep experiments", 1, "\n\n".join(failed))
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set",
        dest="grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="one axis of the grid; repeat for more (the grid is their product)",
    )
    parser.add_argument(
        "--points",
        metavar="FILE",
        default=None,
        help="named points instead of a product: YAML with base: [K=V, ...] and points: {name: [K=V, ...]}",
    )
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="experiments at once")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="queue",
        help="queue: DVC's experiment queue (default); dask: Prefect tasks on Dask",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --executor dask: a running scheduler at tcp://HOST:PORT (default: a LocalCluster)",
    )
    parser.add_argument("--stages", nargs="*", default=None, help="only up to these dvc.yaml stages")
    parser.add_argument("--repo", default=".", help="project root (default: the current directory)")
    parser.add_argument("--params", default="params.yaml", metavar="FILE", help="params file the grid is checked on")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if bool(args.grid) == bool(args.points):
        print("genqc sweep: error: give either --set KEY=V1,V2 (repeatable) or --points FILE", file=sys.stderr)
        return 2
    try:
        sweep = genqc_sweep
        if args.executor == "dask":
            sweep = genqc_sweep.with_options(task_runner=make_task_runner(args.address, args.workers))
        elif args.workers < 1:
            raise ConfigError(f"--workers={args.workers}: need at least 1")
        label = Path(args.points).stem if args.points else "x".join(str(len(expand_grid([axis]))) for axis in args.grid)
        rows = sweep(
            grid=args.grid,
            label=label,
            repo_dir=args.repo,
            stages=args.stages,
            params_file=args.params,
            executor=args.executor,
            workers=args.workers,
            points_file=args.points,
        )
    except GenqcError as exc:
        print(f"genqc sweep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    print_table([tuple(row.get(c, "") for c in columns) for row in rows], tuple(columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
