"""Run ``genqc ingest`` over many prepared working directories, one forked process each.

Usage: ``python -m tests.tasks.ingest_runner CASES.json RESULTS.json``. CASES.json
lists working directories (each with its params.yaml). For each, a child process
forked from this one runs the real CLI entry point, ``genqc.cli.main(["ingest"])``,
exactly as the ``genqc`` console script does, with what an uncaught exception would
do at the interpreter's top level (a traceback on stderr, exit 1) reproduced, so a
traceback cannot go unseen. Forking after importing the stack once keeps a corpus
of dozens of inputs inside the suite's time budget; interpreter start-up per case
would cost several seconds each.

Each child, before it runs:
- has stdout and stderr redirected to files in its working directory;
- records every file it opens (Python's audit events ``open``) to ``opened.txt``,
  so the test can check that no file outside the case was read;
- gets ``alarm(timeout)``, so a hang (a FIFO read) ends as SIGALRM instead of
  stalling the suite;
- gets an address-space limit a fixed margin above what it inherits, so a
  decompression bomb that escaped its bound fails fast instead of taking the
  machine's memory.

The parent records each child's exit code (or signal), and its peak RSS from
``wait4``'s rusage next to the RSS the child had just before ``main()`` (a forked
child starts below its parent's RSS: file-backed pages are not copied).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import traceback
from pathlib import Path

# The whole stack is imported once, here, before the cases fork (torch: the perceptual hash's resize).
import torch  # noqa: F401

import tasks.ingest  # noqa: F401
from genqc.cli import main as genqc_main

ADDRESS_SPACE_MARGIN = 3 << 30  # a regressed bomb dies of MemoryError well before it hurts the machine


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vm_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(workdir: Path, timeout: int) -> None:
    """Runs in the forked process; never returns."""
    code = 1
    opened: list[str] = []
    try:
        os.chdir(workdir)
        out = os.open("stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        err = os.open("stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(err, 2)
        limit = _vm_bytes() + ADDRESS_SPACE_MARGIN
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.alarm(timeout)

        def audit(event: str, args: tuple) -> None:
            if event == "open" and args and isinstance(args[0], str | bytes | os.PathLike):
                opened.append(os.path.abspath(os.fsdecode(args[0])))

        sys.addaudithook(audit)
        Path("start_rss.txt").write_text(str(_rss_bytes()))

        try:
            code = genqc_main(["ingest"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            Path(workdir, "opened.txt").write_text("\n".join(opened), encoding="utf-8", errors="backslashreplace")
        finally:
            os._exit(code if isinstance(code, int) else 1)


def run_cases(cases: list[dict]) -> list[dict]:
    results = []
    for case in cases:
        sys.stdout.flush()
        parent_rss = _rss_bytes()
        pid = os.fork()
        if pid == 0:
            _child(Path(case["workdir"]), int(case.get("timeout", 60)))
        _, status, usage = os.wait4(pid, 0)
        started = Path(case["workdir"], "start_rss.txt")
        results.append(
            {
                "workdir": case["workdir"],
                "exit": os.waitstatus_to_exitcode(status),
                "parent_rss": parent_rss,
                "start_rss": int(started.read_text()) if started.exists() else parent_rss,  # the child's, before main()
                "peak_rss": usage.ru_maxrss * 1024,  # KiB on Linux
            }
        )
    return results


def main() -> int:
    cases_file, results_file = sys.argv[1:3]
    cases = json.loads(Path(cases_file).read_text())
    Path(results_file).write_text(json.dumps(run_cases(cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
