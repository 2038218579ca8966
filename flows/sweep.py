"""A grid of DVC experiments run concurrently by a Prefect task runner, then compared in one table.

Each grid point is ``dvc exp run --temp -S KEY=VALUE ...``: DVC copies the repo
to a temporary directory, runs the pipeline there and records the result as an
experiment ref, so points run side by side without touching the workspace or
each other. Prefect supplies the concurrency: a local thread pool by default, or
a Dask / Ray cluster given its address (``prefect-dask`` / ``prefect-ray``, only
imported then). The flow ends with a table artifact of every experiment's
metrics (from ``dvc exp show``) and returns the same rows.

    python -m flows.sweep --set train.model=dcgan,vae --set seed=0,1 --workers 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from flows import run_logger
from flows.pipeline import run_dvc_experiment
from genqc.dvc_pipeline import StageFailed
from genqc.errors import ConfigError, GenqcError
from genqc.experiments import check_overrides, expand_grid, experiment_metrics

DEFAULT_WORKERS = 2  # experiments at once on the local thread pool; each is a whole pipeline in a subprocess


def make_task_runner(address: str | None = None, max_workers: int = DEFAULT_WORKERS) -> Any:
    """ThreadPoolTaskRunner locally; DaskTaskRunner (``tcp://``) or RayTaskRunner (``ray://``) for a cluster."""
    if max_workers < 1:
        raise ConfigError(f"--workers={max_workers}: need at least 1")
    if not address:
        return ThreadPoolTaskRunner(max_workers=max_workers)
    if address.startswith("ray://"):
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise ConfigError(f"--address {address} needs Ray's task runner: pip install prefect-ray "
                              "(or pip install -e '.[ray]')") from None  # fmt: skip
        return RayTaskRunner(address=address)
    if "://" not in address:
        raise ConfigError(f"--address {address!r}: expected tcp://HOST:PORT (Dask scheduler) or ray://HOST:PORT")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError(f"--address {address} needs Dask's task runner: pip install prefect-dask "
                          "(or pip install -e '.[dask]')") from None  # fmt: skip
    return DaskTaskRunner(address=address)


def comparison_rows(points: list[list[str]], names: list[str | None], errors: list[str | None],
                    metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """One row per grid point: experiment name, each override as a column, then its metrics (or its error)."""
    rows = []
    for overrides, name, error in zip(points, names, errors, strict=True):
        row: dict[str, Any] = {"experiment": name or "-", "status": "failed" if error else "done"}
        row.update(dict(o.split("=", 1) for o in overrides))
        row.update(metrics.get(name, {}) if name else {"error": (error or "").strip().splitlines()[-1]})
        rows.append(row)
    return rows


@flow(name="genqc-sweep", flow_run_name="genqc-sweep-{label}", log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=DEFAULT_WORKERS))  # fmt: skip
def genqc_sweep(
    grid: list[str],
    label: str = "grid",
    repo_dir: str = ".",
    stages: list[str] | None = None,
    params_file: str = "params.yaml",
) -> list[dict[str, Any]]:
    """Run every point of ``grid`` (``["train.model=dcgan,vae", "seed=0,1"]``) as a temp DVC experiment.

    Returns the comparison table (also published as the ``genqc-sweep`` table artifact). Raises
    StageFailed after publishing the table when any experiment failed.
    """
    root = Path(repo_dir).resolve()
    points = expand_grid(grid)
    if not points:
        raise ConfigError("the sweep grid is empty; give at least one --set KEY=V1,V2")
    for overrides in points:
        check_overrides(root / params_file, overrides)
    run_logger().info("sweep of %d experiments: %s", len(points), grid)
    futures = [run_dvc_experiment.submit(",".join(o), o, str(root), targets=stages, temp=True) for o in points]
    names: list[str | None] = []
    errors: list[str | None] = []
    for future in futures:
        try:
            names.append(future.result())
            errors.append(None)
        except GenqcError as exc:
            names.append(None)
            errors.append(str(exc))
    metrics = experiment_metrics(root, [n for n in names if n])
    rows = comparison_rows(points, names, errors, metrics)
    create_table_artifact(rows, key="genqc-sweep", description=f"sweep {label}: {' '.join(grid)}")
    for row in rows:
        print(row)
    failed = [f"{','.join(o)}: {e}" for o, e in zip(points, errors, strict=True) if e]
    if failed:
        raise StageFailed(f"{len(failed)} of {len(points)} sweep experiments", 1, "\n\n".join(failed))
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="grid", action="append", default=[], metavar="KEY=V1,V2", required=True,
                        help="one axis of the grid; repeat for more (the grid is their product)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="experiments at once (thread pool)")
    parser.add_argument("--address", default=None,
                        help="run on a cluster instead: tcp://HOST:PORT (Dask) or ray://HOST:PORT (Ray)")  # fmt: skip
    parser.add_argument("--stages", nargs="*", default=None, help="only up to these dvc.yaml stages")
    parser.add_argument("--repo", default=".", help="project root (default: the current directory)")
    parser.add_argument("--params", default="params.yaml", metavar="FILE", help="params file the grid is checked on")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        runner = make_task_runner(args.address, args.workers)
        label = "x".join(str(len(expand_grid([axis]))) for axis in args.grid)
        rows = genqc_sweep.with_options(task_runner=runner)(grid=args.grid, label=label, repo_dir=args.repo,
                                                            stages=args.stages, params_file=args.params)  # fmt: skip
    except GenqcError as exc:
        print(f"genqc sweep: error: {exc}", file=sys.stderr)
        return exc.exit_code
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    from tasks.common import print_table

    print_table([tuple(row.get(c, "") for c in columns) for row in rows], tuple(columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
