"""tasks/report.py: the stage writes one self-contained page from whatever outputs exist."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

from tasks import report
from tests.conftest import run_genqc, write_params


def _run(model: str | None = None) -> int:
    return report.main(argparse.Namespace(params="params.yaml", model=model))


def test_report_from_every_output(report_workdir: Path, capsys) -> None:
    assert _run() == 0
    page = (report_workdir / "reports/report.html").read_text()
    for section in ("verdict", "samples", "curves", "metrics", "memorization", "validation", "params"):
        assert f'id="{section}"' in page
    assert page.count('src="data:image/png;base64,') >= 20  # grids, tiles, pairs, plots: all inline
    assert not re.search(r'src="(?!data:)', page)
    assert 'href="validation/docs/index.html"' in page  # relative: the report folder can move as a whole
    assert "dcgan (primary): 2 of 2 gates passed" in page and "vae: 1 of 2 gates passed" in page
    assert "Evaluation classifier test accuracy: <strong>0.97</strong>" in page
    assert "samples per class (conditional)" in page  # dcgan's samples table has labels
    assert "input(s) missing" not in capsys.readouterr().out


def test_model_flag_reports_one_family(report_workdir: Path) -> None:
    assert _run("vae") == 0
    page = (report_workdir / "reports/report.html").read_text()
    assert "model families: vae;" in page and "<h3>dcgan</h3>" not in page and "<h3>vae</h3>" in page


def test_report_before_any_stage_lists_what_is_missing(workdir: Path, tiny_params: dict, capsys) -> None:
    write_params(workdir, tiny_params)
    assert _run() == 0
    page = (workdir / "reports/report.html").read_text()
    assert "run `dvc repro evaluate@dcgan`" in page and "run `dvc repro validate`" in page
    assert "Incomplete: some verdicts are missing" in page
    assert "input(s) missing" in capsys.readouterr().out


def test_bad_params_exit_2_naming_the_key(workdir: Path, tiny_params: dict) -> None:
    tiny_params["train"]["models"] = ["dcgan", "gan"]
    (workdir / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    result = run_genqc("report", cwd=workdir, timeout=120)
    assert result.returncode == 2
    assert "train.models" in result.stderr and "Traceback" not in result.stderr


def test_revision_without_git_still_hashes_dvc_lock(tmp_path: Path) -> None:
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    rev = report.revision(tmp_path)
    assert rev.commit is None and rev.dirty is None
    assert rev.dvc_lock_sha256 is not None and len(rev.dvc_lock_sha256) == 64
