"""The sample stage: seeded rows that regenerate, batch-size invariance, class balance, ensembles, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genqc.cli import main as genqc
from genqc.data.table import decode_images
from genqc.data.tensors import tensor_to_uint8
from genqc.io import write_parquet
from genqc.models.registry import build_model
from genqc.training.checkpoint import EMA_FILE, load_checkpoint, save_sampling_weights
from tests.conftest import write_params

SMALL = {
    "dcgan": {"width": 8, "latent_dim": 8},
    "vae": {"width": 8, "latent_dim": 4},
    "ddpm": {"width": 8, "timesteps": 20, "sample_steps": 3},
}


def write_checkpoint(directory: Path, family: str, *, num_classes: int = 0, seed: int = 0) -> Path:
    """An untrained model's sampling weights at data/train/<family>/ema.pt: what sampling reads, without training."""
    torch.manual_seed(seed)
    model = build_model(family, {"image_size": 16, "channels": 1, "num_classes": num_classes, **SMALL[family]})
    path = directory / "data" / "train" / family / EMA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_sampling_weights(
        path, module=model.ema_module(), ema=True, step=2, family=family, config=model.config_dict(), fields={}
    )
    return path


def _params(directory: Path, params: dict, **sample) -> None:
    write_params(directory, {**params, "sample": {**params["sample"], **sample}})


def _samples(directory: Path, family: str) -> pd.DataFrame:
    return pd.read_parquet(directory / "data" / "sample" / family / "samples.parquet")


def test_sample_writes_seeded_rows_a_grid_and_a_summary(tiny_workdir: Path, capsys) -> None:
    write_checkpoint(tiny_workdir, "dcgan")
    assert genqc(["sample", "--model", "dcgan"]) == 0
    out = capsys.readouterr().out
    assert "sample dcgan on cpu -> data/sample/dcgan/samples.parquet (seed=0, EMA weights, batch 8)" in out
    assert "no classifier at data/classifier/classifier.pt" in out
    table = _samples(tiny_workdir, "dcgan")
    assert len(table) == 8 and table["index"].tolist() == list(range(8))
    assert table["seed"].nunique() == 8 and set(table["source_model"]) == {"dcgan"}
    assert table["label"].tolist() == [-1] * 8 and table["id"].iloc[0] == "dcgan-0000000"
    assert (tiny_workdir / "reports" / "sample" / "dcgan" / "grid.png").is_file()
    summary = pd.read_json(tiny_workdir / "reports" / "sample" / "dcgan" / "summary.json", typ="series")
    assert summary["accepted"] == summary["drawn"] == 8 and summary["acceptance_rate"] == 1.0
    assert len(pd.read_parquet(tiny_workdir / "data" / "sample" / "dcgan" / "rejected.parquet")) == 0


def test_same_seed_same_samples_and_batch_size_changes_nothing(tiny_workdir: Path, tiny_params: dict) -> None:
    write_checkpoint(tiny_workdir, "dcgan")
    _params(tiny_workdir, tiny_params, batch_size=8)
    assert genqc(["sample", "--model", "dcgan"]) == 0
    eight = _samples(tiny_workdir, "dcgan")
    _params(tiny_workdir, tiny_params, batch_size=3)
    assert genqc(["sample", "--model", "dcgan"]) == 0
    three = _samples(tiny_workdir, "dcgan")
    assert eight["image"].tolist() == three["image"].tolist()
    write_params(tiny_workdir, {**tiny_params, "seed": 1})
    assert genqc(["sample", "--model", "dcgan"]) == 0
    assert _samples(tiny_workdir, "dcgan")["image"].tolist() != eight["image"].tolist()


@pytest.mark.parametrize("family", ["vae", "ddpm"])
def test_conditional_samples_are_balanced_and_any_row_regenerates(
    tiny_workdir: Path, tiny_params: dict, family: str
) -> None:
    path = write_checkpoint(tiny_workdir, family, num_classes=3)
    _params(tiny_workdir, tiny_params, n=9, batch_size=4)
    assert genqc(["sample", "--model", family]) == 0
    table = _samples(tiny_workdir, family)
    assert np.bincount(table["label"]).tolist() == [3, 3, 3]
    row = 7
    loaded = load_checkpoint(path)
    again = loaded.model.sample(
        1,
        labels=torch.tensor([int(table["label"][row])]),
        module=loaded.sampler,
        generator=torch.Generator().manual_seed(int(table["seed"][row])),
    )
    assert np.array_equal(tensor_to_uint8(again)[0], decode_images(table)[row])


def test_ensemble_rows_record_their_source_model(tiny_workdir: Path, tiny_params: dict, capsys) -> None:
    write_checkpoint(tiny_workdir, "dcgan")
    other = write_checkpoint(tiny_workdir, "vae", num_classes=2)
    _params(tiny_workdir, tiny_params, n=9, ensemble=[str(other.relative_to(tiny_workdir))], weights=[2, 1])
    assert genqc(["sample", "--model", "dcgan"]) == 0
    table = _samples(tiny_workdir, "dcgan")
    sources = table["source_model"].value_counts().to_dict()
    assert sources == {"dcgan": 6, "vae:data/train/vae/ema.pt": 3}
    vae_rows = table[table["source_model"] != "dcgan"]
    assert vae_rows["label"].tolist() == [0, 1, 0] and (table[table["source_model"] == "dcgan"]["label"] == -1).all()
    assert "from vae:data/train/vae/ema.pt  3" in capsys.readouterr().out


