"""The genqc command's start-up and exit-code contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, run_genqc


def test_help_lists_every_stage_and_imports_nothing_heavy() -> None:
    code = ("import sys, contextlib, io\nfrom genqc.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try: main(['--help'])\n    except SystemExit: pass\n"
            "heavy = [m for m in ('torch', 'great_expectations', 'prefect', 'pandas', 'dvc') if m in sys.modules]\n"
            "print(out.getvalue()); print('HEAVY', heavy)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    for stage in ("ingest", "validate", "augment", "classifier", "train", "sample", "evaluate", "report",
                  "metrics", "run", "serve"):  # fmt: skip
        assert stage in result.stdout
    assert "HEAVY []" in result.stdout


def test_no_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = run_genqc(cwd=tmp_path)
    assert result.returncode == 2 and "usage: genqc" in result.stdout


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run_genqc("ingest", "--bogus", cwd=tmp_path)
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr
