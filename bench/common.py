"""Shared helpers for benchmarks: timing, peak memory, machine info and result files.

Every benchmark measures genqc and its peer in the same process run, so the
ratio is meaningful on a shared, noisy machine; absolute figures are reported
for context only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn: Callable[[], Any], *, repeat: int = 3, warmup: int = 1) -> tuple[float, Any]:
    """Minimum wall time over ``repeat`` runs after ``warmup`` runs (min is the least noisy estimate)."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def median_time(fn: Callable[[], Any], *, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    info["numpy"] = np.__version__
    return info


def write_result(name: str, figures: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json with the figures, the machine and the date."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path
