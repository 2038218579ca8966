"""The report as a person sees it: rendered by headless Chromium, screenshotted, and its DOM checked.

Needs the Debian packages chromium and chromium-driver (.ci/run installs them when
it can); without a browser the test is skipped with the reason.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium on PATH; install it with "
        "`apt-get install -y chromium chromium-driver` (.ci/run does when it runs as root)",
    ),
]


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_renders_in_chromium(report_workdir: Path, tmp_path: Path) -> None:
    assert report.main(argparse.Namespace(params="params.yaml", model=None)) == 0
    page = report_workdir / "reports/report.html"
    shot = tmp_path / "report.png"

    result = _chromium(page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 20, "the screenshot is (nearly) one colour: the page rendered blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, plots and images, not a flat page
    # the red banner of the failing family is at the top, visible without scrolling
    top = pixels[:400]
    assert ((top[..., 0] > 240) & (top[..., 1] < 245) & (top[..., 1] > 220)).any()

    dom = _chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    for section in (
        "verdict",
        "samples",
        "curves",
        "metrics",
        "prdc",
        "classes",
        "spectra",
        "memorization",
        "validation",
        "params",
    ):
        assert f'id="{section}"' in dom, section
    assert "<script>alert" not in dom  # the hostile class name stayed text
    assert "Quality gates FAILED" in dom
