"""Where a stage's peak memory is: its RSS sampled while it runs, with the code it was running at the peak.

Run from a project directory (e.g. a scratch copy with ``ingest.source: idx:...``):
``python -m bench.stage_memory evaluate --model dcgan [--params FILE] [--interval 0.02]``.

``ru_maxrss`` says how high a process went, not why. This runs ``genqc <stage>``
in this process while a thread samples the resident set (``/proc/self/statm``)
every ``interval`` seconds and, each time it reaches a new high, records the main
thread's Python stack. It prints the peak, the stack at the peak, and the RSS
high-water mark reached inside each genqc function that was on a stack when a new
high was set, so the step that drives the peak stands out (torch allocations are
invisible to tracemalloc; RSS sees everything). Sampling misses spikes shorter
than the interval; ``ru_maxrss`` is printed beside it as the exact peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
import traceback
from collections import defaultdict

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


class PeakSampler(threading.Thread):
    """Samples RSS; keeps the main thread's stack at the highest sample and per-function highs."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval, self.main = interval, threading.main_thread().ident
        self.peak, self.stack = 0.0, []
        self.by_function: dict[str, float] = defaultdict(float)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            now = rss_mb()
            frame = sys._current_frames().get(self.main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            for entry in stack:
                if "/genqc/" in entry.filename or "/tasks/" in entry.filename:
                    name = f"{entry.filename.split('/genqc/')[-1].split('/tasks/')[-1]}:{entry.name}"
                    self.by_function[name] = max(self.by_function[name], now)
            if now > self.peak:
                self.peak, self.stack = now, stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", help="a genqc stage, e.g. evaluate")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between RSS samples")
    args, rest = parser.parse_known_args(argv)
    from genqc.cli import main as genqc

    sampler = PeakSampler(args.interval)
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    code = genqc([args.stage, *rest])
    sampler.stop.set()
    sampler.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{args.stage} exit {code}: {time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} CPU-s"
    )
    print(f"peak RSS {maxrss:.0f} MB (ru_maxrss); highest sample {sampler.peak:.0f} MB, at:")
    for entry in sampler.stack[-14:]:
        print(f"  {entry.filename.split('/')[-1]}:{entry.lineno} {entry.name}: {entry.line}")
    print("highest RSS seen inside each genqc function (MB):")
    for name, value in sorted(sampler.by_function.items(), key=lambda item: -item[1])[:25]:
        print(f"  {value:7.0f}  {name}")
    return code


if __name__ == "__main__":
    sys.exit(main())
