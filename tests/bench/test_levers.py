"""bench/levers.yaml: every point of the lever study is a valid pipeline config before it is queued."""

from __future__ import annotations

from pathlib import Path

from bench import levers
from flows.experiments import check_overrides, load_points
from tests.conftest import REPO


def test_every_lever_point_applied_to_params_yaml_is_a_valid_config(tmp_path: Path) -> None:
    """A typo or a mistyped value in one point would otherwise surface as one failed experiment, an hour in."""
    text = levers.POINTS.read_text(encoding="utf-8")
    for name in ("clean", "dirty"):
        text = text.replace("{" + name + "}", str(tmp_path / name))
    points_file = tmp_path / "levers.yaml"
    points_file.write_text(text, encoding="utf-8")
    points = load_points(points_file)
    assert len(points) >= 15 and points[0] == ("default", points[0][1])
    for _name, overrides in points:
        check_overrides(REPO / "params.yaml", overrides)
    named = dict(points)
    assert "train.conditional=false" in named["unconditional"]  # the default is conditional: the lever turns it off
    assert "sample.ensemble=[data/train/vae/ema.pt]" in named["ensemble_vae"]