def test_each_row_records_its_family_latent_scale_and_regenerates_with_it(
    tiny_workdir: Path, tiny_params: dict
) -> None:
    write_checkpoint(tiny_workdir, "dcgan")
    other = write_checkpoint(tiny_workdir, "vae", num_classes=2)
    ensemble = [str(other.relative_to(tiny_workdir))]
    _params(tiny_workdir, tiny_params, n=6, ensemble=ensemble, latent_scale={"vae": 0.5})
    assert genqc(["sample", "--model", "dcgan"]) == 0
    table = _samples(tiny_workdir, "dcgan")
    scales = dict(zip(table["source_model"], table["latent_scale"], strict=True))
    assert scales == {"dcgan": 1.0, "vae:data/train/vae/ema.pt": 0.5}  # an unlisted family draws at 1
    summary = pd.read_json(tiny_workdir / "reports" / "sample" / "dcgan" / "summary.json", typ="series")
    assert summary["latent_scale"] == scales
    row = int(np.flatnonzero(table["source_model"] != "dcgan")[1])
    loaded = load_checkpoint(other)
    again = loaded.model.sample(
        1,
        labels=torch.tensor([int(table["label"][row])]),
        module=loaded.sampler,
        generator=torch.Generator().manual_seed(int(table["seed"][row])),
        latent_scale=float(table["latent_scale"][row]),
    )
    assert np.array_equal(tensor_to_uint8(again)[0], decode_images(table)[row])
    _params(tiny_workdir, tiny_params, n=6, ensemble=ensemble, latent_scale={"vae": 1.0})
    assert genqc(["sample", "--model", "dcgan"]) == 0
    assert _samples(tiny_workdir, "dcgan")["image"][row] != table["image"][row]  # the scale reached the model


def test_missing_checkpoint_names_the_stage_to_run(tiny_workdir: Path, capsys) -> None:
    assert genqc(["sample", "--model", "vae"]) == 2
    assert "checkpoint data/train/vae/ema.pt not found (train.model); run `dvc repro train@vae` first" in (
        capsys.readouterr().err
    )


def test_filter_without_a_classifier_is_a_config_error(tiny_workdir: Path, tiny_params: dict, capsys) -> None:
    write_checkpoint(tiny_workdir, "dcgan")
    _params(tiny_workdir, tiny_params, filter={"kind": "realism", "threshold": 1.0})
    assert genqc(["sample", "--model", "dcgan"]) == 2
    assert "sample.filter.kind='realism' needs the domain classifier data/classifier/classifier.pt" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        ({"weights": [1.0]}, "sample.weights has 1 entries but there are 2 models"),
        ({"weights": [0, 0]}, "must be non-negative with a positive sum"),
        ({"filter": {"kind": "confidence", "threshold": 2}}, "is a probability for kind 'confidence'"),
        ({"latent_scale": {"ddpm": 1.5}}, "sample.latent_scale lists ddpm: no latent code to scale"),
    ],
)
def test_bad_sample_params_name_the_key(
    tiny_workdir: Path, tiny_params: dict, sample: dict, message: str, capsys
) -> None:
    _params(tiny_workdir, tiny_params, ensemble=["data/train/vae/ema.pt"], **sample)
    assert genqc(["sample", "--model", "dcgan"]) == 2
    assert message in capsys.readouterr().err


def _with_classifier(directory: Path, digits: dict) -> None:
    """The digits train table and classifier where the sample stage looks for them."""
    write_parquet(digits["train"], directory / "data" / "validate" / "train.parquet")
    (directory / "data" / "classifier").mkdir(parents=True, exist_ok=True)
    shutil.copy(digits["classifier"], directory / "data" / "classifier" / "classifier.pt")


def test_rows_carry_classifier_scores_and_the_filter_records_its_acceptance(
    tiny_workdir: Path, tiny_params: dict, digits: dict
) -> None:
    _with_classifier(tiny_workdir, digits)
    write_checkpoint(tiny_workdir, "dcgan")
    _params(tiny_workdir, tiny_params, n=16)
    assert genqc(["sample", "--model", "dcgan"]) == 0
    plain = _samples(tiny_workdir, "dcgan")
    assert {"predicted_label", "confidence", "realism"} <= set(plain.columns)
    threshold = float(plain["confidence"].median())  # about half the draws fall below it
    _params(tiny_workdir, tiny_params, n=8, filter={"kind": "confidence", "threshold": threshold, "max_draws": 10})
    assert genqc(["sample", "--model", "dcgan"]) == 0
    kept = _samples(tiny_workdir, "dcgan")
    rejected = pd.read_parquet(tiny_workdir / "data" / "sample" / "dcgan" / "rejected.parquet")
    summary = pd.read_json(tiny_workdir / "reports" / "sample" / "dcgan" / "summary.json", typ="series")
    assert len(kept) == summary["accepted"] == 8 and len(rejected) == summary["rejected"] > 0
    assert summary["drawn"] == len(kept) + len(rejected)
    assert summary["acceptance_rate"] == pytest.approx(8 / summary["drawn"])
    assert (kept["confidence"] >= threshold).all() and (rejected["score"] < threshold).all()
    assert rejected["reason"].iloc[0] == f"confidence < {threshold}"
    assert sorted([*kept["index"], *rejected["index"]]) == list(range(summary["drawn"]))
