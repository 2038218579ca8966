"""Progress of long loops: a tqdm bar on a terminal, a plain line per ~5% everywhere else.

Stages run for minutes on real datasets (feature extraction, bootstrap, the
classifier, augmenting 70k images); silence for that long looks like a hang.
On a terminal the user gets a tqdm bar with its ETA. Under ``dvc repro``, CI or
a log file (no TTY) a bar would write a carriage-return soup, so instead one line
is printed each time another ~5% of the work is done:

    extract effnet_lite0: 35% (4900/14000 img) 81.2 img/s, eta 1m52s

Both go to stderr so a stage's stdout summary stays one clean screen. Loops that
finish within ``delay`` seconds print nothing at all (the default mnist5k run
stays quiet); ``GENQC_PROGRESS_DELAY`` sets that delay (0 shows every loop) and
``GENQC_PROGRESS=off`` silences progress entirely, ``=lines`` forces lines on a
terminal too.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

DEFAULT_DELAY_S = 5.0  # loops shorter than this stay silent: progress is for steps users wait on
LINE_STEP = 0.05  # without a terminal, one line per 5% of the work


def _delay() -> float:
    raw = os.environ.get("GENQC_PROGRESS_DELAY")
    if raw is None:
        return DEFAULT_DELAY_S
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_DELAY_S


def format_eta(seconds: float) -> str:
    """``95`` -> ``1m35s``; hours when it takes that long."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Progress over a known total of work units; use as a context manager, call ``update(n)`` per chunk."""

    def __init__(
        self, total: int, desc: str, *, unit: str = "it", delay: float | None = None, stream: IO[str] | None = None
    ) -> None:
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.delay = _delay() if delay is None else delay
        self.stream = stream if stream is not None else sys.stderr
        self.done, self.t0 = 0, time.perf_counter()
        self._next_line = LINE_STEP
        self._bar: Any = None
        mode = os.environ.get("GENQC_PROGRESS", "auto").lower()
        self._enabled = mode != "off" and self.total > 0
        if self._enabled and mode != "lines" and _isatty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                desc=desc,
                unit=unit,
                file=self.stream,
                delay=self.delay,
                dynamic_ncols=True,
                leave=False,
            )

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units of work done."""
        if not self._enabled or n <= 0:
            return
        self.done = min(self.total, self.done + int(n))
        if self._bar is not None:
            self._bar.update(n)
            return
        fraction = self.done / self.total
        if fraction + 1e-12 < self._next_line and self.done < self.total:
            return
        self._next_line = (math.floor(fraction / LINE_STEP + 1e-9) + 1) * LINE_STEP
        elapsed = time.perf_counter() - self.t0
        if elapsed < self.delay:
            return
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        eta = format_eta((self.total - self.done) / rate) if rate > 0 else "?"
        print(
            f"{self.desc}: {fraction:4.0%} ({self.done}/{self.total} {self.unit}) {rate:.1f} {self.unit}/s, eta {eta}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(
    items: Iterable[T], total: int, desc: str, *, unit: str = "it", weight: Any = None, delay: float | None = None
) -> Iterator[T]:
    """Yield ``items`` unchanged, reporting progress; ``weight(item)`` units per item (default 1, e.g. ``len``)."""
    with Progress(total, desc, unit=unit, delay=delay) as progress:
        for item in items:
            yield item
            progress.update(weight(item) if weight is not None else 1)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
