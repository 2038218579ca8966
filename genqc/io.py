"""Atomic file output.

Every stage writes through these helpers so an interrupted run never leaves a
half-written file that DVC or the next stage would trust: data goes to a temporary
file in the same directory and is renamed over the target (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The temporary file lives in the same directory so the final ``os.replace`` never
    crosses a filesystem. On any exception the temporary file is removed and the
    previous ``target`` (if any) is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600; give the file the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _json_default(value: Any) -> Any:
    """Make numpy scalars and paths JSON-serialisable without importing numpy eagerly."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _finite_or_none(value: Any) -> Any:
    """Replace NaN/Inf with None: JSON has no NaN, and a NaN metric must never look valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(data: Any, target: str | os.PathLike[str]) -> None:
    """Write ``data`` as indented JSON, atomically; non-finite floats become null."""
    with atomic_path(target) as tmp:
        text = json.dumps(_finite_or_none(data), indent=2, sort_keys=False, default=_json_default)
        tmp.write_text(text + "\n", encoding="utf-8")


def write_text(text: str, target: str | os.PathLike[str]) -> None:
    """Write text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet(frame: Any, target: str | os.PathLike[str]) -> None:
    """Write a pandas DataFrame to Parquet atomically (no index column)."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)


def print_table(rows: list[tuple], header: tuple) -> None:
    """Print a small aligned table; the one-screen summaries of every stage and of ``genqc metrics`` use it."""
    text = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    for i, row in enumerate(text):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
