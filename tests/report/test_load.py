"""genqc/report/load.py: absent or damaged files become Missing entries, never exceptions."""

from __future__ import annotations

from pathlib import Path

from genqc.report.load import Loader
from tests.report.conftest import _curves, _png


def test_missing_and_damaged_files_are_recorded_with_their_remedy(tmp_path: Path) -> None:
    loader = Loader()
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "fake.png").write_bytes(b"GIF89a")
    assert loader.json_dict(tmp_path / "absent.json", "metrics", "run `dvc repro evaluate@vae`") is None
    assert loader.json_dict(tmp_path / "bad.json", "metrics", "fix") is None
    assert loader.json_dict(tmp_path / "list.json", "metrics", "fix") is None
    assert loader.json_rows(tmp_path / "list.json", "prdc", "fix") is None
    assert loader.png(tmp_path / "fake.png", "samples", "fix") is None
    assert loader.nearest(tmp_path / "bad.json", "memorization", "fix", limit=4) is None
    reasons = [(Path(m.path).name, m.reason) for m in loader.missing]
    assert reasons[:5] == [
        ("absent.json", "not found"),
        ("bad.json", "unreadable (JSONDecodeError)"),
        ("list.json", "holds a list, not an object"),
        ("list.json", "is not a list of rows"),
        ("fake.png", "is not a PNG file"),
    ]
    assert loader.missing[0].remedy == "run `dvc repro evaluate@vae`"


def test_dvclive_histories_are_read_by_relative_name(tmp_path: Path) -> None:
    _curves(tmp_path)
    (tmp_path / "plots/metrics/broken.tsv").write_text("timestamp\tstep\tbroken\n1\tx\t2\n")
    loader = Loader()
    curves = loader.curves(tmp_path / "plots/metrics", "curves", "fix")
    assert sorted(curves) == [
        "discriminator/loss",
        "generator/grad_norm",
        "generator/loss",
        "images_per_s",
        "lr/generator",
    ]
    assert curves["generator/loss"][0] == (0.0, 4.0) and len(curves["generator/loss"]) == 10
    assert loader.missing == []


def test_png_bytes_round_trip(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_png(0))
    assert Loader().png(tmp_path / "a.png", "samples", "fix") == _png(0)
