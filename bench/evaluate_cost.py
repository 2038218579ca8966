"""Where evaluate's metric time goes: CPU-seconds per metric on synthetic features of the default sizes.

Run: ``python -m bench.evaluate_cost [--quick] [--label before|after] [--spaces classifier effnet_lite0]``.

Sizes are those of a default evaluate (params.yaml): the capped test reference (2,000), the
samples (1,000), the size-matched floor set (1,000 train images) and the capped train subset
(10,000), in the classifier's 128-d space and EfficientNet-Lite0's 1,280-d space, float32 as
the extractors give them. Each step calls the library function the evaluate stage calls with
the default knobs (bootstrap 100, KID 100 subsets of 1,000 and 10 per resample, PRDC k 3/5,
FD∞ in the classifier space), so the breakdown is the metric phase of one family without the
feature extraction. Every step reports CPU-seconds of the process (all threads) beside wall
seconds, and the peak RSS of the run; the load of the machine (``os.getloadavg``) is recorded.
Results go to ``bench/results/evaluate_cost.json`` under the ``--label`` (``before``/``after``
runs of one change sit side by side, and give the row of bench/results/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from bench.common import RESULTS, peak_rss_mb, write_result
from bench.metrics import synthetic_features
from genqc.evaluation.policy import (
    KID_BOOTSTRAP_SUBSETS,
    _kid_interval,
    copies,
    data_copying,
    inception_score,
    kid_options,
)
from genqc.metrics.bootstrap import fd_bootstrap_ci
from genqc.metrics.fd_infinity import fd_infinity
from genqc.metrics.fid import fd_from_features
from genqc.metrics.registry import compute

SIZES = {"test": 2000, "samples": 1000, "floor": 1000, "train": 10000}
QUICK_SIZES = {"test": 400, "samples": 200, "floor": 200, "train": 1000}
DIMS = {"classifier": 128, "effnet_lite0": 1280}
BOOTSTRAP, QUICK_BOOTSTRAP = 100, 10


class _Hashes:
    """The two EvalSet attributes :func:`genqc.evaluation.policy.copies` reads."""

    def __init__(self, prefix: str, n: int) -> None:
        self.hashes = [f"{prefix}{i}" for i in range(n)]


def _timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def space_steps(space: str, sizes: dict[str, int], bootstrap: int) -> dict[str, Callable[[], Any]]:
    """The metric calls of one feature space, score (with intervals) and floor, as evaluate makes them."""
    dim = DIMS[space]
    test = synthetic_features(sizes["test"], dim, seed=10)
    fake = synthetic_features(sizes["samples"], dim, seed=11, fake=True)
    floor = synthetic_features(sizes["floor"], dim, seed=12)
    kid = kid_options(len(test), len(fake), subset_size=1000, subsets=100)
    prdc = {"prdc": {"k_prc": 3, "k_dc": 5}}
    feats = {"real_features": {"pool": test}, "space": space}
    steps: dict[str, Callable[[], Any]] = {
        "fd": lambda: (fd_from_features(test, fake), fd_from_features(test, floor)),
        "fd_bootstrap": lambda: fd_bootstrap_ci(test, fake, n_resamples=bootstrap),
        "kid": lambda: (
            compute(["kid"], fake_features={"pool": fake}, options={"kid": kid}, **feats),
            compute(["kid"], fake_features={"pool": floor}, options={"kid": kid}, **feats),
        ),
        "kid_bootstrap": lambda: _kid_interval(
            test,
            fake,
            {f"kid_{space}": 0.0},
            space=space,
            kid=kid,
            bootstrap=bootstrap,
            subsets=KID_BOOTSTRAP_SUBSETS,
            ci_level=0.95,
            seed=0,
        ),
        "prdc": lambda: (
            compute(["prdc"], fake_features={"pool": fake}, options=prdc, **feats),
            compute(["prdc"], fake_features={"pool": floor}, options=prdc, **feats),
        ),
        "prdc_bootstrap": lambda: compute(
            ["prdc"], fake_features={"pool": fake}, options=prdc, n_bootstrap=bootstrap, **feats
        ),
    }
    if space == "classifier":  # FD∞ (default fd_inf: [classifier]) and what the classifier's features give
        train = synthetic_features(sizes["train"], dim, seed=13)
        logits = synthetic_features(sizes["samples"], 10, seed=14)
        train_sets = _Hashes("t", len(train))
        steps.update(
            {
                "fd_inf": lambda: (
                    fd_infinity(test, fake, n_resamples=bootstrap),
                    fd_infinity(test, floor, n_resamples=0),
                ),
                "memorization": lambda: (
                    copies(train, train_sets, fake, _Hashes("s", len(fake)), frozenset(train_sets.hashes)),
                    copies(train, train_sets, test, _Hashes("r", len(test)), frozenset(train_sets.hashes)),
                ),
                "copying_ct": lambda: data_copying(train, test, fake, seed=0),
                "is": lambda: inception_score(logits, space=space, bootstrap=bootstrap, ci_level=0.95, seed=0),
            }
        )
    return steps


def run(quick: bool, label: str, spaces: list[str]) -> dict[str, Any]:
    sizes, bootstrap = (QUICK_SIZES, QUICK_BOOTSTRAP) if quick else (SIZES, BOOTSTRAP)
    figures: dict[str, Any] = {
        "sizes": sizes,
        "bootstrap": bootstrap,
        "load_before": os.getloadavg(),
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }
    total_cpu = total_wall = 0.0
    for space in spaces:
        for name, fn in space_steps(space, sizes, bootstrap).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # singular covariances and FD∞'s indicative note are expected
                cpu, wall, _ = _timed(fn)
            figures[f"{space}.{name}"] = {"cpu_s": round(cpu, 2), "wall_s": round(wall, 2)}
            total_cpu, total_wall = total_cpu + cpu, total_wall + wall
            print(f"{space:>13} {name:<15} cpu {cpu:8.2f} s  wall {wall:8.2f} s  load {os.getloadavg()[0]:.1f}")
    figures.update(
        total_cpu_s=round(total_cpu, 1),
        total_wall_s=round(total_wall, 1),
        peak_rss_mb=round(peak_rss_mb()),
        load_after=os.getloadavg(),
    )
    print(f"total cpu {total_cpu:.1f} s, wall {total_wall:.1f} s, peak RSS {peak_rss_mb():.0f} MB")
    name = "evaluate_cost_quick" if quick else "evaluate_cost"
    previous = RESULTS / f"{name}.json"
    runs = json.loads(previous.read_text())["figures"] if previous.exists() else {}
    runs[label] = figures
    if isinstance(runs.get("before"), dict) and isinstance(runs.get("after"), dict):
        runs["table"] = [_table_row(runs["before"], runs["after"])]
    write_result(name, runs)
    return figures


def _table_row(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """bench/results/README.md's row: the metric phase's CPU-seconds before and after a change."""
    sizes = ", ".join(f"{role} {n}" for role, n in after["sizes"].items())
    return {
        "what": f"evaluate's metric phase, one family ({sizes}; {after['bootstrap']} resamples)",
        "genqc": f"after {after['total_cpu_s']} CPU-s, peak RSS {after['peak_rss_mb']} MB",
        "peer": f"before {before['total_cpu_s']} CPU-s, peak RSS {before['peak_rss_mb']} MB",
        "ratio": f"**{before['total_cpu_s'] / after['total_cpu_s']:.1f}x** fewer CPU-s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and 10 resamples (seconds)")
    parser.add_argument("--label", default="current", help="name of this run in the result file (before, after)")
    parser.add_argument("--spaces", nargs="+", choices=sorted(DIMS), default=list(DIMS))
    args = parser.parse_args()
    run(args.quick, args.label, args.spaces)


if __name__ == "__main__":
    main()
