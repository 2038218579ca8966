"""flows/experiments.py: overrides, grids and the metrics of DVC experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.experiments import (
    apply_overrides,
    check_overrides,
    expand_grid,
    metrics_by_experiment,
    parse_override,
    split_values,
)
from genqc.errors import ConfigError


def test_parse_override_and_its_errors() -> None:
    assert parse_override("train.model=vae") == ("train.model", "vae")
    assert parse_override("train.dcgan.diffaugment=") == ("train.dcgan.diffaugment", "")
    for bad in ("train.model", "=vae", "train model=vae"):
        with pytest.raises(ConfigError, match="is not KEY=VALUE"):
            parse_override(bad)


def test_grid_is_the_product_of_its_axes() -> None:
    grid = expand_grid(["train.model=dcgan,vae", "seed=0,1"])
    assert grid == [
        ["train.model=dcgan", "seed=0"],
        ["train.model=dcgan", "seed=1"],
        ["train.model=vae", "seed=0"],
        ["train.model=vae", "seed=1"],
    ]
    assert expand_grid([]) == []


def test_grid_values_keep_brackets_whole_and_reject_repeats() -> None:
    assert split_values("[classifier,effnet_lite0],[classifier]") == ["[classifier,effnet_lite0]", "[classifier]"]
    with pytest.raises(ConfigError, match="repeat a key"):
        expand_grid(["seed=0", "seed=1"])
    with pytest.raises(ConfigError, match="has an empty value"):
        expand_grid(["seed=0,"])


def test_apply_overrides_parses_values_as_yaml_like_dvc() -> None:
    data = {"seed": 0, "train": {"model": "dcgan", "steps": 10}}
    out = apply_overrides(data, ["train.steps=5", "train.model=vae", "evaluate.extractors=[classifier]", "x.yaml:a=1"])
    assert out == {"seed": 0, "train": {"model": "vae", "steps": 5}, "evaluate": {"extractors": ["classifier"]}}
    assert data["train"]["steps"] == 10  # the input is not modified


def test_check_overrides_names_the_bad_key(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 0, "train": {"model": "dcgan"}}))
    check_overrides(params, ["train.model=vae", "train.models=[vae]", "seed=3"])
    with pytest.raises(ConfigError, match=r"train.model='gan'"):
        check_overrides(params, ["train.model=gan"])
    with pytest.raises(ConfigError, match=r"unknown key 'train.modle'"):
        check_overrides(params, ["train.modle=vae"])
    with pytest.raises(ConfigError, match=r"'seed' is not a section"):
        check_overrides(params, ["seed.x=1"])


def test_metrics_by_experiment_from_exp_show_json() -> None:
    def rev(name: str, metrics: dict) -> dict:
        return {"name": name, "revs": [{"name": name, "rev": "abc", "data": {"metrics": metrics}}]}

    show = [
        {"rev": "workspace", "name": None, "experiments": None},
        {
            "rev": "f00",
            "name": "main",
            "experiments": [
                rev(
                    "e1",
                    {
                        "reports/metrics.json": {"data": {"fd": 1.5, "gates": {"fd": "pass"}}},
                        "data/train/summary.json": {"data": {"fd": 9}},
                    },
                ),
                rev(
                    "e2",
                    {
                        "reports/metrics.json": {"data": {"fd": 2.5, "gates": {"fd": "fail"}}},
                        "data/train/summary.json": {"error": {"type": "FileNotFoundError"}},
                    },
                ),
            ],
        },
    ]
    found = metrics_by_experiment(show)
    # fd appears in two files, so it is qualified with its file; gates.fd is unique and stays short.
    assert found["e1"] == {"reports/metrics.json:fd": 1.5, "gates.fd": "pass", "data/train/summary.json:fd": 9}
    assert found["e2"] == {"reports/metrics.json:fd": 2.5, "gates.fd": "fail"}
