"""genqc.validate as a library call: tables in, result out, Great Expectations agreeing with the quarantine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import genqc
from genqc.config import ValidateParams
from tests.conftest import REPO
from tests.tasks.test_validate import SIZE, _clean_splits, _with_problems


def test_validate_returns_results_and_writes_nothing_without_a_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    train, test = _clean_splits()
    result = genqc.validate(train, test, ValidateParams(attributes=["group"]), image_size=SIZE, channels=1)
    assert result.passed and result.status == "passed" and result.docs is None
    assert len(result.clean["train"]) == len(train) and len(result.quarantine) == 0
    assert result.metrics()["rows_clean"] == len(train) + len(test)
    assert list(tmp_path.iterdir()) == []  # a throwaway GX project: nothing lands in the caller's directory


def test_gx_counts_exactly_the_rows_the_quarantine_holds_for_each_check() -> None:
    train, test, _ = _with_problems()
    result = genqc.validate(train, test, ValidateParams(attributes=["group"]), image_size=SIZE, channels=1)
    assert result.status == "failed"
    reasons = result.quarantine.explode("reasons")
    compared = 0
    for check in result.checks:
        if check.rows is None or check.name.count(".") != 1:  # per-column (nulls.x, size.height) rows overlap
            continue
        quarantined = int(((reasons["split"] == check.split) & (reasons["reasons"] == check.check)).sum())
        assert check.rows == quarantined, check.name
        compared += 1
    assert compared >= 10
    assert {r.name for r in result.checks if r.rows} >= {
        "train.decode",
        "train.exact_duplicate",
        "train.near_duplicate",
        "test.leakage",
    }


def test_importing_genqc_stays_cheap() -> None:
    code = "import sys, genqc; print(sorted(m for m in ('pandas', 'great_expectations', 'torch') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
