"""bench/scale.py runs every stage dvc.yaml has (no timings asserted: benchmarks are not tests)."""

from __future__ import annotations

import yaml

from bench.scale import stage_commands
from tests.conftest import REPO


def test_the_benchmark_runs_exactly_the_stages_of_dvc_yaml_for_every_family() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    families = ["dcgan", "vae", "ddpm"]
    expected = set()
    for name, stage in stages.items():
        expected |= {f"{name}@{m}" for m in families} if "matrix" in stage else {name}
    commands = stage_commands({"train": {"models": families}})
    assert {"@".join([c[0], *c[2:]]) for c in commands} == expected
    assert [c[0] for c in commands[:4]] == ["ingest", "validate", "augment", "classifier"]
    assert commands[-1] == ["report"]
