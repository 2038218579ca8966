"""bench/device_check.py: the GPU run's params are valid before they travel, stages expand in order, weights compare."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.device_check import REPO, _compare, _stage_list, build_params
from genqc.config import load_params
from genqc.training.checkpoint import save_training_state


def test_the_gpu_override_gives_a_valid_params_file(tmp_path: Path) -> None:
    target = tmp_path / "params.yaml"
    params = build_params(
        REPO / "bench" / "device_params.yaml", ["ingest.source=idx:/data/fm", "train.steps=7"], target
    )
    loaded = load_params(target)  # the pipeline's own validation: a typo in the override fails here, not on the GPU
    assert loaded.ingest.source == "idx:/data/fm" and loaded.train.steps == 7
    assert loaded.train.device == "cuda" and loaded.train.ddpm.width == 64
    assert loaded.augment.copies == params["augment"]["copies"]  # untouched sections keep params.yaml's values
    assert loaded.train.vae.likelihood == "bernoulli"  # a nested section is merged, not replaced


def test_a_setting_without_a_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        build_params(None, ["train.steps"], tmp_path / "p.yaml")


def test_primary_and_others_expand_to_train_sample_evaluate() -> None:
    params = {"train": {"models": ["dcgan", "vae", "ddpm"], "model": "ddpm"}}
    stages = _stage_list(params, ["classifier", "primary", "publish", "others", "report"])
    assert stages[:5] == [
        ("classifier", None),
        ("train", "ddpm"),
        ("sample", "ddpm"),
        ("evaluate", "ddpm"),
        ("publish", None),
    ]
    assert [family for _, family in stages[5:11]] == ["dcgan"] * 3 + ["vae"] * 3
    assert stages[-1] == ("report", None) and len(stages) == 12


def _checkpoint(path: Path, weight: torch.Tensor) -> Path:
    torch.manual_seed(0)  # the same bias in every checkpoint
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(weight)
    save_training_state(
        path,
        model=model,
        optimizers={},
        ema_state={"module": model.state_dict()},
        step=1,
        family="toy",
        config={},
        fields={},
    )
    return path


def test_compare_counts_bit_identical_tensors_and_the_largest_difference(tmp_path: Path) -> None:
    weight = torch.arange(4.0).reshape(2, 2)
    a = _checkpoint(tmp_path / "a.pt", weight)
    b = _checkpoint(tmp_path / "b.pt", weight)
    c = _checkpoint(tmp_path / "c.pt", weight + torch.tensor([[0.0, 0.5], [0.0, 0.0]]))
    same = _compare(a, b)
    assert same["tensors"] == 4 and same["bit_identical"] == 4 and same["max_abs_diff"] == 0.0
    differ = _compare(a, c)  # the model's weight and the EMA copy of it differ
    assert differ["bit_identical"] == 2 and differ["max_abs_diff"] == 0.5
    assert set(differ["first_unequal"]) == {"model.weight", "ema.weight"}
