"""One thread setting for every compute library a stage uses.

torch, OpenMP, MKL and OpenBLAS each size their own thread pools from the
machine's core count, not from the cores this process may use (a container's
CPU set, ``taskset``, a scheduler's slot). On a busy or restricted machine that
oversubscribes: measured on 2 shared cores, a training step went from 0.12 to 2
CPU-seconds. ``apply_threads`` caps all of them at once; stages call it where
their params are loaded, so no stage can forget it.
"""

from __future__ import annotations

import contextlib
import os

# Read by OpenMP (torch's intra-op pool), MKL, OpenBLAS, BLIS, Apple Accelerate and numexpr at start-up;
# set for child processes (torchrun workers, DVC) as well as for this one.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def per_process_threads(threads: int) -> int:
    """Split ``threads`` between the processes torchrun started on this node (LOCAL_WORLD_SIZE), at least 1."""
    try:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        local = 1
    return max(1, threads // max(1, local))


def apply_threads(threads: int) -> int:
    """Cap torch (intra- and inter-op), OpenMP and the BLAS libraries at ``threads``; return the count applied.

    Environment variables cover libraries not loaded yet and child processes;
    threadpoolctl resizes the BLAS/OpenMP pools numpy and scipy already loaded;
    torch's own setters cover its pools. torch's inter-op pool can only be sized
    before its first parallel region, so a later call leaves it as it is.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    threadpool_limits(limits=threads)
    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        # inter-op work already started in this process: its pool is fixed now
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)
    return threads
