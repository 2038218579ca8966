"""The classifier stage end to end on tiny params: a checkpoint that rebuilds alone, and its test accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genqc.cli import main as genqc
from genqc.data.table import decode_images, images_to_table, read_table
from genqc.data.tensors import uint8_to_tensor
from genqc.io import write_parquet
from genqc.training.checkpoint import load_classifier
from tests.conftest import write_params


def write_validated_tables(directory: Path, *, per_split: tuple[int, int] = (400, 200)) -> None:
    """scikit-learn digits (8x8, 0-16) as 16x16 uint8 tables at data/validate/{train,test}.parquet."""
    digits = load_digits()
    images = (digits.images * (255 / 16)).round().astype(np.uint8).repeat(2, axis=1).repeat(2, axis=2)[..., None]
    start = 0
    for name, count in zip(("train", "test"), per_split, strict=True):
        part = slice(start, start + count)
        ids = [f"{name}{i}" for i in range(count)]
        table = images_to_table(images[part], digits.target[part], ids)
        write_parquet(table, directory / f"data/validate/{name}.parquet")
        start += count


def test_classifier_writes_a_rebuildable_checkpoint_and_its_accuracy(tiny_workdir: Path, tiny_params, capsys) -> None:
    write_validated_tables(tiny_workdir)
    small = {**tiny_params["classifier"], "epochs": 3, "width": 8, "batch_size": 32}
    write_params(tiny_workdir, {**tiny_params, "classifier": small})
    assert genqc(["classifier"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tiny_workdir / "data/classifier/metrics.json").read_text())
    assert f"test accuracy  {metrics['test_accuracy']:.4f}" in out
    assert metrics["test_images"] == 200 and metrics["num_classes"] == 10
    assert metrics["test_accuracy"] > 0.3  # chance is 0.1; three epochs on 400 digits learn well beyond it
    assert set(metrics["per_class_accuracy"]) == {str(k) for k in range(10)}
    model = load_classifier(tiny_workdir / "data/classifier/classifier.pt")  # weights_only, config inside
    state = torch.load(tiny_workdir / "data/classifier/classifier.pt", weights_only=True)
    assert state["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    assert model.config.width == 8 and model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_the_accuracy_is_measured_on_the_test_split(tiny_workdir: Path, tiny_params) -> None:
    # the test split's labels are shifted by one class: the network learns the train labels, so on this test
    # split it scores about 0, and a stage measuring on the train split would report its (high) train accuracy
    write_validated_tables(tiny_workdir)

    path = tiny_workdir / "data/validate/test.parquet"
    test = read_table(str(path))
    test["label"] = (test["label"] + 1) % 10
    write_parquet(test, path)
    small = {**tiny_params["classifier"], "epochs": 3, "width": 8, "batch_size": 32}
    write_params(tiny_workdir, {**tiny_params, "classifier": small})
    # no better than guessing on the test split: exit 1, with every output written for inspection
    assert genqc(["classifier"]) == 1
    metrics = json.loads((tiny_workdir / "data/classifier/metrics.json").read_text())
    model = load_classifier(tiny_workdir / "data/classifier/classifier.pt").eval()
    with torch.no_grad():
        predicted = model(uint8_to_tensor(decode_images(test))).argmax(1).numpy()
    assert metrics["test_accuracy"] == pytest.approx(float((predicted == test["label"].to_numpy()).mean()))
    assert metrics["test_accuracy"] < 0.2 < metrics["train_accuracy"]


def test_a_classifier_below_min_accuracy_is_flagged_loudly_but_kept(tiny_workdir: Path, tiny_params, capsys) -> None:
    write_validated_tables(tiny_workdir)
    small = {**tiny_params["classifier"], "epochs": 3, "width": 8, "batch_size": 32, "min_accuracy": 1.0}
    write_params(tiny_workdir, {**tiny_params, "classifier": small})
    assert genqc(["classifier"]) == 0  # below the threshold but better than guessing: warn, record, go on
    captured = capsys.readouterr()
    assert "WARNING: the evaluation classifier's test accuracy" in captured.err
    assert "classifier.min_accuracy=1" in captured.err
    metrics = json.loads((tiny_workdir / "data/classifier/metrics.json").read_text())
    assert metrics["evaluator_ok"] is False and metrics["min_accuracy"] == 1.0
    state = torch.load(tiny_workdir / "data/classifier/classifier.pt", weights_only=True)
    assert state["metrics"]["evaluator_ok"] is False  # beside the weights every classifier-space metric loads


def test_a_classifier_no_better_than_guessing_exits_1(tiny_workdir: Path, tiny_params, capsys) -> None:
    write_validated_tables(tiny_workdir)
    from genqc.data.table import read_table

    train = read_table(str(tiny_workdir / "data/validate/train.parquet"))
    train["label"] = np.random.default_rng(0).permutation(train["label"].to_numpy())  # nothing left to learn
    write_parquet(train, tiny_workdir / "data/validate/train.parquet")
    test = read_table(str(tiny_workdir / "data/validate/test.parquet"))
    test = test[(test["label"] == 0) | (test.index < 10)].reset_index(drop=True)  # a constant "0" scores ~0.65
    write_parquet(test, tiny_workdir / "data/validate/test.parquet")
    small = {**tiny_params["classifier"], "epochs": 2, "width": 8, "batch_size": 32}
    write_params(tiny_workdir, {**tiny_params, "classifier": small})
    assert genqc(["classifier"]) == 1
    err = capsys.readouterr().err
    assert "WARNING" in err and "is no better than always guessing the most frequent class" in err
    metrics = json.loads((tiny_workdir / "data/classifier/metrics.json").read_text())
    assert metrics["evaluator_ok"] is False and metrics["test_accuracy"] <= metrics["baseline_accuracy"]


def test_target_accuracy_holds_out_part_of_train_never_test(tiny_workdir: Path, tiny_params, capsys) -> None:
    write_validated_tables(tiny_workdir)
    small = {
        **tiny_params["classifier"],
        "epochs": 30,
        "width": 8,
        "batch_size": 32,
        "target_accuracy": 0.5,
        "val_fraction": 0.25,
        "eval_every": 5,
    }
    write_params(tiny_workdir, {**tiny_params, "classifier": small})
    assert genqc(["classifier"]) == 0
    metrics = json.loads((tiny_workdir / "data/classifier/metrics.json").read_text())
    assert (metrics["train_images"], metrics["val_images"], metrics["test_images"]) == (300, 100, 200)
    assert metrics["stopped_by"] == "target_accuracy" and metrics["val_accuracy"] >= 0.5
    assert metrics["epochs_run"] < 30
    assert "stopped by target_accuracy" in capsys.readouterr().out


def test_test_labels_missing_from_train_are_a_data_error(tiny_workdir: Path, capsys) -> None:
    write_validated_tables(tiny_workdir, per_split=(100, 100))

    train = read_table(str(tiny_workdir / "data/validate/train.parquet"))
    write_parquet(train[train["label"] != 7], tiny_workdir / "data/validate/train.parquet")
    assert genqc(["classifier"]) == 1
    assert "test labels [7] never occur in data/validate/train.parquet" in capsys.readouterr().err


def test_a_missing_input_names_the_stage_that_makes_it(tiny_workdir: Path, capsys) -> None:
    assert genqc(["classifier"]) == 2
    assert "data/validate/train.parquet not found" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_classifier_device_cuda_without_cuda_is_exit_2(tiny_workdir: Path, tiny_params, capsys) -> None:
    write_params(tiny_workdir, {**tiny_params, "classifier": {**tiny_params["classifier"], "device": "cuda"}})
    assert genqc(["classifier"]) == 2
    assert "classifier.device='cuda' but this machine has no CUDA device" in capsys.readouterr().err
